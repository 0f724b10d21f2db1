"""The batch jobs end to end: compact, vacuum, retention apply and the rollups (refresh, verify).

Every expected value comes from an independent reader: Python deltalake for the Delta tables,
DuckDB over their Arrow data, pyarrow.parquet on the data files, the Delta log's JSON read
directly. cdrlake's own output is only ever checked against those, never used as the oracle.
Every job runs with --json; `job()` checks the summary's exit_code is the process's."""

import csv
import json
import re
import os
import shutil
import subprocess
import time
from collections import namedtuple
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable, write_deltalake

from conftest import TABLES, Cdrlake

Fact = namedtuple("Fact", "time key bloom")
FACTS = {
    "calls": Fact("invite_time", ["call_id"], ["call_id", "caller_number", "callee_number"]),
    "streams": Fact("start_time", ["call_id", "stream_id"], ["call_id"]),
    "messages": Fact("start_time", ["session_id"], ["session_id"]),
    "registrations": Fact("event_time", ["event_id"], ["user_id"]),
}
INGEST = ["ingest", "--files-per-commit", "2"]  # many small files per partition


def gen(start: str = "2026-10-01", days: int = 6) -> list[str]:
    return ["generate", "--tenants", "4", "--days", str(days), "--calls-per-day", "1500",
            "--files-per-day", "6", "--start", start]


def job(lake: Cdrlake, *args: str, code: int = 0) -> dict:
    """Runs `cdrlake <args> --json`; its summary, checked to carry the process's exit code."""
    p = lake.run(*args, "--json", check=False)
    assert p.returncode == code, f"cdrlake {' '.join(args)} exited {p.returncode}, not {code}: {p.stderr}"
    out = json.loads(p.stdout)
    assert out["exit_code"] == p.returncode, out
    if isinstance(out.get("rollups"), dict):  # the refresh after ingest, compact or retention
        assert out["rollups"]["exit_code"] == 0, out["rollups"]
    return out


def by_name(items: list[dict], key: str) -> dict[str, dict]:
    return {x[key]: x for x in items}


# --- independent readers -------------------------------------------------------------------


def rollup_folder(lake: Cdrlake, rollup: str) -> str:
    """The Delta table of a rollup's current version, relative to the store: rollups/<name>/v<N>
    with the highest N (a changed rollup query is a new version, built beside the old one)."""
    versions = [int(p.name[1:]) for p in (Path(lake.store) / "rollups" / rollup).glob("v*")]
    assert versions, f"rollup {rollup} has no table"
    return f"rollups/{rollup}/v{max(versions)}"


def delta(lake: Cdrlake, folder: str) -> DeltaTable:
    return DeltaTable(f"{lake.store}/{folder}")


def read(lake: Cdrlake, table: str) -> pa.Table:
    return delta(lake, f"tables/{table}").to_pyarrow_table()


def active_files(lake: Cdrlake, folder: str) -> dict[str, int]:
    """Path (relative to the table folder) -> size of every file the current version references."""
    adds = pa.table(delta(lake, folder).get_add_actions(flatten=True))
    return dict(zip(adds["path"].to_pylist(), adds["size_bytes"].to_pylist()))


def by_partition(files) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for f in files:
        out.setdefault(f.split("/")[0], set()).add(f)
    return out


def versions(lake: Cdrlake) -> dict[str, int]:
    return {t: delta(lake, f"tables/{t}").version() for t in TABLES}


def disk_files(lake: Cdrlake) -> dict[str, float]:
    """Every file under tables/ and rollups/ (log included) with its modification time."""
    root = Path(lake.store)
    return {str(p.relative_to(root)): p.stat().st_mtime
            for d in ("tables", "rollups") for p in (root / d).rglob("*") if p.is_file()}


def in_key_order(table: str, rows: pa.Table) -> pa.Table:
    """Rows in key order, columns by name: tables with the same rows compare equal."""
    return rows.select(sorted(rows.column_names)).sort_by([(k, "ascending") for k in FACTS[table].key])


def rows_in_key_order(lake: Cdrlake, table: str) -> pa.Table:
    return in_key_order(table, read(lake, table))


def calls_totals(lake: Cdrlake) -> dict:
    calls = read(lake, "calls")
    con = duckdb.connect()
    con.register("calls", calls)
    rows, ids = con.execute("SELECT count(*), count(DISTINCT call_id) FROM calls").fetchone()
    charge = pc.sum(calls["customer_charge"]).as_py()
    cost = pc.sum(calls["provider_cost"]).as_py()
    assert isinstance(charge, Decimal) and isinstance(cost, Decimal)
    return {"rows": rows, "call_ids": ids, "charge": charge, "cost": cost}


def commit(lake: Cdrlake, folder: str, version: int) -> list[dict]:
    """The actions of one Delta commit, read from the log file itself."""
    log = Path(lake.store, folder, "_delta_log", f"{version:020}.json")
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def landing_files(lake: Cdrlake, table: str | None = None) -> set[Path]:
    root = Path(lake.store, "landing", table or "")
    return {p for p in root.rglob("*") if p.is_file()}


def parquet_rows(files) -> int:
    return sum(pq.ParquetFile(f).metadata.num_rows for f in files)


def utc_dates(files, column: str) -> set[str]:
    """The UTC dates (event_date partitions) of a time column over some Parquet files."""
    dates = set()
    for f in files:
        t = pq.read_table(f, columns=[column])[column]
        dates |= {d.isoformat() for d in pc.cast(t.cast(pa.timestamp("us", "UTC")), pa.date32()).to_pylist()}
    return dates


# --- the rollups, computed again by DuckDB ---------------------------------------------------

