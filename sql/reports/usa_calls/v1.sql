-- @title USA calls by jurisdiction (number-based)
-- @seed 001 ConnexCS: USA Calls (Intrastate / Interstate / Indeterminate by State or LATA: calls, connected, duration)
-- @description Calls, connected calls and their duration per US jurisdiction category, by
--   State or by LATA, judged from the calling and called numbers (a proxy for location:
--   porting and VoIP move numbers). Rows: calls rows whose tenant-local invite_time
--   (local_time(invite_time, tenants.time_zone)) is in [from, to) and that pass the tenant,
--   customer and provider filters (exact matches against the comma-separated lists).
--   Category of a call: with by 'state' (the default; any value other than 'lata', which is
--   matched without regard to case, is read as 'state'), jurisdiction(caller_number,
--   callee_number): 'intrastate', 'interstate', 'indeterminate' or 'international', and
--   'indeterminate' when that is NULL (no callee_number). With by 'lata': 'international'
--   when jurisdiction(...) is 'international'; else jurisdiction_lata(caller_number,
--   callee_number) when it is 'intralata' or 'interlata'; else 'indeterminate' (so without a
--   rate_centers table every non-international call is indeterminate, as an NPA-NXX missing
--   from the table is).
--   Every tenant with at least one counted call gets exactly four rows, one per category,
--   zeros included. Columns: tenant_id; category (text); calls (bigint, rows);
--   connected (rows with disposition 'answered'); duration_min (sum of billable_s of the
--   connected rows / 60, double rounded to 2 decimals, 0 when none); avg_duration_s
--   (sum of billable_s / connected, rounded to 2 decimals, NULL when none connected); note
--   (text: with by 'lata' and no table named rate_centers, 'rate-center table not loaded:
--   LATA unknown, US calls are indeterminate'; else NULL). Rows are ordered by tenant_id,
--   then category in the order intrastate/intralata, interstate/interlata, indeterminate,
--   international.
-- @param from | timestamp | date_trunc('day', now()) - INTERVAL '30 days' | Start of the period (tenant-local time, inclusive).
-- @param to | timestamp | date_trunc('day', now()) + INTERVAL '1 day' | End of the period (tenant-local time, exclusive).
-- @param tenant | text | NULL | Only these tenants (comma-separated ids); NULL for all.
-- @param customer | text | NULL | Only these customers (comma-separated); NULL for all.
-- @param provider | text | NULL | Only these providers (comma-separated); NULL for all.
-- @param by | text | 'state' | 'state' (intrastate / interstate) or 'lata', any case (intralata / interlata).
WITH opt AS (
    SELECT coalesce(lower($by) = 'lata', false) AS by_lata
),
rc AS (
    SELECT count(*) > 0 AS loaded FROM information_schema.tables WHERE table_name = 'rate_centers'
),
c AS (
    SELECT c.tenant_id, c.disposition, c.billable_s,
           CASE WHEN o.by_lata THEN
                    CASE WHEN jurisdiction(c.caller_number, c.callee_number) = 'international' THEN 'international'
                         WHEN jurisdiction_lata(c.caller_number, c.callee_number) IN ('intralata', 'interlata')
                              THEN jurisdiction_lata(c.caller_number, c.callee_number)
                         ELSE 'indeterminate' END
                ELSE coalesce(jurisdiction(c.caller_number, c.callee_number), 'indeterminate')
           END AS category
    FROM calls c JOIN tenants t ON t.tenant_id = c.tenant_id CROSS JOIN opt o
    WHERE c.invite_time >= CAST($from AS TIMESTAMP) AT TIME ZONE 'UTC' - INTERVAL '14 hours'
      AND c.invite_time < CAST($to AS TIMESTAMP) AT TIME ZONE 'UTC' + INTERVAL '14 hours'
      AND local_time(c.invite_time, t.time_zone) >= $from
      AND local_time(c.invite_time, t.time_zone) < $to
      AND ($tenant IS NULL OR array_has(string_to_array($tenant, ','), c.tenant_id))
      AND ($customer IS NULL OR array_has(string_to_array($customer, ','), c.customer))
      AND ($provider IS NULL OR array_has(string_to_array($provider, ','), c.provider))
),
cats(ord, state_name, lata_name) AS (
    VALUES (1, 'intrastate', 'intralata'), (2, 'interstate', 'interlata'),
           (3, 'indeterminate', 'indeterminate'), (4, 'international', 'international')
),
grid AS (
    SELECT tt.tenant_id, k.ord,
           CASE WHEN o.by_lata THEN k.lata_name ELSE k.state_name END AS category,
           CASE WHEN o.by_lata AND NOT rc.loaded
                THEN 'rate-center table not loaded: LATA unknown, US calls are indeterminate' END AS note
    FROM (SELECT DISTINCT tenant_id FROM c) tt CROSS JOIN cats k CROSS JOIN opt o CROSS JOIN rc
),
-- Every category of every tenant with zeros, plus the counted calls (a union, not a join).
u AS (
    SELECT tenant_id, ord, category, note, 0 AS calls, 0 AS connected, CAST(NULL AS BIGINT) AS billable_s
    FROM grid
    UNION ALL
    SELECT tenant_id, NULL, category, NULL, 1,
           CASE WHEN disposition = 'answered' THEN 1 ELSE 0 END,
           CASE WHEN disposition = 'answered' THEN billable_s END
    FROM c
),
g AS (
    SELECT tenant_id, category, max(ord) AS ord, max(note) AS note,
           sum(calls) AS calls, sum(connected) AS connected, sum(billable_s) AS connected_s
    FROM u
    GROUP BY tenant_id, category
)
SELECT tenant_id, CAST(category AS VARCHAR) AS category,
       CAST(calls AS BIGINT) AS calls,
       CAST(connected AS BIGINT) AS connected,
       round(CAST(coalesce(connected_s, 0) AS DOUBLE) / 60, 2) AS duration_min,
       round(CAST(connected_s AS DOUBLE) / nullif(connected, 0), 2) AS avg_duration_s,
       CAST(note AS VARCHAR) AS note
FROM g
ORDER BY tenant_id, ord
