"""Helpers for the Flight SQL end-to-end tests (not a test module).

- `FlightEnv`: a lake with the report fixture, a users file with the four test users, and
  `cdrlake serve` on a free port (started with `--listen 127.0.0.1:0`; the port is read from
  the one line the server prints). `flight_env(...)` is the context manager that starts it and,
  on exit, sends SIGTERM and asserts exit code 0 within 20 s.
- Clients: `adbc_connect` (adbc-driver-flightsql DB-API), `FlightSql` (plain pyarrow.flight with
  the Flight SQL commands encoded by hand: pyarrow has no Flight SQL helpers).
- `grpc_code(exc)`: the gRPC status code behind an exception of either client.
- `make_tls_files`: a CA and a server certificate for 127.0.0.1 / localhost (cryptography).
"""

import contextlib
import csv
import datetime
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.flight as flight

from conftest import FIXTURE, TABLES, Cdrlake

READY = re.compile(r"^cdrlake serve: listening on (grpc(\+tls)?://127\.0\.0\.1:(\d+))$")
TOKEN = re.compile(r"^cdl_([A-Za-z0-9]+)_([A-Za-z0-9_-]+)$")

# The four users every Flight server of the tests has. One password holds a colon (Basic auth
# splits at the first one). Every "user:password" has a length that is not a multiple of 3:
# the Go Flight client (ADBC) sends Basic credentials base64-encoded WITHOUT padding, pyarrow
# with padding, so the server must accept both.
PASSWORDS = {
    "root": "root-secret-12",
    "hudson_admin": "hudson:pa55-word",
    "spree_team": "spree-team-pw-1",
    "spree_member": "member-pw-77",
}
USER_ARGS = {
    "root": ["--role", "admin"],
    "hudson_admin": ["--role", "tenant_admin", "--tenant", "hudson", "--permission", "ingest",
                     "--permission", "export"],
    "spree_team": ["--role", "team_admin", "--tenant", "spree", "--team", "spree-support"],
    "spree_member": ["--role", "member", "--tenant", "spree"],
}
for _u, _p in PASSWORDS.items():
    assert len(f"{_u}:{_p}") % 3, f"{_u}: pick a password that makes base64 need padding"

QUERY_TIMEOUT_S = 60.0


