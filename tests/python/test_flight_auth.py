"""Users, tokens, lockout, TLS, resource limits and shutdown of the Flight SQL server.

`cdrlake user ...` manages the users file; the server re-reads it, so a change (unlock, revoke,
disable, passwd) takes effect without a restart: tests poll for a few seconds for it."""

import datetime
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.flight as flight
import pytest

from flight import (
    PASSWORDS,
    FlightSql,
    adbc_query,
    cmd_statement_query,
    expect_error,
    flight_env,
    grpc_code,
    pack_any,
    pb_bytes,
    pb_decode,
    token_id,
    wait_until,
)

EXTRA_USERS = {
    "victim": ("victim-pass-1", ["--role", "tenant_admin", "--tenant", "hudson"]),
    "steady": ("steady-pass-1", ["--role", "tenant_admin", "--tenant", "hudson"]),
    "leaver": ("leaver-pass-1", ["--role", "tenant_admin", "--tenant", "sakura"]),
    "changer": ("changer-pw-1", ["--role", "team_admin", "--tenant", "hudson", "--team", "hudson-lit",
                                  "--team", "hudson-corp"]),
}
# Runs for hours unless stopped: 10^12 rows, in batches, so DataFusion can stop it between
# any two of them. (A nested-loop join over 10^12 pairs works for many seconds inside one poll
# of its operator, where no query engine task can be interrupted.)
SLOW_SQL = "SELECT sum(value) AS n FROM generate_series(1, 1000000000000)"
# Holds every value in one unspillable accumulator: 400 MB.
HUNGRY_SQL = "SELECT array_agg(value) AS v FROM generate_series(1, 50000000)"
SMALL_SQL = "SELECT tenant_id, count(*) AS n FROM calls GROUP BY tenant_id ORDER BY tenant_id"


@pytest.fixture(scope="module")
def env(cdrlake_bin, fixture_lake_template, tmp_path_factory):
    with flight_env(cdrlake_bin, fixture_lake_template, tmp_path_factory.mktemp("flight-auth"),
                    extra_users=EXTRA_USERS) as e:
        yield e


def login(env, user: str, password: str | None = None) -> FlightSql:
    return env.flight(user, password)


def refused(env, user: str, password: str, *codes: str):
    """The Handshake fails with one of codes (UNAUTHENTICATED unless given)."""
    return expect_error(lambda: login(env, user, password), *(codes or ("UNAUTHENTICATED",)))


def works(client: FlightSql) -> bool:
    return client.query("SELECT 1 AS one").to_pylist() == [{"one": 1}]


def token_refused(env, token: str, *codes: str) -> bool:
    """True once both ways of using the token are refused (bearer header, Basic password)."""
    codes = codes or ("UNAUTHENTICATED",)
    with FlightSql(env.uri, token=token) as c:
        expect_error(lambda: c.query("SELECT 1"), *codes)
    return True


def locked_accounts(env) -> list[dict]:
    """system.locked_accounts with the user column as "user" (the server may call it user_name:
    USER is a reserved word)."""
    with login(env, "root") as c:
        rows = c.query("SELECT * FROM system.locked_accounts").to_pylist()
    for r in rows:
        r.setdefault("user", r.get("user_name"))
    return rows


# ---------------------------------------------------------------------------------------------
# The users file and CLI

def test_user_add_checks_roles(env):
    cli = env.users
    for args in (["--role", "tenant_admin"], ["--role", "team_admin", "--tenant", "spree"],
                 ["--role", "overlord"], ["--role", "member", "--permission", "sudo"]):
        p = cli.run("add", "bad_user", *args, "--password-stdin", stdin="bad-user-pw\n", check=False)
        assert p.returncode != 0, f"user add {args} was accepted"
    assert "bad_user" not in cli.list()


def test_user_list_json(env):
    users = env.users.list()
    assert {"root", "hudson_admin", "spree_team", "spree_member", *EXTRA_USERS} <= set(users)
    assert users["root"]["role"] == "admin"
    h = users["hudson_admin"]
    assert (h["role"], h["tenant"], sorted(h["permissions"])) == ("tenant_admin", "hudson", ["export", "ingest"])
    s = users["spree_team"]
    assert (s["role"], s["tenant"], s["teams"]) == ("team_admin", "spree", ["spree-support"])
    assert users["spree_member"]["role"] == "member"
    for u in users.values():
        for key in ("name", "role", "tenant", "teams", "permissions", "disabled", "failed_logins", "locked_at",
                    "locked_until", "tokens"):
            assert key in u, f"user list --json: {u['name']} has no {key}"
        if u["name"] != "leaver":  # test_disabled_user disables that one
            assert u["disabled"] is False, u


