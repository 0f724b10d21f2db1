//! A fast path for filters on tenant-local time.
//!
//! Reports select a period of tenant-local time: `local_time(c.invite_time, t.time_zone) >=
//! $from AND local_time(c.invite_time, t.time_zone) < $to`, evaluated in the join with
//! `tenants` for every call: a time zone lookup per row and per bound. But a UTC offset is
//! less than 26 hours either way (jiff, which `local_time` uses, cannot represent more; the
//! time zone database's largest, local mean times of the 19th century, are under 16), so an
//! instant at least 26 hours after `$from` is after it in every zone, and one at least 26
//! hours before `$to` is before it in every zone. This optimizer rule rewrites each such
//! comparison of a filter or a join filter into
//!
//! ```text
//! (utc >= $from + 26 h AND zone IS NOT NULL) OR local_time(utc, zone) >= $from
//! ```
//!
//! which is the same predicate (the right side alone decides whenever the left is false, and
//! the left is true only where the right is true), and DataFusion's `OR` skips its right side
//! for a batch whose left side is all true: the rows of a period, but for the two days at its
//! edges, are selected without a zone lookup. Comparisons with `>`, `>=`, `<`, `<=` and a
//! timestamp literal (after constant folding) are rewritten, either way round; the zone may
//! be a column or a known zone's name.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, Result, ScalarValue};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::utils::{conjunction, split_conjunction_owned};
use datafusion::logical_expr::{
    BinaryExpr, Cast, Expr, ExprSchemable, Filter, Join, LogicalPlan, Operator, lit,
};
use datafusion::optimizer::{ApplyOrder, OptimizerConfig, OptimizerRule};

use crate::time::is_local_time;
use crate::zones::Zone;

/// More than any UTC offset (jiff's offsets are within ±25:59:59).
const MARGIN_MICROS: i64 = 26 * 3_600 * 1_000_000;

#[derive(Debug, Default)]
pub struct LocalTimeBounds;

pub(crate) fn rule() -> Arc<LocalTimeBounds> {
    Arc::new(LocalTimeBounds)
}

/// The rule's name.
pub(crate) const RULE_NAME: &str = "cdrlake_local_time_bounds";

impl OptimizerRule for LocalTimeBounds {
    fn name(&self) -> &str {
        RULE_NAME
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::BottomUp)
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        match plan {
            LogicalPlan::Filter(filter) => {
                let schema = filter.input.schema().as_ref().clone();
                match rewrite_predicate(filter.predicate.clone(), &schema)? {
                    Some(p) => Ok(Transformed::yes(LogicalPlan::Filter(Filter::try_new(
                        p,
                        filter.input,
                    )?))),
                    None => Ok(Transformed::no(LogicalPlan::Filter(filter))),
                }
            }
            LogicalPlan::Join(join) => {
                let Some(predicate) = join.filter.clone() else {
                    return Ok(Transformed::no(LogicalPlan::Join(join)));
                };
                let schema = join.left.schema().join(join.right.schema())?;
                match rewrite_predicate(predicate, &schema)? {
                    Some(p) => Ok(Transformed::yes(LogicalPlan::Join(Join {
                        filter: Some(p),
                        ..join
                    }))),
                    None => Ok(Transformed::no(LogicalPlan::Join(join))),
                }
            }
            other => Ok(Transformed::no(other)),
        }
    }
}

/// The predicate with each top-level conjunct that compares `local_time` with a literal
/// given its fast path; None when there is none. A rewritten conjunct is an `OR`, which is
/// not rewritten again, so the rule reaches a fixed point.
fn rewrite_predicate(predicate: Expr, schema: &DFSchema) -> Result<Option<Expr>> {
    let mut changed = false;
    let mut out = Vec::new();
    for c in split_conjunction_owned(predicate) {
        match fast_path(&c, schema)? {
            Some(fast) => {
                changed = true;
                out.push(fast.or(c));
            }
            None => out.push(c),
        }
    }
    Ok(if changed { conjunction(out) } else { None })
}

