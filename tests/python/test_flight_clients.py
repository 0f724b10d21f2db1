"""The Flight SQL server with real clients: adbc-driver-flightsql (DB-API), pyarrow.flight (with
the Flight SQL commands encoded by hand) and flightsql-dbapi under SQLAlchemy. Expectations come
from the fixture's CSV files (tests/reports/fixture), read with the csv module.

One server for the module (`cdrlake serve` on a copy of the fixture lake). The ingest tests add
rows with call ids starting `x-flight-` dated May 2026; every other test leaves those out or
looks at sakura or March only, so the order of the tests does not matter."""

import base64
import datetime
import time
from collections import Counter
from decimal import Decimal

import pyarrow as pa
import pytest

from flight import (
    FlightSql,
    adbc_connect,
    adbc_query,
    cmd_cross_reference,
    cmd_prepared_statement_query,
    pack_any,
    pb_bytes,
    pb_decode,
    cmd_get_catalogs,
    cmd_get_db_schemas,
    cmd_get_sql_info,
    cmd_get_table_types,
    cmd_get_tables,
    cmd_get_xdbc_type_info,
    cmd_keys,
    cmd_statement_query,
    expect_error,
    fixture_rows,
    flight_env,
    grpc_code,
    local,
    utc,
)

FX = fixture_rows()
ZONES = {t["tenant_id"]: t["time_zone"] for t in FX["tenants"]}
CALLS_BY_TENANT = Counter(r["tenant_id"] for r in FX["calls"])
NOT_INGESTED = "call_id NOT LIKE 'x-flight%'"
# A query that runs for minutes: planning it is instant, running it is not.
SLOW_SQL = ("SELECT count(*) AS n FROM generate_series(1, 1000000) AS a, generate_series(1, 1000000) AS b "
            "WHERE a.value + b.value = -1")


@pytest.fixture(scope="module")
def env(cdrlake_bin, fixture_lake_template, tmp_path_factory):
    with flight_env(cdrlake_bin, fixture_lake_template, tmp_path_factory.mktemp("flight-clients")) as e:
        yield e


@pytest.fixture(scope="module")
def root(env):
    conn = env.adbc("root")
    yield conn
    conn.close()


@pytest.fixture(scope="module")
def root_flight(env):
    with env.flight("root") as c:
        yield c


def walk_types(t: pa.DataType):
    yield t
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        yield from walk_types(t.value_type)
    elif pa.types.is_struct(t):
        for i in range(t.num_fields):
            yield from walk_types(t.field(i).type)
    elif pa.types.is_map(t):
        yield from walk_types(t.key_type)
        yield from walk_types(t.item_type)


def assert_plain_types(schema: pa.Schema, what: str) -> None:
    """No Utf8View/BinaryView/ListView, no dictionaries: what older clients can read."""
    for f in schema:
        for t in walk_types(f.type):
            assert not pa.types.is_dictionary(t), f"{what}: column {f.name} is dictionary-encoded ({f.type})"
            for view in ("is_string_view", "is_binary_view", "is_list_view", "is_large_list_view"):
                check = getattr(pa.types, view, None)
                assert not (check and check(t)), f"{what}: column {f.name} has a view type ({f.type})"


def assert_utc_timestamps(schema: pa.Schema, what: str) -> None:
    for f in schema:
        if pa.types.is_timestamp(f.type):
            assert f.type == pa.timestamp("us", tz="UTC"), f"{what}: {f.name} is {f.type}, want timestamp[us, tz=UTC]"


# ---------------------------------------------------------------------------------------------
# The hand-written protobuf encoding (no server needed)

