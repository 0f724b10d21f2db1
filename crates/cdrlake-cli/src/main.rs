//! `cdrlake`: the command-line entry point.

mod jobs_cmd;
mod output;
mod server_cmd;
mod xlsx;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use cdrlake_engine::EngineOptions;
use cdrlake_ingest::{EXIT_FAILED, IngestOptions};
use cdrlake_store::Store;
use clap::{Parser, Subcommand, ValueEnum};

use output::Format;

const ABOUT: &str = "cdrlake: an analytics engine for call detail records.

Pipelines drop CDRs (Parquet, CSV, JSON Lines) under <store>/landing/<table>/; `cdrlake ingest`
validates them into Delta tables under <store>/tables/ (rejected rows go to
<store>/quarantine/), and `cdrlake query` answers SQL over them.";

const AFTER: &str = "Exit codes: 0 success; 1 failure; 2 bad command line; 3 (ingest) finished, but some rows or files were quarantined.

Examples:
  cdrlake demo
  cdrlake generate --tenants 20 --days 30 --calls-per-day 50000
  cdrlake ingest --json
  cdrlake query \"SELECT disposition, count(*) FROM calls GROUP BY 1 ORDER BY 2 DESC\"
  cdrlake query \"SELECT jurisdiction(caller_number, callee_number) AS j, count(*) FROM calls GROUP BY j\"
  cdrlake reference load rate_centers rate_centers.csv
  cdrlake functions
  printf '%s\\n' \"$PW\" | cdrlake user add acme --role tenant_admin --tenant acme --password-stdin
  cdrlake serve --listen 127.0.0.1:50051
  cdrlake --store s3://bucket/lake query \"SHOW TABLES\"";

#[derive(Parser, Debug)]
#[command(name = "cdrlake", version, about = ABOUT, after_help = AFTER)]
struct Cli {
    /// Where the lake is: a local directory or s3://bucket/prefix (S3 is configured by the
    /// standard AWS_* environment variables, e.g. AWS_ENDPOINT_URL and AWS_ALLOW_HTTP=true).
    #[arg(long, global = true, env = "CDRLAKE_STORE", default_value = cdrlake_store::DEFAULT_STORE)]
    store: String,

    /// Threads to use (0 = one per core).
    #[arg(long, global = true, default_value_t = 0)]
    threads: usize,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Generate a demo lake if absent, ingest it, show example queries, then serve it over
    /// Flight SQL (with demo users) until Ctrl-C.
    Demo(server_cmd::DemoArgs),
    /// Generate realistic, deterministic CDRs as landing Parquet.
    Generate(GenerateArgs),
    /// Validate landed files into the Delta tables; rejected rows go to quarantine.
    ///
    /// Every landed file is ingested exactly once, however often ingest runs or is killed.
    Ingest(IngestArgs),
    /// Run SQL over the lake's tables (SHOW TABLES lists them).
    Query(QueryArgs),
    /// Merge small data files into sorted files of a target size, per partition, each
    /// partition in one atomic Delta commit. Safe beside ingest, queries and other compactions.
    Compact(jobs_cmd::CompactArgs),
    /// Delete data files no longer referenced (removed by compaction or retention, or written
    /// by a killed job), after a grace period for running queries.
    Vacuum(jobs_cmd::VacuumArgs),
    /// Apply each tenant's retention period.
    #[command(subcommand)]
    Retention(jobs_cmd::RetentionCommand),
    /// Refresh or verify the rollups dashboards read (calls_hourly, ims_hourly,
    /// team_calls_hourly, activity_hourly, logins_hourly, ratings_hourly, calls_daily,
    /// calls_by_number, conference_legs, concurrency_slots).
    #[command(subcommand)]
    Rollup(jobs_cmd::RollupCommand),
    /// Serve the lake, its reports and functions over Arrow Flight SQL (ADBC, JDBC,
    /// pyarrow.flight, BI tools), with users, roles and tenant isolation.
    Serve(Box<server_cmd::ServeArgs>),
    /// Manage the users of `cdrlake serve`: add, passwd, token, disable, enable, unlock, list.
    User(server_cmd::UserArgs),
    /// List and run the reports (versioned SQL views; also `reports.*` in SQL).
    #[command(subcommand)]
    Report(ReportCommand),
    /// Load a user-supplied reference table into the store.
    #[command(subcommand)]
    Reference(ReferenceCommand),
    /// List cdrlake's SQL functions (also: SHOW FUNCTIONS in SQL, docs/functions.md).
    Functions {
        /// As the Markdown of docs/functions.md.
        #[arg(long)]
        markdown: bool,
    },
    /// Print the canonical schema.
    Schema {
        /// As the Markdown of docs/schema.md.
        #[arg(long)]
        markdown: bool,
    },
}

