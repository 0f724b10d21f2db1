"""Row-level isolation over Flight SQL: crafted queries run as a tenant admin (hudson_admin:
tenant hudson) and as a team admin (spree_team: tenant spree, team spree-support), each
through both query paths a client has (a plain CommandStatementQuery with pyarrow.flight, and
a prepared statement with ADBC). Every query must either return no foreign row or fail with
PERMISSION_DENIED.

What a user may see is computed here from the fixture CSV files with the csv module (never
from server output):
- tenant admin: every row of their tenant;
- team admin: calls, messages, users and teams of their teams (team_id); streams of those
  calls; registrations of those users; numbers assigned to those users; their tenant's row.
Beyond the tenant_id/team_id columns, every string in every result is checked against the ids,
names and addresses that occur only in rows the user may not see."""

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pyarrow as pa
import pytest

from flight import (
    adbc_query,
    cmd_get_db_schemas,
    cmd_get_tables,
    expect_error,
    fixture_rows,
    flight_env,
    grpc_code,
)

FX = fixture_rows()
WHOLE = "'2000-01-01', '2100-01-01'"  # a period holding every fixture row in any time zone
ID_COLUMNS = {
    "tenants": ["tenant_id", "name"],
    "teams": ["team_id", "name"],
    "users": ["user_id", "display_name", "sip_address", "number"],
    "numbers": ["number"],
    "calls": ["call_id", "conference_id"],
    "streams": ["call_id"],
    "messages": ["session_id"],
    "registrations": ["event_id", "mac"],
}


@dataclass(frozen=True)
class Scope:
    user: str
    tenant: str
    teams: frozenset | None  # None: every team of the tenant

    def __str__(self):
        return self.user


HUDSON = Scope("hudson_admin", "hudson", None)
SPREE_TEAM = Scope("spree_team", "spree", frozenset({"spree-support"}))
SCOPES = [HUDSON, SPREE_TEAM]


def visible(scope: Scope, table: str) -> list[dict]:
    rows = [r for r in FX[table] if r["tenant_id"] == scope.tenant]
    if scope.teams is None or table == "tenants":
        return rows
    if table in ("calls", "messages", "users", "teams"):
        return [r for r in rows if r["team_id"] in scope.teams]
    if table == "streams":
        calls = {c["call_id"] for c in visible(scope, "calls")}
        return [r for r in rows if r["call_id"] in calls]
    users = {u["user_id"] for u in visible(scope, "users")}
    if table == "registrations":
        return [r for r in rows if r["user_id"] in users]
    if table == "numbers":
        return [r for r in rows if r["assigned_to"] in users]
    raise KeyError(table)


def n(table: str) -> Callable[[Scope], int]:
    return lambda scope: len(visible(scope, table))


def forbidden_values(scope: Scope) -> set[str]:
    """Ids, names and addresses of rows the user may not see that occur in no row they may see."""
    seen = set()
    for table in ID_COLUMNS:
        for r in visible(scope, table):
            seen.update(v for v in r.values() if v)
    hidden = set()
    for table, cols in ID_COLUMNS.items():
        mine = {id(r) for r in visible(scope, table)}
        for r in FX[table]:
            if id(r) not in mine:
                hidden.update(r[c] for c in cols if r[c])
    return hidden - seen


FORBIDDEN = {s: forbidden_values(s) for s in SCOPES}
FOREIGN_TENANTS = {s: sorted({t["tenant_id"] for t in FX["tenants"]} - {s.tenant}) for s in SCOPES}


def foreign_streamed_call(scope: Scope) -> str:
    """A call the user may not see that has streams (same tenant first, for the team admin)."""
    mine = {c["call_id"] for c in visible(scope, "calls")}
    candidates = [s for s in FX["streams"] if s["call_id"] not in mine]
    candidates.sort(key=lambda s: (s["tenant_id"] != scope.tenant, s["call_id"]))
    return candidates[0]["call_id"]


