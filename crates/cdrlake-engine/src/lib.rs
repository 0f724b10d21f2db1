//! The query engine: a DataFusion session with every lake table registered.
//!
//! Tables live in catalog `cdrlake`, schema `lake`, which are the session defaults, so
//! `SELECT * FROM calls` and `SELECT * FROM cdrlake.lake.calls` are the same. Each table's
//! quarantine is registered as `quarantine_<table>`. A table that was never ingested, or a
//! quarantine that never received a row, is registered empty with its canonical schema, so
//! queries and reports still run.
//!
//! Every session also has cdrlake's domain functions (`cdrlake-functions`). User-loaded
//! reference tables live under `<store>/reference/<name>/` as Delta tables: the rate-center
//! table (`cdrlake reference load rate_centers FILE.csv`) is registered as `rate_centers` and
//! feeds `rate_center`, `lata` and `jurisdiction_lata`.
//!
//! Reports (`cdrlake-reports`) are registered in schema `reports`; run SQL through [`sql`] so
//! `reports.<name>(...)` calls resolve.

use std::sync::Arc;

use cdrlake_functions::{RateCenters, Reference};
use cdrlake_schema::CONCURRENCY_SLOTS;
use cdrlake_store::Store;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{ScanArgs, ScanResult, Session, TableProvider};
use datafusion::common::{Constraints, Statistics};
use datafusion::datasource::{MemTable, TableType};
use datafusion::error::DataFusionError;
use datafusion::execution::SessionState;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{DataFrame, SessionConfig, SessionContext};

mod barrier;
mod joinfilter;
pub mod log;
mod scan;
mod scope;
mod stats;
pub use scope::Scope;

pub const CATALOG: &str = "cdrlake";
pub const SCHEMA: &str = "lake";

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    Store(#[from] cdrlake_store::StoreError),
    #[error("table {table}: {source}")]
    Delta {
        table: String,
        #[source]
        source: Box<deltalake::DeltaTableError>,
    },
    #[error("{0}")]
    DataFusion(#[from] DataFusionError),
    #[error("{0}")]
    Reference(String),
    #[error("{0}")]
    Log(String),
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    Report(#[from] cdrlake_reports::ReportError),
}

/// Session settings.
#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    /// Threads a query may use; 0 means one per core.
    pub target_partitions: usize,
}

/// The session configuration every cdrlake query runs with: cdrlake's settings, then any
/// DataFusion setting given in the environment as `DATAFUSION_<KEY>` (the key upper-cased,
/// dots as underscores, e.g. `DATAFUSION_EXECUTION_PARQUET_PUSHDOWN_FILTERS=false`), the
/// convention of datafusion-cli. A variable whose value does not fit its setting is an error.
pub fn session_config(opts: &EngineOptions) -> Result<SessionConfig, EngineError> {
    let mut config = SessionConfig::new()
        .with_information_schema(true)
        .with_default_catalog_and_schema(CATALOG, SCHEMA)
        .with_create_default_catalog_and_schema(true);
    if opts.target_partitions > 0 {
        config = config.with_target_partitions(opts.target_partitions);
    }
    // Filters are pushed into the Parquet scan so row groups and pages prune by statistics
    // and bloom filters, then rows are filtered during decoding.
    // Money is decimal: a literal like 0.012 is an exact decimal, not a float, so
    // `rated_amount(billable_s, 0.012, 0)` and `sum(charge) > 10.05` compute exactly.
    config.options_mut().sql_parser.parse_float_as_decimal = true;
    // Strings are read as DataFusion's view types (its default): reports run 10-35 % faster
    // on them than on plain Utf8 (10 M calls, 2026-11-23); the server casts a result's view
    // columns to plain Utf8/Binary for its clients.
    let parquet = &mut config.options_mut().execution.parquet;
    parquet.pushdown_filters = true;
    parquet.reorder_filters = true;
    parquet.bloom_filter_on_read = true;
    for (key, var, value) in env_settings() {
        config.options_mut().set(key, value).map_err(|e| {
            EngineError::Config(format!(
                "environment variable {var}={value}: not a valid value for DataFusion setting {key}: {e}"
            ))
        })?;
    }
    Ok(config)
}

/// The DataFusion settings given in the environment, as (key, variable, value): read once per
/// process, since a session is made for every query.
fn env_settings() -> &'static [(String, String, String)] {
    static SETTINGS: std::sync::LazyLock<Vec<(String, String, String)>> =
        std::sync::LazyLock::new(|| {
            SessionConfig::new()
                .options()
                .entries()
                .into_iter()
                .filter_map(|e| {
                    let var = e.key.to_uppercase().replace('.', "_");
                    std::env::var(&var).ok().map(|value| (e.key, var, value))
                })
                .collect()
        });
    &SETTINGS
}