#[derive(Subcommand, Debug)]
enum ReportCommand {
    /// List every report: name, latest version, parameters, title (docs/reports.md has more).
    List {
        /// Every version, not only the latest.
        #[arg(long)]
        all: bool,
        /// One JSON object per version, as reports.catalog has it.
        #[arg(long)]
        json: bool,
        /// The report reference of docs/reports.md (latest versions, with their columns).
        #[arg(long, conflicts_with = "json")]
        markdown: bool,
    },
    /// Run a report and write its rows.
    ///
    /// Periods are tenant-local: --from 2026-03-01 --to 2026-04-01 is March in each tenant's own
    /// time zone (from inclusive, to exclusive). Options a report has no parameter for are
    /// refused; --param NAME=VALUE sets any other parameter (see `cdrlake report list`).
    Run(Box<ReportRunArgs>),
}

#[derive(clap::Args, Debug)]
struct ReportRunArgs {
    /// The report, e.g. breakout.
    name: String,
    /// Run this version instead of the latest.
    #[arg(long)]
    version: Option<u32>,
    /// Start of the period, tenant-local (2026-03-01 or 2026-03-01T08:00:00), inclusive.
    #[arg(long)]
    from: Option<String>,
    /// End of the period, tenant-local, exclusive.
    #[arg(long)]
    to: Option<String>,
    /// Only this tenant (repeatable).
    #[arg(long)]
    tenant: Vec<String>,
    /// Only this wholesale customer (repeatable).
    #[arg(long)]
    customer: Vec<String>,
    /// Only this wholesale provider (repeatable).
    #[arg(long)]
    provider: Vec<String>,
    /// Any other parameter, NAME=VALUE (repeatable).
    #[arg(long = "param", value_name = "NAME=VALUE")]
    params: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: ReportFormat,
    /// CSV field delimiter.
    #[arg(long, default_value = ",", value_parser = ["," , "|"])]
    delimiter: String,
    /// Write to this file instead of stdout (required for parquet and xlsx).
    #[arg(long, short)]
    output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ReportFormat {
    Table,
    Csv,
    Json,
    Parquet,
    Xlsx,
}

#[derive(Subcommand, Debug)]
enum ReferenceCommand {
    /// Replace a reference table with a CSV file, in one atomic commit.
    ///
    /// rate_centers: NPA-NXX -> rate center, state and LATA (from NANPA's central-office code
    /// records, or the LERG if you license it). The CSV needs a header with the columns npa,
    /// nxx, rate_center, state and lata (any order; other columns are ignored). Every row is
    /// checked; the first bad value is reported with its line and column and nothing is
    /// loaded. Used by rate_center(), lata() and jurisdiction_lata().
    Load {
        /// The table to load.
        #[arg(value_enum)]
        table: ReferenceTable,
        /// The CSV file.
        file: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ReferenceTable {
    #[value(name = "rate_centers")]
    RateCenters,
}

#[derive(clap::Args, Debug)]
struct GenerateArgs {
    /// Number of tenants.
    #[arg(long, default_value_t = 8)]
    tenants: usize,
    /// Number of days.
    #[arg(long, default_value_t = 14)]
    days: u32,
    /// Calls per weekday over all tenants (weekends are quieter).
    #[arg(long, default_value_t = 2_000, conflicts_with = "calls")]
    calls_per_day: u64,
    /// Total calls (approximately) instead of --calls-per-day.
    #[arg(long)]
    calls: Option<u64>,
    /// Random seed: the same seed and options give the same data.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// First day (YYYY-MM-DD), in each tenant's time zone.
    #[arg(long, default_value = "2026-10-01")]
    start: chrono::NaiveDate,
    /// Files per table and day.
    #[arg(long, default_value_t = 1)]
    files_per_day: usize,
    /// Fraction of call rows to make invalid on purpose (to see quarantine at work).
    #[arg(long, default_value_t = 0.0)]
    bad_rows: f64,
    /// Where to write (a store location); default: the --store's landing folders.
    #[arg(long)]
    out: Option<String>,
    /// Print a JSON summary.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
struct IngestArgs {
    /// Only these tables (repeatable); default all.
    #[arg(long = "table", value_name = "TABLE")]
    tables: Vec<String>,
    /// Local Parquet, CSV or JSON Lines files with the canonical columns, ingested into the
    /// one --table given.
    paths: Vec<PathBuf>,
    /// Print a JSON summary on stdout instead of text.
    #[arg(long)]
    json: bool,
    /// At most this many files per Delta commit (smaller = more, smaller commits).
    #[arg(long, default_value_t = cdrlake_ingest::GROUP_FILES)]
    files_per_commit: usize,
    /// Do not refresh the rollups afterwards (`cdrlake rollup refresh` catches up later).
    #[arg(long)]
    no_rollups: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum QueryFormat {
    Table,
    Csv,
    Json,
    Jsonl,
    Parquet,
}

#[derive(clap::Args, Debug)]
struct QueryArgs {
    /// The SQL to run.
    sql: String,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: QueryFormat,
    /// Write to this file instead of stdout (required for parquet).
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// Run the query N times in one session and print, as one JSON object on stderr, each
    /// run's seconds (planning and execution, not opening the lake) and CPU seconds, the
    /// peak resident memory over the runs and the row count; the last result is written as
    /// usual. For benchmarks.
    #[arg(long, value_name = "N")]
    repeat: Option<usize>,
    /// A session setting for the query, KEY=VALUE, as `SET KEY = VALUE` would (repeatable):
    /// `--set cdrlake.concurrency_use_rollup=false`, `--set datafusion.execution.batch_size=4096`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    settings: Vec<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(EXIT_FAILED as u8);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            eprintln!("error: {}", error_text(&e));
            ExitCode::from(EXIT_FAILED as u8)
        }
    }
}

/// The error and its causes, leaving out causes whose text the message already contains
/// (many library errors repeat their source in their own message).
fn error_text(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let msg = cause.to_string();
        if !text.contains(&msg) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&msg);
        }
    }
    text
}