def test_hand_encoded_commands_equal_protobuf_encoding():
    """The few bytes of protobuf the pyarrow tests send are what the Flight SQL .proto encodes
    (checked against the generated classes flightsql-dbapi ships)."""
    from google.protobuf import any_pb2

    import flightsql.flightsql_pb2 as pb

    def packed(msg) -> bytes:
        a = any_pb2.Any()
        a.Pack(msg)
        return a.SerializeToString()

    assert cmd_statement_query("SELECT 1 -- é") == packed(pb.CommandStatementQuery(query="SELECT 1 -- é"))
    assert cmd_get_sql_info([0, 2, 3, 504]) == packed(pb.CommandGetSqlInfo(info=[0, 2, 3, 504]))
    assert cmd_get_catalogs() == packed(pb.CommandGetCatalogs())
    assert cmd_get_db_schemas("cdrlake", "l%") == packed(pb.CommandGetDbSchemas(catalog="cdrlake", db_schema_filter_pattern="l%"))
    assert cmd_get_tables("cdrlake", "lake", "calls", ("TABLE",), True) == packed(pb.CommandGetTables(
        catalog="cdrlake", db_schema_filter_pattern="lake", table_name_filter_pattern="calls",
        table_types=["TABLE"], include_schema=True))
    assert cmd_get_table_types() == packed(pb.CommandGetTableTypes())
    assert cmd_get_xdbc_type_info() == packed(pb.CommandGetXdbcTypeInfo())
    assert cmd_keys("PrimaryKeys", "calls") == packed(pb.CommandGetPrimaryKeys(catalog="cdrlake", db_schema="lake", table="calls"))
    assert cmd_cross_reference("calls", "streams") == packed(pb.CommandGetCrossReference(
        pk_catalog="cdrlake", pk_db_schema="lake", pk_table="calls",
        fk_catalog="cdrlake", fk_db_schema="lake", fk_table="streams"))
    assert cmd_prepared_statement_query(b"h\x00\xff") == packed(pb.CommandPreparedStatementQuery(prepared_statement_handle=b"h\x00\xff"))
    assert pack_any("ActionCreatePreparedStatementRequest", pb_bytes(1, "SELECT 1")) == packed(
        pb.ActionCreatePreparedStatementRequest(query="SELECT 1"))
    assert pack_any("ActionClosePreparedStatementRequest", pb_bytes(1, b"h")) == packed(
        pb.ActionClosePreparedStatementRequest(prepared_statement_handle=b"h"))
    result = pb.ActionCreatePreparedStatementResult(prepared_statement_handle=b"hh", dataset_schema=b"ds", parameter_schema=b"ps")
    fields = pb_decode(pb_decode(packed(result))[2][0])
    assert (fields[1], fields[2], fields[3]) == ([b"hh"], [b"ds"], [b"ps"])


# ---------------------------------------------------------------------------------------------
# ADBC

def test_adbc_query_with_parameters(root):
    t = adbc_query(root, "SELECT tenant_id, count(*) AS n FROM calls WHERE tenant_id = ? GROUP BY tenant_id", ["sakura"])
    assert t.to_pylist() == [{"tenant_id": "sakura", "n": CALLS_BY_TENANT["sakura"]}]
    assert t.schema.field("tenant_id").type == pa.string()
    assert t.schema.field("n").type == pa.int64()

    long_calls = sum(1 for r in FX["calls"] if int(r["duration_s"]) >= 300)
    t = adbc_query(root, f"SELECT count(*) AS n FROM calls WHERE duration_s >= ? AND {NOT_INGESTED}", [300])
    assert t.column("n").to_pylist() == [long_calls]

    lo = datetime.datetime(2026, 3, 10, tzinfo=datetime.timezone.utc)
    hi = datetime.datetime(2026, 3, 20, tzinfo=datetime.timezone.utc)
    in_range = sum(1 for r in FX["calls"] if lo <= utc(r["invite_time"]) < hi)
    t = adbc_query(root, "SELECT count(*) AS n FROM calls WHERE invite_time >= ? AND invite_time < ?", [lo, hi])
    assert t.column("n").to_pylist() == [in_range], "timestamp parameters (bound as timestamp[us, tz=UTC])"


def test_adbc_prepared_statement_is_reused(root):
    """The DB-API cursor prepares once and binds new parameters to the same handle."""
    with root.cursor() as cur:
        for sql in ("SELECT count(*) AS n FROM calls WHERE tenant_id = ? AND call_id NOT LIKE 'x-flight%'",
                    "SELECT count(*) AS n FROM calls WHERE tenant_id = $1 AND call_id NOT LIKE 'x-flight%'"):
            for tenant in ("sakura", "hudson", "spree", "sakura", "nobody"):
                cur.execute(sql, [tenant])
                got = cur.fetch_arrow_table().column("n").to_pylist()
                assert got == [CALLS_BY_TENANT.get(tenant, 0)], f"{sql} with {tenant}: {got}"


def test_adbc_prepared_statement_schemas(root):
    """dataset_schema and parameter_schema are filled in when a statement is prepared."""
    with root.cursor() as cur:
        params = cur.adbc_prepare("SELECT tenant_id, invite_time FROM calls WHERE tenant_id = ? AND duration_s > ?")
        assert params is not None and len(params) == 2, f"parameter schema: {params}"
        schema = cur.adbc_execute_schema("SELECT tenant_id, invite_time, duration_s FROM calls")
    assert schema.names == ["tenant_id", "invite_time", "duration_s"]
    assert schema.field("tenant_id").type == pa.string()
    assert schema.field("invite_time").type == pa.timestamp("us", tz="UTC")
    assert schema.field("duration_s").type == pa.int64()


