"""End-to-end tests of the lake with independent readers and a real S3-compatible server."""

import datetime
import re
from decimal import Decimal

import duckdb
import polars as pl
import pyarrow.compute as pc
from deltalake import DeltaTable, TableFeatures

GEN = ["generate", "--tenants", "3", "--days", "3", "--calls-per-day", "800", "--bad-rows", "0.01"]


def delta_storage_options(s3_server) -> dict:
    """Options for the Python deltalake reader to read the test bucket."""
    return {
        "AWS_ENDPOINT_URL": s3_server["AWS_ENDPOINT_URL"],
        "AWS_ALLOW_HTTP": "true",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
    }


def ours(lake) -> dict:
    row = lake.query(
        "SELECT count(*) AS n, CAST(sum(customer_charge) AS VARCHAR) AS charge, "
        "CAST(sum(provider_cost) AS VARCHAR) AS cost, sum(billable_s) AS billable, "
        "count(DISTINCT tenant_id) AS tenants FROM calls"
    )[0]
    streams = lake.query("SELECT count(*) AS n, sum(packets_lost) AS lost FROM streams")[0]
    quarantined = lake.query("SELECT sum(rows) AS n FROM quarantine_calls")[0]["n"]
    return {
        "n": row["n"],
        "charge": Decimal(row["charge"]),
        "cost": Decimal(row["cost"]),
        "billable": row["billable"],
        "tenants": row["tenants"],
        "streams": streams["n"],
        "lost": streams["lost"],
        "quarantined": quarantined,
    }


def test_independent_readers_see_what_cdrlake_sees(local_lake, tmp_path):
    local_lake.run(*GEN)
    assert local_lake.run("ingest").returncode == 3  # the bad rows were quarantined
    expected = ours(local_lake)
    assert expected["n"] > 1000 and expected["quarantined"] > 0

    calls_path = f"{local_lake.store}/tables/calls"
    dt = DeltaTable(calls_path)
    arrow = dt.to_pyarrow_table()
    # delta-rs (Python) + pyarrow
    assert arrow.num_rows == expected["n"]
    assert pc.sum(arrow["customer_charge"]).as_py() == expected["charge"]
    assert pc.sum(arrow["provider_cost"]).as_py() == expected["cost"]
    assert str(arrow.schema.field("invite_time").type) == "timestamp[us, tz=UTC]"
    # Polars over the same Delta table
    df = pl.read_delta(calls_path)
    assert df.height == expected["n"]
    assert df["billable_s"].sum() == expected["billable"]
    assert df["tenant_id"].n_unique() == expected["tenants"]
    # DuckDB over the Delta table's Arrow data
    streams = DeltaTable(f"{local_lake.store}/tables/streams").to_pyarrow_dataset()
    con = duckdb.connect()
    con.register("streams", streams)
    n, lost = con.execute("SELECT count(*), sum(packets_lost) FROM streams").fetchone()
    assert (n, lost) == (expected["streams"], expected["lost"])
    # The quarantine is a Delta table too.
    q = pl.read_delta(f"{local_lake.store}/quarantine/calls")
    assert q["rows"].sum() == expected["quarantined"]
    # Nothing lost: landed rows = table + quarantine.
    landed = con.execute(
        f"SELECT count(*) FROM read_parquet('{local_lake.store}/landing/calls/**/*.parquet')"
    ).fetchone()[0]
    assert landed == expected["n"] + expected["quarantined"]


def test_s3_store_gives_the_same_lake_as_local(cdrlake_bin, s3_server, local_lake):
    from conftest import Cdrlake

    s3 = Cdrlake(cdrlake_bin, "s3://cdrlake-test/lake1", env=s3_server)
    for lake in (local_lake, s3):
        lake.run(*GEN)
        assert lake.run("ingest").returncode == 3
        again = lake.run("ingest", "--json")
        assert again.returncode == 0, again.stderr
    assert ours(s3) == ours(local_lake)
    tables = {r["table_name"] for r in s3.query("SHOW TABLES")}
    assert {"calls", "streams", "quarantine_calls"} <= tables

    # An independent reader of the Delta table in the bucket.
    opts = delta_storage_options(s3_server)
    dt = DeltaTable("s3://cdrlake-test/lake1/tables/calls", storage_options=opts)
    assert dt.to_pyarrow_table().num_rows == ours(s3)["n"]


