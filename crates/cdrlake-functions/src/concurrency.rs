//! Concurrency without interval self-joins: the `max_concurrent` aggregate (sort and sweep),
//! the `license_use` window function (soft ceiling), and the `concurrency` table function
//! (total joined and max concurrent per tenant and local time bucket).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Int64Array, Int64Builder, ListArray, RecordBatch, RecordBatchOptions,
    StringArray, StringBuilder, TimestampMicrosecondArray, TimestampMicrosecondBuilder,
};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{
    DataType, Field, FieldRef, Int64Type, Schema, SchemaRef, TimeUnit, TimestampMicrosecondType,
};
use async_trait::async_trait;
use chrono::{DateTime, Duration, NaiveDateTime, Timelike, Utc};
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DFSchema, ScalarValue, exec_err, plan_err};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, SessionState, TaskContext};
use datafusion::functions_aggregate::expr_fn::max;
use datafusion::logical_expr::function::{
    AccumulatorArgs, PartitionEvaluatorArgs, StateFieldsArgs, WindowUDFFieldArgs,
};
use datafusion::logical_expr::simplify::SimplifyContext;
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Documentation, Expr, PartitionEvaluator,
    Signature, TableProviderFilterPushDown, TableType, TypeSignature, Volatility, WindowUDF,
    WindowUDFImpl,
};
use datafusion::optimizer::simplify_expressions::ExprSimplifier;
use datafusion::physical_expr::EquivalenceProperties;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, Partitioning,
    PlanProperties, execute_stream,
};
use datafusion::prelude::{DataFrame, SessionContext, col, lit};
use futures::StreamExt;

use crate::options::CdrlakeOptions;
use crate::udf::{coerce_time, section, utc_micros};
use crate::zones::Zone;

fn doc_section() -> datafusion::logical_expr::DocSection {
    section("cdrlake: concurrency and licences")
}

/// Peak number of overlapping `[start, end)` intervals. Sorts `starts` and `ends` in place.
/// Ends are processed before starts at equal times, so back-to-back calls do not overlap.
pub fn peak_concurrency(starts: &mut [i64], ends: &mut [i64]) -> i64 {
    starts.sort_unstable();
    ends.sort_unstable();
    let (mut level, mut peak, mut j) = (0i64, 0i64, 0usize);
    for &s in starts.iter() {
        while j < ends.len() && ends[j] <= s {
            level -= 1;
            j += 1;
        }
        level += 1;
        peak = peak.max(level);
    }
    peak
}

// ---------------------------------------------------------------------------------------
// max_concurrent(start, end)

#[derive(Debug, PartialEq, Eq, Hash)]
struct MaxConcurrent {
    signature: Signature,
}

impl AggregateUDFImpl for MaxConcurrent {
    fn name(&self) -> &str {
        "max_concurrent"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() != 2 {
            return plan_err!(
                "max_concurrent takes 2 arguments (start, end), got {}",
                arg_types.len()
            );
        }
        Ok(vec![
            coerce_time("max_concurrent", "start", &arg_types[0])?,
            coerce_time("max_concurrent", "end", &arg_types[1])?,
        ])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }

    fn is_nullable(&self) -> bool {
        false
    }

    fn default_value(&self, _data_type: &DataType) -> Result<ScalarValue> {
        Ok(ScalarValue::Int64(Some(0)))
    }

    fn accumulator(&self, _acc_args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::<MaxConcurrentAcc>::default())
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let list = |n: &str| {
            Arc::new(Field::new_list(
                format_state_name(args.name, n),
                Field::new_list_field(DataType::Int64, true),
                true,
            ))
        };
        Ok(vec![list("starts"), list("ends")])
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&MAX_CONCURRENT_DOC)
    }
}

static MAX_CONCURRENT_DOC: std::sync::LazyLock<Documentation> = std::sync::LazyLock::new(|| {
    Documentation::builder(
        doc_section(),
        "Aggregate: the peak number of overlapping [start, end) intervals in the group (like \
         ClickHouse's maxIntersections), by sort and sweep: +1 at each start, -1 at each end, \
         ends before starts at equal times, so a call ending when another starts does not \
         overlap it. Rows with a NULL start or end, or end <= start, occupy nothing. 0 for an \
         empty group. Peaks per time bucket that carry in calls from earlier buckets come \
         from the concurrency table function."
            .to_string(),
        "max_concurrent(start, end)".to_string(),
    )
    .with_sql_example(
        "```sql\nSELECT tenant_id, max_concurrent(answer_time, end_time) FROM calls GROUP BY tenant_id;\n```",
    )
    .with_argument("start", "Interval start (timestamp).")
    .with_argument("end", "Interval end, exclusive (timestamp).")
    .build()
});

#[derive(Debug, Default)]
struct MaxConcurrentAcc {
    starts: Vec<i64>,
    ends: Vec<i64>,
}

impl MaxConcurrentAcc {
    fn push(&mut self, s: &TimestampMicrosecondArray, e: &TimestampMicrosecondArray) {
        for i in 0..s.len() {
            if s.is_valid(i) && e.is_valid(i) {
                let (s, e) = (s.value(i), e.value(i));
                if e > s {
                    self.starts.push(s);
                    self.ends.push(e);
                }
            }
        }
    }
}

fn list_of(values: Vec<i64>) -> ScalarValue {
    let n = values.len();
    let list = ListArray::new(
        Arc::new(Field::new_list_field(DataType::Int64, true)),
        OffsetBuffer::from_lengths([n]),
        Arc::new(Int64Array::from(values)),
        None,
    );
    ScalarValue::List(Arc::new(list))
}