ROLLUP_SQL = {
    "calls_hourly": """
        SELECT c.event_date, c.tenant_id, c.team_id,
               date_trunc('hour', timezone(t.time_zone, c.invite_time)) AS local_hour,
               c.end_reason, c.disposition,
               count(*) AS calls,
               sum(c.billable_s) AS billable_s,
               sum(CASE WHEN c.is_pstn THEN c.billable_s ELSE 0 END) AS pstn_billable_s,
               count(*) FILTER (WHERE c.media = 'audio') AS audio_calls,
               sum(c.billable_s) FILTER (WHERE c.media = 'audio') AS audio_billable_s,
               count(*) FILTER (WHERE c.media = 'video') AS video_calls,
               sum(c.billable_s) FILTER (WHERE c.media = 'video') AS video_billable_s,
               count(*) FILTER (WHERE c.media = 'app_sharing') AS app_sharing_calls,
               count(*) FILTER (WHERE c.media = 'file_transfer') AS file_transfer_calls,
               count(*) FILTER (WHERE c.direction = 'inbound' AND c.conference_id IS NULL)
                   AS team_inbound_calls
        FROM calls c JOIN tenants t USING (tenant_id) GROUP BY ALL""",
    "ims_hourly": """
        SELECT m.event_date, m.tenant_id, m.team_id,
               date_trunc('hour', timezone(t.time_zone, m.start_time)) AS local_hour,
               m.direction, m.outcome,
               count(*) AS sessions, sum(m.message_count) AS messages,
               sum(epoch(m.end_time) - epoch(m.start_time))
                   FILTER (WHERE m.outcome = 'accepted' AND m.end_time IS NOT NULL) AS accepted_s,
               count(*) FILTER (WHERE m.outcome = 'accepted' AND m.end_time IS NOT NULL) AS accepted_timed
        FROM messages m JOIN tenants t USING (tenant_id) GROUP BY ALL""",
    "team_calls_hourly": """
        WITH q AS (SELECT DISTINCT tenant_id, number FROM numbers WHERE number_type = 'queue'),
        c AS (
            SELECT c.*, t.time_zone,
                   c.direction = 'inbound' AND q.number IS NULL AS inbound_direct,
                   c.direction = 'outbound' OR (c.direction = 'inbound' AND q.number IS NULL) AS direct
            FROM calls c JOIN tenants t USING (tenant_id)
            LEFT JOIN q ON q.tenant_id = c.tenant_id AND q.number = c.callee_number
            WHERE c.team_id IS NOT NULL AND c.conference_id IS NULL)
        SELECT event_date, tenant_id, team_id,
               date_trunc('hour', timezone(time_zone, invite_time)) AS local_hour,
               count(*) FILTER (WHERE direction = 'inbound' AND disposition = 'answered') AS accepted_calls,
               count(*) FILTER (WHERE direction = 'inbound'
                                  AND disposition IN ('lost_to_queue', 'no_answer', 'busy')) AS lost_calls,
               count(*) AS total_calls,
               count(*) FILTER (WHERE inbound_direct) AS inbound_direct_calls,
               count(*) FILTER (WHERE direction = 'outbound') AS outbound_direct_calls,
               count(*) FILTER (WHERE direction = 'internal') AS internal_calls,
               sum(billable_s) FILTER (WHERE disposition = 'answered') AS answered_s,
               count(*) FILTER (WHERE disposition = 'answered') AS answered_calls,
               sum(billable_s) FILTER (WHERE disposition = 'answered' AND direct) AS direct_answered_s,
               count(*) FILTER (WHERE disposition = 'answered' AND direct) AS direct_answered_calls,
               count(*) FILTER (WHERE voicemail) AS voicemails
        FROM c GROUP BY ALL""",
    "activity_hourly": """
        WITH a AS (
            SELECT c.event_date, c.tenant_id, c.team_id, timezone(t.time_zone, c.invite_time) AS lt,
                   1 AS calls, (c.disposition = 'answered')::INT AS answered_calls,
                   c.billable_s, CASE WHEN c.is_pstn THEN c.billable_s ELSE 0 END AS pstn_billable_s,
                   (c.disposition = 'answered' AND c.media = 'audio')::INT AS audio_calls,
                   CASE WHEN c.disposition = 'answered' AND c.media = 'audio' THEN c.billable_s END AS audio_billable_s,
                   (c.disposition = 'answered' AND c.media = 'video')::INT AS video_calls,
                   CASE WHEN c.disposition = 'answered' AND c.media = 'video' THEN c.billable_s END AS video_billable_s,
                   (c.disposition = 'answered' AND c.media = 'app_sharing')::INT AS app_sharing_calls,
                   (c.disposition = 'answered' AND c.media = 'file_transfer')::INT AS file_transfer_calls,
                   0 AS im_sessions, NULL::BIGINT AS im_messages, 0 AS accepted_ims, NULL::BIGINT AS accepted_im_messages
            FROM calls c JOIN tenants t USING (tenant_id)
            UNION ALL BY NAME
            SELECT m.event_date, m.tenant_id, m.team_id, timezone(t.time_zone, m.start_time) AS lt,
                   1 AS im_sessions, m.message_count::BIGINT AS im_messages,
                   (m.outcome = 'accepted')::INT AS accepted_ims,
                   CASE WHEN m.outcome = 'accepted' THEN m.message_count::BIGINT END AS accepted_im_messages
            FROM messages m JOIN tenants t USING (tenant_id))
        SELECT event_date, tenant_id, team_id, date_trunc('hour', lt) AS local_hour,
               coalesce(sum(calls), 0) AS calls, coalesce(sum(answered_calls), 0) AS answered_calls,
               sum(billable_s) AS billable_s, sum(pstn_billable_s) AS pstn_billable_s,
               coalesce(sum(audio_calls), 0) AS audio_calls, sum(audio_billable_s) AS audio_billable_s,
               coalesce(sum(video_calls), 0) AS video_calls, sum(video_billable_s) AS video_billable_s,
               coalesce(sum(app_sharing_calls), 0) AS app_sharing_calls,
               coalesce(sum(file_transfer_calls), 0) AS file_transfer_calls,
               coalesce(sum(im_sessions), 0) AS im_sessions, sum(im_messages) AS im_messages,
               coalesce(sum(accepted_ims), 0) AS accepted_ims, sum(accepted_im_messages) AS accepted_im_messages
        FROM a GROUP BY ALL""",
    "ratings_hourly": """
        SELECT c.event_date, c.tenant_id, c.team_id,
               CASE WHEN c.conference_id IS NOT NULL THEN c.caller_user
                    WHEN c.direction = 'inbound' THEN c.callee_user
                    ELSE c.caller_user END AS user_sip,
               date_trunc('hour', timezone(t.time_zone, c.invite_time)) AS local_hour,
               count(*) AS rated, sum(c.user_rating) AS rating_sum, min(c.user_rating) AS lowest,
               count(*) FILTER (WHERE c.user_rating = 1) AS rating_1,
               count(*) FILTER (WHERE c.user_rating = 2) AS rating_2,
               count(*) FILTER (WHERE c.user_rating = 3) AS rating_3,
               count(*) FILTER (WHERE c.user_rating = 4) AS rating_4,
               count(*) FILTER (WHERE c.user_rating = 5) AS rating_5
        FROM calls c JOIN tenants t USING (tenant_id)
        WHERE c.user_rating IS NOT NULL GROUP BY ALL""",
    "calls_daily": """
        SELECT c.event_date, c.tenant_id, c.team_id, c.customer, c.provider,
               CAST(timezone(coalesce(t.time_zone, 'UTC'), c.invite_time) AS DATE) AS local_date,
               count(*) AS attempts, count(c.answer_time) AS answered, sum(c.billable_s) AS billable_s,
               sum(c.customer_charge) AS customer_charge, sum(c.provider_cost) AS provider_cost,
               count(*) FILTER (WHERE c.license_decision = 'surged') AS surged,
               count(*) FILTER (WHERE c.license_decision = 'rejected') AS rejected,
               count(*) FILTER (WHERE c.dtmf_digits > 0) AS dtmf_calls,
               sum(c.dtmf_digits) FILTER (WHERE c.dtmf_digits > 0) AS dtmf_digits,
               count(*) FILTER (WHERE c.dtmf_digits > 0 AND c.disposition = 'answered') AS dtmf_answered,
               sum(c.billable_s) FILTER (WHERE c.dtmf_digits > 0) AS dtmf_billable_s,
               sum(c.customer_charge) FILTER (WHERE c.dtmf_digits > 0) AS dtmf_charge,
               sum(c.provider_cost) FILTER (WHERE c.dtmf_digits > 0) AS dtmf_cost
        FROM calls c LEFT JOIN tenants t USING (tenant_id) GROUP BY ALL""",
    "calls_by_number": """
        SELECT event_date, tenant_id, team_id, caller_number AS number, call_id, invite_time,
               caller_number, callee_number, duration_s, customer_charge
        FROM calls WHERE caller_number IS NOT NULL
        UNION ALL
        SELECT event_date, tenant_id, team_id, callee_number, call_id, invite_time,
               caller_number, callee_number, duration_s, customer_charge
        FROM calls WHERE callee_number IS NOT NULL AND caller_number IS DISTINCT FROM callee_number""",
    "conference_legs": """
        SELECT event_date, tenant_id, team_id, conference_id, conference_organizer, call_id,
               invite_time, answer_time, end_time, disposition, is_pstn, billable_s
        FROM calls WHERE conference_id IS NOT NULL""",
    "logins_hourly": """
        SELECT r.event_date, r.tenant_id, r.user_id,
               date_trunc('hour', timezone(t.time_zone, r.event_time)) AS local_hour, count(*) AS logins
        FROM registrations r JOIN tenants t USING (tenant_id)
        WHERE r.event_type = 'login' AND r.success GROUP BY ALL""",
    # Peak connected calls per tenant and UTC quarter hour, by a sweep in SQL: the level after
    # each distinct (time, +1/-1) step (ends before starts at the same instant); a quarter
    # hour's peak is the level carried into it or any level inside it; quarter hours without a
    # step keep the level carried in. Calls occupy [answer, end); calls with end <= answer only
    # count as joined.
    "concurrency_slots": """
        WITH iv AS (
            SELECT tenant_id, timezone('UTC', answer_time) AS s, timezone('UTC', end_time) AS e
            FROM calls WHERE answer_time IS NOT NULL AND end_time IS NOT NULL),
        steps AS (
            SELECT tenant_id, t, d, count(*) AS n FROM (
                SELECT tenant_id, s AS t, 1 AS d FROM iv WHERE e > s
                UNION ALL SELECT tenant_id, e, -1 FROM iv WHERE e > s) GROUP BY ALL),
        lv AS (
            SELECT tenant_id, t, d, n, time_bucket(INTERVAL 15 MINUTE, t) AS slot,
                   sum(d * n) OVER (PARTITION BY tenant_id ORDER BY t, d
                                    ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS lvl
            FROM steps),
        stepped AS (
            SELECT tenant_id, slot,
                   -- the level carried in, unless the first step is at the quarter hour's
                   -- start (a call ending then does not occupy it)
                   greatest(max(lvl), CASE WHEN min(t) > slot
                                           THEN arg_min(lvl - d * n, (t, d)) ELSE 0 END) AS peak,
                   arg_max(lvl, (t, d)) AS level_out
            FROM lv GROUP BY tenant_id, slot),
        gaps AS (
            SELECT tenant_id, slot, peak, level_out,
                   lead(slot) OVER (PARTITION BY tenant_id ORDER BY slot) AS next_slot
            FROM stepped),
        peaks AS (
            SELECT tenant_id, slot, peak FROM gaps
            UNION ALL
            SELECT tenant_id, unnest(generate_series(slot + INTERVAL 15 MINUTE,
                                                     next_slot - INTERVAL 15 MINUTE,
                                                     INTERVAL 15 MINUTE)), level_out
            FROM gaps WHERE level_out > 0 AND next_slot > slot + INTERVAL 15 MINUTE),
        joined AS (
            SELECT tenant_id, time_bucket(INTERVAL 15 MINUTE, s) AS slot, count(*) AS joined
            FROM iv GROUP BY ALL)
        SELECT CAST(slot AS DATE) AS event_date, tenant_id, slot AT TIME ZONE 'UTC' AS slot_start,
               coalesce(j.joined, 0) AS joined, coalesce(p.peak, 0) AS max_concurrent
        FROM peaks p FULL JOIN joined j USING (tenant_id, slot)
        WHERE coalesce(j.joined, 0) > 0 OR coalesce(p.peak, 0) > 0""",
}


