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
--   v2 returns the same rows as v1: it grades each call from its streams' scores alone and
--   reads the other columns of the worst stream and of the call for the poor calls only.
-- @param from | timestamp | date_trunc('day', now()) - INTERVAL '30 days' | Start of the period (tenant-local time, inclusive).
-- @param to | timestamp | date_trunc('day', now()) + INTERVAL '1 day' | End of the period (tenant-local time, exclusive).
-- @param tenant | text | NULL | Only these tenants (comma-separated ids); NULL for all.
-- @param good_min | float | 91 | Lowest call quality score (percent) that is good.
-- @param poor_below | float | 86 | A call quality score below this (percent) is poor; between poor_below and good_min is marginal.
WITH sc AS (
    -- every audio stream of the (coarse) period: its score and whether a CQD rule fires
    SELECT s.tenant_id, s.call_id,
           CASE WHEN s.codec IS NULL
                THEN quality_score(s.loss_rate_avg * 100, s.jitter_avg_ms, s.rtt_avg_ms)
                ELSE quality_score(s.loss_rate_avg * 100, s.jitter_avg_ms, s.rtt_avg_ms, s.codec)
           END AS score,
           poor_reason('audio', s.degradation_avg, s.rtt_avg_ms, s.loss_rate_avg,
                       s.jitter_avg_ms, s.concealed_ratio, NULL, NULL, NULL, NULL, NULL, NULL) IS NOT NULL AS poor
    FROM streams s
    WHERE s.start_time >= CAST($from AS TIMESTAMP) AT TIME ZONE 'UTC' - INTERVAL '14 hours'
      AND s.start_time < CAST($to AS TIMESTAMP) AT TIME ZONE 'UTC' + INTERVAL '38 hours'
      AND ($tenant IS NULL OR array_has(string_to_array($tenant, ','), s.tenant_id))
      AND s.media = 'audio'
), graded AS (
    -- the calls graded poor, by their worst scored stream
    SELECT tenant_id, call_id,
           count(score) AS audio_streams,
           count(*) FILTER (WHERE poor) AS poor_streams,
           min(score) AS score
    FROM sc
    GROUP BY tenant_id, call_id
    HAVING min(score) IS NOT NULL AND NOT (min(score) >= $good_min) AND min(score) < $poor_below
), worst AS (
    -- the streams of those calls that have the call's lowest score (the scores are computed
    -- again, identically, for the few streams of poor calls only); ties: the lowest stream_id
    SELECT g.tenant_id, g.call_id, g.audio_streams, g.poor_streams, g.score,
           s.stream_id, s.direction AS stream_direction, s.codec, s.loss_rate_avg,
           s.loss_rate_max, s.jitter_avg_ms, s.jitter_max_ms, s.rtt_avg_ms, s.rtt_max_ms,
           s.concealed_ratio, s.degradation_avg, s.mos_avg, s.mos_min,
           arrow_cast(poor_reason('audio', s.degradation_avg, s.rtt_avg_ms, s.loss_rate_avg,
                       s.jitter_avg_ms, s.concealed_ratio, NULL, NULL, NULL, NULL, NULL, NULL), 'Utf8') AS poor_reason,
           min(s.stream_id) OVER (PARTITION BY g.tenant_id, g.call_id) AS n
    FROM graded g
    JOIN streams s ON s.tenant_id = g.tenant_id AND s.call_id = g.call_id
    WHERE s.start_time >= CAST($from AS TIMESTAMP) AT TIME ZONE 'UTC' - INTERVAL '14 hours'
      AND s.start_time < CAST($to AS TIMESTAMP) AT TIME ZONE 'UTC' + INTERVAL '38 hours'
      AND ($tenant IS NULL OR array_has(string_to_array($tenant, ','), s.tenant_id))
      AND s.media = 'audio'
      AND CASE WHEN s.codec IS NULL
                THEN quality_score(s.loss_rate_avg * 100, s.jitter_avg_ms, s.rtt_avg_ms)
                ELSE quality_score(s.loss_rate_avg * 100, s.jitter_avg_ms, s.rtt_avg_ms, s.codec)
           END = g.score
), p AS (
    SELECT c.tenant_id, c.call_id, c.invite_time, c.direction, c.media,
           c.caller_user, c.caller_number, c.callee_user, c.callee_number, c.billable_s,
           c.connectivity, c.transport,
           w.score, w.audio_streams, w.poor_streams, w.stream_id, w.stream_direction, w.codec,
           w.loss_rate_avg, w.loss_rate_max, w.jitter_avg_ms, w.jitter_max_ms, w.rtt_avg_ms,
           w.rtt_max_ms, w.concealed_ratio, w.degradation_avg, w.mos_avg, w.mos_min,
           w.poor_reason
    FROM worst w
    JOIN calls c ON c.tenant_id = w.tenant_id AND c.call_id = w.call_id
    WHERE w.n = w.stream_id
      AND c.invite_time >= CAST($from AS TIMESTAMP) AT TIME ZONE 'UTC' - INTERVAL '14 hours'
      AND c.invite_time < CAST($to AS TIMESTAMP) AT TIME ZONE 'UTC' + INTERVAL '14 hours'
      AND ($tenant IS NULL OR array_has(string_to_array($tenant, ','), c.tenant_id))
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
FROM p JOIN tenants t ON t.tenant_id = p.tenant_id
WHERE local_time(p.invite_time, t.time_zone) >= $from
  AND local_time(p.invite_time, t.time_zone) < $to
ORDER BY p.tenant_id, p.invite_time, p.call_id
