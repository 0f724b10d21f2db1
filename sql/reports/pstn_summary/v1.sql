-- @title PSTN summary
-- @seed 000 hosted Skype for Business portal: PSTN Summary Report
-- @description Number and minutes of PSTN calls per tenant and tenant-local day over the
--   period (the portal shows one chosen month: pass its first day as `from` and the first day
--   of the next month as `to`). A PSTN call is a row of `calls` with is_pstn = true (NULL or
--   false is not PSTN), of any media, any disposition, conference dial-in legs included. It
--   belongs to the local day of its invite_time (local_time(invite_time,
--   tenants.time_zone)); the period is tenant-local, `from` inclusive, `to` exclusive.
--   Columns: tenant_id; day (date, tenant-local); calls (integer: PSTN calls, every
--   disposition); inbound_calls and outbound_calls (integer: those with direction 'inbound'
--   or 'outbound'; PSTN calls with direction 'internal' count in calls only); answered
--   (integer: calls with disposition 'answered'); minutes (double: sum of billable_s over
--   the day's PSTN calls / 60, rounded to 2 decimals; unanswered calls have billable_s 0);
--   inbound_minutes and outbound_minutes (double: the same over the inbound or outbound
--   calls). Only days with at least one PSTN call have a row (no zero rows). Rows are
--   ordered by tenant_id, day.
-- @param from | timestamp | date_trunc('day', now()) - INTERVAL '30 days' | Start of the period (tenant-local time, inclusive).
-- @param to | timestamp | date_trunc('day', now()) + INTERVAL '1 day' | End of the period (tenant-local time, exclusive).
-- @param tenant | text | NULL | Only these tenants (comma-separated ids); NULL for all.
WITH c AS (
    SELECT c.tenant_id, c.direction, c.disposition, c.billable_s,
           CAST(local_time(c.invite_time, t.time_zone) AS DATE) AS day
    FROM calls c JOIN tenants t ON t.tenant_id = c.tenant_id
    WHERE c.is_pstn
      AND c.invite_time >= CAST($from AS TIMESTAMP) AT TIME ZONE 'UTC' - INTERVAL '14 hours'
      AND c.invite_time < CAST($to AS TIMESTAMP) AT TIME ZONE 'UTC' + INTERVAL '14 hours'
      AND local_time(c.invite_time, t.time_zone) >= $from
      AND local_time(c.invite_time, t.time_zone) < $to
      AND ($tenant IS NULL OR array_has(string_to_array($tenant, ','), c.tenant_id))
)
SELECT tenant_id, day,
       count(*) AS calls,
       count(*) FILTER (WHERE direction = 'inbound') AS inbound_calls,
       count(*) FILTER (WHERE direction = 'outbound') AS outbound_calls,
       count(*) FILTER (WHERE disposition = 'answered') AS answered,
       round(CAST(sum(billable_s) AS DOUBLE) / 60, 2) AS minutes,
       round(CAST(coalesce(sum(billable_s) FILTER (WHERE direction = 'inbound'), 0) AS DOUBLE) / 60, 2) AS inbound_minutes,
       round(CAST(coalesce(sum(billable_s) FILTER (WHERE direction = 'outbound'), 0) AS DOUBLE) / 60, 2) AS outbound_minutes
FROM c
GROUP BY tenant_id, day
ORDER BY tenant_id, day
