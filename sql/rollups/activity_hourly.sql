-- Rollup activity_hourly: a tenant's activity per team and tenant-local hour, one row per
-- (event_date, tenant_id, team_id, local_hour), measures side by side: every calls row
-- (calls, answered_calls, billable seconds of all and of the PSTN rows), the answered calls per
-- media with their billable seconds, and the IM sessions (messages rows: all, and the accepted
-- ones, with their messages). event_date is the UTC date partition of the calls and messages
-- rows summarised (each by its own time column); local_hour is date_trunc('hour',
-- local_time(time, tenants.time_zone)). Sources: calls and messages (per partition), tenants.
WITH a AS (
    SELECT c.event_date, c.tenant_id, c.team_id,
           date_trunc('hour', local_time(c.invite_time, t.time_zone)) AS local_hour,
           1 AS calls,
           CASE WHEN c.disposition = 'answered' THEN 1 ELSE 0 END AS answered_calls,
           c.billable_s AS billable_s,
           CASE WHEN c.is_pstn THEN c.billable_s ELSE 0 END AS pstn_billable_s,
           CASE WHEN c.disposition = 'answered' AND c.media = 'audio' THEN 1 ELSE 0 END AS audio_calls,
           CASE WHEN c.disposition = 'answered' AND c.media = 'audio' THEN c.billable_s END AS audio_billable_s,
           CASE WHEN c.disposition = 'answered' AND c.media = 'video' THEN 1 ELSE 0 END AS video_calls,
           CASE WHEN c.disposition = 'answered' AND c.media = 'video' THEN c.billable_s END AS video_billable_s,
           CASE WHEN c.disposition = 'answered' AND c.media = 'app_sharing' THEN 1 ELSE 0 END AS app_sharing_calls,
           CASE WHEN c.disposition = 'answered' AND c.media = 'file_transfer' THEN 1 ELSE 0 END AS file_transfer_calls,
           0 AS im_sessions, CAST(NULL AS BIGINT) AS im_messages,
           0 AS accepted_ims, CAST(NULL AS BIGINT) AS accepted_im_messages
    FROM calls c JOIN tenants t ON t.tenant_id = c.tenant_id
    UNION ALL
    SELECT m.event_date, m.tenant_id, m.team_id,
           date_trunc('hour', local_time(m.start_time, t.time_zone)),
           0, 0, NULL, NULL, 0, NULL, 0, NULL, 0, 0,
           1, CAST(m.message_count AS BIGINT),
           CASE WHEN m.outcome = 'accepted' THEN 1 ELSE 0 END,
           CASE WHEN m.outcome = 'accepted' THEN CAST(m.message_count AS BIGINT) END
    FROM messages m JOIN tenants t ON t.tenant_id = m.tenant_id
)
SELECT event_date, tenant_id, team_id, local_hour,
       CAST(sum(calls) AS BIGINT) AS calls,
       CAST(sum(answered_calls) AS BIGINT) AS answered_calls,
       sum(billable_s) AS billable_s,
       sum(pstn_billable_s) AS pstn_billable_s,
       CAST(sum(audio_calls) AS BIGINT) AS audio_calls,
       sum(audio_billable_s) AS audio_billable_s,
       CAST(sum(video_calls) AS BIGINT) AS video_calls,
       sum(video_billable_s) AS video_billable_s,
       CAST(sum(app_sharing_calls) AS BIGINT) AS app_sharing_calls,
       CAST(sum(file_transfer_calls) AS BIGINT) AS file_transfer_calls,
       CAST(sum(im_sessions) AS BIGINT) AS im_sessions,
       sum(im_messages) AS im_messages,
       CAST(sum(accepted_ims) AS BIGINT) AS accepted_ims,
       sum(accepted_im_messages) AS accepted_im_messages
FROM a
GROUP BY event_date, tenant_id, team_id, local_hour
