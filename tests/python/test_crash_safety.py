"""Crash safety and concurrency of ingest, compaction, rollups and vacuum, checked with readers
that are not cdrlake: DuckDB over the landing Parquet, Python `deltalake` + pyarrow over the
Delta tables, and a replay of the Delta log done in lakecheck.py.

- test_kill_ingest_and_compaction_at_random_points: ingest and compaction SIGKILLed at random
  points (at least 20 real kills, seeded so a failure reproduces), more data landed in
  between; then every landed row is in the table exactly once, money to the micro-unit, the
  rollups agree, and vacuum leaves a table that reads the same.
- test_ingest_compaction_and_queries_at_once: ingest and compaction at the same time while
  queries run (cdrlake and deltalake); every answer is the totals of a committed version.
- test_two_compactions_at_once: two compactions of the same lake at once change no data and
  never list a file twice.

The seed of the random choices is printed; CDRLAKE_CRASH_SEED=<n> reruns with another one.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import threading
import time
from decimal import Decimal
from pathlib import Path

import pyarrow.compute as pc
from deltalake import DeltaTable

from lakecheck import (
    FileTotals,
    LogReplay,
    Totals,
    active_file_problems,
    cdrlake,
    commit_count,
    dec,
    delta_totals,
    interleaved,
    land,
    landed_call_ids,
    landed_files,
    landed_totals,
    latest_version,
    local_path,
    query_totals,
    start,
    unreferenced_data_files,
    was_killed,
)

SEED = int(os.environ.get("CDRLAKE_CRASH_SEED", "20261001"))
TENANTS = 4
INGEST_OK = (0, 3, 4)  # 4: a rollup refresh abandoned after conflicts (nothing lost)
COMPACT_OK = (0, 4)  # 4: partitions or rollups abandoned after conflicts (nothing lost)


def generate(binary: str, store: str, *args: str) -> None:
    p = cdrlake(binary, store, "generate", "--tenants", str(TENANTS), *args)
    assert p.returncode == 0, p.stderr


def ok(binary: str, store: str, *args: str, codes=(0,)) -> subprocess.CompletedProcess:
    p = cdrlake(binary, store, *args)
    assert p.returncode in codes, f"cdrlake {' '.join(args)} exited {p.returncode}:\n{p.stdout}\n{p.stderr}"
    return p


def ingest_small_files(binary: str, store: str) -> None:
    """Ingests calls and streams one landed file per commit (many small files to compact),
    then the other tables in one commit each."""
    ok(binary, store, "ingest", "--table", "calls", "--table", "streams", "--files-per-commit", "1", "--no-rollups")
    ok(binary, store, "ingest")


def random_start(rng: random.Random) -> str:
    return f"2026-10-{rng.randint(1, 12):02d}"


def assert_final_state(binary: str, store: str, replay: LogReplay) -> Totals:
    """Everything landed is in the table exactly once, for every reader; rollups agree."""
    landed = landed_totals(store)
    assert landed.rows == landed.distinct_ids, "the generator landed a call_id twice"
    ours, _, dups = delta_totals(store)
    assert not dups, f"call_ids in tables/calls twice: {dups[:10]} ({len(dups)} in all)"
    assert ours == landed, f"deltalake reads {ours}, landed {landed}"
    assert query_totals(binary, store) == landed, "cdrlake query disagrees with the landed totals"
    replay.catch_up()
    assert not replay.violations, "\n".join(replay.violations)
    assert replay.totals[replay.version] == landed.key(), (
        f"the log replay gives {replay.totals[replay.version]}, landed {landed.key()}"
    )
    assert len(replay.ingested) == landed_files(store), (
        f"{len(replay.ingested)} landed files committed to calls, {landed_files(store)} landed"
    )
    p = ok(binary, store, "rollup", "verify", "--json")
    v = json.loads(p.stdout)
    for r in v["rollups"]:
        assert r["ok"] and not r["stale_all"] and not r["stale_partitions"], r
    return landed


def test_kill_ingest_and_compaction_at_random_points(cdrlake_bin, tmp_path):
    rng = random.Random(SEED)
    print(f"seed {SEED}")
    store = str(tmp_path / "lake")
    calls_dir = Path(store) / "tables" / "calls"
    generate(cdrlake_bin, store, "--days", "8", "--calls-per-day", "1200", "--files-per-day", "8")
    ids = landed_call_ids(store)
    replay = LogReplay(calls_dir, FileTotals(calls_dir))

    want_kills, cap = 24, 80
    kills = finished = lands = 0
    events = []
    seed = 1000
    for i in range(cap):
        if kills >= want_kills:
            break
        if i > 0 and rng.random() < 0.2:
            seed += 1
            land(
                cdrlake_bin, store, seed=seed, start=random_start(rng), days=2,
                calls_per_day=1000, files_per_day=6, tenants=TENANTS,
            )
            ids = landed_call_ids(store)
            lands += 1
        if rng.random() < 0.55:
            job, args = "ingest", ["ingest", "--files-per-commit", "1"]
        else:
            job, args = "compact", ["compact", "--target-file-size", "1M"]
        if rng.random() < 0.5:
            how = ("commits", rng.randint(0, 4), rng.uniform(0, 0.025))
        else:
            how = ("delay", rng.uniform(0.02, 3.0 if job == "ingest" else 1.5))
        before = commit_count(calls_dir)
        p = start(cdrlake_bin, store, args, tmp_path / "stderr.txt")
        try:
            if how[0] == "commits":
                deadline = time.monotonic() + 4
                while (
                    commit_count(calls_dir) < before + how[1]
                    and p.poll() is None
                    and time.monotonic() < deadline
                ):
                    time.sleep(0.002)
                time.sleep(how[2])
            else:
                t_end = time.monotonic() + how[1]
                while p.poll() is None and time.monotonic() < t_end:
                    time.sleep(0.005)
        finally:
            if p.poll() is None:
                p.kill()
            p.wait()
        if was_killed(p):
            kills += 1
        else:
            finished += 1
            allowed = INGEST_OK if job == "ingest" else COMPACT_OK
            assert p.returncode in allowed, (
                f"iteration {i}: {' '.join(args)} exited {p.returncode} after earlier kills "
                f"(seed {SEED}):\n{(tmp_path / 'stderr.txt').read_text()}"
            )
        events.append(f"{i}:{job}:{how[0]}:{'killed' if was_killed(p) else p.returncode}")

        # The state a kill leaves is consistent: no row twice, only landed rows, and the
        # log replays cleanly.
        now, version, dups = (
            delta_totals(store) if latest_version(calls_dir) is not None else (None, None, [])
        )
        assert not dups, f"iteration {i} ({events[-1]}), v{version}: call_ids twice: {dups[:10]}"
        if now is not None:
            assert now.rows <= len(ids)
        replay.catch_up()
        assert not replay.violations, f"iteration {i} ({events[-1]}):\n" + "\n".join(replay.violations)

    print(f"{kills} kills, {finished} runs finished, {lands} landings: {' '.join(events)}")
    assert kills >= 20, f"only {kills} runs were killed mid-way ({finished} finished): {events}"

    # Whatever is left is finished, then compacted.
    ok(cdrlake_bin, store, "ingest", codes=(0,))
    again = json.loads(ok(cdrlake_bin, store, "ingest", "--json").stdout)
    assert again["files_ingested"] == 0, again
    ok(cdrlake_bin, store, "compact", "--target-file-size", "1M")
    landed = assert_final_state(cdrlake_bin, store, replay)
    assert replay.commits_by_operation.get("compact", 0) > 0, replay.commits_by_operation

    before = DeltaTable(str(calls_dir)).to_pyarrow_table().sort_by("call_id")
    ok(cdrlake_bin, store, "vacuum", "--retain", "0s", "--allow-short-retention")
    after = DeltaTable(str(calls_dir)).to_pyarrow_table().sort_by("call_id")
    assert after.equals(before), "tables/calls reads differently after vacuum"
    assert active_file_problems(store) == []
    for t in ("calls", "streams"):
        left = unreferenced_data_files(Path(store) / "tables" / t)
        assert left == [], f"vacuum --retain 0s left unreferenced files in tables/{t}: {left[:5]}"
    assert query_totals(cdrlake_bin, store) == landed
    ok(cdrlake_bin, store, "rollup", "verify")


def test_ingest_compaction_and_queries_at_once(cdrlake_bin, tmp_path):
    rng = random.Random(SEED + 1)
    store = str(tmp_path / "lake")
    calls_dir = Path(store) / "tables" / "calls"
    generate(cdrlake_bin, store, "--days", "3", "--calls-per-day", "800", "--files-per-day", "4")
    ok(cdrlake_bin, store, "ingest")

    stop = threading.Event()
    seen_query: list[tuple[int, Decimal, float]] = []
    seen_delta: list[tuple[int, int, Decimal]] = []
    errors: list[str] = []

    def query_loop():
        sql = "SELECT count(*) AS n, CAST(sum(customer_charge) AS VARCHAR) AS s FROM calls"
        while not stop.is_set():
            t0 = time.monotonic()
            try:
                p = cdrlake(cdrlake_bin, store, "query", sql, "--format", "json", timeout=120)
                if p.returncode != 0:
                    errors.append(f"cdrlake query exited {p.returncode}: {p.stderr}")
                    continue
                r = json.loads(p.stdout)[0]
                seen_query.append((r["n"], dec(r["s"]), time.monotonic() - t0))
            except Exception as e:
                errors.append(f"cdrlake query: {e!r}")

    def delta_loop():
        while not stop.is_set():
            try:
                dt = DeltaTable(str(calls_dir))
                t = dt.to_pyarrow_table(columns=["customer_charge"])
                seen_delta.append((dt.version(), t.num_rows, dec(pc.sum(t["customer_charge"]).as_py())))
            except Exception as e:  # a reader failing on a committed version is a finding
                errors.append(f"deltalake read failed: {e!r}")
            time.sleep(0.05)

    threads = [threading.Thread(target=query_loop), threading.Thread(target=delta_loop)]
    for t in threads:
        t.start()
    codes = []
    try:
        for r in range(5):
            land(
                cdrlake_bin, store, seed=2000 + r, start=random_start(rng), days=2,
                calls_per_day=800, files_per_day=5, tenants=TENANTS,
            )
            ing = start(cdrlake_bin, store, ["ingest", "--files-per-commit", "1"], tmp_path / "ingest.err")
            time.sleep(rng.uniform(0, 0.5))
            com = start(
                cdrlake_bin, store, ["compact", "--target-file-size", "1M"], tmp_path / "compact.err"
            )
            for p, allowed, err in ((ing, INGEST_OK, "ingest.err"), (com, COMPACT_OK, "compact.err")):
                p.wait(timeout=300)
                assert p.returncode in allowed, (
                    f"round {r}: {p.args[3:]} exited {p.returncode}:\n{(tmp_path / err).read_text()}"
                )
            codes.append((ing.returncode, com.returncode))
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors, "\n".join(errors[:5])

    ok(cdrlake_bin, store, "ingest")
    ok(cdrlake_bin, store, "compact", "--target-file-size", "1M")
    ok(cdrlake_bin, store, "rollup", "refresh")

    # The totals of every committed version, from Python deltalake's file lists, checked
    # against the log replay.
    files = FileTotals(calls_dir)
    replay = LogReplay(calls_dir, files)
    replay.catch_up()
    assert not replay.violations, "\n".join(replay.violations)
    dt = DeltaTable(str(calls_dir))
    latest = dt.version()
    by_version: dict[int, tuple[int, Decimal]] = {}
    for v in range(latest + 1):
        dt.load_as_version(v)
        n, s = 0, Decimal(0)
        for u in dt.file_uris():
            a, b = files.of_uri(u)
            n, s = n + a, s + b
        by_version[v] = (n, s)
        assert by_version[v] == replay.totals[v], f"v{v}: deltalake {by_version[v]}, log replay {replay.totals[v]}"
    committed = set(by_version.values())

    bad = [(n, s) for n, s, _ in seen_query if (n, s) not in committed]
    assert not bad, f"cdrlake query saw totals of no committed version: {bad[:5]}"
    bad_delta = [(v, n, s) for v, n, s in seen_delta if by_version.get(v) != (n, s)]
    assert not bad_delta, f"deltalake reads that differ from their version: {bad_delta[:5]}"
    distinct_states = {(n, s) for n, s, _ in seen_query}
    lat = sorted(x for _, _, x in seen_query)
    print(
        f"{len(seen_query)} cdrlake queries ({len(distinct_states)} distinct states, median "
        f"{lat[len(lat) // 2]:.2f} s, max {lat[-1]:.2f} s), {len(seen_delta)} deltalake reads, "
        f"{latest + 1} versions, exit codes {codes}, commits {replay.commits_by_operation}"
    )
    assert len(seen_query) >= 10 and len(distinct_states) >= 3, "too few queries overlapped the jobs"
    overlap = interleaved(replay.commits, "ingest", "compact")
    print(f"{overlap} compaction commits landed between two commits of one ingest")
    assert overlap > 0, f"ingest and compaction never overlapped: {replay.commits}"

    landed = assert_final_state(cdrlake_bin, store, replay)
    assert by_version[latest] == landed.key()
    assert active_file_problems(store) == []


def test_two_compactions_at_once(cdrlake_bin, tmp_path):
    rng = random.Random(SEED + 2)
    store = str(tmp_path / "lake")
    calls_dir = Path(store) / "tables" / "calls"
    generate(cdrlake_bin, store, "--days", "4", "--calls-per-day", "800", "--files-per-day", "6")
    ingest_small_files(cdrlake_bin, store)
    replay = LogReplay(calls_dir, FileTotals(calls_dir))
    results = []
    for r in range(3):
        if r > 0:
            land(
                cdrlake_bin, store, seed=3000 + r, start=random_start(rng), days=2,
                calls_per_day=800, files_per_day=6, tenants=TENANTS,
            )
            ingest_small_files(cdrlake_bin, store)
        before, _, _ = delta_totals(store)
        replay.catch_up()
        # Rows of the partitions with at least two files: what the two compactions together
        # must rewrite, once.
        parts: dict[str, list[str]] = {}
        for path in replay.active:
            parts.setdefault(path.split("/")[0], []).append(path)
        to_compact = sum(replay.file_totals.sum(ps)[0] for ps in parts.values() if len(ps) >= 2)
        files_before = len(replay.active)

        procs = [
            start(
                cdrlake_bin, store, ["compact", "--target-file-size", "1M", "--json"],
                tmp_path / f"c{k}.err", tmp_path / f"c{k}.json",
            )
            for k in range(2)
        ]
        for k, p in enumerate(procs):
            p.wait(timeout=300)
            assert p.returncode in COMPACT_OK, f"round {r}: compaction {k} exited {p.returncode}:\n{(tmp_path / f'c{k}.err').read_text()}"
        results.append([p.returncode for p in procs])

        after, _, dups = delta_totals(store)
        queried = query_totals(cdrlake_bin, store)
        replay.catch_up()
        problems = []
        if after != before:
            problems.append(f"deltalake reads {after}, before the two compactions {before}")
        if queried != before:
            problems.append(f"cdrlake query reads {queried}, before the two compactions {before}")
        if dups:
            problems.append(f"{len(dups)} call_ids twice, e.g. {dups[:3]}")
        problems += replay.violations[:6]
        if len(replay.violations) > 6:
            problems.append(f"... and {len(replay.violations) - 6} more log replay findings")
        assert not problems, (
            f"round {r}: two compactions at once (exit codes {results[-1]}):\n" + "\n".join(problems)
        )
        assert replay.totals[replay.version] == before.key()
        assert len(replay.active) < files_before, "nothing was compacted"
        uris = DeltaTable(str(calls_dir)).file_uris()
        assert len(uris) == len(set(uris)), f"round {r}: an active file is listed twice"
        assert {os.path.relpath(local_path(u), calls_dir) for u in uris} == set(replay.active)
        assert active_file_problems(store) == []
        # Each partition rewritten by one of the two: a loser re-plans, finds the partition
        # already compacted and rewrites nothing.
        rewritten = 0
        for k in range(2):
            s = json.loads((tmp_path / f"c{k}.json").read_text())
            rewritten += next(t["rows"] for t in s["tables"] if t["table"] == "calls")
        assert rewritten == to_compact, (
            f"round {r}: the two compactions rewrote {rewritten} rows of calls between them; "
            f"{to_compact} rows were in partitions to compact"
        )
    print(f"exit codes of the compaction pairs: {results}")

    ok(cdrlake_bin, store, "compact", "--target-file-size", "1M")
    ok(cdrlake_bin, store, "rollup", "refresh")
    assert_final_state(cdrlake_bin, store, replay)
