-- @title Call end reasons
-- @seed 002 RealConnect dashboard: End reasons
-- @description One row per tenant and end reason (calls.end_reason; '(none)' when NULL) over the
--   calls invited in the period: calls = call attempts with that reason; answered = those with
--   disposition 'answered'; share_pct = 100 x calls / all of the tenant's calls in the period,
--   rounded to 2 decimals. Rows ordered by tenant_id, calls descending, end_reason.
--   v2 gives the same rows as v1, faster: whole tenant-local hours of the period come from
--   the hourly rollup calls_hourly (docs/storage.md), only the part-hours at the edges of a
--   period that does not start or end on the hour from the raw calls.
-- @param from | timestamp | date_trunc('day', now()) - INTERVAL '30 days' | Start of the period (tenant-local time, inclusive).
-- @param to | timestamp | date_trunc('day', now()) + INTERVAL '1 day' | End of the period (tenant-local time, exclusive).
-- @param tenant | text | NULL | Only these tenants (comma-separated ids); NULL for all.
WITH c AS (
    SELECT h.tenant_id, coalesce(h.end_reason, '(none)') AS end_reason, h.disposition, h.calls
    FROM calls_hourly h
    WHERE h.local_hour >= (date_trunc('hour', CAST($from AS TIMESTAMP) - INTERVAL '1 microsecond') + INTERVAL '1 hour')
      AND h.local_hour < date_trunc('hour', CAST($to AS TIMESTAMP))
      AND h.event_date >= CAST(CAST($from AS TIMESTAMP) - INTERVAL '1 day' AS DATE)
      AND h.event_date <= CAST(CAST($to AS TIMESTAMP) + INTERVAL '1 day' AS DATE)
      AND ($tenant IS NULL OR array_has(string_to_array($tenant, ','), h.tenant_id))
    UNION ALL
    SELECT c.tenant_id, coalesce(c.end_reason, '(none)'), c.disposition, CAST(1 AS BIGINT)
    FROM calls c JOIN tenants t ON t.tenant_id = c.tenant_id
    WHERE ((date_trunc('hour', CAST($from AS TIMESTAMP) - INTERVAL '1 microsecond') + INTERVAL '1 hour') > CAST($from AS TIMESTAMP) OR date_trunc('hour', CAST($to AS TIMESTAMP)) < CAST($to AS TIMESTAMP))
      AND (local_time(c.invite_time, t.time_zone) < (date_trunc('hour', CAST($from AS TIMESTAMP) - INTERVAL '1 microsecond') + INTERVAL '1 hour')
           OR local_time(c.invite_time, t.time_zone) >= date_trunc('hour', CAST($to AS TIMESTAMP)))
      AND c.invite_time >= CAST($from AS TIMESTAMP) AT TIME ZONE 'UTC' - INTERVAL '14 hours'
      AND c.invite_time < CAST($to AS TIMESTAMP) AT TIME ZONE 'UTC' + INTERVAL '14 hours'
      AND local_time(c.invite_time, t.time_zone) >= $from
      AND local_time(c.invite_time, t.time_zone) < $to
      AND ($tenant IS NULL OR array_has(string_to_array($tenant, ','), c.tenant_id))
)
SELECT tenant_id, end_reason, CAST(sum(calls) AS BIGINT) AS calls,
       CAST(coalesce(sum(calls) FILTER (WHERE disposition = 'answered'), 0) AS BIGINT) AS answered,
       round(100 * CAST(sum(calls) AS DOUBLE) / sum(sum(calls)) OVER (PARTITION BY tenant_id), 2) AS share_pct
FROM c
GROUP BY tenant_id, end_reason
ORDER BY tenant_id, calls DESC, end_reason
