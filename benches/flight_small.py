#!/usr/bin/env python3
"""What the Flight SQL server adds to a small query, per call, for one or more cdrlake binaries
in the same run (say, before and after a change).

For each binary: `cdrlake serve` over the lake (as `admin`), then per query `--warmup` runs and
`--runs` timed runs of GetFlightInfo and DoGet (pyarrow.flight), medians; and the same query
in-process (`cdrlake query --repeat`). Prints a Markdown table.

    python benches/flight_small.py --store LAKE --binary OLD_BINARY --binary NEW_BINARY
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.flight as flight

sys.path.insert(0, str(Path(__file__).resolve().parent))
from flight import pack_query, start_server  # noqa: E402

QUERIES = {
    "select_1": "SELECT 1 AS one",
    # One day of a rollup (a dashboard tile); the day is the SF1 lake's last (--day to change).
    "calls_daily_one_day": "SELECT tenant_id, sum(attempts) AS attempts FROM calls_daily "
                           "WHERE event_date = DATE '{day}' GROUP BY tenant_id",
}


def over_flight(addr: str, password: str, sql: str, warmup: int, runs: int) -> tuple[float, float]:
    client = flight.FlightClient(f"grpc://{addr}")
    options = flight.FlightCallOptions(headers=[client.authenticate_basic_token("admin", password)])
    info_s, get_s = [], []
    for i in range(warmup + runs):
        t0 = time.perf_counter()
        info = client.get_flight_info(flight.FlightDescriptor.for_command(pack_query(sql)), options)
        t1 = time.perf_counter()
        client.do_get(info.endpoints[0].ticket, options).read_all()
        t2 = time.perf_counter()
        if i >= warmup:
            info_s.append(t1 - t0)
            get_s.append(t2 - t1)
    client.close()
    return statistics.median(info_s), statistics.median(get_s)


def in_process(binary: str, store: str, threads: int, sql: str, runs: int) -> float:
    p = subprocess.run([binary, "--store", store, "--threads", str(threads), "query", "--repeat", str(runs),
                        "--format", "csv", "--output", os.devnull, sql], capture_output=True, text=True, check=True)
    return statistics.median(json.loads(p.stderr.strip().splitlines()[-1])["runs_s"][1:])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", required=True)
    ap.add_argument("--binary", action="append", required=True, help="repeatable: each is measured in turn")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--day", default="2027-04-02", help="the day of calls_daily_one_day")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        users, password = Path(tmp) / "users.toml", "bench-password-1"
        subprocess.run([args.binary[0], "user", "add", "admin", "--role", "admin", "--password-stdin",
                        "--users", str(users)], input=password + "\n", text=True, check=True, capture_output=True)
        for binary in args.binary:
            server, addr = start_server(binary, Path(args.store), users, args.threads)
            try:
                for name, sql in QUERIES.items():
                    sql = sql.format(day=args.day)
                    info, get = over_flight(addr, password, sql, args.warmup, args.runs)
                    local = in_process(binary, args.store, args.threads, sql, args.runs)
                    rows.append((binary, name, info, get, local))
            finally:
                server.terminate()
                server.wait(timeout=30)
    print("| binary | query | GetFlightInfo ms | DoGet ms | Flight total ms | in-process ms | added ms |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for binary, name, info, get, local in rows:
        total = info + get
        print(f"| `{binary}` | `{name}` | {info * 1e3:.2f} | {get * 1e3:.2f} | {total * 1e3:.2f} | "
              f"{local * 1e3:.2f} | {(total - local) * 1e3:.2f} |")


if __name__ == "__main__":
    main()
