#!/usr/bin/env python3
"""cdrlake against DuckDB, ClickHouse (chDB), Polars and plain DataFusion on the same files.

One command generates a lake at a chosen scale (SF1 = 20 M calls with their streams, over 183
days and 40 tenants), ingests it, compacts it, vacuums it (so the Parquet files under each
table directory are exactly the Delta table's files, checked against the Delta log), and runs
the query set of benches/queries.py on:

- cdrlake in-process (`cdrlake query --repeat`: each run plans, executes and collects),
  answering with what it has beyond a general engine (rollups, its concurrency operator,
  domain functions) where the query set says so;
- cdrlake_sql: the same binary running the peers' portable SQL over the raw tables, which
  shows what the layout and settings give alone;
- cdrlake through its Flight SQL endpoint (`cdrlake serve`, pyarrow.flight over loopback);
- DuckDB, chDB and Polars through their Python packages, and plain DataFusion (the
  `datafusion` Python package, default configuration), each reading the same Parquet files
  (`tables/<t>/event_date=*/*.parquet`, hive partitioning; the Delta log's checkpoints are
  not data), with the same thread count.

Every engine runs every query in a fresh process: a warm-up run, then --runs timed runs
(median and minimum wall time, median CPU time of the process, every thread included), and
the peak resident memory of the process over those runs (VmHWM after a reset; for Flight,
the server's). Engines run one after another. Every engine's answer is compared with the
others (same rows, money exactly equal, ratios to 9 significant digits); a mismatch or an
engine error fails the run (exit 1) after the report is written.

Usage (from the repository root; a release build; the venv of scripts/test has the peers):
    cargo build --release --bin cdrlake
    ~/.cache/cdrlake/venv/bin/python benches/compare.py --sf 1 --runs 5

Results: a Markdown table (query x engine, ratio to the best peer) printed and, with
--readme, written into benches/README.md between the compare markers; raw results as JSON
(--json, default benches/results/compare.json). CI runs it at a tiny scale (--calls 20000).
"""

from __future__ import annotations

import argparse
import datetime as dt
import decimal
import hashlib
import json
import math
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benches"))

PEERS = ["duckdb", "chdb", "polars", "datafusion"]
# cdrlake_sql: cdrlake in-process running the peers' portable SQL (no rollup, no operator of
# its own): what the lake layout and cdrlake's settings give over plain DataFusion.
OURS = ["cdrlake", "cdrlake_sql", "flight"]
ENGINES = OURS + PEERS
TABLES = ["calls", "streams"]
MARK_BEGIN = "<!-- compare:begin -->"
MARK_END = "<!-- compare:end -->"


def fail(msg: str):
    sys.exit(f"compare.py: {msg}")


