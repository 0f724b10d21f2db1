//! Where the lake lives.
//!
//! A store is a local directory (the default, `./lake`) or an `s3://bucket/prefix` URL reached
//! through object_store and configured by the standard AWS environment variables
//! (`AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`, `AWS_ACCESS_KEY_ID`, ...). Its layout:
//!
//! ```text
//! landing/<table>/...      Parquet, CSV or JSON Lines dropped by pipelines (any sub-folders)
//! tables/<table>/          the curated Delta table
//! quarantine/<table>/      a Delta table of the rows ingest rejected, with the reason
//! rollups/<name>/v<N>/     hourly aggregates of the tables, for dashboards
//! ```

use std::collections::HashMap;
use std::sync::Arc;

use cdrlake_schema::TableDef;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel as _;
use deltalake::kernel::{StructField, StructType};
use deltalake::{DeltaTable, DeltaTableError};
use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use url::Url;

pub use deltalake;

/// The default store location, relative to the working directory.
pub const DEFAULT_STORE: &str = "./lake";

/// Rows per Parquet row group in curated tables: small enough that a tenant's or a number's rows
/// fall in few row groups, large enough to keep per-group overhead low.
pub const ROW_GROUP_ROWS: usize = 128 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("invalid store location '{location}': {reason}")]
    InvalidLocation { location: String, reason: String },
    #[error("cannot open store '{location}': {source}")]
    ObjectStore {
        location: String,
        #[source]
        source: object_store::Error,
    },
    #[error("cannot create directory '{path}': {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("Delta table '{url}': {source}")]
    Delta {
        url: String,
        #[source]
        source: Box<DeltaTableError>,
    },
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// An opened store location.
#[derive(Debug, Clone)]
pub struct Store {
    location: String,
    root: Url,
    object_store: Arc<dyn ObjectStore>,
}