/// Opens a session over the lake at `store` that sees every tenant.
pub async fn open(store: &Store, opts: &EngineOptions) -> Result<SessionContext, EngineError> {
    Lake::load(store, opts).await?.session(&Scope::All, None)
}

/// A snapshot of the lake: each table's Delta provider (at the version current when loaded),
/// the reference data and the prepared reports. Sessions are cheap to make from it, one per
/// query if need be, each with its own [`Scope`] and memory pool.
pub struct Lake {
    tables: Vec<(String, Arc<dyn TableProvider>)>,
    /// The Delta version each table (and rollup) was loaded at; absent when it does not exist.
    versions: std::collections::BTreeMap<String, u64>,
    reference: Reference,
    reports: cdrlake_reports::PreparedReports,
    runtime: Arc<RuntimeEnv>,
    opts: EngineOptions,
}

impl std::fmt::Debug for Lake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lake")
            .field("tables", &self.table_names())
            .finish()
    }
}

impl Lake {
    /// Reads every table's current Delta snapshot. A table that was never ingested, or a
    /// quarantine that never received a row, is an empty table with its canonical schema.
    pub async fn load(store: &Store, opts: &EngineOptions) -> Result<Lake, EngineError> {
        Lake::load_with(store, opts, None).await
    }

    /// Every table's current snapshot, without preparing the reports (sessions of this lake
    /// have no `reports` schema): what batch jobs need, at a fraction of the cost.
    pub async fn load_tables(store: &Store, opts: &EngineOptions) -> Result<Lake, EngineError> {
        Lake::load_with(
            store,
            opts,
            Some(cdrlake_reports::PreparedReports::default()),
        )
        .await
    }

    /// A newer snapshot of the same lake: the reports prepared for this one are reused (their
    /// columns depend on the tables' schemas, which are fixed, not on the data).
    pub async fn reload(&self, store: &Store) -> Result<Lake, EngineError> {
        Lake::load_with(store, &self.opts, Some(self.reports.clone())).await
    }

    /// What identifies the lake's state: each Delta table's latest commit file. Listing it is
    /// much cheaper than loading the lake, so a server polls this and reloads on a change.
    pub async fn fingerprint(store: &Store) -> Result<Vec<String>, EngineError> {
        use futures::TryStreamExt as _;
        let mut prefixes = Vec::new();
        for def in cdrlake_schema::TABLES {
            prefixes.push(format!("tables/{}/_delta_log", def.name));
            prefixes.push(format!("quarantine/{}/_delta_log", def.name));
        }
        for def in cdrlake_schema::rollup::all_rollups() {
            prefixes.push(format!("{}/_delta_log", def.folder()));
        }
        prefixes.push(format!("reference/{RATE_CENTERS}/_delta_log"));
        let os = store.object_store();
        let mut out = Vec::with_capacity(prefixes.len());
        for p in prefixes {
            let path = object_store::path::Path::from(p.as_str());
            let metas: Vec<_> = os
                .list(Some(&path))
                .try_collect()
                .await
                .map_err(|e| EngineError::Reference(format!("listing {p}: {e}")))?;
            let latest = metas
                .iter()
                .filter_map(|m| m.location.filename().map(str::to_string))
                .filter(|n| n.ends_with(".json"))
                .max()
                .unwrap_or_default();
            out.push(format!("{p}/{latest}"));
        }
        Ok(out)
    }

