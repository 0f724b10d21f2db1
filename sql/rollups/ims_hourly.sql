-- Rollup ims_hourly: IM sessions (messages rows) per tenant, team and tenant-local hour, by
-- direction and outcome. One row per (event_date, tenant_id, team_id, local_hour, direction,
-- outcome); event_date is the UTC date partition of the messages rows it summarises and
-- local_hour is date_trunc('hour', local_time(start_time, tenants.time_zone)). accepted_s and
-- accepted_timed: the seconds (end_time - start_time) and number of the accepted sessions that
-- have an end_time.
SELECT m.event_date,
       m.tenant_id,
       m.team_id,
       date_trunc('hour', local_time(m.start_time, t.time_zone)) AS local_hour,
       m.direction,
       m.outcome,
       count(*) AS sessions,
       sum(CAST(m.message_count AS BIGINT)) AS messages,
       sum(CASE WHEN m.outcome = 'accepted' AND m.end_time IS NOT NULL
                THEN CAST(date_part('epoch', m.end_time) - date_part('epoch', m.start_time) AS DOUBLE)
           END) AS accepted_s,
       count(*) FILTER (WHERE m.outcome = 'accepted' AND m.end_time IS NOT NULL) AS accepted_timed
FROM messages m JOIN tenants t ON t.tenant_id = m.tenant_id
GROUP BY m.event_date, m.tenant_id, m.team_id,
         date_trunc('hour', local_time(m.start_time, t.time_zone)), m.direction, m.outcome
