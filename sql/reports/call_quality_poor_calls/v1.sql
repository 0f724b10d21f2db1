-- @title Poor-quality calls
-- @seed 000 hosted Skype for Business portal: Call Quality Report (the breakdown of poor calls)
-- @description Every call graded poor by call_quality_monthly (same parameters, same rule),
--   with the metrics of its worst audio stream and the Call Quality Dashboard rule that
--   fired on it. Calls: calls rows whose local_time(invite_time, tenants.time_zone) is in the
--   period. A call's audio streams are its streams rows (same tenant_id and call_id) with
--   media 'audio' (streams starting earlier than 14 hours before `from` or 38 hours or more
--   after `to`, both read as UTC, are not read). Each audio stream's score is
--   quality_score(loss_rate_avg * 100, jitter_avg_ms, rtt_avg_ms, codec), or the
--   three-argument form (the session's cdrlake.quality_default_codec, G.711+PLC by default)
--   when codec is NULL; NULL when a metric is NULL, negative or NaN, or the codec is unknown. The worst stream is the audio stream with the lowest non-NULL
--   score (ties: lowest stream_id); the call's quality_score is its score. A call is listed
--   when quality_score < poor_below and not quality_score >= good_min. One row per listed
--   call. Columns: tenant_id; call_id; invite_time (UTC timestamp); invite_time_local
--   (tenant-local wall-clock timestamp); direction; media (of the call); caller_user;
--   caller_number; callee_user; callee_number; billable_s; connectivity; transport; quality_score
--   (double, rounded to 2 decimals); audio_streams (bigint: the call's audio streams with a
--   non-NULL score); then the worst stream's stream_id, stream_direction (its direction),
--   codec, loss_pct (loss_rate_avg * 100, rounded to 2 decimals), loss_max_pct (loss_rate_max
--   * 100, rounded to 2 decimals), jitter_avg_ms, jitter_max_ms, rtt_avg_ms, rtt_max_ms,
--   concealed_ratio, degradation_avg, mos_avg, mos_min (as stored, NULL when not recorded);
--   poor_reason (the first CQD rule that fired on the worst stream, poor_reason('audio',
--   degradation_avg, rtt_avg_ms, loss_rate_avg, jitter_avg_ms, concealed_ratio, ...) with
--   the session's CQD thresholds: 'degradation' (degradation_avg > 1.0), 'round_trip'
--   (rtt_avg_ms > 500), 'packet_loss' (loss_rate_avg > 0.1), 'jitter' (jitter_avg_ms > 30),
--   'concealed_ratio' (concealed_ratio > 0.07), checked in that order; NULL when no CQD rule
--   fires and the score alone made the call poor); poor_streams (bigint: the call's audio
--   streams, scored or not, that the CQD rules class poor). Rows are ordered by tenant_id,
--   invite_time, call_id.
-- @param from | timestamp | date_trunc('day', now()) - INTERVAL '30 days' | Start of the period (tenant-local time, inclusive).
-- @param to | timestamp | date_trunc('day', now()) + INTERVAL '1 day' | End of the period (tenant-local time, exclusive).
-- @param tenant | text | NULL | Only these tenants (comma-separated ids); NULL for all.
-- @param good_min | float | 91 | Lowest call quality score (percent) that is good.
-- @param poor_below | float | 86 | A call quality score below this (percent) is poor; between poor_below and good_min is marginal.
WITH sc AS (
    SELECT s.tenant_id, s.call_id, s.stream_id, s.direction, s.codec, s.loss_rate_avg,
           s.loss_rate_max, s.jitter_avg_ms, s.jitter_max_ms, s.rtt_avg_ms, s.rtt_max_ms,
           s.concealed_ratio, s.degradation_avg, s.mos_avg, s.mos_min,
           CASE WHEN s.codec IS NULL
                THEN quality_score(s.loss_rate_avg * 100, s.jitter_avg_ms, s.rtt_avg_ms)
                ELSE quality_score(s.loss_rate_avg * 100, s.jitter_avg_ms, s.rtt_avg_ms, s.codec)
           END AS score,
           arrow_cast(poor_reason('audio', s.degradation_avg, s.rtt_avg_ms, s.loss_rate_avg,
                                  s.jitter_avg_ms, s.concealed_ratio, NULL, NULL, NULL, NULL,
                                  NULL, NULL), 'Utf8') AS reason
    FROM streams s
    WHERE s.start_time >= CAST($from AS TIMESTAMP) AT TIME ZONE 'UTC' - INTERVAL '14 hours'
      AND s.start_time < CAST($to AS TIMESTAMP) AT TIME ZONE 'UTC' + INTERVAL '38 hours'
      AND ($tenant IS NULL OR array_has(string_to_array($tenant, ','), s.tenant_id))
      AND s.media = 'audio'
), sr AS (
    SELECT sc.*,
           row_number() OVER (PARTITION BY tenant_id, call_id
                              ORDER BY score ASC NULLS LAST, stream_id ASC) = 1
               AND score IS NOT NULL AS worst
    FROM sc
), u AS (
    -- one row per call of the (coarse) period and one per audio stream; no join between
    -- calls and streams: grouping by call keeps the plan free of a large hash join
    SELECT c.tenant_id, c.call_id, 1 AS is_call, c.invite_time, c.direction, c.media,
           c.caller_user, c.caller_number, c.callee_user, c.callee_number, c.billable_s,
           c.connectivity, c.transport,
           CAST(NULL AS DOUBLE) AS score, CAST(NULL AS VARCHAR) AS reason, false AS worst,
           CAST(NULL AS INT) AS stream_id, CAST(NULL AS VARCHAR) AS stream_direction,
           CAST(NULL AS VARCHAR) AS codec, CAST(NULL AS DOUBLE) AS loss_rate_avg,
           CAST(NULL AS DOUBLE) AS loss_rate_max, CAST(NULL AS DOUBLE) AS jitter_avg_ms,
           CAST(NULL AS DOUBLE) AS jitter_max_ms, CAST(NULL AS DOUBLE) AS rtt_avg_ms,
           CAST(NULL AS DOUBLE) AS rtt_max_ms, CAST(NULL AS DOUBLE) AS concealed_ratio,
           CAST(NULL AS DOUBLE) AS degradation_avg, CAST(NULL AS DOUBLE) AS mos_avg,
           CAST(NULL AS DOUBLE) AS mos_min
    FROM calls c
    WHERE c.invite_time >= CAST($from AS TIMESTAMP) AT TIME ZONE 'UTC' - INTERVAL '14 hours'
      AND c.invite_time < CAST($to AS TIMESTAMP) AT TIME ZONE 'UTC' + INTERVAL '14 hours'
      AND ($tenant IS NULL OR array_has(string_to_array($tenant, ','), c.tenant_id))
    UNION ALL
    SELECT sr.tenant_id, sr.call_id, 0 AS is_call,
           CAST(NULL AS TIMESTAMP) AT TIME ZONE 'UTC' AS invite_time,
           CAST(NULL AS VARCHAR) AS direction, CAST(NULL AS VARCHAR) AS media,
           CAST(NULL AS VARCHAR) AS caller_user, CAST(NULL AS VARCHAR) AS caller_number,
           CAST(NULL AS VARCHAR) AS callee_user, CAST(NULL AS VARCHAR) AS callee_number,
           CAST(NULL AS BIGINT) AS billable_s, CAST(NULL AS VARCHAR) AS connectivity,
           CAST(NULL AS VARCHAR) AS transport,
           sr.score, sr.reason, sr.worst,
           sr.stream_id, sr.direction AS stream_direction, sr.codec, sr.loss_rate_avg,
           sr.loss_rate_max, sr.jitter_avg_ms, sr.jitter_max_ms, sr.rtt_avg_ms, sr.rtt_max_ms,
           sr.concealed_ratio, sr.degradation_avg, sr.mos_avg, sr.mos_min
    FROM sr
), per_call AS (
    SELECT tenant_id, call_id,
           max(invite_time) AS invite_time, max(direction) AS direction, max(media) AS media,
           max(caller_user) AS caller_user, max(caller_number) AS caller_number,
           max(callee_user) AS callee_user, max(callee_number) AS callee_number,
           max(billable_s) AS billable_s, max(connectivity) AS connectivity,
           max(transport) AS transport,
           count(score) AS audio_streams,
           count(reason) AS poor_streams,
           max(score) FILTER (WHERE worst) AS score,
           max(reason) FILTER (WHERE worst) AS poor_reason,
           max(stream_id) FILTER (WHERE worst) AS stream_id,
           max(stream_direction) FILTER (WHERE worst) AS stream_direction,
           max(codec) FILTER (WHERE worst) AS codec,
           max(loss_rate_avg) FILTER (WHERE worst) AS loss_rate_avg,
           max(loss_rate_max) FILTER (WHERE worst) AS loss_rate_max,
           max(jitter_avg_ms) FILTER (WHERE worst) AS jitter_avg_ms,
           max(jitter_max_ms) FILTER (WHERE worst) AS jitter_max_ms,
           max(rtt_avg_ms) FILTER (WHERE worst) AS rtt_avg_ms,
           max(rtt_max_ms) FILTER (WHERE worst) AS rtt_max_ms,
           max(concealed_ratio) FILTER (WHERE worst) AS concealed_ratio,
           max(degradation_avg) FILTER (WHERE worst) AS degradation_avg,
           max(mos_avg) FILTER (WHERE worst) AS mos_avg,
           max(mos_min) FILTER (WHERE worst) AS mos_min
    FROM u
    GROUP BY tenant_id, call_id
    HAVING max(is_call) = 1
)
SELECT p.tenant_id, p.call_id, p.invite_time,
       local_time(p.invite_time, t.time_zone) AS invite_time_local,
       p.direction, p.media, p.caller_user, p.caller_number, p.callee_user,
       p.callee_number, p.billable_s, p.connectivity, p.transport,
       round(p.score, 2) AS quality_score,
       p.audio_streams,
       p.stream_id, p.stream_direction, p.codec,
       round(p.loss_rate_avg * 100, 2) AS loss_pct,
       round(p.loss_rate_max * 100, 2) AS loss_max_pct,
       p.jitter_avg_ms, p.jitter_max_ms, p.rtt_avg_ms, p.rtt_max_ms,
       p.concealed_ratio, p.degradation_avg, p.mos_avg, p.mos_min,
       p.poor_reason, p.poor_streams
FROM per_call p JOIN tenants t ON t.tenant_id = p.tenant_id
WHERE p.score IS NOT NULL
  AND NOT (p.score >= $good_min) AND p.score < $poor_below
  AND local_time(p.invite_time, t.time_zone) >= $from
  AND local_time(p.invite_time, t.time_zone) < $to
ORDER BY p.tenant_id, p.invite_time, p.call_id
