"""`cdrlake demo` ends by serving its lake over Flight SQL with three demo users, and prints how
to connect (ADBC snippet, JDBC URL). The demo runs on a small generated lake here (the demo
reuses a lake that already has landing files)."""

import re
import signal
import subprocess
import time

from flight import adbc_connect, adbc_query

LISTENING = re.compile(r"cdrlake serve: listening on grpc://(127\.0\.0\.1:\d+)")


def test_demo_serves_its_lake_to_the_demo_users(cdrlake_bin, tmp_path):
    lake = tmp_path / "lake"
    gen = subprocess.run(
        [cdrlake_bin, "--store", str(lake), "generate", "--tenants", "2", "--days", "3",
         "--calls-per-day", "200"],
        capture_output=True, text=True, timeout=300,
    )
    assert gen.returncode == 0, gen.stderr
    users = tmp_path / "demo-users.toml"
    proc = subprocess.Popen(
        [cdrlake_bin, "--store", str(lake), "demo", "--listen", "127.0.0.1:0", "--users", str(users)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    out = []
    try:
        deadline = time.time() + 300
        addr = None
        while time.time() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            out.append(line)
            m = LISTENING.search(line)
            if m:
                addr = m.group(1)
                break
        text = "".join(out)
        assert addr, f"the demo did not start serving: {text}\n{proc.stderr.read() if proc.poll() is not None else ''}"
        assert "using the existing lake" in text
        assert "jdbc:arrow-flight-sql://" in text and "useEncryption=false" in text, text
        assert "adbc_driver_flightsql" in text, text
        tenants_seen = {}
        for user, password in [("demo_admin", "demo-admin-pw"), ("demo_tenant", "demo-tenant-pw"),
                               ("demo_team", "demo-team-pw")]:
            assert user in text and password in text, f"{user} is announced"
            with adbc_connect(f"grpc://{addr}", user, password) as conn:
                t = adbc_query(conn, "SELECT DISTINCT tenant_id, team_id FROM calls ORDER BY 1, 2")
                tenants_seen[user] = t.to_pylist()
                adbc_query(conn, "SELECT * FROM reports.end_reasons(now() - INTERVAL '30 days', now())")
        admin = {r["tenant_id"] for r in tenants_seen["demo_admin"]}
        tenant = {r["tenant_id"] for r in tenants_seen["demo_tenant"]}
        team = {(r["tenant_id"], r["team_id"]) for r in tenants_seen["demo_team"]}
        assert len(admin) == 2, admin
        assert len(tenant) == 1 and tenant < admin, tenant
        assert len(team) == 1 and {t for t, _ in team} == tenant, team
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert code == 0, proc.stderr.read()
