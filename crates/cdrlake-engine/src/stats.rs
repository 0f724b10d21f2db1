//! Exact statistics for unfiltered lake scans, from the Parquet footers.
//!
//! delta-rs plans a scan with the statistics of the Delta log, and only for the columns a
//! predicate names: an unfiltered scan has exact row counts and no column bounds at all. So
//! `SELECT min(invite_time), max(invite_time) FROM calls` read every `invite_time` value,
//! while an engine reading the same Parquet files answered from their footers.
//!
//! [`with_exact_statistics`] gives an unfiltered scan the statistics of its files' footers
//! (row counts, null counts, minimum and maximum per column, each marked exact only where the
//! writer's statistics are exact), so DataFusion answers `count`, `min` and `max` from them
//! and uses them for everything else statistics drive. Data files are immutable in a Delta
//! table, so one file's statistics are read once per process and kept (keyed by URL and size).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray};
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::catalog::Session;
use datafusion::common::stats::Precision;
use datafusion::common::{ColumnStatistics, ScalarValue, Statistics};
use datafusion::datasource::physical_plan::parquet::metadata::DFParquetMetadata;
use datafusion::datasource::physical_plan::{
    FileGroup, FileScanConfig, FileScanConfigBuilder, ParquetSource,
};
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::cache::cache_manager::FileMetadataCache;
use datafusion::parquet::arrow::arrow_reader::statistics::StatisticsConverter;
use datafusion::parquet::arrow::parquet_to_arrow_schema;
use datafusion::parquet::file::metadata::ParquetMetaData;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::execution_plan::{
    CardinalityEffect, ChildrenPropertiesMode, ReplaceChildrenOptions,
};
use futures::{StreamExt, TryStreamExt};
use object_store::{ObjectMeta, ObjectStore};

/// Files whose statistics are kept; past this the cache starts over (a lake this large is
/// better served by a long-running server, which fills it again in one scan).
const MAX_CACHED_FILES: usize = 200_000;

/// Footers read at once when a scan's files are not yet cached.
const FOOTER_READS_IN_FLIGHT: usize = 16;

/// One data file's statistics by column name, as its footer states them.
#[derive(Debug)]
pub(crate) struct FileStats {
    num_rows: usize,
    columns: HashMap<String, ColumnStatistics>,
}

/// A data file by URL and size.
pub(crate) type FileKey = (String, u64);

static CACHE: LazyLock<Mutex<HashMap<FileKey, Arc<FileStats>>>> = LazyLock::new(Default::default);

/// The plan delta-rs made for an unfiltered scan, with each file's statistics (and the
/// scan's) replaced by the exact ones from the Parquet footers. Any other plan shape, a table
/// with deletion vectors, or a file whose footer cannot be read leaves the plan as it was:
/// the statistics are an optimisation, never a reason for a query to fail.
pub async fn with_exact_statistics(
    state: &dyn Session,
    plan: Arc<dyn ExecutionPlan>,
) -> Arc<dyn ExecutionPlan> {
    match exact_statistics(state, &plan).await {
        Ok(Some(p)) => p,
        Ok(None) | Err(_) => plan,
    }
}