    async fn load_with(
        store: &Store,
        opts: &EngineOptions,
        reports: Option<cdrlake_reports::PreparedReports>,
    ) -> Result<Lake, EngineError> {
        let ctx = SessionContext::new_with_config(session_config(opts)?);
        let mut tables: Vec<(String, Arc<dyn TableProvider>)> = Vec::new();
        let mut versions = std::collections::BTreeMap::new();
        for def in cdrlake_schema::TABLES {
            let url = store.table_url(def.name);
            let provider: Arc<dyn TableProvider> = match store.open_delta(&url).await? {
                Some(table) => {
                    if let Some(v) = table.version() {
                        versions.insert(def.name.to_string(), v);
                    }
                    delta_provider(&ctx, def.name, &table).await?
                }
                None => Arc::new(MemTable::try_new(def.arrow_schema(), vec![vec![]])?),
            };
            tables.push((def.name.to_string(), provider));
            let qurl = store.quarantine_url(def.name);
            let qname = cdrlake_schema::quarantine_table_name(def.name);
            let provider: Arc<dyn TableProvider> = match store.open_delta(&qurl).await? {
                Some(q) => delta_provider(&ctx, &qname, &q).await?,
                // Nothing was ever rejected: an empty quarantine, so checks like
                // `SELECT count(*) FROM quarantine_calls` answer 0 instead of failing.
                None => Arc::new(MemTable::try_new(
                    cdrlake_schema::quarantine_schema(),
                    vec![vec![]],
                )?),
            };
            tables.push((qname, provider));
        }
        let url = store.reference_url(RATE_CENTERS);
        let mut reference = Reference::default();
        if let Some(table) = store.open_delta(&url).await? {
            let provider = delta_provider(&ctx, RATE_CENTERS, &table).await?;
            let batches = ctx.read_table(Arc::clone(&provider))?.collect().await?;
            reference.rate_centers = Some(Arc::new(RateCenters::from_batches(&batches)?));
            tables.push((RATE_CENTERS.to_string(), provider));
        }
        // Rollups: their Delta tables, with the partitions changed since their last refresh
        // computed from the tables just loaded (see `rollup_provider`).
        let raw = SessionContext::new_with_config(session_config(opts)?);
        for (name, provider) in &tables {
            raw.register_table(name.as_str(), Arc::clone(provider))?;
        }
        cdrlake_functions::register_all_with(&raw, &reference)?;
        for def in cdrlake_schema::ROLLUPS {
            let provider = rollup_provider(store, &ctx, &raw, def, &mut versions).await?;
            tables.push((def.name.to_string(), provider));
        }
        if let Some(provider) = slots_provider(store, &ctx, &mut versions).await? {
            tables.push((CONCURRENCY_SLOTS.name.to_string(), provider));
        }
        let runtime = ctx.runtime_env();
        let mut lake = Lake {
            tables,
            versions,
            reference,
            reports: cdrlake_reports::PreparedReports::default(),
            runtime,
            opts: opts.clone(),
        };
        lake.reports = match reports {
            Some(r) => r,
            None => {
                let ctx = lake.session(&Scope::All, None)?;
                cdrlake_reports::prepare(&ctx.state(), &report_catalog()?).await?
            }
        };
        Ok(lake)
    }

    /// The Delta version each table and rollup was loaded at (absent: it does not exist yet).
    pub fn versions(&self) -> &std::collections::BTreeMap<String, u64> {
        &self.versions
    }