async fn run(cli: Cli) -> Result<i32> {
    let engine = EngineOptions {
        target_partitions: cli.threads,
    };
    match cli.command {
        Command::Schema { markdown } => {
            if markdown {
                print!("{}", cdrlake_schema::markdown());
            } else {
                for t in cdrlake_schema::TABLES {
                    println!("{}", t.name);
                    for c in t.columns {
                        println!("  {:<28} {}", c.name, c.ty.doc_name());
                    }
                }
            }
            Ok(0)
        }
        Command::Generate(args) => {
            let store = Store::open(args.out.as_deref().unwrap_or(&cli.store))?;
            let opts = generate_options(&args, cli.threads)?;
            let bar = progress(!args.json).map(days_style);
            let s = cdrlake_generate::generate(&store, opts, bar.clone()).await?;
            if let Some(b) = bar {
                b.finish_and_clear();
            }
            if args.json {
                println!("{}", serde_json::to_string_pretty(&s)?);
            } else {
                println!(
                    "generated {} files ({:.1} MB) in {:.1} s into {}/landing:",
                    s.files,
                    s.bytes as f64 / 1e6,
                    s.seconds,
                    store.location()
                );
                for (table, rows) in &s.rows {
                    println!("  {table:<14} {rows:>12} rows");
                }
            }
            Ok(0)
        }
        Command::Ingest(args) => {
            let store = Store::open(&cli.store)?;
            let s = ingest(
                cli.threads,
                &store,
                &args.tables,
                args.paths,
                !args.json,
                args.files_per_commit,
            )
            .await?;
            if !args.json {
                print_ingest_summary(&s);
            }
            let rollups = if args.no_rollups {
                None
            } else {
                Some(jobs_cmd::refresh_after(&store, args.json).await?)
            };
            if args.json {
                let mut v = serde_json::to_value(&s)?;
                if let (Some(r), Some(obj)) = (&rollups, v.as_object_mut()) {
                    obj.insert("rollups".into(), serde_json::to_value(r)?);
                }
                println!("{}", serde_json::to_string_pretty(&v)?);
            }
            let code = match &rollups {
                Some(r) if s.exit_code == 0 => r.exit_code,
                _ => s.exit_code,
            };
            Ok(code)
        }
        Command::Compact(args) => {
            let store = Store::open(&cli.store)?;
            jobs_cmd::compact(&store, cli.threads, args).await
        }
        Command::Vacuum(args) => {
            let store = Store::open(&cli.store)?;
            jobs_cmd::vacuum(&store, args).await
        }
        Command::Retention(cmd) => {
            let store = Store::open(&cli.store)?;
            jobs_cmd::retention(&store, cmd).await
        }
        Command::Rollup(cmd) => {
            let store = Store::open(&cli.store)?;
            jobs_cmd::rollup(&store, cmd).await
        }
        Command::Query(args) => {
            let store = Store::open(&cli.store)?;
            let ctx = cdrlake_engine::open(&store, &engine).await?;
            for kv in &args.settings {
                let Some((key, value)) = kv.split_once('=') else {
                    bail!("--set {kv}: expected KEY=VALUE");
                };
                let state = ctx.state_ref();
                let mut state = state.write();
                state
                    .config_mut()
                    .options_mut()
                    .set(key.trim(), value.trim())
                    .with_context(|| format!("--set {kv}"))?;
            }
            let format = match args.format {
                QueryFormat::Table => Format::Table,
                QueryFormat::Csv => Format::Csv,
                QueryFormat::Json => Format::Json,
                QueryFormat::Jsonl => Format::JsonLines,
                QueryFormat::Parquet => Format::Parquet,
            };
            match args.repeat {
                Some(n) => {
                    output::run_query_timed(
                        &ctx,
                        &args.sql,
                        n,
                        format,
                        b',',
                        args.output.as_deref(),
                    )
                    .await?
                }
                None => {
                    output::run_query(&ctx, &args.sql, format, b',', args.output.as_deref()).await?
                }
            }
            Ok(0)
        }
        Command::Report(ReportCommand::List {
            all,
            json,
            markdown,
        }) => {
            if markdown {
                let store = Store::open(&cli.store)?;
                let ctx = cdrlake_engine::open(&store, &engine).await?;
                print!("{}", reports_markdown(&ctx).await?);
            } else {
                report_list(all, json)?;
            }
            Ok(0)
        }
        Command::Report(ReportCommand::Run(args)) => {
            let catalog = cdrlake_engine::report_catalog()?;
            let (report, sql) = report_sql(&catalog, &args)?;
            let store = Store::open(&cli.store)?;
            let ctx = cdrlake_engine::open(&store, &engine).await?;
            let format = match args.format {
                ReportFormat::Table => Format::Table,
                ReportFormat::Csv => Format::Csv,
                ReportFormat::Json => Format::Json,
                ReportFormat::Parquet => Format::Parquet,
                ReportFormat::Xlsx => Format::Xlsx,
            };
            let delimiter = args.delimiter.as_bytes().first().copied().unwrap_or(b',');
            output::run_query(&ctx, &sql, format, delimiter, args.output.as_deref())
                .await
                .with_context(|| format!("report {} v{}", report.name, report.version))?;
            Ok(0)
        }
        Command::Demo(args) => {
            let code = demo(&cli.store, &engine).await?;
            if code != 0 || args.no_serve {
                return Ok(code);
            }
            server_cmd::demo_serve(&cli.store, args, engine).await
        }
        Command::Serve(args) => server_cmd::serve(&cli.store, *args, engine).await,
        Command::User(args) => server_cmd::user(args),
        Command::Reference(ReferenceCommand::Load { table, file }) => {
            let store = Store::open(&cli.store)?;
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let name = file.display().to_string();
            match table {
                ReferenceTable::RateCenters => {
                    let rows = cdrlake_engine::load_rate_centers(&store, &text, &name).await?;
                    println!(
                        "loaded {rows} NPA-NXX rows into {}",
                        store.reference_url(cdrlake_engine::RATE_CENTERS)
                    );
                }
            }
            Ok(0)
        }
        Command::Functions { markdown } => {
            if markdown {
                print!("{}", cdrlake_functions::functions_markdown());
            } else {
                for f in cdrlake_functions::function_docs() {
                    println!("{:<22} {:<9} {}", f.name, f.kind, f.doc.syntax_example);
                }
            }
            Ok(0)
        }
    }
}