def foreign_user(scope: Scope) -> str:
    mine = {u["user_id"] for u in visible(scope, "users")}
    candidates = [u for u in FX["users"] if u["user_id"] not in mine]
    candidates.sort(key=lambda u: (u["tenant_id"] != scope.tenant, u["user_id"]))
    return candidates[0]["user_id"]


def values_of(v):
    if isinstance(v, dict):
        for x in v.values():
            yield from values_of(x)
    elif isinstance(v, (list, tuple)):
        for x in v:
            yield from values_of(x)
    else:
        yield v


def assert_no_foreign_rows(scope: Scope, table: pa.Table, sql: str, team_col: bool = True) -> None:
    rows = table.to_pylist()
    for name in table.schema.names:
        # NULL is allowed (outer joins); a foreign row is still caught by its ids below.
        if name.lower().endswith("tenant_id"):
            bad = {r[name] for r in rows} - {scope.tenant, None}
            assert not bad, f"{scope} got rows of tenants {bad} from: {sql}"
        if name.lower().endswith("team_id") and scope.teams is not None and team_col:
            bad = {r[name] for r in rows} - set(scope.teams) - {None}
            assert not bad, f"{scope} got rows of teams {bad} from: {sql}"
    forbidden = FORBIDDEN[scope]
    for r in rows:
        leaked = {v for v in values_of(r) if isinstance(v, str) and v in forbidden}
        assert not leaked, f"{scope} saw foreign values {sorted(leaked)} in {r} from: {sql}"


@dataclass
class Case:
    id: str
    sql: str  # {tenant}, {foreign}, {foreign_call}, {foreign_user} are filled in per user
    rows: Callable[[Scope], int] | None = None  # expected row count
    value: Callable[[Scope], object] | None = None  # expected first column of the only row
    denied: bool = False  # must fail with PERMISSION_DENIED
    absent_ok: bool = False  # with denied: NOT_FOUND / INVALID_ARGUMENT ("no such table") also do
    params: list | None = None  # bound parameters (prepared path only)
    check: Callable | None = None  # check(scope, table, sql) for results that are not rows
    team_col: bool = True  # check team_id columns for the team admin
    both: bool = False  # also run it as an ADBC prepared statement (params: only that way)
    may_deny: bool = False  # PERMISSION_DENIED is an acceptable answer too

    @property
    def paths(self) -> tuple[str, ...]:
        if self.params is not None:
            return ("prepared",)
        return ("statement", "prepared") if self.both else ("statement",)

    def render(self, scope: Scope) -> str:
        return self.sql.format(tenant=scope.tenant, foreign=FOREIGN_TENANTS[scope][0],
                               foreign_call=foreign_streamed_call(scope), foreign_user=foreign_user(scope))


def plan_text(t: pa.Table) -> str:
    return "\n".join(str(v) for r in t.to_pylist() for v in r.values())


def check_explain(scope: Scope, t: pa.Table, sql: str) -> None:
    text = plan_text(t)
    for other in FOREIGN_TENANTS[scope]:
        assert other not in text, f"{scope}: EXPLAIN mentions tenant {other}:\n{text}"
    if scope.teams is not None:
        for team in {r["team_id"] for r in FX["teams"]} - set(scope.teams):
            assert team not in text, f"{scope}: EXPLAIN mentions team {team}:\n{text}"


def check_explain_analyze(scope: Scope, t: pa.Table, sql: str) -> None:
    """EXPLAIN ANALYZE runs the query and shows row counts (output_rows, pushdown_rows_pruned,
    page_index_rows_pruned, ...): none may exceed what the user sees, or it tells how many rows
    the other tenants have. Refusing EXPLAIN ANALYZE (PERMISSION_DENIED) also passes."""
    check_explain(scope, t, sql)
    text = plan_text(t)
    mine = len(visible(scope, "calls"))
    for metric, value in re.findall(r"(\w*rows\w*)=(\d+)", text):
        assert int(value) <= mine, (
            f"{scope}: EXPLAIN ANALYZE shows {metric}={value} but the user sees {mine} calls: "
            f"it tells how many rows other tenants have (refuse it, or scan only the user's rows):\n{text}")