def test_adbc_get_objects(root, env):
    objs = root.adbc_get_objects(catalog_filter="cdrlake", db_schema_filter="lake", table_name_filter="calls").read_all().to_pylist()
    assert [c["catalog_name"] for c in objs] == ["cdrlake"]
    schemas = objs[0]["catalog_db_schemas"]
    assert [s["db_schema_name"] for s in schemas] == ["lake"]
    tables = schemas[0]["db_schema_tables"]
    assert [t["table_name"] for t in tables] == ["calls"]
    columns = [c["column_name"] for c in sorted(tables[0]["table_columns"], key=lambda c: c["ordinal_position"])]
    header = list(FX["calls"][0].keys())
    assert columns[: len(header)] == header, f"calls columns in order: {columns}"

    every = root.adbc_get_objects(depth="db_schemas").read_all().to_pylist()
    cdrlake = [c for c in every if c["catalog_name"] == "cdrlake"]
    assert cdrlake, f"catalogs: {[c['catalog_name'] for c in every]}"
    names = {s["db_schema_name"] for s in cdrlake[0]["catalog_db_schemas"]}
    assert {"lake", "reports", "system", "information_schema"} <= names, names

    tables = root.adbc_get_objects(depth="tables", catalog_filter="cdrlake", db_schema_filter="lake").read_all().to_pylist()
    lake_tables = {t["table_name"] for t in tables[0]["catalog_db_schemas"][0]["db_schema_tables"]}
    expected = {"calls", "streams", "messages", "registrations", "tenants", "teams", "users", "numbers"}
    assert expected <= lake_tables, lake_tables
    assert "quarantine_calls" in lake_tables, "root (admin) sees the quarantine tables"

    with env.adbc("hudson_admin") as conn:
        every = conn.adbc_get_objects(depth="db_schemas", catalog_filter="cdrlake").read_all().to_pylist()
        names = {s["db_schema_name"] for s in every[0]["catalog_db_schemas"]}
        assert {"lake", "reports"} <= names and "system" not in names, f"a tenant admin's schemas: {names}"


def test_adbc_get_table_schema(root):
    schema = root.adbc_get_table_schema("calls", db_schema_filter="lake")
    assert schema.field("tenant_id").type == pa.string()
    assert schema.field("invite_time").type == pa.timestamp("us", tz="UTC")
    assert schema.field("duration_s").type == pa.int64()
    assert schema.field("customer_charge").type == pa.decimal128(18, 6)
    assert_plain_types(schema, "GetTables schema of calls")
    assert_utc_timestamps(schema, "GetTables schema of calls")
    # The schema GetTables reports is the schema a query returns (names and types).
    t = adbc_query(root, "SELECT * FROM calls LIMIT 1")
    assert [(f.name, f.type) for f in t.schema] == [(f.name, f.type) for f in schema]


def test_adbc_table_types_and_info(root):
    types = root.adbc_get_table_types()
    assert types, "GetTableTypes answered nothing"
    info = root.adbc_get_info()
    # Without a GetSqlInfo answer the driver fills in "Flight SQL" / "(unknown or development build)".
    assert info.get("vendor_name") and info["vendor_name"] != "Flight SQL", f"GetSqlInfo not answered: {info}"
    assert info.get("vendor_version") and "unknown" not in info["vendor_version"], info


def test_adbc_report_breakout_matches_fixture(root):
    """Wholesale breakout for March: attempts, answered and charge per customer/provider as
    computed from calls.csv (Tokyo-local March)."""
    want: dict = {}
    for r in FX["calls"]:
        if r["tenant_id"] != "sakura" or not (r["customer"] or r["provider"]):
            continue
        t = local(r["invite_time"], ZONES["sakura"])
        if not (datetime.datetime(2026, 3, 1) <= t < datetime.datetime(2026, 4, 1)):
            continue
        w = want.setdefault((r["customer"], r["provider"]), {"attempts": 0, "answered": 0, "charge": Decimal(0)})
        w["attempts"] += 1
        w["answered"] += r["disposition"] == "answered"
        w["charge"] += Decimal(r["customer_charge"] or "0")
    t = adbc_query(root, "SELECT * FROM reports.breakout('2026-03-01', '2026-04-01')")
    assert_plain_types(t.schema, "reports.breakout")
    got = {(r["customer"], r["provider"]): {"attempts": r["attempts"], "answered": r["answered"], "charge": r["charge"]}
           for r in t.to_pylist() if r["tenant_id"] == "sakura"}
    assert got == want
    assert {r["tenant_id"] for r in t.to_pylist()} == {"sakura"}, "only sakura has wholesale legs"
    # The table in tests/reports/fixture/README.md, by hand.
    assert got[("AcmeTel", "CarrierOne")]["attempts"] == 5 and got[("BlueWave", "CarrierOne")]["attempts"] == 7


def calls_batch(rows: list[dict]) -> pa.RecordBatch:
    """A batch in the canonical calls types (docs/schema.md) with the required columns."""
    schema = pa.schema([
        ("tenant_id", pa.string()), ("call_id", pa.string()), ("team_id", pa.string()),
        ("direction", pa.string()), ("media", pa.string()), ("caller_number", pa.string()),
        ("callee_number", pa.string()), ("invite_time", pa.timestamp("us", tz="UTC")),
        ("answer_time", pa.timestamp("us", tz="UTC")), ("end_time", pa.timestamp("us", tz="UTC")),
        ("duration_s", pa.int64()), ("billable_s", pa.int64()), ("disposition", pa.string()),
        ("end_reason", pa.string()), ("is_pstn", pa.bool_()), ("sip_code", pa.int32()),
    ])
    return pa.RecordBatch.from_pylist(rows, schema=schema)


