//! Batch jobs that keep the lake fast and small without ever losing or double counting a row:
//!
//! - [`compact`]: per partition, merges small data files into sorted files of a target size,
//!   each rewrite one Delta commit (remove + add, `dataChange = false`);
//! - [`vacuum`]: deletes data files no table version within the grace period references;
//! - [`retention`]: deletes each tenant's rows older than its retention period;
//! - [`rollup`]: keeps the hourly rollups (`sql/rollups/`) in step with the tables they
//!   summarise, and checks that they agree.
//!
//! Every job returns a summary (serialisable to JSON) with its metrics and exit code.

pub mod compact;
pub mod retention;
pub mod rollup;
mod slots;
pub mod vacuum;

/// Exit codes shared by the jobs (documented in `docs/cli.md`).
pub const EXIT_OK: i32 = 0;
pub const EXIT_FAILED: i32 = 1;
/// Some work was abandoned after repeated conflicting commits (nothing lost; run again).
pub const EXIT_ABANDONED: i32 = 4;
/// `rollup verify` found a rollup that disagrees with its raw data.
pub const EXIT_MISMATCH: i32 = 5;

/// An error of a job, with what it was doing.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct JobError(pub String);

impl From<cdrlake_store::StoreError> for JobError {
    fn from(e: cdrlake_store::StoreError) -> Self {
        JobError(e.to_string())
    }
}

impl From<cdrlake_engine::EngineError> for JobError {
    fn from(e: cdrlake_engine::EngineError) -> Self {
        JobError(e.to_string())
    }
}

impl From<datafusion::error::DataFusionError> for JobError {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        JobError(e.to_string())
    }
}

/// `map_err` helper: "<what>: <error>".
pub(crate) fn ctx<E: std::fmt::Display>(what: impl Into<String>) -> impl FnOnce(E) -> JobError {
    let what = what.into();
    move |e| JobError(format!("{what}: {e}"))
}

pub(crate) fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Whether a Delta error is a conflicting concurrent commit (the caller retries).
pub(crate) fn is_conflict(e: &deltalake::DeltaTableError) -> bool {
    matches!(
        e,
        deltalake::DeltaTableError::Transaction {
            source: deltalake::kernel::transaction::TransactionError::CommitConflict(_)
        }
    )
}

/// The Delta application transaction every rewrite of a table partition carries (compaction,
/// retention deletes). delta-rs does not count a file removed twice as a conflict when the
/// first removal has `dataChange = false` (as compaction's does), so two rewrites of the same
/// files could both commit and count the rows twice; the same app id in both commits is a
/// conflict that delta-rs always detects, and the later commit is retried on a fresh snapshot.
pub fn rewrite_app_id(table: &str, partition: &str) -> String {
    if partition.is_empty() {
        format!("cdrlake-rewrite:{table}")
    } else {
        format!("cdrlake-rewrite:{table}:{partition}")
    }
}

pub(crate) fn rewrite_txn(table: &str, partition: &str) -> deltalake::kernel::Transaction {
    let now = now_millis();
    deltalake::kernel::Transaction::new_with_last_update(
        rewrite_app_id(table, partition),
        now,
        Some(now),
    )
}

/// The `event_date` partition of a data file ("" in an unpartitioned table).
pub(crate) fn partition_of(f: &deltalake::kernel::LogicalFileView) -> String {
    f.partition_values_map()
        .get(cdrlake_schema::PARTITION_COLUMN)
        .cloned()
        .flatten()
        .unwrap_or_default()
}

/// A partition value of `event_date` (`YYYY-MM-DD`) as days since the epoch.
pub(crate) fn date_days(value: &str) -> Result<i32, JobError> {
    let d = chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .map_err(ctx(format!("partition value '{value}' is not a date")))?;
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    Ok((d - epoch).num_days() as i32)
}