def check_information_schema(scope: Scope, t: pa.Table, sql: str) -> None:
    rows = t.to_pylist()
    names = {(r["table_schema"], r["table_name"]) for r in rows}
    assert ("lake", "calls") in names, f"information_schema.tables lists no lake.calls: {sorted(names)[:20]}"
    assert not {s for s, _ in names} & {"system"}, f"{scope} sees system tables: {sorted(names)}"
    assert not [n for s, n in names if n.startswith("quarantine_")], f"{scope} sees quarantine tables"


def check_tables_command(scope: Scope, t: pa.Table, sql: str) -> None:
    names = set(t.column("table_name").to_pylist())
    assert "calls" in names
    assert not [x for x in names if x.startswith("quarantine_")], f"{scope} is told about {sorted(names)}"


def usage_row(scope: Scope) -> dict:
    return {"tenant_id": scope.tenant, "calls": len(visible(scope, "calls")), "users": len(visible(scope, "users")),
            "im_sessions": len(visible(scope, "messages"))}


def check_usage(scope: Scope, t: pa.Table, sql: str) -> None:
    rows = [{k: r[k] for k in ("tenant_id", "calls", "users", "im_sessions")} for r in t.to_pylist()]
    assert rows == [usage_row(scope)], f"{scope}: {sql}"


def joined_registrations(scope: Scope) -> int:
    users = {u["user_id"] for u in visible(scope, "users")}
    return sum(1 for r in visible(scope, "registrations") if r["user_id"] in users)


def calls_with_streams(scope: Scope) -> int:
    streamed = {s["call_id"] for s in visible(scope, "streams")}
    return sum(1 for c in visible(scope, "calls") if c["call_id"] in streamed)


