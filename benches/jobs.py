#!/usr/bin/env python3
"""Batch-jobs benchmark (issue: compaction, rollups): on a lake of N calls (10 M by default)
landed as many small files,

1. query time before and after `cdrlake compact` (ratio), same queries, same binary;
2. compaction throughput (rows/s) of `cdrlake compact --table calls` against DuckDB rewriting
   the same Parquet files sorted (tenant, time) into partitioned zstd Parquet, same thread count;
3. the dashboard reports that read rollups (v2) against the same reports from raw rows (v1),
   over the last 30 days of the data, after every table was compacted.

Usage (from the repository root; needs a release build and the test venv's duckdb):
    cargo build --release --bin cdrlake
    ~/.cache/cdrlake/venv/bin/python benches/jobs.py --calls 10000000 --runs 5

The small-file lake is generated once (`generate --files-per-day 24`, `ingest
--files-per-commit 4`) and kept under --workdir; every run works on a fresh copy of it.
Queries run with `cdrlake query --repeat N` (one session; opening the lake is not timed).
The rollup and raw versions of each report must return the same rows, or the run fails.
"""

import argparse
import datetime as dt
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
from deltalake import DeltaTable

ROOT = Path(__file__).resolve().parents[1]
DASHBOARDS = ["end_reasons", "team_hourly_volume", "usage_by_tenant", "summary_weekly", "time_of_day_heatmap", "team_stats",
              "active_calls_over_time"]
# Reports with one version whose raw and rollup forms differ by a session setting: raw = the setting.
RAW_SETTING = {"active_calls_over_time": "cdrlake.concurrency_use_rollup=false"}


def run(cmd, ok=(0, 3), **kw):
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    if p.returncode not in ok:
        sys.exit(f"{' '.join(map(str, cmd[:8]))} ... failed ({p.returncode}): {p.stderr[-3000:]}")
    return p


def prepare(args, work: Path) -> Path:
    store = work / f"smallfiles-{args.calls}"
    marker = store / "bench-ready.json"
    if marker.exists():
        return store
    shutil.rmtree(store, ignore_errors=True)
    t0 = time.perf_counter()
    run([args.binary, "--store", store, "--threads", args.threads, "generate", "--calls", args.calls,
         "--days", args.days, "--tenants", args.tenants, "--files-per-day", args.files_per_day, "--json"])
    t1 = time.perf_counter()
    run([args.binary, "--store", store, "--threads", args.threads, "ingest", "--files-per-commit",
         args.files_per_commit, "--json"])
    t2 = time.perf_counter()
    shutil.rmtree(store / "landing", ignore_errors=True)
    marker.write_text(json.dumps({"calls": args.calls, "generate_s": t1 - t0, "ingest_s": t2 - t1}))
    print(f"generated in {t1 - t0:.0f} s, ingested in {t2 - t1:.0f} s", flush=True)
    return store


def timed_query(args, store: Path, sql: str, settings: tuple[str, ...] = ()) -> dict:
    sets = [a for s in settings for a in ("--set", s)]
    p = run([args.binary, "--store", store, "--threads", args.threads, "query", "--repeat", args.runs,
             "--format", "csv", "--output", os.devnull, *sets, sql])
    r = json.loads(p.stderr.strip().splitlines()[-1])
    return {"runs_s": r["runs_s"], "rows": r["rows"], "median_s": statistics.median(r["runs_s"])}


def query_rows(args, store: Path, sql: str, settings: tuple[str, ...] = ()) -> list[str]:
    """The answer's CSV lines, sorted (group-by output order is not defined)."""
    sets = [a for s in settings for a in ("--set", s)]
    out = run([args.binary, "--store", store, "--threads", args.threads, "query", "--format", "csv", *sets, sql]).stdout
    return sorted(out.splitlines())


