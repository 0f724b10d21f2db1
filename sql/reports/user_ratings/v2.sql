-- @title User ratings
-- @seed 000 hosted Skype for Business portal: User Ratings Report
-- @description Call ratings per rating user and tenant-local month, with the user's totals
--   over the whole period repeated on each of the user's rows. A rated call is a calls row
--   with user_rating NOT NULL (1 bad to 5 excellent) whose local_time(invite_time,
--   tenants.time_zone) is in the period. The rater is the tenant user on the call: caller_user
--   for conference legs (conference_id NOT NULL, whatever the direction), callee_user for
--   other inbound calls, caller_user for outbound and internal calls; rated calls whose rater
--   is NULL are not counted. One row per (tenant_id, rater, month) with at least one rated
--   call. Columns: tenant_id; user_sip (the rater, as written in the call); user_id and
--   display_name (from users where lower(sip_address) = lower(user_sip) in the same tenant;
--   NULL when no user matches); month (date: first day of the local month of invite_time);
--   month_rated_sessions (bigint: the user's rated calls in that month); month_avg_rating
--   (double: sum of those ratings / their count, rounded to 2 decimals);
--   tenant_month_avg_rating (double: the same over every counted rated call of the tenant in
--   that month, all raters together, rounded to 2 decimals; the organisation's monthly
--   average); and over the whole period for the user (same on all of the user's rows):
--   lowest_rating (int: the minimum rating), rated_sessions (bigint: rated calls), avg_rating
--   (double: sum of ratings / rated calls, rounded to 2 decimals), rating_1 .. rating_5
--   (bigint: rated calls with that rating; they add up to rated_sessions). Averages are
--   always sums divided by counts over the calls, never averages of monthly averages. Rows
--   are ordered by tenant_id, user_sip, month.
--   v2 gives the same rows as v1, faster: whole tenant-local hours of the period come from
--   the hourly rollup ratings_hourly (docs/storage.md), only the part-hours at the edges of
--   a period that does not start or end on the hour from the raw calls.
-- @param from | timestamp | date_trunc('day', now()) - INTERVAL '30 days' | Start of the period (tenant-local time, inclusive).
-- @param to | timestamp | date_trunc('day', now()) + INTERVAL '1 day' | End of the period (tenant-local time, exclusive).
-- @param tenant | text | NULL | Only these tenants (comma-separated ids); NULL for all.
WITH rated AS (
    SELECT h.tenant_id, h.user_sip, CAST(date_trunc('month', h.local_hour) AS DATE) AS month,
           h.rated AS n, h.rating_sum AS s, h.lowest AS lo,
           h.rating_1 AS r1, h.rating_2 AS r2, h.rating_3 AS r3, h.rating_4 AS r4, h.rating_5 AS r5
    FROM ratings_hourly h
    WHERE h.local_hour >= (date_trunc('hour', CAST($from AS TIMESTAMP) - INTERVAL '1 microsecond') + INTERVAL '1 hour')
      AND h.local_hour < date_trunc('hour', CAST($to AS TIMESTAMP))
      AND h.event_date >= CAST(CAST($from AS TIMESTAMP) - INTERVAL '1 day' AS DATE)
      AND h.event_date <= CAST(CAST($to AS TIMESTAMP) + INTERVAL '1 day' AS DATE)
      AND ($tenant IS NULL OR array_has(string_to_array($tenant, ','), h.tenant_id))
    UNION ALL
    SELECT c.tenant_id,
           CASE WHEN c.conference_id IS NOT NULL THEN c.caller_user
                WHEN c.direction = 'inbound' THEN c.callee_user
                ELSE c.caller_user END,
           CAST(date_trunc('month', local_time(c.invite_time, t.time_zone)) AS DATE),
           CAST(1 AS BIGINT), CAST(c.user_rating AS BIGINT), CAST(c.user_rating AS BIGINT),
           CASE WHEN c.user_rating = 1 THEN 1 ELSE 0 END,
           CASE WHEN c.user_rating = 2 THEN 1 ELSE 0 END,
           CASE WHEN c.user_rating = 3 THEN 1 ELSE 0 END,
           CASE WHEN c.user_rating = 4 THEN 1 ELSE 0 END,
           CASE WHEN c.user_rating = 5 THEN 1 ELSE 0 END
    FROM calls c JOIN tenants t ON t.tenant_id = c.tenant_id
    WHERE ((date_trunc('hour', CAST($from AS TIMESTAMP) - INTERVAL '1 microsecond') + INTERVAL '1 hour') > CAST($from AS TIMESTAMP) OR date_trunc('hour', CAST($to AS TIMESTAMP)) < CAST($to AS TIMESTAMP))
      AND (local_time(c.invite_time, t.time_zone) < (date_trunc('hour', CAST($from AS TIMESTAMP) - INTERVAL '1 microsecond') + INTERVAL '1 hour')
           OR local_time(c.invite_time, t.time_zone) >= date_trunc('hour', CAST($to AS TIMESTAMP)))
      AND c.invite_time >= CAST($from AS TIMESTAMP) AT TIME ZONE 'UTC' - INTERVAL '14 hours'
      AND c.invite_time < CAST($to AS TIMESTAMP) AT TIME ZONE 'UTC' + INTERVAL '14 hours'
      AND local_time(c.invite_time, t.time_zone) >= $from
      AND local_time(c.invite_time, t.time_zone) < $to
      AND ($tenant IS NULL OR array_has(string_to_array($tenant, ','), c.tenant_id))
      AND c.user_rating IS NOT NULL
), m AS (
    SELECT tenant_id, user_sip, month,
           CAST(sum(n) AS BIGINT) AS n, CAST(sum(s) AS BIGINT) AS s, min(lo) AS lo,
           CAST(sum(r1) AS BIGINT) AS r1, CAST(sum(r2) AS BIGINT) AS r2, CAST(sum(r3) AS BIGINT) AS r3,
           CAST(sum(r4) AS BIGINT) AS r4, CAST(sum(r5) AS BIGINT) AS r5
    FROM rated
    WHERE user_sip IS NOT NULL
    GROUP BY tenant_id, user_sip, month
)
SELECT m.tenant_id, m.user_sip, u.user_id, u.display_name, m.month,
       m.n AS month_rated_sessions,
       round(CAST(m.s AS DOUBLE) / m.n, 2) AS month_avg_rating,
       round(CAST(sum(m.s) OVER (PARTITION BY m.tenant_id, m.month) AS DOUBLE)
             / sum(m.n) OVER (PARTITION BY m.tenant_id, m.month), 2) AS tenant_month_avg_rating,
       CAST(min(m.lo) OVER (PARTITION BY m.tenant_id, m.user_sip) AS INT) AS lowest_rating,
       sum(m.n) OVER (PARTITION BY m.tenant_id, m.user_sip) AS rated_sessions,
       round(CAST(sum(m.s) OVER (PARTITION BY m.tenant_id, m.user_sip) AS DOUBLE)
             / sum(m.n) OVER (PARTITION BY m.tenant_id, m.user_sip), 2) AS avg_rating,
       sum(m.r1) OVER (PARTITION BY m.tenant_id, m.user_sip) AS rating_1,
       sum(m.r2) OVER (PARTITION BY m.tenant_id, m.user_sip) AS rating_2,
       sum(m.r3) OVER (PARTITION BY m.tenant_id, m.user_sip) AS rating_3,
       sum(m.r4) OVER (PARTITION BY m.tenant_id, m.user_sip) AS rating_4,
       sum(m.r5) OVER (PARTITION BY m.tenant_id, m.user_sip) AS rating_5
FROM m
LEFT JOIN users u ON u.tenant_id = m.tenant_id AND lower(u.sip_address) = lower(m.user_sip)
ORDER BY m.tenant_id, m.user_sip, m.month