CASES = [
    # Plain reads of every table.
    Case("select_calls", "SELECT * FROM calls", rows=n("calls"), both=True),
    Case("select_streams", "SELECT * FROM streams", rows=n("streams"), both=True),
    Case("select_messages", "SELECT * FROM messages", rows=n("messages")),
    Case("select_users", "SELECT * FROM users", rows=n("users")),
    Case("select_teams", "SELECT * FROM teams", rows=n("teams")),
    Case("select_tenants", "SELECT * FROM tenants", rows=n("tenants")),
    Case("select_numbers", "SELECT * FROM numbers", rows=n("numbers"), both=True),
    Case("select_registrations", "SELECT * FROM registrations", rows=n("registrations"), both=True),
    # A rollup that keeps raw rows (the conference legs of calls): same rows as its source.
    Case("select_conference_legs", "SELECT * FROM conference_legs",
         rows=lambda s: sum(1 for c in visible(s, "calls") if c["conference_id"]), both=True),
    Case("fully_qualified", "SELECT tenant_id, team_id, call_id FROM cdrlake.lake.calls", rows=n("calls")),
    Case("schema_qualified_upper", "SELECT TENANT_ID, CALL_ID FROM LAKE.CALLS", rows=n("calls")),
    # Filters that try to widen the row filter.
    Case("or_1_eq_1", "SELECT tenant_id, team_id, call_id FROM calls WHERE tenant_id = '{foreign}' OR 1=1", rows=n("calls"), both=True),
    Case("string_trick", "SELECT tenant_id, call_id FROM calls WHERE tenant_id = '{foreign}' OR tenant_id <> ''", rows=n("calls")),
    Case("foreign_tenant_only", "SELECT count(*) FROM calls WHERE tenant_id <> '{tenant}'", value=lambda s: 0),
    Case("comment_trick", "SELECT count(*) FROM calls -- WHERE tenant_id = '{tenant}'\n WHERE true", value=n("calls")),
    Case("count_distinct_tenants", "SELECT count(DISTINCT tenant_id) FROM calls", value=lambda s: 1),
    # Unfiltered count/min/max are answered from file statistics for an admin: never for a scope.
    Case("statistics_count_min_max", "SELECT count(*) AS n, min(tenant_id) AS lo, max(tenant_id) AS hi FROM calls",
         check=lambda s, t, q: _eq(t.to_pylist(), [{"n": len(visible(s, "calls")), "lo": s.tenant, "hi": s.tenant}], q),
         both=True),
    # concurrency(): from the concurrency_slots rollup for a tenant admin, from the team's own
    # raw calls for a team admin (whose session has no such rollup).
    Case("concurrency_function",
         "SELECT sum(total_joined) AS joined FROM concurrency('day', '2020-01-01', '2030-01-01')",
         value=lambda s: sum(1 for c in visible(s, "calls")
                             if c["answer_time"] and c["end_time"]) or None),
    Case("count_distinct_teams", "SELECT count(DISTINCT team_id) FROM messages",
         value=lambda s: len({m["team_id"] for m in visible(s, "messages")})),
    Case("group_by_tenant", "SELECT tenant_id, count(*) AS n FROM calls GROUP BY tenant_id",
         check=lambda s, t, q: (assert_no_foreign_rows(s, t, q),
                                 _eq(t.to_pylist(), [{"tenant_id": s.tenant, "n": len(visible(s, "calls"))}], q))),
    # Subqueries, CTEs, unions.
    Case("in_subquery", "SELECT tenant_id, team_id, call_id FROM calls WHERE call_id IN (SELECT call_id FROM streams)",
         rows=calls_with_streams),
    Case("scalar_subquery", "SELECT (SELECT count(*) FROM calls) + (SELECT count(*) FROM users) AS n",
         value=lambda s: len(visible(s, "calls")) + len(visible(s, "users"))),
    Case("exists_subquery", "SELECT tenant_id, user_id FROM users u WHERE EXISTS "
         "(SELECT 1 FROM registrations r WHERE r.user_id = u.user_id)",
         rows=lambda s: len({r["user_id"] for r in visible(s, "registrations")} & {u["user_id"] for u in visible(s, "users")})),
    Case("cte", "WITH c AS (SELECT * FROM calls), m AS (SELECT * FROM messages) "
         "SELECT tenant_id, team_id FROM c UNION ALL SELECT tenant_id, team_id FROM m",
         rows=lambda s: len(visible(s, "calls")) + len(visible(s, "messages")), both=True),
    Case("recursive_looking_cte", "WITH t AS (SELECT tenant_id FROM tenants) SELECT * FROM t", rows=n("tenants")),
    Case("union_distinct", "SELECT tenant_id FROM calls UNION SELECT tenant_id FROM registrations "
         "UNION SELECT tenant_id FROM numbers UNION SELECT tenant_id FROM tenants", rows=lambda s: 1),
    Case("union_all_other_table", "SELECT tenant_id, call_id AS id FROM calls UNION ALL SELECT tenant_id, user_id FROM users",
         rows=lambda s: len(visible(s, "calls")) + len(visible(s, "users")), both=True),
    # Joins.
    Case("join_calls_streams", "SELECT c.tenant_id, c.team_id, s.call_id, s.stream_id FROM calls c "
         "JOIN streams s ON c.call_id = s.call_id", rows=n("streams"), both=True),
    Case("streams_without_call", "SELECT s.tenant_id, s.call_id FROM streams s LEFT JOIN calls c "
         "ON c.call_id = s.call_id WHERE c.call_id IS NULL", rows=lambda s: 0),
    Case("join_users_registrations", "SELECT u.tenant_id, u.team_id, r.event_id FROM users u "
         "JOIN registrations r ON u.user_id = r.user_id", rows=joined_registrations),
    Case("full_join_numbers_users", "SELECT n.tenant_id AS n_tenant_id, u.tenant_id AS u_tenant_id, n.number, u.user_id "
         "FROM numbers n FULL OUTER JOIN users u ON n.assigned_to = u.user_id", team_col=False,
         check=lambda s, t, q: assert_no_foreign_rows(s, t, q, team_col=False)),
    Case("cross_join_count", "SELECT count(*) FROM tenants CROSS JOIN teams",
         value=lambda s: len(visible(s, "tenants")) * len(visible(s, "teams"))),
    # Window functions.
    Case("window_count_over_all", "SELECT tenant_id, team_id, call_id, count(*) OVER () AS total, "
         "row_number() OVER (PARTITION BY tenant_id ORDER BY invite_time, call_id) AS rn FROM calls",
         check=lambda s, t, q: (assert_no_foreign_rows(s, t, q),
                                 _eq(set(t.column("total").to_pylist()), {len(visible(s, "calls"))}, q),
                                 _eq(max(t.column("rn").to_pylist()), len(visible(s, "calls")), q)), both=True),
    Case("window_partition_over_messages", "SELECT DISTINCT tenant_id, count(*) OVER (PARTITION BY tenant_id) AS n FROM messages",
         check=lambda s, t, q: _eq(t.to_pylist(), [{"tenant_id": s.tenant, "n": len(visible(s, "messages"))}], q)),
    # Lookups of things that belong to others.
    Case("streams_of_foreign_call", "SELECT * FROM streams WHERE call_id = '{foreign_call}'", rows=lambda s: 0),
    Case("registrations_of_foreign_user", "SELECT * FROM registrations WHERE user_id = '{foreign_user}'", rows=lambda s: 0),
    Case("numbers_of_foreign_user", "SELECT * FROM numbers WHERE assigned_to = '{foreign_user}'", rows=lambda s: 0),
    Case("foreign_tenant_row", "SELECT * FROM tenants WHERE tenant_id = '{foreign}'", rows=lambda s: 0),
    # Prepared statements binding a foreign tenant (ADBC path only).
    Case("param_foreign_tenant", "SELECT tenant_id, call_id FROM calls WHERE tenant_id = ?", params=["{foreign}"], rows=lambda s: 0),
    Case("param_own_tenant", "SELECT tenant_id, team_id, call_id FROM calls WHERE tenant_id = $1", params=["{tenant}"], rows=n("calls")),
    Case("param_or_trick", "SELECT tenant_id, call_id FROM calls WHERE tenant_id = ? OR call_id <> ?",
         params=["{foreign}", "zzz"], rows=n("calls")),
    # Reports: table functions over the whole fixture period and report views.
    Case("report_call_list", f"SELECT * FROM reports.call_list({WHOLE})", rows=n("calls"), both=True),
    Case("report_call_list_foreign_filter", f"SELECT * FROM reports.call_list({WHOLE}, '{{foreign}}')", rows=lambda s: 0),
    Case("report_end_reasons_sum", f"SELECT sum(calls) FROM reports.end_reasons({WHOLE})", value=n("calls")),
    Case("report_usage_by_tenant", f"SELECT * FROM reports.usage_by_tenant({WHOLE})", check=check_usage, both=True),
    Case("report_enabled_users", "SELECT * FROM reports.enabled_users()", rows=n("users")),
    Case("report_phone_numbers", "SELECT * FROM reports.phone_numbers()", rows=n("numbers")),
    Case("report_calls_by_location", f"SELECT tenant_id, sum(calls) AS n FROM reports.calls_by_location({WHOLE}) GROUP BY tenant_id",
         check=lambda s, t, q: _eq(t.to_pylist(), [{"tenant_id": s.tenant, "n": len(visible(s, "calls"))}], q)),
    Case("report_team_stats", f"SELECT * FROM reports.team_stats({WHOLE})", rows=n("teams")),
    Case("report_call_details_foreign", "SELECT * FROM reports.call_details('{foreign_call}')", rows=lambda s: 0),
    Case("report_view_default_period", "SELECT * FROM reports.end_reasons"),
    Case("report_view_filtered_foreign", "SELECT * FROM reports.lost_calls WHERE tenant_id = '{foreign}'", rows=lambda s: 0),
    # information_schema and EXPLAIN.
    Case("information_schema_tables", "SELECT table_catalog, table_schema, table_name FROM information_schema.tables",
         check=check_information_schema, both=True, may_deny=True),
    Case("information_schema_columns", "SELECT table_name, column_name FROM information_schema.columns "
         "WHERE table_schema = 'lake' AND table_name = 'calls'",
         check=lambda s, t, q: _eq("tenant_id" in t.column("column_name").to_pylist(), True, q), may_deny=True),
    Case("explain", "EXPLAIN SELECT * FROM calls", check=check_explain, may_deny=True),
    Case("explain_verbose", "EXPLAIN VERBOSE SELECT count(*) FROM streams", check=check_explain, may_deny=True),
    Case("explain_analyze", "EXPLAIN ANALYZE SELECT * FROM calls", check=check_explain_analyze, both=True, may_deny=True),
    # What non-admins may not do at all.
    Case("quarantine_calls", "SELECT * FROM quarantine_calls", denied=True, absent_ok=True, both=True),
    Case("system_sessions", "SELECT * FROM system.sessions", denied=True, absent_ok=True, both=True),
    Case("system_locked_accounts", "SELECT * FROM cdrlake.system.locked_accounts", denied=True, absent_ok=True),
    Case("system_queries", "SELECT * FROM system.queries", denied=True, absent_ok=True),
    Case("create_table", "CREATE TABLE mine AS SELECT * FROM calls", denied=True, both=True),
    Case("create_view", "CREATE VIEW mine AS SELECT * FROM calls", denied=True),
    Case("insert", "INSERT INTO calls SELECT * FROM calls", denied=True, both=True),
    Case("explain_analyze_insert", "EXPLAIN ANALYZE INSERT INTO calls SELECT * FROM calls", denied=True),
    Case("insert_values", "INSERT INTO tenants (tenant_id, name, time_zone, licenses, retention_days) "
         "VALUES ('{foreign}', 'x', 'UTC', 1, 1)", denied=True),
    Case("update", "UPDATE calls SET tenant_id = '{tenant}'", denied=True),
    Case("delete", "DELETE FROM calls", denied=True),
    Case("drop", "DROP TABLE calls", denied=True),
    Case("copy_to", "COPY (SELECT * FROM calls) TO '{tmp}/copy-{user}.parquet'", denied=True, both=True),
    Case("create_external_table", "CREATE EXTERNAL TABLE etc_{user} STORED AS CSV LOCATION '/etc/'", denied=True, both=True),
    Case("create_external_table_lake", "CREATE EXTERNAL TABLE raw_{user} STORED AS PARQUET LOCATION '{calls_dir}'", denied=True),
    Case("set_option", "SET datafusion.execution.batch_size = 1", denied=True, both=True),
    Case("url_table", "SELECT * FROM '{parquet_file}'", denied=True, absent_ok=True, both=True),
]