/// For `local_time(utc, zone) <op> literal` (either way round), the condition on `utc` alone
/// that implies it in every zone.
fn fast_path(e: &Expr, schema: &DFSchema) -> Result<Option<Expr>> {
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = e else {
        return Ok(None);
    };
    let (call, op, bound) = match (local_time_args(left), local_time_args(right)) {
        (Some(args), None) => (args, *op, right.as_ref()),
        (None, Some(args)) => match op.swap() {
            Some(op) => (args, op, left.as_ref()),
            None => return Ok(None),
        },
        _ => return Ok(None),
    };
    let [utc, zone] = call else {
        return Ok(None);
    };
    let lower = match op {
        Operator::Gt | Operator::GtEq => true,
        Operator::Lt | Operator::LtEq => false,
        _ => return Ok(None),
    };
    let Some(bound) = literal_micros(bound, lower) else {
        return Ok(None);
    };
    // The instant column's own type, so the comparison needs no cast (and prunes).
    let DataType::Timestamp(TimeUnit::Microsecond, tz) = utc.get_type(schema)? else {
        return Ok(None);
    };
    let zone_known = match zone {
        Expr::Literal(ScalarValue::Utf8(Some(z)) | ScalarValue::LargeUtf8(Some(z)), _)
        | Expr::Literal(ScalarValue::Utf8View(Some(z)), _) => {
            if Zone::get(z).is_none() {
                // Leave the comparison alone, so the unknown zone is still an error.
                return Ok(None);
            }
            None
        }
        Expr::Literal(..) => return Ok(None),
        z => Some(z.clone().is_not_null()),
    };
    let at = |v: i64| lit(ScalarValue::TimestampMicrosecond(Some(v), tz.clone()));
    let cond = if lower {
        match bound.checked_add(MARGIN_MICROS) {
            Some(v) => utc.clone().gt_eq(at(v)),
            None => return Ok(None),
        }
    } else {
        match bound.checked_sub(MARGIN_MICROS) {
            Some(v) => utc.clone().lt(at(v)),
            None => return Ok(None),
        }
    };
    Ok(Some(match zone_known {
        Some(not_null) => cond.and(not_null),
        None => cond,
    }))
}

/// The arguments of a `local_time` call, possibly under a cast to another naive timestamp
/// type (exact: the cast only changes the unit).
fn local_time_args(e: &Expr) -> Option<&[Expr]> {
    match e {
        Expr::ScalarFunction(ScalarFunction { func, args }) if is_local_time(func) => {
            Some(args.as_slice())
        }
        Expr::Cast(Cast { expr, field })
            if matches!(field.data_type(), DataType::Timestamp(_, None)) =>
        {
            local_time_args(expr)
        }
        _ => None,
    }
}