def run(cmd, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if p.returncode not in (0, 3):
        fail(f"{' '.join(map(str, cmd[:8]))} ... exited {p.returncode}: {p.stderr[-3000:]}")
    return p


# Preparing the lake -------------------------------------------------------------------------

def prepare(args, work: Path) -> Path:
    store = work / f"compare-{args.calls}-{args.days}d-{args.tenants}t"
    marker = store / "compare-ready.json"
    if marker.exists():
        return store
    shutil.rmtree(store, ignore_errors=True)
    steps = {}
    for name, cmd in [
        ("generate", ["generate", "--calls", str(args.calls), "--days", str(args.days),
                      "--tenants", str(args.tenants), "--json"]),
        ("ingest", ["ingest", "--json"]),
        ("compact", ["compact", "--json"]),
        ("vacuum", ["vacuum", "--retain", "0s", "--allow-short-retention", "--json"]),
    ]:
        t0 = time.perf_counter()
        run([args.binary, "--store", str(store), "--threads", str(args.threads), *cmd])
        steps[name] = round(time.perf_counter() - t0, 1)
        print(f"  {name}: {steps[name]} s", flush=True)
    shutil.rmtree(store / "landing", ignore_errors=True)
    check_files(store)
    marker.write_text(json.dumps({"calls": args.calls, "days": args.days, "tenants": args.tenants,
                                  "seconds": steps}))
    return store


def check_files(store: Path):
    """The peers read every Parquet file under a table's directory: those must be exactly the
    files of the table's current Delta version (read with the deltalake package)."""
    from deltalake import DeltaTable
    for t in TABLES:
        root = store / "tables" / t
        live = {Path(u.removeprefix("file://")).resolve() for u in DeltaTable(str(root)).file_uris()}
        on_disk = {p.resolve() for p in root.rglob("*.parquet") if "_delta_log" not in p.parts}
        if live != on_disk:
            fail(f"{root}: {len(on_disk - live)} Parquet files not in the table, "
                 f"{len(live - on_disk)} table files missing: vacuum did not leave the table's files alone")


def parameters(store: Path, npa_csv: Path) -> dict:
    """Periods, tenant, numbers and customer for the query set, from the data (DuckDB)."""
    import duckdb
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    calls = f"read_parquet('{store}/tables/calls/event_date=*/*.parquet', hive_partitioning = true)"
    tenants = f"read_parquet('{store}/tables/tenants/*.parquet')"
    lo, hi, max_end, min_answer = (dt.datetime.fromtimestamp(us / 1e6, dt.timezone.utc) for us in con.execute(
        f"SELECT epoch_us(min(invite_time)), epoch_us(max(invite_time)), epoch_us(max(end_time)), "
        f"epoch_us(min(answer_time)) FROM {calls}").fetchone())
    rows = con.execute(f"SELECT count(*) FROM {calls}").fetchone()[0]
    tenant, n = con.execute(f"SELECT tenant_id, count(*) FROM {calls} GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1").fetchone()
    tz = con.execute(f"SELECT time_zone FROM {tenants} WHERE tenant_id = ?", [tenant]).fetchone()[0]
    common = con.execute(f"SELECT callee_number FROM {calls} WHERE callee_number IS NOT NULL "
                         "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1").fetchone()[0]
    rare = con.execute(f"""WITH n AS (SELECT caller_number AS x FROM {calls} UNION ALL SELECT callee_number FROM {calls})
        SELECT x FROM n WHERE x IS NOT NULL GROUP BY x HAVING count(*) = 1 ORDER BY hash(x) LIMIT 1""").fetchone()[0]
    customer = con.execute(f"SELECT customer FROM {calls} WHERE customer IS NOT NULL "
                           "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1").fetchone()[0]
    hi_day = hi.astimezone(dt.timezone.utc).date()
    zone = ZoneInfo(tz)
    local_last = hi.astimezone(zone).date()

    def utc(d: dt.date) -> dt.datetime:
        return dt.datetime.combine(d, dt.time(), zone).astimezone(dt.timezone.utc)

    def window(l0: dt.date, l1: dt.date) -> dict:
        t0, t1 = utc(l0), utc(l1)
        return {"t0": t0, "t1": t1, "l0": dt.datetime.combine(l0, dt.time()), "l1": dt.datetime.combine(l1, dt.time()),
                "d0": t0.date(), "d1": t1.date() + dt.timedelta(days=1),
                "h0": int(t0.timestamp()) // 3600, "h1": -(-int(t1.timestamp()) // 3600)}

    week_end = local_last - dt.timedelta(days=local_last.weekday())  # the last Monday (exclusive end)
    midnight = dt.datetime.combine(hi_day, dt.time(), dt.timezone.utc)
    six = midnight - dt.timedelta(days=183)
    h0 = int(min_answer.timestamp()) // 3600
    h1 = -(-int(max_end.timestamp()) // 3600) + 1
    common_p = {"tenant": tenant, "tz": tz, "common_number": common, "rare_number": rare, "customer": customer}
    return {
        "calls_in_table": rows, "tenant_calls": n, "first_call": lo.isoformat(), "last_call": hi.isoformat(), "npa_csv": str(npa_csv),
        "sets": {
            "month": {**common_p, "d0": hi_day - dt.timedelta(days=30), "d1": hi_day},
            "six_months": {**common_p, "d0": six.date(), "t0": six},
            "all_hours": {**common_p, "t0": dt.datetime.fromtimestamp(h0 * 3600, dt.timezone.utc),
                          "t1": dt.datetime.fromtimestamp(h1 * 3600, dt.timezone.utc), "h0": h0, "h1": h1},
            "tenant_day": {**common_p, **window(local_last - dt.timedelta(days=1), local_last)},
            "tenant_week": {**common_p, **window(week_end - dt.timedelta(days=7), week_end)},
            "tenant_4weeks": {**common_p, **window(week_end - dt.timedelta(days=28), week_end)},
        },
    }


# SQL text per engine ------------------------------------------------------------------------

def literal(engine: str, v) -> str:
    if isinstance(v, dt.datetime) and v.tzinfo is not None:
        u = v.astimezone(dt.timezone.utc)
        if engine == "duckdb":
            return f"TIMESTAMPTZ '{u:%Y-%m-%d %H:%M:%S}+00'"
        if engine == "chdb":
            return f"toDateTime64('{u:%Y-%m-%d %H:%M:%S}', 6, 'UTC')"
        return f"TIMESTAMP '{u:%Y-%m-%dT%H:%M:%S}Z'"
    if isinstance(v, dt.datetime):  # tenant-local wall clock (cdrlake only)
        return f"TIMESTAMP '{v:%Y-%m-%d %H:%M:%S}'"
    if isinstance(v, dt.date):
        return f"toDate('{v}')" if engine == "chdb" else f"DATE '{v}'"
    if isinstance(v, int):
        return str(v)
    return "'" + str(v).replace("'", "''") + "'"


def sql_for(engine: str, name: str, qd: dict, p: dict, store: Path, npa_csv: Path) -> str:
    flavour = {"flight": "cdrlake", "cdrlake_sql": "cdrlake"}.get(engine, engine)
    if flavour == "cdrlake" and "cdrlake" in qd and engine != "cdrlake_sql":
        text = qd["cdrlake"]
    elif flavour == "chdb" and "chdb" in qd:
        text = qd["chdb"]
    else:
        text = qd["sql"]
    values = {k: literal(flavour, v) for k, v in p.items()}
    if flavour == "chdb":
        tables = {t: f"file('{store}/tables/{t}/event_date=*/*.parquet', Parquet)" for t in TABLES}
        tables["npa"] = f"file('{npa_csv}', CSVWithNames, 'npa String, kind String, region String, country String, location String, status String')"
    else:
        tables = {t: t for t in [*TABLES, "npa"]}
    dialect = {
        "duckdb": {"local": "timezone({tz}, invite_time)", "hour_text": "strftime(h, '%Y-%m-%d %H')",
                   "isodow": "isodow(lt)", "hour_of": "hour(lt)",
                   "hours": "generate_series({h0}, {h1} - 1)", "hour_ts": "to_timestamp(h * 3600)"},
        "chdb": {},
    }.get(flavour, {"local": "invite_time AT TIME ZONE {tz}", "hour_text": "to_char(h, '%Y-%m-%d %H')",
                    "isodow": "CAST((date_part('dow', lt) + 6) % 7 + 1 AS INT)",
                    "hour_of": "CAST(date_part('hour', lt) AS INT)",
                    "hours": "generate_series({h0}, {h1} - 1)",
                    "hour_ts": "arrow_cast(to_timestamp_micros(h * 3600000000), 'Timestamp(Microsecond, Some(\"UTC\"))')"})
    # Placeholders may expand to text with placeholders: substitute until nothing changes.
    subs = {**tables, **{k: v for k, v in dialect.items()}, "tenant_filter": qd.get("tenant_filter", ""), **values}
    for _ in range(4):
        text = re.sub(r"\{(\w+)\}", lambda m: subs.get(m.group(1), m.group(0)), text)
    left = re.findall(r"\{(\w+)\}", text)
    if left:
        fail(f"{name} for {engine}: no value for {left}")
    if flavour == "chdb":
        text += " SETTINGS use_hive_partitioning = 1, session_timezone = 'UTC', max_threads = {threads}"
    return text


# Workers (one process per engine and query) ---------------------------------------------------

def peak_reset(pid="self") -> bool:
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_rss(pid="self"):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return None


def proc_cpu(pid) -> float:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def self_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def worker(spec: dict):
    engine, threads, store = spec["engine"], spec["threads"], Path(spec["store"])
    sql = spec["sql"]
    if engine == "duckdb":
        import duckdb
        con = duckdb.connect()
        con.execute(f"SET threads = {threads}")
        con.execute("SET TimeZone = 'UTC'")
        for t in TABLES:
            con.execute(f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{store}/tables/{t}/event_date=*/*.parquet', hive_partitioning = true)")
        con.execute(f"CREATE TABLE npa AS SELECT * FROM read_csv('{spec['npa_csv']}', all_varchar = true)")
        go = lambda: con.execute(sql).to_arrow_table()  # noqa: E731
    elif engine == "chdb":
        import chdb
        go = lambda: chdb.query(sql, "ArrowTable")  # noqa: E731
    elif engine == "datafusion":
        import datafusion
        import pyarrow as pa
        ctx = datafusion.SessionContext(datafusion.SessionConfig().with_target_partitions(threads))
        for t in TABLES:
            ctx.register_parquet(t, f"{store}/tables/{t}", table_partition_cols=[("event_date", pa.date32())],
                                 file_extension=".parquet")
        ctx.register_csv("npa", spec["npa_csv"], schema=pa.schema([(c, pa.string()) for c in
                         ["npa", "kind", "region", "country", "location", "status"]]))
        go = lambda: ctx.sql(sql).to_arrow_table()  # noqa: E731
    elif engine == "polars":
        import polars as pl
        from queries import QUERIES
        frames = {t: pl.scan_parquet(f"{store}/tables/{t}/event_date=*/*.parquet", hive_partitioning=True) for t in TABLES}
        frames["npa"] = pl.scan_csv(spec["npa_csv"], infer_schema=False)
        params = decode(spec["params"])
        fn = QUERIES[spec["query"]]["polars"]

        def go():
            out = fn(frames, params)
            return (out.collect() if isinstance(out, pl.LazyFrame) else out).to_arrow()
    elif engine == "flight":
        import pyarrow as pa
        import pyarrow.flight as flight
        from flight import pack_query
        client = flight.FlightClient(f"grpc://{spec['addr']}")
        header = client.authenticate_basic_token(spec["user"], spec["password"])
        options = flight.FlightCallOptions(headers=[header])

        def go():
            info = client.get_flight_info(flight.FlightDescriptor.for_command(pack_query(sql)), options)
            return pa.Table.from_batches([], info.schema) if not info.endpoints else \
                client.do_get(info.endpoints[0].ticket, options).read_all()
    else:
        fail(f"unknown engine {engine}")
    server = spec.get("server_pid")
    peak_ok = peak_reset(server or "self")
    walls, cpus = [], []
    result = None
    for i in range(spec["runs"] + 1):
        c0 = self_cpu() + (proc_cpu(server) if server else 0)
        t0 = time.perf_counter()
        result = go()
        wall = time.perf_counter() - t0
        cpu = self_cpu() + (proc_cpu(server) if server else 0) - c0
        if i > 0:  # the first run is the warm-up
            walls.append(wall)
            cpus.append(cpu)
    import pyarrow.parquet as pq
    pq.write_table(result, spec["out"])
    return {"runs_s": walls, "cpu_s": cpus, "peak_rss_bytes": peak_rss(server or "self") if peak_ok else None,
            "rows": result.num_rows}


def encode(p: dict) -> dict:
    out = {}
    for k, v in p.items():
        if isinstance(v, dt.datetime):
            out[k] = {"datetime": v.isoformat()}
        elif isinstance(v, dt.date):
            out[k] = {"date": v.isoformat()}
        else:
            out[k] = v
    return out


def decode(p: dict) -> dict:
    out = {}
    for k, v in p.items():
        if isinstance(v, dict) and "datetime" in v:
            out[k] = dt.datetime.fromisoformat(v["datetime"])
        elif isinstance(v, dict) and "date" in v:
            out[k] = dt.date.fromisoformat(v["date"])
        else:
            out[k] = v
    # Polars takes instants and dates as ISO text.
    for k in ("t0", "t1"):
        if k in out:
            out[k] = out[k].astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    for k in ("d0", "d1"):
        if k in out:
            out[k] = out[k].isoformat()
    return out


def run_engine(args, engine: str, name: str, qd: dict, p: dict, store: Path, npa_csv: Path, tmp: Path, server):
    out = tmp / f"{name}.{engine}.parquet"
    out.unlink(missing_ok=True)
    if engine == "cdrlake_sql" and "{npa}" in qd["sql"]:
        return {"skipped": "the lake has no npa table (cdrlake answers with npa_state)"}
    sql = sql_for(engine, name, qd, p, store, npa_csv) if engine != "polars" else None
    if engine == "chdb":
        sql = sql.replace("{threads}", str(args.threads))
    env = {**os.environ, "POLARS_MAX_THREADS": str(args.threads), "TOKIO_WORKER_THREADS": str(args.threads),
           "OMP_NUM_THREADS": str(args.threads)}
    try:
        if engine in ("cdrlake", "cdrlake_sql"):
            proc = subprocess.run([args.binary, "--store", str(store), "--threads", str(args.threads), "query",
                                   "--repeat", str(args.runs + 1), "--format", "parquet", "--output", str(out), sql],
                                  capture_output=True, text=True, env=env, timeout=args.timeout)
            if proc.returncode != 0:
                return {"error": proc.stderr.strip()[-1500:], "sql": sql}
            stats = json.loads([line for line in proc.stderr.splitlines() if line.startswith("{")][-1])
            stats["runs_s"], stats["cpu_s"] = stats["runs_s"][1:], stats["cpu_s"][1:]
        else:
            spec = {"engine": engine, "threads": args.threads, "store": str(store), "sql": sql, "runs": args.runs,
                    "out": str(out), "npa_csv": str(npa_csv), "query": name, "params": encode(p)}
            if engine == "flight":
                spec.update({"addr": server["addr"], "user": "bench_admin", "password": "bench-password",
                             "server_pid": server["pid"]})
            proc = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)],
                                  capture_output=True, text=True, env=env, timeout=args.timeout)
            if proc.returncode != 0:
                return {"error": proc.stderr.strip()[-1500:], "sql": sql}
            stats = json.loads(proc.stdout.strip().splitlines()[-1])
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {args.timeout} s", "sql": sql}
    stats["sql"] = sql
    stats["median_s"] = statistics.median(stats["runs_s"])
    stats["min_s"] = min(stats["runs_s"])
    stats["cpu_median_s"] = statistics.median(stats["cpu_s"]) if stats["cpu_s"] else None
    stats["answer"] = canonical(out)
    return stats


# Comparing answers ------------------------------------------------------------------------------

def canon_value(v):
    if v is None:
        return None
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        return float(f"{v:.9g}") + 0.0
    if isinstance(v, decimal.Decimal) and v.as_tuple().exponent >= 0:
        return int(v)  # DuckDB sums integers into DECIMAL(38, 0)
    if isinstance(v, decimal.Decimal):
        return str(v.quantize(decimal.Decimal("0.000001")))
    if isinstance(v, dt.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(dt.timezone.utc).replace(tzinfo=None)
        s = v.strftime("%Y-%m-%d %H:%M:%S.%f").removesuffix(".000000").removesuffix(" 00:00:00")
        return s
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, (list, tuple)):
        return [canon_value(x) for x in v]
    return str(v)


def canonical(path: Path) -> dict:
    import pyarrow.parquet as pq
    t = pq.ParquetFile(path).read()
    names = [n.lower() for n in t.column_names]
    order = sorted(range(len(names)), key=lambda i: names[i])
    cols = [t.column(i).to_pylist() for i in order]
    rows = sorted((json.dumps([canon_value(c[r]) for c in cols], default=str) for r in range(t.num_rows)))
    digest = hashlib.sha256(("|".join(names[i] for i in order) + "\n" + "\n".join(rows)).encode()).hexdigest()
    return {"columns": [names[i] for i in order], "rows": len(rows), "digest": digest, "sample": rows[:3]}


# The run ------------------------------------------------------------------------------------------

def start_server(args, store: Path, tmp: Path):
    from flight import start_server as serve
    users = tmp / "users.toml"
    run([args.binary, "user", "add", "bench_admin", "--role", "admin", "--password-stdin", "--users", str(users)],
        input="bench-password\n")
    p, addr = serve(args.binary, store, users, args.threads)
    return {"proc": p, "pid": p.pid, "addr": addr}


def versions(binary: str) -> dict:
    import importlib.metadata as md
    out = {"cdrlake": run([binary, "--version"]).stdout.strip().removeprefix("cdrlake ")}
    for pkg in ["duckdb", "chdb", "polars", "datafusion", "pyarrow"]:
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    return out


def machine() -> str:
    cpu = ""
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                   if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, {platform.system()} {platform.release()}"


def fmt_s(x):
    return "-" if x is None else (f"{x * 1000:.0f} ms" if x < 10 else f"{x:.1f} s")


def markdown(res: dict) -> str:
    engines = res["engines"]
    made = res.get("parameters", {}).get("calls_in_table", res["calls"])
    lines = [f"{made:,} calls (SF{res['sf']:g}: {res['calls']:,} asked of the generator), {res['threads']} threads, "
             f"warm-up + {res['runs']} runs, "
             f"medians; {res['date']}; {res['machine']}.",
             "Versions: " + ", ".join(f"{k} {v}" for k, v in res["versions"].items() if v) + ".",
             f"Command: `{res['command']}`", "",
             "Ratio = engine median / best peer median (DuckDB, chDB, Polars, DataFusion); below 1 "
             "is faster than every peer. Cells: median wall time (ratio).", "",
             "| query | kind | " + " | ".join(engines) + " | best peer | cdrlake peak memory / best peer's |",
             "|---|---|" + "---|" * len(engines) + "---|---|"]
    for q in res["queries"]:
        cells = []
        for e in engines:
            r = q["engines"].get(e, {})
            if "error" in r:
                cells.append("error")
            elif "median_s" in r:
                ratio = r.get("ratio")
                cells.append(f"{fmt_s(r['median_s'])} ({ratio:.2f}x)" if ratio else fmt_s(r["median_s"]))
            else:
                cells.append("-")
        mem = q.get("peak_ratio")
        lines.append(f"| {q['name']} | {q['kind']} | " + " | ".join(cells) +
                     f" | {q.get('best_peer') or '-'} | {'-' if mem is None else f'{mem:.2f}x'} |")
    s = res["summary"]
    lines += ["", f"cdrlake in-process: report-shaped queries at most 0.5x the best peer: "
                  f"{s['report_met']}/{s['report_total']}; ad-hoc geometric mean {s['adhoc_geomean']}x "
                  f"(target 1.0x); peak memory at or below the best peer's: {s['memory_met']}/{s['memory_total']}. "
                  f"Flight SQL over in-process, median added per query: {s['flight_added_ms']} ms."]
    if res["mismatches"]:
        lines += ["", "**Answers differ:** " + "; ".join(res["mismatches"])]
    if res["errors"]:
        lines += ["", "**Errors:** " + "; ".join(res["errors"])]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--sf", type=float, default=1.0, help="scale factor: SF1 = 20 M calls (default 1)")
    ap.add_argument("--calls", type=int, help="calls to generate (overrides --sf)")
    ap.add_argument("--days", type=int, default=183)
    ap.add_argument("--tenants", type=int, default=40)
    ap.add_argument("--runs", type=int, default=5, help="timed runs after the warm-up (default 5)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--engines", default=",".join(ENGINES), help=f"comma-separated, of {','.join(ENGINES)}")
    ap.add_argument("--only", help="comma-separated query names")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per engine and query")
    ap.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "cdrlake-bench"))
    target = os.environ.get("CARGO_TARGET_DIR", str(Path.home() / ".cache/cdrlake/target"))
    ap.add_argument("--binary", default=str(Path(target) / "release" / "cdrlake"))
    ap.add_argument("--json", default=str(ROOT / "benches" / "results" / "compare.json"))
    ap.add_argument("--readme", action="store_true", help="write the table into benches/README.md")
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return

    from queries import QUERIES
    if args.calls is None:
        args.calls = int(round(args.sf * 20_000_000))
    sf = args.calls / 20_000_000
    engines = [e for e in args.engines.split(",") if e]
    unknown = set(engines) - set(ENGINES)
    if unknown:
        fail(f"unknown engines {sorted(unknown)}; known: {ENGINES}")
    names = list(QUERIES)
    if args.only:
        names = [n for n in args.only.split(",") if n]
        missing = [n for n in names if n not in QUERIES]
        if missing:
            fail(f"unknown queries {missing}; known: {list(QUERIES)}")
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    print(f"lake: {args.calls:,} calls, {args.days} days, {args.tenants} tenants", flush=True)
    store = prepare(args, work)
    npa_csv = ROOT / "data" / "nanp" / "npa.csv"
    params = parameters(store, npa_csv)
    tmp = Path(tempfile.mkdtemp(prefix="cdrlake-compare-"))
    server = start_server(args, store, tmp) if "flight" in engines else None
    res = {"calls": args.calls, "sf": sf, "days": args.days, "tenants": args.tenants, "threads": args.threads,
           "runs": args.runs, "engines": engines, "date": dt.date.today().isoformat(), "machine": machine(),
           "versions": versions(args.binary), "command": "python benches/compare.py " + " ".join(sys.argv[1:]),
           "parameters": {k: (encode(v) if isinstance(v, dict) else v) for k, v in params.items() if k != "sets"},
           "queries": [], "mismatches": [], "errors": []}
    try:
        for name in names:
            qd = QUERIES[name]
            p = params["sets"][qd.get("params", "month")]
            entry = {"name": name, "kind": qd["kind"], "doc": qd["doc"], "params": encode(p), "engines": {}}
            for e in engines:
                r = run_engine(args, e, name, qd, p, store, npa_csv, tmp, server)
                entry["engines"][e] = r
                if "skipped" in r:
                    print(f"{name:<32} {e:<10} skipped: {r['skipped']}", flush=True)
                elif "error" in r:
                    res["errors"].append(f"{name} on {e}: {r['error'].splitlines()[-1] if r['error'] else '?'}")
                    print(f"{name:<32} {e:<10} ERROR {r['error'][-400:]}", flush=True)
                else:
                    print(f"{name:<32} {e:<10} {r['median_s'] * 1000:10.1f} ms  {r['rows']:>8} rows", flush=True)
            ok = {e: r for e, r in entry["engines"].items() if "answer" in r}
            digests = {}
            for e, r in ok.items():
                digests.setdefault(r["answer"]["digest"], []).append(e)
            if len(digests) > 1:
                groups = [f"{'/'.join(es)} ({ok[es[0]]['answer']['rows']} rows)" for es in digests.values()]
                res["mismatches"].append(f"{name}: " + " vs ".join(groups))
                print(f"{name}: ANSWERS DIFFER: {' vs '.join(groups)}", flush=True)
                for es in digests.values():
                    a = ok[es[0]]["answer"]
                    print(f"   {'/'.join(es)}: {a['columns']} {a['sample']}", flush=True)
            peers = {e: r for e, r in ok.items() if e in PEERS}
            if peers:
                best = min(peers, key=lambda e: peers[e]["median_s"])
                entry["best_peer"] = best
                for e, r in ok.items():
                    r["ratio"] = r["median_s"] / peers[best]["median_s"]
                mem_peers = [r["peak_rss_bytes"] for r in peers.values() if r.get("peak_rss_bytes")]
                if "cdrlake" in ok and ok["cdrlake"].get("peak_rss_bytes") and mem_peers:
                    entry["peak_ratio"] = ok["cdrlake"]["peak_rss_bytes"] / min(mem_peers)
            res["queries"].append(entry)
    finally:
        if server:
            server["proc"].send_signal(signal.SIGTERM)
            try:
                server["proc"].wait(timeout=60)
            except subprocess.TimeoutExpired:
                server["proc"].kill()
        shutil.rmtree(tmp, ignore_errors=True)

    def ratios(kind):
        return [q["engines"]["cdrlake"]["ratio"] for q in res["queries"]
                if q["kind"] == kind and "ratio" in q["engines"].get("cdrlake", {})]
    rep, adh = ratios("report"), ratios("adhoc")
    mems = [q["peak_ratio"] for q in res["queries"] if "peak_ratio" in q]
    added = [(q["engines"]["flight"]["median_s"] - q["engines"]["cdrlake"]["median_s"]) * 1000
             for q in res["queries"] if "median_s" in q["engines"].get("flight", {})
             and "median_s" in q["engines"].get("cdrlake", {})]
    res["summary"] = {
        "report_met": sum(r <= 0.5 for r in rep), "report_total": len(rep),
        "adhoc_geomean": round(math.exp(statistics.fmean(math.log(r) for r in adh)), 2) if adh else None,
        "memory_met": sum(m <= 1.0 for m in mems), "memory_total": len(mems),
        "flight_added_ms": round(statistics.median(added), 1) if added else None,
    }
    table = markdown(res)
    print("\n" + table)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(res, indent=1, default=str) + "\n")
    print(f"raw results: {args.json}")
    if args.readme:
        readme = ROOT / "benches" / "README.md"
        text = readme.read_text()
        block = f"{MARK_BEGIN}\n{table}{MARK_END}"
        if MARK_BEGIN in text and MARK_END in text:
            text = text[:text.index(MARK_BEGIN)] + block + text[text.index(MARK_END) + len(MARK_END):]
        else:
            text += "\n" + block + "\n"
        readme.write_text(text)
    if res["mismatches"] or res["errors"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