def _eq(got, want, sql):
    assert got == want, f"{sql}\n got  {got}\n want {want}"


@pytest.fixture(scope="module")
def env(cdrlake_bin, fixture_lake_template, tmp_path_factory):
    with flight_env(cdrlake_bin, fixture_lake_template, tmp_path_factory.mktemp("flight-isolation")) as e:
        yield e


@pytest.fixture(scope="module")
def clients(env):
    """Per user: a pyarrow.flight client (statement path) and an ADBC connection (prepared path)."""
    out = {}
    try:
        for scope in SCOPES:
            out[scope.user] = (env.flight(scope.user), env.adbc(scope.user))
        yield out
    finally:
        for f, a in out.values():
            f.close()
            a.close()


def render(case: Case, scope: Scope, env) -> str:
    calls_dir = Path(env.lake.store) / "tables" / "calls"
    parquet = sorted(calls_dir.rglob("*.parquet"))
    assert parquet, f"no Parquet file under {calls_dir}"
    sql = case.sql.replace("{tmp}", str(env.tmp)).replace("{user}", scope.user)
    sql = sql.replace("{calls_dir}", str(calls_dir) + "/").replace("{parquet_file}", str(parquet[0]))
    return Case(case.id, sql).render(scope)


def run(path: str, clients, scope: Scope, sql: str, params) -> pa.Table:
    fl, conn = clients[scope.user]
    if path == "statement":
        return fl.query(sql)
    return adbc_query(conn, sql, params)


