-- @title Usage by tenant
-- @seed 003 multi-tenant service-provider console: Usage Reports (one tenant, all tenants or a filtered list; custom period; CSV with comma or pipe)
-- @description Usage of each tenant over the period: users, calls and minutes, IM sessions and
--   messages. One row per tenants row that passes the tenant filter (exact ids from the
--   comma-separated list; NULL for all), tenants without any activity included with zeros.
--   Activity belongs to the period by its own tenant-local time (local_time(time,
--   tenants.time_zone) in [from, to)): calls by invite_time, messages by start_time,
--   registrations by event_time. Columns: tenant_id; tenant_name (tenants.name);
--   period_from, period_to (timestamp: the from and to arguments, tenant-local);
--   users (bigint, users rows of the tenant now: the users table has no history, so this is
--   the current count, not the count during the period); enabled_users (those with
--   enabled = true); active_users (distinct registrations.user_id with an event_type 'login'
--   and success = true in the period); calls (calls rows: every attempt and every
--   conference leg, any direction, media and disposition); answered_calls (calls rows with
--   disposition 'answered'); minutes (sum of billable_s over all calls rows / 60; only
--   answered rows have billable seconds); pstn_minutes (the same over the rows with is_pstn
--   = true); im_sessions (messages rows, accepted or lost); messages (sum of message_count
--   over those sessions). Counts are bigint and 0 when nothing matched; minutes are double
--   rounded to 2 decimals, 0 when none. Rows are ordered by tenant_id.
--   v2 gives the same rows as v1, faster: whole tenant-local hours of the period come from
--   the hourly rollups (activity_hourly, logins_hourly; docs/storage.md), only the part-hours
--   at the edges of a period that does not start or end on the hour from the raw tables.
-- @param from | timestamp | date_trunc('day', now()) - INTERVAL '30 days' | Start of the period (tenant-local time, inclusive).
-- @param to | timestamp | date_trunc('day', now()) + INTERVAL '1 day' | End of the period (tenant-local time, exclusive).
-- @param tenant | text | NULL | Only these tenants (comma-separated ids); NULL for all.
WITH u AS (
    SELECT t.tenant_id, t.name AS tenant_name,
           0 AS users, 0 AS enabled_users, CAST(NULL AS VARCHAR) AS login_user,
           CAST(0 AS BIGINT) AS calls, CAST(0 AS BIGINT) AS answered_calls,
           CAST(0 AS BIGINT) AS billable_s, CAST(0 AS BIGINT) AS pstn_s,
           CAST(0 AS BIGINT) AS im_sessions, CAST(0 AS BIGINT) AS messages
    FROM tenants t
    WHERE ($tenant IS NULL OR array_has(string_to_array($tenant, ','), t.tenant_id))
    UNION ALL
    SELECT u.tenant_id, NULL, 1, CASE WHEN u.enabled THEN 1 ELSE 0 END, NULL, 0, 0, 0, 0, 0, 0
    FROM users u
    WHERE ($tenant IS NULL OR array_has(string_to_array($tenant, ','), u.tenant_id))
    UNION ALL
    SELECT l.tenant_id, NULL, 0, 0, l.user_id, 0, 0, 0, 0, 0, 0
    FROM logins_hourly l
    WHERE l.local_hour >= (date_trunc('hour', CAST($from AS TIMESTAMP) - INTERVAL '1 microsecond') + INTERVAL '1 hour')
      AND l.local_hour < date_trunc('hour', CAST($to AS TIMESTAMP))
      AND l.event_date >= CAST(CAST($from AS TIMESTAMP) - INTERVAL '1 day' AS DATE)
      AND l.event_date <= CAST(CAST($to AS TIMESTAMP) + INTERVAL '1 day' AS DATE)
      AND ($tenant IS NULL OR array_has(string_to_array($tenant, ','), l.tenant_id))
    UNION ALL
    SELECT a.tenant_id, NULL, 0, 0, NULL, a.calls, a.answered_calls, a.billable_s, a.pstn_billable_s,
           a.im_sessions, a.im_messages
    FROM activity_hourly a
    WHERE a.local_hour >= (date_trunc('hour', CAST($from AS TIMESTAMP) - INTERVAL '1 microsecond') + INTERVAL '1 hour')
      AND a.local_hour < date_trunc('hour', CAST($to AS TIMESTAMP))
      AND a.event_date >= CAST(CAST($from AS TIMESTAMP) - INTERVAL '1 day' AS DATE)
      AND a.event_date <= CAST(CAST($to AS TIMESTAMP) + INTERVAL '1 day' AS DATE)
      AND ($tenant IS NULL OR array_has(string_to_array($tenant, ','), a.tenant_id))
    UNION ALL
    SELECT r.tenant_id, NULL, 0, 0, r.user_id, 0, 0, 0, 0, 0, 0
    FROM registrations r JOIN tenants t ON t.tenant_id = r.tenant_id
    WHERE ((date_trunc('hour', CAST($from AS TIMESTAMP) - INTERVAL '1 microsecond') + INTERVAL '1 hour') > CAST($from AS TIMESTAMP) OR date_trunc('hour', CAST($to AS TIMESTAMP)) < CAST($to AS TIMESTAMP))
      AND (local_time(r.event_time, t.time_zone) < (date_trunc('hour', CAST($from AS TIMESTAMP) - INTERVAL '1 microsecond') + INTERVAL '1 hour')
           OR local_time(r.event_time, t.time_zone) >= date_trunc('hour', CAST($to AS TIMESTAMP)))
      AND r.event_time >= CAST($from AS TIMESTAMP) AT TIME ZONE 'UTC' - INTERVAL '14 hours'
      AND r.event_time < CAST($to AS TIMESTAMP) AT TIME ZONE 'UTC' + INTERVAL '14 hours'
      AND local_time(r.event_time, t.time_zone) >= $from
      AND local_time(r.event_time, t.time_zone) < $to
      AND ($tenant IS NULL OR array_has(string_to_array($tenant, ','), r.tenant_id))
      AND r.event_type = 'login' AND r.success
    UNION ALL
    SELECT c.tenant_id, NULL, 0, 0, NULL, 1,
           CASE WHEN c.disposition = 'answered' THEN 1 ELSE 0 END,
           c.billable_s,
           CASE WHEN c.is_pstn THEN c.billable_s ELSE 0 END,
           0, 0
    FROM calls c JOIN tenants t ON t.tenant_id = c.tenant_id
    WHERE ((date_trunc('hour', CAST($from AS TIMESTAMP) - INTERVAL '1 microsecond') + INTERVAL '1 hour') > CAST($from AS TIMESTAMP) OR date_trunc('hour', CAST($to AS TIMESTAMP)) < CAST($to AS TIMESTAMP))
      AND (local_time(c.invite_time, t.time_zone) < (date_trunc('hour', CAST($from AS TIMESTAMP) - INTERVAL '1 microsecond') + INTERVAL '1 hour')
           OR local_time(c.invite_time, t.time_zone) >= date_trunc('hour', CAST($to AS TIMESTAMP)))
      AND c.invite_time >= CAST($from AS TIMESTAMP) AT TIME ZONE 'UTC' - INTERVAL '14 hours'
      AND c.invite_time < CAST($to AS TIMESTAMP) AT TIME ZONE 'UTC' + INTERVAL '14 hours'
      AND local_time(c.invite_time, t.time_zone) >= $from
      AND local_time(c.invite_time, t.time_zone) < $to
      AND ($tenant IS NULL OR array_has(string_to_array($tenant, ','), c.tenant_id))
    UNION ALL
    SELECT m.tenant_id, NULL, 0, 0, NULL, 0, 0, 0, 0, 1, m.message_count
    FROM messages m JOIN tenants t ON t.tenant_id = m.tenant_id
    WHERE ((date_trunc('hour', CAST($from AS TIMESTAMP) - INTERVAL '1 microsecond') + INTERVAL '1 hour') > CAST($from AS TIMESTAMP) OR date_trunc('hour', CAST($to AS TIMESTAMP)) < CAST($to AS TIMESTAMP))
      AND (local_time(m.start_time, t.time_zone) < (date_trunc('hour', CAST($from AS TIMESTAMP) - INTERVAL '1 microsecond') + INTERVAL '1 hour')
           OR local_time(m.start_time, t.time_zone) >= date_trunc('hour', CAST($to AS TIMESTAMP)))
      AND m.start_time >= CAST($from AS TIMESTAMP) AT TIME ZONE 'UTC' - INTERVAL '14 hours'
      AND m.start_time < CAST($to AS TIMESTAMP) AT TIME ZONE 'UTC' + INTERVAL '14 hours'
      AND local_time(m.start_time, t.time_zone) >= $from
      AND local_time(m.start_time, t.time_zone) < $to
      AND ($tenant IS NULL OR array_has(string_to_array($tenant, ','), m.tenant_id))
),
g AS (
    SELECT tenant_id, max(tenant_name) AS tenant_name,
           sum(users) AS users, sum(enabled_users) AS enabled_users,
           count(DISTINCT login_user) AS active_users,
           sum(calls) AS calls, sum(answered_calls) AS answered_calls,
           sum(billable_s) AS billable_s, sum(pstn_s) AS pstn_s,
           sum(im_sessions) AS im_sessions, sum(messages) AS messages
    FROM u
    GROUP BY tenant_id
    HAVING max(tenant_name) IS NOT NULL
)
SELECT tenant_id, tenant_name,
       CAST($from AS TIMESTAMP) AS period_from, CAST($to AS TIMESTAMP) AS period_to,
       CAST(users AS BIGINT) AS users, CAST(enabled_users AS BIGINT) AS enabled_users,
       CAST(active_users AS BIGINT) AS active_users,
       CAST(calls AS BIGINT) AS calls, CAST(answered_calls AS BIGINT) AS answered_calls,
       round(CAST(billable_s AS DOUBLE) / 60, 2) AS minutes,
       round(CAST(pstn_s AS DOUBLE) / 60, 2) AS pstn_minutes,
       CAST(im_sessions AS BIGINT) AS im_sessions, CAST(messages AS BIGINT) AS messages
FROM g
ORDER BY tenant_id
