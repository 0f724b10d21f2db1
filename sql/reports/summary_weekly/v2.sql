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
--   v2 gives the same rows as v1, faster: whole tenant-local hours of the period come from
--   the hourly rollups (activity_hourly, logins_hourly; docs/storage.md), only the part-hours
--   at the edges of a period that does not start or end on the hour from the raw tables.
-- @param from | timestamp | date_trunc('day', now()) - INTERVAL '30 days' | Start of the period (tenant-local time, inclusive).
-- @param to | timestamp | date_trunc('day', now()) + INTERVAL '1 day' | End of the period (tenant-local time, exclusive).
-- @param tenant | text | NULL | Only these tenants (comma-separated ids); NULL for all.
WITH w AS (
    SELECT l.tenant_id, l.local_hour AS local, l.user_id,
           CAST(0 AS BIGINT) AS ims, CAST(0 AS BIGINT) AS messages,
           CAST(0 AS BIGINT) AS audio_calls, CAST(0 AS BIGINT) AS audio_s,
           CAST(0 AS BIGINT) AS video_calls, CAST(0 AS BIGINT) AS video_s,
           CAST(0 AS BIGINT) AS app_sharing, CAST(0 AS BIGINT) AS file_transfers
    FROM logins_hourly l
    WHERE l.local_hour >= (date_trunc('hour', CAST($from AS TIMESTAMP) - INTERVAL '1 microsecond') + INTERVAL '1 hour')
      AND l.local_hour < date_trunc('hour', CAST($to AS TIMESTAMP))
      AND l.event_date >= CAST(CAST($from AS TIMESTAMP) - INTERVAL '1 day' AS DATE)
      AND l.event_date <= CAST(CAST($to AS TIMESTAMP) + INTERVAL '1 day' AS DATE)
      AND ($tenant IS NULL OR array_has(string_to_array($tenant, ','), l.tenant_id))
    UNION ALL
    SELECT a.tenant_id, a.local_hour, NULL,
           a.accepted_ims, coalesce(a.accepted_im_messages, 0),
           a.audio_calls, coalesce(a.audio_billable_s, 0),
           a.video_calls, coalesce(a.video_billable_s, 0),
           a.app_sharing_calls, a.file_transfer_calls
    FROM activity_hourly a
    WHERE a.local_hour >= (date_trunc('hour', CAST($from AS TIMESTAMP) - INTERVAL '1 microsecond') + INTERVAL '1 hour')
      AND a.local_hour < date_trunc('hour', CAST($to AS TIMESTAMP))
      AND a.event_date >= CAST(CAST($from AS TIMESTAMP) - INTERVAL '1 day' AS DATE)
      AND a.event_date <= CAST(CAST($to AS TIMESTAMP) + INTERVAL '1 day' AS DATE)
      AND ($tenant IS NULL OR array_has(string_to_array($tenant, ','), a.tenant_id))
      AND a.accepted_ims + a.audio_calls + a.video_calls + a.app_sharing_calls + a.file_transfer_calls > 0
    UNION ALL
    SELECT r.tenant_id, local_time(r.event_time, t.time_zone), r.user_id, 0, 0, 0, 0, 0, 0, 0, 0
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
    SELECT m.tenant_id, local_time(m.start_time, t.time_zone), NULL,
           1, coalesce(CAST(m.message_count AS BIGINT), 0), 0, 0, 0, 0, 0, 0
    FROM messages m JOIN tenants t ON t.tenant_id = m.tenant_id
    WHERE ((date_trunc('hour', CAST($from AS TIMESTAMP) - INTERVAL '1 microsecond') + INTERVAL '1 hour') > CAST($from AS TIMESTAMP) OR date_trunc('hour', CAST($to AS TIMESTAMP)) < CAST($to AS TIMESTAMP))
      AND (local_time(m.start_time, t.time_zone) < (date_trunc('hour', CAST($from AS TIMESTAMP) - INTERVAL '1 microsecond') + INTERVAL '1 hour')
           OR local_time(m.start_time, t.time_zone) >= date_trunc('hour', CAST($to AS TIMESTAMP)))
      AND m.start_time >= CAST($from AS TIMESTAMP) AT TIME ZONE 'UTC' - INTERVAL '14 hours'
      AND m.start_time < CAST($to AS TIMESTAMP) AT TIME ZONE 'UTC' + INTERVAL '14 hours'
      AND local_time(m.start_time, t.time_zone) >= $from
      AND local_time(m.start_time, t.time_zone) < $to
      AND ($tenant IS NULL OR array_has(string_to_array($tenant, ','), m.tenant_id))
      AND m.outcome = 'accepted'
    UNION ALL
    SELECT c.tenant_id, local_time(c.invite_time, t.time_zone), NULL, 0, 0,
           CASE WHEN c.media = 'audio' THEN 1 ELSE 0 END,
           CASE WHEN c.media = 'audio' THEN coalesce(c.billable_s, 0) ELSE 0 END,
           CASE WHEN c.media = 'video' THEN 1 ELSE 0 END,
           CASE WHEN c.media = 'video' THEN coalesce(c.billable_s, 0) ELSE 0 END,
           CASE WHEN c.media = 'app_sharing' THEN 1 ELSE 0 END,
           CASE WHEN c.media = 'file_transfer' THEN 1 ELSE 0 END
    FROM calls c JOIN tenants t ON t.tenant_id = c.tenant_id
    WHERE ((date_trunc('hour', CAST($from AS TIMESTAMP) - INTERVAL '1 microsecond') + INTERVAL '1 hour') > CAST($from AS TIMESTAMP) OR date_trunc('hour', CAST($to AS TIMESTAMP)) < CAST($to AS TIMESTAMP))
      AND (local_time(c.invite_time, t.time_zone) < (date_trunc('hour', CAST($from AS TIMESTAMP) - INTERVAL '1 microsecond') + INTERVAL '1 hour')
           OR local_time(c.invite_time, t.time_zone) >= date_trunc('hour', CAST($to AS TIMESTAMP)))
      AND c.invite_time >= CAST($from AS TIMESTAMP) AT TIME ZONE 'UTC' - INTERVAL '14 hours'
      AND c.invite_time < CAST($to AS TIMESTAMP) AT TIME ZONE 'UTC' + INTERVAL '14 hours'
      AND local_time(c.invite_time, t.time_zone) >= $from
      AND local_time(c.invite_time, t.time_zone) < $to
      AND ($tenant IS NULL OR array_has(string_to_array($tenant, ','), c.tenant_id))
      AND c.disposition = 'answered'
      AND c.media IN ('audio', 'video', 'app_sharing', 'file_transfer')
)
SELECT tenant_id, CAST(date_trunc('week', local) AS DATE) AS week,
       count(DISTINCT user_id) AS unique_logins,
       CAST(sum(ims) AS BIGINT) AS im_sessions,
       CAST(sum(messages) AS BIGINT) AS im_messages,
       CAST(sum(audio_calls) AS BIGINT) AS audio_calls,
       round(CAST(sum(audio_s) AS DOUBLE) / 60, 2) AS audio_minutes,
       CAST(sum(video_calls) AS BIGINT) AS video_calls,
       round(CAST(sum(video_s) AS DOUBLE) / 60, 2) AS video_minutes,
       CAST(sum(app_sharing) AS BIGINT) AS app_sharing_sessions,
       CAST(sum(file_transfers) AS BIGINT) AS file_transfers
FROM w
GROUP BY tenant_id, CAST(date_trunc('week', local) AS DATE)
ORDER BY tenant_id, week
