"""Independent checks of a cdrlake store, shared by tests/python/test_crash_safety.py and
tests/soak/soak.py: totals of the landed Parquet (DuckDB), of the Delta tables (Python
`deltalake` + pyarrow), and a replay of a table's Delta log done here, without any Delta library,
that flags a file added twice, a file removed that was not active, a landed file ingested twice,
or a compaction commit (dataChange = false) whose rows or money differ between the files it
removes and the files it adds."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import urllib.parse
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow.compute as pc
import pyarrow.parquet as pq
from deltalake import DeltaTable

COMMIT_FILE = re.compile(r"^(\d{20})\.json$")
INGEST_APP = "cdrlake-ingest:"
# The tables `generate` writes per day; the dimension tables (tenants, teams, users, numbers)
# are landed once, with the first generation: landing them again would add a second copy of
# every tenant.
FACT_TABLES = ("calls", "streams", "messages", "registrations")
TOTALS_SQL = (
    "SELECT count(*) AS n, count(DISTINCT call_id) AS d, "
    "CAST(sum(customer_charge) AS VARCHAR) AS charge, "
    "CAST(sum(provider_cost) AS VARCHAR) AS cost FROM calls"
)


def dec(v) -> Decimal:
    """A sum as an exact Decimal (None, from an empty table, is 0)."""
    return Decimal(0) if v is None else Decimal(str(v))


@dataclass(frozen=True)
class Totals:
    rows: int
    distinct_ids: int
    charge: Decimal
    cost: Decimal
    streams: int | None = None

    def key(self) -> tuple[int, Decimal]:
        """(rows, customer_charge): what the concurrent-query checks compare."""
        return (self.rows, self.charge)


# ---------------------------------------------------------------------------------------------
# Running the binary
# ---------------------------------------------------------------------------------------------


def cdrlake(binary: str, store: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [binary, "--store", store, *args], capture_output=True, text=True, timeout=timeout
    )


def start(
    binary: str, store: str, args: list[str], stderr_path: Path, stdout_path: Path | None = None
) -> subprocess.Popen:
    """Starts the binary in the background, its stderr (and stdout, if asked) to a file: a
    pipe nobody reads could block it."""
    err = open(stderr_path, "w")
    out = open(stdout_path, "w") if stdout_path else subprocess.DEVNULL
    try:
        return subprocess.Popen([binary, "--store", store, *args], stdout=out, stderr=err)
    finally:
        err.close()
        if stdout_path:
            out.close()


def was_killed(p: subprocess.Popen) -> bool:
    return p.returncode == -signal.SIGKILL


# ---------------------------------------------------------------------------------------------
# Landing
# ---------------------------------------------------------------------------------------------


def land(
    binary: str,
    store: str,
    *,
    seed: int,
    start: str,
    days: int,
    calls_per_day: int,
    files_per_day: int,
    tenants: int,
) -> int:
    """Generates a batch with `seed` and `start` into a staging store beside `store`, then
    moves its fact-table files into `<store>/landing/` with rename (atomic, as a pipeline
    lands files: ingest never sees half a file). Returns the number of files landed."""
    stage = Path(store).parent / f".stage-{seed}"
    shutil.rmtree(stage, ignore_errors=True)
    p = cdrlake(
        binary,
        store,
        "generate",
        "--out",
        str(stage),
        "--seed",
        str(seed),
        "--start",
        start,
        "--days",
        str(days),
        "--calls-per-day",
        str(calls_per_day),
        "--files-per-day",
        str(files_per_day),
        "--tenants",
        str(tenants),
    )
    assert p.returncode == 0, f"generate failed: {p.stderr}"
    moved = 0
    for table in FACT_TABLES:
        src_root = stage / "landing" / table
        for f in sorted(src_root.rglob("*.parquet")):
            dest = Path(store) / "landing" / table / f.relative_to(src_root)
            assert not dest.exists(), f"{dest} already landed: seeds must differ"
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.rename(f, dest)
            moved += 1
    shutil.rmtree(stage, ignore_errors=True)
    return moved


def landed_totals(store: str) -> Totals:
    """Totals of everything landed, read from the landing Parquet with DuckDB."""
    con = duckdb.connect()
    calls = str(Path(store) / "landing" / "calls" / "**" / "*.parquet")
    streams = str(Path(store) / "landing" / "streams" / "**" / "*.parquet")
    n, d, charge, cost = con.execute(
        "SELECT count(*), count(DISTINCT call_id), sum(customer_charge), sum(provider_cost) "
        f"FROM read_parquet('{calls}', hive_partitioning = false)"
    ).fetchone()
    (s,) = con.execute(
        f"SELECT count(*) FROM read_parquet('{streams}', hive_partitioning = false)"
    ).fetchone()
    return Totals(n, d, dec(charge), dec(cost), s)


def landed_files(store: str, table: str = "calls") -> int:
    return sum(1 for _ in (Path(store) / "landing" / table).rglob("*.parquet"))


def landed_call_ids(store: str) -> set[str]:
    con = duckdb.connect()
    calls = str(Path(store) / "landing" / "calls" / "**" / "*.parquet")
    return {
        r[0]
        for r in con.execute(
            f"SELECT call_id FROM read_parquet('{calls}', hive_partitioning = false)"
        ).fetchall()
    }


# ---------------------------------------------------------------------------------------------
# Reading the lake
# ---------------------------------------------------------------------------------------------


def delta_totals(store: str, version: int | None = None) -> tuple[Totals, int, list[str]]:
    """Totals of tables/calls (and the streams row count) read with Python deltalake and
    pyarrow; also the version read and the duplicated call_ids (should be none)."""
    dt = DeltaTable(str(Path(store) / "tables" / "calls"), version=version)
    t = dt.to_pyarrow_table(columns=["call_id", "customer_charge", "provider_cost"])
    ids = t["call_id"]
    distinct = pc.count_distinct(ids).as_py()
    dups: list[str] = []
    if distinct != t.num_rows:
        vc = pc.value_counts(ids)
        dups = [x["values"] for x in vc.to_pylist() if x["counts"] > 1]
    streams = None
    sdir = Path(store) / "tables" / "streams"
    if latest_version(sdir) is not None:
        streams = DeltaTable(str(sdir)).to_pyarrow_table(columns=["call_id"]).num_rows
    return (
        Totals(
            t.num_rows,
            distinct,
            dec(pc.sum(t["customer_charge"]).as_py()),
            dec(pc.sum(t["provider_cost"]).as_py()),
            streams,
        ),
        dt.version(),
        dups,
    )


def query_totals(binary: str, store: str) -> Totals:
    """Totals of the calls table (and streams' row count) through `cdrlake query`."""
    p = cdrlake(binary, store, "query", "--format", "json", TOTALS_SQL)
    assert p.returncode == 0, f"cdrlake query failed: {p.stderr}"
    r = json.loads(p.stdout)[0]
    p = cdrlake(binary, store, "query", "--format", "json", "SELECT count(*) AS n FROM streams")
    assert p.returncode == 0, f"cdrlake query failed: {p.stderr}"
    s = json.loads(p.stdout)[0]["n"]
    return Totals(r["n"], r["d"], dec(r["charge"]), dec(r["cost"]), s)


def delta_tables(store: str) -> list[Path]:
    """Every Delta table folder of the store."""
    out = []
    for kind in ("tables", "quarantine", "rollups", "reference"):
        d = Path(store) / kind
        if d.is_dir():
            # rollups/<name>/v<N> are one level deeper than tables/<table>
            out.extend(sorted(p.parent for p in d.rglob("_delta_log") if p.is_dir()))
    return out


def interleaved(commits: list[tuple[int, str, int | None]], a: str, b: str) -> int:
    """How many `b` commits fell between two commits of one `a` process: proof that the two
    jobs ran at the same time."""
    spans: dict[int, list[int]] = {}
    for v, op, pid in commits:
        if op == a and pid is not None:
            spans.setdefault(pid, []).append(v)
    return sum(
        1
        for v, op, _ in commits
        if op == b and any(min(vs) < v < max(vs) for vs in spans.values())
    )


def local_path(uri: str) -> str:
    if uri.startswith("file://"):
        uri = uri[len("file://") :]
    return urllib.parse.unquote(uri)


def active_file_problems(store: str) -> list[str]:
    """Files the latest version of a Delta table lists twice, or lists but are missing."""
    problems = []
    for t in delta_tables(store):
        uris = DeltaTable(str(t)).file_uris()
        if len(uris) != len(set(uris)):
            problems.append(f"{t}: {len(uris) - len(set(uris))} active files listed twice")
        for u in uris:
            if not os.path.exists(local_path(u)):
                problems.append(f"{t}: active file missing: {u}")
    return problems


def unreferenced_data_files(table_dir: Path) -> list[str]:
    """Parquet files under a table folder that its latest version does not reference."""
    active = {os.path.realpath(local_path(u)) for u in DeltaTable(str(table_dir)).file_uris()}
    on_disk = {
        os.path.realpath(p)
        for p in table_dir.rglob("*.parquet")
        if "_delta_log" not in p.relative_to(table_dir).parts
    }
    return sorted(on_disk - active)


def commit_count(table_dir: Path) -> int:
    try:
        return sum(1 for n in os.listdir(table_dir / "_delta_log") if COMMIT_FILE.match(n))
    except FileNotFoundError:
        return 0


def latest_version(table_dir: Path) -> int | None:
    try:
        vs = [int(m.group(1)) for n in os.listdir(table_dir / "_delta_log") if (m := COMMIT_FILE.match(n))]
    except FileNotFoundError:
        return None
    return max(vs) if vs else None


# ---------------------------------------------------------------------------------------------
# Replaying a Delta log ourselves
# ---------------------------------------------------------------------------------------------


class FileTotals:
    """(rows, sum of customer_charge) of each data file of tables/calls, read once with pyarrow
    (data files are immutable)."""

    def __init__(self, table_dir: Path):
        self.table_dir = table_dir
        self.cache: dict[str, tuple[int, Decimal]] = {}

    def of(self, rel_path: str) -> tuple[int, Decimal]:
        if rel_path not in self.cache:
            f = self.table_dir / urllib.parse.unquote(rel_path)
            t = pq.read_table(f, columns=["customer_charge"])
            self.cache[rel_path] = (t.num_rows, dec(pc.sum(t["customer_charge"]).as_py()))
        return self.cache[rel_path]

    def of_uri(self, uri: str) -> tuple[int, Decimal]:
        p = os.path.relpath(local_path(uri), self.table_dir)
        return self.of(p)

    def sum(self, rel_paths) -> tuple[int, Decimal]:
        n, s = 0, Decimal(0)
        for p in rel_paths:
            a, b = self.of(p)
            n += a
            s += b
        return n, s


@dataclass
class LogReplay:
    """Reads a table's commit files in order, as they appear, and keeps the active files and
    the (rows, customer_charge) totals of every version, checking each commit:

    - an add of a file already active, or a remove of a file not active (two jobs rewrote the
      same file);
    - an ingest app id (`cdrlake-ingest:<landed file>`) committed a second time;
    - a commit whose adds and removes are all dataChange = false (compaction) that does not
      keep the rows and the money of the files it replaces.

    With `file_totals`, every added file is read when its commit is replayed (call catch_up()
    often enough that a vacuum cannot have deleted it yet)."""

    table_dir: Path
    file_totals: FileTotals | None = None
    version: int = -1
    active: dict[str, tuple[int, Decimal] | None] = field(default_factory=dict)
    totals: dict[int, tuple[int, Decimal]] = field(default_factory=dict)
    ingested: dict[str, int] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    commits_by_operation: dict[str, int] = field(default_factory=dict)
    # (version, operation, pid of the cdrlake process) of every commit.
    commits: list[tuple[int, str, int | None]] = field(default_factory=list)

    def catch_up(self) -> int:
        """Replays the commits written since the last call; returns how many."""
        n = 0
        while True:
            f = self.table_dir / "_delta_log" / f"{self.version + 1:020d}.json"
            try:
                text = f.read_text()
            except FileNotFoundError:
                return n
            self._apply(self.version + 1, text)
            self.version += 1
            n += 1

    def _apply(self, v: int, text: str) -> None:
        adds, removes, data_change, op, pid = [], [], False, "?", None
        for line in text.splitlines():
            if not line.strip():
                continue
            a = json.loads(line)
            if "add" in a:
                adds.append(a["add"]["path"])
                data_change |= bool(a["add"].get("dataChange", True))
            elif "remove" in a:
                removes.append(a["remove"]["path"])
                data_change |= bool(a["remove"].get("dataChange", True))
            elif "txn" in a:
                app = a["txn"]["appId"]
                if app.startswith(INGEST_APP):
                    if app in self.ingested:
                        self.violations.append(
                            f"{self.table_dir.name} v{v}: {app} already committed in v{self.ingested[app]}"
                        )
                    else:
                        self.ingested[app] = v
            elif "commitInfo" in a:
                ci = a["commitInfo"]
                op = ci.get("cdrlake.operation") or ci.get("operation") or "?"
                pid = ci.get("cdrlake.pid")
        self.commits_by_operation[op] = self.commits_by_operation.get(op, 0) + 1
        self.commits.append((v, op, pid))
        for p in removes:
            if p not in self.active:
                self.violations.append(f"{self.table_dir.name} v{v} ({op}): removes {p}, not active")
        removed_totals = None
        if self.file_totals is not None:
            removed_totals = self.file_totals.sum(p for p in removes if p in self.active)
        for p in removes:
            self.active.pop(p, None)
        for p in adds:
            if p in self.active:
                self.violations.append(f"{self.table_dir.name} v{v} ({op}): adds {p}, already active")
            self.active[p] = None
        if self.file_totals is not None:
            added_totals = self.file_totals.sum(adds)
            if not data_change and (adds or removes) and added_totals != removed_totals:
                self.violations.append(
                    f"{self.table_dir.name} v{v} ({op}, dataChange=false): adds {added_totals} "
                    f"but removes {removed_totals} (rows, customer_charge)"
                )
            prev = self.totals.get(v - 1, (0, Decimal(0)))
            assert removed_totals is not None
            self.totals[v] = (
                prev[0] + added_totals[0] - removed_totals[0],
                prev[1] + added_totals[1] - removed_totals[1],
            )
