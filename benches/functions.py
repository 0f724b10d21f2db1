#!/usr/bin/env python3
"""SQL functions benchmark: cdrlake's UDFs (quality_score + quality_class, stream_class,
jurisdiction, max_concurrent) against the same logic written as plain SQL expressions in DuckDB,
on the same Parquet files, in the same run.

Usage (from the repository root):
    pip install -r benches/requirements.txt        # duckdb, pyarrow (pinned)
    python benches/functions.py                    # 10 M rows, 2 threads, 5 runs
    python benches/functions.py --quick            # 20 k rows, 1 run: a smoke test

The data (streams.parquet, calls.parquet) is generated deterministically with DuckDB from hashes
of the row number, and reused while its manifest matches (rows, seed, npa.csv, the generator's
code, DuckDB's version). The cdrlake side is the Rust bench
`crates/cdrlake-functions/benches/udfs.rs`, built with `cargo bench --no-run` unless
--cdrlake-bench names its executable; it prints its timings and answers as JSON.

The DuckDB SQL doubles as an independent implementation of the functions: before timing, it is
checked against hand-computed quality scores and, row by row on a sample, against the small
Python reference implementations below; after timing, every query's answer from cdrlake must
equal DuckDB's (same rows, counts equal, float sums equal to 1e-6 relative), or the script
prints both and exits 1.
"""

import argparse
import datetime
import hashlib
import inspect
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

try:
    import duckdb
    import pyarrow.parquet as pq
except ImportError as e:
    sys.exit(f"missing Python module {e.name!r}: pip install -r benches/requirements.txt")

ROOT = Path(__file__).resolve().parents[1]
SEED = 20261122
QUICK_ROWS = 20_000

# Codecs for quality_score: (name, aliases, Ie, Bpl) per ITU-T G.113 Appendix I. G.113 gives
# G.729 an Ie of 10 without a Bpl; the benchmark uses G.729A's 19. These are the only codecs the
# generated data names besides deliberately unknown ones, so the answers do not depend on what
# else data/codecs.csv lists.
CODECS = [
    ("G.711", ["PCMU", "PCMA"], 0.0, 4.3),
    ("G.711+PLC", [], 0.0, 25.1),
    ("G.729", [], 10.0, 19.0),
    ("G.729A", [], 11.0, 19.0),
    ("Opus", [], 0.0, 25.1),
    ("SILK", [], 0.0, 25.1),
]
DEFAULT_CODEC = "G.711+PLC"


def norm_codec(name):
    """Codec lookup key: case-insensitive, without spaces, dots, dashes and underscores."""
    return re.sub(r"[ ._-]", "", name).upper()


CODEC_BY_KEY = {norm_codec(n): (ie, bpl) for name, aliases, ie, bpl in CODECS for n in [name, *aliases]}

# Spellings in the data: every codec under several aliases and spellings, plus unknown ones
# (quality_score -> NULL). Repeats weight the mix.
AUDIO_CODECS = (["G.711"] * 4 + ["PCMU"] * 2 + ["PCMA", "g711", "G 711", "G.711+PLC", "g.711 + plc"]
                + ["Opus"] * 4 + ["opus", "OPUS"] + ["G.729A"] * 2 + ["g729a", "G-729A", "G.729", "G_729"]
                + ["SILK"] * 2 + ["silk", "H.264", "XCODEC-9", ""])
VIDEO_CODECS = ["H.264", "H.264", "VP8", "AV1", "G.711"]

# ---------------------------------------------------------------------------------------------
# The DuckDB expression versions (the independent implementation).
# ---------------------------------------------------------------------------------------------


def norm_sql(col):
    return f"upper(replace(replace(replace(replace({col}, ' ', ''), '.', ''), '-', ''), '_', ''))"


def quality_scores_sql(src, extra=()):
    """SELECT <extra columns>, score FROM src, where src has loss_pct, jitter_ms, rtt_ms, codec."""
    keep = "".join(f"{c}, " for c in extra)
    return f"""
SELECT {keep}CASE WHEN valid THEN greatest(0.0, least(100.0,
           100.0 * (93.2 - idd - (ie + (95.0 - ie) * loss_pct / (loss_pct / 1.0 + bpl))) / (93.2 - ie)))
       END AS score
FROM (
  SELECT *, CASE WHEN NOT valid OR ta <= 100.0 THEN 0.0
                 ELSE 25.0 * (pow(1.0 + pow(log2(ta / 100.0), 6), 1.0::DOUBLE / 6)
                              - 3.0 * pow(1.0 + pow(log2(ta / 100.0) / 3.0, 6), 1.0::DOUBLE / 6) + 2.0)
            END AS idd
  FROM (
    SELECT s.*, k.ie, k.bpl, s.rtt_ms / 2.0 + 2.0 * s.jitter_ms AS ta,
           coalesce(NOT isnan(s.loss_pct) AND NOT isnan(s.jitter_ms) AND NOT isnan(s.rtt_ms)
                    AND s.loss_pct >= 0 AND s.jitter_ms >= 0 AND s.rtt_ms >= 0 AND s.loss_pct <= 100
                    AND k.ie IS NOT NULL, false) AS valid
    FROM (SELECT {keep}loss_pct, jitter_ms, rtt_ms, codec FROM {src}) s
    LEFT JOIN codec_alias k ON k.key = {norm_sql('s.codec')}
  )
)"""


def quality_class_sql(score):
    return (f"CASE WHEN {score} IS NULL THEN NULL WHEN {score} >= 91 THEN 'good' "
            f"WHEN {score} >= 86 THEN 'marginal' ELSE 'poor' END")


