-- @title Call quality per month
-- @seed 000 hosted Skype for Business portal: Call Quality Report (the monthly bar graph)
-- @description Good, marginal and poor calls per tenant and tenant-local month, graded by the
--   call quality score. Calls: calls rows whose local_time(invite_time, tenants.time_zone) is
--   in the period; the month is the first day of the local month of invite_time. A call's
--   audio streams are its streams rows (same tenant_id and call_id) with media 'audio'
--   (streams starting earlier than 14 hours before `from` or 38 hours or more after `to`,
--   both read as UTC, are not read; this only drops streams that start over a day after
--   their call's invite). Each audio stream's score is quality_score(loss_rate_avg * 100,
--   jitter_avg_ms, rtt_avg_ms, codec), or the three-argument form (the session's
--   cdrlake.quality_default_codec, G.711+PLC by default) when codec is NULL; it is NULL when
--   a metric is NULL, negative or NaN, or the codec is unknown. The call's
--   quality_score is the lowest non-NULL score of its audio streams (its worst stream); a
--   call without any scored audio stream is not counted anywhere. Its class: 'good' when
--   quality_score >= good_min, otherwise 'poor' when quality_score < poor_below, otherwise
--   'marginal'. One row per (tenant_id, month) with at least one counted call. Columns:
--   tenant_id; month (date); calls (bigint: counted calls); good_calls, marginal_calls,
--   poor_calls (bigint, they add up to calls); good_pct, marginal_pct, poor_pct (double:
--   100 * class calls / calls, rounded to 2 decimals); avg_quality_score (double: the mean of
--   the calls' quality_score, rounded to 2 decimals). Every figure is computed over the
--   month's calls inside the period (a period that cuts a month counts only its part). The
--   poor calls themselves, with the rule that fired, are report call_quality_poor_calls
--   (same parameters, same grading). Rows are ordered by tenant_id, month.
-- @param from | timestamp | date_trunc('day', now()) - INTERVAL '30 days' | Start of the period (tenant-local time, inclusive).
-- @param to | timestamp | date_trunc('day', now()) + INTERVAL '1 day' | End of the period (tenant-local time, exclusive).
-- @param tenant | text | NULL | Only these tenants (comma-separated ids); NULL for all.
-- @param good_min | float | 91 | Lowest call quality score (percent) that is good.
-- @param poor_below | float | 86 | A call quality score below this (percent) is poor; between poor_below and good_min is marginal.
WITH u AS (
    -- one row per call of the (coarse) period and one per audio stream; no join between
    -- calls and streams: grouping by call keeps the plan free of a large hash join
    SELECT c.tenant_id, c.call_id, c.invite_time, CAST(NULL AS DOUBLE) AS score, 1 AS is_call
    FROM calls c
    WHERE c.invite_time >= CAST($from AS TIMESTAMP) AT TIME ZONE 'UTC' - INTERVAL '14 hours'
      AND c.invite_time < CAST($to AS TIMESTAMP) AT TIME ZONE 'UTC' + INTERVAL '14 hours'
      AND ($tenant IS NULL OR array_has(string_to_array($tenant, ','), c.tenant_id))
    UNION ALL
    SELECT s.tenant_id, s.call_id, CAST(NULL AS TIMESTAMP) AT TIME ZONE 'UTC',
           CASE WHEN s.codec IS NULL
                THEN quality_score(s.loss_rate_avg * 100, s.jitter_avg_ms, s.rtt_avg_ms)
                ELSE quality_score(s.loss_rate_avg * 100, s.jitter_avg_ms, s.rtt_avg_ms, s.codec)
           END,
           0
    FROM streams s
    WHERE s.start_time >= CAST($from AS TIMESTAMP) AT TIME ZONE 'UTC' - INTERVAL '14 hours'
      AND s.start_time < CAST($to AS TIMESTAMP) AT TIME ZONE 'UTC' + INTERVAL '38 hours'
      AND ($tenant IS NULL OR array_has(string_to_array($tenant, ','), s.tenant_id))
      AND s.media = 'audio'
), per_call AS (
    SELECT tenant_id, call_id, max(invite_time) AS invite_time, min(score) AS score,
           max(is_call) AS has_call
    FROM u
    GROUP BY tenant_id, call_id
), q AS (
    SELECT p.tenant_id,
           CAST(date_trunc('month', local_time(p.invite_time, t.time_zone)) AS DATE) AS month,
           p.score,
           CASE WHEN p.score >= $good_min THEN 'good'
                WHEN p.score < $poor_below THEN 'poor'
                ELSE 'marginal' END AS class
    FROM per_call p JOIN tenants t ON t.tenant_id = p.tenant_id
    WHERE p.has_call = 1 AND p.score IS NOT NULL
      AND local_time(p.invite_time, t.time_zone) >= $from
      AND local_time(p.invite_time, t.time_zone) < $to
)
SELECT tenant_id, month,
       count(*) AS calls,
       count(*) FILTER (WHERE class = 'good') AS good_calls,
       count(*) FILTER (WHERE class = 'marginal') AS marginal_calls,
       count(*) FILTER (WHERE class = 'poor') AS poor_calls,
       round(100 * CAST(count(*) FILTER (WHERE class = 'good') AS DOUBLE) / nullif(count(*), 0), 2) AS good_pct,
       round(100 * CAST(count(*) FILTER (WHERE class = 'marginal') AS DOUBLE) / nullif(count(*), 0), 2) AS marginal_pct,
       round(100 * CAST(count(*) FILTER (WHERE class = 'poor') AS DOUBLE) / nullif(count(*), 0), 2) AS poor_pct,
       round(avg(score), 2) AS avg_quality_score
FROM q
GROUP BY tenant_id, month
ORDER BY tenant_id, month
