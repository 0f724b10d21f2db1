//! End-to-end tests of the real `cdrlake` binary: generate, ingest (also killed part-way),
//! query, and the command-line contract (exit codes, error messages, output formats).

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Instant;

const BIN: &str = env!("CARGO_BIN_EXE_cdrlake");

fn cdrlake(store: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--store")
        .arg(store)
        .args(args)
        .env_remove("CDRLAKE_STORE")
        .output()
        .expect("run cdrlake")
}

fn ok(store: &Path, args: &[&str]) -> String {
    let out = cdrlake(store, args);
    assert!(
        out.status.success(),
        "cdrlake {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// One-row query result as JSON.
fn query_json(store: &Path, sql: &str) -> serde_json::Value {
    let text = ok(store, &["query", "--format", "json", sql]);
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    v[0].clone()
}

/// What the landing files hold, read with plain DataFusion (not our engine or ingest).
async fn landed_totals(store: &Path) -> (i64, i64, String) {
    let ctx = datafusion::prelude::SessionContext::new();
    let dir = store.join("landing/calls/");
    ctx.register_parquet(
        "landed",
        dir.to_string_lossy().as_ref(),
        datafusion::prelude::ParquetReadOptions::default(),
    )
    .await
    .expect("register landing");
    let batches = ctx
        .sql("SELECT count(*), count(DISTINCT call_id), CAST(sum(customer_charge) AS VARCHAR) FROM landed")
        .await
        .expect("plan")
        .collect()
        .await
        .expect("run");
    let b = &batches[0];
    let cell = |i: usize| {
        datafusion::arrow::util::display::array_value_to_string(b.column(i), 0).expect("cell")
    };
    (
        cell(0).parse().expect("count"),
        cell(1).parse().expect("count"),
        cell(2),
    )
}

#[tokio::test]
async fn generate_ingest_query_and_ingest_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake");
    let gen_out = ok(
        &lake,
        &[
            "generate",
            "--tenants",
            "3",
            "--days",
            "4",
            "--calls-per-day",
            "600",
            "--bad-rows",
            "0.02",
            "--json",
        ],
    );
    let gen_summary: serde_json::Value = serde_json::from_str(&gen_out).expect("json");
    let generated_calls = gen_summary["rows"]["calls"].as_i64().expect("calls");
    assert!(generated_calls > 1000, "{gen_summary}");

    let out = cdrlake(&lake, &["ingest", "--json"]);
    assert_eq!(out.status.code(), Some(3), "rows were quarantined: exit 3");
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        s["rows_in"].as_i64(),
        Some(
            gen_summary["rows"]
                .as_object()
                .expect("rows")
                .values()
                .map(|v| v.as_i64().unwrap_or(0))
                .sum::<i64>()
        )
    );
    let quarantined = s["rows_quarantined"].as_i64().expect("n");
    assert!(quarantined > 0);
    assert_eq!(
        s["rows_ingested"].as_i64().expect("n") + quarantined,
        s["rows_in"].as_i64().expect("n")
    );

    let q = query_json(&lake, "SELECT count(*) AS n FROM calls");
    let in_table = q["n"].as_i64().expect("n");
    let q = query_json(&lake, "SELECT sum(rows) AS n FROM quarantine_calls");
    assert_eq!(in_table + q["n"].as_i64().expect("n"), generated_calls);

    // Exactly once: a second run adds nothing and exits 0.
    let out = cdrlake(&lake, &["ingest", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let s2: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(s2["files_ingested"].as_i64(), Some(0));
    assert_eq!(s2["files_already_ingested"], s["files_ingested"]);
    assert_eq!(
        query_json(&lake, "SELECT count(*) AS n FROM calls")["n"].as_i64(),
        Some(in_table)
    );

    // SHOW TABLES lists every table and quarantine.
    let tables = ok(
        &lake,
        &[
            "query",
            "--format",
            "csv",
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'lake' ORDER BY 1",
        ],
    );
    for t in [
        "calls",
        "streams",
        "messages",
        "registrations",
        "tenants",
        "teams",
        "users",
        "numbers",
        "quarantine_calls",
    ] {
        assert!(tables.lines().any(|l| l == t), "{t} missing from {tables}");
    }

    // Generated data is realistic enough for the reports: every outcome, every tenant, and a
    // few percent of poor streams.
    let mix = query_json(
        &lake,
        "SELECT count(DISTINCT disposition) AS outcomes, count(DISTINCT tenant_id) AS tenants FROM calls",
    );
    assert_eq!(mix["outcomes"].as_i64(), Some(6), "{mix}");
    assert_eq!(mix["tenants"].as_i64(), Some(3));
    let poor = query_json(
        &lake,
        "SELECT avg(CASE WHEN loss_rate_avg > 0.1 OR jitter_avg_ms > 30 OR rtt_avg_ms > 500 THEN 1.0 ELSE 0.0 END) AS share FROM streams WHERE media = 'audio'",
    );
    let share = poor["share"].as_f64().expect("share");
    assert!((0.005..0.15).contains(&share), "poor share {share}");
}

#[test]
fn query_errors_name_the_problem_and_exit_non_zero() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake");
    let out = cdrlake(&lake, &["query", "SELECT no_such_column FROM calls"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no_such_column"), "{err}");
    assert!(err.contains("calls"), "the error names the table: {err}");

    let out = cdrlake(&lake, &["query", "SELECT * FROM cals"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("'cdrlake.lake.cals' not found") && err.contains("tables are calls, streams"),
        "{err}"
    );

    let out = cdrlake(&lake, &["query", "SELEC 1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("SELEC"));

    let out = cdrlake(&lake, &["ingest", "--table", "cals"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unknown table 'cals'; tables are: calls")
    );

    let out = cdrlake(&lake, &["query", "--format", "parquet", "SELECT 1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--output"));

    let out = cdrlake(&lake, &["frobnicate"]);
    assert_eq!(out.status.code(), Some(2), "usage errors exit 2");
}

#[test]
fn query_output_formats() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake");
    let sql = "SELECT 1 AS a, 'x,\"y\"' AS b UNION ALL SELECT 2, 'line\nbreak' ORDER BY a";
    let csv = ok(&lake, &["query", "--format", "csv", sql]);
    assert_eq!(csv, "a,b\n1,\"x,\"\"y\"\"\"\n2,\"line\nbreak\"\n");
    let json = ok(&lake, &["query", "--format", "json", sql]);
    let v: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(v[1]["b"], "line\nbreak");
    let table = ok(&lake, &["query", "SELECT 1 AS a WHERE false"]);
    assert!(
        table.contains("| a |"),
        "an empty result keeps its header: {table}"
    );
    let empty_csv = ok(
        &lake,
        &["query", "--format", "csv", "SELECT 1 AS a WHERE false"],
    );
    assert_eq!(empty_csv, "a\n");
    let file = dir.path().join("out.parquet");
    ok(
        &lake,
        &[
            "query",
            "--format",
            "parquet",
            "--output",
            file.to_str().expect("path"),
            sql,
        ],
    );
    let reader =
        parquet::file::reader::SerializedFileReader::new(std::fs::File::open(&file).expect("open"))
            .expect("parquet");
    assert_eq!(
        parquet::file::reader::FileReader::metadata(&reader)
            .file_metadata()
            .num_rows(),
        2
    );
}

#[test]
fn schema_command_matches_the_docs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let md = ok(dir.path(), &["schema", "--markdown"]);
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/schema.md"))
        .expect("docs");
    assert!(doc.contains(&md));
}

/// Kills ingest with SIGKILL at different points, re-runs it each time, and checks that in the
/// end every landed row is in the table exactly once (counts, distinct ids and money sums equal
/// the landing files').
#[tokio::test]
async fn ingest_killed_at_any_point_still_lands_every_row_exactly_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake");
    ok(
        &lake,
        &[
            "generate",
            "--tenants",
            "4",
            "--days",
            "20",
            "--calls-per-day",
            "1500",
            "--files-per-day",
            "8",
        ],
    );
    let log = lake.join("tables/calls/_delta_log");
    let commits = || {
        std::fs::read_dir(&log)
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
                    .count()
            })
            .unwrap_or(0)
    };
    let mut kills = 0;
    let mut finished_early = 0;
    for i in 0..20u64 {
        // Kill after 1 to 3 new commits plus 0 to 24 ms: while reading, validating, writing
        // data files, or committing.
        let before = commits();
        let mut child = Command::new(BIN)
            .arg("--store")
            .arg(&lake)
            .args(["ingest", "--table", "calls", "--files-per-commit", "2"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        let deadline = Instant::now() + std::time::Duration::from_secs(60);
        let mut exited = false;
        while commits() < before + 1 + (i % 3) as usize && Instant::now() < deadline {
            if child.try_wait().expect("wait").is_some() {
                exited = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        std::thread::sleep(std::time::Duration::from_millis(i * 7 % 25));
        if exited || child.try_wait().expect("wait").is_some() {
            finished_early += 1;
        } else {
            child.kill().expect("SIGKILL");
            kills += 1;
        }
        let _ = child.wait();
    }
    assert!(
        kills >= 10,
        "only {kills} runs were killed mid-way ({finished_early} finished)"
    );

    // The final run completes whatever is left.
    ok(
        &lake,
        &["ingest", "--table", "calls", "--files-per-commit", "2"],
    );
    let again = cdrlake(&lake, &["ingest", "--table", "calls", "--json"]);
    let s: serde_json::Value = serde_json::from_slice(&again.stdout).expect("json");
    assert_eq!(s["files_ingested"].as_i64(), Some(0));

    let (landed, landed_distinct, landed_charge) = landed_totals(&lake).await;
    let t = query_json(
        &lake,
        "SELECT count(*) AS n, count(DISTINCT call_id) AS d, CAST(sum(customer_charge) AS VARCHAR) AS charge FROM calls",
    );
    assert_eq!(t["n"].as_i64(), Some(landed));
    assert_eq!(t["d"].as_i64(), Some(landed_distinct));
    assert_eq!(landed, landed_distinct);
    assert_eq!(t["charge"].as_str(), Some(landed_charge.as_str()));
}

#[test]
fn demo_generates_ingests_and_answers_then_reuses_its_lake() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake");
    let first = ok(&lake, &["demo", "--no-serve"]);
    assert!(first.contains("generating a demo lake"), "{first}");
    assert!(
        first.contains("-- ASR, ACD and margin per wholesale customer"),
        "{first}"
    );
    assert!(
        first.contains("cust-"),
        "the wholesale example has rows: {first}"
    );
    assert!(first.contains("quarantined by reason"), "{first}");
    // The domain functions answer over the demo lake (the demo exits 1 if an example fails).
    for needle in [
        "-- US jurisdiction",
        "interstate",
        "| good",
        "-- Devices by vendor",
        "| poor",
    ] {
        assert!(first.contains(needle), "{needle} missing: {first}");
    }
    let second = ok(&lake, &["demo", "--no-serve"]);
    assert!(second.contains("using the existing lake"), "{second}");
    assert!(second.contains("ingested 0 new files"), "{second}");
}

/// Two ingests of the same landing files at the same time: Delta's conflict check on the
/// per-file app ids lets each file in once, whoever commits it.
#[tokio::test]
async fn two_concurrent_ingests_land_every_row_once() {
    for round in 0..3 {
        let dir = tempfile::tempdir().expect("tempdir");
        let lake = dir.path().join("lake");
        ok(
            &lake,
            &[
                "generate",
                "--tenants",
                "3",
                "--days",
                "8",
                "--calls-per-day",
                "800",
                "--files-per-day",
                "4",
                "--bad-rows",
                "0.01",
                "--seed",
                &round.to_string(),
            ],
        );
        let spawn = || {
            Command::new(BIN)
                .arg("--store")
                .arg(&lake)
                .args([
                    "ingest",
                    "--table",
                    "calls",
                    "--files-per-commit",
                    "2",
                    "--json",
                ])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn")
        };
        let (a, b) = (spawn(), spawn());
        let (a, b) = (
            a.wait_with_output().expect("a"),
            b.wait_with_output().expect("b"),
        );
        for out in [&a, &b] {
            assert!(
                matches!(out.status.code(), Some(0 | 3)),
                "round {round}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let sa: serde_json::Value = serde_json::from_slice(&a.stdout).expect("json");
        let sb: serde_json::Value = serde_json::from_slice(&b.stdout).expect("json");
        let files = sa["files_found"].as_i64().expect("n");
        assert_eq!(
            sa["files_ingested"].as_i64().expect("n") + sb["files_ingested"].as_i64().expect("n"),
            files,
            "round {round}: each file is ingested by exactly one of the two runs"
        );
        let (landed, _, _) = landed_totals(&lake).await;
        let t = query_json(
            &lake,
            "SELECT count(*) AS n, count(DISTINCT call_id) AS d FROM calls",
        );
        let q = query_json(
            &lake,
            "SELECT sum(rows) AS n, count(DISTINCT source_file || ':' || source_row) AS d, count(*) AS records FROM quarantine_calls",
        );
        let (n, quarantined) = (t["n"].as_i64().expect("n"), q["n"].as_i64().expect("n"));
        assert!(quarantined > 0);
        assert_eq!(
            n + quarantined,
            landed,
            "round {round}: table + quarantine = landed"
        );
        assert_eq!(t["d"].as_i64(), Some(n), "round {round}: no call twice");
        assert_eq!(q["d"], q["records"], "round {round}: no reject twice");
    }
}

#[test]
fn functions_command_matches_the_docs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let md = ok(dir.path(), &["functions", "--markdown"]);
    let docs = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/functions.md"
    ))
    .expect("docs/functions.md");
    assert!(
        docs.contains(&md),
        "docs/functions.md is out of date: regenerate its reference part with `cdrlake functions --markdown`"
    );
    let list = ok(dir.path(), &["functions"]);
    for name in [
        "quality_score",
        "jurisdiction",
        "max_concurrent",
        "license_use",
        "concurrency",
    ] {
        assert!(
            list.contains(name),
            "{name} missing from `cdrlake functions`:\n{list}"
        );
    }
}

#[test]
fn domain_functions_run_over_the_lake_and_rate_centers_load_from_csv() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("lake");
    let store = store.as_path();
    // Every session has the functions; SHOW FUNCTIONS describes them.
    let v = query_json(
        store,
        "SELECT jurisdiction('+12125550100', '+15185550100') AS j, rate_center('+12125550100') AS rc",
    );
    assert_eq!(v["j"], "intrastate");
    assert_eq!(v["rc"], serde_json::Value::Null);
    let shown = ok(
        store,
        &[
            "query",
            "--format",
            "csv",
            "SHOW FUNCTIONS LIKE 'quality_score'",
        ],
    );
    assert!(shown.contains("Call quality percentage"), "{shown}");

    // A bad file is refused with file, line and column, and nothing is loaded.
    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        "npa,nxx,rate_center,state,lata\n212,555,NWYRCYZN01,NY,132\n212,5x5,X,NY,132\n",
    )
    .expect("write");
    let out = cdrlake(
        store,
        &[
            "reference",
            "load",
            "rate_centers",
            bad.to_str().expect("path"),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.csv line 3, column nxx: '5x5'"), "{err}");
    assert!(!store.join("reference/rate_centers/_delta_log").exists());

    let good = dir.path().join("rc.csv");
    std::fs::write(
        &good,
        "npa,nxx,rate_center,state,lata\n212,555,NWYRCYZN01,NY,132\n518,555,ALBANY,NY,138\n",
    )
    .expect("write");
    let out = ok(
        store,
        &[
            "reference",
            "load",
            "rate_centers",
            good.to_str().expect("path"),
        ],
    );
    assert!(out.contains("loaded 2 NPA-NXX rows"), "{out}");
    let v = query_json(
        store,
        "SELECT rate_center('+12125550100') AS rc, jurisdiction_lata('+12125550100', '+15185550100') AS j, \
         (SELECT count(*) FROM rate_centers) AS n",
    );
    assert_eq!(v["rc"], "NWYRCYZN01");
    assert_eq!(v["j"], "interlata");
    assert_eq!(v["n"], 2);

    // Loading again replaces the table.
    std::fs::write(
        &good,
        "npa,nxx,rate_center,state,lata\n212,555,MANHATTAN,NY,132\n",
    )
    .expect("write");
    ok(
        store,
        &[
            "reference",
            "load",
            "rate_centers",
            good.to_str().expect("path"),
        ],
    );
    let v = query_json(
        store,
        "SELECT rate_center('+12125550100') AS rc, (SELECT count(*) FROM rate_centers) AS n",
    );
    assert_eq!(v["rc"], "MANHATTAN");
    assert_eq!(v["n"], 1);
}

#[test]
fn report_reference_matches_the_docs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let md = ok(&dir.path().join("lake"), &["report", "list", "--markdown"]);
    let docs = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/reports.md"
    ))
    .expect("docs/reports.md");
    assert!(
        docs.contains(&md),
        "docs/reports.md is out of date: regenerate its reference part with `cdrlake report list --markdown`"
    );
    assert!(md.contains("### `end_reasons` (v"));
}
