//! Lake scans planned from the snapshot's file list, kept for the life of the snapshot.
//!
//! delta-rs plans every scan by replaying its snapshot's file actions through delta-kernel:
//! each file's JSON statistics parsed again, each partition value transformed again. On a
//! table of a few hundred files that is 3-5 ms per scan, which was most of a `count(*)` and a
//! large part of every dashboard query (a report that reads seven rollup scans paid it seven
//! times).
//!
//! A [`SnapshotFiles`] takes the file list once, when the lake is loaded, and each file's
//! statistics from its Parquet footer once per process ([`crate::stats`]). A scan then prunes
//! files with DataFusion's `PruningPredicate` over those statistics (partition values
//! included) and hands the survivors to DataFusion's own Parquet scan, with the session's
//! Parquet options. Only snapshots that need nothing but plain Parquet reads take this path:
//! reader protocol 1, or 3 with no reader feature but `timestampNtz` (so no deletion vectors,
//! no column mapping, no type widening), every partition value parsed. Anything else is
//! scanned by delta-rs as before.

use std::sync::{Arc, OnceLock};

use datafusion::arrow::datatypes::{FieldRef, Schema, SchemaRef};
use datafusion::catalog::Session;
use datafusion::common::pruning::PrunableStatistics;
use datafusion::common::stats::Precision;
use datafusion::common::{DFSchema, ScalarValue, Statistics, project_schema};
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::table_schema::TableSchema;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::Expr;
use datafusion::logical_expr::utils::conjunction;
use datafusion::physical_optimizer::pruning::{PruningPredicate, PruningPredicateBuilder};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use deltalake::delta_datafusion::engine::AsObjectStoreUrl;
use deltalake::logstore::LogStoreRef;
use object_store::ObjectMeta;
use object_store::path::Path;

use crate::stats;

/// Reader features whose tables are still read as plain Parquet: `timestampNtz` only allows
/// timestamps without a time zone (the rollups' local hours), which Parquet and DataFusion
/// read as they are.
const PLAIN_READER_FEATURES: &[&str] = &["timestampNtz"];

/// The data files of one table snapshot, ready to plan scans from.
#[derive(Debug)]
pub(crate) struct SnapshotFiles {
    log_store: LogStoreRef,
    store_url: ObjectStoreUrl,
    /// The table's schema, as the session sees it (view types, partition columns in place).
    schema: SchemaRef,
    /// The table's columns stored in the files, in table order.
    file_schema: SchemaRef,
    /// The partition columns, in the order of [`SnapshotFiles::files`]' values.
    partition_fields: Vec<FieldRef>,
    /// `file_schema` then `partition_fields`: the columns of the Parquet scan.
    scan_schema: SchemaRef,
    /// For each column of `schema`, its index in `scan_schema`.
    to_scan: Vec<usize>,
    /// Each data file with its partition values, and statistics that know only those.
    files: Vec<SnapshotFile>,
}

#[derive(Debug)]
struct SnapshotFile {
    meta: ObjectMeta,
    partition_values: Vec<ScalarValue>,
    /// Over `scan_schema`: the partition values' bounds, nothing known of the other columns.
    partition_stats: Arc<Statistics>,
    /// The file as scans read it, with its footer's statistics; set by the first scan that
    /// reads the file.
    planned: OnceLock<PartitionedFile>,
}

