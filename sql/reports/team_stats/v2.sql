-- @title Team statistics
-- @seed 004 Stratus contact-centre teams: statistics overview (lost / accepted calls and IMs, totals, inbound and outbound direct calls, average call and IM duration, voicemails)
-- @description Call and IM statistics per team over the period. Rows: one per (tenant_id,
--   team_id) that is in the teams table or appears as team_id of a counted call or IM session,
--   restricted by the tenant and team filters (exact ids from the comma-separated lists; NULL
--   for all); teams without activity get zeros. Team calls: calls rows with that team_id and
--   conference_id NULL (conference legs are meetings, not team calls) whose tenant-local
--   invite_time (local_time(invite_time, tenants.time_zone)) is in [from, to). A queue call
--   is an inbound team call whose callee_number is a numbers row of the same tenant with
--   number_type 'queue'; every other inbound call, and every outbound call, is a direct call; internal calls are
--   neither.
--   Team IM sessions: messages rows with that team_id whose tenant-local start_time is in
--   [from, to). Columns: tenant_id; team_id; team_name (teams.name, NULL for a team_id not
--   in teams); accepted_calls (inbound team calls with disposition 'answered'); lost_calls
--   (inbound team calls with disposition 'lost_to_queue', 'no_answer' or 'busy', as in
--   lost_calls and time_of_day_heatmap; inbound calls that failed or were rejected are
--   neither accepted nor lost); total_calls (all team calls: inbound, outbound and internal,
--   any disposition);
--   inbound_direct_calls (inbound team calls that are not queue calls, answered or not);
--   outbound_direct_calls (outbound team calls, answered or not); internal_calls (team calls
--   with direction 'internal'); avg_call_duration_s (average billable_s of the answered team
--   calls of any direction); avg_direct_call_duration_s (average billable_s of the answered
--   direct calls, i.e. answered inbound non-queue and outbound calls); accepted_ims and
--   lost_ims (inbound team IM sessions, direction 'inbound', with outcome 'accepted',
--   respectively 'lost'); total_ims (all team IM sessions, any direction and outcome);
--   avg_im_duration_s (average of end_time - start_time in seconds over the team sessions of
--   any direction with outcome 'accepted' and an end_time); voicemails (team calls with
--   voicemail = true).
--   Counts are bigint, 0 when none; averages are double rounded to 2 decimals, NULL when
--   there is nothing to average. Rows are ordered by tenant_id, team_id.
--   v2 gives the same rows as v1, faster: whole tenant-local hours of the period come from
--   the hourly rollups (team_calls_hourly, ims_hourly; docs/storage.md), only the part-hours
--   at the edges of a period that does not start or end on the hour from the raw tables.
-- @param from | timestamp | date_trunc('day', now()) - INTERVAL '30 days' | Start of the period (tenant-local time, inclusive).
-- @param to | timestamp | date_trunc('day', now()) + INTERVAL '1 day' | End of the period (tenant-local time, exclusive).
-- @param tenant | text | NULL | Only these tenants (comma-separated ids); NULL for all.
-- @param team | text | NULL | Only these teams (comma-separated team ids); NULL for all.
WITH tc AS (
    -- team calls in the part-hours at the edges of the period (raw rows)
    SELECT c.tenant_id, c.team_id, c.direction, c.disposition, c.billable_s, c.voicemail,
           c.direction = 'inbound' AND q.number IS NOT NULL AS is_queue
    FROM calls c
    JOIN tenants t ON t.tenant_id = c.tenant_id
    LEFT JOIN (SELECT DISTINCT tenant_id, number FROM numbers WHERE number_type = 'queue') q
           ON q.tenant_id = c.tenant_id AND q.number = c.callee_number
    WHERE ((date_trunc('hour', CAST($from AS TIMESTAMP) - INTERVAL '1 microsecond') + INTERVAL '1 hour') > CAST($from AS TIMESTAMP) OR date_trunc('hour', CAST($to AS TIMESTAMP)) < CAST($to AS TIMESTAMP))
      AND (local_time(c.invite_time, t.time_zone) < (date_trunc('hour', CAST($from AS TIMESTAMP) - INTERVAL '1 microsecond') + INTERVAL '1 hour')
           OR local_time(c.invite_time, t.time_zone) >= date_trunc('hour', CAST($to AS TIMESTAMP)))
      AND c.invite_time >= CAST($from AS TIMESTAMP) AT TIME ZONE 'UTC' - INTERVAL '14 hours'
      AND c.invite_time < CAST($to AS TIMESTAMP) AT TIME ZONE 'UTC' + INTERVAL '14 hours'
      AND local_time(c.invite_time, t.time_zone) >= $from
      AND local_time(c.invite_time, t.time_zone) < $to
      AND ($tenant IS NULL OR array_has(string_to_array($tenant, ','), c.tenant_id))
      AND c.team_id IS NOT NULL AND c.conference_id IS NULL
      AND ($team IS NULL OR array_has(string_to_array($team, ','), c.team_id))
),
tm AS (
    -- team IM sessions in the part-hours at the edges of the period (raw rows)
    SELECT m.tenant_id, m.team_id, m.outcome, m.direction,
           CASE WHEN m.outcome = 'accepted' AND m.end_time IS NOT NULL
                THEN CAST(date_part('epoch', m.end_time) - date_part('epoch', m.start_time) AS DOUBLE)
           END AS accepted_s
    FROM messages m JOIN tenants t ON t.tenant_id = m.tenant_id
    WHERE ((date_trunc('hour', CAST($from AS TIMESTAMP) - INTERVAL '1 microsecond') + INTERVAL '1 hour') > CAST($from AS TIMESTAMP) OR date_trunc('hour', CAST($to AS TIMESTAMP)) < CAST($to AS TIMESTAMP))
      AND (local_time(m.start_time, t.time_zone) < (date_trunc('hour', CAST($from AS TIMESTAMP) - INTERVAL '1 microsecond') + INTERVAL '1 hour')
           OR local_time(m.start_time, t.time_zone) >= date_trunc('hour', CAST($to AS TIMESTAMP)))
      AND m.start_time >= CAST($from AS TIMESTAMP) AT TIME ZONE 'UTC' - INTERVAL '14 hours'
      AND m.start_time < CAST($to AS TIMESTAMP) AT TIME ZONE 'UTC' + INTERVAL '14 hours'
      AND local_time(m.start_time, t.time_zone) >= $from
      AND local_time(m.start_time, t.time_zone) < $to
      AND ($tenant IS NULL OR array_has(string_to_array($tenant, ','), m.tenant_id))
      AND m.team_id IS NOT NULL
      AND ($team IS NULL OR array_has(string_to_array($team, ','), m.team_id))
),
u AS (
    SELECT tenant_id, team_id, name AS team_name,
           0 AS accepted_calls, 0 AS lost_calls, 0 AS total_calls, 0 AS inbound_direct,
           0 AS outbound_direct, 0 AS internal_calls,
           CAST(NULL AS BIGINT) AS answered_s, 0 AS answered_n,
           CAST(NULL AS BIGINT) AS direct_s, 0 AS direct_n, 0 AS voicemails,
           0 AS accepted_ims, 0 AS lost_ims, 0 AS total_ims, CAST(NULL AS DOUBLE) AS im_s, 0 AS im_n
    FROM teams
    WHERE ($tenant IS NULL OR array_has(string_to_array($tenant, ','), tenant_id))
      AND ($team IS NULL OR array_has(string_to_array($team, ','), team_id))
    UNION ALL
    SELECT h.tenant_id, h.team_id, NULL,
           h.accepted_calls, h.lost_calls, h.total_calls, h.inbound_direct_calls,
           h.outbound_direct_calls, h.internal_calls,
           h.answered_s, h.answered_calls, h.direct_answered_s, h.direct_answered_calls,
           h.voicemails,
           0, 0, 0, NULL, 0
    FROM team_calls_hourly h
    WHERE h.local_hour >= (date_trunc('hour', CAST($from AS TIMESTAMP) - INTERVAL '1 microsecond') + INTERVAL '1 hour')
      AND h.local_hour < date_trunc('hour', CAST($to AS TIMESTAMP))
      AND h.event_date >= CAST(CAST($from AS TIMESTAMP) - INTERVAL '1 day' AS DATE)
      AND h.event_date <= CAST(CAST($to AS TIMESTAMP) + INTERVAL '1 day' AS DATE)
      AND ($tenant IS NULL OR array_has(string_to_array($tenant, ','), h.tenant_id))
      AND ($team IS NULL OR array_has(string_to_array($team, ','), h.team_id))
    UNION ALL
    SELECT i.tenant_id, i.team_id, NULL, 0, 0, 0, 0, 0, 0, NULL, 0, NULL, 0, 0,
           CASE WHEN i.direction = 'inbound' AND i.outcome = 'accepted' THEN i.sessions ELSE 0 END,
           CASE WHEN i.direction = 'inbound' AND i.outcome = 'lost' THEN i.sessions ELSE 0 END,
           i.sessions,
           i.accepted_s,
           i.accepted_timed
    FROM ims_hourly i
    WHERE i.local_hour >= (date_trunc('hour', CAST($from AS TIMESTAMP) - INTERVAL '1 microsecond') + INTERVAL '1 hour')
      AND i.local_hour < date_trunc('hour', CAST($to AS TIMESTAMP))
      AND i.event_date >= CAST(CAST($from AS TIMESTAMP) - INTERVAL '1 day' AS DATE)
      AND i.event_date <= CAST(CAST($to AS TIMESTAMP) + INTERVAL '1 day' AS DATE)
      AND ($tenant IS NULL OR array_has(string_to_array($tenant, ','), i.tenant_id))
      AND i.team_id IS NOT NULL
      AND ($team IS NULL OR array_has(string_to_array($team, ','), i.team_id))
    UNION ALL
    SELECT tenant_id, team_id, NULL,
           CASE WHEN direction = 'inbound' AND disposition = 'answered' THEN 1 ELSE 0 END,
           CASE WHEN direction = 'inbound' AND disposition IN ('lost_to_queue', 'no_answer', 'busy') THEN 1 ELSE 0 END,
           1,
           CASE WHEN direction = 'inbound' AND NOT is_queue THEN 1 ELSE 0 END,
           CASE WHEN direction = 'outbound' THEN 1 ELSE 0 END,
           CASE WHEN direction = 'internal' THEN 1 ELSE 0 END,
           CASE WHEN disposition = 'answered' THEN billable_s END,
           CASE WHEN disposition = 'answered' THEN 1 ELSE 0 END,
           CASE WHEN disposition = 'answered' AND direction IN ('inbound', 'outbound') AND NOT is_queue THEN billable_s END,
           CASE WHEN disposition = 'answered' AND direction IN ('inbound', 'outbound') AND NOT is_queue THEN 1 ELSE 0 END,
           CASE WHEN voicemail THEN 1 ELSE 0 END,
           0, 0, 0, NULL, 0
    FROM tc
    UNION ALL
    SELECT tenant_id, team_id, NULL, 0, 0, 0, 0, 0, 0, NULL, 0, NULL, 0, 0,
           CASE WHEN direction = 'inbound' AND outcome = 'accepted' THEN 1 ELSE 0 END,
           CASE WHEN direction = 'inbound' AND outcome = 'lost' THEN 1 ELSE 0 END,
           1,
           accepted_s,
           CASE WHEN accepted_s IS NOT NULL THEN 1 ELSE 0 END
    FROM tm
),
g AS (
    SELECT tenant_id, team_id, max(team_name) AS team_name,
           sum(accepted_calls) AS accepted_calls, sum(lost_calls) AS lost_calls,
           sum(total_calls) AS total_calls, sum(inbound_direct) AS inbound_direct,
           sum(outbound_direct) AS outbound_direct, sum(internal_calls) AS internal_calls,
           sum(answered_s) AS answered_s, sum(answered_n) AS answered_n,
           sum(direct_s) AS direct_s, sum(direct_n) AS direct_n, sum(voicemails) AS voicemails,
           sum(accepted_ims) AS accepted_ims, sum(lost_ims) AS lost_ims, sum(total_ims) AS total_ims,
           sum(im_s) AS im_s, sum(im_n) AS im_n
    FROM u
    GROUP BY tenant_id, team_id
)
SELECT tenant_id, team_id, team_name,
       CAST(accepted_calls AS BIGINT) AS accepted_calls,
       CAST(lost_calls AS BIGINT) AS lost_calls,
       CAST(total_calls AS BIGINT) AS total_calls,
       CAST(inbound_direct AS BIGINT) AS inbound_direct_calls,
       CAST(outbound_direct AS BIGINT) AS outbound_direct_calls,
       CAST(internal_calls AS BIGINT) AS internal_calls,
       round(CAST(answered_s AS DOUBLE) / nullif(answered_n, 0), 2) AS avg_call_duration_s,
       round(CAST(direct_s AS DOUBLE) / nullif(direct_n, 0), 2) AS avg_direct_call_duration_s,
       CAST(accepted_ims AS BIGINT) AS accepted_ims,
       CAST(lost_ims AS BIGINT) AS lost_ims,
       CAST(total_ims AS BIGINT) AS total_ims,
       round(im_s / nullif(im_n, 0), 2) AS avg_im_duration_s,
       CAST(voicemails AS BIGINT) AS voicemails
FROM g
ORDER BY tenant_id, team_id
