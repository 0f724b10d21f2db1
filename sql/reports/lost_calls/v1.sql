-- @title Lost calls
-- @seed 004 Stratus contact-centre teams: Call Volume download (PDF of all lost calls)
-- @description Every lost call of the selected teams over the period, one row per call. A lost
--   call is a calls row with team_id not NULL, conference_id NULL (conference legs are not
--   team calls), direction 'inbound' and disposition 'lost_to_queue' (the caller gave up in
--   the queue), 'no_answer' (nobody answered) or 'busy'; inbound calls that are answered,
--   failed or rejected are not lost. A call belongs to the period of its local invite_time
--   (local_time(invite_time, tenants.time_zone)). Columns: tenant_id; team_id; team_name
--   (teams.name of (tenant_id, team_id); NULL when the team is not in teams); call_id;
--   call_date (date, the local date of invite_time); call_time (timestamp, the local
--   wall-clock invite_time); utc_offset (text, the tenant's UTC offset at that instant as
--   '+HH:MM' or '-HH:MM', e.g. '+01:00' for Berlin in winter); caller_number (NULL when
--   withheld); caller_user; callee_number (the number called: queue or agent); callee_user
--   (as stored: the agent rung, NULL when the call never reached one); disposition; end_reason;
--   waiting_s (bigint, duration_s: seconds from invite to the end of the call, i.e. how long
--   the caller waited before giving up or being released); voicemail (boolean,
--   calls.voicemail, false when NULL). Rows are ordered by tenant_id, team_id, invite_time
--   (UTC), call_id.
-- @param from | timestamp | date_trunc('day', now()) - INTERVAL '30 days' | Start of the period (tenant-local time, inclusive).
-- @param to | timestamp | date_trunc('day', now()) + INTERVAL '1 day' | End of the period (tenant-local time, exclusive).
-- @param tenant | text | NULL | Only these tenants (comma-separated ids); NULL for all.
-- @param team | text | NULL | Only these teams (comma-separated team ids); NULL for all teams.
WITH c AS (
    SELECT c.*, local_time(c.invite_time, t.time_zone) AS local_invite
    FROM calls c JOIN tenants t ON t.tenant_id = c.tenant_id
    WHERE c.invite_time >= CAST($from AS TIMESTAMP) AT TIME ZONE 'UTC' - INTERVAL '14 hours'
      AND c.invite_time < CAST($to AS TIMESTAMP) AT TIME ZONE 'UTC' + INTERVAL '14 hours'
      AND local_time(c.invite_time, t.time_zone) >= $from
      AND local_time(c.invite_time, t.time_zone) < $to
      AND ($tenant IS NULL OR array_has(string_to_array($tenant, ','), c.tenant_id))
      AND ($team IS NULL OR array_has(string_to_array($team, ','), c.team_id))
      AND c.team_id IS NOT NULL
      AND c.conference_id IS NULL
      AND c.direction = 'inbound'
      AND c.disposition IN ('lost_to_queue', 'no_answer', 'busy')
), o AS (
    SELECT c.*,
           CAST(round((date_part('epoch', c.local_invite) - date_part('epoch', c.invite_time)) / 60)
                AS BIGINT) AS offset_min
    FROM c
)
SELECT o.tenant_id, o.team_id, tm.name AS team_name, o.call_id,
       CAST(o.local_invite AS DATE) AS call_date,
       o.local_invite AS call_time,
       concat(CASE WHEN o.offset_min < 0 THEN '-' ELSE '+' END,
              lpad(CAST(abs(o.offset_min) / 60 AS VARCHAR), 2, '0'), ':',
              lpad(CAST(abs(o.offset_min) % 60 AS VARCHAR), 2, '0')) AS utc_offset,
       o.caller_number, o.caller_user, o.callee_number, o.callee_user,
       o.disposition, o.end_reason,
       o.duration_s AS waiting_s,
       coalesce(o.voicemail, false) AS voicemail
FROM o
LEFT JOIN teams tm ON tm.tenant_id = o.tenant_id AND tm.team_id = o.team_id
ORDER BY o.tenant_id, o.team_id, o.invite_time, o.call_id