impl Accumulator for MaxConcurrentAcc {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let s = values[0].as_primitive::<TimestampMicrosecondType>();
        let e = values[1].as_primitive::<TimestampMicrosecondType>();
        self.push(s, e);
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Int64(Some(peak_concurrency(
            &mut self.starts,
            &mut self.ends,
        ))))
    }

    fn size(&self) -> usize {
        size_of::<Self>() + 8 * (self.starts.capacity() + self.ends.capacity())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![
            list_of(std::mem::take(&mut self.starts)),
            list_of(std::mem::take(&mut self.ends)),
        ])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        for (k, target) in [&mut self.starts, &mut self.ends].into_iter().enumerate() {
            let lists = states[k].as_list::<i32>();
            for i in 0..lists.len() {
                if lists.is_valid(i) {
                    let v = lists.value(i);
                    target.extend(v.as_primitive::<Int64Type>().values().iter().copied());
                }
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// license_use(start, end, licenses [, ceiling]) OVER (PARTITION BY tenant_id ORDER BY start, call_id)

/// The hard ceiling for `licenses`: L + floor(L x ratio) from `min_licenses` licences on, else L.
pub fn soft_ceiling(licenses: i64, min_licenses: i64, ratio: f64) -> i64 {
    if licenses >= min_licenses {
        licenses + (licenses as f64 * ratio).floor() as i64
    } else {
        licenses
    }
}

#[derive(Debug)]
struct LicenseUse {
    signature: Signature,
    min_licenses: i64,
    ratio: f64,
}

impl PartialEq for LicenseUse {
    fn eq(&self, other: &Self) -> bool {
        self.min_licenses == other.min_licenses && self.ratio.to_bits() == other.ratio.to_bits()
    }
}
impl Eq for LicenseUse {}
impl Hash for LicenseUse {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.min_licenses.hash(state);
        self.ratio.to_bits().hash(state);
    }
}

impl WindowUDFImpl for LicenseUse {
    fn name(&self) -> &str {
        "license_use"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if !(3..=4).contains(&arg_types.len()) {
            return plan_err!(
                "license_use takes 3 or 4 arguments (start, end, licenses [, ceiling]), got {}",
                arg_types.len()
            );
        }
        let mut out = vec![
            coerce_time("license_use", "start", &arg_types[0])?,
            coerce_time("license_use", "end", &arg_types[1])?,
        ];
        for (t, name) in arg_types[2..].iter().zip(["licenses", "ceiling"]) {
            if !(t.is_integer() || t.is_null()) {
                return plan_err!("license_use: argument {name} must be an integer, got {t}");
            }
            out.push(DataType::Int64);
        }
        Ok(out)
    }

    fn partition_evaluator(
        &self,
        _args: PartitionEvaluatorArgs,
    ) -> Result<Box<dyn PartitionEvaluator>> {
        Ok(Box::new(LicenseEvaluator {
            min_licenses: self.min_licenses,
            ratio: self.ratio,
        }))
    }

    fn field(&self, field_args: WindowUDFFieldArgs) -> Result<FieldRef> {
        Ok(Arc::new(Field::new(
            field_args.name(),
            DataType::Utf8,
            true,
        )))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&LICENSE_USE_DOC)
    }
}

static LICENSE_USE_DOC: std::sync::LazyLock<Documentation> = std::sync::LazyLock::new(|| {
    Documentation::builder(
        doc_section(),
        "Window function: the licence decision for each call, 'normal', 'surged' or \
         'rejected', by the soft-ceiling rule (product decision). In (start, call id) order each \
         call sees the concurrency c at its start, itself included (calls that ended at or \
         before its start are gone; rejected calls occupy nothing): c <= L is normal, \
         L < c <= C surged, c > C rejected, where C = L + floor(L/2) when L >= 6, else L \
         (settings cdrlake.license_soft_ceiling_min and cdrlake.license_soft_ceiling_ratio, \
         read when the functions are registered), or the ceiling given as the fourth argument. \
         A NULL end is a call still in progress. NULL when start or licenses is NULL. The \
         window must be ordered by the start time (an error otherwise); add call_id to make \
         simultaneous starts deterministic. Licence overage = calls whose c > L."
            .to_string(),
        "license_use(start, end, licenses [, ceiling]) OVER (PARTITION BY tenant_id ORDER BY start, call_id)"
            .to_string(),
    )
    .with_sql_example(
        "```sql\nSELECT c.call_id, license_use(c.answer_time, c.end_time, t.licenses)\n         OVER (PARTITION BY c.tenant_id ORDER BY c.answer_time, c.call_id) AS decision\nFROM calls c JOIN tenants t USING (tenant_id);\n```",
    )
    .with_argument("start", "When the call starts occupying a licence.")
    .with_argument("end", "When it stops (exclusive); NULL if still in progress.")
    .with_argument("licenses", "Licences L of the tenant.")
    .with_argument("ceiling", "Optional hard ceiling C instead of the soft-ceiling rule.")
    .build()
});

#[derive(Debug)]
struct LicenseEvaluator {
    min_licenses: i64,
    ratio: f64,
}

impl PartitionEvaluator for LicenseEvaluator {
    fn evaluate_all(&mut self, values: &[ArrayRef], num_rows: usize) -> Result<ArrayRef> {
        let starts = values[0].as_primitive::<TimestampMicrosecondType>();
        let ends = values[1].as_primitive::<TimestampMicrosecondType>();
        let lic = values[2].as_primitive::<Int64Type>();
        let ceil = values.get(3).map(|c| c.as_primitive::<Int64Type>());
        let mut active: BinaryHeap<Reverse<i64>> = BinaryHeap::new();
        let mut prev = i64::MIN;
        let mut out = StringBuilder::with_capacity(num_rows, num_rows * 7);
        for i in 0..num_rows {
            if starts.is_null(i) || lic.is_null(i) || lic.value(i) < 0 {
                out.append_null();
                continue;
            }
            let s = starts.value(i);
            if s < prev {
                return exec_err!(
                    "license_use: rows are not in start order; use OVER (PARTITION BY tenant_id ORDER BY <start>, call_id) with the same start expression"
                );
            }
            prev = s;
            while active.peek().is_some_and(|Reverse(e)| *e <= s) {
                active.pop();
            }
            let l = lic.value(i);
            let c = active.len() as i64 + 1;
            let hard = match ceil {
                Some(a) if a.is_valid(i) => a.value(i).max(l),
                _ => soft_ceiling(l, self.min_licenses, self.ratio),
            };
            let decision = if c <= l {
                "normal"
            } else if c <= hard {
                "surged"
            } else {
                "rejected"
            };
            if decision != "rejected" {
                let e = if ends.is_valid(i) {
                    ends.value(i)
                } else {
                    i64::MAX
                };
                if e > s {
                    active.push(Reverse(e));
                }
            }
            out.append_value(decision);
        }
        Ok(Arc::new(out.finish()))
    }
}

// ---------------------------------------------------------------------------------------
// concurrency(bucket, from, to [, basis])

/// Time bucket of the concurrency table function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    Minute,
    /// UTC quarter hours, whatever the tenant's zone (local quarter hours in every zone in use
    /// today, whose offsets are whole quarter hours): the grain of the `concurrency_slots` rollup.
    QuarterHour,
    Hour,
    Day,
}

impl Bucket {
    fn parse(s: &str) -> Option<Bucket> {
        match s.trim().to_ascii_lowercase().as_str() {
            "minute" => Some(Bucket::Minute),
            "quarter_hour" => Some(Bucket::QuarterHour),
            "hour" => Some(Bucket::Hour),
            "day" => Some(Bucket::Day),
            _ => None,
        }
    }

    fn truncate(self, t: NaiveDateTime) -> NaiveDateTime {
        let d = t.date();
        let (h, m) = match self {
            Bucket::Minute => (t.hour(), t.minute()),
            Bucket::QuarterHour => (t.hour(), t.minute() - t.minute() % 15),
            Bucket::Hour => (t.hour(), 0),
            Bucket::Day => (0, 0),
        };
        d.and_hms_opt(h, m, 0).unwrap_or(t)
    }
}

/// Which interval a call occupies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// Answered calls, from answer to end: connected calls, as licences count them.
    Answered,
    /// Every attempt, from invite to end.
    Attempts,
}