    /// The names of the tables a session over all tenants sees in schema `lake`.
    pub fn table_names(&self) -> Vec<&str> {
        self.tables.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// The runtime the lake's object stores are registered in. A session with its own memory
    /// pool starts from it: `RuntimeEnvBuilder::from_runtime_env(lake.runtime())`.
    pub fn runtime(&self) -> &Arc<RuntimeEnv> {
        &self.runtime
    }

    fn provider(&self, name: &str) -> Result<Arc<dyn TableProvider>, EngineError> {
        self.tables
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, p)| Arc::clone(p))
            .ok_or_else(|| EngineError::Reference(format!("table {name} is not loaded")))
    }

    /// A session over this snapshot that sees the rows of `scope`, with `runtime` (memory
    /// pool, spill directory) or the lake's own.
    pub fn session(
        &self,
        scope: &Scope,
        runtime: Option<Arc<RuntimeEnv>>,
    ) -> Result<SessionContext, EngineError> {
        let runtime = runtime.unwrap_or_else(|| Arc::clone(&self.runtime));
        let state = datafusion::execution::SessionStateBuilder::new()
            .with_config(session_config(&self.opts)?)
            .with_runtime_env(runtime)
            .with_default_features()
            .with_optimizer_rules(cdrlake_functions::optimizer_rules(
                datafusion::optimizer::Optimizer::new().rules,
            ))
            .with_physical_optimizer_rules(joinfilter::physical_rules())
            .build();
        let ctx = SessionContext::new_with_state(state);
        match scope {
            Scope::All => {
                for (name, provider) in &self.tables {
                    ctx.register_table(name.as_str(), Arc::clone(provider))?;
                }
            }
            Scope::Tenant { tenant, teams } => {
                let calls = self.provider(cdrlake_schema::CALLS.name)?;
                let users = self.provider(cdrlake_schema::USERS.name)?;
                for (name, provider) in &self.tables {
                    if name == RATE_CENTERS {
                        ctx.register_table(name.as_str(), Arc::clone(provider))?;
                        continue;
                    }
                    let Some(link) = scope::team_link(name) else {
                        continue;
                    };
                    if teams.is_some() && link == scope::TeamLink::TenantWide {
                        continue;
                    }
                    ctx.register_table(
                        name.as_str(),
                        Arc::new(scope::ScopedTable {
                            name: name.clone(),
                            inner: Arc::clone(provider),
                            tenant: tenant.clone(),
                            teams: teams.clone(),
                            link,
                            calls: Arc::clone(&calls),
                            users: Arc::clone(&users),
                        }),
                    )?;
                }
            }
        }
        cdrlake_functions::register_all_with(&ctx, &self.reference)?;
        cdrlake_reports::install(&ctx, CATALOG, &self.reports)?;
        Ok(ctx)
    }
}

/// The reports compiled into this build, or with `CDRLAKE_SQL_DIR=<dir>` those under
/// `<dir>/reports` (for developing reports without rebuilding).
pub fn report_catalog() -> Result<cdrlake_reports::Catalog, EngineError> {
    Ok(match std::env::var_os("CDRLAKE_SQL_DIR") {
        Some(dir) => cdrlake_reports::Catalog::from_dir(std::path::Path::new(&dir))?,
        None => cdrlake_reports::Catalog::builtin()?,
    })
}

/// Plans one SQL statement in `ctx`, as `SessionContext::sql` does, except that report
/// calls such as `reports.breakout('2026-03-01', '2026-04-01')` resolve. Every cdrlake entry
/// point (CLI, Flight SQL) runs SQL through here.
pub async fn sql(ctx: &SessionContext, text: &str) -> Result<DataFrame, DataFusionError> {
    let plan = plan_sql(ctx, text).await?;
    ctx.execute_logical_plan(plan).await
}

/// Plans one SQL statement without running anything, as [`sql`] does before it executes: a
/// server checks the plan (no DDL for tenants, say) before `ctx.execute_logical_plan`, which
/// runs DDL and `SET` at once.
pub async fn plan_sql(
    ctx: &SessionContext,
    text: &str,
) -> Result<datafusion::logical_expr::LogicalPlan, DataFusionError> {
    let state = ctx.state();
    let stmt = cdrlake_reports::sql_statement(&state, text)?;
    state.statement_to_plan(stmt).await
}