fn report_list(all: bool, json: bool) -> Result<()> {
    let catalog = cdrlake_engine::report_catalog()?;
    for r in catalog.reports.iter().filter(|r| all || r.latest) {
        if json {
            let v = serde_json::json!({
                "name": r.name, "version": r.version, "latest": r.latest, "title": r.title,
                "description": r.description, "seed": r.seed, "usage": r.usage(),
                "parameters": r.params, "file": r.path(),
            });
            println!("{v}");
        } else {
            println!("{:<26} v{:<3} {}", r.name, r.version, r.title);
            let params: Vec<String> = r
                .params
                .iter()
                .map(|p| format!("{} {} = {}", p.name, p.ty.name(), p.default))
                .collect();
            println!("{:<31} {}", "", params.join("; "));
        }
    }
    Ok(())
}

/// The report reference: every latest report with its parameters and columns.
async fn reports_markdown(ctx: &datafusion::prelude::SessionContext) -> Result<String> {
    use datafusion::arrow::array::AsArray;
    use std::fmt::Write as _;
    let catalog = cdrlake_engine::report_catalog()?;
    let batches = cdrlake_engine::sql(
        ctx,
        "SELECT name, version, columns FROM reports.catalog WHERE latest",
    )
    .await?
    .collect()
    .await?;
    let mut columns = std::collections::HashMap::new();
    for b in &batches {
        let names = b.column(0).as_string::<i32>();
        let cols = b.column(2).as_string::<i32>();
        for i in 0..b.num_rows() {
            columns.insert(names.value(i).to_string(), cols.value(i).to_string());
        }
    }
    let mut md = String::new();
    for r in catalog.latest() {
        let _ = writeln!(md, "### `{}` (v{}): {}\n", r.name, r.version, r.title);
        let _ = writeln!(md, "{}\n", r.description);
        let _ = writeln!(md, "Seed: {}. Call: `{}`.\n", r.seed, r.usage());
        if !r.params.is_empty() {
            md.push_str("| parameter | type | default | meaning |\n|---|---|---|---|\n");
            for p in &r.params {
                let _ = writeln!(
                    md,
                    "| `{}` | {} | `{}` | {} |",
                    p.name,
                    p.ty.name(),
                    p.default.replace('|', "\\|"),
                    p.description.replace('|', "\\|")
                );
            }
            md.push('\n');
        }
        let cols: Vec<serde_json::Value> = columns
            .get(&r.name)
            .and_then(|c| serde_json::from_str(c).ok())
            .unwrap_or_default();
        let list: Vec<String> = cols
            .iter()
            .map(|c| {
                format!(
                    "`{}` {}",
                    c["name"].as_str().unwrap_or(""),
                    c["type"].as_str().unwrap_or("")
                )
            })
            .collect();
        let _ = writeln!(md, "Columns: {}.\n", list.join(", "));
    }
    Ok(md)
}