#[cfg(test)]
fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn from_micros(v: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_micros(v).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// The UTC start of the local bucket holding `t`.
fn floor_local(t: i64, bucket: Bucket, tz: &Zone) -> i64 {
    let local = bucket.truncate(from_micros(tz.local_micros(t)).naive_utc());
    match tz.from_local(local) {
        chrono::LocalResult::Single(x) => x,
        // Clocks went back: the later of the two instants that is not after t.
        chrono::LocalResult::Ambiguous(a, b) => {
            if a.max(b) <= t {
                a.max(b)
            } else {
                a.min(b)
            }
        }
        // The local bucket start does not exist (a gap at midnight): start at the gap's end.
        chrono::LocalResult::None => {
            let mut probe = local;
            for _ in 0..180 {
                probe += Duration::minutes(1);
                if let Some(x) = tz.from_local(probe).earliest() {
                    return x.min(t);
                }
            }
            t
        }
    }
}

/// The width of a `concurrency_slots` row: a quarter hour, in microseconds.
const SLOT: i64 = 900_000_000;

/// Local bucket boundaries (UTC microseconds) covering [from, to): b0 <= from < ... < bn >= to.
fn boundaries(from: i64, to: i64, bucket: Bucket, tz: &Zone) -> Vec<i64> {
    let step = match bucket {
        Bucket::Minute => 60_000_000,
        Bucket::QuarterHour => SLOT,
        Bucket::Hour => 3_600_000_000,
        Bucket::Day => 86_400_000_000,
    };
    let mut out = vec![floor_local(from, bucket, tz)];
    while let Some(&last) = out.last() {
        if last >= to {
            break;
        }
        // Step past the next boundary and floor back: DST days are 23 or 25 hours long.
        let mut next = floor_local(last + step + step / 2, bucket, tz);
        if next <= last {
            next = last + step;
        }
        out.push(next);
    }
    out
}

/// Finds the bucket of an instant in O(1) on average: bucket boundaries are nearly evenly
/// spaced (hours, days; DST and half-hour zones move a few), so a guess from the mean width
/// is off by at most a step or two.
struct Locator<'a> {
    bounds: &'a [i64],
    width: i64,
}

impl<'a> Locator<'a> {
    fn new(bounds: &'a [i64]) -> Self {
        let n = bounds.len().saturating_sub(1).max(1) as i64;
        let width = match (bounds.first(), bounds.last()) {
            (Some(f), Some(l)) => ((l - f) / n).max(1),
            _ => 1,
        };
        Locator { bounds, width }
    }

    /// How many boundaries are at or before `t`: `bounds.partition_point(|&b| b <= t)`.
    fn upto(&self, t: i64) -> usize {
        let b = self.bounds;
        let (Some(&first), Some(&last)) = (b.first(), b.last()) else {
            return 0;
        };
        if t < first {
            return 0;
        }
        if t >= last {
            return b.len();
        }
        // first <= t < last: bounds[k] <= t < bounds[k + 1] for exactly one k < len - 1.
        let mut k = usize::try_from((t - first) / self.width)
            .unwrap_or(0)
            .min(b.len() - 2);
        while b[k] > t {
            k -= 1;
        }
        while b[k + 1] <= t {
            k += 1;
        }
        k + 1
    }

    /// The bucket a call starting at `t` is counted in (-1: before the first bucket).
    fn start_bucket(&self, t: i64) -> isize {
        self.upto(t) as isize - 1
    }

    /// The bucket a call ending at `t` leaves in: a call ending exactly at a boundary is gone
    /// from the bucket that starts there.
    fn end_bucket(&self, t: i64) -> isize {
        self.upto(t.saturating_sub(1)) as isize - 1
    }
}

/// Total joined and max concurrent per bucket for one tenant's intervals (collected in
/// parts, one per scan partition).
///
/// A bucketed sweep: each start (+1) and end (-1) goes to the bucket it happens in (one pass
/// to count, one to place), then each bucket's few events are sorted by time, ends before
/// starts at the same instant (a call ending when another starts does not overlap it), and
/// swept. Events before the first bucket only set the level carried into it. Sorting per
/// bucket instead of all events at once keeps the sorts small and in cache.
fn sweep(parts: &[TenantIntervals], bounds: &[i64]) -> Vec<(i64, i64)> {
    let nb = bounds.len().saturating_sub(1);
    if nb == 0 {
        return Vec::new();
    }
    let loc = Locator::new(bounds);
    let slot = |k: isize| usize::try_from(k).ok().filter(|&k| k < nb);
    let mut joined = vec![0i64; nb];
    for t in parts.iter().flat_map(|p| &p.instant) {
        if let Some(k) = slot(loc.start_bucket(*t)) {
            joined[k] += 1;
        }
    }
    // Each interval's start and end bucket, found once (-1: before the first bucket).
    let n: usize = parts.iter().map(|p| p.s.len()).sum();
    let mut buckets: Vec<(i32, i32)> = Vec::with_capacity(n);
    let as_i32 = |k: isize| i32::try_from(k.min(nb as isize)).unwrap_or(i32::MAX);
    let mut carried = 0i64;
    let mut offsets = vec![0usize; nb + 1];
    for p in parts {
        for (&s, &e) in p.s.iter().zip(&p.e) {
            let (ks, ke) = (loc.start_bucket(s), loc.end_bucket(e));
            if let Some(k) = slot(ks) {
                joined[k] += 1;
                offsets[k + 1] += 1;
            } else if ks < 0 {
                carried += 1;
            }
            if let Some(k) = slot(ke) {
                offsets[k + 1] += 1;
            } else if ke < 0 {
                carried -= 1;
            }
            buckets.push((as_i32(ks), as_i32(ke)));
        }
    }
    for k in 0..nb {
        offsets[k + 1] += offsets[k];
    }
    // An event as one sortable number: time * 2, plus 1 for a start (ends sort first).
    let mut events = vec![0i64; offsets[nb]];
    let mut fill = offsets.clone();
    let intervals = parts.iter().flat_map(|p| p.s.iter().zip(&p.e));
    for ((&s, &e), &(ks, ke)) in intervals.zip(&buckets) {
        for (k, code) in [(ks, (s << 1) | 1), (ke, e << 1)] {
            if let Some(k) = slot(k as isize) {
                events[fill[k]] = code;
                fill[k] += 1;
            }
        }
    }
    drop(buckets);
    let mut level = carried;
    let mut out = Vec::with_capacity(nb);
    for k in 0..nb {
        let bucket = &mut events[offsets[k]..offsets[k + 1]];
        bucket.sort_unstable();
        let mut peak = level;
        for ev in bucket.iter() {
            if ev & 1 == 1 {
                level += 1;
                peak = peak.max(level);
            } else {
                level -= 1;
            }
        }
        out.push((joined[k], peak));
    }
    out
}

/// The most rows one call of the table function may produce.
const MAX_OUTPUT_ROWS: usize = 20_000_000;

fn output_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("tenant_id", DataType::Utf8, false),
        Field::new("bucket_start", utc_micros(), false),
        Field::new(
            "bucket_local",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            false,
        ),
        Field::new("total_joined", DataType::Int64, false),
        Field::new("max_concurrent", DataType::Int64, false),
    ]))
}

#[derive(Debug)]
struct ConcurrencyFunction;

fn constant(session: &dyn Session, e: &Expr, what: &str) -> Result<ScalarValue> {
    constant_value(session, e, &format!("concurrency: {what}"))
}

