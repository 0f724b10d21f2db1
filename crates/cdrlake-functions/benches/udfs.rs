//! Benchmark of the cdrlake SQL functions (quality_score + quality_class, stream_class,
//! jurisdiction, max_concurrent) over the Parquet files that `benches/functions.py` generates.
//!
//! The script builds this bench, runs it after DuckDB's expression versions of the same queries
//! on the same files, and compares the answers; see `benches/README.md`. To run it alone on data
//! the script has generated (cargo runs it from the crate's folder: give an absolute path):
//!
//! ```sh
//! cargo bench -p cdrlake-functions --bench udfs -- \
//!     --data "$PWD/benches/data/functions-20000" --threads 2 --runs 1
//! ```
//!
//! It prints one JSON object on stdout: `{"queries": {name: {"runs_ms": [...], "median_ms": x,
//! "min_ms": y, "rows": [[...], ...]}}, ...}`, every value of `rows` as arrow formats it (a
//! string) or null; progress goes to stderr.

use std::error::Error;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use datafusion::arrow::array::Array;
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};
use serde_json::{Map, Value, json};

const USAGE: &str = "usage: udfs --data DIR [--threads N] [--runs N]
  --data DIR     folder with streams.parquet and calls.parquet (made by benches/functions.py)
  --threads N    target partitions and tokio worker threads (default 2)
  --runs N       timed runs after one warm-up (default 5)";

/// The benchmark queries, by the names `benches/functions.py` gives their DuckDB versions.
const QUERIES: &[(&str, &str)] = &[
    (
        "quality",
        "SELECT quality_class(score) AS cls, count(*) AS n, sum(score) AS score_sum \
         FROM (SELECT quality_score(loss_pct, jitter_ms, rtt_ms, codec) AS score FROM streams) AS s \
         GROUP BY 1 ORDER BY 1",
    ),
    (
        "stream_class",
        "SELECT media, stream_class(media, degradation_avg, rtt_avg_ms, loss_rate_avg, \
         jitter_avg_ms, concealed_ratio, frame_loss_pct, frame_rate_avg, post_fec_loss_rate, \
         spoiled_tile_pct, app_latency_ms, relative_one_way_delay_ms) AS cls, count(*) AS n \
         FROM streams GROUP BY 1, 2 ORDER BY 1, 2",
    ),
    (
        "jurisdiction",
        "SELECT jurisdiction(caller_number, callee_number) AS j, count(*) AS n \
         FROM calls GROUP BY 1 ORDER BY 1",
    ),
    (
        "max_concurrent_tenant",
        "SELECT tenant_id, max_concurrent(invite_time, end_time) AS peak \
         FROM calls GROUP BY tenant_id ORDER BY tenant_id",
    ),
    (
        "max_concurrent_all",
        "SELECT max_concurrent(invite_time, end_time) AS peak FROM calls",
    ),
];

/// An error that says what failed; `main` returning it prints the message as it is.
struct Failure(String);

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Error for Failure {}

fn fail(message: String) -> Box<dyn Error> {
    Box::new(Failure(message))
}

struct Args {
    data: PathBuf,
    threads: usize,
    runs: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut data = None;
    let mut threads = 2;
    let mut runs = 5;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .ok_or_else(|| format!("{name} needs a value\n{USAGE}"))
        };
        let positive = |name: &str, v: String| match v.parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!(
                "{name} wants a positive integer, not {v:?}\n{USAGE}"
            )),
        };
        match arg.as_str() {
            "--data" => data = Some(PathBuf::from(value("--data")?)),
            "--threads" => threads = positive("--threads", value("--threads")?)?,
            "--runs" => runs = positive("--runs", value("--runs")?)?,
            // `cargo bench` passes --bench to targets with `harness = false`.
            "--bench" => {}
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    let data = data.ok_or_else(|| format!("--data is required\n{USAGE}"))?;
    Ok(Args {
        data,
        threads,
        runs,
    })
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()
        .map_err(|e| fail(format!("cannot start the tokio runtime: {e}")))?;
    let out = runtime.block_on(run(&args))?;
    println!("{}", serde_json::to_string(&out)?);
    Ok(())
}

async fn run(args: &Args) -> Result<Value, Box<dyn Error>> {
    let config = SessionConfig::new().with_target_partitions(args.threads);
    let ctx = SessionContext::new_with_config(config);
    cdrlake_functions::register_all(&ctx)
        .map_err(|e| fail(format!("cdrlake_functions::register_all failed: {e}")))?;
    for table in ["streams", "calls"] {
        register(&ctx, table, &args.data.join(format!("{table}.parquet"))).await?;
    }

    let mut queries = Map::new();
    for (name, sql) in QUERIES {
        let mut runs_ms = Vec::with_capacity(args.runs);
        let mut rows = Vec::new();
        // Run 0 is the warm-up; its answer is the one reported.
        for run in 0..=args.runs {
            let start = Instant::now();
            let batches = ctx
                .sql(sql)
                .await
                .map_err(|e| fail(format!("query {name}: planning failed: {e}\n{sql}")))?
                .collect()
                .await
                .map_err(|e| fail(format!("query {name}: execution failed: {e}")))?;
            let ms = start.elapsed().as_secs_f64() * 1000.0;
            if run == 0 {
                rows = format_rows(&batches)
                    .map_err(|e| fail(format!("query {name}: cannot format the answer: {e}")))?;
            } else {
                runs_ms.push(ms);
            }
        }
        let (median_ms, min_ms) = median_min(&runs_ms);
        eprintln!("cdrlake {name}: median {median_ms:.1} ms, min {min_ms:.1} ms");
        queries.insert(
            (*name).to_string(),
            json!({"runs_ms": runs_ms, "median_ms": median_ms, "min_ms": min_ms, "rows": rows}),
        );
    }
    Ok(json!({
        "datafusion_version": datafusion::DATAFUSION_VERSION,
        "threads": args.threads,
        "runs": args.runs,
        "queries": queries,
    }))
}

async fn register(ctx: &SessionContext, table: &str, path: &Path) -> Result<(), Box<dyn Error>> {
    let path = std::fs::canonicalize(path).map_err(|e| {
        fail(format!(
            "{}: {e} (generate the data with benches/functions.py)",
            path.display()
        ))
    })?;
    let url = path
        .to_str()
        .ok_or_else(|| fail(format!("{}: not a UTF-8 path", path.display())))?;
    ctx.register_parquet(table, url, ParquetReadOptions::default())
        .await
        .map_err(|e| fail(format!("registering {table} from {url}: {e}")))?;
    Ok(())
}

/// Every row as a JSON array: each value as arrow formats it, or null.
fn format_rows(batches: &[RecordBatch]) -> Result<Vec<Value>, ArrowError> {
    let options = FormatOptions::default();
    let mut rows = Vec::new();
    for batch in batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|column| ArrayFormatter::try_new(column.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()?;
        for row in 0..batch.num_rows() {
            let mut values = Vec::with_capacity(formatters.len());
            for (column, formatter) in batch.columns().iter().zip(&formatters) {
                if column.is_null(row) {
                    values.push(Value::Null);
                } else {
                    values.push(Value::String(formatter.value(row).try_to_string()?));
                }
            }
            rows.push(Value::Array(values));
        }
    }
    Ok(rows)
}

/// The median (mean of the middle two for an even count) and the minimum.
fn median_min(values: &[f64]) -> (f64, f64) {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    let median = if n.is_multiple_of(2) {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    } else {
        sorted[n / 2]
    };
    (median, sorted[0])
}