def test_users_file_holds_no_plain_secret(env):
    token = env.users.token("hudson_admin", "--label", "secret-check")
    env.users.run("passwd", "changer", "--password-stdin", stdin="changer-pw-2\n")
    text = env.users_file.read_text()
    secrets = [*PASSWORDS.values(), *(p for p, _ in EXTRA_USERS.values()), "changer-pw-2", token, token.split("_", 2)[2]]
    for secret in secrets:
        assert secret not in text, f"the users file holds a plain secret ({secret[:4]}...)"
    assert "$argon2" in text, "passwords are stored as argon2 hashes (PHC strings)"
    tokens = env.users.list()["hudson_admin"]["tokens"]
    mine = [t for t in tokens if t["id"] == token_id(token)]
    assert mine and mine[0]["label"] == "secret-check" and not mine[0]["revoked"], tokens


def test_passwd_takes_effect(env):
    env.users.run("passwd", "changer", "--password-stdin", stdin="changer-pw-3\n")
    wait_until(lambda: works(login(env, "changer", "changer-pw-3")))
    refused(env, "changer", EXTRA_USERS["changer"][0])


# ---------------------------------------------------------------------------------------------
# API tokens

def test_api_token_as_bearer_and_as_password(env):
    token = env.users.token("hudson_admin", "--label", "bi-tool")
    with FlightSql(env.uri, token=token) as c:
        t = c.query("SELECT DISTINCT tenant_id FROM calls")
        assert t.column("tenant_id").to_pylist() == ["hudson"], "the token carries the user's scope"
    with login(env, "hudson_admin", token) as c:  # Basic handshake with the token as password
        assert works(c)
    with env.adbc_token(token) as conn:
        assert adbc_query(conn, "SELECT count(DISTINCT tenant_id) AS n FROM calls").to_pylist() == [{"n": 1}]


def test_expired_and_revoked_tokens_are_refused(env):
    short = env.users.token("hudson_admin", "--expires", "1s")
    short_made = time.monotonic()
    by_token = env.users.token("hudson_admin", "--expires", "12h")
    by_id = env.users.token("hudson_admin")
    fresh = env.users.token("hudson_admin", "--expires", "90d")
    for t in (by_token, by_id):
        with FlightSql(env.uri, token=t) as c:
            assert works(c)
    env.users.run("token", "hudson_admin", "--revoke", by_token)
    env.users.run("token", "hudson_admin", "--revoke", token_id(by_id))
    wait_until(lambda: token_refused(env, by_token))
    wait_until(lambda: token_refused(env, by_id))
    expect_error(lambda: login(env, "hudson_admin", by_token), "UNAUTHENTICATED")
    time.sleep(max(0.0, short_made + 2.0 - time.monotonic()))
    token_refused(env, short)
    expect_error(lambda: login(env, "hudson_admin", short), "UNAUTHENTICATED")
    with FlightSql(env.uri, token=fresh) as c:
        assert works(c)
    tokens = {t["id"]: t for t in env.users.list()["hudson_admin"]["tokens"]}
    assert tokens[token_id(by_token)]["revoked"] and tokens[token_id(by_id)]["revoked"]
    assert not tokens[token_id(fresh)]["revoked"]
    assert tokens[token_id(short)]["expires"], "an expiring token lists when it expires"


def test_disabled_user_is_refused(env):
    token = env.users.token("leaver")
    session = login(env, "leaver")
    assert works(session)
    env.users.run("disable", "leaver")
    wait_until(lambda: refused(env, "leaver", EXTRA_USERS["leaver"][0], "UNAUTHENTICATED", "PERMISSION_DENIED"))
    token_refused(env, token, "UNAUTHENTICATED", "PERMISSION_DENIED")
    expect_error(lambda: session.query("SELECT 1"), "UNAUTHENTICATED", "PERMISSION_DENIED")
    assert env.users.list()["leaver"]["disabled"] is True


# ---------------------------------------------------------------------------------------------
# Lockout

