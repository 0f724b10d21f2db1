//! Keeping the `concurrency_slots` rollup in step with `calls`, and checking it.
//!
//! A quarter hour's peak depends on every call connected during it, whichever `event_date`
//! partition holds the call (a call answered on Monday and still connected on Wednesday lives
//! in Monday's partition). So a change to partition D recomputes every day D's calls reach: the
//! days from D (or its earliest answer) to the last day one of its calls is connected, before
//! the change (a deleted long call) and after it (an added one). Each refresh commit records
//! that reach per partition in its commit metadata (`cdrlake.reach`), beside the source
//! versions the other rollups record; a rollup without it is rebuilt whole.

use std::collections::{BTreeMap, BTreeSet};

use cdrlake_engine::{Lake, Scope};
use cdrlake_schema::{CONCURRENCY_SLOTS, PARTITION_COLUMN};
use cdrlake_store::Store;
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{DataType, Date32Type};
use datafusion::prelude::{DataFrame, SessionContext};
use deltalake::kernel::Action;
use serde_json::json;

use crate::rollup::{
    RollupResult, VerifyResult, commit_refresh, compare, dirty_partitions, recorded_sources,
    source_versions, stored_rows, write_passes,
};
use crate::{JobError, ctx, date_days};

/// The commit metadata key holding, per `event_date` partition of `calls`, the first and last
/// UTC day its answered calls are connected on.
pub const REACH_KEY: &str = "cdrlake.reach";

/// Per partition, the first and last day (days since the epoch) its calls are connected on.
type Reach = BTreeMap<String, (i32, i32)>;

fn day_text(days: i32) -> String {
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    (epoch + chrono::Duration::days(i64::from(days)))
        .format("%Y-%m-%d")
        .to_string()
}

fn reach_to_json(reach: &Reach) -> serde_json::Value {
    json!(
        reach
            .iter()
            .map(|(p, (lo, hi))| (p.clone(), vec![day_text(*lo), day_text(*hi)]))
            .collect::<BTreeMap<String, Vec<String>>>()
    )
}

fn reach_from_json(v: serde_json::Value) -> Option<Reach> {
    let map: BTreeMap<String, Vec<String>> = serde_json::from_value(v).ok()?;
    let mut out = Reach::new();
    for (p, days) in map {
        let [lo, hi] = days.as_slice() else {
            return None;
        };
        out.insert(p, (date_days(lo).ok()?, date_days(hi).ok()?));
    }
    Some(out)
}

/// The reach recorded by the rollup's latest refresh commit (None: never refreshed, or gone).
async fn recorded_reach(store: &Store, version: Option<u64>) -> Result<Option<Reach>, JobError> {
    let Some(v) = version else { return Ok(None) };
    let found = cdrlake_engine::log::latest_metadata(
        store.object_store().as_ref(),
        &CONCURRENCY_SLOTS.folder(),
        v,
        REACH_KEY,
        200,
    )
    .await?;
    Ok(found.and_then(reach_from_json))
}

/// The reach of the partitions `parts` (all when None) in the calls `session` sees now.
async fn current_reach(
    session: &SessionContext,
    parts: Option<&BTreeSet<String>>,
) -> Result<Reach, JobError> {
    let only = match parts {
        Some(p) if p.is_empty() => return Ok(Reach::new()),
        Some(p) => {
            let list: Vec<String> = p.iter().map(|d| format!("DATE '{d}'")).collect();
            format!("AND {PARTITION_COLUMN} IN ({})", list.join(", "))
        }
        None => String::new(),
    };
    let text = format!(
        "SELECT CAST({PARTITION_COLUMN} AS VARCHAR) AS p, \
                CAST(min(answer_time) AS DATE) AS lo, \
                CAST(max(greatest(answer_time, end_time)) AS DATE) AS hi \
         FROM calls WHERE answer_time IS NOT NULL {only} GROUP BY {PARTITION_COLUMN}"
    );
    let batches = cdrlake_engine::sql(session, &text)
        .await?
        .collect()
        .await
        .map_err(ctx(
            "concurrency_slots: reading the reach of calls partitions",
        ))?;
    let mut out = Reach::new();
    for b in batches {
        let p = datafusion::arrow::compute::cast(b.column(0), &DataType::Utf8).map_err(ctx(
            "concurrency_slots: reading the reach of calls partitions",
        ))?;
        let p = p.as_string::<i32>();
        let lo = b.column(1).as_primitive::<Date32Type>();
        let hi = b.column(2).as_primitive::<Date32Type>();
        for i in 0..b.num_rows() {
            if p.is_valid(i) && lo.is_valid(i) && hi.is_valid(i) {
                out.insert(p.value(i).to_string(), (lo.value(i), hi.value(i)));
            }
        }
    }
    Ok(out)
}

/// Days as runs of consecutive days `[first, last]`.
fn runs(days: &BTreeSet<i32>) -> Vec<(i32, i32)> {
    let mut out: Vec<(i32, i32)> = Vec::new();
    for &d in days {
        match out.last_mut() {
            Some((_, last)) if *last + 1 == d => *last = d,
            _ => out.push((d, d)),
        }
    }
    out
}

/// The rollup's rows for the days `[first, last]`.
async fn compute(session: &SessionContext, first: i32, last: i32) -> Result<DataFrame, JobError> {
    let text = CONCURRENCY_SLOTS
        .sql
        .replace("$from", &format!("'{} 00:00:00'", day_text(first)))
        .replace("$to", &format!("'{} 00:00:00'", day_text(last + 1)));
    Ok(cdrlake_engine::rollup_frame(session, &text).await?)
}