/// Evaluates a table-function argument that must be a constant (`now()` and friends
/// included); `what` names it in the error, e.g. "concurrency: from".
pub fn constant_value(session: &dyn Session, e: &Expr, what: &str) -> Result<ScalarValue> {
    // Fold first: now() and friends are only defined once simplified.
    let start = session
        .execution_props()
        .query_execution_start_time
        .unwrap_or_else(Utc::now);
    let info = SimplifyContext::builder()
        .with_config_options(Arc::new(session.config_options().clone()))
        .with_query_execution_start_time(Some(start))
        .build();
    let folded = ExprSimplifier::new(info).simplify(e.clone())?;
    let phys = session.create_physical_expr(folded, &DFSchema::empty())?;
    let batch = RecordBatch::try_new_with_options(
        Arc::new(Schema::empty()),
        vec![],
        &RecordBatchOptions::new().with_row_count(Some(1)),
    )?;
    match phys.evaluate(&batch) {
        Ok(v) => {
            let arr = v.into_array(1)?;
            ScalarValue::try_from_array(&arr, 0)
        }
        Err(err) => plan_err!("{what} must be a constant: {err}"),
    }
}

fn instant(v: &ScalarValue, what: &str) -> Result<i64> {
    let cast = v.cast_to(&utc_micros()).map_err(|e| {
        DataFusionError::Plan(format!("concurrency: {what} '{v}' is not a timestamp: {e}"))
    })?;
    match cast {
        ScalarValue::TimestampMicrosecond(Some(t), _) => Ok(t),
        _ => plan_err!("concurrency: {what} must not be NULL"),
    }
}

impl TableFunctionImpl for ConcurrencyFunction {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let exprs = args.exprs();
        if !(3..=4).contains(&exprs.len()) {
            return plan_err!(
                "concurrency takes 3 or 4 arguments: concurrency(bucket, from, to [, basis]), got {}",
                exprs.len()
            );
        }
        let session = args.session();
        let text = |e: &Expr, what: &str| -> Result<String> {
            match constant(session, e, what)? {
                ScalarValue::Utf8(Some(s))
                | ScalarValue::LargeUtf8(Some(s))
                | ScalarValue::Utf8View(Some(s)) => Ok(s),
                other => plan_err!("concurrency: {what} must be a string, got {other}"),
            }
        };
        let b = text(&exprs[0], "bucket")?;
        let Some(bucket) = Bucket::parse(&b) else {
            return plan_err!(
                "concurrency: bucket must be 'minute', 'quarter_hour', 'hour' or 'day', got '{b}'"
            );
        };
        let from = instant(&constant(session, &exprs[1], "from")?, "from")?;
        let to = instant(&constant(session, &exprs[2], "to")?, "to")?;
        if to <= from {
            return plan_err!("concurrency: to must be after from");
        }
        let basis = match exprs.get(3) {
            None => Basis::Answered,
            Some(e) => match text(e, "basis")?.trim().to_ascii_lowercase().as_str() {
                "answered" => Basis::Answered,
                "attempts" => Basis::Attempts,
                other => {
                    return plan_err!(
                        "concurrency: basis must be 'answered' or 'attempts', got '{other}'"
                    );
                }
            },
        };
        Ok(Arc::new(ConcurrencyTable {
            params: Params {
                bucket,
                from,
                to,
                basis,
            },
        }))
    }
}

#[derive(Debug, Clone, Copy)]
struct Params {
    bucket: Bucket,
    from: i64,
    to: i64,
    basis: Basis,
}

#[derive(Debug)]
struct ConcurrencyTable {
    params: Params,
}

fn only_tenant_id(e: &Expr) -> bool {
    let mut ok = true;
    let _ = e.apply(|n| {
        if let Expr::Column(c) = n
            && c.name != "tenant_id"
        {
            ok = false;
        }
        Ok(TreeNodeRecursion::Continue)
    });
    ok && !e.column_refs().is_empty()
}

/// `e` with every column reference stripped of its table qualifier, for a filter pushed into
/// a table function or a scoped table that re-plans it over its own input.
pub fn unqualified(e: &Expr) -> Result<Expr> {
    e.clone()
        .transform(|n| match n {
            Expr::Column(c) => Ok(Transformed::yes(Expr::Column(Column::new_unqualified(
                c.name,
            )))),
            other => Ok(Transformed::no(other)),
        })
        .map(|t| t.data)
}