RUNS = [(c, p) for c in CASES for p in c.paths]


@pytest.mark.parametrize("scope", SCOPES, ids=str)
@pytest.mark.parametrize("case,path", RUNS, ids=[f"{c.id}-{p}" for c, p in RUNS])
def test_isolation(env, clients, case: Case, scope: Scope, path: str):
    sql = render(case, scope, env)
    params = None
    if case.params is not None:
        params = [Case("", p).render(scope) for p in case.params]
    if case.denied:
        codes = ("PERMISSION_DENIED", "NOT_FOUND", "INVALID_ARGUMENT") if case.absent_ok else ("PERMISSION_DENIED",)
        expect_error(lambda: run(path, clients, scope, sql, params), *codes)
        if case.id == "copy_to":
            assert not (env.tmp / f"copy-{scope.user}.parquet").exists(), "a refused COPY still wrote its file"
        # Refused statements change nothing: the lake still has exactly the visible rows.
        fl, _ = clients[scope.user]
        assert fl.query("SELECT count(*) AS n FROM calls").column("n").to_pylist() == [len(visible(scope, "calls"))]
        return
    try:
        t = run(path, clients, scope, sql, params)
    except Exception as e:
        if case.may_deny and grpc_code(e) == "PERMISSION_DENIED":
            return
        raise
    if case.check is not None:
        case.check(scope, t, sql)
    else:
        assert_no_foreign_rows(scope, t, sql, case.team_col)
    if case.rows is not None:
        assert t.num_rows == case.rows(scope), f"{scope}: {t.num_rows} rows, expected {case.rows(scope)}: {sql}"
    if case.value is not None:
        assert t.num_rows == 1, f"{sql}: {t.to_pylist()}"
        assert t.column(0).to_pylist() == [case.value(scope)], f"{scope}: {sql}"


