//! `cdrlake compact`, `vacuum`, `retention apply` and `rollup refresh|verify`.

use anyhow::{Context, Result};
use cdrlake_jobs::compact::CompactOptions;
use cdrlake_jobs::retention::RetentionOptions;
use cdrlake_jobs::vacuum::VacuumOptions;
use cdrlake_store::Store;

#[derive(clap::Args, Debug)]
pub struct CompactArgs {
    /// Only this table (repeatable); default every table.
    #[arg(long = "table", value_name = "TABLE")]
    tables: Vec<String>,
    /// Only partitions (event dates, UTC) on or after this date, YYYY-MM-DD; tables without
    /// date partitions (tenants, teams, users, numbers) are then left alone.
    #[arg(long, value_name = "DATE")]
    since: Option<String>,
    /// Size of the files written, in bytes (suffixes K, M, G allowed); files at least this
    /// big are left alone.
    #[arg(long, default_value = "128M", value_name = "SIZE")]
    target_file_size: String,
    /// Only report what would be rewritten.
    #[arg(long)]
    dry_run: bool,
    /// Print a JSON summary on stdout instead of text.
    #[arg(long)]
    json: bool,
    /// Do not refresh the rollups afterwards.
    #[arg(long)]
    no_rollups: bool,
}

#[derive(clap::Args, Debug)]
pub struct VacuumArgs {
    /// Grace period: files removed (or written by a job that never committed) less than this
    /// long ago are kept, for queries still reading older versions. E.g. 7d, 24h, 90m.
    #[arg(long, default_value = "7d", value_name = "DURATION")]
    retain: String,
    /// Allow a grace period under one hour (only when no query or job is running).
    #[arg(long)]
    allow_short_retention: bool,
    /// Only list what would be deleted.
    #[arg(long)]
    dry_run: bool,
    /// Print a JSON summary on stdout instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Subcommand, Debug)]
pub enum RetentionCommand {
    /// Delete each tenant's rows older than its retention period (tenants.retention_days),
    /// as Delta deletes, and report the rows deleted per tenant and table.
    Apply {
        /// Only count what would be deleted.
        #[arg(long)]
        dry_run: bool,
        /// Print a JSON summary on stdout instead of text.
        #[arg(long)]
        json: bool,
        /// Do not refresh the rollups afterwards.
        #[arg(long)]
        no_rollups: bool,
    },
}

#[derive(clap::Subcommand, Debug)]
pub enum RollupCommand {
    /// Bring the rollups up to date with the tables (ingest, compact and retention do it
    /// when they finish): only the partitions changed since the last refresh are rebuilt.
    Refresh {
        /// Rebuild every partition.
        #[arg(long)]
        full: bool,
        /// Print a JSON summary on stdout instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Check that every rollup equals the same aggregates computed from the raw tables, row
    /// for row (exit code 5 when one disagrees).
    Verify {
        /// Print a JSON summary on stdout instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// Parses `128M`, `1G`, `4096`.
pub fn parse_size(s: &str) -> Result<u64> {
    let t = s.trim();
    let (num, mult) = match t.chars().last().map(|c| c.to_ascii_uppercase()) {
        Some('K') => (&t[..t.len() - 1], 1u64 << 10),
        Some('M') => (&t[..t.len() - 1], 1 << 20),
        Some('G') => (&t[..t.len() - 1], 1 << 30),
        _ => (t, 1),
    };
    let n: u64 = num
        .trim()
        .parse()
        .with_context(|| format!("'{s}' is not a size (bytes, or a number with K, M or G)"))?;
    if n == 0 {
        anyhow::bail!("a file size of 0 is not allowed");
    }
    Ok(n * mult)
}

/// A step counter for jobs whose work is a list of tables, tenants or rollups.
fn steps(enabled: bool) -> Option<indicatif::ProgressBar> {
    crate::styled_bar(
        enabled,
        "{spinner} {msg:>24} [{bar:30}] {pos}/{len} {elapsed}",
    )
}

fn print_json<T: serde::Serialize>(v: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// Refreshes the rollups after a job; their summary goes into the job's JSON.
pub async fn refresh_after(
    store: &Store,
    json: bool,
) -> Result<cdrlake_jobs::rollup::RefreshSummary> {
    let r = cdrlake_jobs::rollup::refresh(store, false).await.context(
        "refreshing the rollups (the job itself succeeded; run `cdrlake rollup refresh`)",
    )?;
    if !json {
        print_refresh(&r);
    }
    Ok(r)
}

fn print_refresh(r: &cdrlake_jobs::rollup::RefreshSummary) {
    for x in &r.rollups {
        match x.mode.as_str() {
            "up_to_date" => println!("rollup {:<14} up to date", x.rollup),
            "abandoned" => println!(
                "rollup {:<14} abandoned after repeated conflicting refreshes; run `cdrlake rollup refresh`",
                x.rollup
            ),
            "full" => println!(
                "rollup {:<14} rebuilt: {} rows in {} files ({:.2} s)",
                x.rollup, x.rows_written, x.files_added, x.seconds
            ),
            _ => println!(
                "rollup {:<14} {} partitions rebuilt: {} rows ({:.2} s)",
                x.rollup,
                x.partitions.len(),
                x.rows_written,
                x.seconds
            ),
        }
    }
}

/// Merges the rollup refresh into a job's JSON summary and picks the exit code.
fn with_rollups<T: serde::Serialize>(
    summary: &T,
    code: i32,
    rollups: Option<&cdrlake_jobs::rollup::RefreshSummary>,
) -> Result<(serde_json::Value, i32)> {
    let mut v = serde_json::to_value(summary)?;
    let mut code = code;
    if let (Some(r), Some(obj)) = (rollups, v.as_object_mut()) {
        obj.insert("rollups".into(), serde_json::to_value(r)?);
        if code == 0 {
            code = r.exit_code;
        }
    }
    Ok((v, code))
}

pub async fn compact(store: &Store, threads: usize, args: CompactArgs) -> Result<i32> {
    let tables = crate::table_defs(&args.tables)?;
    let since = match &args.since {
        Some(s) => Some(
            chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .with_context(|| format!("--since '{s}' is not a date (YYYY-MM-DD)"))?,
        ),
        None => None,
    };
    let opts = CompactOptions {
        tables: if tables.is_empty() {
            cdrlake_schema::TABLES.iter().collect()
        } else {
            tables
        },
        since,
        target_file_size: parse_size(&args.target_file_size).context("--target-file-size")?,
        dry_run: args.dry_run,
        threads,
        progress: crate::progress(!args.json),
    };
    let progress = opts.progress.clone();
    let s = cdrlake_jobs::compact::compact(store, opts).await?;
    if let Some(b) = progress {
        b.finish_and_clear();
    }
    if !args.json {
        if s.dry_run {
            println!(
                "would compact {} files ({} bytes, {} rows) into about {} files",
                s.files_in, s.bytes_in, s.rows, s.files_out
            );
        } else {
            println!(
                "compacted {} files ({} bytes, {} rows) into {} files ({} bytes) in {:.1} s, {:.0} rows/s",
                s.files_in,
                s.bytes_in,
                s.rows,
                s.files_out,
                s.bytes_out,
                s.seconds,
                s.rows_per_second
            );
        }
        for t in s
            .tables
            .iter()
            .filter(|t| t.files_in > 0 || t.partitions_abandoned > 0)
        {
            println!(
                "  {:<14} partitions {:>4} compacted / {:>4}  files {:>6} -> {:>4}  abandoned {}",
                t.table,
                t.partitions_compacted,
                t.partitions,
                t.files_in,
                t.files_out,
                t.partitions_abandoned
            );
        }
    }
    let rollups = if args.no_rollups || args.dry_run {
        None
    } else {
        Some(refresh_after(store, args.json).await?)
    };
    let (v, code) = with_rollups(&s, s.exit_code, rollups.as_ref())?;
    if args.json {
        print_json(&v)?;
    }
    Ok(code)
}

pub async fn vacuum(store: &Store, args: VacuumArgs) -> Result<i32> {
    let retain = cdrlake_server::users::parse_duration(&args.retain)
        .map_err(anyhow::Error::msg)
        .context("--retain")?;
    let bar = steps(!args.json);
    let s = cdrlake_jobs::vacuum::vacuum(
        store,
        &VacuumOptions {
            retain,
            allow_short_retention: args.allow_short_retention,
            dry_run: args.dry_run,
            progress: bar.clone(),
        },
    )
    .await?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if args.json {
        print_json(&s)?;
    } else {
        println!(
            "{} {} unreferenced files older than {} s in {:.1} s",
            if s.dry_run { "would delete" } else { "deleted" },
            s.files_deleted,
            s.retain_seconds,
            s.seconds
        );
        for t in s.tables.iter().filter(|t| t.files_deleted > 0) {
            println!("  {:<28} {:>6} files", t.table, t.files_deleted);
        }
    }
    Ok(s.exit_code)
}

pub async fn retention(store: &Store, cmd: RetentionCommand) -> Result<i32> {
    let RetentionCommand::Apply {
        dry_run,
        json,
        no_rollups,
    } = cmd;
    let bar = steps(!json);
    let s = cdrlake_jobs::retention::apply(
        store,
        &RetentionOptions {
            dry_run,
            now: None,
            progress: bar.clone(),
        },
    )
    .await?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if !json {
        println!(
            "{} {} rows older than their tenant's retention period in {:.1} s",
            if s.dry_run { "would delete" } else { "deleted" },
            s.rows_deleted,
            s.seconds
        );
        for t in &s.tenants {
            let per: Vec<String> = t
                .rows_deleted
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            println!(
                "  {:<16} {:>5} days (before {})  {}",
                t.tenant_id,
                t.retention_days,
                t.cutoff,
                if per.is_empty() {
                    "nothing".to_string()
                } else {
                    per.join(", ")
                }
            );
        }
    }
    let rollups = if no_rollups || dry_run || s.rows_deleted == 0 {
        None
    } else {
        Some(refresh_after(store, json).await?)
    };
    let (v, code) = with_rollups(&s, s.exit_code, rollups.as_ref())?;
    if json {
        print_json(&v)?;
    }
    Ok(code)
}

pub async fn rollup(store: &Store, cmd: RollupCommand) -> Result<i32> {
    match cmd {
        RollupCommand::Refresh { full, json } => {
            let bar = steps(!json);
            let r = cdrlake_jobs::rollup::refresh_with(store, full, bar.as_ref()).await?;
            if let Some(b) = bar {
                b.finish_and_clear();
            }
            if json {
                print_json(&r)?;
            } else {
                print_refresh(&r);
            }
            Ok(r.exit_code)
        }
        RollupCommand::Verify { json } => {
            let r = cdrlake_jobs::rollup::verify(store).await?;
            if json {
                print_json(&r)?;
            } else {
                for x in &r.rollups {
                    if x.stale_all {
                        println!(
                            "rollup {:<14} stale as a whole (a dimension changed): run `cdrlake rollup refresh`",
                            x.rollup
                        );
                    } else if x.ok {
                        println!(
                            "rollup {:<14} OK: {} rows agree with the raw data{}",
                            x.rollup,
                            x.rows,
                            if x.stale_partitions.is_empty() {
                                String::new()
                            } else {
                                format!(
                                    " ({} partitions changed since the last refresh not compared)",
                                    x.stale_partitions.len()
                                )
                            }
                        );
                    } else {
                        println!(
                            "rollup {:<14} MISMATCH: {} rows missing or different, {} extra rows",
                            x.rollup, x.missing_rows, x.extra_rows
                        );
                    }
                }
            }
            Ok(r.exit_code)
        }
    }
}