impl SnapshotFiles {
    /// The files of `table`'s loaded snapshot, or `None` when reading it takes more than plain
    /// Parquet reads (delta-rs scans those).
    pub(crate) fn try_new(table: &deltalake::DeltaTable, schema: SchemaRef) -> Option<Self> {
        let snapshot = table.snapshot().ok()?;
        let protocol = snapshot.protocol();
        let plain = match protocol.min_reader_version() {
            1 => true,
            3 => protocol.reader_features().is_some_and(|features| {
                features
                    .iter()
                    .all(|f| PLAIN_READER_FEATURES.contains(&f.to_string().as_str()))
            }),
            _ => false,
        };
        if !plain {
            return None;
        }
        let partition_cols = snapshot.metadata().partition_columns();
        let partition_fields = partition_cols
            .iter()
            .map(|c| schema.field_with_name(c).ok().map(|f| Arc::new(f.clone())))
            .collect::<Option<Vec<FieldRef>>>()?;
        let file_fields: Vec<FieldRef> = schema
            .fields()
            .iter()
            .filter(|f| !partition_cols.contains(f.name()))
            .cloned()
            .collect();
        let to_scan = schema
            .fields()
            .iter()
            .map(
                |f| match partition_cols.iter().position(|c| c == f.name()) {
                    Some(p) => Some(file_fields.len() + p),
                    None => file_fields.iter().position(|g| g.name() == f.name()),
                },
            )
            .collect::<Option<Vec<usize>>>()?;
        let file_schema = Arc::new(Schema::new(file_fields.clone()));
        let scan_schema = Arc::new(Schema::new(
            file_fields
                .into_iter()
                .chain(partition_fields.iter().cloned())
                .collect::<Vec<_>>(),
        ));

        let log_store = table.log_store();
        let mut root = log_store.root_url().clone();
        if !root.path().ends_with('/') {
            let path = format!("{}/", root.path());
            root.set_path(&path);
        }
        let mut files = Vec::new();
        for f in snapshot.log_data().iter() {
            if f.deletion_vector_descriptor().is_some() {
                return None;
            }
            // The path as the log has it (percent-encoded), which the root URL resolves.
            #[allow(deprecated)]
            let url = root.join(&f.add_action().path).ok()?;
            let meta = ObjectMeta {
                location: Path::from_url_path(url.path()).ok()?,
                size: u64::try_from(f.size()).ok()?,
                // As delta-rs's own scans have it, so both find the same cached footers.
                last_modified: chrono::DateTime::UNIX_EPOCH,
                e_tag: None,
                version: None,
            };
            let raw = f.partition_values_map();
            let values = partition_fields
                .iter()
                .map(|field| match raw.get(field.name()) {
                    // Delta writes NULL as an absent value or an empty string.
                    Some(Some(s)) if !s.is_empty() => {
                        ScalarValue::Utf8(Some(s.clone())).cast_to(field.data_type())
                    }
                    _ => ScalarValue::try_from(field.data_type()),
                })
                .collect::<Result<Vec<_>>>()
                .ok()?;
            let mut partition_stats = Statistics::new_unknown(&scan_schema);
            for (value, column) in values
                .iter()
                .zip(&mut partition_stats.column_statistics[file_schema.fields().len()..])
            {
                if !value.is_null() {
                    column.null_count = Precision::Exact(0);
                    column.min_value = Precision::Exact(value.clone());
                    column.max_value = Precision::Exact(value.clone());
                }
            }
            files.push(SnapshotFile {
                meta,
                partition_values: values,
                partition_stats: Arc::new(partition_stats),
                planned: OnceLock::new(),
            });
        }
        Some(SnapshotFiles {
            store_url: root.as_object_store_url(),
            log_store,
            schema,
            file_schema,
            partition_fields,
            scan_schema,
            to_scan,
            files,
        })
    }

    /// A scan of `projection` (of the table's columns) reading only the files `filters` may
    /// match. The filters are not applied to rows here: the caller keeps them above the scan
    /// (DataFusion pushes them into the Parquet scan from there).
    pub(crate) async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
        page_index: bool,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let runtime = state.runtime_env();
        if runtime.object_store(&self.store_url).is_err() {
            runtime.register_object_store(
                self.store_url.as_ref(),
                self.log_store.root_object_store(None),
            );
        }
        // Partition values first: footers are read only for the files they keep.
        let pruning = self.pruning_predicate(state, filters);
        let by_partition = self.keep(pruning.as_deref(), self.files.iter().collect(), |f| {
            Arc::clone(&f.partition_stats)
        });
        let candidates = self.planned_files(state, &by_partition).await?;
        let kept = self.keep(pruning.as_deref(), candidates, |f| {
            f.statistics
                .clone()
                .unwrap_or_else(|| Arc::new(Statistics::new_unknown(&self.scan_schema)))
        });
        if kept.is_empty() {
            return Ok(Arc::new(EmptyExec::new(project_schema(
                &self.schema,
                projection,
            )?)));
        }
        let statistics = stats::merge(
            kept.iter().filter_map(|f| f.statistics.as_deref()),
            self.scan_schema.fields().len(),
        );
        let groups = FileGroup::new(kept).split_files(state.config().target_partitions().max(1));