/// The SQL that runs a report with the command line's arguments.
fn report_sql(
    catalog: &cdrlake_reports::Catalog,
    args: &ReportRunArgs,
) -> Result<(std::sync::Arc<cdrlake_reports::Report>, String)> {
    let Some(report) = catalog.get(&args.name, args.version) else {
        let known: Vec<&str> = catalog.latest().map(|r| r.name.as_str()).collect();
        match args.version {
            Some(v) if catalog.get(&args.name, None).is_some() => {
                bail!("report {} has no version {v}", args.name)
            }
            _ => bail!(
                "no report named {}; the reports are: {}",
                args.name,
                known.join(", ")
            ),
        }
    };
    let mut values: Vec<Option<String>> = vec![None; report.params.len()];
    let mut set = |name: &str, value: String, flag: &str| -> Result<()> {
        let Some((i, _)) = report.param(name) else {
            let names: Vec<&str> = report.params.iter().map(|p| p.name.as_str()).collect();
            bail!(
                "report {} has no parameter {name} (given by {flag}); its parameters are: {}",
                report.name,
                names.join(", ")
            );
        };
        values[i] = Some(value);
        Ok(())
    };
    if let Some(v) = &args.from {
        set("from", v.clone(), "--from")?;
    }
    if let Some(v) = &args.to {
        set("to", v.clone(), "--to")?;
    }
    for (name, list) in [
        ("tenant", &args.tenant),
        ("customer", &args.customer),
        ("provider", &args.provider),
    ] {
        if !list.is_empty() {
            set(name, list.join(","), &format!("--{name}"))?;
        }
    }
    for p in &args.params {
        let Some((name, value)) = p.split_once('=') else {
            bail!("--param {p}: expected NAME=VALUE");
        };
        set(name.trim(), value.to_string(), "--param")?;
    }
    let mut literals = Vec::new();
    for (v, p) in values.iter().zip(&report.params) {
        let scalar = datafusion::common::ScalarValue::Utf8(v.clone());
        let lit = cdrlake_reports::literal_sql(p.ty, &scalar)
            .map_err(|e| anyhow::anyhow!("report {}: parameter {}: {e}", report.name, p.name))?;
        literals.push(if v.is_some() { lit } else { "NULL".to_string() });
    }
    while literals.last().is_some_and(|l| l == "NULL") {
        literals.pop();
    }
    let sql = format!(
        "SELECT * FROM reports.{}({})",
        report.versioned_name(),
        literals.join(", ")
    );
    Ok((report, sql))
}