def call(call_id: str, tenant: str = "hudson", disposition: str = "answered", minute: int = 0) -> dict:
    invite = datetime.datetime(2026, 5, 4, 10, minute, tzinfo=datetime.timezone.utc)
    answered = disposition == "answered"
    return {
        "tenant_id": tenant, "call_id": call_id, "team_id": "hudson-lit" if tenant == "hudson" else None,
        "direction": "outbound", "media": "audio", "caller_number": "+12125550101",
        "callee_number": "+13105550142", "invite_time": invite,
        "answer_time": invite + datetime.timedelta(seconds=5) if answered else None,
        "end_time": invite + datetime.timedelta(seconds=65), "duration_s": 65,
        "billable_s": 60 if answered else 0, "disposition": disposition, "end_reason": "Caller hung up",
        "is_pstn": True, "sip_code": 200 if answered else 486,
    }


def count(conn, sql: str) -> int:
    return adbc_query(conn, sql).column(0).to_pylist()[0]


def eventually(conn, sql: str, want: int, timeout: float = 15.0) -> None:
    """The count reaches `want` (an ingest through the server shows up at once, or at the
    latest after the server's lake refresh interval, 5 s by default)."""
    got = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = count(conn, sql)
        if got == want:
            return
        time.sleep(0.25)
    raise AssertionError(f"{sql}: {got}, expected {want}")


def ingest_marker(conn, call_id: str) -> None:
    """Appends one valid call and waits until it is visible: every commit made before it is
    visible too, so a refused write that had landed would show by then."""
    with conn.cursor() as cur:
        assert cur.adbc_ingest("calls", calls_batch([call(call_id, minute=59)]), mode="append") == 1
    eventually(conn, f"SELECT count(*) FROM calls WHERE call_id = '{call_id}'", 1)


def test_adbc_ingest_appends_and_validates(env, root):
    before = count(root, "SELECT count(*) FROM calls WHERE tenant_id = 'hudson'")
    quarantined = count(root, "SELECT coalesce(sum(rows), 0) FROM quarantine_calls")
    with root.cursor() as cur:
        n = cur.adbc_ingest("calls", calls_batch([call("x-flight-01"), call("x-flight-02", disposition="busy", minute=5)]),
                            mode="append")
    assert n == 2, f"adbc_ingest returned {n}"
    eventually(root, "SELECT count(*) FROM calls WHERE tenant_id = 'hudson'", before + 2)
    row = adbc_query(root, "SELECT call_id, invite_time, billable_s, disposition FROM calls "
                           "WHERE call_id LIKE 'x-flight-0%' ORDER BY call_id").to_pylist()
    assert row == [
        {"call_id": "x-flight-01", "invite_time": datetime.datetime(2026, 5, 4, 10, 0, tzinfo=datetime.timezone.utc),
         "billable_s": 60, "disposition": "answered"},
        {"call_id": "x-flight-02", "invite_time": datetime.datetime(2026, 5, 4, 10, 5, tzinfo=datetime.timezone.utc),
         "billable_s": 0, "disposition": "busy"},
    ]

    # Same validation as `cdrlake ingest`: the bad row is quarantined, the good one lands; the
    # count returned is the rows received.
    with root.cursor() as cur:
        n = cur.adbc_ingest("calls", calls_batch([call("x-flight-03", minute=10), call("x-flight-04", disposition="bogus", minute=15)]),
                            mode="append")
    assert n == 2
    eventually(root, "SELECT count(*) FROM calls WHERE tenant_id = 'hudson'", before + 3)
    assert count(root, "SELECT count(*) FROM calls WHERE call_id = 'x-flight-04'") == 0
    eventually(root, "SELECT coalesce(sum(rows), 0) FROM quarantine_calls", quarantined + 1)

    # Tables are fixed: create mode is refused and writes nothing.
    with root.cursor() as cur:
        with pytest.raises(Exception) as e:
            cur.adbc_ingest("calls", calls_batch([call("x-flight-05", minute=20)]), mode="create")
    assert not grpc_code(e.value).startswith("NOT_GRPC"), e.value
    ingest_marker(root, "x-flight-06")
    assert count(root, "SELECT count(*) FROM calls WHERE call_id = 'x-flight-05'") == 0