/// Every row the rollup should hold now: the days every partition's calls reach.
async fn expected(session: &SessionContext) -> Result<DataFrame, JobError> {
    let reach = current_reach(session, None).await?;
    let mut days = BTreeSet::new();
    for (lo, hi) in reach.values() {
        days.extend(*lo..=*hi);
    }
    let mut all: Option<DataFrame> = None;
    for (a, b) in runs(&days) {
        let part = compute(session, a, b).await?;
        all = Some(match all {
            Some(x) => x.union(part)?,
            None => part,
        });
    }
    match all {
        Some(x) => Ok(x),
        // No answered call: the query over one day, which has no rows.
        None => {
            let none = compute(session, 0, 0).await?;
            Ok(none.limit(0, Some(0))?)
        }
    }
}

/// Refreshes `concurrency_slots`; None when a concurrent commit conflicted (reload and retry).
pub(crate) async fn refresh(
    store: &Store,
    lake: &Lake,
    full: bool,
) -> Result<Option<RollupResult>, JobError> {
    let def = &CONCURRENCY_SLOTS;
    let existing = store.open_delta(&store.rollup_url(def)).await?;
    let now = source_versions(lake, def);
    let version = existing.as_ref().and_then(|t| t.version());
    let recorded = match &existing {
        Some(t) => recorded_sources(store, def, t.version()).await?,
        None => None,
    };
    let old_reach = recorded_reach(store, version).await?;
    let dirty = match (&recorded, &old_reach, full) {
        (Some(old), Some(_), false) => dirty_partitions(store, def, old, &now).await?,
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
        version,
        sources: now.clone(),
        seconds: 0.0,
    };
    let nothing_changed = dirty.as_ref().is_some_and(|d| d.is_empty());
    if nothing_changed && recorded.as_ref() == Some(&now) {
        return Ok(Some(result));
    }
    let session = lake.session(&Scope::All, None)?;
    let changed = current_reach(&session, dirty.as_ref()).await?;
    // The days to recompute, and the reach to record.
    let mut days = BTreeSet::new();
    let reach = match &dirty {
        None => {
            for (lo, hi) in changed.values() {
                days.extend(*lo..=*hi);
            }
            changed
        }
        Some(parts) => {
            let mut reach = old_reach.clone().unwrap_or_default();
            for p in parts {
                let d = date_days(p)?;
                for (lo, hi) in [reach.get(p), changed.get(p)].into_iter().flatten() {
                    days.extend((*lo).min(d)..=*hi);
                }
                match changed.get(p) {
                    Some(r) => reach.insert(p.clone(), *r),
                    None => reach.remove(p),
                };
            }
            reach
        }
    };
    let schema = cdrlake_engine::rollup_schema(&compute(&session, 0, 0).await?);
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
        let hit = dirty.is_none() || date_days(&part).is_ok_and(|d| days.contains(&d));
        if hit {
            actions.push(Action::Remove(f.remove_action(true)));
            result.files_removed += 1;
        }
    }
    let mut frames = Vec::new();
    for (first, last) in runs(&days) {
        frames.push(compute(&session, first, last).await?);
    }
    write_passes(def, &table, frames, &mut actions, &mut result).await?;
    let day_list: Vec<String> = days.iter().map(|d| day_text(*d)).collect();
    let rebuilt = dirty.as_ref().map(|_| day_list.as_slice());
    let extra = vec![(REACH_KEY.to_string(), reach_to_json(&reach))];
    let Some(version) =
        commit_refresh(def, &table, actions, &now, rebuilt, nothing_changed, extra).await?
    else {
        return Ok(None);
    };
    result.version = Some(version);
    result.mode = match &dirty {
        Some(_) if nothing_changed => "up_to_date",
        Some(_) => "partitions",
        None => "full",
    }
    .into();
    result.partitions = match &dirty {
        Some(_) => day_list,
        None => vec![],
    };
    Ok(Some(result))
}

/// Compares the rollup with the quarter hours computed from the raw calls now, row for row;
/// a rollup behind `calls` (an ingest not yet refreshed) is reported stale, not compared.
pub(crate) async fn verify(store: &Store, lake: &Lake) -> Result<VerifyResult, JobError> {
    let def = &CONCURRENCY_SLOTS;
    let session = lake.session(&Scope::All, None)?;
    let table = store.open_delta(&store.rollup_url(def)).await?;
    let recorded = match &table {
        Some(t) => recorded_sources(store, def, t.version()).await?,
        None => None,
    };
    let now = source_versions(lake, def);
    let stale = match &recorded {
        Some(old) => dirty_partitions(store, def, old, &now).await?,
        None => None,
    };
    let fresh = stale.as_ref().is_some_and(|s| s.is_empty());
    if table.is_some() && recorded.is_some() && !fresh {
        return Ok(VerifyResult {
            rollup: def.name.to_string(),
            rows: 0,
            missing_rows: 0,
            extra_rows: 0,
            stale_partitions: stale.map(|s| s.into_iter().collect()).unwrap_or_default(),
            stale_all: true,
            ok: true,
        });
    }
    let expected = expected(&session).await?;
    let rollup = stored_rows(&session, def, table.as_ref(), &expected).await?;
    compare(def, expected, rollup, vec![]).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_of_consecutive_days() {
        let days: BTreeSet<i32> = [3, 4, 5, 9, 11, 12].into_iter().collect();
        assert_eq!(runs(&days), vec![(3, 5), (9, 9), (11, 12)]);
        assert!(runs(&BTreeSet::new()).is_empty());
    }

    #[test]
    fn reach_survives_commit_metadata() {
        let mut reach = Reach::new();
        reach.insert("2026-10-01".into(), (20362, 20364));
        let back = reach_from_json(reach_to_json(&reach));
        assert_eq!(back, Some(reach));
        assert_eq!(day_text(20362), "2025-10-01");
    }
}