async fn exact_statistics(
    state: &dyn Session,
    plan: &Arc<dyn ExecutionPlan>,
) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    // DeltaScanExec over one DataSourceExec; `Equal` cardinality means no deletion vectors,
    // so the files' rows are the table's rows.
    if plan.name() != "DeltaScanExec"
        || !matches!(plan.cardinality_effect(), CardinalityEffect::Equal)
    {
        return Ok(None);
    }
    let [child] = plan.children()[..] else {
        return Ok(None);
    };
    let Some(source) = child.downcast_ref::<DataSourceExec>() else {
        return Ok(None);
    };
    let Some(config) = source.data_source().downcast_ref::<FileScanConfig>() else {
        return Ok(None);
    };
    if !config.file_source().is::<ParquetSource>() || config.limit.is_some() {
        return Ok(None);
    }
    let store = state.runtime_env().object_store(&config.object_store_url)?;
    let footers = state.runtime_env().cache_manager.get_file_metadata_cache();
    let base = config.object_store_url.as_str();
    let file_schema = Arc::clone(config.file_schema());
    let metas: Vec<&ObjectMeta> = config
        .file_groups
        .iter()
        .flat_map(|g| g.files())
        .map(|f| &f.object_meta)
        .collect();
    let all = files_stats(base, &metas, store, footers).await?;

    let groups: Vec<FileGroup> = config
        .file_groups
        .iter()
        .map(|group| {
            let files = group
                .files()
                .iter()
                .map(|f| {
                    let stats = all
                        .get(&file_key(base, &f.object_meta))
                        .ok_or_else(|| DataFusionError::Internal("footer not read".into()))?;
                    let mut file = f.clone();
                    file.statistics = None;
                    // `with_statistics` appends the exact partition-column statistics from
                    // the file's partition values.
                    Ok(file.with_statistics(Arc::new(file_statistics(
                        stats,
                        &file_schema,
                        f.statistics.as_deref(),
                    ))))
                })
                .collect::<Result<Vec<_>>>()?;
            Ok(FileGroup::new(files))
        })
        .collect::<Result<_>>()?;

    let table_schema: SchemaRef = Arc::new(Schema::new(
        file_schema
            .fields()
            .iter()
            .chain(config.table_partition_cols().iter())
            .cloned()
            .collect::<Vec<_>>(),
    ));
    let old = config.statistics();
    let groups = groups
        .into_iter()
        .map(|g| {
            let merged = merge(
                g.files().iter().filter_map(|f| f.statistics.as_deref()),
                table_schema.fields().len(),
            );
            g.with_statistics(Arc::new(merged))
        })
        .collect::<Vec<_>>();
    let statistics = merge(
        groups.iter().filter_map(|g| g.file_statistics(None)),
        table_schema.fields().len(),
    );
    if statistics.column_statistics.len() != old.column_statistics.len() {
        return Ok(None);
    }
    let new_config = FileScanConfigBuilder::from(config.clone())
        .with_file_groups(groups)
        .with_statistics(statistics)
        .build();
    let new_child: Arc<dyn ExecutionPlan> = DataSourceExec::from_data_source(new_config);
    Ok(Some(Arc::clone(plan).replace_children(
        vec![new_child],
        ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
    )?))
}

/// The statistics of several files together. Unlike `Statistics::try_merge`, a file whose
/// column is all NULL does not make the column's bounds unknown: it has no values to bound.
pub(crate) fn merge<'a>(parts: impl Iterator<Item = &'a Statistics>, width: usize) -> Statistics {
    let mut out = Statistics {
        num_rows: Precision::Exact(0),
        total_byte_size: Precision::Exact(0),
        column_statistics: (0..width)
            .map(|_| ColumnStatistics {
                null_count: Precision::Exact(0),
                min_value: Precision::Absent,
                max_value: Precision::Absent,
                sum_value: Precision::Absent,
                distinct_count: Precision::Absent,
                byte_size: Precision::Absent,
            })
            .collect(),
    };
    // Bounds start "no values yet" (None) and become Absent once a part's are unknown.
    let mut bounds: Vec<Option<(Precision<ScalarValue>, Precision<ScalarValue>)>> =
        vec![None; width];
    for part in parts {
        out.num_rows = out.num_rows.add(&part.num_rows);
        out.total_byte_size = out.total_byte_size.add(&part.total_byte_size);
        for (i, merged) in out.column_statistics.iter_mut().enumerate() {
            let Some(c) = part.column_statistics.get(i) else {
                merged.null_count = Precision::Absent;
                bounds[i] = Some((Precision::Absent, Precision::Absent));
                continue;
            };
            merged.null_count = merged.null_count.add(&c.null_count);
            let all_null = matches!((c.null_count, part.num_rows),
                (Precision::Exact(n), Precision::Exact(r)) if n == r);
            if all_null {
                continue;
            }
            bounds[i] = Some(match bounds[i].take() {
                None => (c.min_value.clone(), c.max_value.clone()),
                Some((lo, hi)) => (lo.min(&c.min_value), hi.max(&c.max_value)),
            });
        }
    }
    for (merged, b) in out.column_statistics.iter_mut().zip(bounds) {
        if let Some((lo, hi)) = b {
            merged.min_value = lo;
            merged.max_value = hi;
        }
    }
    out
}