def test_adbc_ingest_permissions(env, root):
    before = count(root, "SELECT count(*) FROM calls")
    # hudson_admin has the ingest permission: own tenant only.
    with env.adbc("hudson_admin") as conn:
        with conn.cursor() as cur:
            assert cur.adbc_ingest("calls", calls_batch([call("x-flight-10", minute=30)]), mode="append") == 1
        with conn.cursor() as cur:
            batch = calls_batch([call("x-flight-11", minute=31), call("x-flight-12", tenant="sakura", minute=32)])
            expect_error(lambda: cur.adbc_ingest("calls", batch, mode="append"), "PERMISSION_DENIED")
    ingest_marker(root, "x-flight-14")
    assert count(root, "SELECT count(*) FROM calls") == before + 2
    assert count(root, "SELECT count(*) FROM calls WHERE call_id IN ('x-flight-11', 'x-flight-12')") == 0, \
        "a refused batch writes nothing, not even its own-tenant rows"
    # spree_team has no ingest permission.
    with env.adbc("spree_team") as conn:
        with conn.cursor() as cur:
            batch = calls_batch([call("x-flight-13", tenant="spree", minute=33)])
            expect_error(lambda: cur.adbc_ingest("calls", batch, mode="append"), "PERMISSION_DENIED")
    ingest_marker(root, "x-flight-15")
    assert count(root, "SELECT count(*) FROM calls") == before + 3


def test_adbc_ingest_into_messages_with_schema_name(root):
    before = count(root, "SELECT count(*) FROM messages")
    start = datetime.datetime(2026, 5, 4, 9, 0, tzinfo=datetime.timezone.utc)
    batch = pa.RecordBatch.from_pylist([{
        "tenant_id": "hudson", "session_id": "x-flight-m01", "team_id": "hudson-lit",
        "from_user": "sip:alice@hudson.example.com", "to_user": "sip:bob@hudson.example.com", "participants": 2,
        "start_time": start, "end_time": start + datetime.timedelta(minutes=3), "message_count": 4,
        "outcome": "accepted", "direction": "internal",
    }], schema=pa.schema([
        ("tenant_id", pa.string()), ("session_id", pa.string()), ("team_id", pa.string()),
        ("from_user", pa.string()), ("to_user", pa.string()), ("participants", pa.int32()),
        ("start_time", pa.timestamp("us", tz="UTC")), ("end_time", pa.timestamp("us", tz="UTC")),
        ("message_count", pa.int32()), ("outcome", pa.string()), ("direction", pa.string()),
    ]))
    with root.cursor() as cur:
        assert cur.adbc_ingest("messages", batch, mode="append", catalog_name="cdrlake", db_schema_name="lake") == 1
    eventually(root, "SELECT count(*) FROM messages", before + 1)


# ---------------------------------------------------------------------------------------------
# pyarrow.flight

def test_pyarrow_handshake_returns_bearer_header(env):
    with env.flight("root") as c:
        name, value = c.bearer
        assert name == b"authorization" and value.startswith(b"Bearer "), c.bearer
        token = value[len(b"Bearer "):].decode()
        assert token and token != env.passwords["root"]
        # The session token alone authenticates later calls (a new client, no handshake).
        with FlightSql(env.uri, token=token) as again:
            assert again.query("SELECT 1 AS one").to_pylist() == [{"one": 1}]


def test_pyarrow_statement_query(root_flight):
    sql = "SELECT tenant_id, call_id, invite_time, duration_s, customer_charge FROM calls WHERE tenant_id = 'sakura' ORDER BY call_id"
    info = root_flight.info(cmd_statement_query(sql))
    assert info.schema.names == ["tenant_id", "call_id", "invite_time", "duration_s", "customer_charge"]
    assert info.schema.field("tenant_id").type == pa.string()
    assert info.schema.field("invite_time").type == pa.timestamp("us", tz="UTC")
    assert info.endpoints, "a FlightInfo with no endpoint"
    t = root_flight.fetch(info)
    want = sorted(r["call_id"] for r in FX["calls"] if r["tenant_id"] == "sakura")
    assert t.column("call_id").to_pylist() == want
    first = next(r for r in FX["calls"] if r["call_id"] == want[0])
    assert t.column("invite_time")[0].as_py() == utc(first["invite_time"])
    assert t.column("customer_charge")[0].as_py() == (Decimal(first["customer_charge"]) if first["customer_charge"] else None)


def test_pyarrow_zero_rows_still_have_their_schema(root_flight):
    for sql in ("SELECT * FROM calls WHERE false", "SELECT * FROM calls WHERE tenant_id = 'nobody'",
                "SELECT tenant_id, count(*) AS n FROM streams WHERE stream_id < 0 GROUP BY tenant_id"):
        info = root_flight.info(cmd_statement_query(sql))
        t = root_flight.fetch(info)
        assert t.num_rows == 0
        assert t.schema.equals(info.schema)
        assert len(t.schema) > 1, f"{sql}: no columns in {t.schema}"
        assert_plain_types(t.schema, sql)
        if "tenant_id" in t.schema.names:
            assert t.schema.field("tenant_id").type == pa.string()
        if "invite_time" in t.schema.names:
            assert t.schema.field("invite_time").type == pa.timestamp("us", tz="UTC")