STREAM_CLASS_SQL = """CASE
  WHEN media IS NULL THEN NULL
  WHEN media = 'audio' THEN CASE
    WHEN degradation_avg > 1.0 OR rtt_avg_ms > 500 OR loss_rate_avg > 0.1 OR jitter_avg_ms > 30
         OR concealed_ratio > 0.07 THEN 'poor'
    WHEN degradation_avg IS NULL AND rtt_avg_ms IS NULL AND loss_rate_avg IS NULL
         AND jitter_avg_ms IS NULL AND concealed_ratio IS NULL THEN 'unclassified'
    ELSE 'good' END
  WHEN media IN ('video', 'video_screen_sharing') THEN CASE
    WHEN frame_loss_pct IS NOT NULL THEN CASE WHEN frame_loss_pct > 50 THEN 'poor' ELSE 'good' END
    WHEN frame_rate_avg IS NOT NULL THEN
      CASE WHEN frame_rate_avg < CASE WHEN media = 'video_screen_sharing' THEN 2 ELSE 7 END
           THEN 'poor' ELSE 'good' END
    WHEN post_fec_loss_rate IS NOT NULL THEN CASE WHEN post_fec_loss_rate > 0.15 THEN 'poor' ELSE 'good' END
    ELSE 'unclassified' END
  WHEN media = 'app_sharing' THEN CASE
    WHEN spoiled_tile_pct > 36 OR app_latency_ms > 400 OR relative_one_way_delay_ms > 1750 THEN 'poor'
    WHEN spoiled_tile_pct IS NULL AND app_latency_ms IS NULL AND relative_one_way_delay_ms IS NULL
         THEN 'unclassified'
    ELSE 'good' END
  ELSE 'unclassified'
END"""


def jurisdiction_sql(src, extra=()):
    """SELECT <extra columns>, j FROM src, where src has caller_number, callee_number."""
    keep = "".join(f"c.{c}, " for c in extra)
    nanp = r"'\+1[0-9]{10}'"
    return f"""
SELECT {keep}CASE
    WHEN c.callee_number IS NULL THEN NULL
    WHEN c.callee_number LIKE '+1%' AND NOT regexp_full_match(c.callee_number, {nanp}) THEN 'indeterminate'
    WHEN NOT regexp_full_match(c.callee_number, {nanp}) THEN 'international'
    WHEN d.kind IS NULL OR d.kind <> 'geographic' THEN 'indeterminate'
    WHEN coalesce(d.country, '') <> 'US' THEN 'international'
    WHEN c.caller_number IS NULL OR NOT regexp_full_match(c.caller_number, {nanp}) THEN 'indeterminate'
    WHEN o.kind IS NULL OR o.kind <> 'geographic' OR coalesce(o.country, '') <> 'US' THEN 'indeterminate'
    WHEN coalesce(o.region, '') = coalesce(d.region, '') THEN 'intrastate'
    ELSE 'interstate'
  END AS j
FROM {src} c
LEFT JOIN npa d ON d.npa = substr(c.callee_number, 3, 3)
LEFT JOIN npa o ON o.npa = substr(c.caller_number, 3, 3)"""


def max_concurrent_sql(src, by=None, ends_first=True):
    """Peak overlap of [invite_time, end_time) per `by` (or overall): +1 at starts, -1 at ends,
    ends first at equal times, as a running sum over the events. (ends_first=False only shows
    how much the order at equal times matters.)"""
    part = f"PARTITION BY {by} " if by else ""
    cols = f"{by}, " if by else ""
    tail = f" GROUP BY {by} ORDER BY {by}" if by else ""
    return f"""
WITH iv AS (
  SELECT {cols}invite_time AS s, end_time AS e FROM {src}
  WHERE invite_time IS NOT NULL AND end_time IS NOT NULL AND end_time > invite_time
), ev AS (
  SELECT {cols}s AS t, 1 AS d FROM iv UNION ALL SELECT {cols}e AS t, -1 AS d FROM iv
)
SELECT {cols}max(c)::BIGINT AS peak FROM (
  SELECT {cols}sum(d) OVER ({part}ORDER BY t, {'d' if ends_first else '-d'} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS c
  FROM ev
){tail}"""


STREAM_CLASS_ARGS = ("media, degradation_avg, rtt_avg_ms, loss_rate_avg, jitter_avg_ms, concealed_ratio, "
                     "frame_loss_pct, frame_rate_avg, post_fec_loss_rate, spoiled_tile_pct, app_latency_ms, "
                     "relative_one_way_delay_ms")

# name -> what it measures, the DuckDB query, the number of key columns, and each column's kind.
# The cdrlake versions of the same queries, written with the UDFs, are in
# crates/cdrlake-functions/benches/udfs.rs under the same names.
QUERIES = {
    "quality": {
        "function": "quality_score + quality_class",
        "duckdb": f"SELECT {quality_class_sql('score')} AS cls, count(*) AS n, sum(score) AS score_sum "
                  f"FROM ({quality_scores_sql('streams')}) GROUP BY 1 ORDER BY 1",
        "keys": 1, "kinds": ["str", "int", "float"],
    },
    "stream_class": {
        "function": "stream_class",
        "duckdb": f"SELECT media, {STREAM_CLASS_SQL} AS cls, count(*) AS n FROM streams GROUP BY 1, 2 ORDER BY 1, 2",
        "keys": 2, "kinds": ["str", "str", "int"],
    },
    "jurisdiction": {
        "function": "jurisdiction",
        "duckdb": f"SELECT j, count(*) AS n FROM ({jurisdiction_sql('calls')}) GROUP BY 1 ORDER BY 1",
        "keys": 1, "kinds": ["str", "int"],
    },
    "max_concurrent_tenant": {
        "function": "max_concurrent per tenant",
        "duckdb": max_concurrent_sql("calls", "tenant_id"),
        "keys": 1, "kinds": ["str", "int"],
    },
    "max_concurrent_all": {
        "function": "max_concurrent overall",
        "duckdb": max_concurrent_sql("calls"),
        "keys": 0, "kinds": ["int"],
    },
}

# ---------------------------------------------------------------------------------------------
# Python reference implementations, used only to check the DuckDB SQL on a sample.
# ---------------------------------------------------------------------------------------------


