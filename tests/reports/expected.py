#!/usr/bin/env python3
"""Computes the expected output of every report test case with DuckDB, independently of
cdrlake: the fixture CSVs (tests/reports/fixture) are loaded into DuckDB, and each report is
re-implemented from its documented header (not from its SQL) in tests/reports/duckdb/<name>.py,
whose `run(con, args)` returns (columns, rows). Domain functions come from the Python
reference implementations in benches/functions.py and tests/reports/duckdb/_ref.py.

    python tests/reports/expected.py            # (re)writes tests/reports/expected/*.csv
    python tests/reports/expected.py --check    # recomputes and fails on any difference
    python tests/reports/expected.py --case breakout__march   # one case, printed

The CSV format: a header, then rows; NULL is empty, floats as repr (Python's shortest
round-trip), decimals as plain text, timestamps ISO 8601 without zone, dates YYYY-MM-DD,
booleans true/false, lists as JSON.
"""

import argparse
import csv
import datetime as dt
import decimal
import importlib.util
import io
import json
import sys
from pathlib import Path

import duckdb

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
FIXTURE = HERE / "fixture"
CASES = HERE / "cases"
EXPECTED = HERE / "expected"
IMPLS = HERE / "duckdb"

# Column types of the fixture tables, from docs/schema.md (DuckDB types).
TYPES = {
    "tenants": {"licenses": "INTEGER", "retention_days": "INTEGER"},
    "teams": {},
    "users": {"enabled": "BOOLEAN", "features": "VARCHAR[]"},
    "numbers": {},
    "calls": {
        "invite_time": "TIMESTAMPTZ", "answer_time": "TIMESTAMPTZ", "end_time": "TIMESTAMPTZ",
        "duration_s": "BIGINT", "billable_s": "BIGINT", "pdd_ms": "BIGINT", "sip_code": "INTEGER",
        "q850_cause": "INTEGER", "voicemail": "BOOLEAN", "is_pstn": "BOOLEAN",
        "latitude": "DOUBLE", "longitude": "DOUBLE", "dtmf_digits": "INTEGER",
        "customer_rate": "DECIMAL(18,6)", "customer_first_increment_s": "INTEGER",
        "customer_next_increment_s": "INTEGER", "customer_charge": "DECIMAL(18,6)",
        "provider_rate": "DECIMAL(18,6)", "provider_first_increment_s": "INTEGER",
        "provider_next_increment_s": "INTEGER", "provider_cost": "DECIMAL(18,6)",
        "user_rating": "INTEGER",
    },
    "streams": {
        "stream_id": "INTEGER", "start_time": "TIMESTAMPTZ", "duration_s": "BIGINT",
        "packets_sent": "BIGINT", "packets_received": "BIGINT", "packets_lost": "BIGINT",
        "loss_rate_avg": "DOUBLE", "loss_rate_max": "DOUBLE", "jitter_avg_ms": "DOUBLE",
        "jitter_max_ms": "DOUBLE", "rtt_avg_ms": "DOUBLE", "rtt_max_ms": "DOUBLE",
        "concealed_ratio": "DOUBLE", "degradation_avg": "DOUBLE", "mos_avg": "DOUBLE",
        "mos_min": "DOUBLE", "frame_rate_avg": "DOUBLE", "frame_loss_pct": "DOUBLE",
        "post_fec_loss_rate": "DOUBLE", "spoiled_tile_pct": "DOUBLE", "app_latency_ms": "DOUBLE",
        "relative_one_way_delay_ms": "DOUBLE", "lost_per_minute": "INTEGER[]",
    },
    "messages": {"participants": "INTEGER", "start_time": "TIMESTAMPTZ", "end_time": "TIMESTAMPTZ",
                 "message_count": "INTEGER"},
    "registrations": {"event_time": "TIMESTAMPTZ", "success": "BOOLEAN"},
}


def connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for table, types in TYPES.items():
        path = FIXTURE / f"{table}.csv"
        header = next(csv.reader(path.open()))
        cols = ", ".join(f"'{c}': '{'VARCHAR' if types.get(c, 'VARCHAR').endswith('[]') else types.get(c, 'VARCHAR')}'" for c in header)
        con.execute(f"CREATE TABLE raw_{table} AS SELECT * FROM read_csv('{path}', header=true, columns={{{cols}}})")
        select = []
        for c in header:
            t = types.get(c, "VARCHAR")
            if t.endswith("[]"):
                select.append(f"CAST(json({c}) AS {t}) AS {c}")
            else:
                select.append(c)
        con.execute(f"CREATE TABLE {table} AS SELECT {', '.join(select)} FROM raw_{table}")
        con.execute(f"DROP TABLE raw_{table}")
    return con


def load_impl(report: str):
    path = IMPLS / f"{report}.py"
    if not path.exists():
        return None
    spec = importlib.util.spec_from_file_location(f"impl_{report}", path)
    mod = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(IMPLS))
    spec.loader.exec_module(mod)
    return mod


def fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, decimal.Decimal):
        return format(v, "f")
    if isinstance(v, dt.datetime):
        return v.replace(tzinfo=None).isoformat()
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, list | tuple):
        return json.dumps(list(v), default=str)
    return str(v)


def render(columns, rows) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow([fmt(v) for v in r])
    return buf.getvalue()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="compare with the checked-in files, write nothing")
    ap.add_argument("--case", help="compute and print this case only")
    a = ap.parse_args()
    con = connect()
    cases = []
    for f in sorted(CASES.glob("*.json")):
        cases.extend(json.loads(f.read_text()))
    problems = 0
    for case in cases:
        if a.case and case["case"] != a.case:
            continue
        impl = load_impl(case["report"])
        if impl is None:
            print(f"missing: no DuckDB implementation tests/reports/duckdb/{case['report']}.py")
            problems += 1
            continue
        columns, rows = impl.run(con.cursor(), case["args"])
        text = render(columns, rows)
        target = EXPECTED / f"{case['case']}.csv"
        if a.case:
            print(text, end="")
        elif a.check:
            if not target.exists() or target.read_text() != text:
                print(f"differs: {target.relative_to(ROOT)} is not what DuckDB computes now")
                problems += 1
        else:
            EXPECTED.mkdir(exist_ok=True)
            target.write_text(text)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