pub(crate) fn file_key(base: &str, meta: &ObjectMeta) -> FileKey {
    (format!("{base}{}", meta.location), meta.size)
}

/// The statistics of each file: from the cache, or read from its footer (and then cached).
pub(crate) async fn files_stats(
    base: &str,
    metas: &[&ObjectMeta],
    store: Arc<dyn ObjectStore>,
    footers: Arc<FileMetadataCache>,
) -> Result<HashMap<FileKey, Arc<FileStats>>> {
    let mut found = HashMap::with_capacity(metas.len());
    let mut missing = Vec::new();
    {
        let cache = CACHE.lock().map_err(|_| poisoned())?;
        for meta in metas {
            let key = file_key(base, meta);
            match cache.get(&key) {
                Some(s) => {
                    found.insert(key, Arc::clone(s));
                }
                None => missing.push((key, (*meta).clone())),
            }
        }
    }
    if missing.is_empty() {
        return Ok(found);
    }
    let read: Vec<(FileKey, Arc<FileStats>)> = futures::stream::iter(missing)
        .map(|(key, meta)| {
            let (store, footers) = (Arc::clone(&store), Arc::clone(&footers));
            async move {
                let stats = read_file_stats(store.as_ref(), &meta, footers).await?;
                Ok::<_, DataFusionError>((key, Arc::new(stats)))
            }
        })
        .buffer_unordered(FOOTER_READS_IN_FLIGHT)
        .try_collect()
        .await?;
    let mut cache = CACHE.lock().map_err(|_| poisoned())?;
    if cache.len() + read.len() > MAX_CACHED_FILES {
        cache.clear();
    }
    for (key, stats) in read {
        cache.insert(key.clone(), Arc::clone(&stats));
        found.insert(key, stats);
    }
    Ok(found)
}

fn poisoned() -> DataFusionError {
    DataFusionError::Internal("footer statistics cache poisoned".into())
}

/// A file's statistics over the scan's file schema: the footer's where the column is in the
/// file, unknown otherwise (a column added after the file was written: its values are NULL,
/// and no bound is claimed). Byte size comes from the plan delta-rs made.
pub(crate) fn file_statistics(
    stats: &FileStats,
    file_schema: &Schema,
    planned: Option<&Statistics>,
) -> Statistics {
    let column_statistics = file_schema
        .fields()
        .iter()
        .map(|field| match stats.columns.get(field.name()) {
            Some(c) => ColumnStatistics {
                null_count: c.null_count,
                min_value: cast_bound(&c.min_value, field.data_type()),
                max_value: cast_bound(&c.max_value, field.data_type()),
                sum_value: Precision::Absent,
                distinct_count: Precision::Absent,
                byte_size: Precision::Absent,
            },
            None => ColumnStatistics::new_unknown(),
        })
        .collect();
    Statistics {
        num_rows: Precision::Exact(stats.num_rows),
        total_byte_size: planned.map_or(Precision::Absent, |p| p.total_byte_size),
        column_statistics,
    }
}

/// A bound in the scan's type (the file may store a column in an equivalent physical type).
fn cast_bound(
    bound: &Precision<ScalarValue>,
    to: &datafusion::arrow::datatypes::DataType,
) -> Precision<ScalarValue> {
    let cast = |v: &ScalarValue| {
        if v.data_type() == *to {
            Some(v.clone())
        } else {
            v.cast_to(to).ok()
        }
    };
    match bound {
        Precision::Exact(v) => cast(v).map_or(Precision::Absent, Precision::Exact),
        Precision::Inexact(v) => cast(v).map_or(Precision::Absent, Precision::Inexact),
        Precision::Absent => Precision::Absent,
    }
}