        let mut options = state.default_table_options().parquet;
        if !page_index {
            options.global.enable_page_index = false;
        }
        let table_schema = TableSchema::builder(Arc::clone(&self.file_schema))
            .with_table_partition_cols(self.partition_fields.clone())
            .build();
        let source = ParquetSource::new(table_schema).with_table_parquet_options(options.clone());
        let config = FileScanConfigBuilder::new(self.store_url.clone(), Arc::new(source))
            .with_file_groups(groups)
            .with_statistics(statistics)
            .with_projection_indices(
                projection.map(|p| p.iter().map(|i| self.to_scan[*i]).collect()),
            )?
            .with_limit(limit)
            .build();
        // ParquetFormat adds the session's footer cache and size hint to the source.
        ParquetFormat::default()
            .with_options(options)
            .create_physical_plan(state, config)
            .await
    }

    /// `files` as scans read them, with their footers' statistics: read by the first scan
    /// that reads a file, then kept with the snapshot (and the footer in the session's cache).
    async fn planned_files(
        &self,
        state: &dyn Session,
        files: &[&SnapshotFile],
    ) -> Result<Vec<PartitionedFile>> {
        let missing: Vec<&ObjectMeta> = files
            .iter()
            .filter(|f| f.planned.get().is_none())
            .map(|f| &f.meta)
            .collect();
        let base = self.store_url.as_str();
        let read = if missing.is_empty() {
            Default::default()
        } else {
            let store = state.runtime_env().object_store(&self.store_url)?;
            let footers = state.runtime_env().cache_manager.get_file_metadata_cache();
            stats::files_stats(base, &missing, store, footers).await?
        };
        files
            .iter()
            .map(|f| {
                if let Some(p) = f.planned.get() {
                    return Ok(p.clone());
                }
                let footer = read
                    .get(&stats::file_key(base, &f.meta))
                    .ok_or_else(|| DataFusionError::Internal("footer not read".into()))?;
                Ok(f.planned
                    .get_or_init(|| self.partitioned_file(f, footer))
                    .clone())
            })
            .collect()
    }

    /// A file with its footer's statistics and its partition values' (exact) bounds.
    fn partitioned_file(&self, f: &SnapshotFile, footer: &stats::FileStats) -> PartitionedFile {
        let mut file_stats = stats::file_statistics(footer, &self.file_schema, None);
        file_stats.total_byte_size =
            Precision::Inexact(usize::try_from(f.meta.size).unwrap_or(usize::MAX));
        let mut file = PartitionedFile::from(f.meta.clone());
        file.partition_values = f.partition_values.clone();
        let mut file = file.with_statistics(Arc::new(file_stats));
        // `with_statistics` takes a partition value for the column's bounds; a NULL one
        // bounds nothing, and every row of the file is NULL there.
        if let Some(s) = file.statistics.as_mut() {
            let s = Arc::make_mut(s);
            let num_rows = s.num_rows;
            let width = self.file_schema.fields().len();
            for (value, column) in f
                .partition_values
                .iter()
                .zip(&mut s.column_statistics[width..])
            {
                if value.is_null() {
                    column.null_count = num_rows;
                    column.min_value = Precision::Absent;
                    column.max_value = Precision::Absent;
                }
            }
        }
        file
    }

    /// The predicate that prunes files by their statistics; `None` when the filters cannot
    /// prune (none, or none DataFusion can turn into a pruning predicate).
    fn pruning_predicate(
        &self,
        state: &dyn Session,
        filters: &[Expr],
    ) -> Option<Arc<PruningPredicate>> {
        let predicate = conjunction(filters.iter().cloned())?;
        let df_schema = DFSchema::try_from(Arc::clone(&self.scan_schema)).ok()?;
        let physical = state.create_physical_expr(predicate, &df_schema).ok()?;
        PruningPredicateBuilder::new()
            .with_file_schema(Arc::clone(&self.scan_schema))
            .with_max_in_list_size(state.config_options().execution.parquet.max_in_list_size)
            .build(physical)
    }

    /// The items whose statistics `pruning` cannot rule out (all of them without a predicate).
    fn keep<T>(
        &self,
        pruning: Option<&PruningPredicate>,
        items: Vec<T>,
        stats: impl Fn(&T) -> Arc<Statistics>,
    ) -> Vec<T> {
        let Some(pruning) = pruning else {
            return items;
        };
        let statistics = items.iter().map(stats).collect();
        match pruning.prune(&PrunableStatistics::new(
            statistics,
            Arc::clone(&self.scan_schema),
        )) {
            Ok(mask) => items
                .into_iter()
                .zip(mask)
                .filter_map(|(item, keep)| keep.then_some(item))
                .collect(),
            Err(_) => items,
        }
    }
}
