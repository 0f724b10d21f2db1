-- @title DTMF cost
-- @seed 001 ConnexCS: Dual Tone Multi Frequency (DTMF) report (customers that send DTMF, e.g. voice broadcast; route cost-effectiveness and cost per DTMF digit)
-- @description Per customer and route (provider), the calls that carried DTMF and what they
--   cost and earned, so the cost per DTMF digit of each route can be compared. Rows: the
--   wholesale legs (calls rows whose customer or provider is not NULL) of the period
--   (tenant-local invite_time, local_time(invite_time, tenants.time_zone), in [from, to))
--   that pass the tenant, customer and provider filters
--   (exact matches against the comma-separated lists), grouped by tenant_id, customer,
--   provider (NULL there means the call had none). A DTMF call is a row with dtmf_digits > 0
--   (0 or NULL is no DTMF). Only groups with at least one DTMF call appear.
--   Columns: tenant_id, customer, provider; calls (bigint, every row of the group, with DTMF
--   or not); dtmf_calls (bigint, DTMF calls); dtmf_share_pct = 100 * dtmf_calls / calls;
--   dtmf_digits (bigint, sum of dtmf_digits over the DTMF calls); dtmf_answered (DTMF calls
--   with disposition 'answered'); dtmf_minutes = sum(billable_s) of the DTMF calls / 60;
--   charge = sum(customer_charge) and cost = sum(provider_cost) of the DTMF calls
--   (decimal(18,6), exact; NULL when every value is NULL); profit = charge - cost
--   (decimal(18,6), NULL when either is NULL); cost_per_digit = cost / dtmf_digits and
--   charge_per_digit = charge / dtmf_digits (decimal(18,6), the exact quotient rounded half
--   away from zero to 6 decimals). Percentages and minutes are double rounded to 2
--   decimals. Rows are ordered by tenant_id, customer, provider (ascending, NULLs last).
--   v2 returns the same rows as v1, reading the calls_daily rollup for the whole tenant-local
--   days of the period and raw calls only for the part-days at its edges.
-- @param from | timestamp | date_trunc('day', now()) - INTERVAL '30 days' | Start of the period (tenant-local time, inclusive).
-- @param to | timestamp | date_trunc('day', now()) + INTERVAL '1 day' | End of the period (tenant-local time, exclusive).
-- @param tenant | text | NULL | Only these tenants (comma-separated ids); NULL for all.
-- @param customer | text | NULL | Only these customers (comma-separated); NULL for all.
-- @param provider | text | NULL | Only these providers (comma-separated); NULL for all.
WITH c AS (
    -- the whole tenant-local days of the period, from the rollup
    SELECT d.tenant_id, d.customer, d.provider, d.attempts AS calls, d.dtmf_calls,
           d.dtmf_digits, d.dtmf_answered, d.dtmf_billable_s AS dtmf_s,
           d.dtmf_charge AS charge, d.dtmf_cost AS cost
    FROM calls_daily d JOIN tenants t ON t.tenant_id = d.tenant_id
    WHERE d.local_date >= CAST((date_trunc('day', CAST($from AS TIMESTAMP) - INTERVAL '1 microsecond') + INTERVAL '1 day') AS DATE)
      AND d.local_date < CAST(date_trunc('day', CAST($to AS TIMESTAMP)) AS DATE)
      AND d.event_date >= CAST(CAST($from AS TIMESTAMP) - INTERVAL '1 day' AS DATE)
      AND d.event_date <= CAST(CAST($to AS TIMESTAMP) + INTERVAL '1 day' AS DATE)
      AND ($tenant IS NULL OR array_has(string_to_array($tenant, ','), d.tenant_id))
      AND (d.customer IS NOT NULL OR d.provider IS NOT NULL)
      AND ($customer IS NULL OR array_has(string_to_array($customer, ','), d.customer))
      AND ($provider IS NULL OR array_has(string_to_array($provider, ','), d.provider))
    UNION ALL
    -- the part-days at the edges, from raw calls (none when both bounds are midnights)
    SELECT c.tenant_id, c.customer, c.provider, CAST(1 AS BIGINT),
           CAST(CASE WHEN c.dtmf_digits > 0 THEN 1 ELSE 0 END AS BIGINT),
           CASE WHEN c.dtmf_digits > 0 THEN CAST(c.dtmf_digits AS BIGINT) END,
           CAST(CASE WHEN c.dtmf_digits > 0 AND c.disposition = 'answered' THEN 1 ELSE 0 END AS BIGINT),
           CASE WHEN c.dtmf_digits > 0 THEN c.billable_s END,
           CASE WHEN c.dtmf_digits > 0 THEN c.customer_charge END,
           CASE WHEN c.dtmf_digits > 0 THEN c.provider_cost END
    FROM calls c JOIN tenants t ON t.tenant_id = c.tenant_id
    WHERE ((date_trunc('day', CAST($from AS TIMESTAMP) - INTERVAL '1 microsecond') + INTERVAL '1 day') > CAST($from AS TIMESTAMP) OR date_trunc('day', CAST($to AS TIMESTAMP)) < CAST($to AS TIMESTAMP))
      AND (local_time(c.invite_time, t.time_zone) < (date_trunc('day', CAST($from AS TIMESTAMP) - INTERVAL '1 microsecond') + INTERVAL '1 day')
           OR local_time(c.invite_time, t.time_zone) >= date_trunc('day', CAST($to AS TIMESTAMP)))
      AND c.invite_time >= CAST($from AS TIMESTAMP) AT TIME ZONE 'UTC' - INTERVAL '14 hours'
      AND c.invite_time < CAST($to AS TIMESTAMP) AT TIME ZONE 'UTC' + INTERVAL '14 hours'
      AND local_time(c.invite_time, t.time_zone) >= $from
      AND local_time(c.invite_time, t.time_zone) < $to
      AND ($tenant IS NULL OR array_has(string_to_array($tenant, ','), c.tenant_id))
      AND (c.customer IS NOT NULL OR c.provider IS NOT NULL)
      AND ($customer IS NULL OR array_has(string_to_array($customer, ','), c.customer))
      AND ($provider IS NULL OR array_has(string_to_array($provider, ','), c.provider))
),
g AS (
    SELECT tenant_id, customer, provider,
           CAST(sum(calls) AS BIGINT) AS calls,
           CAST(sum(dtmf_calls) AS BIGINT) AS dtmf_calls,
           CAST(sum(dtmf_digits) AS BIGINT) AS dtmf_digits,
           CAST(sum(dtmf_answered) AS BIGINT) AS dtmf_answered,
           sum(dtmf_s) AS dtmf_s,
           CAST(sum(charge) AS DECIMAL(18, 6)) AS charge,
           CAST(sum(cost) AS DECIMAL(18, 6)) AS cost
    FROM c
    GROUP BY tenant_id, customer, provider
    HAVING sum(dtmf_calls) > 0
)
SELECT tenant_id, customer, provider, calls, dtmf_calls,
       round(100 * CAST(dtmf_calls AS DOUBLE) / nullif(calls, 0), 2) AS dtmf_share_pct,
       dtmf_digits, dtmf_answered,
       round(CAST(dtmf_s AS DOUBLE) / 60, 2) AS dtmf_minutes,
       charge, cost,
       CAST(charge - cost AS DECIMAL(18, 6)) AS profit,
       CAST(cost / dtmf_digits AS DECIMAL(18, 6)) AS cost_per_digit,
       CAST(charge / dtmf_digits AS DECIMAL(18, 6)) AS charge_per_digit
FROM g
ORDER BY tenant_id ASC NULLS LAST, customer ASC NULLS LAST, provider ASC NULLS LAST
