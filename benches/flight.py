#!/usr/bin/env python3
"""Flight SQL benchmark: what the server adds to a query, and dashboards under concurrency.

1. Streaming a large result (every call's id, numbers, times, duration and charge: 10 M rows
   on the default lake) over loopback with pyarrow.flight, against the same query run
   in-process (`cdrlake query --repeat N`, which plans, executes and collects every row).
   Reports rows/s and MB/s (Arrow buffer bytes received) and the overhead ratio
   (Flight seconds / in-process seconds).
2. 16 concurrent clients (threads, each with its own ADBC connection as a tenant admin of the
   biggest tenant) running dashboard reports over the last 30 days of data in turn: p50 / p99
   latency and errors, next to the same reports run one at a time by one client.

Usage (from the repository root; a release build; the 10 M-call lake of benches/reports.py is
reused when present):
    cargo build --release --bin cdrlake
    ~/.cache/cdrlake/venv/bin/python benches/flight.py --calls 10000000 --runs 3
"""

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pyarrow.flight as flight

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benches"))
sys.path.insert(0, str(ROOT / "tests" / "python"))

from reports import prepare  # noqa: E402  (generates and ingests the lake once)

READY = re.compile(r"listening on grpc://(127\.0\.0\.1:\d+)")
STREAM_SQL = ("SELECT call_id, tenant_id, caller_number, callee_number, invite_time, end_time, "
              "duration_s, customer_charge FROM calls")
DASHBOARD = [
    "end_reasons", "active_calls_over_time", "team_hourly_volume", "usage_by_tenant",
    "devices_by_vendor", "call_duration_histogram", "summary_weekly", "top_conferences",
]


def pack_query(sql: str) -> bytes:
    """Any{CommandStatementQuery{query}} by hand (pyarrow has no Flight SQL helpers)."""
    def field(num, data: bytes) -> bytes:
        n, out = len(data), bytearray([num << 3 | 2])
        while True:
            b = n & 0x7F
            n >>= 7
            out.append(b | (0x80 if n else 0))
            if not n:
                break
        return bytes(out) + data
    body = field(1, sql.encode())
    return field(1, b"type.googleapis.com/arrow.flight.protocol.sql.CommandStatementQuery") + field(2, body)


