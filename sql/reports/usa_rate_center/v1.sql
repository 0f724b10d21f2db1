-- @title USA rate centers
-- @seed 001 ConnexCS: USA Rate Center (Prefix, Rate Center, Total Customer Charge, Total Provider Charge, Total Calls)
-- @description Calls, charge and cost per US NPA-NXX and its rate center, number-based (the
--   NPA-NXX of a number is a proxy for its location: porting and VoIP move numbers). Rate
--   centers and LATAs come from the user-loaded reference table rate_centers (cdrlake
--   reference load rate_centers FILE.csv); without it the report still runs, with
--   rate_center and lata NULL and the note saying so. Rows: calls rows whose tenant-local
--   invite_time (local_time(invite_time, tenants.time_zone)) is in [from, to) and that pass
--   the tenant, customer and provider filters (exact matches against the comma-separated
--   lists), and whose number on the chosen side (side 'called', the default: callee_number;
--   side 'calling': caller_number; any other value is read as 'called') is a US geographic
--   NANP number, i.e. jurisdiction_reason(NULL, number) = 'ANI_MISSING' (a valid +1 number
--   whose area code npa_state places in a US state, DC or territory; Canada, the other NANP
--   countries, toll-free and other non-geographic or unknown area codes, non-NANP and NULL
--   numbers are left out). Grouped by tenant_id and prefix.
--   Columns: tenant_id; prefix (text, '+1' followed by the NPA and NXX, the first 8
--   characters of the number, e.g. '+1212555'); state (npa_state of the number: USPS code);
--   rate_center and lata (rate_center() and lata() of the NPA-NXX, NULL when the table is not
--   loaded or does not hold that NPA-NXX); calls (bigint, rows); connected (rows with
--   disposition 'answered'); minutes (sum of billable_s / 60, double rounded to 2 decimals);
--   charge = sum(customer_charge), cost = sum(provider_cost) (decimal(18,6), exact; NULL when
--   every value is NULL); note (text: 'rate-center table not loaded' when no table named
--   rate_centers exists, 'NPA-NXX not in the rate-center table' when it exists but has no
--   row for the prefix, else NULL). Rows are ordered by tenant_id, prefix.
-- @param from | timestamp | date_trunc('day', now()) - INTERVAL '30 days' | Start of the period (tenant-local time, inclusive).
-- @param to | timestamp | date_trunc('day', now()) + INTERVAL '1 day' | End of the period (tenant-local time, exclusive).
-- @param tenant | text | NULL | Only these tenants (comma-separated ids); NULL for all.
-- @param customer | text | NULL | Only these customers (comma-separated); NULL for all.
-- @param provider | text | NULL | Only these providers (comma-separated); NULL for all.
-- @param side | text | 'called' | Which number places the call: 'called' (destination, default) or 'calling' (origin).
WITH c AS (
    SELECT c.tenant_id, c.disposition, c.billable_s, c.customer_charge, c.provider_cost,
           CASE WHEN lower($side) = 'calling' THEN c.caller_number ELSE c.callee_number END AS num
    FROM calls c JOIN tenants t ON t.tenant_id = c.tenant_id
    WHERE c.invite_time >= CAST($from AS TIMESTAMP) AT TIME ZONE 'UTC' - INTERVAL '14 hours'
      AND c.invite_time < CAST($to AS TIMESTAMP) AT TIME ZONE 'UTC' + INTERVAL '14 hours'
      AND local_time(c.invite_time, t.time_zone) >= $from
      AND local_time(c.invite_time, t.time_zone) < $to
      AND ($tenant IS NULL OR array_has(string_to_array($tenant, ','), c.tenant_id))
      AND ($customer IS NULL OR array_has(string_to_array($customer, ','), c.customer))
      AND ($provider IS NULL OR array_has(string_to_array($provider, ','), c.provider))
),
g AS (
    SELECT tenant_id, substr(num, 1, 8) AS prefix,
           count(*) AS calls,
           count(*) FILTER (WHERE disposition = 'answered') AS connected,
           sum(billable_s) AS billable_s,
           CAST(sum(customer_charge) AS DECIMAL(18, 6)) AS charge,
           CAST(sum(provider_cost) AS DECIMAL(18, 6)) AS cost
    FROM c
    WHERE jurisdiction_reason(NULL, num) = 'ANI_MISSING'
    GROUP BY tenant_id, substr(num, 1, 8)
),
rc AS (
    SELECT count(*) > 0 AS loaded
    FROM information_schema.tables WHERE table_name = 'rate_centers'
)
SELECT g.tenant_id, g.prefix,
       npa_state(g.prefix || '0100') AS state,
       rate_center(g.prefix || '0100') AS rate_center,
       lata(g.prefix || '0100') AS lata,
       g.calls, g.connected,
       round(CAST(g.billable_s AS DOUBLE) / 60, 2) AS minutes,
       g.charge, g.cost,
       CASE WHEN NOT rc.loaded THEN 'rate-center table not loaded'
            WHEN rate_center(g.prefix || '0100') IS NULL THEN 'NPA-NXX not in the rate-center table'
       END AS note
FROM g CROSS JOIN rc
ORDER BY g.tenant_id, g.prefix
