"""call_list, from its header: one row per call with local invite_time in [from, to), its main
columns with local invite/answer/end times, device vendor/model, the licence decision (recorded,
else simulated with license_use over the tenant's calls in local [from - 1 day, to)), and the
quality of its streams (same tenant and call, start_time in [from - 14 h, to + 38 h) read as
UTC): count, poor count, worst CQD class, poor_reason of the lowest-id poor stream, lowest audio
quality_score (2 dp) and its class. Filters disposition / license_decision / direction (lists,
case and spaces ignored) and min_duration_s. Ordered by tenant_id, invite_time, call_id."""

import datetime as dt

import pyarrow as pa

from _common import in_list, local, ts
from _ref import license_use, quality_class, register_devices, round_half_away, stream_quality_sql

COLS = ["tenant_id", "call_id", "invite_local", "answer_local", "end_local", "direction", "media",
        "caller_number", "caller_user", "callee_number", "callee_user", "dialled", "team_id",
        "conference_id", "disposition", "end_reason", "sip_code", "q850_cause", "duration_s",
        "billable_s", "pdd_ms", "license_decision", "license_decision_source", "is_pstn", "protocol",
        "transport", "connectivity", "user_agent", "vendor", "model", "platform", "source_ip",
        "country", "region", "city", "streams", "poor_streams", "worst_stream_class",
        "worst_poor_reason", "min_quality_score", "quality_class"]


def _norm_list(value):
    """A list filter matched without regard to case or spaces."""
    if value is None:
        return None
    return [v.replace(" ", "").lower() for v in value.split(",")]


def _simulate(con, lo, hi, tenants):
    """{call_id: simulated decision} for the tenants with a NULL license_decision in the period."""
    rows = con.execute(
        f"""
        WITH need AS (
          SELECT DISTINCT c.tenant_id FROM calls c JOIN tenants t USING (tenant_id)
          WHERE c.license_decision IS NULL AND {local('c.invite_time')} >= ? AND {local('c.invite_time')} < ?
            AND (? IS NULL OR list_contains(?, c.tenant_id))
        )
        SELECT c.tenant_id, t.licenses, c.call_id, epoch_us(c.invite_time), epoch_us(c.end_time)
        FROM calls c JOIN tenants t USING (tenant_id) JOIN need USING (tenant_id)
        WHERE {local('c.invite_time')} >= ? AND {local('c.invite_time')} < ?
        """,
        [lo, hi, tenants, tenants, lo - dt.timedelta(days=1), hi],
    ).fetchall()
    by_tenant = {}
    for t, lic, cid, s, e in rows:
        by_tenant.setdefault((t, lic), []).append((cid, s, e))
    out = {}
    for (t, lic), calls in by_tenant.items():
        for cid, d in license_use(calls, lic).items():
            out[(t, cid)] = d
    return out


def run(con, args):
    lo, hi = ts(args["from"]), ts(args["to"])
    tenants = in_list(args.get("tenant"))
    disp = _norm_list(args.get("param:disposition"))
    decision = _norm_list(args.get("param:license_decision"))
    direction = _norm_list(args.get("param:direction"))
    min_dur = args.get("param:min_duration_s")
    min_dur = None if min_dur is None else int(min_dur)

    sim = _simulate(con, lo, hi, tenants)
    con.register("sim_decisions", pa.table({
        "tenant_id": pa.array([k[0] for k in sim], pa.string()),
        "call_id": pa.array([k[1] for k in sim], pa.string()),
        "decision": pa.array(list(sim.values()), pa.string())}))
    register_devices(con)
    utc = dt.timezone.utc
    s_lo = (lo - dt.timedelta(hours=14)).replace(tzinfo=utc)
    s_hi = (hi + dt.timedelta(hours=38)).replace(tzinfo=utc)
    streams = stream_quality_sql(
        con, "SELECT tenant_id, call_id, stream_id, media, codec, degradation_avg, rtt_avg_ms, loss_rate_avg, "
             "jitter_avg_ms, concealed_ratio, frame_loss_pct, frame_rate_avg, post_fec_loss_rate, "
             "spoiled_tile_pct, app_latency_ms, relative_one_way_delay_ms FROM streams "
             "WHERE start_time >= $s_lo AND start_time < $s_hi")
    rows = con.execute(
        f"""
        WITH c AS (
          SELECT c.*, {local('c.invite_time')} AS invite_local, {local('c.answer_time')} AS answer_local,
                 {local('c.end_time')} AS end_local,
                 coalesce(c.license_decision, sd.decision) AS eff_decision,
                 CASE WHEN c.license_decision IS NOT NULL THEN 'recorded' ELSE 'simulated' END AS src
          FROM calls c JOIN tenants t USING (tenant_id)
          LEFT JOIN sim_decisions sd ON sd.tenant_id = c.tenant_id AND sd.call_id = c.call_id
          WHERE {local('c.invite_time')} >= $lo AND {local('c.invite_time')} < $hi
            AND ($tenants IS NULL OR list_contains($tenants, c.tenant_id))
        ), s AS (
          SELECT tenant_id, call_id, count(*) AS streams,
                 count(*) FILTER (WHERE stream_class = 'poor') AS poor_streams,
                 CASE WHEN bool_or(stream_class = 'poor') THEN 'poor'
                      WHEN bool_or(stream_class = 'good') THEN 'good' ELSE 'unclassified' END AS worst,
                 arg_min(poor_reason, stream_id) FILTER (WHERE stream_class = 'poor') AS worst_reason,
                 min(quality_score) FILTER (WHERE media = 'audio') AS min_score
          FROM ({streams}) GROUP BY ALL
        )
        SELECT c.tenant_id, c.call_id, c.invite_local, c.answer_local, c.end_local, c.direction, c.media,
               c.caller_number, c.caller_user, c.callee_number, c.callee_user, c.dialled, c.team_id,
               c.conference_id, c.disposition, c.end_reason, c.sip_code, c.q850_cause, c.duration_s,
               c.billable_s, c.pdd_ms, c.eff_decision, c.src, c.is_pstn, c.protocol, c.transport,
               c.connectivity, c.user_agent, d.vendor, d.model, c.platform, c.source_ip, c.country,
               c.region, c.city, coalesce(s.streams, 0), coalesce(s.poor_streams, 0), s.worst,
               s.worst_reason, s.min_score
        FROM c
        LEFT JOIN ua_devices d ON d.user_agent = c.user_agent
        LEFT JOIN s ON s.tenant_id = c.tenant_id AND s.call_id = c.call_id
        WHERE ($disp IS NULL OR list_contains($disp, lower(c.disposition)))
          AND ($decision IS NULL OR list_contains($decision, lower(c.eff_decision)))
          AND ($direction IS NULL OR list_contains($direction, lower(c.direction)))
          AND ($min_dur IS NULL OR c.duration_s >= $min_dur)
        ORDER BY c.tenant_id, c.invite_time, c.call_id
        """,
        {"lo": lo, "hi": hi, "tenants": tenants, "disp": disp, "decision": decision,
         "direction": direction, "min_dur": min_dur, "s_lo": s_lo, "s_hi": s_hi},
    ).fetchall()
    con.unregister("sim_decisions")
    out = [r[:-1] + (round_half_away(r[-1], 2), quality_class(r[-1])) for r in rows]
    return COLS, out
