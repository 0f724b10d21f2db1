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
-- @param from | timestamp | date_trunc('day', now()) - INTERVAL '30 days' | Start of the period (tenant-local time, inclusive).
-- @param to | timestamp | date_trunc('day', now()) + INTERVAL '1 day' | End of the period (tenant-local time, exclusive).
-- @param tenant | text | NULL | Only these tenants (comma-separated ids); NULL for all.
-- @param customer | text | NULL | Only these customers (comma-separated); NULL for all.
-- @param provider | text | NULL | Only these providers (comma-separated); NULL for all.
WITH c AS (
    SELECT c.tenant_id, c.customer, c.provider, c.disposition, c.billable_s,
           coalesce(c.dtmf_digits, 0) > 0 AS has_dtmf, c.dtmf_digits,
           c.customer_charge, c.provider_cost
    FROM calls c JOIN tenants t ON t.tenant_id = c.tenant_id
    WHERE c.invite_time >= CAST($from AS TIMESTAMP) AT TIME ZONE 'UTC' - INTERVAL '14 hours'
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
           count(*) AS calls,
           count(*) FILTER (WHERE has_dtmf) AS dtmf_calls,
           sum(CAST(dtmf_digits AS BIGINT)) FILTER (WHERE has_dtmf) AS dtmf_digits,
           count(*) FILTER (WHERE has_dtmf AND disposition = 'answered') AS dtmf_answered,
           sum(billable_s) FILTER (WHERE has_dtmf) AS dtmf_s,
           CAST(sum(customer_charge) FILTER (WHERE has_dtmf) AS DECIMAL(18, 6)) AS charge,
           CAST(sum(provider_cost) FILTER (WHERE has_dtmf) AS DECIMAL(18, 6)) AS cost
    FROM c
    GROUP BY tenant_id, customer, provider
    HAVING count(*) FILTER (WHERE has_dtmf) > 0
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
