"""Reports end to end: every report over the hand-built fixture (tests/reports/fixture) must
give the rows an independent DuckDB implementation (tests/reports/expected.py) computed from
the same CSV files; exports are read back by independent readers (csv, openpyxl, pyarrow)."""

import csv
import io
import json
import math
import subprocess
import sys
from datetime import date, datetime

import pyarrow.parquet as pq
import pytest

from conftest import ROOT, Cdrlake, ingest_fixture

CASES_DIR = ROOT / "tests" / "reports" / "cases"
EXPECTED = ROOT / "tests" / "reports" / "expected"


def load_cases() -> list[dict]:
    cases = []
    for f in sorted(CASES_DIR.glob("*.json")):
        cases.extend(json.loads(f.read_text()))
    return cases


def cli_args(args: dict) -> list[str]:
    out = []
    for k, v in args.items():
        if k.startswith("param:"):
            out += ["--param", f"{k[len('param:'):]}={v}"]
        else:
            out += [f"--{k}", str(v)]
    return out


@pytest.fixture(scope="module")
def fixture_lake(cdrlake_bin, tmp_path_factory) -> Cdrlake:
    lake = Cdrlake(cdrlake_bin, str(tmp_path_factory.mktemp("reports") / "lake"))
    ingest_fixture(lake)
    return lake


def cell(v: str):
    """A CSV cell as a comparable value: numbers as floats, times as datetimes."""
    if v == "":
        return None
    if v in ("true", "false"):
        return v == "true"
    try:
        return float(v)
    except ValueError:
        pass
    for fmt in ("%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.strptime(v.rstrip("Z").replace("+00:00", ""), fmt)
        except ValueError:
            pass
    return v


def same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)
    return a == b


def compare(case: str, got: list[list[str]], want: list[list[str]]) -> None:
    assert got[0] == want[0], f"{case}: columns differ:\n got  {got[0]}\n want {want[0]}"
    assert len(got) == len(want), (
        f"{case}: {len(got) - 1} rows, expected {len(want) - 1}:\n"
        + "\n".join(",".join(r) for r in got[1:])
    )
    for i, (g, w) in enumerate(zip(got[1:], want[1:]), start=1):
        for col, gv, wv in zip(got[0], g, w):
            assert same(cell(gv), cell(wv)), f"{case}: row {i} column {col}: got {gv!r}, expected {wv!r}\n got  {g}\n want {w}"


CASES = load_cases()


@pytest.mark.parametrize("case", CASES, ids=[c["case"] for c in CASES])
def test_report_matches_independent_engine(fixture_lake, case):
    p = fixture_lake.run("report", "run", case["report"], *cli_args(case["args"]), "--format", "csv")
    got = list(csv.reader(io.StringIO(p.stdout)))
    expected = EXPECTED / f"{case['case']}.csv"
    assert expected.exists(), f"no expected output {expected}: run tests/reports/expected.py"
    want = list(csv.reader(io.StringIO(expected.read_text())))
    compare(case["case"], got, want)


def report_versions(name: str) -> list[int]:
    return sorted(int(f.stem[1:]) for f in (ROOT / "sql" / "reports" / name).glob("v*.sql"))


# Older versions of a report give the same rows as the latest (a new version is faster or fixes
# how a value is shown, never a different answer to the same question unless its header says so).
OLDER = [(c, v) for c in CASES for v in report_versions(c["report"])[:-1]]


@pytest.mark.parametrize("case,version", OLDER, ids=[f"{c['case']}__v{v}" for c, v in OLDER])
def test_older_versions_match_independent_engine(fixture_lake, case, version):
    p = fixture_lake.run(
        "report", "run", case["report"], "--version", str(version), *cli_args(case["args"]), "--format", "csv"
    )
    got = list(csv.reader(io.StringIO(p.stdout)))
    want = list(csv.reader(io.StringIO((EXPECTED / f"{case['case']}.csv").read_text())))
    compare(f"{case['case']} v{version}", got, want)


def test_report_rows_do_not_depend_on_rollups_being_refreshed(cdrlake_bin, fixture_lake_template, tmp_path):
    """Reports that read rollups give the same rows whether the rollups were refreshed, are
    behind the raw tables (ingest --no-rollups), or were never built: the lake computes the
    partitions a rollup has not caught up with from the raw tables."""
    import shutil

    store = tmp_path / "lake"
    shutil.copytree(fixture_lake_template, store)
    lake = Cdrlake(cdrlake_bin, str(store))
    reports = ["end_reasons", "team_hourly_volume", "usage_by_tenant", "summary_weekly"]
    cases = [c for c in CASES if c["report"] in reports]

    def run_all() -> dict:
        return {c["case"]: lake.run("report", "run", c["report"], *cli_args(c["args"]), "--format", "csv").stdout for c in cases}

    fresh = run_all()
    for c in cases:
        want = list(csv.reader(io.StringIO((EXPECTED / f"{c['case']}.csv").read_text())))
        compare(c["case"], list(csv.reader(io.StringIO(fresh[c["case"]]))), want)
    # Behind: more calls landed and ingested without refreshing the rollups.
    extra = tmp_path / "extra_calls.csv"
    lines = (ROOT / "tests" / "reports" / "fixture" / "calls.csv").read_text().splitlines()
    header, first = lines[0], lines[1].split(",")
    call_id = header.split(",").index("call_id")
    first[call_id] = "extra-call-1"
    extra.write_text(header + "\n" + ",".join(first) + "\n")
    lake.run("ingest", "--table", "calls", "--no-rollups", str(extra))
    behind = run_all()
    assert behind != fresh, "the extra call changes some report"
    lake.run("rollup", "refresh")
    assert run_all() == behind
    # Never built: the rollup folders removed.
    shutil.rmtree(store / "rollups")
    assert run_all() == behind


