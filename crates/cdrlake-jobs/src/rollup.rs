//! Keeping rollups in step with the tables they summarise, and checking that they agree.
//!
//! Each refresh commit of a rollup records, in its commit metadata (`cdrlake.rollup_sources`),
//! the Delta version of every source table it was computed from. The next refresh reads the
//! source tables' commits since those versions: the `event_date` partitions whose rows changed
//! (appends, deletes; not compaction, which changes no rows) are recomputed from the raw table
//! and replace the rollup's files for those partitions, in one Delta commit. A data change in
//! a dimension source (tenants: time zones), a schema change, or a commit file that is gone
//! rebuilds the whole rollup. Every refresh commit carries the Delta application transaction
//! `cdrlake-rollup:<name>`, so two refreshes at once conflict and the loser starts again: a
//! partition is never written twice.
//!
//! Ingest, compaction and retention refresh the rollups when they finish. A job killed before
//! that leaves the rollup one refresh behind (never wrong for the versions it records); the next
//! job, or `cdrlake rollup refresh`, catches up.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use cdrlake_engine::{EngineOptions, Lake, Scope};
use cdrlake_schema::{CONCURRENCY_SLOTS, PARTITION_COLUMN, ROLLUPS, RollupDef};
use cdrlake_store::Store;
use datafusion::prelude::{DataFrame, cast, col, lit};
use datafusion::scalar::ScalarValue;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, Transaction};
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use serde::Serialize;
use serde_json::json;

use crate::{EXIT_ABANDONED, EXIT_MISMATCH, EXIT_OK, JobError, ctx, date_days, is_conflict};

/// The commit metadata key holding the source versions a rollup commit was computed from.
pub const STATE_KEY: &str = cdrlake_engine::log::ROLLUP_STATE_KEY;
const MAX_ATTEMPTS: usize = 5;