def ref_quality_score(loss, jitter, rtt, codec=DEFAULT_CODEC):
    args = (loss, jitter, rtt)
    if codec is None or any(v is None or math.isnan(v) or v < 0 for v in args) or loss > 100:
        return None
    c = CODEC_BY_KEY.get(norm_codec(codec))
    if c is None:
        return None
    ie, bpl = c
    ta = rtt / 2 + 2 * jitter
    if ta <= 100:
        idd = 0.0
    else:
        x = math.log2(ta / 100)
        idd = 25 * ((1 + x ** 6) ** (1 / 6) - 3 * (1 + (x / 3) ** 6) ** (1 / 6) + 2)
    ie_eff = ie + (95 - ie) * loss / (loss / 1 + bpl)
    r, rmax = 93.2 - idd - ie_eff, 93.2 - ie
    return min(100.0, max(0.0, 100 * r / rmax))


def ref_quality_class(score):
    if score is None:
        return None
    return "good" if score >= 91 else "marginal" if score >= 86 else "poor"


def ref_stream_class(media, deg, rtt, loss, jit, conc, floss, frate, fec, tile, alat, rowd):
    gt = lambda v, limit: v is not None and v > limit  # noqa: E731 (NULL never fires)
    if media is None:
        return None
    if media == "audio":
        if gt(deg, 1.0) or gt(rtt, 500) or gt(loss, 0.1) or gt(jit, 30) or gt(conc, 0.07):
            return "poor"
        return "unclassified" if all(v is None for v in (deg, rtt, loss, jit, conc)) else "good"
    if media in ("video", "video_screen_sharing"):
        if floss is not None:
            return "poor" if floss > 50 else "good"
        if frate is not None:
            return "poor" if frate < (2 if media == "video_screen_sharing" else 7) else "good"
        if fec is not None:
            return "poor" if fec > 0.15 else "good"
        return "unclassified"
    if media == "app_sharing":
        if gt(tile, 36) or gt(alat, 400) or gt(rowd, 1750):
            return "poor"
        return "unclassified" if all(v is None for v in (tile, alat, rowd)) else "good"
    return "unclassified"


NANP_RE = re.compile(r"\+1[0-9]{10}")


def ref_jurisdiction(calling, called, npa):
    if called is None:
        return None
    if called.startswith("+1") and not NANP_RE.fullmatch(called):
        return "indeterminate"  # a malformed NANP number is not a place
    if not NANP_RE.fullmatch(called):
        return "international"
    d = npa.get(called[2:5])
    if d is None or d["kind"] != "geographic":
        return "indeterminate"
    if (d["country"] or "") != "US":
        return "international"
    if calling is None or not NANP_RE.fullmatch(calling):
        return "indeterminate"
    o = npa.get(calling[2:5])
    if o is None or o["kind"] != "geographic" or (o["country"] or "") != "US":
        return "indeterminate"
    return "intrastate" if (o["region"] or "") == (d["region"] or "") else "interstate"


def ref_max_concurrent(intervals, ends_first=True):
    events = []
    for s, e in intervals:
        if s is None or e is None or e <= s:
            continue
        events.append((s, 1 if ends_first else -1))
        events.append((e, -1 if ends_first else 1))
    events.sort()  # at equal times -1 sorts first: ends (or, with ends_first=False, starts)
    cur = peak = 0
    for _, d in events:
        cur += d if ends_first else -d
        peak = max(peak, cur)
    return peak


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------


def load_npa(con, path):
    """Loads npa.csv into table `npa` (all text) and returns {npa: row}."""
    if not path.is_file():
        sys.exit(f"{path} not found: the NANP area-code table (columns npa,kind,region,country,location,"
                 f"status) is needed to generate calls and to compute jurisdiction; pass --npa PATH")
    con.execute(f"CREATE OR REPLACE TABLE npa AS SELECT * FROM read_csv('{path}', header = true, all_varchar = true)")
    cols = {r[0] for r in con.execute("DESCRIBE npa").fetchall()}
    missing = {"npa", "kind", "region", "country"} - cols
    if missing:
        sys.exit(f"{path}: missing columns {sorted(missing)} (has {sorted(cols)})")
    con.execute("CREATE OR REPLACE TABLE npa AS SELECT trim(npa) AS npa, trim(kind) AS kind, "
                "trim(region) AS region, trim(country) AS country FROM npa")
    dup = con.execute("SELECT npa, count(*) FROM npa GROUP BY 1 HAVING count(*) > 1 LIMIT 5").fetchall()
    if dup:
        sys.exit(f"{path}: duplicate NPAs, e.g. {dup}")
    rows = con.execute("SELECT npa, kind, region, country FROM npa").fetchall()
    return {n: {"kind": k, "region": r, "country": c} for n, k, r, c in rows}


def sql_list(values):
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def number_sql(role, cats, us_npa):
    """A CASE picking, per row, a number of one of the categories (share, SQL of the number),
    for role 'caller' or 'callee'. Shares of empty categories go to US geographic numbers."""
    sub7 = f"lpad((hash(i, '{role}-sub', {SEED}) % 10000000)::VARCHAR, 7, '0')"
    roll = f"u(i, '{role}-cat')"
    parts, acc = [], 0.0
    for share, expr in cats:
        acc += share
        parts.append(f"WHEN {roll} < {acc:.6f} THEN {expr.format(sub7=sub7, us=us_npa)}")
    return "CASE " + " ".join(parts) + f" ELSE '+1' || {us_npa} || {sub7} END"