def lake_in_duckdb(lake: Cdrlake) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for t in ("calls", "messages", "registrations", "tenants", "numbers"):
        con.register(t, read(lake, t))
    for r in ROLLUP_SQL:
        con.register(r, delta(lake, rollup_folder(lake, r)).to_pyarrow_table())
    return con


def rollup_differences(con: duckdb.DuckDBPyConnection, rollup: str) -> tuple[int, int]:
    """(rows DuckDB computes that the rollup lacks, rollup rows DuckDB does not compute)."""
    # Durations are sums of doubles: compared to the millisecond, whatever the order of addition.
    cols = ", ".join(
        f"round({c[0]}, 3) AS {c[0]}" if c[0] == "accepted_s" else c[0]
        for c in con.execute(f"DESCRIBE {rollup}").fetchall()
    )
    expected = f"SELECT {cols} FROM ({ROLLUP_SQL[rollup]})"
    got = f"SELECT {cols} FROM {rollup}"
    missing = con.execute(f"SELECT count(*) FROM ({expected} EXCEPT ALL {got})").fetchone()[0]
    extra = con.execute(f"SELECT count(*) FROM ({got} EXCEPT ALL {expected})").fetchone()[0]
    return missing, extra


def assert_rollups_verified(lake: Cdrlake) -> None:
    """`rollup verify` says every rollup agrees, and so does DuckDB."""
    v = job(lake, "rollup", "verify")
    assert set(by_name(v["rollups"], "rollup")) == set(ROLLUP_SQL)
    con = lake_in_duckdb(lake)
    for r in v["rollups"]:
        assert r["ok"] and not r["stale_all"] and r["stale_partitions"] == [], r
        assert r["rows"] == con.execute(f"SELECT count(*) FROM {r['rollup']}").fetchone()[0]
        assert rollup_differences(con, r["rollup"]) == (0, 0), r["rollup"]


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_template(cdrlake_bin, tmp_path_factory) -> Path:
    """6 days of 4 tenants, ingested 2 files per commit: 46 to 60 small files per fact table."""
    lake = Cdrlake(cdrlake_bin, str(tmp_path_factory.mktemp("jobs") / "lake"))
    lake.run(*gen())
    job(lake, *INGEST)
    return Path(lake.store)


def copy_lake(template: Path, binary: str, dest: Path) -> Cdrlake:
    shutil.copytree(template, dest)
    return Cdrlake(binary, str(dest))


@pytest.fixture
def lake(small_template, cdrlake_bin, tmp_path) -> Cdrlake:
    return copy_lake(small_template, cdrlake_bin, tmp_path / "lake")


# Retention days per tenant; the retention lake's data ends about 87 days ago (real clock).
RETENTION = {"t001": 90, "t002": 365, "t003": 3650, "t004": 30}