def start_server(binary: str, store: Path, users: Path, threads: int, extra=()):
    p = subprocess.Popen([binary, "--store", str(store), "--threads", str(threads), "serve",
                          "--listen", "127.0.0.1:0", "--users", str(users), *extra],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = p.stdout.readline()
    m = READY.search(line)
    if not m:
        p.kill()
        sys.exit(f"the server did not start: {line}")
    return p, m.group(1)


def flight_stream(addr: str, user: str, password: str) -> tuple[float, int, int]:
    client = flight.FlightClient(f"grpc://{addr}")
    header = client.authenticate_basic_token(user, password)
    options = flight.FlightCallOptions(headers=[header])
    t0 = time.perf_counter()
    info = client.get_flight_info(flight.FlightDescriptor.for_command(pack_query(STREAM_SQL)), options)
    rows = nbytes = 0
    reader = client.do_get(info.endpoints[0].ticket, options)
    for chunk in reader:
        rows += chunk.data.num_rows
        nbytes += chunk.data.nbytes
    return time.perf_counter() - t0, rows, nbytes


def in_process(binary: str, store: Path, threads: int, runs: int) -> tuple[list[float], int]:
    p = subprocess.run([binary, "--store", str(store), "--threads", str(threads), "query", STREAM_SQL,
                        "--repeat", str(runs), "--format", "jsonl", "--output", os.devnull],
                       capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"in-process run failed: {p.stderr[-2000:]}")
    stats = json.loads([l for l in p.stderr.splitlines() if l.startswith("{")][-1])
    return stats["runs_s"], stats["rows"]


def dashboard_sql(name: str, frm: str, to: str) -> str:
    return f"SELECT * FROM reports.{name}('{frm}', '{to}')"


def run_clients(addr: str, user: str, password: str, queries: list[str], clients: int, rounds: int):
    import adbc_driver_flightsql.dbapi as fsql
    latencies, errors, lock = [], [], threading.Lock()

    def worker(i: int):
        conn = fsql.connect(f"grpc://{addr}", db_kwargs={"username": user, "password": password}, autocommit=True)
        cur = conn.cursor()
        for r in range(rounds):
            q = queries[(i + r) % len(queries)]
            t0 = time.perf_counter()
            try:
                cur.execute(q)
                cur.fetch_arrow_table()
                with lock:
                    latencies.append(time.perf_counter() - t0)
            except Exception as e:  # noqa: BLE001 (counted and reported)
                with lock:
                    errors.append(f"{q}: {e}"[:300])
        cur.close()
        conn.close()

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, errors, time.perf_counter() - t0


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p * (len(xs) - 1))))] if xs else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=10_000_000)
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--tenants", type=int, default=40)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=3, help="queries per client")
    ap.add_argument("--work", default="/tmp/cdrlake-bench")
    ap.add_argument("--binary", default=str(Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release" / "cdrlake"))
    ap.add_argument("--out", default=str(ROOT / "benches" / "results" / "flight.json"))
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    store = prepare(args, work)

    tmp = Path(tempfile.mkdtemp(prefix="cdrlake-flight-bench-"))
    users = tmp / "users.toml"
    tenant = subprocess.run(
        [args.binary, "--store", str(store), "query", "--format", "json",
         "SELECT tenant_id, max(invite_time) AS last FROM calls GROUP BY tenant_id ORDER BY count(*) DESC LIMIT 1"],
        capture_output=True, text=True, check=True)
    top = json.loads(tenant.stdout)[0]
    for name, role in [("bench_admin", ["--role", "admin"]),
                       ("bench_tenant", ["--role", "tenant_admin", "--tenant", top["tenant_id"]])]:
        subprocess.run([args.binary, "user", "add", name, *role, "--password-stdin", "--users", str(users)],
                       input="bench-password\n", text=True, check=True, capture_output=True)

    print(f"in-process: {STREAM_SQL}", flush=True)
    inproc_runs, inproc_rows = in_process(args.binary, store, args.threads, args.runs)
    server, addr = start_server(args.binary, store, users, args.threads)
    result = {"calls": args.calls, "threads": args.threads, "stream_sql": STREAM_SQL}
    try:
        flight_stream(addr, "bench_admin", "bench-password")  # warm-up (page cache, planning)
        fl = [flight_stream(addr, "bench_admin", "bench-password") for _ in range(args.runs)]
        fl_s = [s for s, _, _ in fl]
        rows, nbytes = fl[0][1], fl[0][2]
        assert rows == inproc_rows, f"Flight returned {rows} rows, in-process {inproc_rows}"
        med_f, med_i = statistics.median(fl_s), statistics.median(inproc_runs)
        result["stream"] = {
            "rows": rows, "arrow_bytes": nbytes,
            "flight_runs_s": fl_s, "in_process_runs_s": inproc_runs,
            "flight_median_s": med_f, "in_process_median_s": med_i,
            "flight_rows_per_s": rows / med_f, "flight_mb_per_s": nbytes / med_f / 1e6,
            "overhead_ratio": med_f / med_i,
        }
        print(json.dumps(result["stream"], indent=1), flush=True)

        last = top["last"][:10]
        to = time.strftime("%Y-%m-%d", time.gmtime(time.mktime(time.strptime(last, "%Y-%m-%d")) + 86400))
        frm = time.strftime("%Y-%m-%d", time.gmtime(time.mktime(time.strptime(last, "%Y-%m-%d")) - 29 * 86400))
        queries = [dashboard_sql(n, frm, to) for n in DASHBOARD]
        single, err1, _ = run_clients(addr, "bench_tenant", "bench-password", queries, 1, len(queries))
        many, errs, wall = run_clients(addr, "bench_tenant", "bench-password", queries, args.clients, args.rounds)
        result["dashboards"] = {
            "tenant": top["tenant_id"], "period": [frm, to], "reports": DASHBOARD,
            "single_client": {"p50_s": pct(single, 0.5), "max_s": max(single) if single else None,
                              "errors": err1},
            "clients": args.clients, "rounds": args.rounds,
            "concurrent": {"queries": len(many), "p50_s": pct(many, 0.5), "p99_s": pct(many, 0.99),
                           "wall_s": wall, "queries_per_s": len(many) / wall, "errors": errs},
        }
        print(json.dumps(result["dashboards"], indent=1), flush=True)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"raw results: {args.out}")


if __name__ == "__main__":
    main()
