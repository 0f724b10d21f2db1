//! Runs every sqllogictest file in `tests/slt/` against a session with cdrlake's functions,
//! using DataFusion's own sqllogictest engine (crate `datafusion-sqllogictest`).
//!
//! Files whose name starts with `lata` also get the rate-center reference table of
//! `tests/slt/rate_centers.csv`; the others run without one (as a lake where nobody loaded it).
//!
//! `cargo test -p cdrlake-functions --test slt -- FILTER` runs the files whose name contains
//! FILTER.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use cdrlake_functions::{RateCenters, Reference, register_all_with};
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_sqllogictest::{DataFusion, df_value_validator, value_normalizer};

fn session(file: &Path) -> Result<SessionContext, String> {
    let config = SessionConfig::new()
        .with_information_schema(true)
        .with_default_catalog_and_schema("cdrlake", "lake")
        .with_create_default_catalog_and_schema(true)
        .with_target_partitions(2);
    // As in every cdrlake session (cdrlake-engine): 0.012 is an exact decimal, not a float.
    let mut config = config;
    config.options_mut().sql_parser.parse_float_as_decimal = true;
    let ctx = SessionContext::new_with_config(config);
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let mut reference = Reference::default();
    if name.starts_with("lata") {
        let csv_path = file.with_file_name("rate_centers.csv");
        let text = std::fs::read_to_string(&csv_path)
            .map_err(|e| format!("{}: {e}", csv_path.display()))?;
        let batch = RateCenters::parse_csv(&text, "rate_centers.csv")?;
        let rc = RateCenters::from_batches(&[batch]).map_err(|e| e.to_string())?;
        reference.rate_centers = Some(Arc::new(rc));
    }
    register_all_with(&ctx, &reference).map_err(|e| e.to_string())?;
    Ok(ctx)
}

async fn run(file: PathBuf) -> Result<(), String> {
    let ctx = session(&file)?;
    let rel = PathBuf::from(file.file_name().unwrap_or_default());
    let mut runner = sqllogictest::Runner::new(move || {
        let ctx = ctx.clone();
        let rel = rel.clone();
        async move { Ok(DataFusion::new(ctx, rel, indicatif::ProgressBar::hidden())) }
    });
    runner.with_column_validator(sqllogictest::strict_column_validator);
    runner.with_normalizer(value_normalizer);
    runner.with_validator(df_value_validator);
    runner
        .run_file_async(&file)
        .await
        .map_err(|e| format!("{}:\n{e}", file.display()))
}

fn main() -> ExitCode {
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slt");
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "slt"))
            .filter(|p| {
                filter
                    .as_deref()
                    .is_none_or(|f| p.to_string_lossy().contains(f))
            })
            .collect(),
        Err(e) => {
            eprintln!("cannot read {}: {e}", dir.display());
            return ExitCode::FAILURE;
        }
    };
    files.sort();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut failed = 0;
    for file in &files {
        match runtime.block_on(run(file.clone())) {
            Ok(()) => println!("ok   {}", file.display()),
            Err(e) => {
                failed += 1;
                println!("FAIL {e}");
            }
        }
    }
    println!("{} files, {failed} failed", files.len());
    if failed > 0 || files.is_empty() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