/// A naive timestamp literal in microseconds, rounded so the fast path stays inside the
/// bound: up for a lower bound, down for an upper one.
fn literal_micros(e: &Expr, lower: bool) -> Option<i64> {
    let Expr::Literal(v, _) = e else {
        return None;
    };
    let (value, per_micro, micros_per) = match v {
        ScalarValue::TimestampSecond(Some(s), None) => (*s, 1, 1_000_000),
        ScalarValue::TimestampMillisecond(Some(ms), None) => (*ms, 1, 1_000),
        ScalarValue::TimestampMicrosecond(Some(us), None) => (*us, 1, 1),
        ScalarValue::TimestampNanosecond(Some(ns), None) => (*ns, 1_000, 1),
        _ => return None,
    };
    if per_micro == 1 {
        value.checked_mul(micros_per)
    } else if lower {
        Some(value.div_euclid(per_micro) + i64::from(value.rem_euclid(per_micro) != 0))
    } else {
        Some(value.div_euclid(per_micro))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray, TimestampMicrosecondArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use datafusion::execution::SessionStateBuilder;
    use datafusion::prelude::SessionContext;

    use crate::zones::Zone;

    /// Zones from -12:00 to +14:00, a half and a three-quarter hour offset, DST on both
    /// hemispheres, and two 19th-century local mean times near the extremes (Sitka +14:58:47
    /// before 1867, Manila -15:56 before 1845).
    const ZONES: &[&str] = &[
        "UTC",
        "Etc/GMT+12",
        "Pacific/Kiritimati",
        "Asia/Kolkata",
        "Asia/Kathmandu",
        "America/New_York",
        "Australia/Lord_Howe",
        "America/Sitka",
        "Asia/Manila",
    ];

    fn us(s: &str) -> i64 {
        chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
            .map(|t| t.and_utc().timestamp_micros())
            .unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    /// Every zone at instants 7 minutes apart over two spans: around a period in 2026 and one
    /// in 1850 (where the local mean times apply).
    fn table() -> RecordBatch {
        let mut ts = Vec::new();
        let mut zs = Vec::new();
        for (start, end) in [
            ("2026-02-25 00:00:00", "2026-03-12 00:00:00"),
            ("1850-06-25 00:00:00", "1850-07-08 00:00:00"),
        ] {
            let mut t = us(start);
            while t < us(end) {
                for z in ZONES {
                    ts.push(t);
                    zs.push(*z);
                }
                t += 7 * 60 * 1_000_000;
            }
        }
        let schema = Schema::new(vec![
            Field::new(
                "ts",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                false,
            ),
            Field::new("zone", DataType::Utf8, false),
        ]);
        let cols: Vec<ArrayRef> = vec![
            Arc::new(TimestampMicrosecondArray::from(ts).with_timezone("UTC")),
            Arc::new(StringArray::from(zs)),
        ];
        RecordBatch::try_new(Arc::new(schema), cols).expect("batch")
    }

    async fn count(ctx: &SessionContext, sql: &str) -> i64 {
        let batches = ctx.sql(sql).await.expect(sql).collect().await.expect(sql);
        let col = batches[0].column(0);
        col.as_any()
            .downcast_ref::<datafusion::arrow::array::Int64Array>()
            .expect("count")
            .value(0)
    }

    async fn plan(ctx: &SessionContext, sql: &str) -> String {
        let df = ctx.sql(sql).await.expect(sql);
        format!("{}", df.into_optimized_plan().expect(sql).display_indent())
    }

    /// The rule rewrites local-time bounds (in a filter and in a join filter) and every count
    /// equals the one computed row by row with the zone database, for bounds on and off the
    /// hour, inclusive and exclusive, either way round, in 2026 and in 1850.
    #[tokio::test]
    async fn fast_path_selects_exactly_the_rows_of_the_local_period() {
        let ctx = SessionContext::new();
        crate::register_all(&ctx).expect("register");
        assert!(
            ctx.state()
                .optimizers()
                .iter()
                .any(|r| r.name() == "cdrlake_local_time_bounds"),
            "the rule is registered"
        );
        let batch = table();
        let rows: Vec<(i64, String)> = {
            let ts = batch
                .column(0)
                .as_any()
                .downcast_ref::<TimestampMicrosecondArray>()
                .expect("ts");
            let zs = batch
                .column(1)
                .as_any()
                .downcast_ref::<StringArray>()
                .expect("zone");
            (0..batch.num_rows())
                .map(|i| (ts.value(i), zs.value(i).to_string()))
                .collect()
        };
        ctx.register_batch("t", batch).expect("t");
        ctx.sql("CREATE VIEW zones AS SELECT DISTINCT zone AS z FROM t")
            .await
            .expect("view");
        let periods = [
            ("2026-03-01 00:00:00", "2026-03-06 00:00:00"),
            ("2026-03-01 13:30:00", "2026-03-08 02:45:00"),
            ("2026-03-03 00:00:00", "2026-03-04 00:00:00"),
            ("1850-06-28 00:00:00", "1850-07-04 00:00:00"),
        ];
        for (from, to) in periods {
            let (lo, hi) = (us(from), us(to));
            let local = |t: i64, z: &str| Zone::get(z).expect(z).local_micros(t);
            let want_all = rows
                .iter()
                .filter(|(t, z)| (lo..hi).contains(&local(*t, z)))
                .count() as i64;
            let want_incl = rows
                .iter()
                .filter(|(t, z)| {
                    let l = local(*t, z);
                    l > lo && l <= hi
                })
                .count() as i64;
            let want_ny = rows
                .iter()
                .filter(|(t, z)| {
                    z == "Asia/Kathmandu" && (lo..hi).contains(&local(*t, "Asia/Kathmandu"))
                })
                .count() as i64;
            let filter = format!(
                "SELECT count(*) FROM t WHERE local_time(ts, zone) >= TIMESTAMP '{from}' \
                 AND local_time(ts, zone) < TIMESTAMP '{to}'"
            );
            let swapped = format!(
                "SELECT count(*) FROM t WHERE TIMESTAMP '{from}' < local_time(ts, zone) \
                 AND TIMESTAMP '{to}' >= local_time(ts, zone)"
            );
            let join = format!(
                "SELECT count(*) FROM t JOIN zones ON zones.z = t.zone \
                 WHERE local_time(t.ts, zones.z) >= CAST('{from}' AS TIMESTAMP) \
                 AND local_time(t.ts, zones.z) < CAST('{to}' AS TIMESTAMP)"
            );
            let literal_zone = format!(
                "SELECT count(*) FROM t WHERE zone = 'Asia/Kathmandu' \
                 AND local_time(ts, 'Asia/Kathmandu') >= TIMESTAMP '{from}' \
                 AND local_time(ts, 'Asia/Kathmandu') < TIMESTAMP '{to}'"
            );
            assert_eq!(count(&ctx, &filter).await, want_all, "{filter}");
            assert_eq!(count(&ctx, &swapped).await, want_incl, "{swapped}");
            assert_eq!(count(&ctx, &join).await, want_all, "{join}");
            assert_eq!(count(&ctx, &literal_zone).await, want_ny, "{literal_zone}");
            assert!(
                want_all > 0 && want_all < rows.len() as i64,
                "{from}..{to} is a real filter"
            );
            for sql in [&filter, &swapped, &join, &literal_zone] {
                let p = plan(&ctx, sql).await;
                assert!(p.contains(" OR local_time("), "no fast path in\n{p}");
            }
        }
        // An unknown literal zone is left alone, so it is still an error.
        let bad = "SELECT count(*) FROM t WHERE local_time(ts, 'Mars/Base') >= TIMESTAMP '2026-03-01 00:00:00'";
        assert!(!plan(&ctx, bad).await.contains(" OR local_time("));
        assert!(ctx.sql(bad).await.expect(bad).collect().await.is_err());

        // The same counts without the rule (the plan keeps the plain comparisons).
        let rules = ctx
            .state()
            .optimizers()
            .iter()
            .filter(|r| r.name() != "cdrlake_local_time_bounds")
            .cloned()
            .collect();
        let state = SessionStateBuilder::new_from_existing(ctx.state())
            .with_optimizer_rules(rules)
            .build();
        let plain = SessionContext::new_with_state(state);
        let sql = "SELECT count(*) FROM t WHERE local_time(ts, zone) >= TIMESTAMP '2026-03-01 13:30:00' \
                   AND local_time(ts, zone) < TIMESTAMP '2026-03-08 02:45:00'";
        assert!(!plan(&plain, sql).await.contains(" OR local_time("));
        assert_eq!(count(&plain, sql).await, count(&ctx, sql).await);
    }
}
