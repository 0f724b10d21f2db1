# --- dd1: call quality, CQD stream classes, User-Agent devices, NANP states --------------------
"""Small independent reference implementations of cdrlake's domain functions (docs/functions.md),
shared by the DuckDB re-implementations of the reports. Append only."""

import csv as _csv
import functools as _functools
import math as _math
import re as _re
from pathlib import Path as _Path

_DATA = _Path(__file__).resolve().parents[3] / "data"


def _codec_key(name):
    """Codec names match ignoring case, spaces, dots, dashes and underscores."""
    return _re.sub(r"[ ._-]", "", name).upper()


@_functools.cache
def _codecs():
    """{codec key: (Ie, Bpl)} from data/codecs.csv, names and aliases."""
    out = {}
    with (_DATA / "codecs.csv").open() as f:
        for r in _csv.DictReader(f):
            for n in [r["codec"], *filter(None, r["aliases"].split("|"))]:
                out[_codec_key(n)] = (float(r["ie"]), float(r["bpl"]))
    return out


def _bad(v):
    return v is None or _math.isnan(v) or _math.isinf(v) or v < 0


def quality_score(loss_pct, jitter_ms, rtt_ms, codec="G.711+PLC"):
    """quality_score: G.107 R (Ta = rtt/2 + 2 x jitter, BurstR 1) as % of 93.2 - Ie, in [0, 100].
    loss in percent. None for None/NaN/negative input, loss > 100, or an unknown codec."""
    if codec is None or any(_bad(v) for v in (loss_pct, jitter_ms, rtt_ms)) or loss_pct > 100:
        return None
    c = _codecs().get(_codec_key(codec))
    if c is None:
        return None
    ie, bpl = c
    ta = rtt_ms * 0.5 + jitter_ms * 2.0
    idd = 0.0
    if ta > 100:
        x = _math.log2(ta / 100)
        idd = 25 * ((1 + x ** 6) ** (1 / 6) - 3 * (1 + (x / 3) ** 6) ** (1 / 6) + 2)
    ie_eff = ie + (95 - ie) * loss_pct / (loss_pct + bpl)
    return min(100.0, max(0.0, 100 * (93.2 - idd - ie_eff) / (93.2 - ie)))


def quality_class(score):
    """good >= 91, marginal >= 86, else poor; None for None/NaN."""
    if score is None or _math.isnan(score):
        return None
    return "good" if score >= 91 else "marginal" if score >= 86 else "poor"


def poor_reason(media, deg, rtt, loss, jit, conc, floss, frate, fec, tile, alat, rowd):
    """The CQD rule that makes a stream poor (first in documentation order), else None.
    Arguments as stream_class; a None/NaN/negative metric is not measured."""
    m = lambda v: None if v is None or _math.isnan(v) or v < 0 else v  # noqa: E731
    deg, rtt, loss, jit, conc, floss, frate, fec, tile, alat, rowd = map(
        m, (deg, rtt, loss, jit, conc, floss, frate, fec, tile, alat, rowd))
    gt = lambda v, limit: v is not None and v > limit  # noqa: E731
    if media == "audio":
        for name, v, limit in (("degradation", deg, 1.0), ("round_trip", rtt, 500), ("packet_loss", loss, 0.1),
                               ("jitter", jit, 30), ("concealed_ratio", conc, 0.07)):
            if gt(v, limit):
                return name
    elif media in ("video", "video_screen_sharing"):
        if floss is not None:
            return "frame_loss" if floss > 50 else None
        if frate is not None:
            return "frame_rate" if frate < (2 if media == "video_screen_sharing" else 7) else None
        if fec is not None:
            return "post_fec_loss" if fec > 0.15 else None
    elif media == "app_sharing":
        for name, v, limit in (("spoiled_tiles", tile, 36), ("app_latency", alat, 400),
                               ("relative_one_way_delay", rowd, 1750)):
            if gt(v, limit):
                return name
    return None


def stream_class(media, deg, rtt, loss, jit, conc, floss, frate, fec, tile, alat, rowd):
    """'good', 'poor' or 'unclassified' by the CQD rules (docs/functions.md); None for media None."""
    if media is None:
        return None
    if poor_reason(media, deg, rtt, loss, jit, conc, floss, frate, fec, tile, alat, rowd):
        return "poor"
    ok = lambda v: v is not None and not _math.isnan(v) and v >= 0  # noqa: E731
    need = {"audio": (deg, rtt, loss, jit, conc), "video": (floss, frate, fec),
            "video_screen_sharing": (floss, frate, fec), "app_sharing": (tile, alat, rowd)}.get(media, ())
    return "good" if any(ok(v) for v in need) else "unclassified"


