#!/usr/bin/env python3
"""Ingest benchmark: `cdrlake ingest` of landed call rows into the Delta table, against DuckDB
copying the same Parquet files to new Parquet files, in the same run, on the same files.

Usage (from the repository root; needs a release build and the test venv's duckdb):
    cargo build --release --bin cdrlake
    ~/.cache/cdrlake/venv/bin/python benches/ingest.py --calls 10000000 --runs 3

Each engine runs in its own process under /usr/bin/time, one after the other; the table reports
medians and the ratio cdrlake / DuckDB for wall time and peak memory (lower is better for us).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(cmd, env=None):
    """Runs cmd; returns (wall seconds, peak RSS MiB, stdout)."""
    t0 = time.perf_counter()
    p = subprocess.run(
        ["/usr/bin/time", "-f", "%M", *cmd],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )
    wall = time.perf_counter() - t0
    if p.returncode not in (0, 3):
        sys.exit(f"{cmd[0]} failed ({p.returncode}): {p.stderr[-2000:]}")
    peak_kib = int(p.stderr.strip().splitlines()[-1])
    return wall, peak_kib / 1024, p.stdout


DUCKDB_COPY = """
import duckdb, sys
con = duckdb.connect()
con.execute("SET threads = {threads}")
con.execute("COPY (SELECT * FROM read_parquet('{src}/**/*.parquet')) TO '{dst}' (FORMAT parquet, COMPRESSION zstd)")
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=10_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--files-per-day", type=int, default=4)
    ap.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "cdrlake-bench"))
    target = os.environ.get("CARGO_TARGET_DIR", str(Path.home() / ".cache/cdrlake/target"))
    ap.add_argument("--binary", default=str(Path(target) / "release" / "cdrlake"))
    ap.add_argument("--json", default=str(ROOT / "benches" / "results" / "ingest.json"))
    args = ap.parse_args()

    work = Path(args.workdir)
    source = work / f"source-{args.calls}"
    landing = source / "landing" / "calls"
    if not landing.exists():
        shutil.rmtree(source, ignore_errors=True)
        wall, peak, out = timed([
            args.binary, "--store", str(source), "--threads", str(args.threads), "generate",
            "--calls", str(args.calls), "--days", "60", "--tenants", "40",
            "--files-per-day", str(args.files_per_day), "--json",
        ])
        gen = json.loads(out)
        print(f"generated {gen['rows']['calls']:,} calls (+ {gen['rows']['streams']:,} streams, ...) "
              f"in {wall:.1f} s, peak {peak:.0f} MiB", flush=True)
    rows = int(subprocess.run(
        [sys.executable, "-c", f"import duckdb; print(duckdb.sql(\"SELECT count(*) FROM read_parquet('{landing}/**/*.parquet')\").fetchall()[0][0])"],
        capture_output=True, text=True, check=True).stdout)
    files = sum(1 for _ in landing.rglob("*.parquet"))
    print(f"input: {rows:,} call rows in {files} Parquet files", flush=True)

    results = {"cdrlake": [], "duckdb": []}
    for run in range(args.runs):
        # cdrlake: a fresh store whose landing folder is the shared input.
        store = work / "run-store"
        shutil.rmtree(store, ignore_errors=True)
        (store / "landing").mkdir(parents=True)
        os.symlink(landing, store / "landing" / "calls")
        wall, peak, out = timed([args.binary, "--store", str(store), "--threads", str(args.threads),
                                 "ingest", "--table", "calls", "--json"])
        s = json.loads(out)
        assert s["rows_in"] == rows, s
        results["cdrlake"].append({"seconds": wall, "peak_mib": peak, "rows_ingested": s["rows_ingested"]})
        shutil.rmtree(store / "tables", ignore_errors=True)

        dst = work / "duckdb-out.parquet"
        dst.unlink(missing_ok=True)
        script = DUCKDB_COPY.format(threads=args.threads, src=landing, dst=dst)
        wall, peak, _ = timed([sys.executable, "-c", script])
        results["duckdb"].append({"seconds": wall, "peak_mib": peak})
        dst.unlink(missing_ok=True)
        print(f"run {run + 1}: cdrlake {results['cdrlake'][-1]['seconds']:.2f} s "
              f"{results['cdrlake'][-1]['peak_mib']:.0f} MiB | duckdb {wall:.2f} s {peak:.0f} MiB", flush=True)

    med = {e: {k: statistics.median(r[k] for r in rs) for k in ("seconds", "peak_mib")} for e, rs in results.items()}
    t_ratio = med["cdrlake"]["seconds"] / med["duckdb"]["seconds"]
    m_ratio = med["cdrlake"]["peak_mib"] / med["duckdb"]["peak_mib"]
    print()
    print(f"| engine | median s | rows/s | peak MiB |")
    print(f"|---|---|---|---|")
    for e in ("cdrlake", "duckdb"):
        print(f"| {e} | {med[e]['seconds']:.2f} | {rows / med[e]['seconds']:,.0f} | {med[e]['peak_mib']:.0f} |")
    print(f"\nratio cdrlake/duckdb: time {t_ratio:.2f}x, peak memory {m_ratio:.2f}x "
          f"({rows:,} rows, {files} files, {args.threads} threads, {args.runs} runs)")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({
        "rows": rows, "files": files, "threads": args.threads, "runs": results,
        "median": med, "ratio_time": t_ratio, "ratio_peak_memory": m_ratio,
    }, indent=2))


if __name__ == "__main__":
    main()