def test_pyarrow_wire_types_are_plain(root_flight):
    for table in ("calls", "streams", "messages", "registrations", "tenants", "teams", "users", "numbers"):
        t = root_flight.query(f"SELECT * FROM {table} LIMIT 3")
        assert t.num_rows > 0
        assert_plain_types(t.schema, table)
        assert_utc_timestamps(t.schema, table)
        assert t.schema.field("tenant_id").type == pa.string(), f"{table}.tenant_id is {t.schema.field('tenant_id').type}"
    for sql in ("SELECT * FROM reports.call_list('2026-03-01', '2026-04-01')",
                "SELECT * FROM reports.enabled_users()",
                "SELECT name, version FROM reports.catalog",
                "SELECT 'x' AS s, arrow_cast('y', 'Utf8View') AS v, arrow_cast('z', 'Dictionary(Int32, Utf8)') AS d"):
        t = root_flight.query(sql)
        assert t.num_rows > 0, sql
        assert_plain_types(t.schema, sql)


def test_prepared_statement_by_hand(root_flight):
    """CreatePreparedStatement fills dataset_schema and parameter_schema; the handle answers
    GetFlightInfo + DoGet more than once, then closes."""
    p = root_flight.prepare("SELECT tenant_id, invite_time, duration_s FROM calls WHERE tenant_id = 'sakura' ORDER BY call_id")
    assert p.handle
    assert p.dataset_schema is not None, "dataset_schema is empty (JDBC then treats the query as an update)"
    assert [(f.name, f.type) for f in p.dataset_schema] == [
        ("tenant_id", pa.string()), ("invite_time", pa.timestamp("us", tz="UTC")), ("duration_s", pa.int64())]
    for _ in range(2):
        info = root_flight.info(cmd_prepared_statement_query(p.handle))
        t = root_flight.fetch(info)
        assert t.num_rows == CALLS_BY_TENANT["sakura"]
        assert [(f.name, f.type) for f in t.schema] == [(f.name, f.type) for f in p.dataset_schema]
    root_flight.close_prepared(p.handle)

    p = root_flight.prepare("SELECT count(*) AS n FROM calls WHERE tenant_id = ? AND duration_s >= ?")
    assert p.parameter_schema is not None and len(p.parameter_schema) == 2, f"parameter schema: {p.parameter_schema}"
    assert p.dataset_schema is not None and p.dataset_schema.names == ["n"]
    root_flight.close_prepared(p.handle)


def test_get_flight_info_only_plans(env):
    """GetFlightInfo plans the query (to learn its schema); it must not run it."""
    with env.flight("root", timeout=15) as c:
        info = c.info(cmd_statement_query(SLOW_SQL))
        assert info.schema.names == ["n"]


def test_get_sql_info(root_flight):
    t = root_flight.command(cmd_get_sql_info([0, 1, 2, 3, 504]))
    assert t.schema.names[:2] == ["info_name", "value"]
    assert t.schema.field("info_name").type == pa.uint32()
    info = {r["info_name"]: r["value"] for r in t.to_pylist()}
    # flightsql-dbapi's SQLAlchemy dialect reads 0, 2, 3 and 504 when it connects.
    assert isinstance(info.get(0), str) and info[0], f"FLIGHT_SQL_SERVER_NAME: {info}"
    assert isinstance(info.get(1), str) and info[1], f"FLIGHT_SQL_SERVER_VERSION: {info}"
    assert isinstance(info.get(2), str) and info[2], f"FLIGHT_SQL_SERVER_ARROW_VERSION: {info}"
    assert isinstance(info.get(3), bool), f"FLIGHT_SQL_SERVER_READ_ONLY: {info}"
    assert info.get(504) == '"', f"SQL_IDENTIFIER_QUOTE_CHAR: {info}"
    every = {r["info_name"] for r in root_flight.command(cmd_get_sql_info([])).to_pylist()}
    assert {0, 1, 2, 3, 504} <= every, "an empty request lists every info the server has"


