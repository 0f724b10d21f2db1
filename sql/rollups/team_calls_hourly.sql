-- Rollup team_calls_hourly: team calls (calls rows with a team_id and no conference_id) per
-- tenant, team and tenant-local hour, with the measures of the team statistics: accepted and
-- lost inbound calls, totals by direction, direct calls (inbound calls not to one of the
-- tenant's queue numbers, and outbound calls), billable seconds of the answered and of the
-- answered direct calls, voicemails. One row per (event_date, tenant_id, team_id, local_hour);
-- event_date is the UTC date partition of the calls rows it summarises. Sources: calls
-- (per partition), tenants and numbers (queue numbers; a change rebuilds every partition).
SELECT c.event_date,
       c.tenant_id,
       c.team_id,
       date_trunc('hour', local_time(c.invite_time, t.time_zone)) AS local_hour,
       count(*) FILTER (WHERE c.direction = 'inbound' AND c.disposition = 'answered') AS accepted_calls,
       count(*) FILTER (WHERE c.direction = 'inbound'
                          AND c.disposition IN ('lost_to_queue', 'no_answer', 'busy')) AS lost_calls,
       count(*) AS total_calls,
       count(*) FILTER (WHERE c.direction = 'inbound' AND q.number IS NULL) AS inbound_direct_calls,
       count(*) FILTER (WHERE c.direction = 'outbound') AS outbound_direct_calls,
       count(*) FILTER (WHERE c.direction = 'internal') AS internal_calls,
       sum(c.billable_s) FILTER (WHERE c.disposition = 'answered') AS answered_s,
       count(*) FILTER (WHERE c.disposition = 'answered') AS answered_calls,
       sum(c.billable_s) FILTER (WHERE c.disposition = 'answered'
                                   AND (c.direction = 'outbound'
                                        OR (c.direction = 'inbound' AND q.number IS NULL))) AS direct_answered_s,
       count(*) FILTER (WHERE c.disposition = 'answered'
                          AND (c.direction = 'outbound'
                               OR (c.direction = 'inbound' AND q.number IS NULL))) AS direct_answered_calls,
       count(*) FILTER (WHERE c.voicemail) AS voicemails
FROM calls c
JOIN tenants t ON t.tenant_id = c.tenant_id
LEFT JOIN (SELECT DISTINCT tenant_id, number FROM numbers WHERE number_type = 'queue') q
       ON q.tenant_id = c.tenant_id AND q.number = c.callee_number
WHERE c.team_id IS NOT NULL AND c.conference_id IS NULL
GROUP BY c.event_date, c.tenant_id, c.team_id,
         date_trunc('hour', local_time(c.invite_time, t.time_zone))
