-- @title Call list
-- @seed 002 RealConnect: Calls > List (filters such as License Use: All Overages; CSV/JSON export)
-- @description One row per call attempt (calls row) whose local invite_time
--   (local_time(invite_time, tenants.time_zone)) lies in the period, with its main columns,
--   device, licence decision and the quality of its worst media stream. Filters (each NULL =
--   no filter; list values are comma-separated, matched without regard to case or spaces):
--   disposition (calls.disposition in the list), license_decision (the effective decision
--   below in the list; 'surged,rejected' lists all licence overages; calls whose decision is
--   NULL never match a list), direction (calls.direction in the list), min_duration_s
--   (calls.duration_s >= the value). Columns: tenant_id; call_id; invite_local, answer_local,
--   end_local (timestamp, local wall-clock times of invite_time, answer_time, end_time;
--   answer_local NULL when never answered); direction; media; caller_number; caller_user;
--   callee_number; callee_user; dialled; team_id; conference_id; disposition; end_reason;
--   sip_code; q850_cause; duration_s; billable_s; pdd_ms (all as stored in calls);
--   license_decision (the recorded calls.license_decision, or, when that is NULL, the
--   decision simulated exactly as in the license_overage report: license_use(invite_time,
--   end_time, licenses, soft_ceiling) OVER (PARTITION BY tenant_id ORDER BY invite_time,
--   call_id) over the tenant's calls with local invite_time in [from - 1 day, to), where
--   soft_ceiling = licenses + floor(licenses / 2) when licenses >= 6, else licenses);
--   license_decision_source ('recorded' or 'simulated'); is_pstn; protocol; transport;
--   connectivity; user_agent; vendor (device_vendor(user_agent)); model
--   (device_model(user_agent)); platform; source_ip; country; region; city; streams (bigint,
--   number of streams rows of the call: same tenant_id and call_id, with a start_time
--   from 14 hours before from to 38 hours after to, both read as UTC; 0 when none);
--   poor_streams (bigint, streams whose stream_class(...) is 'poor'); worst_stream_class (the
--   call's worst stream by the Call Quality Dashboard rules of stream_class: 'poor' when any
--   stream is poor, else 'good' when any stream is good, else 'unclassified' when the call
--   has streams, NULL when it has none); worst_poor_reason (poor_reason(...) of the poor
--   stream with the lowest stream_id; NULL when no stream is poor); min_quality_score
--   (double, the lowest quality_score(loss_rate_avg * 100, jitter_avg_ms, rtt_avg_ms, codec)
--   over the call's audio streams, rounded to 2 decimals; NULL when no audio stream has a
--   score); quality_class (quality_class of that unrounded lowest score: 'good' >= 91,
--   'marginal' >= 86, else 'poor' with the default settings; NULL when no score). stream_class,
--   poor_reason, quality_score and quality_class take every argument from the streams
--   columns of the same name. Rows are ordered by tenant_id, invite_time (UTC), call_id.
-- @param from | timestamp | date_trunc('day', now()) - INTERVAL '30 days' | Start of the period (tenant-local time, inclusive).
-- @param to | timestamp | date_trunc('day', now()) + INTERVAL '1 day' | End of the period (tenant-local time, exclusive).
-- @param tenant | text | NULL | Only these tenants (comma-separated ids); NULL for all.
-- @param disposition | text | NULL | Only these dispositions (comma-separated: answered, busy, no_answer, failed, rejected, lost_to_queue).
-- @param license_decision | text | NULL | Only these licence decisions (comma-separated: normal, surged, rejected; 'surged,rejected' = all overages).
-- @param direction | text | NULL | Only these directions (comma-separated: inbound, outbound, internal).
-- @param min_duration_s | int | NULL | Only calls with duration_s (invite to end, seconds) at least this.
WITH t AS (
    SELECT tenant_id, time_zone, licenses,
           CAST(CASE WHEN licenses >= 6 THEN licenses + licenses / 2 ELSE licenses END AS BIGINT)
               AS soft_ceiling
    FROM tenants
    WHERE ($tenant IS NULL OR array_has(string_to_array($tenant, ','), tenant_id))
), c AS (
    SELECT c.*, t.time_zone,
           local_time(c.invite_time, t.time_zone) AS invite_local,
           license_use(c.invite_time, c.end_time, t.licenses, t.soft_ceiling)
               OVER (PARTITION BY c.tenant_id ORDER BY c.invite_time, c.call_id) AS simulated
    FROM calls c JOIN t ON t.tenant_id = c.tenant_id
    WHERE c.invite_time >= CAST($from AS TIMESTAMP) AT TIME ZONE 'UTC' - INTERVAL '38 hours'
      AND c.invite_time < CAST($to AS TIMESTAMP) AT TIME ZONE 'UTC' + INTERVAL '14 hours'
      AND local_time(c.invite_time, t.time_zone) >= $from - INTERVAL '1 day'
      AND local_time(c.invite_time, t.time_zone) < $to
), f AS (
    SELECT c.*, coalesce(c.license_decision, c.simulated) AS decision
    FROM c
    WHERE c.invite_local >= $from
      AND ($disposition IS NULL
           OR array_has(string_to_array(lower(replace($disposition, ' ', '')), ','), c.disposition))
      AND ($direction IS NULL
           OR array_has(string_to_array(lower(replace($direction, ' ', '')), ','), c.direction))
      AND ($min_duration_s IS NULL OR c.duration_s >= $min_duration_s)
), s AS (
    SELECT s.tenant_id, s.call_id,
           count(*) AS streams,
           count(*) FILTER (WHERE s.class = 'poor') AS poor_streams,
           count(*) FILTER (WHERE s.class = 'good') AS good_streams,
           first_value(s.reason ORDER BY s.stream_id) FILTER (WHERE s.class = 'poor') AS worst_poor_reason,
           min(s.score) FILTER (WHERE s.media = 'audio') AS min_score
    FROM (
        SELECT tenant_id, call_id, stream_id, media,
               stream_class(media, degradation_avg, rtt_avg_ms, loss_rate_avg, jitter_avg_ms,
                            concealed_ratio, frame_loss_pct, frame_rate_avg, post_fec_loss_rate,
                            spoiled_tile_pct, app_latency_ms, relative_one_way_delay_ms) AS class,
               poor_reason(media, degradation_avg, rtt_avg_ms, loss_rate_avg, jitter_avg_ms,
                           concealed_ratio, frame_loss_pct, frame_rate_avg, post_fec_loss_rate,
                           spoiled_tile_pct, app_latency_ms, relative_one_way_delay_ms) AS reason,
               quality_score(loss_rate_avg * 100, jitter_avg_ms, rtt_avg_ms, codec) AS score
        FROM streams
        WHERE start_time >= CAST($from AS TIMESTAMP) AT TIME ZONE 'UTC' - INTERVAL '14 hours'
          AND start_time < CAST($to AS TIMESTAMP) AT TIME ZONE 'UTC' + INTERVAL '38 hours'
          AND ($tenant IS NULL OR array_has(string_to_array($tenant, ','), tenant_id))
    ) s
    GROUP BY s.tenant_id, s.call_id
)
SELECT f.tenant_id, f.call_id,
       f.invite_local,
       local_time(f.answer_time, f.time_zone) AS answer_local,
       local_time(f.end_time, f.time_zone) AS end_local,
       f.direction, f.media, f.caller_number, f.caller_user, f.callee_number, f.callee_user,
       f.dialled, f.team_id, f.conference_id, f.disposition, f.end_reason, f.sip_code,
       f.q850_cause, f.duration_s, f.billable_s, f.pdd_ms,
       f.decision AS license_decision,
       CASE WHEN f.license_decision IS NOT NULL THEN 'recorded'
            WHEN f.decision IS NOT NULL THEN 'simulated' END AS license_decision_source,
       f.is_pstn, f.protocol, f.transport, f.connectivity, f.user_agent,
       device_vendor(f.user_agent) AS vendor,
       device_model(f.user_agent) AS model,
       f.platform, f.source_ip, f.country, f.region, f.city,
       coalesce(s.streams, 0) AS streams,
       coalesce(s.poor_streams, 0) AS poor_streams,
       CASE WHEN s.poor_streams > 0 THEN 'poor'
            WHEN s.good_streams > 0 THEN 'good'
            WHEN s.streams > 0 THEN 'unclassified' END AS worst_stream_class,
       s.worst_poor_reason,
       round(s.min_score, 2) AS min_quality_score,
       quality_class(s.min_score) AS quality_class
FROM f
LEFT JOIN s ON s.tenant_id = f.tenant_id AND s.call_id = f.call_id
WHERE ($license_decision IS NULL
       OR array_has(string_to_array(lower(replace($license_decision, ' ', '')), ','), f.decision))
ORDER BY f.tenant_id, f.invite_time, f.call_id