impl Store {
    /// Opens a store: a local path (created if missing) or `s3://bucket[/prefix]`.
    pub fn open(location: &str) -> Result<Store> {
        let invalid = |reason: String| StoreError::InvalidLocation {
            location: location.to_string(),
            reason,
        };
        if location.trim().is_empty() {
            return Err(invalid("it is empty".into()));
        }
        if let Some(rest) = location.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(invalid("no bucket name after s3://".into()));
            }
            let prefix = prefix.trim_matches('/');
            let root = if prefix.is_empty() {
                format!("s3://{bucket}/")
            } else {
                format!("s3://{bucket}/{prefix}/")
            };
            let root = Url::parse(&root).map_err(|e| invalid(e.to_string()))?;
            let s3 = AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .build()
                .map_err(|source| StoreError::ObjectStore {
                    location: location.to_string(),
                    source,
                })?;
            let object_store: Arc<dyn ObjectStore> = if prefix.is_empty() {
                Arc::new(s3)
            } else {
                Arc::new(PrefixStore::new(s3, prefix))
            };
            return Ok(Store {
                location: location.to_string(),
                root,
                object_store,
            });
        }
        if location.contains("://") && !location.starts_with("file://") {
            return Err(invalid(
                "only local paths, file:// and s3:// URLs are supported".into(),
            ));
        }
        let path = location.strip_prefix("file://").unwrap_or(location);
        std::fs::create_dir_all(path).map_err(|source| StoreError::Io {
            path: path.to_string(),
            source,
        })?;
        let abs = std::fs::canonicalize(path).map_err(|source| StoreError::Io {
            path: path.to_string(),
            source,
        })?;
        let root = Url::from_directory_path(&abs)
            .map_err(|_| invalid(format!("'{}' is not an absolute path", abs.display())))?;
        let fs =
            LocalFileSystem::new_with_prefix(&abs).map_err(|source| StoreError::ObjectStore {
                location: location.to_string(),
                source,
            })?;
        Ok(Store {
            location: location.to_string(),
            root,
            object_store: Arc::new(fs),
        })
    }

    /// The location as the user gave it.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The root URL, ending in `/`.
    pub fn root(&self) -> &Url {
        &self.root
    }

    pub fn is_local(&self) -> bool {
        self.root.scheme() == "file"
    }

    /// The object store, with paths relative to the store root.
    pub fn object_store(&self) -> Arc<dyn ObjectStore> {
        self.object_store.clone()
    }

    /// `landing/<table>`.
    pub fn landing_prefix(table: &str) -> Path {
        Path::from(format!("landing/{table}"))
    }

    /// `tables/<table>/` as a URL.
    pub fn table_url(&self, table: &str) -> Url {
        self.join(&format!("tables/{table}/"))
    }

    /// `quarantine/<table>/` as a URL.
    pub fn quarantine_url(&self, table: &str) -> Url {
        self.join(&format!("quarantine/{table}/"))
    }

    /// `rollups/<name>/v<version>/` as a URL: the hourly aggregates dashboards read
    /// (`cdrlake rollup`).
    pub fn rollup_url(&self, def: &cdrlake_schema::RollupDef) -> Url {
        self.join(&format!("{}/", def.folder()))
    }

    /// `reference/<name>/` as a URL: user-loaded reference tables (rate centers).
    pub fn reference_url(&self, name: &str) -> Url {
        self.join(&format!("reference/{name}/"))
    }

    /// Creates the directory of a local table location (delta-rs wants it to exist); nothing
    /// to do on object storage.
    pub fn create_local_dir(url: &Url) -> Result<()> {
        if let Ok(path) = url.to_file_path() {
            std::fs::create_dir_all(&path).map_err(|source| StoreError::Io {
                path: path.display().to_string(),
                source,
            })?;
        }
        Ok(())
    }

    /// A path under the root as a URL.
    pub fn join(&self, relative: &str) -> Url {
        // The root always ends in '/', and relative paths never start with one.
        match self.root.join(relative.trim_start_matches('/')) {
            Ok(u) => u,
            Err(_) => self.root.clone(),
        }
    }

    /// Opens a Delta table if it exists.
    pub async fn open_delta(&self, url: &Url) -> Result<Option<DeltaTable>> {
        if let Ok(path) = url.to_file_path()
            && !path.join("_delta_log").exists()
        {
            return Ok(None);
        }
        let table = DeltaTable::try_from_url(url.clone())
            .await
            .map_err(|e| delta_err(url, e))?;
        Ok(table.version().is_some().then_some(table))
    }

    /// Opens the curated table of `def`, creating it (empty, with the canonical schema) when absent.
    pub async fn open_or_create_table(&self, def: &TableDef) -> Result<DeltaTable> {
        let url = self.table_url(def.name);
        let schema = def.arrow_schema();
        let mut config: HashMap<String, Option<String>> = HashMap::new();
        // Statistics for the columns queries filter on; the Delta default (first 32 columns)
        // would miss the numbers and money of the wide calls table.
        let stats: Vec<&str> = def
            .columns
            .iter()
            .filter(|c| {
                def.key.contains(&c.name)
                    || def.sort_columns.contains(&c.name)
                    || def.bloom_filter_columns.contains(&c.name)
                    || matches!(c.ty, cdrlake_schema::ColumnType::Timestamp)
                    || matches!(c.name, "customer" | "provider" | "team_id" | "disposition")
            })
            .map(|c| c.name)
            .collect();
        config.insert(
            "delta.dataSkippingStatsColumns".into(),
            Some(stats.join(",")),
        );
        self.open_or_create(
            &url,
            &schema,
            def.partition_columns(),
            config,
            &format!(
                "cdrlake {} (schema v{})",
                def.name,
                cdrlake_schema::SCHEMA_VERSION
            ),
        )
        .await
    }

    /// Opens the quarantine table of `table`, creating it when absent.
    pub async fn open_or_create_quarantine(&self, table: &str) -> Result<DeltaTable> {
        let url = self.quarantine_url(table);
        self.open_or_create(
            &url,
            &cdrlake_schema::quarantine_schema(),
            vec![],
            HashMap::new(),
            &format!("cdrlake quarantine of {table}"),
        )
        .await
    }

    /// Opens the Delta table of a rollup, creating it (partitioned by `event_date`) when absent.
    pub async fn open_or_create_rollup(
        &self,
        def: &cdrlake_schema::RollupDef,
        schema: &arrow::datatypes::Schema,
    ) -> Result<DeltaTable> {
        let url = self.rollup_url(def);
        let name = def.name;
        self.open_or_create(
            &url,
            schema,
            vec![cdrlake_schema::PARTITION_COLUMN.to_string()],
            HashMap::new(),
            &format!("cdrlake rollup {name}"),
        )
        .await
    }

    async fn open_or_create(
        &self,
        url: &Url,
        schema: &arrow::datatypes::Schema,
        partition_columns: Vec<String>,
        config: HashMap<String, Option<String>>,
        description: &str,
    ) -> Result<DeltaTable> {
        if let Some(t) = self.open_delta(url).await? {
            return Ok(t);
        }
        let delta_schema: StructType = schema
            .try_into_kernel()
            .map_err(|e| delta_err(url, DeltaTableError::from(e)))?;
        let fields: Vec<StructField> = delta_schema.fields().cloned().collect();
        Self::create_local_dir(url)?;
        let table = DeltaTable::try_from_url(url.clone())
            .await
            .map_err(|e| delta_err(url, e))?;
        let created = table
            .create()
            .with_columns(fields)
            .with_partition_columns(partition_columns)
            .with_configuration(config)
            .with_comment(description)
            .await;
        match created {
            Ok(t) => Ok(t),
            // Another process created it first: use theirs.
            Err(e) => match self.open_delta(url).await? {
                Some(t) => Ok(t),
                None => Err(delta_err(url, e)),
            },
        }
    }
}