def test_enough_crafted_queries():
    assert len(CASES) >= 30


def test_metadata_commands_hide_foreign_objects(env, clients):
    for scope in SCOPES:
        fl, conn = clients[scope.user]
        schemas = set(fl.command(cmd_get_db_schemas()).column("db_schema_name").to_pylist())
        assert {"lake", "reports"} <= schemas and "system" not in schemas, f"{scope}: {schemas}"
        check_tables_command(scope, fl.command(cmd_get_tables(catalog="cdrlake")), "GetTables")
        objs = conn.adbc_get_objects(depth="tables", catalog_filter="cdrlake", db_schema_filter="lake").read_all().to_pylist()
        names = {t["table_name"] for t in objs[0]["catalog_db_schemas"][0]["db_schema_tables"]}
        assert "calls" in names and not [x for x in names if x.startswith("quarantine_")], f"{scope}: {names}"


def test_scope_comes_from_the_token_only(env, clients):
    """Headers, tickets and prepared-statement handles are the client's to forge or replay: a
    ticket or handle root obtained, used with hudson_admin's token, reads only hudson's rows
    (or is refused); extra headers naming a tenant change nothing."""
    from flight import FlightSql, cmd_prepared_statement_query, cmd_statement_query

    hudson_fl, _ = clients["hudson_admin"]
    mine = len(visible(HUDSON, "calls"))
    sql = "SELECT tenant_id, call_id FROM calls"

    def hudson_only(t: pa.Table, what: str):
        assert set(t.column("tenant_id").to_pylist()) <= {"hudson"}, f"{what}: hudson_admin read other tenants' rows"
        assert t.num_rows in (0, mine), what

    with env.flight("root") as root:
        info = root.info(cmd_statement_query(sql))
        # While root's plan waits on the server for root's DoGet, hudson_admin presents the ticket
        # first: the kept plan (all tenants) must not be served to another principal.
        for ep in info.endpoints:
            try:
                t = hudson_fl.client.do_get(ep.ticket, hudson_fl.options).read_all()
            except Exception as e:  # noqa: BLE001 - refusing the foreign ticket is fine
                assert grpc_code(e) in ("PERMISSION_DENIED", "UNAUTHENTICATED", "INVALID_ARGUMENT", "NOT_FOUND"), e
            else:
                hudson_only(t, "root's ticket")
        assert root.fetch(info).num_rows == len(FX["calls"])
        prepared = root.prepare(sql)
        try:
            t = hudson_fl.fetch(hudson_fl.info(cmd_prepared_statement_query(prepared.handle)))
        except Exception as e:  # noqa: BLE001
            assert grpc_code(e) in ("PERMISSION_DENIED", "UNAUTHENTICATED", "INVALID_ARGUMENT", "NOT_FOUND"), e
        else:
            hudson_only(t, "root's prepared statement handle")
        root.close_prepared(prepared.handle)

    headers = [(b"x-cdrlake-tenant", b"sakura"), (b"tenant", b"sakura"), (b"x-tenant-id", b"sakura"),
               (b"x-cdrlake-role", b"admin"), (b"x-cdrlake-user", b"root")]
    with FlightSql(env.uri, "hudson_admin", env.passwords["hudson_admin"], headers=headers) as fl:
        t = fl.query(sql)
        assert set(t.column("tenant_id").to_pylist()) == {"hudson"} and t.num_rows == mine
        expect_error(lambda: fl.query("SELECT * FROM system.sessions"), "PERMISSION_DENIED", "NOT_FOUND", "INVALID_ARGUMENT")