def data_files(store: Path, table: str) -> list[Path]:
    return sorted((store / "tables" / table).rglob("*.parquet"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=10_000_000)
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--tenants", type=int, default=40)
    ap.add_argument("--files-per-day", type=int, default=24)
    ap.add_argument("--files-per-commit", type=int, default=4)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "cdrlake-bench"))
    target = os.environ.get("CARGO_TARGET_DIR", str(Path.home() / ".cache/cdrlake/target"))
    ap.add_argument("--binary", default=str(Path(target) / "release" / "cdrlake"))
    ap.add_argument("--out", default=str(ROOT / "benches" / "results" / "jobs.json"))
    args = ap.parse_args()

    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    pristine = prepare(args, work)
    store = work / f"jobs-run-{args.calls}"
    shutil.rmtree(store, ignore_errors=True)
    shutil.copytree(pristine, store)

    con = duckdb.connect()
    con.execute(f"SET threads = {args.threads}")
    con.execute("SET TimeZone = 'UTC'")
    glob = f"{pristine}/tables/calls/event_date=*/*.parquet"
    lo, hi, calls = con.execute(
        f"SELECT CAST(min(invite_time) AT TIME ZONE 'UTC' AS TIMESTAMP), CAST(max(invite_time) AT TIME ZONE 'UTC' AS TIMESTAMP), count(*) "
        f"FROM read_parquet('{glob}', hive_partitioning = true)").fetchone()
    tenant, number = con.execute(
        f"SELECT tenant_id, callee_number FROM read_parquet('{glob}') WHERE callee_number IS NOT NULL "
        f"GROUP BY 1, 2 ORDER BY count(*) DESC LIMIT 1").fetchone()
    month_from = (hi.date() - dt.timedelta(days=30)).isoformat()
    month_to = hi.date().isoformat()
    day = (hi.date() - dt.timedelta(days=3)).isoformat()
    day_to = (hi.date() - dt.timedelta(days=2)).isoformat()
    queries = {
        "count_minmax": "SELECT count(*), min(invite_time), max(invite_time) FROM calls",
        "breakout_month": f"SELECT customer, provider, count(*) AS attempts, count(*) FILTER (WHERE disposition = 'answered') AS answered, sum(customer_charge) AS charge, sum(provider_cost) AS cost FROM calls WHERE invite_time >= '{month_from}' AND invite_time < '{month_to}' GROUP BY 1, 2",
        "one_tenant_one_day": f"SELECT disposition, count(*), sum(billable_s) FROM calls WHERE tenant_id = '{tenant}' AND invite_time >= '{day}' AND invite_time < '{day_to}' GROUP BY 1",
        "one_number": f"SELECT * FROM calls WHERE caller_number = '{number}' OR callee_number = '{number}'",
        "top_talkers": "SELECT caller_number, sum(billable_s) AS s FROM calls GROUP BY 1 ORDER BY s DESC LIMIT 20",
    }
    files_before = len(data_files(store, "calls"))
    results = {"calls": calls, "threads": args.threads, "runs": args.runs,
               "files_per_day": args.files_per_day, "files_per_commit": args.files_per_commit,
               "calls_files_before": files_before}

    print(f"{calls} calls, {files_before} data files in calls before compaction", flush=True)
    before = {name: timed_query(args, store, sql) for name, sql in queries.items()}
    answers_before = {name: query_rows(args, store, sql) for name, sql in queries.items() if name != "one_number"}

    # Compaction of calls, timed as the command's own summary reports it.
    p = run([args.binary, "--store", store, "--threads", args.threads, "compact", "--table", "calls",
             "--no-rollups", "--json"])
    ours = json.loads(p.stdout)
    results["compact"] = {k: ours[k] for k in ("files_in", "files_out", "bytes_in", "bytes_out", "rows", "seconds", "rows_per_second")}
    results["calls_files_after"] = len(DeltaTable(str(store / "tables" / "calls")).file_uris())

    # DuckDB rewriting the same files sorted into partitioned Parquet.
    out = work / "duckdb-rewrite"
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    con.execute(
        f"COPY (SELECT * FROM read_parquet('{glob}', hive_partitioning = true) ORDER BY event_date, tenant_id, invite_time) "
        f"TO '{out}' (FORMAT parquet, PARTITION_BY (event_date), COMPRESSION zstd, ROW_GROUP_SIZE 131072)")
    duck_s = time.perf_counter() - t0
    results["duckdb_rewrite"] = {"rows": calls, "seconds": duck_s, "rows_per_second": calls / duck_s,
                                 "bytes_out": sum(f.stat().st_size for f in out.rglob("*.parquet"))}
    shutil.rmtree(out, ignore_errors=True)

    after = {name: timed_query(args, store, sql) for name, sql in queries.items()}
    for name, text in answers_before.items():
        if query_rows(args, store, queries[name]) != text and name != "top_talkers":
            sys.exit(f"{name}: different answer after compaction")
    results["queries"] = [
        {"query": name, "sql": queries[name], "before_median_s": before[name]["median_s"],
         "after_median_s": after[name]["median_s"], "before_s": before[name]["runs_s"], "after_s": after[name]["runs_s"],
         "rows": after[name]["rows"], "ratio_after_to_before": after[name]["median_s"] / before[name]["median_s"]}
        for name in queries
    ]

    # The other tables compacted too (untimed), as a scheduled `cdrlake compact` leaves them.
    run([args.binary, "--store", store, "--threads", args.threads, "compact", "--no-rollups", "--json"])
    # Rollups: refresh them in full (timed), then v1 (raw) against v2 (rollups) of each dashboard.
    t0 = time.perf_counter()
    run([args.binary, "--store", store, "--threads", args.threads, "rollup", "refresh", "--full", "--json"])
    results["rollup_refresh_full_s"] = time.perf_counter() - t0
    v = run([args.binary, "--store", store, "rollup", "verify", "--json"], ok=(0,))
    results["rollup_verify"] = json.loads(v.stdout)["rollups"]
    dash = []
    for name in DASHBOARDS:
        # time_of_day_heatmap takes only the end of its window (4 weeks by default).
        period = f"'{month_to}'" if name == "time_of_day_heatmap" else f"'{month_from}', '{month_to}'"
        if name in RAW_SETTING:
            sql = f"SELECT * FROM reports.{name}({period})"
            sqls, raw_sets = {1: sql, 2: sql}, (RAW_SETTING[name],)
        else:
            sqls, raw_sets = {ver: f"SELECT * FROM reports.{name}_v{ver}({period})" for ver in (1, 2)}, ()
        if query_rows(args, store, sqls[1], raw_sets) != query_rows(args, store, sqls[2]):
            sys.exit(f"{name}: raw and rollups differ")
        raw = timed_query(args, store, sqls[1], raw_sets)
        rolled = timed_query(args, store, sqls[2])
        dash.append({"report": name, "period": [month_from, month_to], "raw_median_s": raw["median_s"],
                     "rollup_median_s": rolled["median_s"], "raw_s": raw["runs_s"], "rollup_s": rolled["runs_s"],
                     "rows": rolled["rows"], "speedup": raw["median_s"] / rolled["median_s"]})
    results["dashboards"] = dash
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    shutil.rmtree(store, ignore_errors=True)

    print(f"\nQuery time on {calls:,} calls, {files_before} small files -> {results['calls_files_after']} after compaction "
          f"({args.threads} threads, {args.runs} runs, medians):\n")
    print("| query | before (s) | after (s) | after / before |\n|---|---:|---:|---:|")
    for q in results["queries"]:
        print(f"| `{q['query']}` | {q['before_median_s']:.3f} | {q['after_median_s']:.3f} | **{q['ratio_after_to_before']:.2f}x** |")
    c, d = results["compact"], results["duckdb_rewrite"]
    print(f"\nCompaction of calls: cdrlake {c['rows_per_second']:,.0f} rows/s ({c['seconds']:.1f} s, {c['files_in']} -> {c['files_out']} files), "
          f"DuckDB COPY sorted {d['rows_per_second']:,.0f} rows/s ({d['seconds']:.1f} s): "
          f"cdrlake / DuckDB throughput **{c['rows_per_second'] / d['rows_per_second']:.2f}x**")
    print(f"\nDashboards over 30 days (rollup refresh --full: {results['rollup_refresh_full_s']:.1f} s):\n")
    print("| report | raw v1 (s) | rollups v2 (s) | speedup |\n|---|---:|---:|---:|")
    for r in dash:
        print(f"| `{r['report']}` | {r['raw_median_s']:.3f} | {r['rollup_median_s']:.3f} | **{r['speedup']:.1f}x** |")


if __name__ == "__main__":
    main()