def generate(con, data, rows, npa):
    """Writes streams.parquet and calls.parquet (about ten row groups each) into data."""
    by = lambda pred: sorted(n for n, r in npa.items() if pred(r))  # noqa: E731
    us = by(lambda r: r["kind"] == "geographic" and r["country"] == "US")
    ca = by(lambda r: r["kind"] == "geographic" and r["country"] == "CA")
    other = by(lambda r: r["kind"] == "geographic" and r["country"] not in ("US", "CA"))
    toll_free = by(lambda r: r["kind"] == "toll_free")
    non_geo = by(lambda r: r["kind"] not in ("geographic", "toll_free"))
    unknown = [n for n in ("099", "011", "100", "111", "155", "199") if n not in npa]
    if not us:
        sys.exit("npa.csv lists no geographic US area code: cannot generate calls")
    print(f"npa.csv: {len(us)} US, {len(ca)} Canadian, {len(other)} other geographic, {len(toll_free)} toll-free, "
          f"{len(non_geo)} other non-geographic area codes", flush=True)

    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"CREATE OR REPLACE MACRO u(i, k) AS hash(i, k, {SEED})::DOUBLE / 18446744073709551616.0")
    con.execute(f"CREATE OR REPLACE MACRO pick(lst, i, k) AS lst[1 + (hash(i, k, {SEED}) % len(lst))::BIGINT]")
    group = max(2048, -(-rows // 10))
    opts = f"(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {group})"

    def metric(k, expr, null):
        """expr with {u} = u(i, k), a uniform in [0, 1); NULL with probability null."""
        return f"CASE WHEN u(i, '{k}-null') < {null} THEN NULL ELSE {expr.format(u=f'u(i, {k!r})')} END"

    # (column, hash key, expression of {u}, NULL share). The audio metrics are also all NULL
    # together on 3% of rows (-> unclassified); rounding makes threshold values occur exactly.
    audio = [
        ("degradation_avg", "deg", "round(1.6 * pow({u}, 3), 2)", 0.10),
        ("rtt_avg_ms", "rtta", "round(900.0 * pow({u}, 2))", 0.10),
        ("loss_rate_avg", "lossa", "round(0.3 * pow({u}, 4), 4)", 0.10),
        ("jitter_avg_ms", "jita", "round(80.0 * pow({u}, 2), 1)", 0.10),
        ("concealed_ratio", "conc", "round(0.2 * pow({u}, 3), 4)", 0.10),
    ]
    others = [
        ("frame_loss_pct", "floss", "round(100.0 * pow({u}, 3))", 0.45),
        ("frame_rate_avg", "frate", "round(30.0 * {u}, 1)", 0.40),
        ("post_fec_loss_rate", "fec", "round(0.5 * pow({u}, 3), 3)", 0.50),
        ("spoiled_tile_pct", "tile", "round(100.0 * pow({u}, 3), 1)", 0.30),
        ("app_latency_ms", "alat", "round(1000.0 * pow({u}, 2))", 0.30),
        ("relative_one_way_delay_ms", "rowd", "round(4000.0 * pow({u}, 3))", 0.30),
    ]
    metrics = ",\n  ".join(
        [f"CASE WHEN u(i, 'audio-none') < 0.03 THEN NULL ELSE {metric(k, e, n)} END AS {c}" for c, k, e, n in audio]
        + [f"{metric(k, e, n)} AS {c}" for c, k, e, n in others])
    t0 = time.perf_counter()
    con.execute(f"""COPY (
SELECT i AS stream_id, media,
  CASE WHEN u(i, 'codec-null') < 0.005 THEN NULL
       WHEN media IS NULL OR media = 'audio' THEN pick({sql_list(AUDIO_CODECS)}, i, 'codec')
       ELSE pick({sql_list(VIDEO_CODECS)}, i, 'codec') END AS codec,
  CASE WHEN r < 0.020 THEN NULL WHEN r < 0.022 THEN 'NaN'::DOUBLE WHEN r < 0.025 THEN -1.0
       WHEN r < 0.026 THEN 150.0 WHEN r < 0.027 THEN 100.0 WHEN r < 0.300 THEN 0.0
       ELSE round(20.0 * pow(u(i, 'loss'), 4), 2) END AS loss_pct,
  CASE WHEN u(i, 'jit-bad') < 0.010 THEN NULL WHEN u(i, 'jit-bad') < 0.011 THEN 'NaN'::DOUBLE
       WHEN u(i, 'jit-bad') < 0.012 THEN -0.5 ELSE round(80.0 * pow(u(i, 'jit'), 3), 1) END AS jitter_ms,
  CASE WHEN u(i, 'rtt-bad') < 0.010 THEN NULL WHEN u(i, 'rtt-bad') < 0.011 THEN -10.0
       ELSE round(900.0 * pow(u(i, 'rtt'), 2)) END AS rtt_ms,
  {metrics}
FROM (
  SELECT i, u(i, 'loss-bad') AS r,
    CASE WHEN u(i, 'media') < 0.005 THEN NULL WHEN u(i, 'media') < 0.70 THEN 'audio'
         WHEN u(i, 'media') < 0.90 THEN 'video' WHEN u(i, 'media') < 0.95 THEN 'video_screen_sharing'
         ELSE 'app_sharing' END AS media
  FROM range({rows}) t(i)
)) TO '{data / "streams.parquet"}' {opts}""")
    print(f"streams.parquet: {rows:,} rows in {time.perf_counter() - t0:.1f} s", flush=True)

    # Numbers: category shares, then the number. {us} is the row's US geographic area code
    # (the callee's repeats the caller's on 30% of rows, so intrastate calls are common).
    common = [
        (0.07, f"'+1' || pick({sql_list(ca)}, i, '{{role}}-ca') || {{sub7}}" if ca else None),
        (0.04, f"'+1' || pick({sql_list(other)}, i, '{{role}}-other') || {{sub7}}" if other else None),
        (0.02, f"'+1' || pick({sql_list(non_geo)}, i, '{{role}}-nongeo') || {{sub7}}" if non_geo else None),
        (0.08, "pick(['+44', '+49', '+33', '+91'], i, '{role}-cc') || "
               "lpad((hash(i, '{role}-intl', %d) %% 10000000000)::VARCHAR, 10, '0')" % SEED),
        (0.03, f"'+1' || pick({sql_list(unknown)}, i, '{{role}}-unknown') || {{sub7}}" if unknown else None),
        (0.01, "'+1' || {us} || substr({sub7}, 1, 6)"),  # 9 digits after +1
        (0.01, "'+1' || {us} || {sub7} || '5'"),  # 11 digits after +1
    ]

    def cats(role, null, toll_free_share):
        out = [(null, "NULL"),
               (toll_free_share, f"'+1' || pick({sql_list(toll_free)}, i, '{role}-tf') || {{sub7}}" if toll_free else None)]
        out += [(s, e.replace("{role}", role) if e else None) for s, e in common]
        return [(s, e) for s, e in out if e is not None]

    slots = min(720, max(1, rows // 2000))
    t0 = time.perf_counter()
    con.execute(f"""COPY (
SELECT i AS call_id,
  'tenant-' || lpad((1 + floor(50 * pow(u(i, 'tenant'), 1.3)))::INT::VARCHAR, 2, '0') AS tenant_id,
  {number_sql('caller', cats('caller', 0.05, 0.05), 'caller_us')} AS caller_number,
  {number_sql('callee', cats('callee', 0.01, 0.06), 'callee_us')} AS callee_number,
  invite_time,
  CASE WHEN u(i, 'end') < 0.015 THEN NULL
       WHEN u(i, 'end') < 0.045 THEN invite_time
       WHEN u(i, 'end') < 0.050 THEN invite_time - INTERVAL 5 SECOND
       WHEN conf THEN invite_time + to_seconds(pick([1800, 3600], i, 'conf-len'))
       ELSE invite_time + to_seconds((1 + floor(3599 * pow(u(i, 'dur'), 2)))::BIGINT) END AS end_time
FROM (
  SELECT i, conf,
    pick({sql_list(us)}, i, 'caller-us') AS caller_us,
    CASE WHEN u(i, 'same-npa') < 0.3 THEN pick({sql_list(us)}, i, 'caller-us')
         ELSE pick({sql_list(us)}, i, 'callee-us') END AS callee_us,
    -- 5% are conferences starting on the hour in the first {slots} hours (about 100 or more in
    -- each), lasting 30 or 60 minutes: the hour-long ones end as the next hour's start, so the
    -- peak depends on ends going first.
    CASE WHEN u(i, 'invite-null') < 0.003 THEN NULL
         WHEN conf THEN TIMESTAMPTZ '2026-10-01 00:00:00+00'
                        + to_hours((hash(i, 'hour', {SEED}) % {slots})::BIGINT)
         ELSE TIMESTAMPTZ '2026-10-01 00:00:00+00' + to_milliseconds(
           ((hash(i, 'second', {SEED}) % 2592000) * 1000
            + CASE WHEN u(i, 'whole') < 0.5 THEN 0 ELSE hash(i, 'ms', {SEED}) % 1000 END)::BIGINT)
    END AS invite_time
  FROM (SELECT i, u(i, 'conf') < 0.05 AS conf FROM range({rows}) t(i))
)) TO '{data / "calls.parquet"}' {opts}""")
    print(f"calls.parquet: {rows:,} rows in {time.perf_counter() - t0:.1f} s", flush=True)
    for f in ("streams.parquet", "calls.parquet"):
        md = pq.ParquetFile(data / f).metadata
        print(f"  {f}: {md.num_row_groups} row groups, {(data / f).stat().st_size / 2**20:.1f} MiB", flush=True)


def generator_fingerprint():
    """Changes whenever the generated data would: the generator's code and its inputs."""
    src = "".join(inspect.getsource(f) for f in (generate, number_sql, sql_list))
    return hashlib.sha256((src + repr((SEED, AUDIO_CODECS, VIDEO_CODECS))).encode()).hexdigest()


def prepare_data(con, args, npa_path, npa):
    data = Path(args.data)
    manifest = {
        "generator_sha256": generator_fingerprint(), "seed": SEED, "rows": args.rows,
        "npa_sha256": hashlib.sha256(npa_path.read_bytes()).hexdigest(), "duckdb": duckdb.__version__,
    }
    mpath = data / "manifest.json"
    files = [data / "streams.parquet", data / "calls.parquet"]
    if all(f.is_file() for f in files) and mpath.is_file() and json.loads(mpath.read_text()) == manifest:
        print(f"data: reusing {data}", flush=True)
        return data
    data.mkdir(parents=True, exist_ok=True)
    mpath.unlink(missing_ok=True)
    generate(con, data, args.rows, npa)
    mpath.write_text(json.dumps(manifest, indent=2) + "\n")
    return data


def check_codecs_csv(con, path):
    """data/codecs.csv is what cdrlake uses: warn where it disagrees with CODECS."""
    if not path.is_file():
        print(f"note: {path} not found; cannot cross-check the codec table", flush=True)
        return
    try:
        rows = con.execute(f"SELECT codec, ie, bpl FROM read_csv('{path}', header = true, all_varchar = true)").fetchall()
    except duckdb.Error as e:
        print(f"warning: cannot read {path}: {e}", flush=True)
        return
    theirs = {norm_codec(c): (ie, bpl) for c, ie, bpl in rows if c}
    for name, _, ie, bpl in CODECS:
        t = theirs.get(norm_codec(name))
        ok = t is not None and all(v not in (None, "") and abs(float(v) - w) < 1e-9 for v, w in zip(t, (ie, bpl)))
        if not ok:
            print(f"warning: {path}: {name} is {t} (ie, bpl), the benchmark assumes ({ie}, {bpl}): "
                  f"quality answers will differ", flush=True)


# ---------------------------------------------------------------------------------------------
# Checks of the DuckDB SQL
# ---------------------------------------------------------------------------------------------

# (loss_pct, jitter_ms, rtt_ms, codec, expected score, tolerance), computed by hand.
HAND_CASES = [
    (0.0, 0.0, 0.0, DEFAULT_CODEC, 100.0, 1e-9),
    (1.0, 0.0, 0.0, DEFAULT_CODEC, 96.09459, 1e-5),  # Ie_eff = 95 / 26.1 = 3.639847, R = 89.560153
    (0.0, 0.0, 400.0, DEFAULT_CODEC, 96.7335, 1e-3),  # Ta = 200, X = 1, Idd = 3.0444 (~96.74 with Idd rounded to 3.04)
    (0.0, 0.0, 0.0, "G.729A", 100.0, 1e-9),
    (2.0, 0.0, 0.0, "G.729A", 90.2676, 1e-3),  # Ie_eff = 11 + 84 * 2 / 21 = 19, R = 74.2, Rmax = 82.2
    (1.0, 0.0, 0.0, "pcmu", 100 * (93.2 - 95 / 5.3) / 93.2, 1e-9),  # G.711 alias, Bpl 4.3
    (1.0, 0.0, 0.0, "g 711", 100 * (93.2 - 95 / 5.3) / 93.2, 1e-9),
    (2.0, 0.0, 0.0, "g_729-a", 90.2676, 1e-3),
    (100.0, 0.0, 0.0, DEFAULT_CODEC, 100 * (93.2 - 9500 / 125.1) / 93.2, 1e-9),  # loss 100 is valid
    (100.0, 80.0, 900.0, DEFAULT_CODEC, 0.0, 1e-9),  # Ta = 610, Idd = 35.7: R < 0 clamps to 0
    (None, 0.0, 0.0, DEFAULT_CODEC, None, 0),
    (float("nan"), 0.0, 0.0, DEFAULT_CODEC, None, 0),
    (0.0, -1.0, 0.0, DEFAULT_CODEC, None, 0),
    (100.5, 0.0, 0.0, DEFAULT_CODEC, None, 0),
    (0.0, 0.0, 0.0, "H.264", None, 0),
    (0.0, 0.0, 0.0, None, None, 0),
]


def check_duckdb_sql(con, npa, sample):
    """The DuckDB SQL against the hand-computed scores, then row by row against the Python
    references on the first `sample` rows of each table. Exits 1 on any difference."""
    problems = []
    con.execute("CREATE OR REPLACE TEMP TABLE hand (id INTEGER, loss_pct DOUBLE, jitter_ms DOUBLE, rtt_ms DOUBLE, codec VARCHAR)")
    con.executemany("INSERT INTO hand VALUES (?, ?, ?, ?, ?)", [(k, *c[:4]) for k, c in enumerate(HAND_CASES)])
    got = dict(con.execute(f"SELECT id, score FROM ({quality_scores_sql('hand', ['id'])})").fetchall())
    for k, (loss, jit, rtt, codec, want, tol) in enumerate(HAND_CASES):
        ref = ref_quality_score(loss, jit, rtt, codec)
        for who, v in (("DuckDB SQL", got[k]), ("Python reference", ref)):
            if (v is None) != (want is None) or (v is not None and abs(v - want) > tol):
                problems.append(f"quality_score({loss}, {jit}, {rtt}, {codec!r}): {who} {v}, expected {want}")

    q = (f"SELECT stream_id, score, {quality_class_sql('score')} FROM ("
         f"{quality_scores_sql(f'(SELECT * FROM streams WHERE stream_id < {sample})', ['stream_id'])}) ORDER BY 1")
    scores = {r[0]: r[1:] for r in con.execute(q).fetchall()}
    rows = con.execute(f"SELECT stream_id, loss_pct, jitter_ms, rtt_ms, codec, {STREAM_CLASS_ARGS}, "
                       f"{STREAM_CLASS_SQL} FROM streams WHERE stream_id < {sample} ORDER BY 1").fetchall()
    for r in rows:
        sid, loss, jit, rtt, codec, cq, cls = r[0], r[1], r[2], r[3], r[4], r[5:17], r[17]
        score, qcls = scores[sid]
        ref = ref_quality_score(loss, jit, rtt, codec)
        if (ref is None) != (score is None) or (ref is not None and abs(ref - score) > 1e-9) or qcls != ref_quality_class(ref):
            problems.append(f"stream {sid} {(loss, jit, rtt, codec)}: DuckDB {score} {qcls}, Python {ref}")
        if cls != ref_stream_class(*cq):
            problems.append(f"stream {sid} {cq}: stream_class DuckDB {cls}, Python {ref_stream_class(*cq)}")

    calls = con.execute(f"SELECT call_id, tenant_id, caller_number, callee_number, epoch_us(invite_time), "
                        f"epoch_us(end_time) FROM calls WHERE call_id < {sample} ORDER BY 1").fetchall()
    juris = dict(con.execute(f"SELECT call_id, j FROM ({jurisdiction_sql(f'(SELECT * FROM calls WHERE call_id < {sample})', ['call_id'])})").fetchall())
    for cid, _, calling, called, _, _ in calls:
        ref = ref_jurisdiction(calling, called, npa)
        if juris[cid] != ref:
            problems.append(f"call {cid} {calling} -> {called}: jurisdiction DuckDB {juris[cid]}, Python {ref}")
    per_tenant = {}
    for _, tenant, _, _, s, e in calls:
        per_tenant.setdefault(tenant, []).append((s, e))
    src = f"(SELECT * FROM calls WHERE call_id < {sample})"
    got_t = dict(con.execute(max_concurrent_sql(src, "tenant_id")).fetchall())
    want_t = {t: ref_max_concurrent(iv) for t, iv in per_tenant.items()}
    if got_t != want_t:
        diff = {t: (got_t.get(t), want_t.get(t)) for t in set(got_t) | set(want_t) if got_t.get(t) != want_t.get(t)}
        problems.append(f"max_concurrent per tenant (DuckDB, Python): {diff}")
    got_all = con.execute(max_concurrent_sql(src)).fetchall()[0][0]
    want_all = ref_max_concurrent([(s, e) for _, _, _, _, s, e in calls])
    if got_all != want_all:
        problems.append(f"max_concurrent overall: DuckDB {got_all}, Python {want_all}")
    # How much the order at equal times matters on this data: the peak with starts first.
    starts_first = ref_max_concurrent([(s, e) for _, _, _, _, s, e in calls], ends_first=False)
    if problems:
        print("The DuckDB SQL disagrees with the hand-computed values or the Python reference:", file=sys.stderr)
        for p in problems[:30]:
            print("  " + p, file=sys.stderr)
        sys.exit(1)
    print(f"check: DuckDB SQL = hand-computed scores ({len(HAND_CASES)} cases) and = Python references on "
          f"{len(rows):,} streams and {len(calls):,} calls (overall peak {want_all}, {starts_first} if starts went before ends)",
          flush=True)


def check_coverage(con, answers):
    """Warns when the data does not make every rule's outcome occur."""
    want = {
        "quality": {(c,) for c in ("good", "marginal", "poor", None)},
        "stream_class": {(m, c) for m in ("audio", "video", "video_screen_sharing", "app_sharing")
                         for c in ("good", "poor", "unclassified")} | {(None, None)},
        "jurisdiction": {(c,) for c in ("intrastate", "interstate", "indeterminate", "international", None)},
    }
    for name, keys in want.items():
        have = {tuple(r[:QUERIES[name]["keys"]]) for r in answers[name]}
        if keys - have:
            print(f"warning: {name}: the data has no rows for {sorted(keys - have, key=str)}", flush=True)
    peak = answers["max_concurrent_all"][0][0]
    starts_first = con.execute(max_concurrent_sql("calls", ends_first=False)).fetchall()[0][0]
    print(f"max_concurrent overall: {peak} ({starts_first} if starts went before ends at equal times)", flush=True)
    if starts_first == peak:
        print("warning: max_concurrent: the data does not exercise the order of ends and starts at equal times", flush=True)


# ---------------------------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------------------------


def time_duckdb(con, runs):
    out = {}
    for name, spec in QUERIES.items():
        rows = con.execute(spec["duckdb"]).fetchall()  # warm-up
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            con.execute(spec["duckdb"]).fetchall()
            times.append((time.perf_counter() - t0) * 1000)
        out[name] = {"runs_ms": times, "median_ms": statistics.median(times), "min_ms": min(times),
                     "rows": [list(r) for r in rows]}
        print(f"duckdb  {name:<22} median {out[name]['median_ms']:9.1f} ms  min {out[name]['min_ms']:9.1f} ms", flush=True)
    return out


def find_rust_bench(debug=False):
    """Builds the Rust bench and returns its executable: the bench (release) profile, or with
    debug=True the test (debug) profile, which times nothing worth reading but checks answers."""
    env = {**os.environ}
    env.setdefault("CARGO_TARGET_DIR", str(Path.home() / ".cache/cdrlake/target"))  # as scripts/test
    verb = "test" if debug else "bench"
    cmd = ["cargo", verb, "-p", "cdrlake-functions", "--bench", "udfs", "--no-run", "--message-format=json"]
    slow = "" if debug else "; a first release build takes half an hour on 2 cores"
    print(f"building the cdrlake bench: {' '.join(cmd)} (CARGO_TARGET_DIR={env['CARGO_TARGET_DIR']}{slow})",
          flush=True)
    p = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    exe = None
    for line in p.stdout.splitlines():
        try:
            msg = json.loads(line)
        except json.JSONDecodeError:
            continue
        if msg.get("reason") == "compiler-artifact" and msg.get("target", {}).get("name") == "udfs" and msg.get("executable"):
            exe = msg["executable"]
    if p.returncode != 0 or exe is None:
        sys.exit(f"cargo {verb} --no-run failed (exit {p.returncode}) or named no udfs executable")
    return exe


def run_rust(exe, data, threads, runs):
    cmd = [exe, "--data", str(data), "--threads", str(threads), "--runs", str(runs)]
    print(f"running {' '.join(cmd)}", flush=True)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)  # progress on stderr passes through
    if p.returncode != 0:
        sys.exit(f"the cdrlake bench failed (exit {p.returncode})")
    try:
        out = json.loads(p.stdout)
        out["queries"]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        sys.exit(f"the cdrlake bench printed no valid JSON ({e}): {p.stdout[:2000]}")
    for name, q in out["queries"].items():
        print(f"cdrlake {name:<22} median {q['median_ms']:9.1f} ms  min {q['min_ms']:9.1f} ms", flush=True)
    return out


def typed(row, kinds):
    """A result row as Python values: DuckDB's as they come, cdrlake's strings parsed."""
    conv = {"str": str, "int": int, "float": float}
    return tuple(None if v is None else conv[k](v) for v, k in zip(row, kinds))


def same_value(a, b, kind):
    if a is None or b is None:
        return a is None and b is None
    if kind == "float":
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return abs(a - b) <= 1e-6 * max(abs(a), abs(b))
    return a == b


def compare(duck, rust):
    """Returns {query: [problems]} for every query whose answers differ."""
    bad = {}
    for name, spec in QUERIES.items():
        problems = []
        if name not in rust:
            bad[name] = ["cdrlake did not run this query"]
            continue
        kinds, nk = spec["kinds"], spec["keys"]
        d = [typed(r, kinds) for r in duck[name]["rows"]]
        try:
            c = [typed(r, kinds) for r in rust[name]["rows"]]
        except (ValueError, TypeError) as e:
            bad[name] = [f"cdrlake's rows do not parse as {kinds}: {e}"]
            continue
        if any(len(r) != len(kinds) for r in rust[name]["rows"]):
            problems.append(f"cdrlake's rows do not have {len(kinds)} columns")
        dk, ck = {r[:nk]: r for r in d}, {r[:nk]: r for r in c}
        if len(dk) != len(d) or len(ck) != len(c):
            problems.append("duplicate keys")
        for k in sorted(set(dk) | set(ck), key=str):
            a, b = dk.get(k), ck.get(k)
            if a is None or b is None:
                problems.append(f"{k}: only in {'cdrlake' if a is None else 'DuckDB'}")
            elif not all(same_value(x, y, kind) for x, y, kind in zip(a, b, kinds)):
                problems.append(f"{k}: DuckDB {a[nk:]} vs cdrlake {b[nk:]}")
        if problems:
            bad[name] = problems
    return bad


def print_answer(title, rows, file=sys.stdout):
    print(f"  {title}:", file=file)
    for r in rows:
        print("    " + " | ".join("NULL" if v is None else str(v) for v in r), file=file)


def machine_info():
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "unknown")
    mem = next((int(line.split()[1]) // 1024 for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")), None)
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    except OSError:
        commit = None
    return {"nproc": len(os.sched_getaffinity(0)), "cpu": cpu, "mem_mib": mem, "python": platform.python_version(),
            "duckdb": duckdb.__version__, "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "git_commit": commit}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, help=f"rows per table (default 10,000,000; {QUICK_ROWS:,} with --quick)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, help="timed runs after one warm-up (default 5; 1 with --quick)")
    ap.add_argument("--quick", action="store_true", help="a tiny CI-sized run")
    ap.add_argument("--data", help="data folder (default benches/data/functions-ROWS)")
    ap.add_argument("--npa", default=str(ROOT / "data" / "nanp" / "npa.csv"), help="NANP area-code table")
    ap.add_argument("--codecs", default=str(ROOT / "data" / "codecs.csv"), help="cross-checked against the built-in codecs")
    ap.add_argument("--check-rows", type=int, default=20_000, help="rows checked against the Python references")
    ap.add_argument("--cdrlake-bench", help="the udfs bench executable (default: built with cargo bench --no-run)")
    ap.add_argument("--debug-build", action="store_true",
                    help="build the bench in the debug (test) profile: quick to build, checks answers, timings meaningless")
    ap.add_argument("--duckdb-only", action="store_true", help="generate, check and time DuckDB; skip cdrlake")
    ap.add_argument("--json", help="raw results (default benches/results/functions.json; with --quick, in the data folder)")
    args = ap.parse_args()
    args.rows = args.rows or (QUICK_ROWS if args.quick else 10_000_000)
    args.runs = args.runs or (1 if args.quick else 5)
    args.data = args.data or str(ROOT / "benches" / "data" / f"functions-{args.rows}")
    if args.json is None:
        args.json = str(Path(args.data) / "functions.json") if args.quick else str(ROOT / "benches" / "results" / "functions.json")
    if args.rows < 1 or args.threads < 1 or args.runs < 1:
        sys.exit("--rows, --threads and --runs must be positive")

    npa_path = Path(args.npa).resolve()
    if npa_path != (ROOT / "data" / "nanp" / "npa.csv").resolve() and not args.duckdb_only:
        print(f"warning: --npa {npa_path} is not data/nanp/npa.csv, which cdrlake uses: jurisdiction answers "
              f"may differ", flush=True)
    con = duckdb.connect()
    con.execute(f"SET threads = {args.threads}")
    npa = load_npa(con, npa_path)
    data = prepare_data(con, args, npa_path, npa)
    con.execute("CREATE OR REPLACE TABLE codec_alias (key VARCHAR, ie DOUBLE, bpl DOUBLE)")
    con.executemany("INSERT INTO codec_alias VALUES (?, ?, ?)", [(k, ie, bpl) for k, (ie, bpl) in CODEC_BY_KEY.items()])
    check_codecs_csv(con, Path(args.codecs))
    for t in ("streams", "calls"):
        con.execute(f"CREATE OR REPLACE VIEW {t} AS SELECT * FROM read_parquet('{data / (t + '.parquet')}')")
    check_duckdb_sql(con, npa, args.check_rows)

    print(f"timing: {args.rows:,} rows, {args.threads} threads, 1 warm-up + {args.runs} timed run(s)", flush=True)
    duck = time_duckdb(con, args.runs)
    check_coverage(con, {n: q["rows"] for n, q in duck.items()})
    con.close()
    if args.duckdb_only:
        for name, q in duck.items():
            print_answer(f"{name} (DuckDB)", q["rows"])
        return

    exe = args.cdrlake_bench or find_rust_bench(debug=args.debug_build)
    rust = run_rust(exe, data, args.threads, args.runs)
    bad = compare(duck, rust["queries"])
    if bad:
        print("\nMISMATCH between cdrlake and DuckDB:", file=sys.stderr)
        for name, problems in bad.items():
            print(f"\n{name} ({QUERIES[name]['function']}):", file=sys.stderr)
            for p in problems[:20]:
                print(f"  {p}", file=sys.stderr)
            print_answer("DuckDB", duck[name]["rows"], sys.stderr)
            print_answer("cdrlake", rust["queries"].get(name, {}).get("rows", []), sys.stderr)
        sys.exit(1)
    print("answers: cdrlake = DuckDB for every query", flush=True)

    ratio = {n: rust["queries"][n]["median_ms"] / duck[n]["median_ms"] for n in QUERIES}
    print("\n| function | cdrlake median ms | DuckDB median ms | ratio cdrlake/DuckDB |")
    print("|---|---|---|---|")
    for n, spec in QUERIES.items():
        print(f"| {spec['function']} | {rust['queries'][n]['median_ms']:.1f} | {duck[n]['median_ms']:.1f} | "
              f"**{ratio[n]:.2f}x** |")
    print(f"\n{args.rows:,} rows per table, {args.threads} threads, {args.runs} timed run(s); min ms cdrlake / DuckDB: "
          + ", ".join(f"{n} {rust['queries'][n]['min_ms']:.1f} / {duck[n]['min_ms']:.1f}" for n in QUERIES))

    machine = machine_info()
    machine["datafusion"] = rust.get("datafusion_version")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({
        "machine": machine, "rows": args.rows, "threads": args.threads, "runs": args.runs, "data": str(data),
        "queries": {n: {"function": s["function"], "duckdb_sql": s["duckdb"]} for n, s in QUERIES.items()},
        "duckdb": duck, "cdrlake": rust["queries"], "ratio_median": ratio,
    }, indent=2) + "\n")
    print(f"raw results: {args.json}")


if __name__ == "__main__":
    main()