/// What one rollup's refresh did.
#[derive(Debug, Clone, Serialize)]
pub struct RollupResult {
    pub rollup: String,
    /// `up_to_date`, `partitions` (only changed partitions rebuilt), `full` or `abandoned`.
    pub mode: String,
    pub partitions: Vec<String>,
    pub rows_written: u64,
    pub files_removed: u64,
    pub files_added: u64,
    pub bytes_written: u64,
    pub version: Option<u64>,
    /// The source table versions the rollup now summarises.
    pub sources: BTreeMap<String, u64>,
    pub seconds: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct RefreshSummary {
    pub rollups: Vec<RollupResult>,
    pub seconds: f64,
    pub exit_code: i32,
}

fn engine_options() -> EngineOptions {
    EngineOptions {
        target_partitions: 0,
    }
}

/// Brings every rollup up to date with the lake (`full`: rebuilds them whole).
pub async fn refresh(store: &Store, full: bool) -> Result<RefreshSummary, JobError> {
    refresh_with(store, full, None).await
}

/// [`refresh`] with a progress bar (one step per rollup).
pub async fn refresh_with(
    store: &Store,
    full: bool,
    progress: Option<&indicatif::ProgressBar>,
) -> Result<RefreshSummary, JobError> {
    let started = Instant::now();
    let mut summary = RefreshSummary::default();
    let mut lake = Lake::load_tables(store, &engine_options()).await?;
    if let Some(p) = progress {
        p.set_length(ROLLUPS.len() as u64 + 1);
    }
    for def in cdrlake_schema::rollup::all_rollups() {
        if let Some(p) = progress {
            p.set_message(def.name);
            p.inc(1);
        }
        let t0 = Instant::now();
        let mut result = None;
        for attempt in 0..MAX_ATTEMPTS {
            if attempt > 0 {
                lake = lake.reload(store).await?;
            }
            let done = if def.name == CONCURRENCY_SLOTS.name {
                crate::slots::refresh(store, &lake, full).await?
            } else {
                refresh_one(store, &lake, def, full).await?
            };
            if let Some(r) = done {
                result = Some(r);
                break;
            }
            tracing::info!(
                rollup = def.name,
                "conflicting concurrent refresh; trying again"
            );
        }
        let mut r = result.unwrap_or_else(|| RollupResult {
            rollup: def.name.to_string(),
            mode: "abandoned".into(),
            partitions: vec![],
            rows_written: 0,
            files_removed: 0,
            files_added: 0,
            bytes_written: 0,
            version: None,
            sources: BTreeMap::new(),
            seconds: 0.0,
        });
        r.seconds = t0.elapsed().as_secs_f64();
        summary.rollups.push(r);
    }
    summary.seconds = started.elapsed().as_secs_f64();
    summary.exit_code = if summary.rollups.iter().any(|r| r.mode == "abandoned") {
        EXIT_ABANDONED
    } else {
        EXIT_OK
    };
    Ok(summary)
}

/// The source versions each of a rollup's sources has in `lake`.
pub(crate) fn source_versions(lake: &Lake, def: &RollupDef) -> BTreeMap<String, u64> {
    def.sources()
        .filter_map(|s| lake.versions().get(s).map(|v| (s.to_string(), *v)))
        .collect()
}

pub(crate) async fn recorded_sources(
    store: &Store,
    def: &RollupDef,
    version: Option<u64>,
) -> Result<Option<BTreeMap<String, u64>>, JobError> {
    Ok(cdrlake_engine::log::rollup_sources(store.object_store().as_ref(), def, version).await?)
}

pub(crate) async fn dirty_partitions(
    store: &Store,
    def: &RollupDef,
    old: &BTreeMap<String, u64>,
    now: &BTreeMap<String, u64>,
) -> Result<Option<BTreeSet<String>>, JobError> {
    Ok(cdrlake_engine::log::rollup_dirty(store.object_store().as_ref(), def, old, now).await?)
}

fn partition_filter(parts: &BTreeSet<String>) -> Result<datafusion::prelude::Expr, JobError> {
    let mut list = Vec::with_capacity(parts.len());
    for p in parts {
        list.push(lit(ScalarValue::Date32(Some(date_days(p)?))));
    }
    Ok(col(PARTITION_COLUMN).in_list(list, false))
}

/// Partitions a rollup computes in one pass of a refresh.
const PARTITIONS_PER_PASS: usize = 8;

/// The event_date partitions of a rollup's fact sources, from their current Delta snapshots,
/// sorted; empty when no source is partitioned.
async fn source_partitions(store: &Store, def: &RollupDef) -> Result<Vec<String>, JobError> {
    let mut parts = BTreeSet::new();
    for name in def.fact_sources {
        let Some(table) = store.open_delta(&store.table_url(name)).await? else {
            continue;
        };
        let snapshot = table
            .snapshot()
            .map_err(ctx::<deltalake::DeltaTableError>(format!(
                "table {name}: reading the snapshot"
            )))?;
        for f in snapshot.log_data().iter() {
            let p = crate::partition_of(&f);
            if !p.is_empty() {
                parts.insert(p);
            }
        }
    }
    Ok(parts.into_iter().collect())
}

/// Refreshes one rollup; None when a concurrent commit conflicted (reload and try again).
async fn refresh_one(
    store: &Store,
    lake: &Lake,
    def: &RollupDef,
    full: bool,
) -> Result<Option<RollupResult>, JobError> {
    let url = store.rollup_url(def);
    let existing = store.open_delta(&url).await?;
    let now = source_versions(lake, def);
    let recorded = match &existing {
        Some(t) => recorded_sources(store, def, t.version()).await?,
        None => None,
    };
    let dirty = match (&recorded, full) {
        (Some(old), false) => dirty_partitions(store, def, old, &now).await?,
        _ => None,
    };
    let mut result = RollupResult {
        rollup: def.name.to_string(),
        mode: "up_to_date".into(),
        partitions: vec![],
        rows_written: 0,
        files_removed: 0,
        files_added: 0,
        bytes_written: 0,
        version: existing.as_ref().and_then(|t| t.version()),
        sources: now.clone(),
        seconds: 0.0,
    };
    let nothing_changed = dirty.as_ref().is_some_and(|d| d.is_empty());
    if nothing_changed && recorded.as_ref() == Some(&now) {
        return Ok(Some(result));
    }
    // Sources moved without changing rows (compaction): a commit of the new versions alone,
    // so later loads of the lake do not read those commits again.

    let session = lake.session(&Scope::All, None)?;
    let df = cdrlake_engine::rollup_query(&session, def).await?;
    let schema = cdrlake_engine::rollup_schema(&df);
    // The partitions to compute, a few at a time, so memory holds a few partitions' rows and
    // their encoded files, not the whole rollup (a full build of a row-per-call rollup at
    // 20 M calls held 12 GB when computed in one pass).
    let passes: Vec<Option<datafusion::prelude::Expr>> = if nothing_changed {
        vec![]
    } else {
        let listed: Vec<String> = match dirty.as_ref() {
            Some(d) => d.iter().cloned().collect(),
            None => source_partitions(store, def).await?,
        };
        let mut passes = Vec::new();
        for chunk in listed.chunks(PARTITIONS_PER_PASS) {
            passes.push(Some(partition_filter(&chunk.iter().cloned().collect())?));
        }
        if dirty.is_none() {
            // A full build also computes whatever the listing missed (a source partition
            // added or removed since the lake was loaded), or everything when none was listed.
            let rest = if listed.is_empty() {
                None
            } else {
                Some(!partition_filter(&listed.iter().cloned().collect())?)
            };
            passes.push(rest);
        }
        passes
    };

    let table = match existing {
        Some(t) => t,
        None => store.open_or_create_rollup(def, &schema).await?,
    };
    let delta =
        |what: &str| ctx::<deltalake::DeltaTableError>(format!("rollup {}: {what}", def.name));
    let snapshot = table.snapshot().map_err(delta("reading the snapshot"))?;
    let mut actions: Vec<Action> = Vec::new();
    for f in snapshot.log_data().iter() {
        let part = crate::partition_of(&f);
        if dirty.as_ref().is_none_or(|d| d.contains(&part)) {
            actions.push(Action::Remove(f.remove_action(true)));
            result.files_removed += 1;
        }
    }
    let mut frames = Vec::with_capacity(passes.len());
    for pass in passes {
        frames.push(match pass {
            Some(filter) => df.clone().filter(filter)?,
            None => df.clone(),
        });
    }
    write_passes(def, &table, frames, &mut actions, &mut result).await?;
    let rebuilt = dirty
        .as_ref()
        .map(|d| d.iter().cloned().collect::<Vec<_>>());
    let Some(version) = commit_refresh(
        def,
        &table,
        actions,
        &now,
        rebuilt.as_deref(),
        nothing_changed,
        vec![],
    )
    .await?
    else {
        return Ok(None);
    };
    result.version = Some(version);
    result.mode = match &dirty {
        Some(d) if d.is_empty() => "up_to_date",
        Some(_) => "partitions",
        None => "full",
    }
    .into();
    result.partitions = rebuilt.unwrap_or_default();
    Ok(Some(result))
}

/// Computes each of `frames` (the passes of a refresh, a few partitions each, so memory holds
/// a few partitions' rows and their encoded files), sorted by the rollup's sort columns, and
/// writes it to new files of `table`, uploaded and released per pass: their add actions go to
/// `actions`, the counts to `result`.
pub(crate) async fn write_passes(
    def: &RollupDef,
    table: &deltalake::DeltaTable,
    frames: Vec<DataFrame>,
    actions: &mut Vec<Action>,
    result: &mut RollupResult,
) -> Result<(), JobError> {
    let delta =
        |what: &str| ctx::<deltalake::DeltaTableError>(format!("rollup {}: {what}", def.name));
    let mut writer = RecordBatchWriter::for_table(table)
        .map_err(delta("opening a writer"))?
        .with_writer_properties(rollup_writer_properties(def));
    for frame in frames {
        let batches = frame
            .sort(
                def.sort_columns
                    .iter()
                    .map(|c| col(*c).sort(true, true))
                    .collect(),
            )?
            .collect()
            .await
            .map_err(ctx(format!("computing rollup {}", def.name)))?;
        for b in batches {
            if b.num_rows() > 0 {
                result.rows_written += b.num_rows() as u64;
                writer.write(b).await.map_err(delta("writing"))?;
            }
        }
        for a in writer.flush().await.map_err(delta("writing"))? {
            result.files_added += 1;
            result.bytes_written += a.size.max(0) as u64;
            actions.push(Action::Add(a));
        }
    }
    Ok(())
}

/// Commits one refresh of a rollup: `actions` (the files removed and added) in one Delta
/// commit carrying the application transaction `cdrlake-rollup:<name>` (two refreshes at once
/// conflict) and, in its metadata, the source versions `now`, the partitions rebuilt (None:
/// all) and `extra`. `append`: nothing was rebuilt, only the source versions move. Returns the
/// new version, or None when a concurrent commit conflicted (reload and try again).
pub(crate) async fn commit_refresh(
    def: &RollupDef,
    table: &deltalake::DeltaTable,
    actions: Vec<Action>,
    now: &BTreeMap<String, u64>,
    rebuilt: Option<&[String]>,
    append: bool,
    extra: Vec<(String, serde_json::Value)>,
) -> Result<Option<u64>, JobError> {
    let delta =
        |what: &str| ctx::<deltalake::DeltaTableError>(format!("rollup {}: {what}", def.name));
    let snapshot = table.snapshot().map_err(delta("reading the snapshot"))?;
    let predicate = rebuilt.filter(|d| !d.is_empty()).map(|d| {
        let list: Vec<String> = d.iter().map(|p| format!("'{p}'")).collect();
        format!("{PARTITION_COLUMN} IN ({})", list.join(", "))
    });
    let op = DeltaOperation::Write {
        mode: if append {
            SaveMode::Append
        } else {
            SaveMode::Overwrite
        },
        partition_by: Some(vec![PARTITION_COLUMN.to_string()]),
        predicate,
    };
    let txn = Transaction::new_with_last_update(
        format!("cdrlake-rollup:{}", def.name),
        crate::now_millis(),
        Some(crate::now_millis()),
    );
    let mut metadata = vec![
        (STATE_KEY.to_string(), json!(now)),
        ("cdrlake.operation".to_string(), json!("rollup refresh")),
        (
            "cdrlake.partitions".to_string(),
            match rebuilt {
                Some(d) => json!(d),
                None => json!("all"),
            },
        ),
    ];
    metadata.extend(extra);
    let props = CommitProperties::default()
        .with_application_transactions(vec![txn])
        .with_metadata(metadata);
    let committed = CommitBuilder::from(props)
        .with_actions(actions)
        .build(Some(snapshot), table.log_store(), op)
        .await;
    match committed {
        Ok(done) => Ok(Some(done.version())),
        Err(e) if is_conflict(&e) => Ok(None),
        Err(e) => Err(delta("committing")(e)),
    }
}

/// Rows per data page in rollup files.
const ROLLUP_PAGE_ROWS: usize = 2048;

pub(crate) fn rollup_writer_properties(
    def: &RollupDef,
) -> parquet::file::properties::WriterProperties {
    use parquet::basic::Compression;
    use parquet::schema::types::ColumnPath;
    let mut builder = parquet::file::properties::WriterProperties::builder();
    for c in def.bloom_filter_columns {
        builder = builder
            .set_column_bloom_filter_enabled(ColumnPath::from(*c), true)
            .set_column_bloom_filter_fpp(ColumnPath::from(*c), 0.01);
    }
    for c in def.plain_columns {
        builder = builder.set_column_dictionary_enabled(ColumnPath::from(*c), false);
    }
    builder
        // Snappy, not the tables' zstd: a dashboard query over a rollup reads a few hundred
        // small column chunks, and the Parquet reader sets up a zstd context for each one (a
        // third of a 15 ms query; 10 ms with snappy), for files a quarter smaller at most.
        .set_compression(Compression::SNAPPY)
        .set_statistics_enabled(parquet::file::properties::EnabledStatistics::Page)
        // Small pages: a lookup in a rollup sorted by its key (calls_by_number) decodes only
        // the pages the page index keeps, and at 20 k rows a page (the default) that was 70
        // rows decoded for each row found.
        .set_data_page_row_count_limit(ROLLUP_PAGE_ROWS)
        .build()
}

/// How one rollup compares with its raw data.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyResult {
    pub rollup: String,
    pub rows: u64,
    /// Rows the raw data gives that the rollup lacks (or has with other values).
    pub missing_rows: u64,
    /// Rollup rows the raw data does not give.
    pub extra_rows: u64,
    /// Partitions changed since the rollup's last refresh, left out of the comparison (all:
    /// the rollup must be rebuilt whole; `cdrlake rollup refresh`).
    pub stale_partitions: Vec<String>,
    pub stale_all: bool,
    pub ok: bool,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifySummary {
    pub rollups: Vec<VerifyResult>,
    pub seconds: f64,
    pub exit_code: i32,
}

/// A rollup's stored rows (none when it was never built) with the columns and types of
/// `expected`, its rows computed from the raw tables.
pub(crate) async fn stored_rows(
    session: &datafusion::prelude::SessionContext,
    def: &RollupDef,
    table: Option<&deltalake::DeltaTable>,
    expected: &DataFrame,
) -> Result<DataFrame, JobError> {
    let stored: std::sync::Arc<dyn datafusion::catalog::TableProvider> = match table {
        Some(t) => cdrlake_engine::delta_provider(session, def.name, t).await?,
        None => std::sync::Arc::new(datafusion::datasource::MemTable::try_new(
            cdrlake_engine::rollup_schema(expected),
            vec![vec![]],
        )?),
    };
    Ok(session.read_table(stored)?.select(
        expected
            .schema()
            .fields()
            .iter()
            .map(|f| cast(col(f.name()), f.data_type().clone()).alias(f.name()))
            .collect::<Vec<datafusion::prelude::Expr>>(),
    )?)
}

/// Compares a rollup's stored rows with the rows computed from the raw tables, row for row
/// (`stale_partitions`: left out of both, for the report).
pub(crate) async fn compare(
    def: &RollupDef,
    expected: DataFrame,
    rollup: DataFrame,
    stale_partitions: Vec<String>,
) -> Result<VerifyResult, JobError> {
    let rows = rollup.clone().count().await? as u64;
    let missing = expected.clone().except(rollup.clone())?.count().await? as u64;
    let extra = rollup.except(expected)?.count().await? as u64;
    Ok(VerifyResult {
        rollup: def.name.to_string(),
        rows,
        missing_rows: missing,
        extra_rows: extra,
        stale_partitions,
        stale_all: false,
        ok: missing == 0 && extra == 0,
    })
}

/// Compares every rollup with the same aggregates computed from the raw tables now: row for
/// row, over the partitions that have not changed since the rollup's last refresh.
pub async fn verify(store: &Store) -> Result<VerifySummary, JobError> {
    let started = Instant::now();
    let lake = Lake::load_tables(store, &engine_options()).await?;
    let session = lake.session(&Scope::All, None)?;
    let mut summary = VerifySummary::default();
    for def in ROLLUPS {
        let table = store.open_delta(&store.rollup_url(def)).await?;
        let recorded = match &table {
            Some(t) => recorded_sources(store, def, t.version()).await?,
            None => None,
        };
        let now = source_versions(&lake, def);
        let stale = match &recorded {
            Some(old) => dirty_partitions(store, def, old, &now).await?,
            None => None,
        };
        let expected = cdrlake_engine::rollup_query(&session, def).await?;
        let rollup = stored_rows(&session, def, table.as_ref(), &expected).await?;
        let (expected, rollup): (DataFrame, DataFrame) = match &stale {
            None if recorded.is_none() && table.is_some() => {
                // Never refreshed (or its state is gone): compare everything; a mismatch is real.
                (expected, rollup)
            }
            None if table.is_none() => (expected, rollup),
            None => {
                summary.rollups.push(VerifyResult {
                    rollup: def.name.to_string(),
                    rows: rollup.count().await? as u64,
                    missing_rows: 0,
                    extra_rows: 0,
                    stale_partitions: vec![],
                    stale_all: true,
                    ok: true,
                });
                continue;
            }
            Some(parts) if parts.is_empty() => (expected, rollup),
            Some(parts) => {
                let keep = !partition_filter(parts)?;
                (expected.filter(keep.clone())?, rollup.filter(keep)?)
            }
        };
        let stale = stale.map(|s| s.into_iter().collect()).unwrap_or_default();
        summary
            .rollups
            .push(compare(def, expected, rollup, stale).await?);
    }
    summary
        .rollups
        .push(crate::slots::verify(store, &lake).await?);
    summary.seconds = started.elapsed().as_secs_f64();
    summary.exit_code = if summary.rollups.iter().all(|r| r.ok) {
        EXIT_OK
    } else {
        EXIT_MISMATCH
    };
    Ok(summary)
}