S, NN = True, False  # nullable, not null
SPEC = {  # the result schemas FlightSql.proto prescribes (ADBC checks them, nullability too)
    "catalogs": [("catalog_name", pa.string(), NN)],
    "db_schemas": [("catalog_name", pa.string(), S), ("db_schema_name", pa.string(), NN)],
    "tables": [("catalog_name", pa.string(), S), ("db_schema_name", pa.string(), S), ("table_name", pa.string(), NN),
               ("table_type", pa.string(), NN), ("table_schema", pa.binary(), NN)],
    "table_types": [("table_type", pa.string(), NN)],
    "primary_keys": [("catalog_name", pa.string(), S), ("db_schema_name", pa.string(), S), ("table_name", pa.string(), NN),
                     ("column_name", pa.string(), NN), ("key_name", pa.string(), S), ("key_sequence", pa.int32(), NN)],
    "keys": [("pk_catalog_name", pa.string(), S), ("pk_db_schema_name", pa.string(), S), ("pk_table_name", pa.string(), NN),
             ("pk_column_name", pa.string(), NN), ("fk_catalog_name", pa.string(), S), ("fk_db_schema_name", pa.string(), S),
             ("fk_table_name", pa.string(), NN), ("fk_column_name", pa.string(), NN), ("key_sequence", pa.int32(), NN),
             ("fk_key_name", pa.string(), S), ("pk_key_name", pa.string(), S), ("update_rule", pa.uint8(), NN),
             ("delete_rule", pa.uint8(), NN)],
    "xdbc": [("type_name", pa.string(), NN), ("data_type", pa.int32(), NN), ("column_size", pa.int32(), S),
             ("literal_prefix", pa.string(), S), ("literal_suffix", pa.string(), S), ("create_params", None, S),
             ("nullable", pa.int32(), NN), ("case_sensitive", pa.bool_(), NN), ("searchable", pa.int32(), NN),
             ("unsigned_attribute", pa.bool_(), S), ("fixed_prec_scale", pa.bool_(), NN), ("auto_increment", pa.bool_(), S),
             ("local_type_name", pa.string(), S), ("minimum_scale", pa.int32(), S), ("maximum_scale", pa.int32(), S),
             ("sql_data_type", pa.int32(), NN), ("datetime_subcode", pa.int32(), S), ("num_prec_radix", pa.int32(), S),
             ("interval_precision", pa.int32(), S)],
}


def assert_spec(t: pa.Table, what: str) -> None:
    got = [(f.name, f.type, f.nullable) for f in t.schema]
    want = SPEC[what]
    # create_params is a list of strings; its item field's name is not checked
    want = [(n, got[i][1] if ty is None and i < len(got) and pa.types.is_list(got[i][1]) else ty, nl)
            for i, (n, ty, nl) in enumerate(want)]
    assert got == want, f"{what} schema differs from the Flight SQL spec:\n got  {got}\n want {want}"


def test_catalogs_schemas_tables(root_flight):
    t = root_flight.command(cmd_get_catalogs())
    assert_spec(t, "catalogs")
    assert t.column("catalog_name").to_pylist() == ["cdrlake"]

    t = root_flight.command(cmd_get_db_schemas(catalog="cdrlake"))
    assert_spec(t, "db_schemas")
    assert {"lake", "reports", "system", "information_schema"} <= set(t.column("db_schema_name").to_pylist())

    t = root_flight.command(cmd_get_tables(catalog="cdrlake", schema_pattern="lake", table_pattern="calls", include_schema=True))
    assert_spec(t, "tables")
    rows = t.to_pylist()
    assert [(r["catalog_name"], r["db_schema_name"], r["table_name"]) for r in rows] == [("cdrlake", "lake", "calls")]
    schema = pa.ipc.read_schema(pa.py_buffer(rows[0]["table_schema"]))
    assert schema.field("tenant_id").type == pa.string()
    assert schema.field("invite_time").type == pa.timestamp("us", tz="UTC")
    assert rows[0]["table_type"] in root_flight.command(cmd_get_table_types()).column("table_type").to_pylist()

    t = root_flight.command(cmd_get_tables(catalog="cdrlake", schema_pattern="reports"))
    assert [(f.name, f.type, f.nullable) for f in t.schema] == SPEC["tables"][:4], "without include_schema: no table_schema"
    reports = set(t.column("table_name").to_pylist())
    assert {"catalog", "breakout", "end_reasons"} <= reports, f"report views listed: {sorted(reports)[:10]}"
    t = root_flight.command(cmd_get_tables(table_pattern="call%"))
    assert {"calls", "call_list", "call_details"} <= set(t.column("table_name").to_pylist()), "LIKE patterns"


def test_table_types_and_xdbc_type_info(root_flight):
    t = root_flight.command(cmd_get_table_types())
    assert_spec(t, "table_types")
    assert t.num_rows >= 1
    t = root_flight.command(cmd_get_xdbc_type_info())
    assert_spec(t, "xdbc")
    assert t.num_rows >= 1
    assert "VARCHAR" in [n.upper() for n in t.column("type_name").to_pylist()], "the string type is listed"


def test_keys_and_cross_reference_are_empty_with_spec_schema(root_flight):
    t = root_flight.command(cmd_keys("PrimaryKeys", "calls"))
    assert t.num_rows == 0
    assert_spec(t, "primary_keys")
    for kind in ("ExportedKeys", "ImportedKeys"):
        t = root_flight.command(cmd_keys(kind, "calls"))
        assert t.num_rows == 0, kind
        assert_spec(t, "keys")
    t = root_flight.command(cmd_cross_reference("calls", "streams"))
    assert t.num_rows == 0
    assert_spec(t, "keys")


