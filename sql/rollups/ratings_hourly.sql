-- Rollup ratings_hourly: rated calls (calls rows with a user_rating) per tenant, team, rated
-- user and tenant-local hour: how many, the sum and the lowest rating, and how many of each
-- rating 1 to 5. The rated user (user_sip) is as the user_ratings report defines it: the
-- organiser's side of a conference leg (caller_user), the callee of an inbound call, the
-- caller otherwise. One row per (event_date, tenant_id, team_id, user_sip, local_hour).
SELECT c.event_date,
       c.tenant_id,
       c.team_id,
       CASE WHEN c.conference_id IS NOT NULL THEN c.caller_user
            WHEN c.direction = 'inbound' THEN c.callee_user
            ELSE c.caller_user END AS user_sip,
       date_trunc('hour', local_time(c.invite_time, t.time_zone)) AS local_hour,
       count(*) AS rated,
       sum(CAST(c.user_rating AS BIGINT)) AS rating_sum,
       min(CAST(c.user_rating AS BIGINT)) AS lowest,
       count(*) FILTER (WHERE c.user_rating = 1) AS rating_1,
       count(*) FILTER (WHERE c.user_rating = 2) AS rating_2,
       count(*) FILTER (WHERE c.user_rating = 3) AS rating_3,
       count(*) FILTER (WHERE c.user_rating = 4) AS rating_4,
       count(*) FILTER (WHERE c.user_rating = 5) AS rating_5
FROM calls c JOIN tenants t ON t.tenant_id = c.tenant_id
WHERE c.user_rating IS NOT NULL
GROUP BY c.event_date, c.tenant_id, c.team_id,
         CASE WHEN c.conference_id IS NOT NULL THEN c.caller_user
              WHEN c.direction = 'inbound' THEN c.callee_user
              ELSE c.caller_user END,
         date_trunc('hour', local_time(c.invite_time, t.time_zone))
