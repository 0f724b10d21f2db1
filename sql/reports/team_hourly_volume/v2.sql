-- @title Team hourly volume
-- @seed 004 Stratus contact-centre teams: Call Volume (per-hour count of calls accepted and lost), plus IMs
-- @description Accepted and lost calls and IM sessions per team and tenant-local hour. Calls:
--   calls rows with a team_id, conference_id NULL (conference legs are meetings, not team
--   calls) and direction 'inbound' (calls offered to the team); accepted = disposition
--   'answered', lost = disposition 'lost_to_queue', 'no_answer' or 'busy' (as in lost_calls
--   and time_of_day_heatmap); inbound calls that failed or were rejected count in neither.
--   IMs: messages rows with a team_id and direction 'inbound'; accepted = outcome
--   'accepted', lost = outcome 'lost'.
--   A call belongs to the hour of its invite_time, an IM session to the hour of its
--   start_time, both converted with local_time(time, tenants.time_zone); it counts when that
--   local time is in [from, to) and its tenant and team pass the filters (exact ids from the
--   comma-separated lists; NULL for all). Columns: tenant_id; team_id; hour (timestamp
--   without zone: the tenant-local wall-clock start of the hour, date_trunc('hour',
--   local time); when clocks go back the two UTC hours with the same local hour share one
--   row, and the skipped hour of a spring-forward day has none); accepted_calls; lost_calls;
--   accepted_ims; lost_ims (bigint). Only hours with at least one counted call or IM session
--   have a row (no zero rows). Rows are ordered by tenant_id, team_id, hour.
--   v2 gives the same rows as v1, faster: whole tenant-local hours of the period come from
--   the hourly rollups (team_calls_hourly, ims_hourly; docs/storage.md), only the part-hours
--   at the edges of a period that does not start or end on the hour from the raw tables.
-- @param from | timestamp | date_trunc('day', now()) - INTERVAL '30 days' | Start of the period (tenant-local time, inclusive).
-- @param to | timestamp | date_trunc('day', now()) + INTERVAL '1 day' | End of the period (tenant-local time, exclusive).
-- @param tenant | text | NULL | Only these tenants (comma-separated ids); NULL for all.
-- @param team | text | NULL | Only these teams (comma-separated team ids); NULL for all.
WITH u AS (
    SELECT h.tenant_id, h.team_id, h.local_hour AS hour,
           h.accepted_calls, h.lost_calls,
           CAST(0 AS BIGINT) AS accepted_ims, CAST(0 AS BIGINT) AS lost_ims
    FROM team_calls_hourly h
    WHERE h.local_hour >= (date_trunc('hour', CAST($from AS TIMESTAMP) - INTERVAL '1 microsecond') + INTERVAL '1 hour')
      AND h.local_hour < date_trunc('hour', CAST($to AS TIMESTAMP))
      AND h.event_date >= CAST(CAST($from AS TIMESTAMP) - INTERVAL '1 day' AS DATE)
      AND h.event_date <= CAST(CAST($to AS TIMESTAMP) + INTERVAL '1 day' AS DATE)
      AND ($tenant IS NULL OR array_has(string_to_array($tenant, ','), h.tenant_id))
      AND h.accepted_calls + h.lost_calls > 0
      AND ($team IS NULL OR array_has(string_to_array($team, ','), h.team_id))
    UNION ALL
    SELECT i.tenant_id, i.team_id, i.local_hour, CAST(0 AS BIGINT), CAST(0 AS BIGINT),
           CASE WHEN i.outcome = 'accepted' THEN i.sessions ELSE 0 END,
           CASE WHEN i.outcome = 'lost' THEN i.sessions ELSE 0 END
    FROM ims_hourly i
    WHERE i.local_hour >= (date_trunc('hour', CAST($from AS TIMESTAMP) - INTERVAL '1 microsecond') + INTERVAL '1 hour')
      AND i.local_hour < date_trunc('hour', CAST($to AS TIMESTAMP))
      AND i.event_date >= CAST(CAST($from AS TIMESTAMP) - INTERVAL '1 day' AS DATE)
      AND i.event_date <= CAST(CAST($to AS TIMESTAMP) + INTERVAL '1 day' AS DATE)
      AND ($tenant IS NULL OR array_has(string_to_array($tenant, ','), i.tenant_id))
      AND i.team_id IS NOT NULL AND i.direction = 'inbound'
      AND ($team IS NULL OR array_has(string_to_array($team, ','), i.team_id))
    UNION ALL
    SELECT c.tenant_id, c.team_id,
           date_trunc('hour', local_time(c.invite_time, t.time_zone)),
           CASE WHEN c.disposition = 'answered' THEN 1 ELSE 0 END,
           CASE WHEN c.disposition IN ('lost_to_queue', 'no_answer', 'busy') THEN 1 ELSE 0 END,
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
      AND c.team_id IS NOT NULL AND c.conference_id IS NULL AND c.direction = 'inbound'
      AND ($team IS NULL OR array_has(string_to_array($team, ','), c.team_id))
      AND c.disposition IN ('answered', 'lost_to_queue', 'no_answer', 'busy')
    UNION ALL
    SELECT m.tenant_id, m.team_id,
           date_trunc('hour', local_time(m.start_time, t.time_zone)),
           0, 0,
           CASE WHEN m.outcome = 'accepted' THEN 1 ELSE 0 END,
           CASE WHEN m.outcome = 'lost' THEN 1 ELSE 0 END
    FROM messages m JOIN tenants t ON t.tenant_id = m.tenant_id
    WHERE ((date_trunc('hour', CAST($from AS TIMESTAMP) - INTERVAL '1 microsecond') + INTERVAL '1 hour') > CAST($from AS TIMESTAMP) OR date_trunc('hour', CAST($to AS TIMESTAMP)) < CAST($to AS TIMESTAMP))
      AND (local_time(m.start_time, t.time_zone) < (date_trunc('hour', CAST($from AS TIMESTAMP) - INTERVAL '1 microsecond') + INTERVAL '1 hour')
           OR local_time(m.start_time, t.time_zone) >= date_trunc('hour', CAST($to AS TIMESTAMP)))
      AND m.start_time >= CAST($from AS TIMESTAMP) AT TIME ZONE 'UTC' - INTERVAL '14 hours'
      AND m.start_time < CAST($to AS TIMESTAMP) AT TIME ZONE 'UTC' + INTERVAL '14 hours'
      AND local_time(m.start_time, t.time_zone) >= $from
      AND local_time(m.start_time, t.time_zone) < $to
      AND ($tenant IS NULL OR array_has(string_to_array($tenant, ','), m.tenant_id))
      AND m.team_id IS NOT NULL AND m.direction = 'inbound'
      AND ($team IS NULL OR array_has(string_to_array($team, ','), m.team_id))
)
SELECT tenant_id, team_id, hour,
       CAST(sum(accepted_calls) AS BIGINT) AS accepted_calls,
       CAST(sum(lost_calls) AS BIGINT) AS lost_calls,
       CAST(sum(accepted_ims) AS BIGINT) AS accepted_ims,
       CAST(sum(lost_ims) AS BIGINT) AS lost_ims
FROM u
GROUP BY tenant_id, team_id, hour
ORDER BY tenant_id, team_id, hour
