//! Compaction: per partition, small data files are merged into files of a target size, their
//! rows sorted by the table's layout (`docs/storage.md`: tenant, then time) and written with
//! the curated tables' Parquet settings (statistics per page, bloom filters, zstd).
//!
//! Each partition's rewrite is one Delta commit that removes the input files and adds the new
//! ones, all with `dataChange = false`: readers see the partition before or after, never both
//! or half. The commit is made on the snapshot the files were chosen from; a concurrent ingest
//! (appends) does not conflict with it, while a concurrent compaction or retention delete of the
//! same partition does: every rewrite of a partition carries the application transaction
//! `cdrlake-rewrite:<table>:<partition>` (see [`crate::rewrite_app_id`]; delta-rs alone would
//! let two removals of the same file commit when the first has `dataChange = false`). Then the partition is planned again from a fresh snapshot, a few times, and
//! abandoned cleanly (reported, nothing lost) if it keeps conflicting. Files written by a
//! rewrite that never committed are unreferenced; `cdrlake vacuum` removes them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{ArrayRef, Date32Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use cdrlake_schema::{PARTITION_COLUMN, TableDef};
use cdrlake_store::Store;
use deltalake::DeltaTable;
use deltalake::kernel::Action;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::protocol::DeltaOperation;
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use futures::StreamExt;
use object_store::ObjectStoreExt as _;
use object_store::path::Path;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::Serialize;
use serde_json::json;

use crate::{EXIT_ABANDONED, EXIT_OK, JobError, ctx, is_conflict};

/// Default size of the files compaction writes.
pub const DEFAULT_TARGET_FILE_SIZE: u64 = 128 * 1024 * 1024;
const MAX_ATTEMPTS: usize = 4;

/// What to compact.
pub struct CompactOptions {
    pub tables: Vec<&'static TableDef>,
    /// Only partitions (event dates) on or after this date.
    pub since: Option<chrono::NaiveDate>,
    /// The size of the files written; files at least this big are left alone.
    pub target_file_size: u64,
    /// Only report what would be rewritten.
    pub dry_run: bool,
    /// Partitions rewritten at once; 0 = one per core.
    pub threads: usize,
    pub progress: Option<indicatif::ProgressBar>,
}