@_functools.cache
def _ua_patterns():
    with (_DATA / "user_agents.csv").open() as f:
        return [(r["vendor"], _re.compile(r["pattern"], _re.I), r["model"] or None, r["version"] or None)
                for r in _csv.DictReader(f)]


@_functools.cache
def device(user_agent):
    """(vendor, model, version) of a User-Agent by data/user_agents.csv (data/user_agents.md):
    first matching row wins, case-insensitive, unanchored; named groups override the literals;
    ('Other', None, None) when nothing matches; (None, None, None) for None or blank input."""
    if user_agent is None or not user_agent.strip():
        return (None, None, None)
    ua = user_agent.strip()
    for vendor, pat, model, version in _ua_patterns():
        mt = pat.search(ua)
        if mt:
            g = mt.groupdict()
            return (vendor, g.get("model") or model, g.get("version") or version)
    return ("Other", None, None)


@_functools.cache
def _npa():
    with (_DATA / "nanp" / "npa.csv").open() as f:
        return {r["npa"]: r for r in _csv.DictReader(f)}


def npa_state(number):
    """Region of a NANP E.164 number's area code (USPS state, province, or NANP country code);
    None for non-NANP, non-geographic, unknown or malformed numbers."""
    if number is None or not _re.fullmatch(r"\+1[0-9]{10}", number):
        return None
    r = _npa().get(number[2:5])
    if r is None or r["kind"] != "geographic":
        return None
    return r["region"] or None


def round_half_away(x, digits=2):
    """Round a float half away from zero (as SQL round does), None stays None."""
    if x is None:
        return None
    q = 10 ** digits
    return _math.copysign(_math.floor(abs(x) * q + 0.5) / q, x)


# --- dd3: User-Agent lookup table for SQL joins -----------------------------------------------
def register_devices(con, name="ua_devices", source="SELECT DISTINCT user_agent FROM calls"):
    """Registers a DuckDB table `name`(user_agent, vendor, model, version) with device() of every
    distinct non-NULL user_agent that `source` yields, so reports join it instead of calling a
    Python UDF per row (few distinct User-Agents even in 10 M calls). A NULL user_agent has no
    row: LEFT JOIN it and the columns are NULL, as device(None) gives."""
    import pyarrow as _pa

    uas = [r[0] for r in con.execute(f"SELECT * FROM ({source}) WHERE user_agent IS NOT NULL").fetchall()]
    devs = [device(u) for u in uas]
    tbl = _pa.table({"user_agent": _pa.array(uas, _pa.string()),
                     "vendor": _pa.array([d[0] for d in devs], _pa.string()),
                     "model": _pa.array([d[1] for d in devs], _pa.string()),
                     "version": _pa.array([d[2] for d in devs], _pa.string())})
    con.register(f"_{name}_arrow", tbl)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM _{name}_arrow")
    con.unregister(f"_{name}_arrow")
    return name


# --- dd3: SQL forms of stream_class, poor_reason, quality_score; license_use ------------------
def register_codecs(con, name="ref_codecs"):
    """Registers a DuckDB table `name`(key, ie, bpl) from data/codecs.csv (names and aliases),
    keyed as codec_key_sql() keys a codec column."""
    rows = sorted(_codecs().items())
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} (key VARCHAR, ie DOUBLE, bpl DOUBLE)")
    con.executemany(f"INSERT INTO {name} VALUES (?, ?, ?)", [(k, ie, bpl) for k, (ie, bpl) in rows])
    return name


def codec_key_sql(col):
    """SQL of a codec column's lookup key (case, spaces, dots, dashes, underscores ignored)."""
    return f"upper(regexp_replace({col}, '[ ._-]', '', 'g'))"


_CQD_METRICS = ("degradation_avg", "rtt_avg_ms", "loss_rate_avg", "jitter_avg_ms", "concealed_ratio",
                "frame_loss_pct", "frame_rate_avg", "post_fec_loss_rate", "spoiled_tile_pct",
                "app_latency_ms", "relative_one_way_delay_ms")


