//! Retention: deletes each tenant's rows older than its retention period
//! (`tenants.retention_days`; NULL keeps everything) from every fact table, as Delta deletes:
//! one commit per table and tenant, which rewrites only the files holding such rows. A row is
//! older than the period when its time column (calls.invite_time, streams.start_time, ...) is
//! before `now - retention_days` days (UTC).

use std::collections::BTreeMap;
use std::time::Instant;

use arrow::array::{Array, AsArray};
use arrow::datatypes::Int32Type;
use cdrlake_engine::{EngineOptions, Lake, Scope};
use cdrlake_schema::{PARTITION_COLUMN, TableDef};
use cdrlake_store::Store;
use chrono::{DateTime, Utc};
use datafusion::prelude::{Expr, col, lit};
use datafusion::scalar::ScalarValue;
use serde::Serialize;

use crate::{EXIT_ABANDONED, EXIT_OK, JobError, ctx, is_conflict};

const MAX_ATTEMPTS: usize = 5;

pub struct RetentionOptions {
    /// Only count what would be deleted.
    pub dry_run: bool,
    /// The current time (tests pin it); None: the clock.
    pub now: Option<DateTime<Utc>>,
    /// Progress bar (on a terminal): one step per tenant.
    pub progress: Option<indicatif::ProgressBar>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TenantRetention {
    pub tenant_id: String,
    pub retention_days: i32,
    /// Rows with a time before this (UTC) are deleted.
    pub cutoff: String,
    /// Rows deleted per table.
    pub rows_deleted: BTreeMap<String, u64>,
    pub rows_deleted_total: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct RetentionSummary {
    pub dry_run: bool,
    pub tenants: Vec<TenantRetention>,
    pub rows_deleted: u64,
    pub commits: u64,
    /// Deletes given up after repeated conflicting commits (run again).
    pub abandoned: u64,
    pub seconds: f64,
    pub exit_code: i32,
}

fn predicate(def: &TableDef, tenant: &str, cutoff: DateTime<Utc>) -> Result<Expr, JobError> {
    let time = def
        .time_column
        .ok_or_else(|| JobError(format!("{} has no time column", def.name)))?;
    let micros = cutoff.timestamp_micros();
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    let days = (cutoff.date_naive() - epoch).num_days() as i32;
    Ok(col("tenant_id")
        .eq(lit(tenant))
        // The partition column first: whole partitions after the cutoff are never opened.
        .and(col(PARTITION_COLUMN).lt_eq(lit(ScalarValue::Date32(Some(days)))))
        .and(col(time).lt(lit(ScalarValue::TimestampMicrosecond(
            Some(micros),
            Some("UTC".into()),
        )))))
}

pub async fn apply(store: &Store, opts: &RetentionOptions) -> Result<RetentionSummary, JobError> {
    let started = Instant::now();
    let now = opts.now.unwrap_or_else(Utc::now);
    let lake = Lake::load_tables(store, &EngineOptions::default()).await?;
    let session = lake.session(&Scope::All, None)?;
    let tenants = session
        .table("tenants")
        .await?
        .filter(col("retention_days").is_not_null())?
        .select(vec![col("tenant_id"), col("retention_days")])?
        .sort(vec![col("tenant_id").sort(true, true)])?
        .collect()
        .await?;
    let mut summary = RetentionSummary {
        dry_run: opts.dry_run,
        ..Default::default()
    };
    if let Some(p) = &opts.progress {
        p.set_length(tenants.iter().map(|b| b.num_rows() as u64).sum());
    }
    for b in &tenants {
        let ids = arrow::compute::cast(b.column(0), &arrow::datatypes::DataType::Utf8)
            .map_err(ctx("reading tenants"))?;
        let ids = ids.as_string::<i32>();
        let days = arrow::compute::cast(b.column(1), &arrow::datatypes::DataType::Int32)
            .map_err(ctx("reading tenants"))?;
        let days = days.as_primitive::<Int32Type>();
        for i in 0..b.num_rows() {
            if ids.is_null(i) || days.is_null(i) {
                continue;
            }
            let tenant = ids.value(i).to_string();
            if let Some(p) = &opts.progress {
                p.set_message(tenant.clone());
                p.inc(1);
            }
            let retention_days = days.value(i);
            let cutoff = now - chrono::Duration::days(i64::from(retention_days.max(0)));
            let mut t = TenantRetention {
                tenant_id: tenant.clone(),
                retention_days,
                cutoff: cutoff.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                rows_deleted: BTreeMap::new(),
                rows_deleted_total: 0,
            };
            for def in cdrlake_schema::TABLES
                .iter()
                .filter(|d| d.time_column.is_some())
            {
                let pred = predicate(def, &tenant, cutoff)?;
                let n = session
                    .table(def.name)
                    .await?
                    .filter(pred.clone())?
                    .count()
                    .await? as u64;
                if n == 0 {
                    continue;
                }
                let deleted = if opts.dry_run {
                    Some(n)
                } else {
                    delete(store, def, pred, cutoff.date_naive(), n).await?
                };
                match deleted {
                    Some(d) => {
                        if !opts.dry_run {
                            summary.commits += 1;
                        }
                        t.rows_deleted.insert(def.name.to_string(), d);
                        t.rows_deleted_total += d;
                    }
                    None => summary.abandoned += 1,
                }
            }
            summary.rows_deleted += t.rows_deleted_total;
            summary.tenants.push(t);
        }
    }
    summary.seconds = started.elapsed().as_secs_f64();
    summary.exit_code = if summary.abandoned > 0 {
        EXIT_ABANDONED
    } else {
        EXIT_OK
    };
    Ok(summary)
}

/// Deletes the rows matching `pred` in one commit; the number deleted (`counted` when delta-rs
/// removed whole files without counting), or None after repeated conflicts.
///
/// The delete is limited to the partitions up to the cutoff date that the table has when it is
/// planned, and its commit carries the rewrite app id of each ([`crate::rewrite_app_id`]), so a
/// compaction of one of them committed meanwhile is a conflict (and this is tried again), never
/// a second copy of the rows.
async fn delete(
    store: &Store,
    def: &'static TableDef,
    pred: Expr,
    cutoff_date: chrono::NaiveDate,
    counted: u64,
) -> Result<Option<u64>, JobError> {
    let last = cutoff_date.format("%Y-%m-%d").to_string();
    for _ in 0..MAX_ATTEMPTS {
        let table = store
            .open_delta(&store.table_url(def.name))
            .await?
            .ok_or_else(|| JobError(format!("retention: table {} disappeared", def.name)))?;
        let snapshot = table
            .snapshot()
            .map_err(ctx::<deltalake::DeltaTableError>("reading the snapshot"))?;
        let parts: std::collections::BTreeSet<String> = snapshot
            .log_data()
            .iter()
            .map(|f| crate::partition_of(&f))
            .filter(|p| !p.is_empty())
            .filter(|p| p.as_str() <= last.as_str())
            .collect();
        if parts.is_empty() {
            return Ok(Some(0));
        }
        let mut list = Vec::with_capacity(parts.len());
        for p in &parts {
            list.push(lit(ScalarValue::Date32(Some(crate::date_days(p)?))));
        }
        let txns = parts
            .iter()
            .map(|p| crate::rewrite_txn(def.name, p))
            .collect::<Vec<_>>();
        let done = table
            .delete()
            .with_predicate(pred.clone().and(col(PARTITION_COLUMN).in_list(list, false)))
            .with_writer_properties(cdrlake_store::writer_properties(def))
            .with_commit_properties(
                deltalake::kernel::transaction::CommitProperties::default()
                    .with_application_transactions(txns)
                    .with_metadata([(
                        "cdrlake.operation".to_string(),
                        serde_json::json!("retention"),
                    )]),
            )
            .await;
        match done {
            Ok((_, metrics)) => {
                return Ok(Some(
                    metrics
                        .num_deleted_rows
                        .map(|n| n as u64)
                        .unwrap_or(counted),
                ));
            }
            Err(e) if is_conflict(&e) => continue,
            Err(e) => return Err(ctx(format!("retention delete in {}", def.name))(e)),
        }
    }
    Ok(None)
}