#[async_trait]
impl TableProvider for ConcurrencyTable {
    fn schema(&self) -> SchemaRef {
        output_schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|f| {
                if only_tenant_id(f) {
                    TableProviderFilterPushDown::Inexact
                } else {
                    TableProviderFilterPushDown::Unsupported
                }
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let Some(state) = state.as_any().downcast_ref::<SessionState>() else {
            return exec_err!("concurrency needs a DataFusion SessionState");
        };
        // The time bounds below keep nearly every row of a long period: checking them against
        // the page index then costs more than it saves (1.47 s against 1.27 s over 20 M calls;
        // one tenant's day is as fast without it, its row groups are pruned by statistics).
        let mut state = state.clone();
        state
            .config_mut()
            .options_mut()
            .execution
            .parquet
            .enable_page_index = false;
        let ctx = SessionContext::new_with_state(state);
        let p = self.params;
        let day = 86_400_000_000i64;
        let start = match p.basis {
            Basis::Answered => "answer_time",
            Basis::Attempts => "invite_time",
        };
        let calls = ctx.table("calls").await?;
        // Bounds as literals of the column's own type, so the scan can prune on them.
        let bound = |column: &str, v: i64| -> Result<Expr> {
            let t = calls
                .schema()
                .field_with_unqualified_name(column)?
                .data_type()
                .clone();
            let utc = ScalarValue::TimestampMicrosecond(Some(v), Some("UTC".into()));
            Ok(lit(utc.cast_to(&t)?))
        };
        // Local buckets start up to a day before `from` and end up to a day after `to`.
        let upper = bound(start, p.to.saturating_add(day))?;
        let lower = bound("end_time", p.from.saturating_sub(day))?;
        let mut calls = calls
            .filter(
                col(start)
                    .is_not_null()
                    .and(col(start).lt(upper))
                    .and(col("end_time").gt_eq(lower)),
            )?
            .select(vec![
                col("tenant_id"),
                col(start).alias("s"),
                col("end_time").alias("e"),
            ])?;
        for f in filters {
            calls = calls.filter(unqualified(f)?)?;
        }
        let tenants = ctx.table("tenants").await?.aggregate(
            vec![col("tenant_id")],
            vec![max(col("time_zone")).alias("time_zone")],
        )?;
        // With the rollup, the calls scan is planned only if the query needs it after all (a
        // zone whose buckets are off quarter hours): planning a Delta scan costs milliseconds.
        let (source, fallback) = match self.slots_query(&ctx, filters).await? {
            Some(df) => (df.create_physical_plan().await?, Some(calls)),
            None => (calls.create_physical_plan().await?, None),
        };
        let tenants = tenants.create_physical_plan().await?;
        let schema = match projection {
            Some(p) => Arc::new(output_schema().project(p)?),
            None => output_schema(),
        };
        Ok(Arc::new(ConcurrencyExec {
            params: p,
            projection: projection.cloned(),
            properties: Arc::new(PlanProperties::new(
                EquivalenceProperties::new(schema.clone()),
                Partitioning::UnknownPartitioning(1),
                EmissionType::Final,
                Boundedness::Bounded,
            )),
            schema,
            source,
            tenants,
            fallback,
        }))
    }
}

impl ConcurrencyTable {
    /// The `concurrency_slots` rows that answer this call, when they can: 'hour' and 'day'
    /// buckets of answered calls, `cdrlake.concurrency_use_rollup` on, and the rollup in the
    /// session (the engine registers it only while it is up to date with `calls`, and never for
    /// a team admin, whose concurrency counts only their teams' calls).
    async fn slots_query(
        &self,
        ctx: &SessionContext,
        filters: &[Expr],
    ) -> Result<Option<DataFrame>> {
        let p = self.params;
        let enabled = ctx
            .state()
            .config()
            .options()
            .extensions
            .get::<CdrlakeOptions>()
            .is_none_or(|o| o.concurrency_use_rollup);
        if !enabled || p.basis != Basis::Answered || !matches!(p.bucket, Bucket::Hour | Bucket::Day)
        {
            return Ok(None);
        }
        let Ok(slots) = ctx.table(cdrlake_schema::CONCURRENCY_SLOTS.name).await else {
            return Ok(None);
        };
        // Local buckets start at most a day before `from` and end at most two after `to`.
        let day = 86_400_000_000i64;
        let (lo, hi) = (p.from.saturating_sub(day), p.to.saturating_add(2 * day));
        let ty = slots
            .schema()
            .field_with_unqualified_name("slot_start")?
            .data_type()
            .clone();
        let at = |v: i64| -> Result<Expr> {
            let utc = ScalarValue::TimestampMicrosecond(Some(v), Some("UTC".into()));
            Ok(lit(utc.cast_to(&ty)?))
        };
        let date = |v: i64| -> Result<Expr> {
            let utc = ScalarValue::TimestampMicrosecond(Some(v), Some("UTC".into()));
            Ok(lit(utc.cast_to(&DataType::Date32)?))
        };
        let mut slots = slots
            .filter(
                col(cdrlake_schema::PARTITION_COLUMN)
                    .gt_eq(date(lo)?)
                    .and(col(cdrlake_schema::PARTITION_COLUMN).lt_eq(date(hi)?))
                    .and(col("slot_start").gt_eq(at(lo)?))
                    .and(col("slot_start").lt(at(hi)?)),
            )?
            .select(vec![
                col("tenant_id"),
                col("slot_start"),
                col("joined"),
                col("max_concurrent"),
            ])?;
        for f in filters {
            slots = slots.filter(unqualified(f)?)?;
        }
        Ok(Some(slots))
    }
}

struct ConcurrencyExec {
    params: Params,
    projection: Option<Vec<usize>>,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
    /// The calls scan to sweep or, when `fallback` is set, the `concurrency_slots` rows to fold.
    source: Arc<dyn ExecutionPlan>,
    tenants: Arc<dyn ExecutionPlan>,
    /// With the rollup as source: the calls scan, planned and swept only if a tenant's buckets
    /// do not start on quarter hours.
    fallback: Option<DataFrame>,
}

impl fmt::Debug for ConcurrencyExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConcurrencyExec")
            .field("params", &self.params)
            .finish()
    }
}

impl DisplayAs for ConcurrencyExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ConcurrencyExec: bucket={:?}, basis={:?}, from={}, to={}, source={}",
            self.params.bucket,
            self.params.basis,
            from_micros(self.params.from),
            from_micros(self.params.to),
            if self.fallback.is_some() {
                "concurrency_slots"
            } else {
                "calls"
            }
        )
    }
}

impl ExecutionPlan for ConcurrencyExec {
    fn name(&self) -> &str {
        "ConcurrencyExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.source, &self.tenants]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(
            &Arc<dyn datafusion::physical_expr::PhysicalExpr>,
        ) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let [source, tenants]: [Arc<dyn ExecutionPlan>; 2] = children
            .try_into()
            .map_err(|_| DataFusionError::Internal("ConcurrencyExec has two children".into()))?;
        Ok(Arc::new(ConcurrencyExec {
            params: self.params,
            projection: self.projection.clone(),
            schema: self.schema.clone(),
            properties: self.properties.clone(),
            source,
            tenants,
            fallback: self.fallback.clone(),
        }))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return exec_err!("ConcurrencyExec has one partition, asked for {partition}");
        }
        let threads = context.session_config().target_partitions();
        let tenants = execute_stream(self.tenants.clone(), context.clone())?;
        let (source, fallback) = (self.source.clone(), self.fallback.clone());
        let (params, projection, schema) =
            (self.params, self.projection.clone(), self.schema.clone());
        let fut = async move {
            let zones = time_zones(tenants).await?;
            let (folded, calls) = match fallback {
                Some(calls) => {
                    let slots = execute_stream(source, context.clone())?;
                    match fold_slots(params, slots, &zones).await? {
                        Some(f) => (Some(f), None),
                        None => (None, Some(calls.create_physical_plan().await?)),
                    }
                }
                None => (None, Some(source)),
            };
            let swept = match (folded, calls) {
                (Some(f), _) => f,
                (None, None) => return exec_err!("concurrency: no calls scan to sweep"),
                (None, Some(calls)) => {
                    // Each partition of the scan is collected by its own task (the per-row
                    // work is then spread over the runtime's threads, not done on one).
                    let calls = (0..calls.output_partitioning().partition_count())
                        .map(|i| calls.execute(i, context.clone()))
                        .collect::<Result<Vec<_>>>()?;
                    sweep_calls(params, threads, calls, &zones).await?
                }
            };
            let batch = output(params, swept, &zones)?;
            match projection {
                Some(p) => Ok(batch.project(&p)?),
                None => Ok(batch),
            }
        };
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            schema,
            futures::stream::once(fut),
        )))
    }
}

/// One tenant's calls: [s, e) for the calls that last, and the start of those that do not
/// (ended when or before they started): they count as joined, never as concurrent.
#[derive(Default)]
struct TenantIntervals {
    s: Vec<i64>,
    e: Vec<i64>,
    instant: Vec<i64>,
}

