-- @title Summary (weekly activity)
-- @seed 000 hosted Skype for Business portal: Summary Report
-- @description The organisation's activity per tenant and tenant-local week (Monday to
--   Sunday). Each source row belongs to the week and period of its own time: registrations
--   by event_time, IM sessions (messages table) by start_time, calls by invite_time, each
--   converted with local_time(time, tenants.time_zone). Columns: tenant_id; week (date, the
--   local Monday starting the week; the first and last weeks of a period that does not start
--   on a Monday or end on a Monday hold only the days inside the period); unique_logins (number
--   of distinct registrations.user_id with at least one event_type 'login' AND success = true
--   in the week); im_sessions (messages rows with outcome 'accepted'); im_messages (sum of
--   message_count over those accepted sessions; lost sessions and their messages are not
--   counted); audio_calls, video_calls, app_sharing_sessions, file_transfers (calls rows with
--   disposition 'answered' and media 'audio', 'video', 'app_sharing', 'file_transfer'
--   respectively; every answered row counts, conference legs included, whatever the
--   direction; unanswered attempts are not counted); audio_minutes and video_minutes (sum of
--   billable_s of those answered audio, respectively video, calls / 60, double rounded to 2
--   decimals; 0 when there are none). All counts are bigint and 0 when nothing matched. A
--   (tenant, week) row exists when at least one of the counted things (a successful login,
--   an accepted IM session, an answered call of one of the four media) falls in it; weeks
--   without any are omitted. Rows are ordered by tenant_id, week.
-- @param from | timestamp | date_trunc('day', now()) - INTERVAL '30 days' | Start of the period (tenant-local time, inclusive).
-- @param to | timestamp | date_trunc('day', now()) + INTERVAL '1 day' | End of the period (tenant-local time, exclusive).
-- @param tenant | text | NULL | Only these tenants (comma-separated ids); NULL for all.
WITH logins AS (
    SELECT r.tenant_id,
           CAST(date_trunc('week', local_time(r.event_time, t.time_zone)) AS DATE) AS week,
           count(DISTINCT r.user_id) AS unique_logins
    FROM registrations r JOIN tenants t ON t.tenant_id = r.tenant_id
    WHERE r.event_time >= CAST($from AS TIMESTAMP) AT TIME ZONE 'UTC' - INTERVAL '14 hours'
      AND r.event_time < CAST($to AS TIMESTAMP) AT TIME ZONE 'UTC' + INTERVAL '14 hours'
      AND local_time(r.event_time, t.time_zone) >= $from
      AND local_time(r.event_time, t.time_zone) < $to
      AND ($tenant IS NULL OR array_has(string_to_array($tenant, ','), r.tenant_id))
      AND r.event_type = 'login' AND r.success
    GROUP BY 1, 2
), ims AS (
    SELECT m.tenant_id,
           CAST(date_trunc('week', local_time(m.start_time, t.time_zone)) AS DATE) AS week,
           count(*) AS im_sessions,
           sum(CAST(m.message_count AS BIGINT)) AS im_messages
    FROM messages m JOIN tenants t ON t.tenant_id = m.tenant_id
    WHERE m.start_time >= CAST($from AS TIMESTAMP) AT TIME ZONE 'UTC' - INTERVAL '14 hours'
      AND m.start_time < CAST($to AS TIMESTAMP) AT TIME ZONE 'UTC' + INTERVAL '14 hours'
      AND local_time(m.start_time, t.time_zone) >= $from
      AND local_time(m.start_time, t.time_zone) < $to
      AND ($tenant IS NULL OR array_has(string_to_array($tenant, ','), m.tenant_id))
      AND m.outcome = 'accepted'
    GROUP BY 1, 2
), cls AS (
    SELECT c.tenant_id,
           CAST(date_trunc('week', local_time(c.invite_time, t.time_zone)) AS DATE) AS week,
           count(*) FILTER (WHERE c.media = 'audio') AS audio_calls,
           sum(c.billable_s) FILTER (WHERE c.media = 'audio') AS audio_s,
           count(*) FILTER (WHERE c.media = 'video') AS video_calls,
           sum(c.billable_s) FILTER (WHERE c.media = 'video') AS video_s,
           count(*) FILTER (WHERE c.media = 'app_sharing') AS app_sharing_sessions,
           count(*) FILTER (WHERE c.media = 'file_transfer') AS file_transfers
    FROM calls c JOIN tenants t ON t.tenant_id = c.tenant_id
    WHERE c.invite_time >= CAST($from AS TIMESTAMP) AT TIME ZONE 'UTC' - INTERVAL '14 hours'
      AND c.invite_time < CAST($to AS TIMESTAMP) AT TIME ZONE 'UTC' + INTERVAL '14 hours'
      AND local_time(c.invite_time, t.time_zone) >= $from
      AND local_time(c.invite_time, t.time_zone) < $to
      AND ($tenant IS NULL OR array_has(string_to_array($tenant, ','), c.tenant_id))
      AND c.disposition = 'answered'
    GROUP BY 1, 2
), keys AS (
    SELECT tenant_id, week FROM logins
    UNION SELECT tenant_id, week FROM ims
    UNION SELECT tenant_id, week FROM cls
)
SELECT k.tenant_id, k.week,
       coalesce(l.unique_logins, 0) AS unique_logins,
       coalesce(i.im_sessions, 0) AS im_sessions,
       coalesce(i.im_messages, 0) AS im_messages,
       coalesce(c.audio_calls, 0) AS audio_calls,
       round(CAST(coalesce(c.audio_s, 0) AS DOUBLE) / 60, 2) AS audio_minutes,
       coalesce(c.video_calls, 0) AS video_calls,
       round(CAST(coalesce(c.video_s, 0) AS DOUBLE) / 60, 2) AS video_minutes,
       coalesce(c.app_sharing_sessions, 0) AS app_sharing_sessions,
       coalesce(c.file_transfers, 0) AS file_transfers
FROM keys k
LEFT JOIN logins l ON l.tenant_id = k.tenant_id AND l.week = k.week
LEFT JOIN ims i ON i.tenant_id = k.tenant_id AND i.week = k.week
LEFT JOIN cls c ON c.tenant_id = k.tenant_id AND c.week = k.week
ORDER BY k.tenant_id, k.week