def test_s3_errors_say_what_is_wrong(cdrlake_bin, s3_server):
    from conftest import Cdrlake

    missing = Cdrlake(cdrlake_bin, "s3://no-such-bucket/lake", env=s3_server)
    p = missing.run("ingest", check=False)
    assert p.returncode == 1
    assert "NoSuchBucket" in p.stderr or "does not exist" in p.stderr, p.stderr


def test_files_written_by_other_tools_are_ingested(local_lake, tmp_path):
    """Landing files as pipelines write them: Polars (string views, nanosecond times with a
    zone, float money) and pandas/pyarrow (large strings, naive times), into hive folders."""
    from datetime import datetime, timezone, timedelta
    from pathlib import Path

    import pyarrow as pa
    import pyarrow.parquet as pq

    landing = Path(local_lake.store) / "landing" / "calls" / "tenant_id=acme"
    landing.mkdir(parents=True)
    start = datetime(2026, 3, 8, 1, 30, tzinfo=timezone(timedelta(hours=-5)))
    pl.DataFrame(
        {
            "call_id": ["p-1", "p-2"],
            "direction": ["Inbound", "outbound"],
            "media": ["audio", "video"],
            "caller_number": ["(212) 555-0100", "anonymous"],
            "invite_time": [start, start + timedelta(minutes=5)],
            "end_time": [start + timedelta(minutes=2), start + timedelta(minutes=6)],
            "answer_time": [start + timedelta(seconds=10), None],
            "duration_s": [120, 60],
            "billable_s": [110, 0],
            "disposition": ["answered", "busy"],
            "customer_charge": [0.0165, 0.0],
        },
        schema_overrides={"invite_time": pl.Datetime("ns", "America/New_York")},
    ).write_parquet(landing / "polars.parquet")
    table = pa.table(
        {
            "tenant_id": pa.array(["acme"], pa.large_string()),
            "call_id": pa.array(["a-1"], pa.large_string()),
            "direction": ["internal"],
            "media": ["audio"],
            "invite_time": pa.array([datetime(2026, 3, 8, 12, 0)], pa.timestamp("ms")),
            "end_time": pa.array([datetime(2026, 3, 8, 12, 1)], pa.timestamp("ms")),
            "duration_s": pa.array([60], pa.int32()),
            "billable_s": pa.array([0], pa.int32()),
            "disposition": ["no_answer"],
        }
    )
    pq.write_table(table, landing / "arrow.parquet")

    assert local_lake.run("ingest", "--table", "calls").returncode == 0
    rows = local_lake.query(
        "SELECT tenant_id, call_id, direction, caller_number, CAST(invite_time AS VARCHAR) AS t, "
        "CAST(customer_charge AS VARCHAR) AS charge FROM calls ORDER BY call_id"
    )
    assert rows == [
        {"tenant_id": "acme", "call_id": "a-1", "direction": "internal", "caller_number": None,
         "t": "2026-03-08T12:00:00Z", "charge": None},
        {"tenant_id": "acme", "call_id": "p-1", "direction": "inbound", "caller_number": "+12125550100",
         "t": "2026-03-08T06:30:00Z", "charge": "0.016500"},
        {"tenant_id": "acme", "call_id": "p-2", "direction": "outbound", "caller_number": None,
         "t": "2026-03-08T06:35:00Z", "charge": "0.000000"},
    ]


def test_rate_centers_load_into_an_s3_store_and_independent_readers_see_them(
    cdrlake_bin, s3_server, tmp_path
):
    from conftest import Cdrlake

    s3 = Cdrlake(cdrlake_bin, "s3://cdrlake-test/lake-ref", env=s3_server)
    csv = tmp_path / "rc.csv"
    csv.write_text("npa,nxx,rate_center,state,lata\n212,555,NWYRCYZN01,NY,132\n518,555,ALBANY,NY,138\n")
    p = s3.run("reference", "load", "rate_centers", str(csv))
    assert "loaded 2 NPA-NXX rows" in p.stdout, p.stdout + p.stderr
    row = s3.query(
        "SELECT rate_center('+12125550100') AS rc, "
        "jurisdiction_lata('+12125550100', '+15185550100') AS j"
    )[0]
    assert row == {"rc": "NWYRCYZN01", "j": "interlata"}

    opts = delta_storage_options(s3_server)
    dt = DeltaTable("s3://cdrlake-test/lake-ref/reference/rate_centers", storage_options=opts)
    got = sorted(dt.to_pyarrow_table().column("rate_center").to_pylist())
    assert got == ["ALBANY", "NWYRCYZN01"]


