//! Reading a Delta table's commit files (`_delta_log/<version>.json`) directly: which
//! partitions a range of commits changed, and cdrlake's own commit metadata.

use std::collections::{BTreeMap, BTreeSet};

use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt as _};
use serde_json::Value;

use crate::EngineError;

fn ctx<E: std::fmt::Display>(what: impl Into<String>) -> impl FnOnce(E) -> EngineError {
    let what = what.into();
    move |e| EngineError::Log(format!("{what}: {e}"))
}

/// The actions of commit `version` of the Delta table under `prefix` (relative to the store
/// root, e.g. `tables/calls`), or None when that commit file no longer exists (log cleanup).
pub async fn read_commit(
    os: &dyn ObjectStore,
    prefix: &str,
    version: u64,
) -> Result<Option<Vec<Value>>, EngineError> {
    let path = Path::from(format!("{prefix}/_delta_log/{version:020}.json"));
    let bytes = match os.get(&path).await {
        Ok(r) => r.bytes().await.map_err(ctx(format!("reading {path}")))?,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(ctx(format!("reading {path}"))(e)),
    };
    let text = std::str::from_utf8(&bytes).map_err(ctx(format!("reading {path}")))?;
    let mut actions = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(line).map_err(ctx(format!("{path} line {}", i + 1)))?;
        actions.push(v);
    }
    Ok(Some(actions))
}

/// What a range of commits changed in a table's data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changes {
    /// Only rows of these `event_date` partitions were added or removed.
    Partitions(BTreeSet<String>),
    /// Anything else: an unpartitioned table's data, the table's metadata, or a commit file
    /// that is gone. Whatever depends on the table must be rebuilt whole.
    Everything,
}

/// The partitions whose data the commits `after + 1 ..= upto` changed. Files added or removed
/// with `dataChange = false` (compaction) change nothing.
pub async fn changes(
    os: &dyn ObjectStore,
    prefix: &str,
    after: u64,
    upto: u64,
) -> Result<Changes, EngineError> {
    let mut parts = BTreeSet::new();
    for v in after + 1..=upto {
        let Some(actions) = read_commit(os, prefix, v).await? else {
            return Ok(Changes::Everything);
        };
        for a in &actions {
            if a.get("metaData").is_some() {
                return Ok(Changes::Everything);
            }
            let Some(file) = a.get("add").or_else(|| a.get("remove")) else {
                continue;
            };
            if file.get("dataChange") == Some(&Value::Bool(false)) {
                continue;
            }
            match file
                .get("partitionValues")
                .and_then(|p| p.get(cdrlake_schema::PARTITION_COLUMN))
                .and_then(Value::as_str)
            {
                Some(d) => {
                    parts.insert(d.to_string());
                }
                None => return Ok(Changes::Everything),
            }
        }
    }
    Ok(Changes::Partitions(parts))
}

/// The commit metadata key holding the source versions a rollup commit was computed from.
pub const ROLLUP_STATE_KEY: &str = "cdrlake.rollup_sources";

/// The source table versions recorded by a rollup's latest refresh commit (None: never
/// refreshed, or the record is gone).
pub async fn rollup_sources(
    os: &dyn ObjectStore,
    def: &cdrlake_schema::RollupDef,
    version: Option<u64>,
) -> Result<Option<BTreeMap<String, u64>>, EngineError> {
    let Some(v) = version else { return Ok(None) };
    let prefix = def.folder();
    let found = latest_metadata(os, &prefix, v, ROLLUP_STATE_KEY, 200).await?;
    Ok(found.and_then(|v| serde_json::from_value(v).ok()))
}

/// The partitions of a rollup whose sources changed between the `old` and `now` source
/// versions; None: all of them (a dimension changed, a log is gone, a table was replaced).
pub async fn rollup_dirty(
    os: &dyn ObjectStore,
    def: &cdrlake_schema::RollupDef,
    old: &BTreeMap<String, u64>,
    now: &BTreeMap<String, u64>,
) -> Result<Option<BTreeSet<String>>, EngineError> {
    let mut dirty = BTreeSet::new();
    for s in def.sources() {
        match (old.get(s), now.get(s)) {
            (None, None) => {}
            (Some(o), Some(n)) if o == n => {}
            (Some(o), Some(n)) if o < n => match changes(os, &format!("tables/{s}"), *o, *n).await?
            {
                Changes::Everything => return Ok(None),
                Changes::Partitions(p) => {
                    if def.dimension_sources.contains(&s) && !p.is_empty() {
                        return Ok(None);
                    }
                    dirty.extend(p);
                }
            },
            _ => return Ok(None),
        }
    }
    Ok(Some(dirty))
}

/// The value of cdrlake commit metadata `key` in the latest commit (looking back at most
/// `depth` commits from `latest`) that has it.
pub async fn latest_metadata(
    os: &dyn ObjectStore,
    prefix: &str,
    latest: u64,
    key: &str,
    depth: u64,
) -> Result<Option<Value>, EngineError> {
    let mut v = latest;
    loop {
        if let Some(actions) = read_commit(os, prefix, v).await? {
            for a in &actions {
                if let Some(found) = a.get("commitInfo").and_then(|c| c.get(key)) {
                    return Ok(Some(found.clone()));
                }
            }
        }
        if v == 0 || latest - v >= depth {
            return Ok(None);
        }
        v -= 1;
    }
}