def test_failed_logins_reset_on_success(env):
    for _ in range(2):
        for _ in range(4):
            refused(env, "steady", "wrong-password")
        with login(env, "steady") as c:
            assert works(c)


def test_lockout_after_five_failures_survives_restart_until_unlock(env):
    right = EXTRA_USERS["victim"][0]
    with login(env, "victim") as c:
        assert works(c)
    for _ in range(5):
        refused(env, "victim", "wrong-password")
    refused(env, "victim", right)  # locked: the right password no longer works

    rows = [r for r in locked_accounts(env) if r["user"] == "victim"]
    assert len(rows) == 1, f"system.locked_accounts: {locked_accounts(env)}"
    locked_at, until = rows[0]["locked_at"], rows[0]["locked_until"]
    assert isinstance(locked_at, datetime.datetime) and isinstance(until, datetime.datetime)
    assert abs((until - locked_at) - datetime.timedelta(minutes=30)) < datetime.timedelta(seconds=5)
    now = datetime.datetime.now(datetime.timezone.utc)
    assert abs(locked_at.replace(tzinfo=locked_at.tzinfo or datetime.timezone.utc) - now) < datetime.timedelta(minutes=2)
    listed = env.users.list()["victim"]
    assert listed["locked_at"] and listed["locked_until"], f"user list --json shows the lock: {listed}"
    expect_error(lambda: env.adbc("victim"), "UNAUTHENTICATED")

    env.restart()
    refused(env, "victim", right)
    assert [r["user"] for r in locked_accounts(env)].count("victim") == 1, "the lock survives a restart"

    env.users.run("unlock", "victim")
    wait_until(lambda: works(login(env, "victim")))
    assert "victim" not in [r["user"] for r in locked_accounts(env)]
    assert not env.users.list()["victim"]["locked_until"]


def test_system_tables_for_root(env):
    with login(env, "hudson_admin") as h:
        h.query("SELECT 'marker-4711' AS m")
        bearer = h.bearer[1].decode().split(" ", 1)[1]
        with login(env, "root") as root:
            sessions = root.query("SELECT * FROM system.sessions").to_pylist()
            cells = [v for r in sessions for v in r.values()]
            assert "hudson_admin" in cells, f"system.sessions: {sessions}"
            assert not [v for v in cells if isinstance(v, str) and bearer in v], "system.sessions shows session tokens"
            queries = root.query("SELECT * FROM system.queries").to_pylist()
            assert any(isinstance(v, str) and "marker-4711" in v for r in queries for v in r.values()), \
                "system.queries lists recent queries"


def test_lockout_is_configurable_and_expires(cdrlake_bin, fixture_lake_template, tmp_path):
    args = ("--lockout-attempts", "2", "--lockout-duration", "2s", "--session-ttl", "2s")
    with flight_env(cdrlake_bin, fixture_lake_template, tmp_path, server_args=args) as env:
        session = login(env, "hudson_admin")
        assert works(session)
        refused(env, "hudson_admin", "wrong-password")
        refused(env, "hudson_admin", "wrong-password")
        locked = time.monotonic()
        refused(env, "hudson_admin", PASSWORDS["hudson_admin"])
        time.sleep(max(0.0, locked + 2.5 - time.monotonic()))
        with login(env, "hudson_admin") as c:
            assert works(c), "the lock ends after --lockout-duration"
        # --session-ttl 2s: the first session's token is now older than that.
        expect_error(lambda: session.query("SELECT 1"), "UNAUTHENTICATED")


# ---------------------------------------------------------------------------------------------
# TLS

def test_tls(cdrlake_bin, fixture_lake_template, tmp_path):
    import pyarrow.flight as flight

    with flight_env(cdrlake_bin, fixture_lake_template, tmp_path, tls=True) as env:
        assert env.uri.startswith("grpc+tls://127.0.0.1:")
        with env.flight("hudson_admin") as c:
            assert c.query("SELECT DISTINCT tenant_id FROM calls").column("tenant_id").to_pylist() == ["hudson"]
        port = env.uri.rsplit(":", 1)[1]
        with FlightSql(f"grpc+tls://localhost:{port}", "root", PASSWORDS["root"], ca_pem=env.ca_pem) as c:
            assert works(c)
        with env.adbc("root") as conn:
            assert adbc_query(conn, "SELECT count(*) AS n FROM tenants").to_pylist() == [{"n": 3}]
        # Plain gRPC to the TLS port, and TLS without trusting the test CA, both fail.
        for uri, kw in ((f"grpc://127.0.0.1:{port}", {}), (env.uri, {})):
            client = flight.FlightClient(uri, **kw)
            with pytest.raises(Exception):
                client.authenticate_basic_token("root", PASSWORDS["root"], flight.FlightCallOptions(timeout=10))
            client.close()