fn generate_options(
    args: &GenerateArgs,
    threads: usize,
) -> Result<cdrlake_generate::GenerateOptions> {
    let mut o = cdrlake_generate::GenerateOptions {
        tenants: args.tenants,
        days: args.days,
        calls_per_day: args.calls_per_day,
        seed: args.seed,
        start: args.start,
        files_per_day: args.files_per_day,
        bad_rows: args.bad_rows,
        ..Default::default()
    };
    if threads > 0 {
        o.threads = threads;
    }
    if let Some(total) = args.calls {
        if args.days == 0 {
            bail!("--days must be at least 1");
        }
        // Weekends carry about a third of a weekday's calls: 5 + 2 * 0.3 = 5.6 weekday-equivalents a week.
        o.calls_per_day = ((total as f64) / (args.days as f64 * 5.6 / 7.0)).ceil() as u64;
    }
    Ok(o)
}

/// The tables named with `--table`, or an error naming the unknown one and the valid names.
fn table_defs(names: &[String]) -> Result<Vec<&'static cdrlake_schema::TableDef>> {
    names
        .iter()
        .map(|t| {
            cdrlake_schema::table(t).with_context(|| {
                format!(
                    "unknown table '{t}'; tables are: {}",
                    cdrlake_schema::table_names().join(", ")
                )
            })
        })
        .collect()
}

/// A progress bar in bytes, on a terminal only.
fn progress(enabled: bool) -> Option<indicatif::ProgressBar> {
    styled_bar(
        enabled,
        "{spinner} {msg:>14} [{bar:40}] {bytes}/{total_bytes} {elapsed}",
    )
}

/// A progress bar with `template`, when enabled and stderr is a terminal.
fn styled_bar(enabled: bool, template: &str) -> Option<indicatif::ProgressBar> {
    if !enabled || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(0);
    if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    Some(bar)
}

