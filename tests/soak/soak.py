#!/usr/bin/env python3
"""Soak test of cdrlake's jobs: landing, ingest, compaction, kills, queries and vacuum, for a
long time (default an hour), checking the invariants of tests/python/test_crash_safety.py all
along. Not run in CI.

Usage (from the repository root, with the test venv of scripts/test):

    ~/.cache/cdrlake/venv/bin/python tests/soak/soak.py \\
        [--minutes 60] [--store DIR] [--binary PATH] [--calls-per-day 20000] \\
        [--tenants 8] [--files-per-day 8] [--vacuum-retain 15m] [--seed 1] \\
        [--scenarios concurrent,kill-ingest,kill-compact,kill-concurrent,two-compactions,vacuum] \\
        [--keep-going]

--binary defaults to $CDRLAKE_BIN, else $CARGO_TARGET_DIR (or ~/.cache/cdrlake/target)
/release/cdrlake if it exists, else .../debug/cdrlake. --store defaults to a new temporary
folder, deleted at the end unless something went wrong.

Each iteration lands a new batch of Parquet (generate with a new seed, moved into
<store>/landing/ with rename, as a pipeline lands files) and runs one scenario:

- concurrent:      ingest (one landed file per commit) and compaction at the same time;
- kill-ingest:     ingest SIGKILLed after a random number of commits or a random delay;
- kill-compact:    compaction SIGKILLed likewise;
- kill-concurrent: both at once, each killed at its own random point;
- two-compactions: two compactions of the same lake at once;
- vacuum:          vacuum with --vacuum-retain (must exceed the longest query and the longest
                   job, or vacuum may delete files still in use: that would not be a bug).

Throughout, one thread runs `cdrlake query` (count and sum of customer_charge of calls) and
another reads tables/calls with Python deltalake. The Delta log of tables/calls is replayed
here as it grows (lakecheck.LogReplay), giving the totals of every committed version; checked
after every iteration:

- the log replays cleanly: no file added twice or removed when not active, no landed file
  ingested twice, every compaction commit keeps the rows and money of the files it replaces;
- every cdrlake query answered the totals of some committed version, every deltalake read
  the totals of the version it read;
- the latest table has no call_id twice and no more rows than were landed.

Every --verify-every iterations, and at the end: ingest everything left, compact, refresh the
rollups, then the table holds exactly the landed rows (count, distinct call_ids, exact sums,
for deltalake, cdrlake query and the replay), every landed file was committed once, `rollup
verify` exits 0 and every active file of every table exists.

The report at the end gives iterations, scenarios, kills, commits, query checks, query
latencies and every violation; the exit code is 1 if there was one (the store is kept).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "python"))

import pyarrow.compute as pc  # noqa: E402
from deltalake import DeltaTable  # noqa: E402
from lakecheck import (  # noqa: E402
    FileTotals,
    LogReplay,
    active_file_problems,
    cdrlake,
    commit_count,
    dec,
    delta_totals,
    land,
    landed_files,
    landed_totals,
    query_totals,
    start,
    was_killed,
)

SCENARIOS = ["concurrent", "kill-ingest", "kill-compact", "kill-concurrent", "two-compactions", "vacuum"]
INGEST_OK = (0, 3, 4)
COMPACT_OK = (0, 4)
QUERY = "SELECT count(*) AS n, CAST(sum(customer_charge) AS VARCHAR) AS s FROM calls"


def default_binary() -> str:
    if os.environ.get("CDRLAKE_BIN"):
        return os.environ["CDRLAKE_BIN"]
    target = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache" / "cdrlake" / "target"))
    release = target / "release" / "cdrlake"
    return str(release if release.is_file() else target / "debug" / "cdrlake")


class Soak:
    def __init__(self, args: argparse.Namespace):
        self.a = args
        self.rng = random.Random(args.seed)
        self.binary = args.binary
        self.store = args.store
        self.calls_dir = Path(self.store) / "tables" / "calls"
        self.work = Path(self.store).parent / "soak-logs"
        self.work.mkdir(parents=True, exist_ok=True)
        self.replay = LogReplay(self.calls_dir, FileTotals(self.calls_dir))
        self.states: set[tuple[int, Decimal]] = set()
        self.violations: list[str] = []
        self.stats = Counter()
        self.exit_codes = Counter()
        self.scenarios = Counter()
        self.latencies: list[float] = []
        self.query_obs: list[tuple[int, Decimal]] = []
        self.delta_obs: list[tuple[int, int, Decimal]] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.seed = args.seed * 100_000
        self._landed = None

    # -- helpers ------------------------------------------------------------------------------

    def violation(self, msg: str) -> None:
        print(f"VIOLATION: {msg}", flush=True)
        self.violations.append(msg)

    def run(self, *args: str, codes=(0,)) -> str:
        p = cdrlake(self.binary, self.store, *args, timeout=3600)
        self.exit_codes[f"{args[0]}={p.returncode}"] += 1
        if p.returncode not in codes:
            self.violation(f"cdrlake {' '.join(args)} exited {p.returncode}: {p.stderr.strip()[-2000:]}")
        return p.stdout

    def land(self) -> None:
        self.seed += 1
        day = self.rng.randint(0, self.a.date_span - 1)
        start_date = (datetime.date(2026, 10, 1) + datetime.timedelta(days=day)).isoformat()
        n = land(
            self.binary, self.store, seed=self.seed, start=start_date, days=self.a.days_per_landing,
            calls_per_day=self.a.calls_per_day, files_per_day=self.a.files_per_day, tenants=self.a.tenants,
        )
        self.stats["files landed"] += n
        self._landed = None

    def landed(self):
        """Totals of the landing Parquet (DuckDB), recomputed after each landing."""
        if self._landed is None:
            self._landed = landed_totals(self.store)
        return self._landed

    def job_args(self, job: str) -> list[str]:
        if job == "ingest":
            return ["ingest", "--files-per-commit", str(self.rng.choice([1, 1, 2, 8]))]
        return ["compact", "--target-file-size", self.a.target_file_size]

    def launch(self, job: str, tag: str):
        return start(self.binary, self.store, self.job_args(job), self.work / f"{tag}.err")

    def finish(self, p, job: str, tag: str) -> None:
        """Accounts for a process that has exited."""
        if was_killed(p):
            self.stats[f"kills of {job}"] += 1
            return
        self.exit_codes[f"{job}={p.returncode}"] += 1
        if p.returncode not in (INGEST_OK if job == "ingest" else COMPACT_OK):
            err = (self.work / f"{tag}.err").read_text()[-2000:]
            self.violation(f"{' '.join(p.args[3:])} exited {p.returncode}: {err}")

    def kill_at_random_point(self, procs: list[tuple[object, str, str]]) -> None:
        """Kills each process at its own random point: after a few new commits of calls plus a
        few ms, or after a random delay."""
        plans = []
        base = commit_count(self.calls_dir)
        t0 = time.monotonic()
        for p, job, tag in procs:
            if self.rng.random() < 0.5:
                plans.append(("commits", base + self.rng.randint(0, 6), self.rng.uniform(0, 0.03)))
            else:
                plans.append(("delay", t0 + self.rng.uniform(0.02, self.a.max_kill_delay), 0))
        pending = list(range(len(procs)))
        fired: dict[int, float] = {}
        while pending:
            now = time.monotonic()
            commits = commit_count(self.calls_dir)
            for i in list(pending):
                p, job, tag = procs[i]
                kind, target, extra = plans[i]
                if p.poll() is not None:
                    pending.remove(i)
                    continue
                due = (kind == "commits" and (commits >= target or now - t0 > 4 * self.a.max_kill_delay)) or (
                    kind == "delay" and now >= target
                )
                if due and i not in fired:
                    fired[i] = now + extra
                if i in fired and now >= fired[i]:
                    p.kill()
                    pending.remove(i)
            time.sleep(0.002)
        for p, job, tag in procs:
            p.wait()
            self.finish(p, job, tag)

    # -- scenarios ----------------------------------------------------------------------------

    def scenario(self, name: str) -> None:
        if name == "concurrent":
            ing = self.launch("ingest", "ingest")
            time.sleep(self.rng.uniform(0, 0.5))
            com = self.launch("compact", "compact")
            for p, job in ((ing, "ingest"), (com, "compact")):
                p.wait()
                self.finish(p, job, job)
        elif name in ("kill-ingest", "kill-compact"):
            job = name.split("-")[1]
            self.kill_at_random_point([(self.launch(job, job), job, job)])
        elif name == "kill-concurrent":
            procs = [(self.launch("ingest", "ingest"), "ingest", "ingest")]
            time.sleep(self.rng.uniform(0, 0.3))
            procs.append((self.launch("compact", "compact"), "compact", "compact"))
            self.kill_at_random_point(procs)
        elif name == "two-compactions":
            if self.rng.random() < 0.5:
                self.run("ingest", "--files-per-commit", "1", codes=INGEST_OK)
            procs = [self.launch("compact", f"compact{k}") for k in range(2)]
            for k, p in enumerate(procs):
                p.wait()
                self.finish(p, "compact", f"compact{k}")
        elif name == "vacuum":
            out = self.run("vacuum", "--retain", self.a.vacuum_retain, "--allow-short-retention", "--json")
            if out:
                self.stats["files vacuumed"] += json.loads(out)["files_deleted"]
            self.stats["vacuums"] += 1

    # -- readers ------------------------------------------------------------------------------

    def query_loop(self) -> None:
        while not self.stop.is_set():
            t0 = time.monotonic()
            try:
                p = cdrlake(self.binary, self.store, "query", QUERY, "--format", "json", timeout=600)
                if p.returncode != 0:
                    with self.lock:
                        self.violation(f"cdrlake query exited {p.returncode}: {p.stderr.strip()[-1000:]}")
                    continue
                r = json.loads(p.stdout)[0]
                with self.lock:
                    self.query_obs.append((r["n"], dec(r["s"])))
                    self.latencies.append(time.monotonic() - t0)
            except Exception as e:
                with self.lock:
                    self.violation(f"cdrlake query: {e!r}")

    def delta_loop(self) -> None:
        while not self.stop.is_set():
            try:
                dt = DeltaTable(str(self.calls_dir))
                t = dt.to_pyarrow_table(columns=["customer_charge"])
                with self.lock:
                    self.delta_obs.append((dt.version(), t.num_rows, dec(pc.sum(t["customer_charge"]).as_py())))
            except Exception as e:
                with self.lock:
                    self.violation(f"deltalake read of the latest version failed: {e!r}")
            time.sleep(0.1)

    # -- checks -------------------------------------------------------------------------------

    def catch_up(self) -> None:
        seen = len(self.replay.violations)
        first = self.replay.version + 1
        self.replay.catch_up()
        for v in range(first, self.replay.version + 1):
            self.states.add(self.replay.totals[v])
        for msg in self.replay.violations[seen:]:
            self.violation(msg)

    def check(self) -> None:
        """The invariants that hold at any moment."""
        self.catch_up()
        with self.lock:
            queries, self.query_obs = self.query_obs, []
            reads, self.delta_obs = self.delta_obs, []
        for n, s in queries:
            self.stats["query checks"] += 1
            if (n, s) not in self.states:
                self.violation(f"cdrlake query saw ({n}, {s}): the totals of no committed version")
        for v, n, s in reads:
            self.stats["deltalake read checks"] += 1
            if self.replay.totals.get(v) != (n, s):
                self.violation(f"deltalake read of v{v} gave ({n}, {s}), the log replay {self.replay.totals.get(v)}")
        if self.replay.version >= 0:
            now, v, dups = delta_totals(self.store)
            if dups:
                self.violation(f"v{v}: {len(dups)} call_ids twice, e.g. {dups[:3]}")
            landed = self.landed()
            if now.rows > landed.rows:
                self.violation(f"v{v}: {now.rows} rows, more than the {landed.rows} landed")

    def verify_point(self) -> None:
        """Finishes all work, then everything landed is in the table exactly once."""
        self.stats["verify points"] += 1
        self.run("ingest", codes=INGEST_OK)
        self.run("compact", "--target-file-size", self.a.target_file_size, codes=COMPACT_OK)
        self.run("rollup", "refresh")
        self.check()
        landed = self.landed()
        ours, v, _ = delta_totals(self.store)
        if ours != landed:
            self.violation(f"after finishing everything, deltalake reads {ours} at v{v}; landed {landed}")
        q = query_totals(self.binary, self.store)
        if q != landed:
            self.violation(f"after finishing everything, cdrlake query reads {q}; landed {landed}")
        if self.replay.totals.get(self.replay.version) != landed.key():
            self.violation(f"log replay totals {self.replay.totals.get(self.replay.version)}; landed {landed.key()}")
        if len(self.replay.ingested) != landed_files(self.store):
            self.violation(
                f"{len(self.replay.ingested)} landed files committed to calls; {landed_files(self.store)} landed"
            )
        out = self.run("rollup", "verify", "--json", codes=(0, 5))
        if out:
            for r in json.loads(out)["rollups"]:
                if not r["ok"] or r["stale_all"] or r["stale_partitions"]:
                    self.violation(f"rollup verify after a refresh: {r}")
        for p in active_file_problems(self.store):
            self.violation(p)

    # -- main loop ----------------------------------------------------------------------------

    def soak(self) -> int:
        t_start = time.monotonic()
        deadline = t_start + self.a.minutes * 60
        print(f"store {self.store}, binary {self.binary}, seed {self.a.seed}", flush=True)
        p = cdrlake(
            self.binary, self.store, "generate", "--tenants", str(self.a.tenants), "--days",
            str(self.a.date_span), "--calls-per-day", str(self.a.calls_per_day), "--files-per-day",
            str(self.a.files_per_day), "--seed", str(self.a.seed),
        )
        if p.returncode != 0:
            print(p.stderr)
            return 2
        self.run("ingest", "--files-per-commit", "4", codes=INGEST_OK)
        threads = [threading.Thread(target=self.query_loop, daemon=True), threading.Thread(target=self.delta_loop, daemon=True)]
        for t in threads:
            t.start()
        it = 0
        try:
            while time.monotonic() < deadline:
                it += 1
                self.land()
                name = self.rng.choice(self.a.scenarios)
                self.scenarios[name] += 1
                t0 = time.monotonic()
                self.scenario(name)
                self.check()
                print(
                    f"[{time.monotonic() - t_start:7.1f} s] iteration {it}: {name} ({time.monotonic() - t0:.1f} s), "
                    f"v{self.replay.version}, kills {self.stats['kills of ingest'] + self.stats['kills of compact']}, "
                    f"violations {len(self.violations)}",
                    flush=True,
                )
                if it % self.a.verify_every == 0:
                    self.verify_point()
                if self.violations and not self.a.keep_going:
                    break
        except KeyboardInterrupt:
            print("interrupted: finishing with a verify point", flush=True)
        if not self.violations or self.a.keep_going:
            self.verify_point()
            self.run("vacuum", "--retain", self.a.vacuum_retain, "--allow-short-retention")
            self.check()
            for p in active_file_problems(self.store):
                self.violation(p)
        self.stop.set()
        for t in threads:
            t.join(timeout=60)
        self.check()
        self.report(it, time.monotonic() - t_start)
        return 1 if self.violations else 0

    def report(self, iterations: int, seconds: float) -> None:
        lat = sorted(self.latencies)
        kills = self.stats["kills of ingest"] + self.stats["kills of compact"]
        print("\n== soak report")
        print(f"duration            {seconds / 60:.1f} min, {iterations} iterations, seed {self.a.seed}")
        print(f"store               {self.store}")
        print(f"scenarios           {dict(self.scenarios)}")
        print(f"kills               {kills} ({self.stats['kills of ingest']} ingest, {self.stats['kills of compact']} compact)")
        print(f"exit codes          {dict(sorted(self.exit_codes.items()))}")
        print(f"commits (calls)     {self.replay.version + 1}: {self.replay.commits_by_operation}")
        print(f"files landed        {self.stats['files landed']}; vacuums {self.stats['vacuums']}, files vacuumed {self.stats['files vacuumed']}")
        print(f"query checks        {self.stats['query checks']} cdrlake queries, {self.stats['deltalake read checks']} deltalake reads, {len(self.states)} distinct committed states")
        if lat:
            print(
                f"query latency       median {statistics.median(lat):.3f} s, p95 {lat[int(len(lat) * 0.95)]:.3f} s, max {lat[-1]:.3f} s"
            )
        print(f"verify points       {self.stats['verify points']}")
        print(f"violations          {len(self.violations)}")
        for v in self.violations[:50]:
            print(f"  - {v}")
        if len(self.violations) > 50:
            print(f"  ... and {len(self.violations) - 50} more")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=60)
    ap.add_argument("--store", help="the lake folder (default: a new temporary folder)")
    ap.add_argument("--binary", default=default_binary())
    ap.add_argument("--calls-per-day", type=int, default=20000)
    ap.add_argument("--tenants", type=int, default=8)
    ap.add_argument("--files-per-day", type=int, default=8)
    ap.add_argument("--days-per-landing", type=int, default=1)
    ap.add_argument("--date-span", type=int, default=14, help="days of the first landing; later ones fall in it")
    ap.add_argument("--target-file-size", default="8M")
    ap.add_argument("--vacuum-retain", default="15m", help="vacuum's grace period (must exceed any query or job)")
    ap.add_argument("--max-kill-delay", type=float, default=5.0, help="seconds: the latest a random kill lands")
    ap.add_argument("--verify-every", type=int, default=10, help="iterations between full verifications")
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep-going", action="store_true", help="do not stop at the first violation")
    a = ap.parse_args()
    a.scenarios = [s for s in a.scenarios.split(",") if s]
    unknown = set(a.scenarios) - set(SCENARIOS)
    if unknown or not a.scenarios:
        ap.error(f"unknown scenarios {sorted(unknown)}; known: {', '.join(SCENARIOS)}")
    if not Path(a.binary).is_file():
        ap.error(f"no cdrlake binary at {a.binary}")
    tmp = None
    if not a.store:
        tmp = tempfile.mkdtemp(prefix="cdrlake-soak-")
        a.store = str(Path(tmp) / "lake")
    elif Path(a.store).exists() and any(Path(a.store).iterdir()):
        ap.error(f"{a.store} is not empty: give a new folder")
    a.store = str(Path(a.store).resolve())
    code = Soak(a).soak()
    if tmp and code == 0:
        shutil.rmtree(tmp, ignore_errors=True)
    elif code:
        print(f"store kept for inspection: {a.store}")
    return code


if __name__ == "__main__":
    sys.exit(main())
