"""call_quality_poor_calls, from its header: the calls call_quality_monthly grades poor (score <
poor_below and not >= good_min), one row each, with the call's columns, its quality_score (2 dp),
its count of scored audio streams, the metrics of its worst audio stream (lowest non-NULL score,
ties lowest stream_id), that stream's first CQD poor_reason (NULL when none fires) and the call's
count of audio streams (scored or not) the CQD rules class poor. Ordered by tenant_id,
invite_time, call_id."""

from _common import in_list, ts
from _ref import call_audio_streams_sql, round_half_away


def _float(v, default):
    return default if v is None else float(v)


def run(con, args):
    tenants = in_list(args.get("tenant"))
    good_min = _float(args.get("param:good_min"), 91.0)
    poor_below = _float(args.get("param:poor_below"), 86.0)
    frm, to = ts(args["from"]), ts(args["to"])
    streams = call_audio_streams_sql(con, frm, to)
    rows = con.execute(
        f"""
        WITH s AS ({streams}),
        per_call AS (
          SELECT c_tenant_id, c_call_id,
                 min(quality_score) AS q,
                 count(quality_score) AS audio_streams,
                 count(*) FILTER (WHERE stream_class = 'poor') AS poor_streams,
                 arg_min(stream_id, [quality_score, stream_id]) FILTER (WHERE quality_score IS NOT NULL)
                   AS worst_id
          FROM s GROUP BY ALL
        )
        SELECT s.c_tenant_id, s.c_call_id, timezone('UTC', s.c_invite_time), s.c_local_invite,
               s.c_direction, s.c_media, s.c_caller_user, s.c_caller_number, s.c_callee_user,
               s.c_callee_number, s.c_billable_s, s.c_connectivity, s.c_transport,
               p.q, p.audio_streams, s.stream_id, s.direction, s.stored_codec,
               s.loss_rate_avg * 100, s.loss_rate_max * 100, s.jitter_avg_ms, s.jitter_max_ms,
               s.rtt_avg_ms, s.rtt_max_ms, s.concealed_ratio, s.degradation_avg, s.mos_avg, s.mos_min,
               s.poor_reason, p.poor_streams
        FROM per_call p
        JOIN s ON s.c_tenant_id = p.c_tenant_id AND s.c_call_id = p.c_call_id AND s.stream_id = p.worst_id
        WHERE p.q IS NOT NULL AND p.q < ? AND NOT (p.q >= ?)
        ORDER BY s.c_tenant_id, s.c_invite_time, s.c_call_id
        """,
        [frm, to, frm, to, tenants, tenants, poor_below, good_min],
    ).fetchall()
    out = []
    for r in rows:
        r = list(r)
        r[13] = round_half_away(r[13])
        r[18] = round_half_away(r[18])
        r[19] = round_half_away(r[19])
        out.append(tuple(r))
    cols = ["tenant_id", "call_id", "invite_time", "invite_time_local", "direction", "media", "caller_user",
            "caller_number", "callee_user", "callee_number", "billable_s", "connectivity", "transport",
            "quality_score", "audio_streams", "stream_id", "stream_direction", "codec", "loss_pct",
            "loss_max_pct", "jitter_avg_ms", "jitter_max_ms", "rtt_avg_ms", "rtt_max_ms", "concealed_ratio",
            "degradation_avg", "mos_avg", "mos_min", "poor_reason", "poor_streams"]
    return cols, out
