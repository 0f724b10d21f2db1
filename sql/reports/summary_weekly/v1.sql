-- @title Summary (weekly activity)
-- @seed 000 hosted Skype for Business portal: Summary Report
-- @description The organisation's activity per tenant and tenant-local week (Monday to
--   Sunday). Each source row belongs to the week and period of its own time: registrations
--   by event_time, IM sessions (messages table) by start_time, calls by invite_time, each
--   converted with local_time(time, tenants.time_zone). Columns, in this order: tenant_id;
--   week (date, the local Monday starting the week; the first and last weeks of a period that
--   does not start on a Monday or end on a Monday hold only the days inside the period);
--   unique_logins (number of distinct registrations.user_id with at least one event_type
--   'login' AND success = true in the week); im_sessions (messages rows with outcome
--   'accepted'); im_messages (sum of message_count over those accepted sessions; lost
--   sessions and their messages are not counted); audio_calls; audio_minutes; video_calls;
--   video_minutes; app_sharing_sessions; file_transfers. audio_calls, video_calls,
--   app_sharing_sessions and file_transfers count calls rows with disposition 'answered' and
--   media 'audio', 'video', 'app_sharing', 'file_transfer' respectively (every answered row
--   counts, conference legs included, whatever the direction; unanswered attempts are not
--   counted). audio_minutes and video_minutes are the sum of billable_s of those answered
--   audio, respectively video, calls / 60, double rounded to 2 decimals (0 when there are
--   none). All counts are bigint and 0 when nothing matched. A (tenant, week) row exists
--   when at least one of the counted things (a successful login, an accepted IM session, an
--   answered call of one of the four media) falls in it; weeks without any are omitted. Rows are ordered by tenant_id, week.
-- @param from | timestamp | date_trunc('day', now()) - INTERVAL '30 days' | Start of the period (tenant-local time, inclusive).
-- @param to | timestamp | date_trunc('day', now()) + INTERVAL '1 day' | End of the period (tenant-local time, exclusive).
-- @param tenant | text | NULL | Only these tenants (comma-separated ids); NULL for all.
WITH e AS (
    -- every counted thing as one row: kind 'login', 'im' or the call's media
    SELECT r.tenant_id, r.event_time AS at, 'login' AS kind, r.user_id,
           CAST(0 AS BIGINT) AS messages, CAST(0 AS BIGINT) AS seconds
    FROM registrations r
    WHERE r.event_time >= CAST($from AS TIMESTAMP) AT TIME ZONE 'UTC' - INTERVAL '14 hours'
      AND r.event_time < CAST($to AS TIMESTAMP) AT TIME ZONE 'UTC' + INTERVAL '14 hours'
      AND ($tenant IS NULL OR array_has(string_to_array($tenant, ','), r.tenant_id))
      AND r.event_type = 'login' AND r.success
    UNION ALL
    SELECT m.tenant_id, m.start_time AS at, 'im' AS kind, CAST(NULL AS VARCHAR) AS user_id,
           CAST(m.message_count AS BIGINT) AS messages, CAST(0 AS BIGINT) AS seconds
    FROM messages m
    WHERE m.start_time >= CAST($from AS TIMESTAMP) AT TIME ZONE 'UTC' - INTERVAL '14 hours'
      AND m.start_time < CAST($to AS TIMESTAMP) AT TIME ZONE 'UTC' + INTERVAL '14 hours'
      AND ($tenant IS NULL OR array_has(string_to_array($tenant, ','), m.tenant_id))
      AND m.outcome = 'accepted'
    UNION ALL
    SELECT c.tenant_id, c.invite_time AS at, c.media AS kind, CAST(NULL AS VARCHAR) AS user_id,
           CAST(0 AS BIGINT) AS messages, c.billable_s AS seconds
    FROM calls c
    WHERE c.invite_time >= CAST($from AS TIMESTAMP) AT TIME ZONE 'UTC' - INTERVAL '14 hours'
      AND c.invite_time < CAST($to AS TIMESTAMP) AT TIME ZONE 'UTC' + INTERVAL '14 hours'
      AND ($tenant IS NULL OR array_has(string_to_array($tenant, ','), c.tenant_id))
      AND c.disposition = 'answered'
      AND c.media IN ('audio', 'video', 'app_sharing', 'file_transfer')
), w AS (
    SELECT e.tenant_id, e.kind, e.user_id, e.messages, e.seconds,
           CAST(date_trunc('week', local_time(e.at, t.time_zone)) AS DATE) AS week
    FROM e JOIN tenants t ON t.tenant_id = e.tenant_id
    WHERE local_time(e.at, t.time_zone) >= $from
      AND local_time(e.at, t.time_zone) < $to
)
SELECT tenant_id, week,
       count(DISTINCT user_id) FILTER (WHERE kind = 'login') AS unique_logins,
       count(*) FILTER (WHERE kind = 'im') AS im_sessions,
       coalesce(sum(messages) FILTER (WHERE kind = 'im'), 0) AS im_messages,
       count(*) FILTER (WHERE kind = 'audio') AS audio_calls,
       round(CAST(coalesce(sum(seconds) FILTER (WHERE kind = 'audio'), 0) AS DOUBLE) / 60, 2) AS audio_minutes,
       count(*) FILTER (WHERE kind = 'video') AS video_calls,
       round(CAST(coalesce(sum(seconds) FILTER (WHERE kind = 'video'), 0) AS DOUBLE) / 60, 2) AS video_minutes,
       count(*) FILTER (WHERE kind = 'app_sharing') AS app_sharing_sessions,
       count(*) FILTER (WHERE kind = 'file_transfer') AS file_transfers
FROM w
GROUP BY tenant_id, week
ORDER BY tenant_id, week