# ---------------------------------------------------------------------------------------------
# Resource limits

def test_memory_limit_fails_one_query_and_others_go_on(cdrlake_bin, fixture_lake_template, tmp_path):
    args = ("--query-memory", "32MiB", "--max-concurrent-queries", "4")
    with flight_env(cdrlake_bin, fixture_lake_template, tmp_path, server_args=args) as env:
        errors: list[BaseException] = []
        results: list = []

        def hungry():
            try:
                with env.flight("root") as c:
                    results.append(c.query(HUNGRY_SQL).num_rows)
            except Exception as e:  # noqa: BLE001
                errors.append(e)

        t = threading.Thread(target=hungry)
        small = 0
        deadline = time.monotonic() + 120
        with env.flight("root") as c:
            t.start()
            while t.is_alive() or small < 3:
                assert time.monotonic() < deadline, "the memory-hungry query neither failed nor finished in 120 s"
                got = c.query(SMALL_SQL).to_pylist()
                assert [r["tenant_id"] for r in got] == ["hudson", "sakura", "spree"]
                small += 1
            t.join(timeout=60)
        assert not results, "a query holding 400 MB ran inside a 32 MiB limit"
        assert len(errors) == 1 and grpc_code(errors[0]) == "RESOURCE_EXHAUSTED", errors
        with env.adbc("root") as conn:
            e = expect_error(lambda: adbc_query(conn, HUNGRY_SQL), "RESOURCE_EXHAUSTED")
            assert "resources exhausted" in str(e).lower() or "memory" in str(e).lower(), str(e)
            assert adbc_query(conn, "SELECT count(*) AS n FROM tenants").to_pylist() == [{"n": 3}]

        # More clients than --max-concurrent-queries: the others wait, none is refused.
        outcomes: list = []

        def one():
            try:
                with env.flight("hudson_admin") as c:
                    outcomes.append(c.query(SMALL_SQL).num_rows)
            except Exception as e:  # noqa: BLE001
                outcomes.append(e)

        threads = [threading.Thread(target=one) for _ in range(10)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=60)
        assert outcomes == [1] * 10, outcomes


def test_query_timeout_is_deadline_exceeded(cdrlake_bin, fixture_lake_template, tmp_path):
    with flight_env(cdrlake_bin, fixture_lake_template, tmp_path, server_args=("--query-timeout", "1s")) as env:
        with env.flight("root", timeout=60) as c:
            start = time.monotonic()
            expect_error(lambda: c.query(SLOW_SQL), "DEADLINE_EXCEEDED")
            took = time.monotonic() - start
            assert took < 20, f"the 1 s timeout took {took:.1f} s"
            assert works(c), "the server answers after a timed-out query"
        with env.adbc("hudson_admin") as conn:
            expect_error(lambda: adbc_query(conn, SLOW_SQL), "DEADLINE_EXCEEDED")
            assert adbc_query(conn, "SELECT count(*) AS n FROM tenants").to_pylist() == [{"n": 1}]


# ---------------------------------------------------------------------------------------------
# Shutdown

def test_sigterm_with_a_running_query_exits_zero(cdrlake_bin, fixture_lake_template, tmp_path):
    with flight_env(cdrlake_bin, fixture_lake_template, tmp_path, server_args=("--query-timeout", "5s")) as env:
        outcome: list = []

        def slow():
            try:
                with env.flight("root", timeout=60) as c:
                    outcome.append(c.query(SLOW_SQL))
            except Exception as e:  # noqa: BLE001
                outcome.append(e)

        t = threading.Thread(target=slow)
        t.start()
        time.sleep(1.0)
        env.server.stop(timeout=20)  # SIGTERM; asserts exit code 0
        t.join(timeout=30)
        assert outcome and not isinstance(outcome[0], pa.Table), f"the slow query finished: {outcome}"


