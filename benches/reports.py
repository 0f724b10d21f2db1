#!/usr/bin/env python3
"""Reports benchmark: every report over a generated lake (10 M calls by default) in cdrlake,
against DuckDB running the independent implementation of the same report
(tests/reports/duckdb/<name>.py, the one the report tests check cdrlake against) on the same
Parquet files, in the same run.

Usage (from the repository root; needs a release build and the test venv's duckdb):
    cargo build --release --bin cdrlake
    ~/.cache/cdrlake/venv/bin/python benches/reports.py --calls 10000000 --runs 5

cdrlake runs each report with `cdrlake query --repeat N` (one session; each run plans and
executes the report and collects every row; opening the lake is not timed). DuckDB reads the
Delta tables' Parquet files directly (read_parquet with hive partitioning: a freshly ingested
Delta table has no removed files, so the file set is the table) and each run executes the
report's implementation, fetching every row; opening views is not timed. Both use --threads.
Reports whose DuckDB implementation calls a Python function per row (marked in the output) are
timed but their ratio is not a fair comparison. The table gives medians and cdrlake / DuckDB.
"""

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
IMPLS = ROOT / "tests" / "reports" / "duckdb"
TABLES = ["tenants", "teams", "users", "numbers", "calls", "streams", "messages", "registrations"]


def run(cmd, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if p.returncode not in (0, 3):
        sys.exit(f"{' '.join(map(str, cmd[:6]))} ... failed ({p.returncode}): {p.stderr[-3000:]}")
    return p


def prepare(args, work: Path) -> Path:
    store = work / f"lake-{args.calls}"
    marker = store / "bench-ready.json"
    if marker.exists():
        return store
    shutil.rmtree(store, ignore_errors=True)
    t0 = time.perf_counter()
    run([args.binary, "--store", str(store), "--threads", str(args.threads), "generate",
         "--calls", str(args.calls), "--days", str(args.days), "--tenants", str(args.tenants), "--json"])
    t1 = time.perf_counter()
    run([args.binary, "--store", str(store), "--threads", str(args.threads), "ingest", "--json"])
    t2 = time.perf_counter()
    shutil.rmtree(store / "landing", ignore_errors=True)
    marker.write_text(json.dumps({"calls": args.calls, "generate_s": t1 - t0, "ingest_s": t2 - t1}))
    print(f"generated in {t1 - t0:.0f} s, ingested in {t2 - t1:.0f} s", flush=True)
    return store


def duck(store: Path, threads: int) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    con.execute("SET TimeZone = 'UTC'")
    for t in TABLES:
        files = list((store / "tables" / t).rglob("*.parquet"))
        if not files:
            continue
        con.execute(f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{store}/tables/{t}/**/*.parquet', hive_partitioning = true)")
    return con


def load_impl(name):
    spec = importlib.util.spec_from_file_location(f"impl_{name}", IMPLS / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(IMPLS))
    spec.loader.exec_module(mod)
    return mod


def sql_literal(v):
    return "NULL" if v is None else "'" + str(v).replace("'", "''") + "'"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=10_000_000)
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--tenants", type=int, default=40)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", help="comma-separated report names")
    ap.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "cdrlake-bench"))
    target = os.environ.get("CARGO_TARGET_DIR", str(Path.home() / ".cache/cdrlake/target"))
    ap.add_argument("--binary", default=str(Path(target) / "release" / "cdrlake"))
    ap.add_argument("--json", default=str(ROOT / "benches" / "results" / "reports.json"))
    args = ap.parse_args()

    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    store = prepare(args, work)
    con = duck(store, args.threads)
    lo, hi = con.execute("SELECT CAST(min(invite_time) AT TIME ZONE 'UTC' AS TIMESTAMP), CAST(max(invite_time) AT TIME ZONE 'UTC' AS TIMESTAMP) FROM calls").fetchone()
    calls = con.execute("SELECT count(*) FROM calls").fetchone()[0]
    # The whole generated period (local dates), and its last week for dashboard-sized asks.
    period = {"from": lo.date().isoformat(), "to": hi.date().isoformat()}
    import datetime as _dt
    period["week_from"] = (hi.date() - _dt.timedelta(days=7)).isoformat()
    period["number"] = con.execute(
        "SELECT callee_number FROM calls WHERE callee_number IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC LIMIT 1").fetchone()[0]
    period["call_id"] = con.execute("SELECT call_id FROM streams LIMIT 1").fetchone()[0]
    catalog = [json.loads(line) for line in run([args.binary, "report", "list", "--json"]).stdout.splitlines()]
    cases = json.loads((ROOT / "benches" / "reports-cases.json").read_text())
    cases.pop("_comment", None)
    only = set(args.only.split(",")) if args.only else None
    results = []
    for rep in catalog:
        name = rep["name"]
        if only and name not in only:
            continue
        case_args = dict(cases.get(name, {}))
        for k, v in list(case_args.items()):
            if isinstance(v, str) and v.startswith("$"):
                case_args[k] = period[v[1:]]
        if not (IMPLS / f"{name}.py").exists():
            print(f"{name}: no DuckDB implementation, skipped", flush=True)
            continue
        values = []
        for p in rep["parameters"]:
            values.append(case_args.get(p["name"], case_args.get(f"param:{p['name']}")))
        while values and values[-1] is None:
            values.pop()
        sql = f"SELECT * FROM reports.{name}({', '.join(sql_literal(v) for v in values)})"
        p = run([args.binary, "--store", str(store), "--threads", str(args.threads), "query",
                 "--repeat", str(args.runs), "--format", "csv", "--output", os.devnull, sql])
        ours = json.loads(p.stderr.strip().splitlines()[-1])
        impl = load_impl(name)
        theirs = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            cols, rows = impl.run(con.cursor(), case_args)
            theirs.append(time.perf_counter() - t0)
        python_udf = "create_function" in (IMPLS / f"{name}.py").read_text()
        r = {
            "report": name, "sql": sql, "cdrlake_s": ours["runs_s"], "duckdb_s": theirs,
            "cdrlake_rows": ours["rows"], "duckdb_rows": len(rows), "duckdb_python_udf": python_udf,
            "cdrlake_median_s": statistics.median(ours["runs_s"]),
            "duckdb_median_s": statistics.median(theirs),
        }
        r["ratio"] = r["cdrlake_median_s"] / r["duckdb_median_s"]
        results.append(r)
        flag = " (DuckDB side uses a Python UDF)" if python_udf else ""
        same = "" if r["cdrlake_rows"] == r["duckdb_rows"] else f"  ROW COUNTS DIFFER {r['cdrlake_rows']} vs {r['duckdb_rows']}"
        print(f"{name:<26} cdrlake {r['cdrlake_median_s']:8.3f} s  duckdb {r['duckdb_median_s']:8.3f} s  "
              f"ratio {r['ratio']:5.2f}x{flag}{same}", flush=True)

    print(f"\n{calls:,} calls, {args.threads} threads, {args.runs} runs, medians; ratio = cdrlake / DuckDB (lower is better for cdrlake)\n")
    print("| report | cdrlake s | DuckDB s | ratio | rows |")
    print("|---|---|---|---|---|")
    for r in results:
        note = " (Python UDF in DuckDB)" if r["duckdb_python_udf"] else ""
        print(f"| {r['report']} | {r['cdrlake_median_s']:.3f} | {r['duckdb_median_s']:.3f} | {r['ratio']:.2f}x{note} | {r['cdrlake_rows']} |")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({"calls": calls, "threads": args.threads, "runs": args.runs,
                                           "period": period, "results": results}, indent=2))


if __name__ == "__main__":
    main()