def test_every_report_has_cases_and_runs(fixture_lake):
    listed = [json.loads(line) for line in fixture_lake.run("report", "list", "--all", "--json").stdout.splitlines()]
    catalog = fixture_lake.query("SELECT name, version, latest FROM reports.catalog ORDER BY name, version")
    assert [(r["name"], r["version"]) for r in listed] == [(r["name"], r["version"]) for r in catalog]
    files = sorted((ROOT / "sql" / "reports").glob("*/v*.sql"))
    assert len(files) == len(catalog), "every report file is in reports.catalog"
    covered = {c["report"] for c in CASES}
    for r in listed:
        if r["latest"]:
            assert r["name"] in covered, f"report {r['name']} has no test case in tests/reports/cases"
            assert sum(c["report"] == r["name"] for c in CASES) >= 2, f"{r['name']}: at least two cases"
        # Every version runs with its defaults, through SQL.
        fixture_lake.query(f"SELECT * FROM reports.{r['name']}_v{r['version']}() LIMIT 1")


def test_expectations_come_from_duckdb():
    """The checked-in expected files are exactly what the independent DuckDB implementation
    computes from the fixture CSVs."""
    p = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "reports" / "expected.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert p.returncode == 0, p.stdout + p.stderr


def test_period_ratio_is_not_an_average_of_days(fixture_lake):
    """ASR over two days is answered/attempts over both days, not the mean of daily ASRs."""
    args = ["--from", "2026-03-01", "--to", "2026-04-01", "--tenant", "sakura",
            "--customer", "AcmeTel", "--provider", "CarrierOne", "--format", "json"]
    whole = json.loads(fixture_lake.run("report", "run", "breakout", *args).stdout)
    daily = json.loads(fixture_lake.run("report", "run", "breakout", *args, "--param", "group_by=day").stdout)
    assert len(whole) == 1 and len(daily) >= 2
    attempts = sum(d["attempts"] for d in daily)
    answered = sum(d["answered"] for d in daily)
    assert whole[0]["attempts"] == attempts
    assert whole[0]["asr_pct"] == pytest.approx(round(100 * answered / attempts, 2))
    mean_of_days = sum(d["asr_pct"] for d in daily) / len(daily)
    assert whole[0]["asr_pct"] != pytest.approx(mean_of_days)


def test_unknown_report_option_and_bad_value_are_refused(fixture_lake):
    p = fixture_lake.run("report", "run", "end_reasons", "--customer", "x", check=False)
    assert p.returncode != 0 and "has no parameter customer" in p.stderr
    p = fixture_lake.run("report", "run", "end_reasons", "--from", "March", check=False)
    assert p.returncode != 0 and "from" in p.stderr and "not a timestamp" in p.stderr
    p = fixture_lake.run("report", "run", "no_such_report", check=False)
    assert p.returncode != 0 and "no report named no_such_report" in p.stderr
    # SQL arguments are values, never SQL.
    rows = fixture_lake.query("SELECT count(*) AS n FROM reports.end_reasons('2026-03-01', '2026-04-01', 'x''; DROP TABLE calls; --')")
    assert rows == [{"n": 0}]


# ---- exports ------------------------------------------------------------------------------

AWKWARD = 'Busy, "really" | twice\nsecond line'


@pytest.fixture(scope="module")
def awkward_lake(cdrlake_bin, tmp_path_factory) -> Cdrlake:
    root = tmp_path_factory.mktemp("awkward")
    lake = Cdrlake(cdrlake_bin, str(root / "lake"))
    (root / "tenants.csv").write_text("tenant_id,name,time_zone,licenses,retention_days\nx,X,UTC,1,30\n")
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["tenant_id", "call_id", "direction", "media", "invite_time", "end_time", "duration_s",
                "billable_s", "disposition", "end_reason"])
    w.writerow(["x", "a1", "inbound", "audio", "2026-03-02T10:00:00Z", "2026-03-02T10:00:05Z", 5, 0, "busy", AWKWARD])
    w.writerow(["x", "a2", "inbound", "audio", "2026-03-02T11:00:00Z", "2026-03-02T11:00:05Z", 5, 0, "busy", "plain"])
    (root / "calls.csv").write_text(buf.getvalue())
    for t in ("tenants", "calls"):
        assert lake.run("ingest", "--table", t, str(root / f"{t}.csv")).returncode == 0
    return lake


