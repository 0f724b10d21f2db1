//! Vacuum: deletes the data files of every Delta table in the store (tables, quarantines,
//! rollups, reference tables) that the current version does not reference and that were
//! removed, or written without ever being committed (a killed job), longer ago than the grace
//! period. A query that started within the grace period still finds every file of the version
//! it reads. A file the current version references is never deleted.

use std::time::{Duration, Instant};

use cdrlake_store::Store;
use deltalake::operations::vacuum::VacuumMode;
use serde::Serialize;

use crate::{EXIT_OK, JobError, ctx};

/// The default grace period: a week, Delta's default `deletedFileRetentionDuration`.
pub const DEFAULT_RETAIN: Duration = Duration::from_secs(7 * 24 * 3600);
/// Shorter grace periods need `allow_short_retention`: a query running longer than the grace
/// period could find a file of its version gone.
pub const MIN_RETAIN: Duration = Duration::from_secs(3600);

pub struct VacuumOptions {
    pub retain: Duration,
    pub allow_short_retention: bool,
    pub dry_run: bool,
    /// Progress bar (on a terminal): one step per table.
    pub progress: Option<indicatif::ProgressBar>,
}

impl Default for VacuumOptions {
    fn default() -> Self {
        VacuumOptions {
            retain: DEFAULT_RETAIN,
            allow_short_retention: false,
            dry_run: false,
            progress: None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct VacuumTable {
    /// The table's folder under the store (`tables/calls`, `rollups/calls_hourly/v1`, ...).
    pub table: String,
    pub files_deleted: u64,
    /// The files deleted (or, with `--dry-run`, that would be), relative to the table.
    pub files: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct VacuumSummary {
    pub dry_run: bool,
    pub retain_seconds: u64,
    pub tables: Vec<VacuumTable>,
    pub files_deleted: u64,
    pub seconds: f64,
    pub exit_code: i32,
}

/// Every Delta table folder of the store.
pub fn table_folders() -> Vec<String> {
    let mut out = Vec::new();
    for def in cdrlake_schema::TABLES {
        out.push(format!("tables/{}", def.name));
        out.push(format!("quarantine/{}", def.name));
    }
    for def in cdrlake_schema::rollup::all_rollups() {
        out.push(def.folder());
    }
    out.push("reference/rate_centers".to_string());
    out
}

pub async fn vacuum(store: &Store, opts: &VacuumOptions) -> Result<VacuumSummary, JobError> {
    let started = Instant::now();
    if opts.retain < MIN_RETAIN && !opts.allow_short_retention {
        return Err(JobError(format!(
            "a grace period of {} s is shorter than {} s: a running query could lose a file of the version it reads; pass --allow-short-retention if no query or job runs",
            opts.retain.as_secs(),
            MIN_RETAIN.as_secs()
        )));
    }
    let retain = chrono::Duration::from_std(opts.retain).map_err(ctx("grace period"))?;
    let mut summary = VacuumSummary {
        dry_run: opts.dry_run,
        retain_seconds: opts.retain.as_secs(),
        ..Default::default()
    };
    let folders = table_folders();
    if let Some(p) = &opts.progress {
        p.set_length(folders.len() as u64);
    }
    for folder in folders {
        if let Some(p) = &opts.progress {
            p.set_message(folder.clone());
            p.inc(1);
        }
        let url = store.join(&format!("{folder}/"));
        let Some(table) = store.open_delta(&url).await? else {
            continue;
        };
        let (_, metrics) = table
            .vacuum()
            .with_retention_period(retain)
            .with_enforce_retention_duration(false)
            .with_mode(VacuumMode::Full)
            .with_dry_run(opts.dry_run)
            .await
            .map_err(ctx(format!("vacuum of {folder}")))?;
        summary.files_deleted += metrics.files_deleted.len() as u64;
        summary.tables.push(VacuumTable {
            table: folder,
            files_deleted: metrics.files_deleted.len() as u64,
            files: metrics.files_deleted,
        });
    }
    summary.seconds = started.elapsed().as_secs_f64();
    summary.exit_code = EXIT_OK;
    Ok(summary)
}