/// The generator counts days, not bytes.
fn days_style(bar: indicatif::ProgressBar) -> indicatif::ProgressBar {
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{spinner} {msg:>14} [{bar:40}] {pos}/{len} days {elapsed}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

async fn ingest(
    threads: usize,
    store: &Store,
    tables: &[String],
    paths: Vec<PathBuf>,
    show_progress: bool,
    files_per_commit: usize,
) -> Result<cdrlake_ingest::IngestSummary> {
    let defs = table_defs(tables)?;
    if !paths.is_empty() && defs.len() != 1 {
        bail!("files given on the command line need exactly one --table to go into");
    }
    let opts = IngestOptions {
        tables: if defs.is_empty() {
            cdrlake_schema::TABLES.iter().collect()
        } else {
            defs
        },
        paths,
        progress: progress(show_progress),
        files_per_commit,
        threads,
    };
    let bar = opts.progress.clone();
    let s = cdrlake_ingest::ingest(store, opts).await?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok(s)
}

fn print_ingest_summary(s: &cdrlake_ingest::IngestSummary) {
    println!(
        "ingested {} new files ({} already ingested) in {:.1} s: {} rows in, {} ingested, {} quarantined",
        s.files_ingested,
        s.files_already_ingested,
        s.seconds,
        s.rows_in,
        s.rows_ingested,
        s.rows_quarantined
    );
    for t in s.tables.iter().filter(|t| t.files_found > 0) {
        println!(
            "  {:<14} files {:>5} new / {:>5} found  rows {:>10} in {:>10} ingested {:>7} quarantined",
            t.table,
            t.files_ingested,
            t.files_found,
            t.rows_in,
            t.rows_ingested,
            t.rows_quarantined
        );
    }
    if !s.rows_quarantined_by_reason.is_empty() {
        println!("  quarantined by reason:");
        for (reason, n) in &s.rows_quarantined_by_reason {
            println!("    {reason:<20} {n:>8}");
        }
        println!("  see them with: cdrlake query \"SELECT * FROM quarantine_calls LIMIT 20\"");
    }
}

async fn demo(location: &str, engine: &EngineOptions) -> Result<i32> {
    let store = Store::open(location)?;
    let landing = Store::landing_prefix("calls");
    let has_landing = futures::StreamExt::next(&mut store.object_store().list(Some(&landing)))
        .await
        .is_some();
    if !has_landing {
        let today = chrono::Utc::now().date_naive();
        let opts = cdrlake_generate::GenerateOptions {
            tenants: 6,
            days: 28,
            calls_per_day: 3_000,
            start: today - chrono::Duration::days(28),
            bad_rows: 0.001,
            ..Default::default()
        };
        println!(
            "generating a demo lake in {} ({} tenants, {} days, ~{} calls a weekday) ...",
            store.location(),
            opts.tenants,
            opts.days,
            opts.calls_per_day
        );
        let g = cdrlake_generate::generate(&store, opts, progress(true).map(days_style)).await?;
        println!(
            "  {} landing files, {:.1} MB",
            g.files,
            g.bytes as f64 / 1e6
        );
    } else {
        println!("using the existing lake in {}", store.location());
    }
    let s = ingest(
        engine.target_partitions,
        &store,
        &[],
        vec![],
        true,
        cdrlake_ingest::GROUP_FILES,
    )
    .await?;
    print_ingest_summary(&s);
    let ctx = cdrlake_engine::open(&store, engine).await?;
    let examples = [
        ("The tables", "SHOW TABLES"),
        (
            "The reports (cdrlake report list; docs/reports.md)",
            "SELECT name, version, title, usage FROM reports.catalog WHERE latest ORDER BY name",
        ),
        (
            "A report: breakout per customer and provider over the last 7 days (tenant-local)",
            "SELECT tenant_id, customer, provider, attempts, asr_pct, acd_s, charge, cost, profit, margin_pct \
             FROM reports.breakout(now() - INTERVAL '7 days', now()) ORDER BY profit DESC LIMIT 5",
        ),
        (
            "Calls by outcome",
            "SELECT disposition, count(*) AS calls, sum(billable_s) / 60 AS minutes FROM calls GROUP BY disposition ORDER BY calls DESC",
        ),
        (
            "ASR, ACD and margin per wholesale customer (ratios over the whole period)",
            "SELECT customer, count(*) AS attempts, \
             round(100.0 * avg(CASE WHEN disposition = 'answered' THEN 1 ELSE 0 END), 1) AS asr_pct, \
             round(sum(billable_s) / nullif(sum(CASE WHEN disposition = 'answered' THEN 1 ELSE 0 END), 0), 1) AS acd_s, \
             sum(customer_charge) AS charge, sum(provider_cost) AS cost, \
             sum(customer_charge) - sum(provider_cost) AS profit \
             FROM calls WHERE customer IS NOT NULL GROUP BY customer ORDER BY charge DESC",
        ),
        (
            "Streams by Call Quality Dashboard class, with the rule that made them poor",
            "SELECT media, stream_class(media, degradation_avg, rtt_avg_ms, loss_rate_avg, jitter_avg_ms, \
             concealed_ratio, frame_loss_pct, frame_rate_avg, post_fec_loss_rate, spoiled_tile_pct, \
             app_latency_ms, relative_one_way_delay_ms) AS class, \
             poor_reason(media, degradation_avg, rtt_avg_ms, loss_rate_avg, jitter_avg_ms, \
             concealed_ratio, frame_loss_pct, frame_rate_avg, post_fec_loss_rate, spoiled_tile_pct, \
             app_latency_ms, relative_one_way_delay_ms) AS reason, count(*) AS streams \
             FROM streams GROUP BY 1, 2, 3 ORDER BY 1, 2, streams DESC",
        ),
        (
            "Audio call quality (score %: good >= 91, marginal 86-90, poor < 86)",
            "SELECT quality_class(quality_score(loss_rate_avg * 100, jitter_avg_ms, rtt_avg_ms, codec)) AS quality, \
             count(*) AS streams, round(avg(mos(rtt_avg_ms, jitter_avg_ms, loss_rate_avg * 100)), 2) AS avg_mos \
             FROM streams WHERE media = 'audio' GROUP BY 1 ORDER BY 1",
        ),
        (
            "US jurisdiction of PSTN calls (number-based)",
            "SELECT jurisdiction(caller_number, callee_number) AS jurisdiction, \
             jurisdiction_reason(caller_number, callee_number) AS reason, count(*) AS calls \
             FROM calls WHERE callee_number IS NOT NULL GROUP BY 1, 2 ORDER BY calls DESC",
        ),
        (
            "Devices by vendor",
            "SELECT device_vendor(user_agent) AS vendor, count(*) AS calls FROM calls \
             WHERE user_agent IS NOT NULL GROUP BY 1 ORDER BY calls DESC LIMIT 8",
        ),
        (
            "Peak concurrent connected calls and licence decisions per tenant",
            "SELECT tenant_id, max(licenses) AS licenses, max_concurrent(answer_time, end_time) AS peak, \
             count(*) FILTER (WHERE d = 'surged') AS surged, count(*) FILTER (WHERE d = 'rejected') AS rejected \
             FROM (SELECT c.tenant_id, c.answer_time, c.end_time, t.licenses, \
                   license_use(c.answer_time, c.end_time, t.licenses) OVER (PARTITION BY c.tenant_id ORDER BY c.answer_time, c.call_id) AS d \
                   FROM calls c JOIN (SELECT tenant_id, max(licenses) AS licenses FROM tenants GROUP BY tenant_id) t \
                   ON c.tenant_id = t.tenant_id WHERE c.answer_time IS NOT NULL) \
             GROUP BY tenant_id ORDER BY tenant_id",
        ),
        (
            "Busiest local hours of the last week (total joined, max concurrent)",
            "SELECT tenant_id, bucket_local AS hour, total_joined, max_concurrent \
             FROM concurrency('hour', now() - INTERVAL '7 days', now()) \
             ORDER BY max_concurrent DESC, total_joined DESC LIMIT 5",
        ),
        (
            "Rows ingest rejected, by reason",
            "SELECT kind, column_name, sum(rows) AS rows, min(reason) AS example FROM quarantine_calls GROUP BY kind, column_name ORDER BY rows DESC",
        ),
    ];
    let mut failed = 0;
    for (title, sql) in examples {
        println!("\n-- {title}\n{sql};");
        if let Err(e) = output::run_query(&ctx, sql, Format::Table, b',', None).await {
            eprintln!("error: example '{title}' failed: {e:#}");
            failed += 1;
        }
    }
    println!(
        "\nTry your own: cdrlake --store {} query \"SELECT * FROM calls LIMIT 5\"",
        store.location()
    );
    drop(ctx);
    Ok(if failed > 0 { EXIT_FAILED } else { 0 })
}