def stream_quality_sql(con, src):
    """SQL: SELECT src.*, poor_reason, stream_class, quality_score FROM src, where src is a
    streams-shaped relation (media, the CQD metric columns, loss_rate_avg, jitter_avg_ms,
    rtt_avg_ms, codec). Same rules as poor_reason() / stream_class() / quality_score() above
    (NULL, NaN or negative metrics are not measured; quality_score takes loss_rate_avg x 100 and
    the stream's own codec, NULL for an unknown or NULL codec). Registers the codec table."""
    codecs = register_codecs(con)
    clean = ", ".join(f"CASE WHEN isnan({m}) OR {m} < 0 THEN NULL ELSE {m} END AS _q_{m}" for m in _CQD_METRICS)
    reason = """CASE
      WHEN media = 'audio' THEN CASE
        WHEN _q_degradation_avg > 1.0 THEN 'degradation' WHEN _q_rtt_avg_ms > 500 THEN 'round_trip'
        WHEN _q_loss_rate_avg > 0.1 THEN 'packet_loss' WHEN _q_jitter_avg_ms > 30 THEN 'jitter'
        WHEN _q_concealed_ratio > 0.07 THEN 'concealed_ratio' END
      WHEN media IN ('video', 'video_screen_sharing') THEN CASE
        WHEN _q_frame_loss_pct IS NOT NULL THEN CASE WHEN _q_frame_loss_pct > 50 THEN 'frame_loss' END
        WHEN _q_frame_rate_avg IS NOT NULL THEN CASE WHEN _q_frame_rate_avg
             < CASE WHEN media = 'video_screen_sharing' THEN 2 ELSE 7 END THEN 'frame_rate' END
        WHEN _q_post_fec_loss_rate > 0.15 THEN 'post_fec_loss' END
      WHEN media = 'app_sharing' THEN CASE
        WHEN _q_spoiled_tile_pct > 36 THEN 'spoiled_tiles' WHEN _q_app_latency_ms > 400 THEN 'app_latency'
        WHEN _q_relative_one_way_delay_ms > 1750 THEN 'relative_one_way_delay' END
    END"""
    measured = """CASE media
      WHEN 'audio' THEN coalesce(_q_degradation_avg, _q_rtt_avg_ms, _q_loss_rate_avg, _q_jitter_avg_ms,
                                 _q_concealed_ratio) IS NOT NULL
      WHEN 'video' THEN coalesce(_q_frame_loss_pct, _q_frame_rate_avg, _q_post_fec_loss_rate) IS NOT NULL
      WHEN 'video_screen_sharing' THEN coalesce(_q_frame_loss_pct, _q_frame_rate_avg, _q_post_fec_loss_rate) IS NOT NULL
      WHEN 'app_sharing' THEN coalesce(_q_spoiled_tile_pct, _q_app_latency_ms, _q_relative_one_way_delay_ms) IS NOT NULL
      ELSE false END"""
    lo, ji, rt = "(loss_rate_avg * 100)", "jitter_avg_ms", "rtt_avg_ms"
    ta = f"({rt} * 0.5 + {ji} * 2.0)"
    x = f"log2({ta} / 100.0)"
    idd = (f"CASE WHEN {ta} <= 100 THEN 0.0 ELSE 25.0 * (pow(1.0 + pow({x}, 6), 1.0 / 6) "
           f"- 3.0 * pow(1.0 + pow({x} / 3.0, 6), 1.0 / 6) + 2.0) END")
    bad = " OR ".join(f"{v} IS NULL OR isnan({v}) OR {v} < 0" for v in (lo, ji, rt))
    score = (f"CASE WHEN {bad} OR {lo} > 100 OR _q_c.ie IS NULL THEN NULL ELSE greatest(0.0, least(100.0, "
             f"100.0 * (93.2 - ({idd}) - (_q_c.ie + (95.0 - _q_c.ie) * {lo} / ({lo} + _q_c.bpl))) "
             f"/ (93.2 - _q_c.ie))) END")
    return f"""
      SELECT * EXCLUDE ({', '.join('_q_' + m for m in _CQD_METRICS)}, _q_reason, key, ie, bpl),
             _q_reason AS poor_reason,
             CASE WHEN media IS NULL THEN NULL WHEN _q_reason IS NOT NULL THEN 'poor'
                  WHEN {measured} THEN 'good' ELSE 'unclassified' END AS stream_class,
             _q_score AS quality_score
      FROM (
        SELECT *, {reason} AS _q_reason, {score} AS _q_score
        FROM (SELECT *, {clean} FROM ({src})) _q_s
        LEFT JOIN {codecs} _q_c ON _q_c.key = {codec_key_sql('_q_s.codec')}
      )"""