def test_datafusion_settings_come_from_the_environment(cdrlake_bin, tmp_path):
    """DATAFUSION_<KEY> overrides a setting for the process, cdrlake's own defaults included,
    in the Delta scans as well; a value that does not fit is an error naming the variable."""
    from conftest import Cdrlake

    lake = Cdrlake(cdrlake_bin, str(tmp_path / "lake"))
    lake.run("generate", "--calls", "200", "--days", "1", "--tenants", "1")
    lake.run("ingest", "--no-rollups")
    sql = ("SELECT name, value FROM information_schema.df_settings WHERE name IN "
           "('datafusion.execution.parquet.pushdown_filters', 'datafusion.execution.batch_size') ORDER BY name")
    default = {r["name"]: r["value"] for r in lake.query(sql)}
    assert default == {"datafusion.execution.batch_size": "8192",
                       "datafusion.execution.parquet.pushdown_filters": "true"}
    tuned = Cdrlake(cdrlake_bin, lake.store, {"DATAFUSION_EXECUTION_PARQUET_PUSHDOWN_FILTERS": "false",
                                               "DATAFUSION_EXECUTION_BATCH_SIZE": "32768"})
    assert {r["name"]: r["value"] for r in tuned.query(sql)} == {
        "datafusion.execution.batch_size": "32768", "datafusion.execution.parquet.pushdown_filters": "false"}
    # They reach the Delta scans too: strings are read as view types unless the setting says
    # otherwise (delta-rs's scan ignores the session unless it is given it).
    typed = "SELECT arrow_typeof(call_id) AS t FROM calls LIMIT 1"
    assert lake.query(typed) == [{"t": "Utf8View"}]
    plain = Cdrlake(cdrlake_bin, lake.store, {"DATAFUSION_EXECUTION_PARQUET_SCHEMA_FORCE_VIEW_TYPES": "false"})
    assert plain.query(typed) == [{"t": "Utf8"}]
    bad = Cdrlake(cdrlake_bin, lake.store, {"DATAFUSION_EXECUTION_BATCH_SIZE": "lots"})
    p = bad.run("query", "SELECT 1", check=False)
    assert p.returncode == 1
    assert "DATAFUSION_EXECUTION_BATCH_SIZE=lots" in p.stderr and "datafusion.execution.batch_size" in p.stderr


def test_unfiltered_count_min_max_are_answered_from_footers_exactly(local_lake):
    """An unfiltered count/min/max is answered from the Parquet footers' statistics (no scan in
    the plan), and the answer is the same as an independent engine's over the table's rows:
    timestamps to the microsecond, strings, decimals, the partition column."""
    local_lake.run("generate", "--tenants", "3", "--days", "3", "--calls-per-day", "400")
    local_lake.run("ingest", "--no-rollups")
    # A second commit: the answer spans files of two ingests.
    local_lake.run("generate", "--tenants", "3", "--days", "2", "--calls-per-day", "50", "--start", "2026-11-01",
                   "--seed", "7")
    local_lake.run("ingest", "--no-rollups")
    aggs = ("count(*) AS n, count(answer_time) AS answered, "
            "CAST(min(invite_time) AS VARCHAR) AS t0, CAST(max(end_time) AS VARCHAR) AS t1, "
            "min(tenant_id) AS lo, max(call_id) AS hi, CAST(max(customer_charge) AS VARCHAR) AS charge, "
            "min(duration_s) AS dmin")
    physical = "\n".join(r["plan"] for r in local_lake.query(f"EXPLAIN SELECT {aggs} FROM calls")
                         if r["plan_type"] == "physical_plan")
    assert "PlaceholderRowExec" in physical, physical
    # The partition column's bounds come from the Delta log (delta-rs), the rest from footers.
    aggs += ", CAST(min(event_date) AS VARCHAR) AS d0, CAST(max(event_date) AS VARCHAR) AS d1"
    sql = f"SELECT {aggs} FROM calls"
    assert "DataSourceExec" not in physical and "DeltaScanExec" not in physical, physical
    got = local_lake.query(sql)[0]
    # The same aggregates over a scan (a filter that keeps every row defeats the statistics).
    scanned = local_lake.query(f"SELECT {aggs} FROM calls WHERE duration_s >= 0 OR duration_s IS NULL")[0]
    assert got == scanned
    # And by an independent engine over the Delta table's rows.
    rows = DeltaTable(f"{local_lake.store}/tables/calls").to_pyarrow_table()
    ddb = duckdb.sql(
        "SELECT count(*), count(answer_time), min(epoch_us(invite_time)), max(epoch_us(end_time)), min(tenant_id), "
        "max(call_id), CAST(max(customer_charge) AS VARCHAR), min(duration_s), CAST(min(event_date) AS VARCHAR), "
        "CAST(max(event_date) AS VARCHAR) FROM rows").fetchall()[0]
    n, answered, t0, t1, lo, hi, charge, dmin, d0, d1 = ddb
    assert (got["n"], got["answered"], got["lo"], got["hi"], got["dmin"], got["d0"], got["d1"]) == (
        n, answered, lo, hi, dmin, d0, d1)
    assert Decimal(got["charge"]) == Decimal(charge)
    epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
    as_us = lambda s: (datetime.datetime.fromisoformat(s.replace("Z", "+00:00")) - epoch) // datetime.timedelta(microseconds=1)
    assert (as_us(got["t0"]), as_us(got["t1"])) == (t0, t1)
    assert d1 >= "2026-11-01", "the second ingest's days are in the answer"


