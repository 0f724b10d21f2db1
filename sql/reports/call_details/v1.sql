-- @title Call details
-- @seed 000 hosted Skype for Business portal: Call Details report (Call Details, Call Overview, per-stream quality)
-- @description One call (calls.call_id = call_id) with its media streams: one row per row of
--   `streams` with the same tenant_id and call_id, ordered by stream_id; a call without
--   streams gives one row whose stream columns are NULL; an unknown call_id, or call_id
--   NULL (the default), gives no rows. No period: the call is found wherever it is. Times
--   are tenant-local wall-clock timestamps (local_time(utc, tenants.time_zone)). Every
--   double below is rounded to 2 decimals. Call columns, repeated on each row: tenant_id;
--   call_id; invite_time and end_time (timestamp, local); duration_s (integer: seconds from
--   invite to end, the call's Length); billable_s (integer: seconds connected); call_direction
--   (inbound, outbound, internal); call_media (the call's media); disposition; end_reason;
--   caller_user, caller_number, callee_user, callee_number (text, as in calls);
--   is_pstn (boolean); platform; user_agent; device_vendor and device_model (text:
--   device_vendor(user_agent), device_model(user_agent)); protocol (text: signalling
--   protocol, SIP or H323); transport (text: UDP, TCP or TLS, what the portal calls
--   Protocol); connectivity (text: DIRECT or RELAY); call_quality_score (double: the lowest
--   quality_score among the call's audio streams, NULL when it has none with a score);
--   lowest_stream_class (text: 'poor' when any of the call's streams has stream_class
--   'poor', else 'good' when any is 'good', else 'unclassified'; NULL when the call has no
--   streams). Stream columns: stream_id (integer); media and direction (text: the stream's
--   media and in/out); codec; stream_start (timestamp, local: start_time); stream_duration_s
--   (integer); packets_sent, packets_received, packets_lost (integer, as recorded);
--   loss_avg_pct and loss_max_pct (double: 100 * loss_rate_avg and 100 * loss_rate_max,
--   percent); jitter_avg_ms, jitter_max_ms, rtt_avg_ms, rtt_max_ms (double, ms: jitter and
--   round trip average and maximum); mos_avg and mos_min (double: the network MOS average
--   and minimum the endpoint reported); degradation_avg (double); quality_score (double, 0
--   to 100: quality_score(100 * loss_rate_avg, jitter_avg_ms, rtt_avg_ms, codec) for audio
--   streams, NULL for other media and when the codec is NULL or unknown); quality_class
--   (text: quality_class of the unrounded quality_score, good >= 91, marginal >= 86, else
--   poor; NULL when quality_score is NULL); stream_class (text: good, poor or unclassified by the Call
--   Quality Dashboard rules, stream_class(media, degradation_avg, rtt_avg_ms, loss_rate_avg,
--   jitter_avg_ms, concealed_ratio, frame_loss_pct, frame_rate_avg, post_fec_loss_rate,
--   spoiled_tile_pct, app_latency_ms, relative_one_way_delay_ms)); poor_reason (text: the
--   rule that made the stream poor, poor_reason(...) with the same arguments; NULL unless
--   poor); lost_per_minute (list of integers: packets lost in each started minute of the
--   stream, as recorded, for the per-minute packet-loss chart). NULL measurements stay NULL.
-- @param call_id | text | NULL | The call to show (calls.call_id); NULL shows nothing.
-- @param tenant | text | NULL | Only these tenants (comma-separated ids); NULL for all.
WITH c AS (
    SELECT c.*, t.time_zone
    FROM calls c JOIN tenants t ON t.tenant_id = c.tenant_id
    WHERE c.call_id = $call_id
      AND ($tenant IS NULL OR array_has(string_to_array($tenant, ','), c.tenant_id))
),
s AS (
    SELECT s.*,
           CASE WHEN s.media = 'audio'
                THEN quality_score(100 * s.loss_rate_avg, s.jitter_avg_ms, s.rtt_avg_ms, s.codec)
           END AS score,
           stream_class(s.media, s.degradation_avg, s.rtt_avg_ms, s.loss_rate_avg, s.jitter_avg_ms,
                        s.concealed_ratio, s.frame_loss_pct, s.frame_rate_avg, s.post_fec_loss_rate,
                        s.spoiled_tile_pct, s.app_latency_ms, s.relative_one_way_delay_ms) AS class,
           poor_reason(s.media, s.degradation_avg, s.rtt_avg_ms, s.loss_rate_avg, s.jitter_avg_ms,
                       s.concealed_ratio, s.frame_loss_pct, s.frame_rate_avg, s.post_fec_loss_rate,
                       s.spoiled_tile_pct, s.app_latency_ms, s.relative_one_way_delay_ms) AS reason
    FROM streams s
    WHERE s.call_id = $call_id
      AND ($tenant IS NULL OR array_has(string_to_array($tenant, ','), s.tenant_id))
),
j AS (
    SELECT c.tenant_id, c.call_id,
           local_time(c.invite_time, c.time_zone) AS invite_time,
           local_time(c.end_time, c.time_zone) AS end_time,
           c.duration_s, c.billable_s,
           c.direction AS call_direction, c.media AS call_media,
           c.disposition, c.end_reason,
           c.caller_user, c.caller_number, c.callee_user, c.callee_number, c.is_pstn,
           c.platform, c.user_agent,
           device_vendor(c.user_agent) AS device_vendor,
           device_model(c.user_agent) AS device_model,
           c.protocol, c.transport, c.connectivity,
           s.stream_id, s.media, s.direction, s.codec,
           local_time(s.start_time, c.time_zone) AS stream_start,
           s.duration_s AS stream_duration_s,
           s.packets_sent, s.packets_received, s.packets_lost,
           s.loss_rate_avg, s.loss_rate_max, s.jitter_avg_ms, s.jitter_max_ms,
           s.rtt_avg_ms, s.rtt_max_ms, s.mos_avg, s.mos_min, s.degradation_avg,
           s.score, s.class, s.reason, s.lost_per_minute
    FROM c
    LEFT JOIN s ON s.tenant_id = c.tenant_id AND s.call_id = c.call_id
)
SELECT tenant_id, call_id, invite_time, end_time, duration_s, billable_s,
       call_direction, call_media, disposition, end_reason,
       caller_user, caller_number, callee_user, callee_number, is_pstn,
       platform, user_agent, device_vendor, device_model,
       protocol, transport, connectivity,
       round(min(score) OVER (PARTITION BY tenant_id, call_id), 2) AS call_quality_score,
       CASE
           WHEN bool_or(class = 'poor') OVER (PARTITION BY tenant_id, call_id) THEN 'poor'
           WHEN bool_or(class = 'good') OVER (PARTITION BY tenant_id, call_id) THEN 'good'
           WHEN count(stream_id) OVER (PARTITION BY tenant_id, call_id) > 0 THEN 'unclassified'
       END AS lowest_stream_class,
       stream_id, media, direction, codec, stream_start, stream_duration_s,
       packets_sent, packets_received, packets_lost,
       round(100 * loss_rate_avg, 2) AS loss_avg_pct,
       round(100 * loss_rate_max, 2) AS loss_max_pct,
       round(jitter_avg_ms, 2) AS jitter_avg_ms,
       round(jitter_max_ms, 2) AS jitter_max_ms,
       round(rtt_avg_ms, 2) AS rtt_avg_ms,
       round(rtt_max_ms, 2) AS rtt_max_ms,
       round(mos_avg, 2) AS mos_avg,
       round(mos_min, 2) AS mos_min,
       round(degradation_avg, 2) AS degradation_avg,
       round(score, 2) AS quality_score,
       quality_class(score) AS quality_class,
       class AS stream_class,
       reason AS poor_reason,
       lost_per_minute
FROM j
ORDER BY tenant_id, call_id, stream_id