/// One partition of the calls scan as intervals per tenant.
async fn collect_intervals(
    mut calls: SendableRecordBatchStream,
) -> Result<HashMap<String, TenantIntervals>> {
    let mut per_tenant: HashMap<String, TenantIntervals> = HashMap::new();
    while let Some(batch) = calls.next().await {
        let batch = batch?;
        // Tenant ids as they come (Utf8View from the lake's scans, Utf8 otherwise): a cast
        // would copy every row's id.
        let ids = batch.column(0);
        let ids: Ids<'_> = match ids.data_type() {
            DataType::Utf8View => Ids::View(ids.as_string_view()),
            DataType::Utf8 => Ids::Plain(ids.as_string::<i32>()),
            DataType::LargeUtf8 => Ids::Large(ids.as_string::<i64>()),
            other => return exec_err!("concurrency: tenant_id is {other}, not a string"),
        };
        let s = arrow::compute::cast(batch.column(1), &utc_micros())?;
        let e = arrow::compute::cast(batch.column(2), &utc_micros())?;
        let (s, e) = (
            s.as_primitive::<TimestampMicrosecondType>(),
            e.as_primitive::<TimestampMicrosecondType>(),
        );
        let mut last: Option<(&str, &mut TenantIntervals)> = None;
        for i in 0..batch.num_rows() {
            if ids.is_null(i) || s.is_null(i) || e.is_null(i) {
                continue;
            }
            let id = ids.value(i);
            let acc = match last {
                Some((lid, acc)) if lid == id => acc,
                _ => {
                    if !per_tenant.contains_key(id) {
                        per_tenant.insert(id.to_string(), TenantIntervals::default());
                    }
                    match per_tenant.get_mut(id) {
                        Some(a) => a,
                        None => return exec_err!("concurrency: tenant {id} vanished"),
                    }
                }
            };
            let (sv, ev) = (s.value(i), e.value(i));
            if ev > sv {
                acc.s.push(sv);
                acc.e.push(ev);
            } else {
                acc.instant.push(sv);
            }
            last = Some((id, acc));
        }
    }
    Ok(per_tenant)
}

/// One tenant's result: its id, bucket boundaries, and (total joined, max concurrent) per bucket.
type Swept = (String, Vec<i64>, Vec<(i64, i64)>);

