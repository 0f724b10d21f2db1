-- Rollup calls_hourly: calls per tenant, team and tenant-local hour, by end reason and
-- disposition. One row per (event_date, tenant_id, team_id, local_hour, end_reason,
-- disposition); event_date is the UTC date partition of the calls rows it summarises, so a
-- change to one partition of calls rebuilds one partition of the rollup. local_hour is
-- date_trunc('hour', local_time(invite_time, tenants.time_zone)): a change to tenants rebuilds
-- every partition. Calls of a tenant missing from tenants are left out, as the reports'
-- join with tenants leaves them out.
SELECT c.event_date,
       c.tenant_id,
       c.team_id,
       date_trunc('hour', local_time(c.invite_time, t.time_zone)) AS local_hour,
       c.end_reason,
       c.disposition,
       count(*) AS calls,
       sum(c.billable_s) AS billable_s,
       sum(CASE WHEN c.is_pstn THEN c.billable_s ELSE 0 END) AS pstn_billable_s,
       count(*) FILTER (WHERE c.media = 'audio') AS audio_calls,
       sum(c.billable_s) FILTER (WHERE c.media = 'audio') AS audio_billable_s,
       count(*) FILTER (WHERE c.media = 'video') AS video_calls,
       sum(c.billable_s) FILTER (WHERE c.media = 'video') AS video_billable_s,
       count(*) FILTER (WHERE c.media = 'app_sharing') AS app_sharing_calls,
       count(*) FILTER (WHERE c.media = 'file_transfer') AS file_transfer_calls,
       count(*) FILTER (WHERE c.direction = 'inbound' AND c.conference_id IS NULL) AS team_inbound_calls
FROM calls c JOIN tenants t ON t.tenant_id = c.tenant_id
GROUP BY c.event_date, c.tenant_id, c.team_id,
         date_trunc('hour', local_time(c.invite_time, t.time_zone)), c.end_reason, c.disposition