/// A file's statistics from its footer, read through the session's footer cache (the scan
/// that follows finds it there too).
async fn read_file_stats(
    store: &dyn ObjectStore,
    meta: &ObjectMeta,
    footers: Arc<FileMetadataCache>,
) -> Result<FileStats> {
    let context = |e: &dyn std::fmt::Display| {
        DataFusionError::Execution(format!(
            "reading the Parquet footer of {}: {e}",
            meta.location
        ))
    };
    let metadata = DFParquetMetadata::new(store, meta)
        .with_file_metadata_cache(Some(footers))
        .fetch_metadata()
        .await
        .map_err(|e| context(&e))?;
    stats_from_metadata(&metadata).map_err(|e| context(&e))
}

/// Per-column statistics over all row groups of one file.
fn stats_from_metadata(metadata: &ParquetMetaData) -> Result<FileStats> {
    let file = metadata.file_metadata();
    let parquet_schema = file.schema_descr();
    let arrow_schema = parquet_to_arrow_schema(parquet_schema, file.key_value_metadata())?;
    let row_groups = metadata.row_groups();
    let num_rows = row_groups
        .iter()
        .map(|rg| usize::try_from(rg.num_rows()).unwrap_or(usize::MAX))
        .sum();
    let mut columns = HashMap::new();
    for field in arrow_schema.fields() {
        let Ok(converter) =
            StatisticsConverter::try_new(field.name(), &arrow_schema, parquet_schema)
        else {
            continue;
        };
        if converter.parquet_column_index().is_none() {
            continue;
        }
        let mut stat = column_stats(&converter, row_groups, num_rows)
            .unwrap_or_else(|_| ColumnStatistics::new_unknown());
        if field.data_type().is_floating() {
            // Parquet writers leave NaN out of float statistics; SQL's max counts it.
            stat.min_value = stat.min_value.to_inexact();
            stat.max_value = stat.max_value.to_inexact();
        }
        columns.insert(field.name().clone(), stat);
    }
    Ok(FileStats { num_rows, columns })
}

fn column_stats(
    converter: &StatisticsConverter<'_>,
    row_groups: &[datafusion::parquet::file::metadata::RowGroupMetaData],
    num_rows: usize,
) -> Result<ColumnStatistics> {
    let nulls = converter.row_group_null_counts(row_groups)?;
    let null_count = if nulls.null_count() == 0 {
        Precision::Exact(
            nulls
                .values()
                .iter()
                .map(|n| usize::try_from(*n).unwrap_or(usize::MAX))
                .sum::<usize>(),
        )
    } else {
        Precision::Absent
    };
    let all_null = null_count == Precision::Exact(num_rows);
    let bound =
        |values: ArrayRef, exact: BooleanArray, max: bool| -> Result<Precision<ScalarValue>> {
            if all_null {
                // Nothing to bound: min/max of no values is NULL, which only exact null counts say.
                return Ok(Precision::Absent);
            }
            let mut best: Option<ScalarValue> = None;
            let mut is_exact = true;
            for (i, rg) in row_groups.iter().enumerate().take(values.len()) {
                if values.is_null(i) {
                    // A row group without this statistic: fine only if all its values are null.
                    let rows = u64::try_from(rg.num_rows()).ok();
                    if nulls.is_null(i) || Some(nulls.value(i)) != rows {
                        return Ok(Precision::Absent);
                    }
                    continue;
                }
                if exact.is_null(i) || !exact.value(i) {
                    is_exact = false;
                }
                let v = ScalarValue::try_from_array(&values, i)?;
                best = Some(match best {
                    None => v,
                    Some(b) => {
                        let keep_b = if max { b >= v } else { b <= v };
                        if keep_b { b } else { v }
                    }
                });
            }
            Ok(match best {
                None => Precision::Absent,
                Some(v) if is_exact => Precision::Exact(v),
                Some(v) => Precision::Inexact(v),
            })
        };
    let min_value = bound(
        converter.row_group_mins(row_groups)?,
        converter.row_group_is_min_value_exact(row_groups)?,
        false,
    )?;
    let max_value = bound(
        converter.row_group_maxes(row_groups)?,
        converter.row_group_is_max_value_exact(row_groups)?,
        true,
    )?;
    Ok(ColumnStatistics {
        null_count,
        min_value,
        max_value,
        sum_value: Precision::Absent,
        distinct_count: Precision::Absent,
        byte_size: Precision::Absent,
    })
}