def license_use(calls, licenses, ceiling=None):
    """license_use over one tenant's calls [(call_id, start, end)] (start/end comparable, end None
    = still in progress): {call_id: 'normal' | 'surged' | 'rejected'}. In (start, call_id) order
    each call sees c = calls in progress at its start (ended at or before it: gone) plus itself;
    c <= L normal, L < c <= C surged, else rejected; rejected calls occupy nothing.
    C = L + floor(L / 2) when L >= 6, else L, unless `ceiling` is given."""
    import heapq as _heapq

    if licenses is None:
        return {cid: None for cid, _, _ in calls}
    cap = ceiling if ceiling is not None else (licenses + licenses // 2 if licenses >= 6 else licenses)
    ends, out = [], {}
    for cid, start, end in sorted(calls, key=lambda r: (r[1], r[0])):
        while ends and ends[0] <= start:
            _heapq.heappop(ends)
        c = len(ends) + 1
        d = "normal" if c <= licenses else "surged" if c <= cap else "rejected"
        out[cid] = d
        if d != "rejected":
            _heapq.heappush(ends, end if end is not None else float("inf"))
    return out


# --- dd4: NANP area codes and country calling codes as DuckDB tables ---------------------------
def register_npa(con, name="ref_npa"):
    """Registers a DuckDB table `name`(npa, kind, region, country) from data/nanp/npa.csv (text;
    region/country NULL for non-geographic codes), for SQL joins on substr(number, 3, 3)."""
    rows = [(k, r["kind"], r["region"] or None, r["country"] or None) for k, r in sorted(_npa().items())]
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} (npa VARCHAR, kind VARCHAR, region VARCHAR, country VARCHAR)")
    con.executemany(f"INSERT INTO {name} VALUES (?, ?, ?, ?)", rows)
    return name


def round_decimal(x, places=6):
    """A Decimal rounded half away from zero to `places` decimals; None stays None."""
    import decimal as _decimal

    if x is None:
        return None
    return _decimal.Decimal(x).quantize(_decimal.Decimal(1).scaleb(-places), rounding=_decimal.ROUND_HALF_UP)


# --- dd7: per-call quality score over the audio streams (call_quality_monthly, _poor_calls) ----
def call_audio_streams_sql(con, frm, to, tenants_param=True, default_codec="G.711+PLC"):
    """SQL of the audio streams of calls invited in the tenant-local period [frm, to), one row per
    stream: call columns prefixed c_ (c_tenant_id, c_call_id, c_invite_time, c_media, ...), the
    stream columns as stored (codec as stored) plus poor_reason, stream_class and quality_score
    (stream_quality_sql, scored with `default_codec` when codec is NULL). Streams starting before
    frm - 14 h or at/after to + 38 h (bounds read as UTC) are not read. Positional parameters, in
    order: frm, to (tenant-local, for the calls), frm, to (for the stream window), then twice the
    tenant list when tenants_param."""
    src = """SELECT s.* REPLACE (coalesce(s.codec, '%s') AS codec), s.codec AS stored_codec
             FROM streams s
             WHERE s.media = 'audio'
               AND s.start_time >= timezone('UTC', ?::TIMESTAMP) - INTERVAL 14 HOUR
               AND s.start_time < timezone('UTC', ?::TIMESTAMP) + INTERVAL 38 HOUR""" % default_codec
    scored = stream_quality_sql(con, src)
    tenant = "AND (?::VARCHAR[] IS NULL OR list_contains(?::VARCHAR[], c.tenant_id))" if tenants_param else ""
    return f"""
      WITH _calls AS (
        SELECT c.*, timezone(t.time_zone, c.invite_time) AS _local_invite
        FROM calls c JOIN tenants t USING (tenant_id)
        WHERE timezone(t.time_zone, c.invite_time) >= ?::TIMESTAMP
          AND timezone(t.time_zone, c.invite_time) < ?::TIMESTAMP
      )
      SELECT c.tenant_id AS c_tenant_id, c.call_id AS c_call_id, c.invite_time AS c_invite_time,
             c._local_invite AS c_local_invite, c.direction AS c_direction, c.media AS c_media,
             c.caller_user AS c_caller_user, c.caller_number AS c_caller_number,
             c.callee_user AS c_callee_user, c.callee_number AS c_callee_number,
             c.billable_s AS c_billable_s, c.connectivity AS c_connectivity, c.transport AS c_transport,
             s.*
      FROM _calls c
      JOIN ({scored}) s ON s.tenant_id = c.tenant_id AND s.call_id = c.call_id
      WHERE true {tenant}"""