/// A rollup's query over the tables of `ctx`, planned once, with its columns cast to the types
/// the rollup's Delta table stores (plain strings: Delta has no view types).
pub async fn rollup_query(
    ctx: &SessionContext,
    def: &cdrlake_schema::RollupDef,
) -> Result<DataFrame, EngineError> {
    rollup_frame(ctx, def.sql).await
}

/// A rollup query's text over the tables of `ctx`, planned, with its columns cast to the types
/// a rollup's Delta table stores (for rollups whose text has parameters filled in first).
pub async fn rollup_frame(ctx: &SessionContext, text: &str) -> Result<DataFrame, EngineError> {
    use datafusion::arrow::datatypes::DataType;
    use datafusion::prelude::{cast, col};
    let df = sql(ctx, text).await?;
    let columns: Vec<Expr> = df
        .schema()
        .fields()
        .iter()
        .map(|f| {
            let ty = match f.data_type() {
                DataType::Utf8View | DataType::LargeUtf8 => DataType::Utf8,
                other => other.clone(),
            };
            cast(col(f.name()), ty).alias(f.name())
        })
        .collect();
    Ok(df.select(columns)?)
}

/// The schema of a rollup's Delta table, from its [`rollup_query`]: the same columns, every one
/// nullable except the partition column.
pub fn rollup_schema(query: &DataFrame) -> SchemaRef {
    use datafusion::arrow::datatypes::{Field, Schema};
    let fields: Vec<Field> = query
        .schema()
        .fields()
        .iter()
        .map(|f| {
            Field::new(
                f.name(),
                f.data_type().clone(),
                f.name() != cdrlake_schema::PARTITION_COLUMN,
            )
        })
        .collect();
    Arc::new(Schema::new(fields))
}

/// A rollup as sessions see it: always equal to its query over the tables loaded with it.
/// The stored rollup rows serve the partitions whose sources did not change since the rollup's
/// last refresh; the partitions that did change (an ingest committed, its refresh has not yet)
/// are computed from the raw tables, so a dashboard is never behind the raw data or ahead of it.
/// A rollup never refreshed (or stale as a whole) is computed from the raw tables entirely.
async fn rollup_provider(
    store: &Store,
    ctx: &SessionContext,
    raw: &SessionContext,
    def: &cdrlake_schema::RollupDef,
    versions: &mut std::collections::BTreeMap<String, u64>,
) -> Result<Arc<dyn TableProvider>, EngineError> {
    use datafusion::catalog::view::ViewTable;
    use datafusion::prelude::{cast, col, lit};
    let computed = rollup_query(raw, def).await?;
    let schema = rollup_schema(&computed);
    let project = |df: DataFrame| -> Result<DataFrame, EngineError> {
        Ok(df.select(
            schema
                .fields()
                .iter()
                .map(|f| cast(col(f.name()), f.data_type().clone()).alias(f.name()))
                .collect::<Vec<Expr>>(),
        )?)
    };
    let Some(table) = store.open_delta(&store.rollup_url(def)).await? else {
        return Ok(Arc::new(ViewTable::new(
            computed.into_unoptimized_plan(),
            None,
        )));
    };
    let dirty = rollup_staleness(store, def, &table, versions).await?;
    let stored = delta_provider(ctx, def.name, &table).await?;
    match dirty {
        Some(d) if d.is_empty() => Ok(stored),
        None => Ok(Arc::new(ViewTable::new(
            computed.into_unoptimized_plan(),
            None,
        ))),
        Some(d) => {
            let parts: Vec<Expr> = d
                .iter()
                .map(|p| {
                    cast(
                        lit(p.as_str()),
                        datafusion::arrow::datatypes::DataType::Date32,
                    )
                })
                .collect();
            let in_dirty = col(cdrlake_schema::PARTITION_COLUMN).in_list(parts, false);
            let kept = project(raw.read_table(stored)?)?.filter(!in_dirty.clone())?;
            let fresh = computed.filter(in_dirty)?;
            let plan = kept.union(fresh)?.into_unoptimized_plan();
            Ok(Arc::new(ViewTable::new(plan, None)))
        }
    }
}