@pytest.fixture(scope="module")
def retention_template(cdrlake_bin, tmp_path_factory) -> Path:
    """Six days starting 93 days ago: t001's cutoff falls inside them, t004's after them."""
    root = tmp_path_factory.mktemp("retention")
    lake = Cdrlake(cdrlake_bin, str(root / "lake"))
    lake.run(*gen(start=(datetime.now(timezone.utc) - timedelta(days=93)).date().isoformat()))
    generated = Path(lake.store, "landing", "tenants")
    tenants = pq.read_table(next(generated.glob("*.parquet"))).to_pylist()
    shutil.rmtree(generated)
    assert {t["tenant_id"] for t in tenants} == set(RETENTION)
    with open(root / "tenants.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(tenants[0]))
        w.writeheader()
        w.writerows({**t, "retention_days": RETENTION[t["tenant_id"]]} for t in tenants)
    job(lake, "ingest", "--table", "tenants", str(root / "tenants.csv"))
    job(lake, *INGEST)
    return Path(lake.store)


# --- compact --------------------------------------------------------------------------------


def assert_sorted_with_statistics(path: str, fact: Fact) -> None:
    """A data file's rows are sorted by (tenant_id, time) and it has statistics and bloom filters."""
    f = pq.ParquetFile(path)
    t = f.read(columns=["tenant_id", fact.time])
    keys = list(zip(t["tenant_id"].to_pylist(), t[fact.time].to_pylist()))
    assert keys == sorted(keys), f"{path} is not sorted by (tenant_id, {fact.time})"
    for g in range(f.metadata.num_row_groups):
        rg = f.metadata.row_group(g)
        cols = {rg.column(i).path_in_schema: rg.column(i) for i in range(rg.num_columns)}
        stats = cols["tenant_id"].statistics
        assert stats is not None and stats.has_min_max, f"{path}: no tenant_id statistics"
        if f.metadata.num_row_groups == 1:
            assert (stats.min, stats.max) == (keys[0][0], keys[-1][0]), path
        for c in fact.bloom:
            assert cols[c].bloom_filter_offset, f"{path}: no bloom filter on {c}"


def assert_log_statistics(lake: Cdrlake, table: str, files: set[str]) -> None:
    """The log's statistics of new files (what data skipping reads) describe their rows."""
    fact = FACTS[table]
    adds = pa.table(delta(lake, f"tables/{table}").get_add_actions(flatten=True)).to_pylist()
    for add in (a for a in adds if a["path"] in files):
        data = pq.read_table(f"{lake.store}/tables/{table}/{add['path']}", columns=["tenant_id", fact.time])
        assert add["num_records"] == data.num_rows
        assert (add["min.tenant_id"], add["max.tenant_id"]) == (
            pc.min(data["tenant_id"]).as_py(), pc.max(data["tenant_id"]).as_py())
        # Delta keeps timestamps to the millisecond.
        for stat, value in ((add[f"min.{fact.time}"], pc.min(data[fact.time]).as_py()),
                            (add[f"max.{fact.time}"], pc.max(data[fact.time]).as_py())):
            assert timedelta(0) <= value - stat < timedelta(milliseconds=1), (add["path"], stat, value)


def test_compact_keeps_every_row_in_fewer_sorted_files(lake):
    totals = calls_totals(lake)
    rows = {t: rows_in_key_order(lake, t) for t in FACTS}
    before = {t: active_files(lake, f"tables/{t}") for t in FACTS}
    v0 = versions(lake)

    out = job(lake, "compact")

    assert not out["dry_run"] and out["partitions_abandoned"] == 0
    assert calls_totals(lake) == totals
    summary = by_name(out["tables"], "table")
    for t, fact in FACTS.items():
        assert rows_in_key_order(lake, t).equals(rows[t]), f"{t}: rows changed"
        parts = by_partition(before[t])
        rewritten = {p for p, fs in parts.items() if len(fs) >= 2}
        after = active_files(lake, f"tables/{t}")
        assert all(len(fs) == 1 for fs in by_partition(after).values())
        assert len(after) == len(parts) < len(before[t])
        new = set(after) - set(before[t])
        assert {f.split("/")[0] for f in new} == rewritten
        for f in new:
            assert_sorted_with_statistics(f"{lake.store}/tables/{t}/{f}", fact)
        assert_log_statistics(lake, t, new)
        # The summary against the log and the files.
        s = summary[t]
        assert s["files_in"] == sum(len(parts[p]) for p in rewritten)
        assert s["bytes_in"] == sum(before[t][f] for p in rewritten for f in parts[p])
        assert (s["files_out"], s["bytes_out"]) == (len(new), sum(after[f] for f in new))
        assert s["rows"] == parquet_rows(f"{lake.store}/tables/{t}/{f}" for f in new)
        assert s["partitions_compacted"] == s["commits"] == len(rewritten)
        # One OPTIMIZE commit per partition, none of whose files change data.
        dt = delta(lake, f"tables/{t}")
        assert s["version"] == dt.version() == v0[t] + len(rewritten)
        ops = [h["operation"] for h in dt.history(len(rewritten) + 1)]
        assert ops[:-1] == ["OPTIMIZE"] * len(rewritten) and ops[-1] != "OPTIMIZE"
        for v in range(v0[t] + 1, dt.version() + 1):
            files = [a.get("add") or a.get("remove") for a in commit(lake, f"tables/{t}", v)]
            files = [f for f in files if f]
            assert files and all(f["dataChange"] is False for f in files), f"{t} v{v}"
    for t in ("tenants", "teams", "users", "numbers"):
        assert summary[t]["files_in"] == 0 and versions(lake)[t] == v0[t]
    assert out["files_in"] == sum(s["files_in"] for s in out["tables"])
    assert out["rows"] == sum(s["rows"] for s in out["tables"])
    # Compaction changes no row: the rollups have nothing to do.
    assert {r["mode"] for r in out["rollups"]["rollups"]} == {"up_to_date"}
    assert_rollups_verified(lake)


def test_compact_dry_run_and_a_second_compaction_change_nothing(lake):
    disk, v0 = disk_files(lake), versions(lake)
    files = {t: by_partition(active_files(lake, f"tables/{t}")) for t in FACTS}

    dry = job(lake, "compact", "--dry-run")

    assert dry["dry_run"] and "rollups" not in dry
    assert disk_files(lake) == disk and versions(lake) == v0
    summary = by_name(dry["tables"], "table")
    for t, parts in files.items():
        todo = [fs for fs in parts.values() if len(fs) >= 2]
        assert summary[t]["files_in"] == sum(len(fs) for fs in todo)
        assert summary[t]["files_out"] == summary[t]["partitions_compacted"] == len(todo)
        assert summary[t]["rows"] == parquet_rows(f"{lake.store}/tables/{t}/{f}" for fs in todo for f in fs)
        assert summary[t]["commits"] == 0 and summary[t]["version"] == v0[t]

    done = job(lake, "compact")
    assert done["files_in"] == dry["files_in"] and done["rows"] == dry["rows"]
    v1, disk = versions(lake), disk_files(lake)
    again = job(lake, "compact")
    assert (again["files_in"], again["files_out"], again["rows"]) == (0, 0, 0)
    assert all(s["commits"] == 0 for s in again["tables"])
    assert versions(lake) == v1 and disk_files(lake) == disk


def test_compact_since_and_table_limit_what_is_rewritten(lake):
    before = by_partition(active_files(lake, "tables/calls"))
    parts = sorted(before)
    since = parts[3].removeprefix("event_date=")
    v0 = versions(lake)

    out = job(lake, "compact", "--table", "calls", "--since", since)

    assert [s["table"] for s in out["tables"]] == ["calls"]
    assert out["tables"][0]["partitions"] == len(parts) - 3
    after = by_partition(active_files(lake, "tables/calls"))
    assert sorted(after) == parts
    for p in parts[:3]:
        assert after[p] == before[p], f"{p} is before --since {since} but was rewritten"
    for p in parts[3:]:
        assert len(after[p]) == 1 and not after[p] & before[p], p
    assert {t: v for t, v in versions(lake).items() if t != "calls"} == {
        t: v for t, v in v0.items() if t != "calls"}


def test_compact_leaves_files_of_the_target_size_alone(lake):
    totals, v0 = calls_totals(lake), versions(lake)
    sizes = [s for t in FACTS for s in active_files(lake, f"tables/{t}").values()]
    assert min(sizes) > 1024
    tiny = job(lake, "compact", "--target-file-size", "1K")
    assert tiny["files_in"] == 0 and versions(lake) == v0

    # Big files in the last partitions, small ones in the first: a target between the two.
    since = sorted(by_partition(active_files(lake, "tables/calls")))[-3].removeprefix("event_date=")
    job(lake, "compact", "--table", "calls", "--since", since)
    before = active_files(lake, "tables/calls")
    small = {f: s for f, s in before.items() if f.split("/")[0] < f"event_date={since}"}
    big = [s for s in before.values() if s >= 2 * max(small.values())]
    assert big, f"no compacted file twice the size of {max(small.values())}"
    target = min(big)

    out = job(lake, "compact", "--table", "calls", "--target-file-size", str(target))
    after = active_files(lake, "tables/calls")
    removed = set(before) - set(after)
    assert all(before[f] < target for f in removed), "a file at least the target size was rewritten"
    assert all(f in after for f, size in before.items() if size >= target)
    # Any two small files fit in the target: every partition of small files lost some.
    small_parts, after_parts = by_partition(small), by_partition(after)
    for p, fs in small_parts.items():
        assert len(after_parts[p]) < len(fs), p
    assert out["files_in"] == len(removed) and out["bytes_in"] == sum(before[f] for f in removed)
    assert calls_totals(lake) == totals


def test_two_compactions_at_once_never_duplicate_a_row(lake):
    """docs/storage.md: a concurrent compaction of the same files conflicts; one of them plans
    again or abandons the partition. Either way every row is there exactly once."""
    rows = {t: rows_in_key_order(lake, t) for t in FACTS}
    procs = [subprocess.Popen([lake.binary, "--store", lake.store, "compact", "--json"], env=lake.env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode in (0, 4), err
        assert json.loads(out)["exit_code"] == p.returncode
    for t in FACTS:
        got = rows_in_key_order(lake, t)
        n, expected = got.num_rows, rows[t].num_rows
        assert n == expected, f"{t}: {n} rows after two compactions, not {expected}"
        assert got.equals(rows[t]), t


@pytest.mark.parametrize(
    "args, message",
    [
        (["--target-file-size", "abc"], "'abc' is not a size"),
        (["--target-file-size", "0"], "a file size of 0 is not allowed"),
        (["--target-file-size", "12X"], "'12X' is not a size"),
        (["--since", "2026-13-01"], "is not a date (YYYY-MM-DD)"),
        (["--table", "nope"], "unknown table 'nope'"),
    ],
)
def test_compact_rejects_bad_arguments(lake, args, message):
    v0 = versions(lake)
    p = lake.run("compact", *args, "--json", check=False)
    assert p.returncode == 1, p.stdout + p.stderr
    assert message in p.stderr
    assert versions(lake) == v0


def test_ingest_after_compaction_stays_exactly_once(lake):
    job(lake, "compact")
    landed = landing_files(lake)
    lake.run(*gen(start="2026-10-07", days=2))  # same seed: the dimension files keep their names
    new = landing_files(lake) - landed
    assert new and all(p.parts[-3] in FACTS for p in new)

    out = job(lake, *INGEST)
    assert out["files_ingested"] == len(new) and out["files_quarantined"] == 0
    assert out["rows_ingested"] == parquet_rows(new)
    for _ in range(2):
        again = job(lake, *INGEST)
        assert again["files_ingested"] == 0 and again["rows_ingested"] == 0
        assert again["files_already_ingested"] == len(landing_files(lake))
        for t in FACTS:
            assert read(lake, t).num_rows == parquet_rows(landing_files(lake, t)), t
        assert calls_totals(lake)["call_ids"] == parquet_rows(landing_files(lake, "calls"))
        job(lake, "compact")


# --- vacuum ---------------------------------------------------------------------------------


def test_vacuum_deletes_exactly_the_files_compaction_removed(lake):
    before = {t: active_files(lake, f"tables/{t}") for t in FACTS}
    job(lake, "compact")
    totals = calls_totals(lake)
    active = {t: active_files(lake, f"tables/{t}") for t in FACTS}
    removed = {f"tables/{t}": sorted(set(before[t]) - set(active[t])) for t in FACTS}

    # The default grace period (7 days) keeps the files compaction just removed.
    default = job(lake, "vacuum")
    assert default["files_deleted"] == 0 and default["retain_seconds"] == 7 * 24 * 3600
    # Under an hour only with --allow-short-retention.
    p = lake.run("vacuum", "--retain", "10m", "--json", check=False)
    assert p.returncode == 1, p.stdout
    assert "shorter than 3600 s" in p.stderr and "--allow-short-retention" in p.stderr, p.stderr

    dry = job(lake, "vacuum", "--retain", "0s", "--allow-short-retention", "--dry-run")
    for folder, files in removed.items():
        assert all(Path(lake.store, folder, f).exists() for f in files)
    done = job(lake, "vacuum", "--retain", "0s", "--allow-short-retention")
    for summary in (dry, done):
        got = {t["table"]: sorted(t["files"]) for t in summary["tables"] if t["files"]}
        assert got == removed
        assert summary["files_deleted"] == sum(len(f) for f in removed.values())
        assert all(t["files_deleted"] == len(t["files"]) for t in summary["tables"])

    for folder, files in removed.items():
        assert not any(Path(lake.store, folder, f).exists() for f in files), folder
    for t, files in active.items():
        assert all(Path(lake.store, "tables", t, f).exists() for f in files), t
        assert active_files(lake, f"tables/{t}") == files
    assert calls_totals(lake) == totals
    assert_rollups_verified(lake)


def test_vacuum_deletes_orphans_but_never_a_referenced_file(lake):
    totals = calls_totals(lake)
    active = active_files(lake, "tables/calls")
    referenced = sorted(active)[0]
    partition = referenced.split("/")[0]
    folder = Path(lake.store, "tables", "calls")
    old_orphan = f"{partition}/part-00000-orphan-old-c000.zstd.parquet"
    new_orphan = f"{partition}/part-00000-orphan-new-c000.zstd.parquet"
    for orphan in (old_orphan, new_orphan):
        shutil.copyfile(folder / referenced, folder / orphan)
    two_days_ago = time.time() - 2 * 24 * 3600
    for f in (old_orphan, referenced):  # a referenced file as old as the orphan
        os.utime(folder / f, (two_days_ago, two_days_ago))

    hour = job(lake, "vacuum", "--retain", "1h")
    assert {t["table"]: t["files"] for t in hour["tables"] if t["files"]} == {"tables/calls": [old_orphan]}
    assert not (folder / old_orphan).exists()
    assert (folder / new_orphan).exists() and (folder / referenced).exists()

    short = job(lake, "vacuum", "--retain", "0s", "--allow-short-retention")
    assert {t["table"]: t["files"] for t in short["tables"] if t["files"]} == {"tables/calls": [new_orphan]}
    assert not (folder / new_orphan).exists()
    assert active_files(lake, "tables/calls") == active
    assert all((folder / f).exists() for f in active)
    assert calls_totals(lake) == totals


# --- retention ------------------------------------------------------------------------------


def parse_utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def retention_check(before: pa.Table, after: pa.Table | None, table: str, tenant: str,
                    cutoff: datetime) -> dict:
    """Counts over a tenant's rows of one table, by DuckDB. The summary's cutoff is printed to
    the second: a row in [cutoff, cutoff + 1 s) may go either way."""
    fact = FACTS[table]
    con = duckdb.connect()
    con.register("b", before)
    con.register("a", after if after is not None else before)
    on = " AND ".join(f"b.{k} = a.{k}" for k in fact.key)
    sql = f"""SELECT
        (SELECT count(*) FROM b WHERE tenant_id = $t AND {fact.time} < $c) AS old,
        (SELECT count(*) FROM b WHERE tenant_id = $t AND {fact.time} < $c + INTERVAL 1 SECOND) AS old_or_edge,
        (SELECT count(*) FROM b WHERE tenant_id = $t) AS rows_before,
        (SELECT count(*) FROM a WHERE tenant_id = $t) AS rows_after,
        (SELECT count(*) FROM b ANTI JOIN a ON {on}
         WHERE b.tenant_id = $t AND b.{fact.time} >= $c + INTERVAL 1 SECOND) AS too_new_gone,
        (SELECT count(*) FROM a WHERE tenant_id = $t AND {fact.time} < $c) AS too_old_kept,
        (SELECT count(*) FROM a ANTI JOIN b ON {on}) AS appeared"""
    names = ["old", "old_or_edge", "rows_before", "rows_after", "too_new_gone", "too_old_kept", "appeared"]
    return dict(zip(names, con.execute(sql, {"t": tenant, "c": cutoff}).fetchone()))


def assert_retention_summary(summary: dict, before: dict[str, pa.Table], started: datetime,
                             after: dict[str, pa.Table] | None = None) -> dict[str, dict[str, int]]:
    """Checks every tenant's counts against DuckDB; returns the rows deleted per tenant and table."""
    tenants = by_name(summary["tenants"], "tenant_id")
    assert {t: x["retention_days"] for t, x in tenants.items()} == RETENTION
    deleted = {}
    for tenant, x in tenants.items():
        cutoff = parse_utc(x["cutoff"])
        expected_cutoff = started - timedelta(days=RETENTION[tenant])
        assert timedelta(seconds=-2) <= cutoff - expected_cutoff <= timedelta(minutes=2), x
        deleted[tenant] = {}
        for t in FACTS:
            n = x["rows_deleted"].get(t, 0)
            c = retention_check(before[t], after and after[t], t, tenant, cutoff)
            assert c["old"] <= n <= c["old_or_edge"], (tenant, t, n, c)
            if after is not None:
                assert c["rows_before"] - c["rows_after"] == n, (tenant, t, n, c)
                assert c["too_new_gone"] == c["too_old_kept"] == c["appeared"] == 0, (tenant, t, c)
            deleted[tenant][t] = n
        assert x["rows_deleted_total"] == sum(deleted[tenant].values())
    assert summary["rows_deleted"] == sum(sum(d.values()) for d in deleted.values())
    return deleted


def partitions_of_deleted_rows(before: dict, after: dict, table: str) -> list[str]:
    con = duckdb.connect()
    con.register("b", before[table])
    con.register("a", after[table])
    on = " AND ".join(f"b.{k} = a.{k}" for k in FACTS[table].key)
    return sorted(str(d) for (d,) in con.execute(f"SELECT DISTINCT b.event_date FROM b ANTI JOIN a ON {on}").fetchall())


def test_retention_deletes_each_tenants_old_rows_and_nothing_else(retention_template, cdrlake_bin, tmp_path):
    lake = copy_lake(retention_template, cdrlake_bin, tmp_path / "lake")
    before = {t: read(lake, t) for t in FACTS}
    disk, v0 = disk_files(lake), versions(lake)
    folders = [f"tables/{t}" for t in FACTS] + [rollup_folder(lake, r) for r in ROLLUP_SQL]
    files_before = {f: active_files(lake, f) for f in folders}

    started = datetime.now(timezone.utc)
    dry = job(lake, "retention", "apply", "--dry-run")
    assert dry["dry_run"] and dry["commits"] == 0 and "rollups" not in dry
    assert disk_files(lake) == disk and versions(lake) == v0
    would = assert_retention_summary(dry, before, started)

    started = datetime.now(timezone.utc)
    done = job(lake, "retention", "apply")
    after = {t: read(lake, t) for t in FACTS}
    deleted = assert_retention_summary(done, before, started, after)

    # The data straddles t001's cutoff, is all older than t004's and younger than the others'.
    for t in FACTS:
        assert 0 < deleted["t001"][t] < before[t].filter(pc.field("tenant_id") == "t001").num_rows, t
        assert after[t].filter(pc.field("tenant_id") == "t004").num_rows == 0, t
        assert deleted["t002"][t] == deleted["t003"][t] == 0
    # The dry run counted what the run deleted (but for rows at the edge of a moving cutoff).
    for tenant in RETENTION:
        for t in FACTS:
            assert abs(would[tenant][t] - deleted[tenant][t]) <= 2, (tenant, t)
    assert done["commits"] == sum(1 for d in deleted.values() for n in d.values() if n) and done["abandoned"] == 0

    # Only the partitions that lost rows were refreshed, and the rollups agree with the tables.
    changed = {"calls_hourly": partitions_of_deleted_rows(before, after, "calls"),
               "ims_hourly": partitions_of_deleted_rows(before, after, "messages")}
    # Every partition whose calls changed, team calls or not: the refresh works per partition.
    changed["team_calls_hourly"] = changed["calls_hourly"]
    changed["activity_hourly"] = sorted(set(changed["calls_hourly"]) | set(changed["ims_hourly"]))
    changed["logins_hourly"] = partitions_of_deleted_rows(before, after, "registrations")
    changed["ratings_hourly"] = changed["calls_hourly"]
    changed["calls_daily"] = changed["calls_hourly"]
    changed["calls_by_number"] = changed["calls_hourly"]
    changed["conference_legs"] = changed["calls_hourly"]
    assert_refreshed(done["rollups"]["rollups"], changed)
    assert_rollups_verified(lake)

    # Vacuum deletes the files the deletes and the refresh removed, and only those.
    removed = {f: sorted(set(files_before[f]) - set(active_files(lake, f))) for f in folders}
    assert all(removed[f"tables/{t}"] for t in FACTS)
    vacuum = job(lake, "vacuum", "--retain", "0s", "--allow-short-retention")
    assert {t["table"]: sorted(t["files"]) for t in vacuum["tables"] if t["files"]} == {
        f: fs for f, fs in removed.items() if fs}
    for t in FACTS:
        assert rows_in_key_order(lake, t).equals(in_key_order(t, after[t])), t
    assert_rollups_verified(lake)


def test_compact_after_retention_keeps_every_row(retention_template, cdrlake_bin, tmp_path):
    """Retention's deletes rewrite files; compaction then merges them with the others."""
    lake = copy_lake(retention_template, cdrlake_bin, tmp_path / "lake")
    job(lake, "retention", "apply")
    rows = {t: rows_in_key_order(lake, t) for t in FACTS}
    job(lake, "compact")
    for t in FACTS:
        assert rows_in_key_order(lake, t).equals(rows[t]), t
        assert all(len(fs) == 1 for fs in by_partition(active_files(lake, f"tables/{t}")).values()), t
    assert_rollups_verified(lake)


# --- rollups --------------------------------------------------------------------------------


def test_rollups_agree_with_the_raw_tables(lake):
    assert_rollups_verified(lake)
    con = lake_in_duckdb(lake)
    raw = con.execute(
        "SELECT count(*), sum(billable_s) FROM calls WHERE tenant_id IN (SELECT tenant_id FROM tenants)"
    ).fetchone()
    assert raw[0] > 5000
    assert con.execute("SELECT sum(calls), sum(billable_s) FROM calls_hourly").fetchone() == raw
    # calls_daily keeps the calls of every tenant: its totals, money included, are the table's.
    assert con.execute("SELECT sum(attempts), sum(billable_s), sum(customer_charge), sum(provider_cost) "
                       "FROM calls_daily").fetchone() == con.execute(
        "SELECT count(*), sum(billable_s), sum(customer_charge), sum(provider_cost) FROM calls").fetchone()
    raw = con.execute(
        "SELECT count(*), sum(message_count) FROM messages WHERE tenant_id IN (SELECT tenant_id FROM tenants)"
    ).fetchone()
    assert con.execute("SELECT sum(sessions), sum(messages) FROM ims_hourly").fetchone() == raw


def test_rollup_files_are_snappy_and_tables_zstd(lake):
    """Rollups are read in many small column chunks (snappy: no codec context to set up per
    chunk); tables are scanned in bulk and kept small (zstd). docs/storage.md, Compression."""
    import pyarrow.parquet as pq

    def codecs(folder: str) -> set[str]:
        out = set()
        for f in active_files(lake, folder):
            meta = pq.ParquetFile(f"{lake.store}/{folder}/{f}").metadata
            out |= {meta.row_group(g).column(c).compression
                    for g in range(meta.num_row_groups) for c in range(meta.num_columns)}
        return out

    for r in ROLLUP_SQL:
        assert codecs(rollup_folder(lake, r)) == {"SNAPPY"}, r
    assert codecs("tables/calls") == {"ZSTD"}


def test_rollups_of_small_files_are_scanned_without_the_page_index(lake):
    """A rollup file of a few tens of kilobytes has a page or two per column: its page index
    prunes nothing and loading it costs more than it saves (docs/storage.md, rollups)."""
    sql = "SELECT count(*) AS n FROM team_calls_hourly WHERE local_hour >= '2026-10-03'"
    plan = "\n".join(r["plan"] for r in lake.query(f"EXPLAIN ANALYZE {sql}"))
    assert "page_index_pages_pruned=0 total" in plan, plan
    assert lake.query(sql)[0]["n"] == lake_in_duckdb(lake).execute(
        "SELECT count(*) FROM team_calls_hourly WHERE local_hour >= TIMESTAMP '2026-10-03'").fetchone()[0]


def test_a_rare_number_lookup_skips_row_groups_by_bloom_filter(lake):
    """calls_by_number has a bloom filter on `number`: every file spans the whole number range
    (sorted by number), so only the bloom filter can skip the partitions a number is not in."""
    rare = [r["number"] for r in lake.query("SELECT number FROM calls_by_number GROUP BY number "
                                             "HAVING count(DISTINCT event_date) = 1 ORDER BY number")]
    rare = rare[len(rare) // 2]  # inside every file's min-max range: statistics cannot skip it
    sql = f"SELECT call_id FROM calls_by_number WHERE number = '{rare}'"
    plan = "\n".join(r["plan"] for r in lake.query(f"EXPLAIN ANALYZE {sql}"))
    m = re.search(r"row_groups_pruned_bloom_filter=(\d+) total \u2192 (\d+) matched", plan)
    assert m, plan
    total, matched = int(m.group(1)), int(m.group(2))
    assert total >= 4 and matched == 1, plan
    assert lake.query(f"SELECT count(*) AS n FROM ({sql})")[0]["n"] == lake.query(
        f"SELECT count(*) AS n FROM calls WHERE caller_number = '{rare}' OR callee_number = '{rare}'")[0]["n"]


def dictionary_columns(lake: Cdrlake, folder: str) -> dict[str, set[bool]]:
    """Column -> whether its chunks are dictionary-encoded, over every active file of a table."""
    import pyarrow.parquet as pq

    out: dict[str, set[bool]] = {}
    for f in active_files(lake, folder):
        meta = pq.ParquetFile(f"{lake.store}/{folder}/{f}").metadata
        for g in range(meta.num_row_groups):
            for c in range(meta.num_columns):
                col = meta.row_group(g).column(c)
                out.setdefault(col.path_in_schema, set()).add(
                    col.dictionary_page_offset is not None or any("DICTIONARY" in e for e in col.encodings))
    return out


def test_high_cardinality_columns_are_written_without_dictionaries(lake):
    """Times and quality measurements are nearly unique per row: their dictionary would be the
    column itself plus an index per row (docs/storage.md, Encoding). Ingest and compaction
    both write them plain; low-cardinality columns keep their dictionaries."""
    plain = {"tables/calls": {"call_id", "invite_time", "answer_time", "end_time", "latitude", "longitude"},
             "tables/streams": {"call_id", "stream_id", "start_time", "loss_rate_avg", "loss_rate_max",
                                "jitter_avg_ms", "jitter_max_ms", "rtt_avg_ms", "rtt_max_ms",
                                "concealed_ratio", "degradation_avg", "mos_avg", "mos_min"}}
    for step in ("ingested", "compacted"):
        if step == "compacted":
            job(lake, "compact")
        for folder, columns in plain.items():
            found = dictionary_columns(lake, folder)
            for c in columns:
                assert found[c] == {False}, (step, folder, c)
            assert found["tenant_id"] == {True}, (step, folder)
            assert found["media"] == {True}, (step, folder)


def test_a_number_lookup_reads_no_dictionary_pages(lake):
    """calls_by_number's high-cardinality columns are written without dictionary encoding: a
    dictionary page (up to 1 MB per column chunk) is read and decoded before any data page, so
    a lookup that the page index narrows to one page per file read megabytes per file for
    it (docs/storage.md, rollups). The low-cardinality tenant_id keeps its dictionary."""
    found = dictionary_columns(lake, rollup_folder(lake, "calls_by_number"))
    for c in ("number", "call_id", "invite_time", "caller_number", "callee_number"):
        assert found[c] == {False}, c
    assert found["tenant_id"] == {True}


def new_partitions(lake: Cdrlake, landed: set[Path]) -> dict[str, list[str]]:
    """The partitions of each rollup that the files landed since `landed` change."""
    new = landing_files(lake) - landed
    calls = sorted(utc_dates([p for p in new if p.parts[-3] == "calls"], "invite_time"))
    ims = sorted(utc_dates([p for p in new if p.parts[-3] == "messages"], "start_time"))
    return {
        "calls_hourly": calls,
        "team_calls_hourly": calls,
        "ratings_hourly": calls,
        "calls_daily": calls,
        "calls_by_number": calls,
        "conference_legs": calls,
        "ims_hourly": ims,
        "activity_hourly": sorted(set(calls) | set(ims)),
        "logins_hourly": sorted(utc_dates([p for p in new if p.parts[-3] == "registrations"], "event_time")),
        # Reported stale per calls partition; refreshed per day the partitions' calls reach.
        "concurrency_slots": calls,
    }


def assert_refreshed(results: list[dict], expected: dict[str, list[str]]) -> None:
    """Each rollup rebuilt exactly the partitions the new data changed; concurrency_slots the
    days those partitions' calls reach (at least the partitions themselves)."""
    for r in results:
        if r["rollup"] == "concurrency_slots":
            assert r["mode"] == "partitions" and set(expected["calls_daily"]) <= set(r["partitions"]), r
        else:
            assert (r["mode"], r["partitions"]) == ("partitions", expected[r["rollup"]]), r


def rollup_files_by_partition(lake: Cdrlake) -> dict[str, dict[str, set[str]]]:
    return {r: by_partition(active_files(lake, rollup_folder(lake, r))) for r in ROLLUP_SQL}


def test_rollups_refresh_only_the_partitions_that_changed(lake):
    compacted = job(lake, "compact")
    assert {r["mode"] for r in compacted["rollups"]["rollups"]} == {"up_to_date"}

    # Ingest refreshes the rollups: only the new data's partitions.
    landed = landing_files(lake)
    lake.run(*gen(start="2026-10-07", days=2))
    expected = new_partitions(lake, landed)
    assert "event_date=2026-10-07" in rollup_files_by_partition(lake)["calls_hourly"]  # one existed
    files = rollup_files_by_partition(lake)
    out = job(lake, *INGEST)
    assert_refreshed(out["rollups"]["rollups"], expected)
    rebuilt = {r["rollup"]: r["partitions"] for r in out["rollups"]["rollups"]}
    for rollup, parts in rollup_files_by_partition(lake).items():
        for p, fs in files[rollup].items():
            if p.removeprefix("event_date=") not in rebuilt[rollup]:
                assert parts[p] == fs, f"{rollup} {p} was rewritten"
    assert_rollups_verified(lake)

    # Ingest without the refresh: verify leaves the stale partitions out, refresh catches up.
    landed = landing_files(lake)
    lake.run(*gen(start="2026-10-09", days=2))
    expected = new_partitions(lake, landed)
    out = job(lake, *INGEST, "--no-rollups")
    assert "rollups" not in out
    stale = job(lake, "rollup", "verify")
    for r in stale["rollups"]:
        assert r["ok"] and r["stale_partitions"] == expected[r["rollup"]], r
    # Queries compute the stale partitions from the raw rows meanwhile.
    got = lake.query("SELECT sum(calls) AS calls, sum(billable_s) AS billable FROM calls_hourly")[0]
    raw = lake_in_duckdb(lake).execute("SELECT count(*), sum(billable_s) FROM calls").fetchone()
    assert (got["calls"], got["billable"]) == raw
    refreshed = job(lake, "rollup", "refresh")
    assert_refreshed(refreshed["rollups"], expected)

    # The next job to finish (here a compaction) catches up too.
    landed = landing_files(lake)
    lake.run(*gen(start="2026-10-11", days=2))
    expected = new_partitions(lake, landed)
    job(lake, *INGEST, "--no-rollups")
    compacted = job(lake, "compact")
    assert_refreshed(compacted["rollups"]["rollups"], expected)
    assert {r["mode"] for r in job(lake, "rollup", "refresh")["rollups"]} == {"up_to_date"}
    assert_rollups_verified(lake)


def concurrency_both_ways(lake: Cdrlake, sql: str) -> tuple[list[dict], list[dict]]:
    """`sql` answered from concurrency_slots and by sweeping the raw calls (the plan says which)."""
    plan = "\n".join(r["plan"] for r in lake.query(f"EXPLAIN {sql}"))
    assert "source=concurrency_slots" in plan, plan
    raw = lake.run("query", "--format", "json", "--set", "cdrlake.concurrency_use_rollup=false", sql)
    return lake.query(sql), json.loads(raw.stdout)


def test_concurrency_slots_follow_a_call_across_days_and_its_deletion(lake):
    """A call answered late on Oct 2 and connected until Oct 4 lives in partition 2026-10-02, but
    its quarter hours are on Oct 2, 3 and 4: adding it must rebuild those days, and deleting it
    again must too (the reach recorded before the delete), or the rollup keeps a ghost call."""
    sql = ("SELECT * FROM concurrency('day', '2026-10-01', '2026-10-07') "
           "ORDER BY tenant_id, bucket_start")
    before = lake.query(sql)
    landed = sorted(landing_files(lake, "calls"))
    row = pq.read_table(landed[0]).slice(0, 1).to_pylist()[0]
    tenant = row["tenant_id"]
    row["call_id"] = "long-call-0001"
    hours = (f"SELECT * FROM concurrency('hour', '2026-10-03', '2026-10-04') WHERE tenant_id = '{tenant}' "
             "AND bucket_start >= '2026-10-03T00:00:00Z' AND bucket_start < '2026-10-04T00:00:00Z' "
             "ORDER BY bucket_start")
    hours_before = lake.query(hours)
    assert len(hours_before) == 24
    start = datetime(2026, 10, 2, 22, 50, tzinfo=timezone.utc)
    for c, v in (("invite_time", start), ("answer_time", start + timedelta(seconds=5)),
                 ("end_time", datetime(2026, 10, 4, 9, 7, tzinfo=timezone.utc))):
        row[c] = v
    schema = pq.read_schema(landed[0])
    extra = landed[0].with_name("long-call.parquet")
    pq.write_table(pa.Table.from_pylist([row], schema=schema), extra)
    out = job(lake, *INGEST)
    slots = by_name(out["rollups"]["rollups"], "rollup")["concurrency_slots"]
    assert slots["mode"] == "partitions"
    assert {"2026-10-02", "2026-10-03", "2026-10-04"} <= set(slots["partitions"]), slots
    assert_rollups_verified(lake)
    with_call = lake.query(sql)
    assert len(with_call) == len(before)
    # Every hour wholly inside the call has exactly one more connected call at its peak.
    assert [(a["bucket_start"], b["max_concurrent"] - a["max_concurrent"])
            for a, b in zip(hours_before, lake.query(hours))] == [
        (a["bucket_start"], 1) for a in hours_before]
    got, raw = concurrency_both_ways(lake, sql)
    assert got == raw == with_call

    # Delete it (as an external writer would): the refresh must clear Oct 3 and 4 as well.
    DeltaTable(f"{lake.store}/tables/calls").delete("call_id = 'long-call-0001'")
    refreshed = by_name(job(lake, "rollup", "refresh")["rollups"], "rollup")["concurrency_slots"]
    assert {"2026-10-02", "2026-10-03", "2026-10-04"} <= set(refreshed["partitions"]), refreshed
    assert_rollups_verified(lake)
    got, raw = concurrency_both_ways(lake, sql)
    assert got == raw == before


def test_concurrency_slots_are_left_out_of_sessions_while_behind_calls(lake):
    sql = "SELECT * FROM concurrency('hour', '2026-10-02', '2026-10-04') ORDER BY tenant_id, bucket_start"
    got, raw = concurrency_both_ways(lake, sql)
    assert got == raw and len(got) > 0
    lake.run(*gen(start="2026-10-07", days=1))
    job(lake, *INGEST, "--no-rollups")
    # Behind calls: the table is gone from sessions and concurrency() sweeps the raw calls.
    plan = "\n".join(r["plan"] for r in lake.query(f"EXPLAIN {sql}"))
    assert "source=calls" in plan, plan
    assert "concurrency_slots" not in {r["table_name"] for r in lake.query(
        "SELECT table_name FROM information_schema.tables")}
    job(lake, "rollup", "refresh")
    got, raw = concurrency_both_ways(lake, sql)
    assert got == raw


def test_rollup_verify_catches_a_tampered_rollup_and_a_full_refresh_repairs_it(lake):
    path = f"{lake.store}/{rollup_folder(lake, 'calls_hourly')}"
    rollup = DeltaTable(path).to_pyarrow_table()
    calls = rollup["calls"].to_pylist()
    calls[0] += 1
    i = rollup.schema.get_field_index("calls")
    write_deltalake(path, rollup.set_column(i, rollup.schema.field(i), pa.array(calls, pa.int64())),
                    mode="overwrite", partition_by=["event_date"])
    assert rollup_differences(lake_in_duckdb(lake), "calls_hourly") == (1, 1)  # the tampering took

    verify = job(lake, "rollup", "verify", code=5)
    results = by_name(verify["rollups"], "rollup")
    assert results["calls_hourly"]["ok"] is False
    assert (results["calls_hourly"]["missing_rows"], results["calls_hourly"]["extra_rows"]) == (1, 1)
    assert results["ims_hourly"]["ok"] is True
    text = lake.run("rollup", "verify", check=False)
    assert text.returncode == 5 and "MISMATCH" in text.stdout

    full = job(lake, "rollup", "refresh", "--full")
    assert {r["mode"] for r in full["rollups"]} == {"full"}
    assert_rollups_verified(lake)