def test_joins_with_a_whole_table_push_no_dynamic_filter(local_lake):
    """A hash join whose build side reads a whole table (calls with every tenant, for the time
    zone) pushes no dynamic filter into the probe scan: the plan has a NoJoinFilterExec and the
    calls scan no DynamicFilter. A build side that is a selection (one tenant) keeps it. Both
    answers equal an independent engine's."""
    local_lake.run("generate", "--tenants", "3", "--days", "2", "--calls-per-day", "300")
    local_lake.run("ingest", "--no-rollups")

    def analyzed(sql: str) -> str:
        return "\n".join(r["plan"] for r in local_lake.query(f"EXPLAIN ANALYZE {sql}"))

    whole = ("SELECT t.time_zone, count(*) AS n FROM calls c JOIN tenants t ON t.tenant_id = c.tenant_id "
             "GROUP BY t.time_zone ORDER BY t.time_zone")
    plan = analyzed(whole)
    assert "NoJoinFilterExec" in plan and "DynamicFilter" not in plan, plan
    first = local_lake.query("SELECT min(tenant_id) AS t FROM tenants")[0]["t"]
    selective = ("SELECT t.time_zone, count(*) AS n FROM calls c "
                 f"JOIN (SELECT * FROM tenants WHERE tenant_id = '{first}') t ON t.tenant_id = c.tenant_id "
                 "GROUP BY t.time_zone ORDER BY t.time_zone")
    plan = analyzed(selective)
    assert "NoJoinFilterExec" not in plan and "DynamicFilter" in plan, plan

    # Sessions also rewrite local-time bounds with their UTC fast path (cdrlake_local_time_bounds).
    local = ("SELECT count(*) AS n FROM calls c JOIN tenants t ON t.tenant_id = c.tenant_id "
             "WHERE local_time(c.invite_time, t.time_zone) >= TIMESTAMP '2020-01-01 00:00:00'")
    plan = analyzed(local)
    assert "OR local_time(invite_time" in plan, plan
    assert local_lake.query(local) == [{"n": local_lake.query("SELECT count(*) AS n FROM calls")[0]["n"]}]

    calls = DeltaTable(f"{local_lake.store}/tables/calls").to_pyarrow_table()
    tenants = DeltaTable(f"{local_lake.store}/tables/tenants").to_pyarrow_table()
    con = duckdb.connect()
    con.register("calls", calls)
    con.register("tenants", tenants)
    for sql in (whole, selective):
        want = [{"time_zone": z, "n": n} for z, n in con.execute(sql).fetchall()]
        assert local_lake.query(sql) == want, sql
        assert len(want) >= 1