/// A batch's tenant ids, in whichever string layout the scan produced.
enum Ids<'a> {
    View(&'a arrow::array::StringViewArray),
    Plain(&'a StringArray),
    Large(&'a arrow::array::LargeStringArray),
}

impl Ids<'_> {
    fn is_null(&self, i: usize) -> bool {
        match self {
            Ids::View(a) => a.is_null(i),
            Ids::Plain(a) => a.is_null(i),
            Ids::Large(a) => a.is_null(i),
        }
    }

    fn value(&self, i: usize) -> &str {
        match self {
            Ids::View(a) => a.value(i),
            Ids::Plain(a) => a.value(i),
            Ids::Large(a) => a.value(i),
        }
    }
}

/// Each tenant's time zone, from the tenants scan.
async fn time_zones(mut tenants: SendableRecordBatchStream) -> Result<HashMap<String, Zone>> {
    let mut zones: HashMap<String, Zone> = HashMap::new();
    while let Some(batch) = tenants.next().await {
        let batch = batch?;
        let ids = arrow::compute::cast(batch.column(0), &DataType::Utf8)?;
        let tzs = arrow::compute::cast(batch.column(1), &DataType::Utf8)?;
        let (ids, tzs) = (ids.as_string::<i32>(), tzs.as_string::<i32>());
        for i in 0..batch.num_rows() {
            if ids.is_valid(i) {
                let tz = tzs.is_valid(i).then(|| Zone::get(tzs.value(i))).flatten();
                zones.insert(ids.value(i).to_string(), tz.unwrap_or_else(Zone::utc));
            }
        }
    }
    Ok(zones)
}

/// The zone a tenant's buckets are cut in: its own, except for UTC quarter hours.
fn zone_of(p: Params, zones: &HashMap<String, Zone>, id: &str) -> Zone {
    match p.bucket {
        Bucket::QuarterHour => Zone::utc(),
        _ => zones.get(id).cloned().unwrap_or_else(Zone::utc),
    }
}

/// Adds `n` buckets to the output row count, failing past [`MAX_OUTPUT_ROWS`].
fn count_rows(rows: &mut usize, n: usize) -> Result<()> {
    *rows += n;
    if *rows > MAX_OUTPUT_ROWS {
        return exec_err!(
            "concurrency: more than {MAX_OUTPUT_ROWS} buckets; use a larger bucket or a shorter period"
        );
    }
    Ok(())
}

/// Total joined and max concurrent per bucket from `concurrency_slots` rows: a bucket's
/// joined is the sum of its quarter hours', its peak the largest of theirs (each quarter
/// hour's peak already counts the calls carried into it). Exact when every bucket boundary
/// is a quarter hour; None when one is not (a zone with an offset that is not a whole quarter
/// hour), and the caller sweeps the raw calls instead.
async fn fold_slots(
    p: Params,
    mut slots: SendableRecordBatchStream,
    zones: &HashMap<String, Zone>,
) -> Result<Option<Vec<Swept>>> {
    let mut per_tenant: HashMap<String, Vec<(i64, i64, i64)>> = HashMap::new();
    while let Some(batch) = slots.next().await {
        let batch = batch?;
        let ids = arrow::compute::cast(batch.column(0), &DataType::Utf8)?;
        let ids = ids.as_string::<i32>();
        let t = arrow::compute::cast(batch.column(1), &utc_micros())?;
        let t = t.as_primitive::<TimestampMicrosecondType>();
        let j = arrow::compute::cast(batch.column(2), &DataType::Int64)?;
        let j = j.as_primitive::<Int64Type>();
        let m = arrow::compute::cast(batch.column(3), &DataType::Int64)?;
        let m = m.as_primitive::<Int64Type>();
        for i in 0..batch.num_rows() {
            if ids.is_null(i) || t.is_null(i) {
                continue;
            }
            let row = (t.value(i), j.value(i), m.value(i));
            match per_tenant.get_mut(ids.value(i)) {
                Some(v) => v.push(row),
                None => {
                    per_tenant.insert(ids.value(i).to_string(), vec![row]);
                }
            }
        }
    }
    let mut ids: Vec<_> = per_tenant.keys().cloned().collect();
    ids.sort();
    let mut out = Vec::with_capacity(ids.len());
    let mut rows = 0usize;
    for id in ids {
        let bounds = boundaries(p.from, p.to, p.bucket, &zone_of(p, zones, &id));
        if bounds.iter().any(|b| b.rem_euclid(SLOT) != 0) {
            return Ok(None);
        }
        count_rows(&mut rows, bounds.len().saturating_sub(1))?;
        let stats = fold(
            &bounds,
            per_tenant.get(&id).map_or(&[][..], |v| v.as_slice()),
        );
        out.push((id, bounds, stats));
    }
    Ok(Some(out))
}

/// Folds quarter hours `(start, joined, peak)` into the buckets of `bounds` (boundaries on
/// quarter hours): joined adds up, the peak is the largest.
fn fold(bounds: &[i64], slots: &[(i64, i64, i64)]) -> Vec<(i64, i64)> {
    let nb = bounds.len().saturating_sub(1);
    let loc = Locator::new(bounds);
    let mut stats = vec![(0i64, 0i64); nb];
    for &(t, joined, peak) in slots {
        if let Some(k) = usize::try_from(loc.start_bucket(t))
            .ok()
            .filter(|&k| k < nb)
        {
            stats[k].0 += joined;
            stats[k].1 = stats[k].1.max(peak);
        }
    }
    stats
}

/// Total joined and max concurrent per bucket from the raw calls (sort and sweep).
async fn sweep_calls(
    p: Params,
    threads: usize,
    calls: Vec<SendableRecordBatchStream>,
    zones: &HashMap<String, Zone>,
) -> Result<Vec<Swept>> {
    let mut tasks = datafusion::common::runtime::JoinSet::new();
    for stream in calls {
        tasks.spawn(collect_intervals(stream));
    }
    // Per tenant, the intervals each partition collected (merged in the sweep threads).
    let mut per_tenant: HashMap<String, Vec<TenantIntervals>> = HashMap::new();
    while let Some(part) = tasks.join_next().await {
        let part = part.map_err(|e| {
            DataFusionError::Execution(format!("concurrency: a scan task failed: {e}"))
        })??;
        for (id, t) in part {
            per_tenant.entry(id).or_default().push(t);
        }
    }
    let mut ids: Vec<_> = per_tenant.keys().cloned().collect();
    ids.sort();
    // Each tenant's sort and sweep is independent: spread them over the session's threads.
    let mut work: Vec<(String, Vec<i64>, Vec<TenantIntervals>)> = Vec::with_capacity(ids.len());
    let mut rows = 0usize;
    for id in &ids {
        let bounds = boundaries(p.from, p.to, p.bucket, &zone_of(p, zones, id));
        count_rows(&mut rows, bounds.len().saturating_sub(1))?;
        let Some(t) = per_tenant.remove(id) else {
            continue;
        };
        work.push((id.clone(), bounds, t));
    }
    let threads = threads.clamp(1, work.len().max(1));
    let chunk = work.len().div_ceil(threads).max(1);
    let swept: Vec<Swept> = std::thread::scope(|scope| {
        let handles: Vec<_> = work
            .chunks_mut(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter_mut()
                        .map(|(id, bounds, parts)| {
                            let stats = sweep(parts, bounds);
                            (id.clone(), std::mem::take(bounds), stats)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    if swept.len() != work.len() {
        return exec_err!("concurrency: a sweep thread failed");
    }
    Ok(swept)
}

/// The output rows: every bucket of each tenant with at least one call joined or connected
/// in one of its buckets (a tenant whose buckets are all zero has no rows).
fn output(p: Params, swept: Vec<Swept>, zones: &HashMap<String, Zone>) -> Result<RecordBatch> {
    let mut tenant_b = StringBuilder::new();
    let mut start_b = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    let mut local_b = TimestampMicrosecondBuilder::new();
    let mut joined_b = Int64Builder::new();
    let mut peak_b = Int64Builder::new();
    for (id, bounds, stats) in swept {
        if stats.iter().all(|&(joined, peak)| joined == 0 && peak == 0) {
            continue;
        }
        let tz = zone_of(p, zones, &id);
        for (k, (joined, peak)) in stats.into_iter().enumerate() {
            let b = bounds[k];
            tenant_b.append_value(&id);
            start_b.append_value(b);
            local_b.append_value(tz.local_micros(b));
            joined_b.append_value(joined);
            peak_b.append_value(peak);
        }
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(tenant_b.finish()),
        Arc::new(start_b.finish()),
        Arc::new(local_b.finish()),
        Arc::new(joined_b.finish()),
        Arc::new(peak_b.finish()),
    ];
    Ok(RecordBatch::try_new(output_schema(), columns)?)
}

static CONCURRENCY_DOC: std::sync::LazyLock<Documentation> = std::sync::LazyLock::new(|| {
    Documentation::builder(
        doc_section(),
        "Table function over the calls and tenants tables: one row per tenant and time \
         bucket in [from, to) with total_joined (calls that started in the bucket) and \
         max_concurrent (the peak of overlapping calls in the bucket, counting calls carried \
         in from earlier buckets). Buckets are 'minute', 'hour' or 'day' in each tenant's time \
         zone (tenants.time_zone; UTC if unknown), or 'quarter_hour' (UTC quarter hours): \
         bucket_start is the bucket's UTC start, bucket_local its local wall-clock start. A call occupies [answer_time, end_time) \
         (basis 'answered', the default: connected calls) or [invite_time, end_time) (basis \
         'attempts'). from and to are instants (a string without offset is UTC). Every tenant \
         with a call joined or connected in one of the buckets gets every bucket, zeros \
         included. Filters on tenant_id are pushed into the scan of calls. 'hour' and 'day' \
         buckets of answered calls are folded from the concurrency_slots rollup (UTC quarter \
         hours) when the session has it up to date (SET cdrlake.concurrency_use_rollup = \
         false to sweep the raw calls instead); EXPLAIN shows which (source=...)."
            .to_string(),
        "concurrency(bucket, from, to [, basis])".to_string(),
    )
    .with_sql_example(
        "```sql\nSELECT * FROM concurrency('hour', '2026-10-01', '2026-10-02') WHERE tenant_id = 't01';\n```",
    )
    .with_argument("bucket", "'minute', 'quarter_hour' (UTC), 'hour' or 'day'.")
    .with_argument("from", "Start of the period (timestamp or string).")
    .with_argument("to", "End of the period, exclusive.")
    .with_argument("basis", "'answered' (default) or 'attempts'.")
    .build()
});

/// The documentation of the `concurrency` table function (table functions have no
/// `documentation()` hook in DataFusion, so `docs/functions.md` takes it from here).
pub fn concurrency_doc() -> &'static Documentation {
    &CONCURRENCY_DOC
}

/// Our own coercion (any timestamp, date or string), plus the canonical types spelled out
/// for `information_schema` and `SHOW FUNCTIONS`.
fn signature(canonical: Vec<Vec<DataType>>) -> Signature {
    let mut sigs = vec![TypeSignature::UserDefined];
    sigs.extend(canonical.into_iter().map(TypeSignature::Exact));
    Signature::one_of(sigs, Volatility::Immutable)
}

pub(crate) fn aggregates() -> Vec<AggregateUDF> {
    vec![AggregateUDF::new_from_impl(MaxConcurrent {
        signature: signature(vec![vec![utc_micros(), utc_micros()]]),
    })]
}

pub(crate) fn windows(opts: &CdrlakeOptions) -> Vec<WindowUDF> {
    let (t, i) = (utc_micros(), DataType::Int64);
    vec![WindowUDF::new_from_impl(LicenseUse {
        signature: signature(vec![
            vec![t.clone(), t.clone(), i.clone()],
            vec![t.clone(), t, i.clone(), i],
        ]),
        min_licenses: i64::try_from(opts.license_soft_ceiling_min).unwrap_or(i64::MAX),
        ratio: opts.license_soft_ceiling_ratio,
    })]
}

pub(crate) fn table_function() -> Arc<dyn TableFunctionImpl> {
    Arc::new(ConcurrencyFunction)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn sweep_carries_calls_into_later_buckets() {
        let h = 3_600_000_000i64;
        // Call A 00:30-02:30, B 01:10-01:20, C 01:20-01:40 (starts when B ends), D 03:00-03:00.
        let mut all = vec![h / 2, h + h / 6, h + h / 3, 3 * h];
        let mut s = vec![h / 2, h + h / 6, h + h / 3];
        let mut e = vec![2 * h + h / 2, h + h / 3, h + 2 * h / 3];
        let bounds = [0, h, 2 * h, 3 * h, 4 * h];
        let parts = [TenantIntervals {
            s: s.clone(),
            e: e.clone(),
            instant: vec![3 * h],
        }];
        assert_eq!(sweep(&parts, &bounds), vec![(1, 1), (2, 2), (0, 1), (1, 0)]);
        let got = sweep_sorted(&mut all, &mut s, &mut e, &bounds);
        assert_eq!(got, vec![(1, 1), (2, 2), (0, 1), (1, 0)]);
    }

    #[test]
    fn bucketed_sweep_equals_sorting_everything() {
        // Small integer times so ties (a call ending as another starts, calls on a boundary)
        // are frequent; uneven bounds as around DST; intervals before, across and after.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n) as i64
        };
        for round in 0..300 {
            let mut bounds = vec![100 + next(20)];
            for _ in 0..(1 + next(12)) {
                let width = if round % 3 == 0 { 40 + next(30) } else { 50 };
                bounds.push(bounds[bounds.len() - 1] + width);
            }
            let span = bounds[bounds.len() - 1] + 150;
            let mut parts = Vec::new();
            for _ in 0..(1 + next(3)) {
                let mut t = TenantIntervals::default();
                for _ in 0..next(60) {
                    let s = next(span as u64);
                    let long = next(10) == 0;
                    let e = s + next(if long { 400 } else { 60 });
                    if e > s {
                        t.s.push(s);
                        t.e.push(e);
                    } else {
                        t.instant.push(s);
                    }
                }
                parts.push(t);
            }
            let got = sweep(&parts, &bounds);
            let (mut all, mut s, mut e) = (Vec::new(), Vec::new(), Vec::new());
            for p in &parts {
                all.extend(&p.s);
                all.extend(&p.instant);
                s.extend(&p.s);
                e.extend(&p.e);
            }
            let want = sweep_sorted(&mut all, &mut s, &mut e, &bounds);
            assert_eq!(got, want, "round {round}: bounds {bounds:?}");
        }
    }

    #[test]
    fn quarter_hours_fold_into_local_hours_and_days_exactly() {
        // Calls over six days; their UTC quarter hours (as the concurrency_slots rollup stores
        // them) folded into local hours and days must equal sweeping the calls directly, in
        // zones with DST, half-hour and 45-minute offsets, and a 30-minute DST shift.
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n) as i64
        };
        let minute = 60_000_000i64;
        let day = 1440 * minute;
        // 2026-10-30 00:00 UTC: the period covers the European and Lord Howe DST changes.
        let t0 = Utc
            .with_ymd_and_hms(2026, 10, 30, 0, 0, 0)
            .single()
            .map(micros)
            .unwrap_or_default();
        let zones = [
            "America/New_York",
            "Europe/London",
            "Asia/Kolkata",
            "Asia/Kathmandu",
            "Australia/Lord_Howe",
            "Pacific/Chatham",
        ];
        for round in 0..40 {
            let mut t = TenantIntervals::default();
            for _ in 0..(50 + next(400)) {
                // Second-granular times so calls often end or start on a quarter hour.
                let s = t0 + next(6 * 1440) * minute + next(4) * 15 * 1_000_000;
                let long = next(20) == 0;
                let e = s + next(if long { 3000 } else { 90 }) * minute;
                if e > s {
                    t.s.push(s);
                    t.e.push(e);
                } else {
                    t.instant.push(s);
                }
            }
            let parts = [t];
            let quarters = boundaries(t0, t0 + 12 * day, Bucket::QuarterHour, &Zone::utc());
            let slots: Vec<(i64, i64, i64)> = sweep(&parts, &quarters)
                .into_iter()
                .enumerate()
                .filter(|(_, (j, m))| *j > 0 || *m > 0)
                .map(|(k, (j, m))| (quarters[k], j, m))
                .collect();
            for name in zones {
                let Some(tz) = Zone::get(name) else {
                    panic!("zone {name}");
                };
                for bucket in [Bucket::Hour, Bucket::Day] {
                    let (from, to) = (t0 + 2 * day + next(day as u64), t0 + 5 * day);
                    let bounds = boundaries(from, to, bucket, &tz);
                    assert!(
                        bounds.iter().all(|b| b % SLOT == 0),
                        "{name} {bucket:?}: bounds off quarter hours"
                    );
                    assert_eq!(
                        fold(&bounds, &slots),
                        sweep(&parts, &bounds),
                        "round {round}, {name}, {bucket:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn locator_matches_a_binary_search() {
        let bounds = [0i64, 10, 20, 25, 40, 50, 70];
        let loc = Locator::new(&bounds);
        for t in -5..80 {
            assert_eq!(loc.upto(t), bounds.partition_point(|&b| b <= t), "t={t}");
        }
    }

    /// The sort-everything sweep this module used first: the reference for [`sweep`].
    fn sweep_sorted(
        starts_all: &mut [i64],
        s: &mut [i64],
        e: &mut [i64],
        bounds: &[i64],
    ) -> Vec<(i64, i64)> {
        starts_all.sort_unstable();
        s.sort_unstable();
        e.sort_unstable();
        let (mut i, mut j, mut level) = (0usize, 0usize, 0i64);
        let mut out = Vec::with_capacity(bounds.len().saturating_sub(1));
        for w in bounds.windows(2) {
            let (b, next) = (w[0], w[1]);
            // Carried in: everything before b, and the calls ending exactly at b.
            while (i < s.len() && s[i] < b) || (j < e.len() && e[j] <= b) {
                if j < e.len() && e[j] <= b && (i >= s.len() || s[i] >= b || e[j] <= s[i]) {
                    level -= 1;
                    j += 1;
                } else {
                    level += 1;
                    i += 1;
                }
            }
            let mut peak = level;
            while (i < s.len() && s[i] < next) || (j < e.len() && e[j] < next) {
                if j < e.len() && e[j] < next && (i >= s.len() || s[i] >= next || e[j] <= s[i]) {
                    level -= 1;
                    j += 1;
                } else {
                    level += 1;
                    i += 1;
                    peak = peak.max(level);
                }
            }
            let joined =
                starts_all.partition_point(|&t| t < next) - starts_all.partition_point(|&t| t < b);
            out.push((joined as i64, peak));
        }
        out
    }

    #[test]
    fn peak_ends_before_starts() {
        assert_eq!(peak_concurrency(&mut [0, 10], &mut [10, 20]), 1);
        assert_eq!(peak_concurrency(&mut [0, 5, 5], &mut [10, 6, 20]), 3);
        assert_eq!(peak_concurrency(&mut [], &mut []), 0);
    }

    #[test]
    fn soft_ceiling_rule() {
        assert_eq!(soft_ceiling(5, 6, 0.5), 5);
        assert_eq!(soft_ceiling(6, 6, 0.5), 9);
        assert_eq!(soft_ceiling(7, 6, 0.5), 10);
        assert_eq!(soft_ceiling(50, 6, 0.5), 75);
    }

    #[test]
    fn local_day_buckets_follow_dst() {
        let tz = Zone::get("America/New_York").unwrap_or_else(Zone::utc);
        // 2026-11-01 is the fall-back day in New York: 25 hours long.
        let from = micros(Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap());
        let b = boundaries(from, from + 1, Bucket::Day, &tz);
        assert_eq!(b.len(), 2);
        assert_eq!(b[1] - b[0], 25 * 3_600_000_000);
        assert_eq!(from_micros(tz.local_micros(b[0])).hour(), 0);
    }
}