impl Default for CompactOptions {
    fn default() -> Self {
        CompactOptions {
            tables: cdrlake_schema::TABLES.iter().collect(),
            since: None,
            target_file_size: DEFAULT_TARGET_FILE_SIZE,
            dry_run: false,
            threads: 0,
            progress: None,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct TableCompaction {
    pub table: String,
    pub partitions: u64,
    pub partitions_compacted: u64,
    /// Partitions given up after repeated conflicting commits (nothing lost; run again).
    pub partitions_abandoned: u64,
    pub files_in: u64,
    pub files_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub rows: u64,
    pub commits: u64,
    pub version: Option<u64>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct CompactSummary {
    pub dry_run: bool,
    pub tables: Vec<TableCompaction>,
    pub files_in: u64,
    pub files_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub rows: u64,
    pub partitions_abandoned: u64,
    pub seconds: f64,
    pub rows_per_second: f64,
    pub exit_code: i32,
}

/// One data file of the table.
#[derive(Debug, Clone)]
struct DataFile {
    path: Path,
    size: u64,
    rows: Option<u64>,
    view_remove: deltalake::kernel::Remove,
}

/// The files of each partition ("" for an unpartitioned table), from a snapshot.
fn files_by_partition(
    table: &DeltaTable,
    since: Option<&str>,
) -> Result<BTreeMap<String, Vec<DataFile>>, JobError> {
    let snapshot = table
        .snapshot()
        .map_err(ctx::<deltalake::DeltaTableError>("reading the snapshot"))?;
    let mut out: BTreeMap<String, Vec<DataFile>> = BTreeMap::new();
    for f in snapshot.log_data().iter() {
        let part = crate::partition_of(&f);
        if let Some(s) = since
            && !part.is_empty()
            && part.as_str() < s
        {
            continue;
        }
        out.entry(part).or_default().push(DataFile {
            path: f.object_store_path(),
            size: f.size().max(0) as u64,
            rows: f.num_records().map(|n| n as u64),
            view_remove: f.remove_action(false),
        });
    }
    Ok(out)
}

/// The groups of small files of one partition to merge: greedy bins of about the target size,
/// each of at least two files.
fn plan_bins(mut files: Vec<DataFile>, target: u64) -> Vec<Vec<DataFile>> {
    files.retain(|f| f.size < target);
    files.sort_by(|a, b| a.path.as_ref().cmp(b.path.as_ref()));
    let mut bins: Vec<Vec<DataFile>> = Vec::new();
    let mut current: Vec<DataFile> = Vec::new();
    let mut size = 0u64;
    for f in files {
        if size + f.size > target && !current.is_empty() {
            bins.push(std::mem::take(&mut current));
            size = 0;
        }
        size += f.size;
        current.push(f);
    }
    if !current.is_empty() {
        bins.push(current);
    }
    bins.retain(|b| b.len() >= 2);
    bins
}

/// Compacts the selected tables.
pub async fn compact(store: &Store, opts: CompactOptions) -> Result<CompactSummary, JobError> {
    let started = Instant::now();
    let threads = if opts.threads > 0 {
        opts.threads
    } else {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    };
    let since = opts.since.map(|d| d.format("%Y-%m-%d").to_string());
    let mut summary = CompactSummary {
        dry_run: opts.dry_run,
        ..Default::default()
    };
    for def in &opts.tables {
        let mut t = TableCompaction {
            table: def.name.to_string(),
            ..Default::default()
        };
        let url = store.table_url(def.name);
        // --since selects partitions by date: tables without date partitions are left alone.
        let skip = since.is_some() && def.time_column.is_none();
        let Some(table) = (if skip {
            None
        } else {
            store.open_delta(&url).await?
        }) else {
            summary.tables.push(t);
            continue;
        };
        let parts = files_by_partition(&table, since.as_deref())?;
        t.partitions = parts.len() as u64;
        let mut todo: Vec<(String, Vec<Vec<DataFile>>)> = Vec::new();
        for (part, files) in parts {
            let bins = plan_bins(files, opts.target_file_size);
            if !bins.is_empty() {
                todo.push((part, bins));
            }
        }
        if let Some(p) = &opts.progress {
            p.set_message(def.name);
            p.inc_length(
                todo.iter()
                    .flat_map(|(_, b)| b.iter().flatten())
                    .map(|f| f.size)
                    .sum(),
            );
        }
        if opts.dry_run {
            for (_, bins) in &todo {
                t.partitions_compacted += 1;
                for f in bins.iter().flatten() {
                    t.files_in += 1;
                    t.bytes_in += f.size;
                    t.rows += f.rows.unwrap_or(0);
                }
                t.files_out += bins.len() as u64;
            }
            t.version = table.version();
            summary.tables.push(t);
            continue;
        }
        let results: Vec<Result<Option<PartitionResult>, JobError>> =
            futures::stream::iter(todo.into_iter().map(|(part, bins)| {
                compact_partition(store, def, table.clone(), part, bins, &opts)
            }))
            .buffer_unordered(threads)
            .collect()
            .await;
        for r in results {
            match r? {
                Some(p) => {
                    t.partitions_compacted += 1;
                    t.files_in += p.files_in;
                    t.files_out += p.files_out;
                    t.bytes_in += p.bytes_in;
                    t.bytes_out += p.bytes_out;
                    t.rows += p.rows;
                    t.commits += 1;
                    t.version = t.version.max(Some(p.version));
                }
                None => t.partitions_abandoned += 1,
            }
        }
        if t.version.is_none() {
            t.version = table.version();
        }
        summary.tables.push(t);
    }
    for t in &summary.tables {
        summary.files_in += t.files_in;
        summary.files_out += t.files_out;
        summary.bytes_in += t.bytes_in;
        summary.bytes_out += t.bytes_out;
        summary.rows += t.rows;
        summary.partitions_abandoned += t.partitions_abandoned;
    }
    summary.seconds = started.elapsed().as_secs_f64();
    summary.rows_per_second = if summary.seconds > 0.0 && !opts.dry_run {
        summary.rows as f64 / summary.seconds
    } else {
        0.0
    };
    summary.exit_code = if summary.partitions_abandoned > 0 {
        EXIT_ABANDONED
    } else {
        EXIT_OK
    };
    Ok(summary)
}

struct PartitionResult {
    files_in: u64,
    files_out: u64,
    bytes_in: u64,
    bytes_out: u64,
    rows: u64,
    version: u64,
}

/// Rewrites one partition; None when it was abandoned after repeated conflicts.
async fn compact_partition(
    store: &Store,
    def: &'static TableDef,
    mut table: DeltaTable,
    part: String,
    mut bins: Vec<Vec<DataFile>>,
    opts: &CompactOptions,
) -> Result<Option<PartitionResult>, JobError> {
    let what = if part.is_empty() {
        def.name.to_string()
    } else {
        format!("{} partition {PARTITION_COLUMN}={part}", def.name)
    };
    let delta =
        |step: &str| ctx::<deltalake::DeltaTableError>(format!("compacting {what}: {step}"));
    for attempt in 0..MAX_ATTEMPTS {
        if attempt > 0 {
            // Plan again from a fresh snapshot: a concurrent job may have rewritten these files.
            table = store
                .open_delta(&store.table_url(def.name))
                .await?
                .ok_or_else(|| JobError(format!("compacting {what}: the table disappeared")))?;
            let fresh = files_by_partition(&table, None)?;
            bins = plan_bins(
                fresh.get(&part).cloned().unwrap_or_default(),
                opts.target_file_size,
            );
            if bins.is_empty() {
                return Ok(Some(PartitionResult {
                    files_in: 0,
                    files_out: 0,
                    bytes_in: 0,
                    bytes_out: 0,
                    rows: 0,
                    version: table.version().unwrap_or(0),
                }));
            }
        }
        let mut result = PartitionResult {
            files_in: 0,
            files_out: 0,
            bytes_in: 0,
            bytes_out: 0,
            rows: 0,
            version: 0,
        };
        let mut actions: Vec<Action> = Vec::new();
        for bin in &bins {
            let rows_expected: Option<u64> = bin.iter().map(|f| f.rows).sum();
            let batch = read_sorted(&table, def, &part, bin).await?;
            let rows = batch.as_ref().map(|b| b.num_rows() as u64).unwrap_or(0);
            if let Some(n) = rows_expected
                && n != rows
            {
                return Err(JobError(format!(
                    "compacting {what}: read {rows} rows from files the log says hold {n}; nothing was committed"
                )));
            }
            let mut writer = RecordBatchWriter::for_table(&table)
                .map_err(delta("opening a writer"))?
                .with_writer_properties(cdrlake_store::writer_properties(def))
                .with_target_file_size(opts.target_file_size);
            if let Some(b) = batch {
                writer.write(b).await.map_err(delta("writing"))?;
            }
            for mut add in writer.flush().await.map_err(delta("writing"))? {
                add.data_change = false;
                result.files_out += 1;
                result.bytes_out += add.size.max(0) as u64;
                actions.push(Action::Add(add));
            }
            for f in bin {
                result.files_in += 1;
                result.bytes_in += f.size;
                actions.push(Action::Remove(f.view_remove.clone()));
            }
            result.rows += rows;
            if let Some(p) = &opts.progress {
                p.inc(bin.iter().map(|f| f.size).sum());
            }
        }
        let op = DeltaOperation::Optimize {
            predicate: (!part.is_empty()).then(|| format!("{PARTITION_COLUMN} = '{part}'")),
            target_size: opts.target_file_size as i64,
        };
        let props = CommitProperties::default()
            .with_application_transactions(vec![crate::rewrite_txn(def.name, &part)])
            .with_metadata([
                ("cdrlake.operation".to_string(), json!("compact")),
                ("cdrlake.rows".to_string(), json!(result.rows)),
                ("cdrlake.pid".to_string(), json!(std::process::id())),
            ]);
        let snapshot = table.snapshot().map_err(delta("reading the snapshot"))?;
        match CommitBuilder::from(props)
            .with_actions(actions)
            .build(Some(snapshot), table.log_store(), op)
            .await
        {
            Ok(done) => {
                result.version = done.version();
                return Ok(Some(result));
            }
            Err(e) if is_conflict(&e) => {
                tracing::info!(partition = %what, "conflicting concurrent commit; planning again");
            }
            Err(e) => return Err(delta("committing")(e)),
        }
    }
    Ok(None)
}

/// Reads the files of a bin and sorts their rows by the table's sort columns, with the
/// partition column restored from the partition value.
async fn read_sorted(
    table: &DeltaTable,
    def: &'static TableDef,
    part: &str,
    files: &[DataFile],
) -> Result<Option<RecordBatch>, JobError> {
    let os = table.object_store();
    let mut batches = Vec::new();
    for f in files {
        let what = format!("reading {}", f.path);
        let bytes = os
            .get(&f.path)
            .await
            .map_err(ctx(&what))?
            .bytes()
            .await
            .map_err(ctx(&what))?;
        let mut got = tokio::task::spawn_blocking(move || -> Result<Vec<RecordBatch>, JobError> {
            let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
                .map_err(ctx(&what))?
                .with_batch_size(64 * 1024)
                .build()
                .map_err(ctx(&what))?;
            reader.collect::<Result<Vec<_>, _>>().map_err(ctx(&what))
        })
        .await
        .map_err(ctx("reading task"))??;
        batches.append(&mut got);
    }
    if batches.is_empty() {
        return Ok(None);
    }
    // Files written by other writers (delta-rs's delete writes view types) may differ in
    // representation: every batch is cast to the table's own column types.
    let schema = file_schema(def);
    let batches = batches
        .iter()
        .map(|b| conform(b, &schema))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| JobError(format!("compacting {} partition '{part}': {e}", def.name)))?;
    let part = part.to_string();
    let partitioned = def.time_column.is_some();
    tokio::task::spawn_blocking(move || -> Result<Option<RecordBatch>, JobError> {
        let Some(sorted) = cdrlake_store::sort_rows(def, batches).map_err(ctx("sorting rows"))?
        else {
            return Ok(None);
        };
        if !partitioned || sorted.schema().column_with_name(PARTITION_COLUMN).is_some() {
            return Ok(Some(sorted));
        }
        let days = crate::date_days(&part)?;
        let mut fields: Vec<Field> = sorted
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields.push(Field::new(PARTITION_COLUMN, DataType::Date32, false));
        let mut columns: Vec<ArrayRef> = sorted.columns().to_vec();
        columns.push(Arc::new(Date32Array::from(vec![days; sorted.num_rows()])));
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
            .map(Some)
            .map_err(ctx("adding the partition column"))
    })
    .await
    .map_err(ctx("sorting task"))?
}

/// The columns of the table's data files: its schema without the partition column, every
/// column nullable (a required column's values were validated at ingest).
fn file_schema(def: &TableDef) -> Arc<Schema> {
    Arc::new(Schema::new(
        def.arrow_schema()
            .fields()
            .iter()
            .filter(|f| f.name() != PARTITION_COLUMN)
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect::<Vec<Field>>(),
    ))
}

/// A batch with exactly `schema`'s columns, cast where the types differ (`Utf8View` to `Utf8`).
fn conform(batch: &RecordBatch, schema: &Arc<Schema>) -> Result<RecordBatch, String> {
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for f in schema.fields() {
        let c = batch
            .column_by_name(f.name())
            .ok_or_else(|| format!("a data file lacks column {}", f.name()))?;
        columns.push(if c.data_type() == f.data_type() {
            Arc::clone(c)
        } else {
            arrow::compute::cast(c, f.data_type())
                .map_err(|e| format!("column {}: {e}", f.name()))?
        });
    }
    RecordBatch::try_new(Arc::clone(schema), columns).map_err(|e| e.to_string())
}