# ---------------------------------------------------------------------------------------------
# flightsql-dbapi + SQLAlchemy 1.4

def test_flightsql_dbapi_sqlalchemy(env):
    import flightsql.sqlalchemy  # noqa: F401 - registers the datafusion+flightsql dialect
    from sqlalchemy import create_engine, inspect, text, types
    from sqlalchemy.engine import URL

    host, port = env.uri.split("://")[1].rsplit(":", 1)
    url = URL.create("datafusion+flightsql", username="root", password=env.passwords["root"], host=host,
                     port=int(port), query={"insecure": "true"})
    engine = create_engine(url)
    try:
        insp = inspect(engine)
        tables = insp.get_table_names(schema="lake")
        assert {"calls", "streams", "users"} <= set(tables), tables
        cols = {c["name"]: c["type"] for c in insp.get_columns("calls", schema="lake")}
        assert isinstance(cols["tenant_id"], types.TEXT), f"tenant_id reflected as {cols['tenant_id']!r} (not plain Utf8?)"
        assert isinstance(cols["invite_time"], types.TIMESTAMP), repr(cols["invite_time"])

        want = Counter()
        for r in FX["calls"]:
            t = local(r["invite_time"], ZONES["sakura"])
            if r["tenant_id"] == "sakura" and datetime.datetime(2026, 3, 1) <= t < datetime.datetime(2026, 4, 1):
                want[r["end_reason"] or "(none)"] += 1
        with engine.connect() as c:
            res = c.execute(text("SELECT tenant_id, end_reason, calls FROM reports.end_reasons('2026-03-01', '2026-04-01') "
                                 "WHERE tenant_id = 'sakura' ORDER BY end_reason"))
            desc = {d[0]: d[1] for d in res.cursor.description}
            rows = res.fetchall()
        assert desc["tenant_id"] is types.TEXT and desc["end_reason"] is types.TEXT, \
            f"strings must arrive as Utf8 (flightsql-dbapi maps Utf8View to BLOB): {desc}"
        assert {r.end_reason: r.calls for r in rows} == dict(want)
        assert all(isinstance(r.end_reason, str) for r in rows)
    finally:
        engine.dispose()


# ---------------------------------------------------------------------------------------------
# Error codes

def test_bad_sql_is_invalid_argument_with_datafusion_message(root_flight, root):
    e = expect_error(lambda: root_flight.query("SELEC 1"), "INVALID_ARGUMENT")
    assert "an sql statement, found: selec" in str(e).lower(), f"DataFusion's parser message: {e}"
    expect_error(lambda: root_flight.query("SELECT no_such_column FROM calls"), "INVALID_ARGUMENT",
                 contains="no_such_column")
    e = expect_error(lambda: adbc_query(root, "SELEC 1"), "INVALID_ARGUMENT")
    assert "an sql statement, found: selec" in str(e).lower(), str(e)
    # The server keeps serving.
    assert root_flight.query("SELECT 2 AS two").to_pylist() == [{"two": 2}]


def test_unknown_table_is_an_error(root_flight, root):
    expect_error(lambda: root_flight.query("SELECT * FROM no_such_table"), "NOT_FOUND", "INVALID_ARGUMENT",
                 contains="no_such_table")
    expect_error(lambda: adbc_query(root, "SELECT * FROM lake.no_such_table"), "NOT_FOUND", "INVALID_ARGUMENT",
                 contains="no_such_table")


def test_unauthenticated_calls_are_refused(env):
    with FlightSql(env.uri) as anonymous:
        expect_error(lambda: anonymous.query("SELECT 1"), "UNAUTHENTICATED")
        expect_error(lambda: anonymous.command(cmd_get_catalogs()), "UNAUTHENTICATED")
    for bogus in ("nonsense", "cdl_abc_def", ""):
        with FlightSql(env.uri, token=bogus) as c:
            expect_error(lambda: c.query("SELECT 1"), "UNAUTHENTICATED")
    basic = base64.b64encode(f"root:{env.passwords['root']}".encode())
    with FlightSql(env.uri, headers=[(b"authorization", b"Basic " + basic)]) as c:
        # Basic credentials are for the Handshake only.
        expect_error(lambda: c.query("SELECT 1"), "UNAUTHENTICATED")
    expect_error(lambda: FlightSql(env.uri, "root", "wrong-password"), "UNAUTHENTICATED")
    expect_error(lambda: FlightSql(env.uri, "nobody", "whatever"), "UNAUTHENTICATED")

    def adbc_anonymous():
        with adbc_connect(env.uri) as conn:
            return adbc_query(conn, "SELECT 1")

    expect_error(adbc_anonymous, "UNAUTHENTICATED")
    expect_error(lambda: env.adbc("root", "wrong-password"), "UNAUTHENTICATED")