/// The `concurrency_slots` rollup as sessions see it: its Delta table when it is up to date
/// with the calls loaded beside it (no data change since its last refresh), otherwise absent,
/// so `concurrency()` sweeps the raw calls instead. Unlike the other rollups it is not patched
/// from raw rows while behind: a changed partition can change any later day it reaches.
async fn slots_provider(
    store: &Store,
    ctx: &SessionContext,
    versions: &mut std::collections::BTreeMap<String, u64>,
) -> Result<Option<Arc<dyn TableProvider>>, EngineError> {
    let def = &CONCURRENCY_SLOTS;
    let Some(table) = store.open_delta(&store.rollup_url(def)).await? else {
        return Ok(None);
    };
    let dirty = rollup_staleness(store, def, &table, versions).await?;
    match dirty {
        Some(d) if d.is_empty() => Ok(Some(delta_provider(ctx, def.name, &table).await?)),
        _ => Ok(None),
    }
}

/// The partitions of a stored rollup whose sources changed since its last refresh, against
/// the source versions just loaded (`versions`, which gains the rollup's own); None: all of
/// them (never refreshed, a dimension changed, a log is gone).
async fn rollup_staleness(
    store: &Store,
    def: &cdrlake_schema::RollupDef,
    table: &deltalake::DeltaTable,
    versions: &mut std::collections::BTreeMap<String, u64>,
) -> Result<Option<std::collections::BTreeSet<String>>, EngineError> {
    let now: std::collections::BTreeMap<String, u64> = def
        .sources()
        .filter_map(|s| versions.get(s).map(|v| (s.to_string(), *v)))
        .collect();
    if let Some(v) = table.version() {
        versions.insert(def.name.to_string(), v);
    }
    let os = store.object_store();
    Ok(
        match log::rollup_sources(os.as_ref(), def, table.version()).await? {
            Some(old) => log::rollup_dirty(os.as_ref(), def, &old, &now).await?,
            None => None,
        },
    )
}

/// The name of the rate-center reference table, in the store and in SQL.
pub const RATE_CENTERS: &str = "rate_centers";

/// Validates a rate-center CSV (npa, nxx, rate_center, state, lata) and replaces the store's
/// rate-center table with it in one Delta commit. Returns the number of rows.
pub async fn load_rate_centers(
    store: &Store,
    csv_text: &str,
    file_name: &str,
) -> Result<usize, EngineError> {
    let batch = RateCenters::parse_csv(csv_text, file_name).map_err(EngineError::Reference)?;
    let rows = batch.num_rows();
    let url = store.reference_url(RATE_CENTERS);
    let delta_err = |e: deltalake::DeltaTableError| EngineError::Delta {
        table: RATE_CENTERS.to_string(),
        source: Box::new(e),
    };
    Store::create_local_dir(&url)?;
    let table = deltalake::DeltaTable::try_from_url(url)
        .await
        .map_err(delta_err)?;
    table
        .write(vec![batch])
        .with_save_mode(deltalake::protocol::SaveMode::Overwrite)
        .await
        .map_err(delta_err)?;
    Ok(rows)
}

/// A Delta table as a session's table provider (filters re-checked above the scan).
pub async fn delta_provider(
    ctx: &SessionContext,
    name: &str,
    table: &deltalake::DeltaTable,
) -> Result<Arc<dyn TableProvider>, EngineError> {
    let delta_err = |e: deltalake::DeltaTableError| EngineError::Delta {
        table: name.to_string(),
        source: Box::new(e),
    };
    let state = ctx.state();
    table.update_datafusion_session(&state).map_err(delta_err)?;
    // The scan takes the session's settings, not delta-rs's defaults: without the session it
    // reads strings as view types and pushes filters down whatever the session (and its
    // DATAFUSION_* variables) says.
    let provider = table.table_provider().with_session(Arc::new(state)).await?;
    let snapshot = table.snapshot().map_err(delta_err)?;
    let (mut files, mut bytes) = (0u64, 0u64);
    for f in snapshot.log_data().iter() {
        files += 1;
        bytes += u64::try_from(f.size()).unwrap_or(0);
    }
    let files_list = scan::SnapshotFiles::try_new(table, provider.schema());
    Ok(Arc::new(LakeTable {
        inner: provider,
        files: files_list,
        page_index: files == 0 || bytes / files >= PAGE_INDEX_MIN_FILE_BYTES,
    }))
}