@pytest.mark.parametrize("delimiter", [",", "|"])
def test_csv_quotes_awkward_values(awkward_lake, delimiter):
    p = awkward_lake.run("report", "run", "end_reasons", "--from", "2026-03-01", "--to", "2026-04-01",
                         "--format", "csv", "--delimiter", delimiter)
    rows = list(csv.reader(io.StringIO(p.stdout), delimiter=delimiter))
    assert rows[0][:3] == ["tenant_id", "end_reason", "calls"]
    reasons = sorted(r[1] for r in rows[1:])
    assert reasons == sorted([AWKWARD, "plain"])
    assert f'"Busy, ""really"" | twice\nsecond line"' in p.stdout


def test_empty_results_keep_their_header(awkward_lake, tmp_path):
    args = ["report", "run", "end_reasons", "--from", "1990-01-01", "--to", "1990-02-01"]
    p = awkward_lake.run(*args, "--format", "csv")
    assert p.stdout.splitlines() == ["tenant_id,end_reason,calls,answered,share_pct"]
    out = tmp_path / "empty.xlsx"
    awkward_lake.run(*args, "--format", "xlsx", "--output", str(out))
    import openpyxl

    sheet = openpyxl.load_workbook(out).active
    assert [c.value for c in sheet[1]] == ["tenant_id", "end_reason", "calls", "answered", "share_pct"]
    assert sheet.max_row == 1
    out = tmp_path / "empty.parquet"
    awkward_lake.run(*args, "--format", "parquet", "--output", str(out))
    t = pq.read_table(out)
    assert t.num_rows == 0 and t.column_names[:2] == ["tenant_id", "end_reason"]


def test_xlsx_has_typed_cells(fixture_lake, tmp_path):
    import openpyxl

    out = tmp_path / "breakout.xlsx"
    args = ["report", "run", "breakout", "--from", "2026-03-01", "--to", "2026-04-01", "--param", "group_by=day"]
    fixture_lake.run(*args, "--format", "xlsx", "--output", str(out))
    rows = json.loads(fixture_lake.run(*args, "--format", "json").stdout)
    sheet = openpyxl.load_workbook(out).active
    header = [c.value for c in sheet[1]]
    assert header == list(rows[0].keys())
    assert sheet.max_row == len(rows) + 1
    for r, want in zip(sheet.iter_rows(min_row=2, values_only=True), rows):
        got = dict(zip(header, r))
        assert isinstance(got["attempts"], int | float) and got["attempts"] == want["attempts"]
        assert isinstance(got["charge"], float) and got["charge"] == pytest.approx(float(want["charge"]), abs=1e-6)
        assert isinstance(got["day"], datetime) and got["day"].date() == date.fromisoformat(want["day"])
        assert got["customer"] == want["customer"]


def test_parquet_reads_back(fixture_lake, tmp_path):
    out = tmp_path / "r.parquet"
    args = ["report", "run", "breakout", "--from", "2026-03-01", "--to", "2026-04-01"]
    fixture_lake.run(*args, "--format", "parquet", "--output", str(out))
    t = pq.read_table(out)
    rows = json.loads(fixture_lake.run(*args, "--format", "json").stdout)
    assert t.num_rows == len(rows) > 0
    assert str(t.schema.field("charge").type) == "decimal128(18, 6)"
    assert t.column("customer").to_pylist() == [r["customer"] for r in rows]


def test_report_with_a_swappable_join_plans_once(fixture_lake):
    """Regression: a report's physical plan was optimized twice (once alone, once inside the
    caller's query), which failed for joins swapped after dynamic filters were built."""
    lake = Cdrlake(fixture_lake.binary, fixture_lake.store,
                   env={"CDRLAKE_SQL_DIR": str(ROOT / "tests" / "reports" / "regressions")})
    p = lake.run("report", "run", "join_after_dynamic_filter", "--from", "2026-03-01", "--to", "2026-04-01",
                 "--format", "json")
    rows = json.loads(p.stdout)
    assert len(rows) == 18 and sum(r["calls"] for r in rows) > 0


def test_filters_that_fold_to_null_select_nothing(fixture_lake):
    """Regression: delta-rs took a filter that folds to NULL as exact and then returned every
    row; cdrlake re-applies every filter above the Delta scan."""
    for sql in [
        "SELECT count(*) AS n FROM calls c WHERE c.caller_number = CAST(NULL AS VARCHAR) AND c.invite_time >= TIMESTAMP '2026-03-01T00:00:00Z'",
        "SELECT count(*) AS n FROM calls WHERE CAST(NULL AS BOOLEAN) AND tenant_id = 'sakura'",
    ]:
        assert fixture_lake.query(sql) == [{"n": 0}], sql
    assert fixture_lake.query("SELECT count(*) AS n FROM calls WHERE tenant_id = 'sakura'") == [{"n": 24}]