/// Parquet writer settings for curated tables: zstd, page-level statistics for pruning,
/// bloom filters on the point-lookup columns.
pub fn writer_properties(def: &TableDef) -> WriterProperties {
    let mut b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).unwrap_or_default()))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_statistics_enabled(EnabledStatistics::Page);
    for c in def.bloom_filter_columns {
        b = b
            .set_column_bloom_filter_enabled(ColumnPath::from(*c), true)
            .set_column_bloom_filter_fpp(ColumnPath::from(*c), 0.01);
    }
    // Keys are unique per row, and the plain columns nearly so: a dictionary never pays off
    // (docs/storage.md, Encoding).
    for c in def.key.iter().chain(def.plain_columns) {
        b = b.set_column_dictionary_enabled(ColumnPath::from(*c), false);
    }
    b.build()
}

/// Concatenates rows and sorts them by the table's sort columns (tenant, then time), the order
/// every data file of a curated table has, so files prune by tenant and time. None when there
/// are no rows.
pub fn sort_rows(
    def: &TableDef,
    batches: Vec<arrow::array::RecordBatch>,
) -> Result<Option<arrow::array::RecordBatch>, arrow::error::ArrowError> {
    use arrow::compute::{SortColumn, concat_batches, lexsort_to_indices, take_record_batch};
    let Some(first) = batches.first() else {
        return Ok(None);
    };
    let all = concat_batches(&first.schema(), &batches)?;
    drop(batches);
    if all.num_rows() == 0 {
        return Ok(None);
    }
    let cols: Vec<SortColumn> = def
        .sort_columns
        .iter()
        .filter_map(|c| all.column_by_name(c))
        .map(|a| SortColumn {
            values: Arc::clone(a),
            options: None,
        })
        .collect();
    if cols.is_empty() {
        return Ok(Some(all));
    }
    let idx = lexsort_to_indices(&cols, None)?;
    Ok(Some(take_record_batch(&all, &idx)?))
}

/// Writer settings for quarantine tables (small, rarely read).
pub fn quarantine_writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build()
}

fn delta_err(url: &Url, e: DeltaTableError) -> StoreError {
    StoreError::Delta {
        url: url.to_string(),
        source: Box::new(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_locations() {
        assert!(Store::open("").is_err());
        assert!(Store::open("s3://").is_err());
        let e = Store::open("gs://bucket/x").expect_err("gs is not supported");
        assert!(e.to_string().contains("only local paths"), "{e}");
    }

    #[test]
    fn local_layout() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("lake").to_string_lossy()).expect("open");
        assert!(store.is_local());
        assert!(store.root().as_str().ends_with("/lake/"));
        assert!(
            store
                .table_url("calls")
                .as_str()
                .ends_with("/lake/tables/calls/")
        );
        assert_eq!(Store::landing_prefix("calls").as_ref(), "landing/calls");
    }

    #[test]
    fn s3_layout() {
        let store = Store::open("s3://bucket/some/prefix").expect("open");
        assert_eq!(store.root().as_str(), "s3://bucket/some/prefix/");
        assert_eq!(
            store.quarantine_url("calls").as_str(),
            "s3://bucket/some/prefix/quarantine/calls/"
        );
    }

    #[tokio::test]
    async fn creates_a_delta_table_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().to_string_lossy()).expect("open");
        let t = store
            .open_or_create_table(&cdrlake_schema::CALLS)
            .await
            .expect("create");
        assert_eq!(t.version(), Some(0));
        let again = store
            .open_or_create_table(&cdrlake_schema::CALLS)
            .await
            .expect("open");
        assert_eq!(again.version(), Some(0));
    }
}
