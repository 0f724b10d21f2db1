"""Shared fixtures: the cdrlake binary and a real S3-compatible server (moto) on loopback."""

import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "reports" / "fixture"
TABLES = ["tenants", "teams", "users", "numbers", "calls", "streams", "messages", "registrations"]


def _binary() -> str:
    explicit = os.environ.get("CDRLAKE_BIN")
    if explicit:
        return explicit
    target = os.environ.get("CARGO_TARGET_DIR", str(ROOT / "target"))
    return str(Path(target) / "debug" / "cdrlake")


@pytest.fixture(scope="session")
def cdrlake_bin() -> str:
    path = _binary()
    assert Path(path).is_file(), f"cdrlake binary not found at {path}: build it first (scripts/test does)"
    return path


class Cdrlake:
    """Runs the real binary against one store."""

    def __init__(self, binary: str, store: str, env: dict | None = None):
        self.binary = binary
        self.store = store
        self.env = {**os.environ, **(env or {})}
        self.env.pop("CDRLAKE_STORE", None)

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        p = subprocess.run(
            [self.binary, "--store", self.store, *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=600,
        )
        if check and p.returncode not in (0, 3):
            raise AssertionError(f"cdrlake {args} exited {p.returncode}: {p.stderr}")
        return p

    def query(self, sql: str) -> list[dict]:
        return json.loads(self.run("query", "--format", "json", sql).stdout)


@pytest.fixture
def local_lake(cdrlake_bin, tmp_path) -> Cdrlake:
    return Cdrlake(cdrlake_bin, str(tmp_path / "lake"))


def ingest_fixture(lake: Cdrlake, root: Path = FIXTURE) -> None:
    """Ingests the hand-built report fixture (tests/reports/fixture/*.csv) into the lake."""
    for t in TABLES:
        p = lake.run("ingest", "--table", t, str(root / f"{t}.csv"))
        assert p.returncode == 0, f"fixture {t} did not ingest cleanly: {p.stdout}{p.stderr}"


@pytest.fixture(scope="session")
def fixture_lake_template(cdrlake_bin, tmp_path_factory) -> Path:
    """The report fixture ingested once per session; copy it (shutil.copytree) for a lake of
    your own: a local store is a plain directory of Delta tables with relative paths."""
    lake = Cdrlake(cdrlake_bin, str(tmp_path_factory.mktemp("fixture-template") / "lake"))
    ingest_fixture(lake)
    return Path(lake.store)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def s3_server():
    """moto's S3 server on a free loopback port, with a bucket; yields the AWS env vars."""
    exe = shutil.which("moto_server") or os.environ.get("CDRLAKE_MOTO_SERVER")
    assert exe, "moto_server not found: scripts/test installs moto[server] into its venv"
    port = _free_port()
    proc = subprocess.Popen(
        [exe, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ALLOW_HTTP": "true",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
    }
    try:
        import boto3

        deadline = time.time() + 30
        while True:
            try:
                boto3.client(
                    "s3",
                    endpoint_url=env["AWS_ENDPOINT_URL"],
                    aws_access_key_id="testing",
                    aws_secret_access_key="testing",
                    region_name="us-east-1",
                ).create_bucket(Bucket="cdrlake-test")
                break
            except Exception:
                if time.time() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.2)
        yield env
    finally:
        proc.terminate()
        proc.wait(timeout=10)