class UsersCli:
    """`cdrlake user ...` on the env's users file (found through CDRLAKE_USERS)."""

    def __init__(self, lake: Cdrlake, users_file: Path):
        self.lake = lake
        self.users_file = users_file

    def run(self, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        p = subprocess.run(
            [self.lake.binary, "--store", self.lake.store, "user", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.lake.env,
            timeout=60,
        )
        if check:
            assert p.returncode == 0, f"cdrlake user {' '.join(args)} exited {p.returncode}: {p.stderr}"
        return p

    def add(self, name: str, password: str, *args: str) -> None:
        self.run("add", name, *args, "--password-stdin", stdin=password + "\n")

    def token(self, name: str, *args: str) -> str:
        out = self.run("token", name, *args).stdout
        lines = out.splitlines()
        assert len(lines) == 1 and TOKEN.match(lines[0]), f"user token must print one cdl_<id>_<secret> line, got {out!r}"
        return lines[0]

    def list(self) -> dict[str, dict]:
        out = self.run("list", "--json").stdout
        rows = [json.loads(line) for line in out.splitlines() if line.strip()]
        return {r["name"]: r for r in rows}


def token_id(token: str) -> str:
    m = TOKEN.match(token)
    assert m, token
    return m.group(1)


@dataclass
class FlightServer:
    """One `cdrlake serve` process; `start()` again after `stop()` restarts it (new port)."""

    lake: Cdrlake
    users_file: Path
    args: list[str]
    log_dir: Path
    tls: bool = False
    proc: subprocess.Popen | None = None
    uri: str = ""
    starts: int = 0
    extra_stdout: list[str] = field(default_factory=list)
    log_path: Path | None = None
    _pump: threading.Thread | None = None

    def start(self, timeout: float = 60.0) -> str:
        assert self.proc is None, "already running"
        self.starts += 1
        self.log_path = self.log_dir / f"serve-{self.starts}.log"
        log = open(self.log_path, "w")
        cmd = [self.lake.binary, "--store", self.lake.store, "serve", "--listen", "127.0.0.1:0",
               "--users", str(self.users_file), *self.args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL,
                                     text=True, env=self.lake.env)
        log.close()
        lines: queue.Queue = queue.Queue()
        extra = self.extra_stdout = []

        def pump(stream=self.proc.stdout):
            first = True
            for line in stream:
                if first:
                    lines.put(line)
                    first = False
                else:
                    extra.append(line)
            lines.put(None)

        self._pump = threading.Thread(target=pump, daemon=True)
        self._pump.start()
        try:
            line = lines.get(timeout=timeout)
        except queue.Empty:
            self._kill()
            raise AssertionError(f"cdrlake serve printed no ready line in {timeout} s:\n{self.stderr()}")
        if line is None:
            code = self.proc.wait(timeout=20)
            self.proc = None
            raise AssertionError(f"cdrlake serve exited {code} before it was ready:\n{self.stderr()}")
        m = READY.match(line.rstrip("\n"))
        if not m:
            self._kill()
            raise AssertionError(f"unexpected ready line {line!r}; stderr:\n{self.stderr()}")
        assert bool(m.group(2)) == self.tls, f"ready line {line!r}: TLS is {'on' if self.tls else 'off'}"
        assert int(m.group(3)) != 0, "the ready line must carry the bound port, not 0"
        self.uri = m.group(1)
        return self.uri

    def stderr(self, tail: int = 4000) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[-tail:]

    def _kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=20)
            self.proc = None

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM; the server must exit 0 within `timeout` seconds and print nothing more."""
        assert self.proc is not None, "not running"
        proc = self.proc
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._kill()
            raise AssertionError(f"cdrlake serve did not exit within {timeout} s of SIGTERM:\n{self.stderr()}")
        self.proc = None
        if self._pump is not None:
            self._pump.join(timeout=5)
        assert code == 0, f"cdrlake serve exited {code} after SIGTERM (want 0):\n{self.stderr()}"
        assert "panicked" not in self.stderr(100_000), f"the server panicked:\n{self.stderr()}"
        assert not self.extra_stdout, f"stdout must hold only the ready line, also had {self.extra_stdout[:5]}"

    def restart(self) -> str:
        self.stop()
        return self.start()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass
class FlightEnv:
    lake: Cdrlake
    users: UsersCli
    server: FlightServer
    passwords: dict[str, str]
    ca_pem: bytes | None
    tmp: Path

    @property
    def uri(self) -> str:
        return self.server.uri

    @property
    def users_file(self) -> Path:
        return self.users.users_file

    def restart(self) -> str:
        return self.server.restart()

    def adbc(self, user: str, password: str | None = None, **kw):
        return adbc_connect(self.uri, user, self.passwords[user] if password is None else password,
                            ca_pem=self.ca_pem, **kw)

    def adbc_token(self, token: str, **kw):
        return adbc_connect(self.uri, token=token, ca_pem=self.ca_pem, **kw)

    def flight(self, user: str | None = None, password: str | None = None, *, token: str | None = None,
               timeout: float = QUERY_TIMEOUT_S) -> "FlightSql":
        if user is not None and password is None:
            password = self.passwords[user]
        return FlightSql(self.uri, user, password, token=token, ca_pem=self.ca_pem, timeout=timeout)


def make_users(users: UsersCli, passwords: dict[str, str] = PASSWORDS) -> None:
    for name, password in passwords.items():
        users.add(name, password, *USER_ARGS[name])


@contextlib.contextmanager
def flight_env(cdrlake_bin: str, template: Path, tmp: Path, *, server_args: tuple[str, ...] = (),
               tls: bool = False, extra_users: dict[str, tuple[str, list[str]]] | None = None):
    """A fresh copy of the fixture lake, a users file with the test users (and `extra_users`:
    name -> (password, `user add` arguments)), and a running server. On exit the server gets
    SIGTERM and must exit 0 within 20 s."""
    tmp.mkdir(parents=True, exist_ok=True)
    store = tmp / "lake"
    shutil.copytree(template, store)
    users_file = tmp / "users.toml"
    lake = Cdrlake(cdrlake_bin, str(store), env={"CDRLAKE_USERS": str(users_file)})
    cli = UsersCli(lake, users_file)
    make_users(cli)
    passwords = dict(PASSWORDS)
    for name, (password, args) in (extra_users or {}).items():
        cli.add(name, password, *args)
        passwords[name] = password
    args = list(server_args)
    ca_pem = None
    if tls:
        ca_pem, cert, key = make_tls_files(tmp / "tls")
        args += ["--tls-cert", str(cert), "--tls-key", str(key)]
    server = FlightServer(lake, users_file, args, tmp, tls=tls)
    server.start()
    env = FlightEnv(lake, cli, server, passwords, ca_pem, tmp)
    try:
        yield env
    finally:
        if server.proc is not None:
            server.stop()


# ---------------------------------------------------------------------------------------------
# The fixture's CSV files, for expectations computed independently of the server

def fixture_rows() -> dict[str, list[dict[str, str]]]:
    """Every fixture table as read by the csv module: {table: [row dicts of strings]}."""
    out = {}
    for t in TABLES:
        with open(FIXTURE / f"{t}.csv", newline="") as f:
            out[t] = list(csv.DictReader(f))
    return out


def utc(text: str) -> datetime.datetime:
    """An RFC 3339 UTC time of the fixture ("2026-03-02T04:30:00Z") as an aware datetime."""
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(datetime.timezone.utc)


def local(text: str, zone: str) -> datetime.datetime:
    """The tenant-local wall-clock time (naive) of a fixture UTC time."""
    from zoneinfo import ZoneInfo

    return utc(text).astimezone(ZoneInfo(zone)).replace(tzinfo=None)


# ---------------------------------------------------------------------------------------------
# ADBC (adbc-driver-flightsql DB-API)

ADBC_AUTH_HEADER = "adbc.flight.sql.authorization_header"
ADBC_TLS_ROOT_CERTS = "adbc.flight.sql.client_option.tls_root_certs"
ADBC_TIMEOUT_QUERY = "adbc.flight.sql.rpc.timeout_seconds.query"
ADBC_TIMEOUT_FETCH = "adbc.flight.sql.rpc.timeout_seconds.fetch"
ADBC_TIMEOUT_UPDATE = "adbc.flight.sql.rpc.timeout_seconds.update"


def adbc_connect(uri: str, user: str | None = None, password: str | None = None, *, token: str | None = None,
                 ca_pem: bytes | None = None, timeout: float = QUERY_TIMEOUT_S, db_kwargs: dict | None = None):
    """DB-API connection. With user/password the driver does the Flight Handshake (Basic) and
    sends the Bearer token the server answers with; with `token` it sends `Bearer <token>`
    itself and never handshakes."""
    import adbc_driver_flightsql.dbapi as flight_sql

    kw = {ADBC_TIMEOUT_QUERY: str(timeout), ADBC_TIMEOUT_FETCH: str(timeout), ADBC_TIMEOUT_UPDATE: str(timeout)}
    if token is not None:
        kw[ADBC_AUTH_HEADER] = f"Bearer {token}"
    elif user is not None:
        kw["username"] = user
        kw["password"] = password
    if ca_pem is not None:
        kw[ADBC_TLS_ROOT_CERTS] = ca_pem.decode()
    kw.update(db_kwargs or {})
    return flight_sql.connect(uri, db_kwargs=kw, autocommit=True)


def adbc_query(conn, sql: str, params=None) -> pa.Table:
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetch_arrow_table()


# ---------------------------------------------------------------------------------------------
# pyarrow.flight with Flight SQL commands encoded by hand (protobuf wire format)

SQL_PROTO = "type.googleapis.com/arrow.flight.protocol.sql."


def _varint(n: int) -> bytes:
    assert n >= 0
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def pb_bytes(num: int, data: bytes | str) -> bytes:
    """A length-delimited field (string, bytes, message, packed repeated)."""
    if isinstance(data, str):
        data = data.encode()
    return _varint(num << 3 | 2) + _varint(len(data)) + data


def pb_varint(num: int, value: int) -> bytes:
    return _varint(num << 3) + _varint(value)


def pack_any(message: str, body: bytes = b"") -> bytes:
    """google.protobuf.Any { type_url = 1, value = 2 } around a Flight SQL command (an empty
    value is left out, as protobuf does)."""
    return pb_bytes(1, SQL_PROTO + message) + (pb_bytes(2, body) if body else b"")


def cmd_statement_query(sql: str) -> bytes:
    return pack_any("CommandStatementQuery", pb_bytes(1, sql))


def cmd_get_sql_info(ids: list[int]) -> bytes:
    return pack_any("CommandGetSqlInfo", pb_bytes(1, b"".join(_varint(i) for i in ids)) if ids else b"")


def cmd_get_catalogs() -> bytes:
    return pack_any("CommandGetCatalogs")


def cmd_get_db_schemas(catalog: str | None = None, pattern: str | None = None) -> bytes:
    body = b""
    if catalog is not None:
        body += pb_bytes(1, catalog)
    if pattern is not None:
        body += pb_bytes(2, pattern)
    return pack_any("CommandGetDbSchemas", body)


def cmd_get_tables(catalog: str | None = None, schema_pattern: str | None = None, table_pattern: str | None = None,
                   table_types: tuple[str, ...] = (), include_schema: bool = False) -> bytes:
    body = b""
    if catalog is not None:
        body += pb_bytes(1, catalog)
    if schema_pattern is not None:
        body += pb_bytes(2, schema_pattern)
    if table_pattern is not None:
        body += pb_bytes(3, table_pattern)
    for t in table_types:
        body += pb_bytes(4, t)
    if include_schema:
        body += pb_varint(5, 1)
    return pack_any("CommandGetTables", body)


def cmd_get_table_types() -> bytes:
    return pack_any("CommandGetTableTypes")


def cmd_get_xdbc_type_info() -> bytes:
    return pack_any("CommandGetXdbcTypeInfo")


def cmd_keys(kind: str, table: str, db_schema: str | None = "lake", catalog: str | None = "cdrlake") -> bytes:
    """kind: PrimaryKeys, ExportedKeys or ImportedKeys."""
    body = b""
    if catalog is not None:
        body += pb_bytes(1, catalog)
    if db_schema is not None:
        body += pb_bytes(2, db_schema)
    body += pb_bytes(3, table)
    return pack_any(f"CommandGet{kind}", body)


def cmd_cross_reference(pk_table: str, fk_table: str, schema: str = "lake", catalog: str = "cdrlake") -> bytes:
    body = (pb_bytes(1, catalog) + pb_bytes(2, schema) + pb_bytes(3, pk_table)
            + pb_bytes(4, catalog) + pb_bytes(5, schema) + pb_bytes(6, fk_table))
    return pack_any("CommandGetCrossReference", body)


def cmd_prepared_statement_query(handle: bytes) -> bytes:
    return pack_any("CommandPreparedStatementQuery", pb_bytes(1, handle))


def pb_decode(data: bytes) -> dict[int, list]:
    """Protobuf wire format to {field number: [values]} (varints as int, the rest as bytes)."""
    out: dict[int, list] = {}
    i = 0

    def varint() -> int:
        nonlocal i
        value = shift = 0
        while True:
            b = data[i]
            i += 1
            value |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return value

    while i < len(data):
        key = varint()
        num, wire = key >> 3, key & 7
        if wire == 0:
            out.setdefault(num, []).append(varint())
        elif wire == 2:
            n = varint()
            out.setdefault(num, []).append(data[i:i + n])
            i += n
        elif wire == 1:
            out.setdefault(num, []).append(data[i:i + 8])
            i += 8
        elif wire == 5:
            out.setdefault(num, []).append(data[i:i + 4])
            i += 4
        else:
            raise ValueError(f"protobuf wire type {wire}")
    return out


@dataclass
class Prepared:
    handle: bytes
    dataset_schema: pa.Schema | None
    parameter_schema: pa.Schema | None


def _ipc_schema(data: bytes | None) -> pa.Schema | None:
    return pa.ipc.read_schema(pa.py_buffer(data)) if data else None


class FlightSql:
    """A pyarrow.flight client: Basic handshake (or a given bearer token), then Flight SQL
    commands as GetFlightInfo + DoGet on every endpoint."""

    def __init__(self, uri: str, user: str | None = None, password: str | None = None, *, token: str | None = None,
                 ca_pem: bytes | None = None, timeout: float = QUERY_TIMEOUT_S, headers: list | None = None):
        kw = {"tls_root_certs": ca_pem} if ca_pem is not None else {}
        self.client = flight.FlightClient(uri, **kw)
        self.timeout = timeout
        self.headers = list(headers or [])
        self.bearer: tuple[bytes, bytes] | None = None
        if token is not None:
            self.headers.append((b"authorization", f"Bearer {token}".encode()))
        elif user is not None:
            self.bearer = self.client.authenticate_basic_token(
                user, password, flight.FlightCallOptions(timeout=30))
            self.headers.append(self.bearer)

    @property
    def options(self) -> flight.FlightCallOptions:
        return flight.FlightCallOptions(headers=self.headers, timeout=self.timeout)

    def info(self, command: bytes) -> flight.FlightInfo:
        return self.client.get_flight_info(flight.FlightDescriptor.for_command(command), self.options)

    def fetch(self, info: flight.FlightInfo) -> pa.Table:
        """Every endpoint's stream; each must carry exactly the FlightInfo schema."""
        want = info.schema
        tables = []
        for ep in info.endpoints:
            reader = self.client.do_get(ep.ticket, self.options)
            t = reader.read_all()
            assert t.schema.equals(want), (
                f"endpoint returned a schema that differs from GetFlightInfo's:\n{t.schema}\nvs\n{want}")
            tables.append(t)
        if not tables:
            return want.empty_table()
        return pa.concat_tables(tables)

    def command(self, command: bytes) -> pa.Table:
        return self.fetch(self.info(command))

    def query(self, sql: str) -> pa.Table:
        return self.command(cmd_statement_query(sql))

    def prepare(self, sql: str) -> Prepared:
        """CreatePreparedStatement (DoAction); the result is an Any around
        ActionCreatePreparedStatementResult {handle = 1, dataset_schema = 2, parameter_schema = 3}."""
        body = pack_any("ActionCreatePreparedStatementRequest", pb_bytes(1, sql))
        results = list(self.client.do_action(flight.Action("CreatePreparedStatement", body), self.options))
        assert len(results) == 1, f"CreatePreparedStatement answered {len(results)} results"
        any_msg = pb_decode(results[0].body.to_pybytes())
        assert any_msg[1][0].decode().endswith("ActionCreatePreparedStatementResult"), any_msg[1]
        fields = pb_decode(any_msg.get(2, [b""])[0])
        return Prepared(fields[1][0], _ipc_schema(fields.get(2, [None])[0]), _ipc_schema(fields.get(3, [None])[0]))

    def close_prepared(self, handle: bytes) -> None:
        body = pack_any("ActionClosePreparedStatementRequest", pb_bytes(1, handle))
        list(self.client.do_action(flight.Action("ClosePreparedStatement", body), self.options))

    def close(self) -> None:
        self.client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---------------------------------------------------------------------------------------------
# Errors: the gRPC status code behind a client exception

GRPC_CODES = {
    0: "OK", 1: "CANCELLED", 2: "UNKNOWN", 3: "INVALID_ARGUMENT", 4: "DEADLINE_EXCEEDED", 5: "NOT_FOUND",
    6: "ALREADY_EXISTS", 7: "PERMISSION_DENIED", 8: "RESOURCE_EXHAUSTED", 9: "FAILED_PRECONDITION",
    10: "ABORTED", 11: "OUT_OF_RANGE", 12: "UNIMPLEMENTED", 13: "INTERNAL", 14: "UNAVAILABLE",
    15: "DATA_LOSS", 16: "UNAUTHENTICATED",
}
# Go's names, which the ADBC driver writes into its messages: "... (PermissionDenied; Prepare)".
_GO_CODES = {
    "Canceled": "CANCELLED", "Unknown": "UNKNOWN", "InvalidArgument": "INVALID_ARGUMENT",
    "DeadlineExceeded": "DEADLINE_EXCEEDED", "NotFound": "NOT_FOUND", "AlreadyExists": "ALREADY_EXISTS",
    "PermissionDenied": "PERMISSION_DENIED", "ResourceExhausted": "RESOURCE_EXHAUSTED",
    "FailedPrecondition": "FAILED_PRECONDITION", "Aborted": "ABORTED", "OutOfRange": "OUT_OF_RANGE",
    "Unimplemented": "UNIMPLEMENTED", "Internal": "INTERNAL", "Unavailable": "UNAVAILABLE",
    "DataLoss": "DATA_LOSS", "Unauthenticated": "UNAUTHENTICATED",
}
# pyarrow.flight words its errors "Flight returned <what> error, with message: ..." (or
# "gRPC returned ..." for codes Flight has no status of its own for).
_PYARROW_WORDS = {
    "invalid argument": "INVALID_ARGUMENT", "timeout": "DEADLINE_EXCEEDED", "not found": "NOT_FOUND",
    "already exists": "ALREADY_EXISTS", "unauthorized": "PERMISSION_DENIED",
    "resource exhausted": "RESOURCE_EXHAUSTED", "precondition failed": "FAILED_PRECONDITION",
    "aborted": "ABORTED", "out-of-range": "OUT_OF_RANGE", "unimplemented": "UNIMPLEMENTED",
    "internal": "INTERNAL", "unavailable": "UNAVAILABLE", "data loss": "DATA_LOSS",
    "unauthenticated": "UNAUTHENTICATED",
}


def grpc_code(exc: BaseException) -> str:
    """The gRPC status code name behind an ADBC or pyarrow.flight exception.

    ADBC's Flight SQL driver puts the numeric gRPC code in `vendor_code` (and its name, e.g.
    "(PermissionDenied; Prepare)", in the message); pyarrow raises FlightUnauthorizedError for
    PERMISSION_DENIED, ArrowInvalid for INVALID_ARGUMENT and RESOURCE_EXHAUSTED alike, so the
    message tells them apart."""
    try:
        import adbc_driver_manager

        if isinstance(exc, adbc_driver_manager.Error):
            if exc.vendor_code in GRPC_CODES:
                return GRPC_CODES[exc.vendor_code]
            m = re.search(r"\(([A-Za-z]+); [^()]*\)", str(exc))
            if m and m.group(1) in _GO_CODES:
                return _GO_CODES[m.group(1)]
            return f"ADBC_{exc.status_code.name}"
    except ImportError:
        pass
    if isinstance(exc, flight.FlightUnauthenticatedError):
        return "UNAUTHENTICATED"
    if isinstance(exc, flight.FlightUnauthorizedError):
        return "PERMISSION_DENIED"
    if isinstance(exc, flight.FlightTimedOutError):
        return "DEADLINE_EXCEEDED"
    if isinstance(exc, flight.FlightCancelledError):
        return "CANCELLED"
    if isinstance(exc, flight.FlightUnavailableError):
        return "UNAVAILABLE"
    msg = str(exc)
    m = re.search(r"(?:Flight|gRPC) returned (.+?) error, with message", msg)
    if m and m.group(1) in _PYARROW_WORDS:
        return _PYARROW_WORDS[m.group(1)]
    if "Flight RPC failed" in msg:
        return "UNKNOWN"
    # A server that sends Arrow's own status detail (pyarrow's does) is rebuilt as that status.
    if isinstance(exc, pa.ArrowInvalid):
        return "INVALID_ARGUMENT"
    if isinstance(exc, pa.ArrowKeyError):
        return "NOT_FOUND"
    if isinstance(exc, pa.ArrowNotImplementedError):
        return "UNIMPLEMENTED"
    if isinstance(exc, flight.FlightInternalError):
        return "INTERNAL"
    if isinstance(exc, flight.FlightServerError):
        return "UNKNOWN"
    return f"NOT_GRPC({type(exc).__name__})"


def expect_error(fn, *codes: str, contains: str | None = None) -> BaseException:
    """Runs fn(); it must raise with one of the gRPC codes (and the message must contain
    `contains`). Returns the exception. A result instead of an error fails the test, showing
    the rows."""
    try:
        result = fn()
    except Exception as e:  # noqa: BLE001 - any client error is inspected below
        code = grpc_code(e)
        assert code in codes, f"expected {' or '.join(codes)}, got {code}: {e}"
        if contains is not None:
            assert contains.lower() in str(e).lower(), f"error message lacks {contains!r}: {e}"
        return e
    shown = result.slice(0, 5).to_pylist() if isinstance(result, pa.Table) else result
    raise AssertionError(f"expected {' or '.join(codes)}, but the call succeeded: {shown}")


def wait_until(fn, timeout: float = 10.0, interval: float = 0.1):
    """Calls fn() until it returns a true value (returned) or raises AssertionError at the end."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            value = fn()
            if value:
                return value
        except Exception as e:  # noqa: BLE001
            last = e
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s (last error: {last})")
        time.sleep(interval)


# ---------------------------------------------------------------------------------------------
# TLS

def make_tls_files(folder: Path) -> tuple[bytes, Path, Path]:
    """A CA certificate and a server certificate it signed for localhost and 127.0.0.1
    (EC P-256, PKCS#8 key). Returns (CA PEM, server certificate file, key file)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cdrlake test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_path = folder / "server.crt"
    key_path = folder / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    os.chmod(key_path, 0o600)
    return ca.public_bytes(serialization.Encoding.PEM), cert_path, key_path