# ---------------------------------------------------------------------------------------------
# CancelQuery

def test_cancel_query_stops_a_running_query(env):
    """CancelQuery (DoAction, body Any{ActionCancelQueryRequest{info = FlightInfo bytes}})
    stops the query behind that FlightInfo: its stream ends with CANCELLED and the action
    answers CANCELLED (1); another user cannot cancel it (NOT_CANCELLABLE, 3).

    The stream is read in a child process: pyarrow turns a CANCELLED status into a
    KeyboardInterrupt (it takes it for Ctrl-C), which must not hit the test run."""
    slow = "SELECT sum(value) AS n FROM generate_series(1, 1000000000000)"
    with env.flight("root", timeout=60) as c, env.flight("hudson_admin", timeout=60) as other:
        info = c.info(cmd_statement_query(slow))
        reader = start_reader(env, c, info)
        time.sleep(1.0)
        body = pack_any("ActionCancelQueryRequest", pb_bytes(1, info.serialize()))

        def cancel(client) -> int:
            results = list(client.client.do_action(flight.Action("CancelQuery", body), client.options))
            assert len(results) == 1
            any_msg = pb_decode(results[0].body.to_pybytes())
            assert any_msg[1][0].decode().endswith("ActionCancelQueryResult"), any_msg
            fields = pb_decode(any_msg.get(2, [b""])[0])
            return fields.get(1, [0])[0]

        assert cancel(other) == 3, "hudson_admin may not cancel root's query (NOT_CANCELLABLE)"
        start = time.monotonic()
        assert cancel(c) == 1, "CANCELLED"
        try:
            line = reader.stdout.readline().decode().strip()
        finally:
            reader.kill()
        assert line == "CANCELLED", f"the reader saw {line!r}: {reader.stderr.read()[-2000:]}"
        assert time.monotonic() - start < 15
        assert works(c), "the server answers after a cancelled query"
        rows = c.query("SELECT status FROM system.queries WHERE sql = '" + slow.replace("'", "''") + "'").to_pylist()
        assert any("ancelled" in r["status"] for r in rows), rows


def start_reader(env, client, info) -> subprocess.Popen:
    """A child process reading the stream of `info` with `client`'s bearer token; returns once
    it has started reading."""
    reader = subprocess.Popen(
        [sys.executable, "-c", CANCEL_READER, env.uri, client.bearer[1].decode()],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        cwd=str(Path(__file__).parent),
    )
    reader.stdin.write(info.serialize())
    reader.stdin.close()
    assert reader.stdout.readline().strip() == b"reading", reader.stderr.read()
    return reader


# Reads one FlightInfo's stream (FlightInfo bytes on stdin) and prints the outcome's gRPC code.
CANCEL_READER = """
import os, sys
import pyarrow.flight as flight
from flight import grpc_code
info = flight.FlightInfo.deserialize(sys.stdin.buffer.read())
client = flight.FlightClient(sys.argv[1])
options = flight.FlightCallOptions(headers=[(b"authorization", sys.argv[2].encode())], timeout=60)
print("reading", flush=True)
try:
    client.do_get(info.endpoints[0].ticket, options).read_all()
    print("FINISHED", flush=True)
except BaseException as e:  # KeyboardInterrupt whose context is the FlightCancelledError
    cause = e.__context__ if isinstance(e, KeyboardInterrupt) and e.__context__ else e
    print(grpc_code(cause), flush=True)
os._exit(0)
"""


def test_a_client_that_goes_away_stops_its_query(env):
    """A client killed mid-query: the server notices the closed stream and stops the query
    (system.queries says so) instead of computing a result nobody reads."""
    slow = "SELECT sum(value) AS gone FROM generate_series(1, 1000000000000)"
    with env.flight("root", timeout=60) as c:
        info = c.info(cmd_statement_query(slow))
        reader = start_reader(env, c, info)
        time.sleep(1.0)
        reader.kill()
        reader.wait(timeout=10)
        q = "SELECT status, seconds FROM system.queries WHERE sql = '" + slow.replace("'", "''") + "'"
        rows = wait_until(lambda: [r for r in c.query(q).to_pylist() if r["status"] != "running"] or None,
                          timeout=15)
        assert rows and rows[0]["status"] == "client went away", rows
        assert rows[0]["seconds"] < 15, rows