/// Tables whose files are this small on average (rollups, dimensions) are scanned without the
/// Parquet page index: a file of a few tens of kilobytes has a page or two per column, so the
/// index prunes nothing, and loading and checking it for each of the 30 files of a month's
/// dashboard cost 7-9 ms of a 70 ms query (team_hourly_volume v2, 10 M calls).
const PAGE_INDEX_MIN_FILE_BYTES: u64 = 1 << 20;

/// A lake table as the session sees it: the Delta provider, with every filter it takes also
/// applied above the scan. delta-rs answers "exact" for filters it then does not apply in
/// every case (a filter that folds to a NULL literal returned every row), and a report or
/// tenant filter must never be dropped; re-checking costs one pass over already-pruned rows.
/// An unfiltered scan without a limit also gets exact statistics from its files' footers
/// ([`stats`]), which delta-rs does not give it. A scoped (tenant or team) scan always has a
/// filter, so its statistics never describe other tenants' rows.
///
/// Scans of a snapshot that needs only plain Parquet reads are planned from its file list,
/// kept since the lake was loaded ([`scan`]), not by delta-rs, which replays the log for
/// every scan.
#[derive(Debug)]
struct LakeTable {
    inner: Arc<dyn TableProvider>,
    /// The snapshot's files, when cdrlake plans its scans itself.
    files: Option<scan::SnapshotFiles>,
    /// Whether scans use the page index (off for tables of small files).
    page_index: bool,
}

#[async_trait::async_trait]
impl TableProvider for LakeTable {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn constraints(&self) -> Option<&Constraints> {
        self.inner.constraints()
    }

    fn table_type(&self) -> TableType {
        self.inner.table_type()
    }

    fn statistics(&self) -> Option<Statistics> {
        self.inner.statistics()
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> datafusion::error::Result<Vec<TableProviderFilterPushDown>> {
        Ok(self
            .inner
            .supports_filters_pushdown(filters)?
            .into_iter()
            .map(|p| match p {
                TableProviderFilterPushDown::Exact => TableProviderFilterPushDown::Inexact,
                other => other,
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        match &self.files {
            Some(files) => {
                files
                    .scan(state, projection, filters, limit, self.page_index)
                    .await
            }
            None => self.inner.scan(state, projection, filters, limit).await,
        }
    }

    async fn scan_with_args<'a>(
        &self,
        state: &dyn Session,
        args: ScanArgs<'a>,
    ) -> datafusion::error::Result<ScanResult> {
        if self.files.is_some() {
            let projection = args.projection().map(|p| p.to_vec());
            let filters = args.filters().unwrap_or_default();
            let plan = self
                .scan(state, projection.as_ref(), filters, args.limit())
                .await?;
            return Ok(ScanResult::new(plan));
        }
        let unfiltered = args.filters().is_none_or(|f| f.is_empty()) && args.limit().is_none();
        let result = match state.as_any().downcast_ref::<SessionState>() {
            Some(s)
                if !self.page_index && s.config().options().execution.parquet.enable_page_index =>
            {
                let mut s = s.clone();
                s.config_mut()
                    .options_mut()
                    .execution
                    .parquet
                    .enable_page_index = false;
                self.inner.scan_with_args(&s, args).await?
            }
            _ => self.inner.scan_with_args(state, args).await?,
        };
        if !unfiltered {
            return Ok(result);
        }
        // An unfiltered scan reads every file anyway; its footers' exact statistics let
        // DataFusion answer count/min/max without reading the columns.
        Ok(ScanResult::new(
            stats::with_exact_statistics(state, result.into_inner()).await,
        ))
    }
}
