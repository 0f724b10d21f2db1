//! The query engine: a DataFusion session with every lake table registered.
//!
//! Tables live in catalog `cdrlake`, schema `lake`, which are the session defaults, so
//! `SELECT * FROM calls` and `SELECT * FROM cdrlake.lake.calls` are the same. Each table's
//! quarantine is registered as `quarantine_<table>`. A table that was never ingested is
//! registered empty, with its canonical schema, so queries and reports still run.

use std::sync::Arc;

use cdrlake_store::Store;
use datafusion::datasource::MemTable;
use datafusion::error::DataFusionError;
use datafusion::prelude::{SessionConfig, SessionContext};

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
}

/// Session settings.
#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    /// Threads a query may use; 0 means one per core.
    pub target_partitions: usize,
}

/// The session configuration every cdrlake query runs with.
pub fn session_config(opts: &EngineOptions) -> SessionConfig {
    let mut config = SessionConfig::new()
        .with_information_schema(true)
        .with_default_catalog_and_schema(CATALOG, SCHEMA)
        .with_create_default_catalog_and_schema(true);
    if opts.target_partitions > 0 {
        config = config.with_target_partitions(opts.target_partitions);
    }
    // Filters are pushed into the Parquet scan so row groups and pages prune by statistics
    // and bloom filters, then rows are filtered during decoding.
    let parquet = &mut config.options_mut().execution.parquet;
    parquet.pushdown_filters = true;
    parquet.reorder_filters = true;
    parquet.bloom_filter_on_read = true;
    config
}

/// Opens a session over the lake at `store`.
pub async fn open(store: &Store, opts: &EngineOptions) -> Result<SessionContext, EngineError> {
    let ctx = SessionContext::new_with_config(session_config(opts));
    for def in cdrlake_schema::TABLES {
        let url = store.table_url(def.name);
        match store.open_delta(&url).await? {
            Some(table) => register_delta(&ctx, def.name, &table).await?,
            None => {
                let empty = MemTable::try_new(def.arrow_schema(), vec![vec![]])?;
                ctx.register_table(def.name, Arc::new(empty))?;
            }
        }
        let qurl = store.quarantine_url(def.name);
        if let Some(q) = store.open_delta(&qurl).await? {
            register_delta(&ctx, &cdrlake_schema::quarantine_table_name(def.name), &q).await?;
        }
    }
    Ok(ctx)
}

async fn register_delta(
    ctx: &SessionContext,
    name: &str,
    table: &deltalake::DeltaTable,
) -> Result<(), EngineError> {
    let delta_err = |e: deltalake::DeltaTableError| EngineError::Delta {
        table: name.to_string(),
        source: Box::new(e),
    };
    table
        .update_datafusion_session(&ctx.state())
        .map_err(delta_err)?;
    let provider = table.table_provider().await?;
    ctx.register_table(name, provider)?;
    Ok(())
}