def test_member_has_no_reporting_access(env):
    """A team member authenticates but every query is PERMISSION_DENIED."""
    try:
        fl = env.flight("spree_member")
    except Exception as e:  # noqa: BLE001 - refusing the login itself is fine, as PERMISSION_DENIED
        assert grpc_code(e) == "PERMISSION_DENIED", e
        return
    with fl:
        for sql in ("SELECT 1", "SELECT * FROM calls", "SELECT count(*) FROM users",
                    f"SELECT * FROM reports.call_list({WHOLE})", "SELECT * FROM reports.catalog",
                    "SELECT * FROM information_schema.tables", "EXPLAIN SELECT * FROM calls"):
            expect_error(lambda: fl.query(sql), "PERMISSION_DENIED")
    with env.adbc("spree_member") as conn:
        expect_error(lambda: adbc_query(conn, "SELECT * FROM calls WHERE tenant_id = ?", ["spree"]), "PERMISSION_DENIED")


def test_admin_sees_every_tenant(env):
    with env.flight("root") as fl:
        got = fl.query("SELECT tenant_id, count(*) AS n FROM calls GROUP BY tenant_id ORDER BY tenant_id").to_pylist()
        want = {}
        for r in FX["calls"]:
            want[r["tenant_id"]] = want.get(r["tenant_id"], 0) + 1
        assert {r["tenant_id"]: r["n"] for r in got} == want and len(want) == 3
        for table in FX:
            t = fl.query(f"SELECT count(*) AS n FROM {table}")
            assert t.column("n").to_pylist() == [len(FX[table])], table
        usage = fl.query(f"SELECT tenant_id FROM reports.usage_by_tenant({WHOLE}) ORDER BY tenant_id")
        assert usage.column("tenant_id").to_pylist() == sorted(want)
        fl.query("SELECT * FROM quarantine_calls")
        fl.query("SELECT * FROM system.sessions")
        assert "system" in set(fl.command(cmd_get_db_schemas()).column("db_schema_name").to_pylist())
