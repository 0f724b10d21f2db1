-- @title Service time-of-day heatmap
-- @seed 004 Stratus contact-centre teams: Service Time of Day Heatmap (Weeks 1-4, Conversations calls or IMs)
-- @description Accepted versus lost conversations per team, local weekday and local hour, over
--   the `weeks` weeks (1 to 4; default 4; any other value is an error) before `to`: the
--   tenant-local window [to - 7 * weeks days, to). kind 'calls' (the default) counts calls
--   rows with team_id not NULL, conference_id NULL, direction 'inbound', placed by
--   local_time(invite_time, tenants.time_zone): accepted = disposition 'answered', lost =
--   disposition 'lost_to_queue', 'no_answer' or 'busy' (as in the lost_calls report); inbound
--   calls that failed or were rejected count in neither. kind 'ims' counts messages rows
--   (IM sessions) with team_id not NULL and direction 'inbound', placed by
--   local_time(start_time, tenants.time_zone): accepted = outcome 'accepted', lost = outcome
--   'lost'. kind is case-insensitive; any other value is an error. Cells come from the local
--   time, so a daylight-saving change moves them (09:00 local stays hour 9). Columns:
--   tenant_id; team_id; team_name (teams.name); weekday (bigint, ISO day of the local date:
--   1 = Monday ... 7 = Sunday); hour (bigint, local hour 0 to 23); accepted (bigint); lost
--   (bigint); total (bigint, accepted + lost); lost_pct (double, 100 * lost / total, rounded to
--   2 decimals; NULL when total is 0). Every team of the teams table that passes the tenant
--   and team filters gets all 168 cells (7 weekdays x 24 hours), empty cells included as 0;
--   rows whose team_id is not in teams are not counted. Rows are ordered by tenant_id,
--   team_id, weekday, hour.
--   v2 gives the same rows as v1, faster: whole tenant-local hours of the window come from
--   the hourly rollups (team_calls_hourly, ims_hourly; docs/storage.md), only the part-hours
--   at its edges (when `to` is not on the hour) from the raw tables.
-- @param to | timestamp | date_trunc('day', now()) + INTERVAL '1 day' | End of the window (tenant-local time, exclusive).
-- @param tenant | text | NULL | Only these tenants (comma-separated ids); NULL for all.
-- @param team | text | NULL | Only these teams (comma-separated team ids); NULL for all teams.
-- @param weeks | int | 4 | How many weeks before `to` the window covers: 1, 2, 3 or 4.
-- @param kind | text | 'calls' | 'calls' or 'ims' (instant-messaging sessions).
WITH tm AS (
    SELECT tenant_id, team_id, name
    FROM teams
    WHERE ($tenant IS NULL OR array_has(string_to_array($tenant, ','), tenant_id))
      AND ($team IS NULL OR array_has(string_to_array($team, ','), team_id))
), ev AS (
    SELECT h.tenant_id, h.team_id, h.local_hour AS local_t,
           h.accepted_calls AS accepted, h.lost_calls AS lost
    FROM team_calls_hourly h
    WHERE NOT (lower(trim(coalesce($kind, 'calls'))) = 'ims') AND CAST(CASE WHEN lower(trim(coalesce($kind, 'calls'))) IN ('calls', 'ims')
               THEN '1' ELSE 'time_of_day_heatmap: kind must be calls or ims' END AS BIGINT) = 1
      AND h.local_hour >= (date_trunc('hour', (CAST($to AS TIMESTAMP) - CAST(concat(CAST(7 * CAST(CASE WHEN coalesce($weeks, 4) BETWEEN 1 AND 4
                                   THEN CAST(coalesce($weeks, 4) AS VARCHAR)
                                   ELSE 'time_of_day_heatmap: weeks must be 1, 2, 3 or 4' END
                              AS BIGINT) AS VARCHAR), ' days') AS INTERVAL)) - INTERVAL '1 microsecond') + INTERVAL '1 hour')
      AND h.local_hour < date_trunc('hour', CAST($to AS TIMESTAMP))
      AND h.event_date >= CAST((CAST($to AS TIMESTAMP) - CAST(concat(CAST(7 * CAST(CASE WHEN coalesce($weeks, 4) BETWEEN 1 AND 4
                                   THEN CAST(coalesce($weeks, 4) AS VARCHAR)
                                   ELSE 'time_of_day_heatmap: weeks must be 1, 2, 3 or 4' END
                              AS BIGINT) AS VARCHAR), ' days') AS INTERVAL)) - INTERVAL '1 day' AS DATE)
      AND h.event_date <= CAST(CAST($to AS TIMESTAMP) + INTERVAL '1 day' AS DATE)
      AND ($tenant IS NULL OR array_has(string_to_array($tenant, ','), h.tenant_id))
      AND ($team IS NULL OR array_has(string_to_array($team, ','), h.team_id))
    UNION ALL
    SELECT i.tenant_id, i.team_id, i.local_hour,
           CASE WHEN i.outcome = 'accepted' THEN i.sessions ELSE 0 END,
           CASE WHEN i.outcome <> 'accepted' THEN i.sessions ELSE 0 END
    FROM ims_hourly i
    WHERE lower(trim(coalesce($kind, 'calls'))) = 'ims' AND CAST(CASE WHEN lower(trim(coalesce($kind, 'calls'))) IN ('calls', 'ims')
               THEN '1' ELSE 'time_of_day_heatmap: kind must be calls or ims' END AS BIGINT) = 1
      AND i.local_hour >= (date_trunc('hour', (CAST($to AS TIMESTAMP) - CAST(concat(CAST(7 * CAST(CASE WHEN coalesce($weeks, 4) BETWEEN 1 AND 4
                                   THEN CAST(coalesce($weeks, 4) AS VARCHAR)
                                   ELSE 'time_of_day_heatmap: weeks must be 1, 2, 3 or 4' END
                              AS BIGINT) AS VARCHAR), ' days') AS INTERVAL)) - INTERVAL '1 microsecond') + INTERVAL '1 hour')
      AND i.local_hour < date_trunc('hour', CAST($to AS TIMESTAMP))
      AND i.event_date >= CAST((CAST($to AS TIMESTAMP) - CAST(concat(CAST(7 * CAST(CASE WHEN coalesce($weeks, 4) BETWEEN 1 AND 4
                                   THEN CAST(coalesce($weeks, 4) AS VARCHAR)
                                   ELSE 'time_of_day_heatmap: weeks must be 1, 2, 3 or 4' END
                              AS BIGINT) AS VARCHAR), ' days') AS INTERVAL)) - INTERVAL '1 day' AS DATE)
      AND i.event_date <= CAST(CAST($to AS TIMESTAMP) + INTERVAL '1 day' AS DATE)
      AND ($tenant IS NULL OR array_has(string_to_array($tenant, ','), i.tenant_id))
      AND ($team IS NULL OR array_has(string_to_array($team, ','), i.team_id))
      AND i.team_id IS NOT NULL AND i.direction = 'inbound'
    UNION ALL
    SELECT c.tenant_id, c.team_id, local_time(c.invite_time, t.time_zone),
           CASE WHEN c.disposition = 'answered' THEN 1 ELSE 0 END,
           CASE WHEN c.disposition <> 'answered' THEN 1 ELSE 0 END
    FROM calls c JOIN tenants t ON t.tenant_id = c.tenant_id
    WHERE NOT (lower(trim(coalesce($kind, 'calls'))) = 'ims') AND CAST(CASE WHEN lower(trim(coalesce($kind, 'calls'))) IN ('calls', 'ims')
               THEN '1' ELSE 'time_of_day_heatmap: kind must be calls or ims' END AS BIGINT) = 1 AND date_trunc('hour', CAST($to AS TIMESTAMP)) < CAST($to AS TIMESTAMP)
      AND c.invite_time >= (CAST($to AS TIMESTAMP) - CAST(concat(CAST(7 * CAST(CASE WHEN coalesce($weeks, 4) BETWEEN 1 AND 4
                                   THEN CAST(coalesce($weeks, 4) AS VARCHAR)
                                   ELSE 'time_of_day_heatmap: weeks must be 1, 2, 3 or 4' END
                              AS BIGINT) AS VARCHAR), ' days') AS INTERVAL)) AT TIME ZONE 'UTC' - INTERVAL '14 hours'
      AND c.invite_time < CAST($to AS TIMESTAMP) AT TIME ZONE 'UTC' + INTERVAL '14 hours'
      AND local_time(c.invite_time, t.time_zone) >= (CAST($to AS TIMESTAMP) - CAST(concat(CAST(7 * CAST(CASE WHEN coalesce($weeks, 4) BETWEEN 1 AND 4
                                   THEN CAST(coalesce($weeks, 4) AS VARCHAR)
                                   ELSE 'time_of_day_heatmap: weeks must be 1, 2, 3 or 4' END
                              AS BIGINT) AS VARCHAR), ' days') AS INTERVAL))
      AND local_time(c.invite_time, t.time_zone) < CAST($to AS TIMESTAMP)
      AND (local_time(c.invite_time, t.time_zone) < (date_trunc('hour', (CAST($to AS TIMESTAMP) - CAST(concat(CAST(7 * CAST(CASE WHEN coalesce($weeks, 4) BETWEEN 1 AND 4
                                   THEN CAST(coalesce($weeks, 4) AS VARCHAR)
                                   ELSE 'time_of_day_heatmap: weeks must be 1, 2, 3 or 4' END
                              AS BIGINT) AS VARCHAR), ' days') AS INTERVAL)) - INTERVAL '1 microsecond') + INTERVAL '1 hour')
           OR local_time(c.invite_time, t.time_zone) >= date_trunc('hour', CAST($to AS TIMESTAMP)))
      AND ($tenant IS NULL OR array_has(string_to_array($tenant, ','), c.tenant_id))
      AND ($team IS NULL OR array_has(string_to_array($team, ','), c.team_id))
      AND c.team_id IS NOT NULL
      AND c.conference_id IS NULL
      AND c.direction = 'inbound'
      AND c.disposition IN ('answered', 'lost_to_queue', 'no_answer', 'busy')
    UNION ALL
    SELECT m.tenant_id, m.team_id, local_time(m.start_time, t.time_zone),
           CASE WHEN m.outcome = 'accepted' THEN 1 ELSE 0 END,
           CASE WHEN m.outcome <> 'accepted' THEN 1 ELSE 0 END
    FROM messages m JOIN tenants t ON t.tenant_id = m.tenant_id
    WHERE lower(trim(coalesce($kind, 'calls'))) = 'ims' AND CAST(CASE WHEN lower(trim(coalesce($kind, 'calls'))) IN ('calls', 'ims')
               THEN '1' ELSE 'time_of_day_heatmap: kind must be calls or ims' END AS BIGINT) = 1 AND date_trunc('hour', CAST($to AS TIMESTAMP)) < CAST($to AS TIMESTAMP)
      AND m.start_time >= (CAST($to AS TIMESTAMP) - CAST(concat(CAST(7 * CAST(CASE WHEN coalesce($weeks, 4) BETWEEN 1 AND 4
                                   THEN CAST(coalesce($weeks, 4) AS VARCHAR)
                                   ELSE 'time_of_day_heatmap: weeks must be 1, 2, 3 or 4' END
                              AS BIGINT) AS VARCHAR), ' days') AS INTERVAL)) AT TIME ZONE 'UTC' - INTERVAL '14 hours'
      AND m.start_time < CAST($to AS TIMESTAMP) AT TIME ZONE 'UTC' + INTERVAL '14 hours'
      AND local_time(m.start_time, t.time_zone) >= (CAST($to AS TIMESTAMP) - CAST(concat(CAST(7 * CAST(CASE WHEN coalesce($weeks, 4) BETWEEN 1 AND 4
                                   THEN CAST(coalesce($weeks, 4) AS VARCHAR)
                                   ELSE 'time_of_day_heatmap: weeks must be 1, 2, 3 or 4' END
                              AS BIGINT) AS VARCHAR), ' days') AS INTERVAL))
      AND local_time(m.start_time, t.time_zone) < CAST($to AS TIMESTAMP)
      AND (local_time(m.start_time, t.time_zone) < (date_trunc('hour', (CAST($to AS TIMESTAMP) - CAST(concat(CAST(7 * CAST(CASE WHEN coalesce($weeks, 4) BETWEEN 1 AND 4
                                   THEN CAST(coalesce($weeks, 4) AS VARCHAR)
                                   ELSE 'time_of_day_heatmap: weeks must be 1, 2, 3 or 4' END
                              AS BIGINT) AS VARCHAR), ' days') AS INTERVAL)) - INTERVAL '1 microsecond') + INTERVAL '1 hour')
           OR local_time(m.start_time, t.time_zone) >= date_trunc('hour', CAST($to AS TIMESTAMP)))
      AND ($tenant IS NULL OR array_has(string_to_array($tenant, ','), m.tenant_id))
      AND ($team IS NULL OR array_has(string_to_array($team, ','), m.team_id))
      AND m.team_id IS NOT NULL
      AND m.direction = 'inbound'
), g AS (
    SELECT tenant_id, team_id,
           CAST(date_part('isodow', local_t) AS BIGINT) AS weekday,
           CAST(date_part('hour', local_t) AS BIGINT) AS hour,
           CAST(sum(accepted) AS BIGINT) AS accepted,
           CAST(sum(lost) AS BIGINT) AS lost
    FROM ev
    GROUP BY 1, 2, 3, 4
), cells AS (
    SELECT tm.tenant_id, tm.team_id, tm.name AS team_name,
           CAST(d.value AS BIGINT) AS weekday, CAST(h.value AS BIGINT) AS hour
    FROM tm CROSS JOIN generate_series(1, 7) d CROSS JOIN generate_series(0, 23) h
)
SELECT cells.tenant_id, cells.team_id, cells.team_name, cells.weekday, cells.hour,
       coalesce(g.accepted, 0) AS accepted,
       coalesce(g.lost, 0) AS lost,
       coalesce(g.accepted, 0) + coalesce(g.lost, 0) AS total,
       round(100 * CAST(coalesce(g.lost, 0) AS DOUBLE)
             / nullif(coalesce(g.accepted, 0) + coalesce(g.lost, 0), 0), 2) AS lost_pct
FROM cells
LEFT JOIN g ON g.tenant_id = cells.tenant_id AND g.team_id = cells.team_id
           AND g.weekday = cells.weekday AND g.hour = cells.hour
ORDER BY cells.tenant_id, cells.team_id, cells.weekday, cells.hour