def test_scans_read_only_the_files_their_filters_can_match(local_lake):
    """A lake table's scan is planned by cdrlake from the snapshot's file list (no delta-rs
    log replay per scan): the plan reads Parquet directly (no DeltaScanExec), and only the
    files whose partition values and footer statistics can match the filters. The answers
    equal an independent engine's over the Delta table."""
    local_lake.run("generate", "--tenants", "3", "--days", "3", "--calls-per-day", "400")
    local_lake.run("ingest", "--no-rollups")
    # A second commit: files of two ingests.
    local_lake.run("generate", "--tenants", "3", "--days", "2", "--calls-per-day", "50", "--start", "2026-11-01",
                   "--seed", "7")
    local_lake.run("ingest", "--no-rollups")
    dt = DeltaTable(f"{local_lake.store}/tables/calls")
    files = dt.file_uris()
    days = sorted({f.split("event_date=")[1].split("/")[0] for f in files})
    assert len(days) >= 4, days
    day = days[1]
    tenant = local_lake.query("SELECT min(tenant_id) AS t FROM tenants")[0]["t"]

    def physical(sql: str) -> str:
        return "\n".join(r["plan"] for r in local_lake.query(f"EXPLAIN {sql}") if r["plan_type"] == "physical_plan")

    one_day = (f"SELECT count(*) AS n, CAST(sum(customer_charge) AS VARCHAR) AS charge FROM calls "
               f"WHERE event_date = DATE '{day}' AND tenant_id = '{tenant}'")
    plan = physical(one_day)
    assert "DeltaScanExec" not in plan and "DataSourceExec" in plan, plan
    read = set(re.findall(r"event_date=(\d{4}-\d{2}-\d{2})", plan))
    assert read == {day}, plan
    # A bound on a column the files are not partitioned by prunes by footer statistics: no
    # call is older than the first day, so no file is read (the count is 0 from statistics).
    plan = physical(f"SELECT call_id FROM calls WHERE invite_time < TIMESTAMP '{days[0]} 00:00:00' - INTERVAL '2' DAY")
    assert "EmptyExec" in plan and "DataSourceExec" not in plan, plan

    con = duckdb.connect()
    con.register("calls", dt.to_pyarrow_table())
    checks = [
        one_day,
        "SELECT count(*) AS n, CAST(sum(customer_charge) AS VARCHAR) AS charge FROM calls",
        f"SELECT tenant_id, count(*) AS n FROM calls WHERE event_date >= DATE '{days[1]}' "
        "AND disposition = 'answered' GROUP BY tenant_id ORDER BY tenant_id",
        f"SELECT CAST(event_date AS VARCHAR) AS d, count(answer_time) AS n FROM calls "
        f"WHERE invite_time >= TIMESTAMP '{days[-1]} 06:00:00' GROUP BY d ORDER BY d",
        "SELECT call_id, duration_s FROM calls WHERE call_id IS NOT NULL ORDER BY call_id LIMIT 5",
    ]
    for sql in checks:
        cur = con.execute(sql.replace("TIMESTAMP '", "TIMESTAMPTZ '").replace(" 00:00:00'", " 00:00:00+00'")
                          .replace(" 06:00:00'", " 06:00:00+00'"))
        cols = [c[0] for c in cur.description]
        want = [dict(zip(cols, r)) for r in cur.fetchall()]
        got = local_lake.query(sql)
        assert got == want, sql
    assert local_lake.query(checks[0])[0]["n"] > 0

    # Rollups (reader feature timestampNtz, for their local hours) take the same path.
    local_lake.run("rollup", "refresh")
    sql = "SELECT sum(calls) AS n FROM calls_hourly"
    assert "DeltaScanExec" not in physical(sql), physical(sql)
    # The rollup's own definition (calls joined with tenants), computed from the raw rows.
    assert local_lake.query(sql) == local_lake.query(
        "SELECT count(*) AS n FROM calls c JOIN tenants t ON t.tenant_id = c.tenant_id")


def test_tables_with_deletion_vectors_are_read_by_delta_rs(local_lake):
    """A table whose protocol needs more than plain Parquet reads (here deletion vectors,
    enabled and used by another writer) is scanned by delta-rs, and queries see its deletes."""
    local_lake.run("generate", "--tenants", "2", "--days", "2", "--calls-per-day", "300")
    local_lake.run("ingest", "--no-rollups")
    path = f"{local_lake.store}/tables/calls"
    before = local_lake.query("SELECT count(*) AS n FROM calls")[0]["n"]
    gone = local_lake.query("SELECT count(*) AS n FROM calls WHERE duration_s > 60")[0]["n"]
    assert 0 < gone < before
    dt = DeltaTable(path)
    dt.alter.add_feature(TableFeatures.DeletionVectors, allow_protocol_versions_increase=True)
    DeltaTable(path).delete("duration_s > 60")
    assert DeltaTable(path).protocol().min_reader_version == 3
    plan = "\n".join(r["plan"] for r in local_lake.query("EXPLAIN SELECT count(*) FROM calls WHERE tenant_id > ''")
                     if r["plan_type"] == "physical_plan")
    assert "DeltaScanExec" in plan, plan
    assert local_lake.query("SELECT count(*) AS n FROM calls") == [{"n": before - gone}]
    assert local_lake.query("SELECT count(*) AS n FROM calls WHERE duration_s > 60") == [{"n": 0}]
