-- @title Logins per day
-- @seed 000 hosted Skype for Business portal: Login Report
-- @description Login activity per tenant and tenant-local day, from the registrations table
--   (an event belongs to the day and period of local_time(event_time, tenants.time_zone)).
--   Only events with event_type 'login' count; logouts are ignored. Columns: tenant_id; day
--   (date, the local day); logins (bigint: login events with success = true); unique_users
--   (bigint: distinct user_id among those successful logins; a user who only failed that day
--   is not counted); failed_logins (bigint: login events with success = false, every attempt
--   counted); failed_users (bigint: distinct user_id among the failed login events). A
--   (tenant, day) row exists when it has at least one login event, successful or failed;
--   days without login events are omitted. Rows are ordered by tenant_id, day.
--   v2 returns the same rows as v1: it counts per user first, so distinct users are counted
--   as groups rather than with a set of user ids per day.
-- @param from | timestamp | date_trunc('day', now()) - INTERVAL '30 days' | Start of the period (tenant-local time, inclusive).
-- @param to | timestamp | date_trunc('day', now()) + INTERVAL '1 day' | End of the period (tenant-local time, exclusive).
-- @param tenant | text | NULL | Only these tenants (comma-separated ids); NULL for all.
WITH r AS (
    SELECT r.tenant_id, r.user_id, r.success,
           CAST(date_trunc('day', local_time(r.event_time, t.time_zone)) AS DATE) AS day
    FROM registrations r JOIN tenants t ON t.tenant_id = r.tenant_id
    WHERE r.event_time >= CAST($from AS TIMESTAMP) AT TIME ZONE 'UTC' - INTERVAL '14 hours'
      AND r.event_time < CAST($to AS TIMESTAMP) AT TIME ZONE 'UTC' + INTERVAL '14 hours'
      AND local_time(r.event_time, t.time_zone) >= $from
      AND local_time(r.event_time, t.time_zone) < $to
      AND ($tenant IS NULL OR array_has(string_to_array($tenant, ','), r.tenant_id))
      AND r.event_type = 'login'
), u AS (
    SELECT tenant_id, day, user_id, success, count(*) AS n
    FROM r
    GROUP BY tenant_id, day, user_id, success
)
SELECT tenant_id, day,
       CAST(coalesce(sum(n) FILTER (WHERE success), 0) AS BIGINT) AS logins,
       count(user_id) FILTER (WHERE success) AS unique_users,
       CAST(coalesce(sum(n) FILTER (WHERE NOT success), 0) AS BIGINT) AS failed_logins,
       count(user_id) FILTER (WHERE NOT success) AS failed_users
FROM u
GROUP BY tenant_id, day
ORDER BY tenant_id, day
