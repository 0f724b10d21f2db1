"""call_details, from its header: one call (by call_id, optional tenant filter, no period) with
one row per stream (ordered by stream_id), or one row with NULL stream columns when it has no
streams. Local times; doubles rounded to 2 dp; device from the User-Agent; per audio stream the
quality score and class; per stream the CQD class and poor reason; per call the lowest audio
quality score and the worst stream class."""

from _common import in_list, local
from _ref import device, poor_reason, quality_class, quality_score, round_half_away, stream_class

CALL_COLS = ["tenant_id", "call_id", "invite_time", "end_time", "duration_s", "billable_s", "call_direction",
             "call_media", "disposition", "end_reason", "caller_user", "caller_number", "callee_user",
             "callee_number", "is_pstn", "platform", "user_agent", "device_vendor", "device_model", "protocol",
             "transport", "connectivity", "call_quality_score", "lowest_stream_class"]
STREAM_COLS = ["stream_id", "media", "direction", "codec", "stream_start", "stream_duration_s", "packets_sent",
               "packets_received", "packets_lost", "loss_avg_pct", "loss_max_pct", "jitter_avg_ms",
               "jitter_max_ms", "rtt_avg_ms", "rtt_max_ms", "mos_avg", "mos_min", "degradation_avg",
               "quality_score", "quality_class", "stream_class", "poor_reason", "lost_per_minute"]
CQD = ["degradation_avg", "rtt_avg_ms", "loss_rate_avg", "jitter_avg_ms", "concealed_ratio", "frame_loss_pct",
       "frame_rate_avg", "post_fec_loss_rate", "spoiled_tile_pct", "app_latency_ms", "relative_one_way_delay_ms"]


def run(con, args):
    tenants = in_list(args.get("tenant"))
    call_id = args.get("param:call_id")
    columns = CALL_COLS + STREAM_COLS
    if call_id is None:
        return columns, []
    calls = con.execute(
        f"""
        SELECT c.tenant_id, c.call_id, {local('c.invite_time')}, {local('c.end_time')}, c.duration_s,
               c.billable_s, c.direction, c.media, c.disposition, c.end_reason, c.caller_user,
               c.caller_number, c.callee_user, c.callee_number, c.is_pstn, c.platform, c.user_agent,
               c.protocol, c.transport, c.connectivity
        FROM calls c JOIN tenants t USING (tenant_id)
        WHERE c.call_id = ? AND (? IS NULL OR list_contains(?, c.tenant_id))
        ORDER BY c.tenant_id
        """,
        [call_id, tenants, tenants],
    ).fetchall()
    out = []
    for call in calls:
        tenant = call[0]
        streams = con.execute(
            f"""
            SELECT s.stream_id, s.media, s.direction, s.codec, {local('s.start_time')}, s.duration_s,
                   s.packets_sent, s.packets_received, s.packets_lost,
                   100 * s.loss_rate_avg, 100 * s.loss_rate_max, s.jitter_avg_ms, s.jitter_max_ms,
                   s.rtt_avg_ms, s.rtt_max_ms, s.mos_avg, s.mos_min, s.degradation_avg,
                   s.lost_per_minute, {", ".join("s." + c for c in CQD)}
            FROM streams s JOIN tenants t USING (tenant_id)
            WHERE s.tenant_id = ? AND s.call_id = ?
            ORDER BY s.stream_id
            """,
            [tenant, call_id],
        ).fetchall()
        srows = []
        for s in streams:
            (sid, media, direction, codec, start, dur, sent, recv, lost, lavg, lmax, javg, jmax, ravg, rmax,
             mavg, mmin, deg, lpm) = s[:19]
            cqd = dict(zip(CQD, s[19:]))
            score = None
            if media == "audio" and cqd["loss_rate_avg"] is not None:
                score = quality_score(100 * cqd["loss_rate_avg"], cqd["jitter_avg_ms"], cqd["rtt_avg_ms"], codec)
            metrics = [cqd[c] for c in CQD]
            srows.append([sid, media, direction, codec, start, dur, sent, recv, lost,
                          *(round_half_away(v) for v in (lavg, lmax, javg, jmax, ravg, rmax, mavg, mmin, deg)),
                          score, quality_class(score), stream_class(media, *metrics),
                          poor_reason(media, *metrics), lpm])
        device_vendor, device_model, _ = device(call[16])
        audio_scores = [r[18] for r in srows if r[1] == "audio" and r[18] is not None]
        call_score = round_half_away(min(audio_scores)) if audio_scores else None
        classes = {r[20] for r in srows}
        lowest = None if not srows else "poor" if "poor" in classes else "good" if "good" in classes else "unclassified"
        head = [*call[:17], device_vendor, device_model, *call[17:20], call_score, lowest]
        if not srows:
            out.append(tuple(head + [None] * len(STREAM_COLS)))
        for r in srows:
            r[18] = round_half_away(r[18])
            out.append(tuple(head + r))
    return columns, out
