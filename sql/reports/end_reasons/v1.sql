-- @title Call end reasons
-- @seed 002 RealConnect dashboard: End reasons
-- @description One row per tenant and end reason (calls.end_reason; '(none)' when NULL) over the
--   calls invited in the period: calls = call attempts with that reason; answered = those with
--   disposition 'answered'; share_pct = 100 x calls / all of the tenant's calls in the period,
--   rounded to 2 decimals. Rows ordered by tenant_id, calls descending, end_reason.
-- @param from | timestamp | date_trunc('day', now()) - INTERVAL '30 days' | Start of the period (tenant-local time, inclusive).
-- @param to | timestamp | date_trunc('day', now()) + INTERVAL '1 day' | End of the period (tenant-local time, exclusive).
-- @param tenant | text | NULL | Only these tenants (comma-separated ids); NULL for all.
WITH c AS (
    SELECT c.tenant_id, coalesce(c.end_reason, '(none)') AS end_reason, c.disposition
    FROM calls c JOIN tenants t ON t.tenant_id = c.tenant_id
    WHERE c.invite_time >= CAST($from AS TIMESTAMP) AT TIME ZONE 'UTC' - INTERVAL '14 hours'
      AND c.invite_time < CAST($to AS TIMESTAMP) AT TIME ZONE 'UTC' + INTERVAL '14 hours'
      AND local_time(c.invite_time, t.time_zone) >= $from
      AND local_time(c.invite_time, t.time_zone) < $to
      AND ($tenant IS NULL OR array_has(string_to_array($tenant, ','), c.tenant_id))
)
SELECT tenant_id, end_reason, count(*) AS calls,
       count(*) FILTER (WHERE disposition = 'answered') AS answered,
       round(100 * CAST(count(*) AS DOUBLE) / sum(count(*)) OVER (PARTITION BY tenant_id), 2) AS share_pct
FROM c
GROUP BY tenant_id, end_reason
ORDER BY tenant_id, calls DESC, end_reason
