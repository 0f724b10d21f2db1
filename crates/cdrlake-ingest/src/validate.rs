//! Turning raw rows into canonical rows, and rejecting what does not pass.
//!
//! Work is column at a time over Arrow arrays: casts are Arrow kernels, and each rule loops
//! over one array. Errors are collected per row; a row with any error goes to quarantine with
//! all of them, the others go on to the table.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Date32Array, Int32Builder, ListBuilder, RecordBatch,
    StringArray, StringBuilder, new_null_array,
};
use arrow::compute::{CastOptions, can_cast_types, cast_with_options, filter_record_batch};
use arrow::datatypes::{
    DataType, Decimal128Type, Float64Type, Int32Type, Int64Type, Schema, TimestampMicrosecondType,
};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use cdrlake_schema::{ColumnDef, ColumnType, PARTITION_COLUMN, RowRule, Rule, TableDef};

use crate::e164::{self, Number};
use crate::read::{FileError, RawBatch, RawFile, SourceFile};
use crate::reject::{Reject, RejectKind};

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// The outcome of validating one file.
pub struct Validated {
    /// Canonical rows, with `event_date` for fact tables.
    pub valid: Vec<RecordBatch>,
    pub rejects: Vec<Reject>,
    pub rows_in: u64,
}

impl Validated {
    pub fn rows_valid(&self) -> u64 {
        self.valid.iter().map(|b| b.num_rows() as u64).sum()
    }
    pub fn rows_rejected(&self) -> u64 {
        self.rejects.iter().map(|r| r.rows.max(0) as u64).sum()
    }
}

struct RowError {
    row: usize,
    column: &'static str,
    kind: RejectKind,
    reason: String,
}

/// Validates a whole decoded file. A problem with the file as a whole (an unknown or missing
/// column, a column of an unusable type) is a [`FileError`]: the file is quarantined whole.
pub fn validate_file(
    def: &TableDef,
    file: &SourceFile,
    raw: RawFile,
) -> Result<Validated, FileError> {
    let rows_in = raw.rows();
    let mut rejects = raw.rejects;
    let mut valid = Vec::with_capacity(raw.batches.len());
    let mut keys = KeyTracker::default();
    if let Some(schema) = &raw.schema {
        check_columns(def, file, schema, rows_in)?;
    }
    for rb in &raw.batches {
        let (batch, mut batch_rejects) =
            validate_batch(def, file, rb, &mut keys).map_err(|mut e| {
                e.rows = Some(rows_in);
                e
            })?;
        rejects.append(&mut batch_rejects);
        if batch.num_rows() > 0 {
            valid.push(batch);
        }
    }
    rejects.sort_by_key(|r| r.source_row);
    Ok(Validated {
        valid,
        rejects,
        rows_in,
    })
}

fn check_columns(
    def: &TableDef,
    file: &SourceFile,
    schema: &arrow::datatypes::SchemaRef,
    rows_in: u64,
) -> Result<(), FileError> {
    for f in schema.fields() {
        if def.column(f.name()).is_none() && f.name() != PARTITION_COLUMN {
            return Err(FileError {
                reason: format!(
                    "unknown column '{}': table {} (schema v{}) has no such column",
                    f.name(),
                    def.name,
                    cdrlake_schema::SCHEMA_VERSION
                ),
                column: Some(f.name().clone()),
                rows: Some(rows_in),
            });
        }
    }
    for c in def.columns.iter().filter(|c| c.required) {
        if schema.field_with_name(c.name).is_err() && hive_value(file, c.name).is_none() {
            return Err(FileError {
                reason: format!("missing required column '{}'", c.name),
                column: Some(c.name.to_string()),
                rows: Some(rows_in),
            });
        }
    }
    Ok(())
}

fn hive_value<'a>(file: &'a SourceFile, column: &str) -> Option<&'a str> {
    file.hive
        .iter()
        .find(|(k, _)| k == column)
        .map(|(_, v)| v.as_str())
}

fn validate_batch(
    def: &TableDef,
    file: &SourceFile,
    rb: &RawBatch,
    keys: &mut KeyTracker,
) -> Result<(RecordBatch, Vec<Reject>), FileError> {
    let n = rb.batch.num_rows();
    let mut errors: Vec<RowError> = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(def.columns.len() + 1);
    for c in def.columns {
        let input: Option<ArrayRef> = match rb.batch.column_by_name(c.name) {
            Some(a) => Some(a.clone()),
            None => hive_value(file, c.name)
                .map(|v| Arc::new(StringArray::from(vec![v; n])) as ArrayRef),
        };
        let first_error = errors.len();
        let converted = match input {
            Some(a) => to_canonical(&a, c, &mut errors)?,
            None => new_null_array(&c.ty.data_type(), n),
        };
        let checked = apply_rule(converted, c, &mut errors);
        if c.required
            && let Some(nulls) = checked.logical_nulls()
        {
            {
                // A value that failed to parse or normalise is already reported.
                let reported: std::collections::HashSet<usize> =
                    errors[first_error..].iter().map(|e| e.row).collect();
                for i in (0..n).filter(|i| nulls.is_null(*i)) {
                    if !reported.contains(&i) {
                        errors.push(RowError {
                            row: i,
                            column: c.name,
                            kind: RejectKind::MissingValue,
                            reason: "required value is missing".into(),
                        });
                    }
                }
            }
        }
        columns.push(checked);
    }
    let by_name = |name: &str| -> Option<&ArrayRef> {
        def.columns
            .iter()
            .position(|c| c.name == name)
            .map(|i| &columns[i])
    };
    for rule in def.row_rules {
        check_row_rule(rule, &by_name, n, &mut errors);
    }

    let mut bad = vec![false; n];
    for e in &errors {
        bad[e.row] = true;
    }
    keys.check(def, &by_name, &mut bad, &mut errors, &rb.locators);

    if let Some(tc) = def.time_column {
        let ts = by_name(tc)
            .map(|a| a.as_primitive::<TimestampMicrosecondType>().clone())
            .ok_or_else(|| FileError::new(format!("internal: no time column {tc}")))?;
        let dates: Date32Array = ts.unary(|us| us.div_euclid(MICROS_PER_DAY) as i32);
        columns.push(Arc::new(dates));
    }
    let internal = |e: arrow::error::ArrowError| {
        FileError::new(format!("internal error assembling rows: {e}"))
    };
    let strict = def.arrow_schema();
    if errors.is_empty() {
        return Ok((
            RecordBatch::try_new(strict, columns).map_err(internal)?,
            vec![],
        ));
    }
    // Rejected rows may hold NULL in required columns: filter them out under a nullable
    // schema, then declare the strict one.
    let lenient = Arc::new(Schema::new(
        strict
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect::<Vec<_>>(),
    ));
    let canonical = RecordBatch::try_new(lenient, columns).map_err(internal)?;
    let keep = BooleanArray::from(bad.iter().map(|b| !b).collect::<Vec<_>>());
    let valid = filter_record_batch(&canonical, &keep).map_err(internal)?;
    let valid = RecordBatch::try_new(strict, valid.columns().to_vec()).map_err(internal)?;
    Ok((valid, rejects_of(rb, errors)))
}

fn rejects_of(rb: &RawBatch, mut errors: Vec<RowError>) -> Vec<Reject> {
    errors.sort_by_key(|e| e.row);
    let mut rows: Vec<usize> = errors.iter().map(|e| e.row).collect();
    rows.dedup();
    let raw = raw_rows_as_json(&rb.batch, &rows);
    let mut out = Vec::with_capacity(rows.len());
    let mut it = errors.into_iter().peekable();
    for (k, row) in rows.iter().enumerate() {
        let mut row_errors = Vec::new();
        while let Some(e) = it.next_if(|e| e.row == *row) {
            row_errors.push(e);
        }
        let first = &row_errors[0];
        let all = row_errors
            .iter()
            .map(|e| format!("{}: {}", e.column, e.reason))
            .collect::<Vec<_>>()
            .join("; ");
        out.push(Reject {
            source_row: Some(rb.locators[*row]),
            column: Some(first.column.to_string()),
            kind: first.kind,
            reason: first.reason.clone(),
            all_errors: all,
            raw_row: raw.as_ref().and_then(|r| r.get(k).cloned()),
            rows: 1,
        });
    }
    out
}

fn raw_rows_as_json(batch: &RecordBatch, rows: &[usize]) -> Option<Vec<String>> {
    let idx = arrow::array::UInt32Array::from(rows.iter().map(|r| *r as u32).collect::<Vec<_>>());
    let taken = arrow::compute::take_record_batch(batch, &idx).ok()?;
    let mut buf = Vec::new();
    {
        let mut w = arrow::json::LineDelimitedWriter::new(&mut buf);
        w.write(&taken).ok()?;
        w.finish().ok()?;
    }
    let text = String::from_utf8(buf).ok()?;
    Some(text.lines().map(str::to_string).collect())
}

fn is_text(dt: &DataType) -> bool {
    match dt {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, v) => is_text(v),
        _ => false,
    }
}

fn display(a: &ArrayRef, i: usize) -> String {
    ArrayFormatter::try_new(a.as_ref(), &FormatOptions::default())
        .map(|f| f.value(i).to_string())
        .unwrap_or_else(|_| "?".into())
}

/// Casts a column to its canonical type. Text inputs treat blank values as NULL. A value that
/// does not parse is a row error; a column whose type can never become the canonical one is a
/// file error.
fn to_canonical(
    input: &ArrayRef,
    c: &ColumnDef,
    errors: &mut Vec<RowError>,
) -> Result<ArrayRef, FileError> {
    let target = c.ty.data_type();
    let type_error = |from: &DataType| FileError {
        reason: format!(
            "column '{}' has type {from}, which cannot be read as {}",
            c.name,
            c.ty.doc_name()
        ),
        column: Some(c.name.to_string()),
        rows: None,
    };
    let input: ArrayRef = if is_text(input.data_type()) {
        let s = cast_with_options(input, &DataType::Utf8, &CastOptions::default())
            .map_err(|_| type_error(input.data_type()))?;
        blank_to_null(s.as_string::<i32>())
    } else {
        input.clone()
    };
    if input.data_type() == &target {
        return Ok(input);
    }
    let from = input.data_type().clone();
    if matches!(c.ty, ColumnType::Timestamp) && (from.is_integer() || from.is_floating()) {
        return Err(FileError {
            reason: format!(
                "column '{}' holds numbers; timestamps must be Parquet TIMESTAMP or RFC 3339 text (numbers are ambiguous: seconds? milliseconds?)",
                c.name
            ),
            column: Some(c.name.to_string()),
            rows: None,
        });
    }
    let out =
        if from == DataType::Utf8 && matches!(c.ty, ColumnType::Int32List | ColumnType::Utf8List) {
            parse_list_text(input.as_string::<i32>(), c.ty)
        } else {
            if !can_cast_types(&from, &target) {
                return Err(type_error(&from));
            }
            cast_with_options(&input, &target, &CastOptions::default()).map_err(|e| FileError {
                reason: format!(
                    "column '{}' cannot be read as {}: {e}",
                    c.name,
                    c.ty.doc_name()
                ),
                column: Some(c.name.to_string()),
                rows: None,
            })?
        };
    if out.null_count() > input.null_count() {
        for i in 0..input.len() {
            if input.is_valid(i) && out.is_null(i) {
                errors.push(RowError {
                    row: i,
                    column: c.name,
                    kind: RejectKind::WrongType,
                    reason: format!(
                        "cannot read '{}' as {}",
                        display(&input, i),
                        c.ty.doc_name()
                    ),
                });
            }
        }
    }
    Ok(out)
}

fn blank_to_null(s: &StringArray) -> ArrayRef {
    if !s.iter().flatten().any(|v| v.trim().is_empty()) {
        return Arc::new(s.clone());
    }
    Arc::new(
        s.iter()
            .map(|v| v.filter(|v| !v.trim().is_empty()))
            .collect::<StringArray>(),
    )
}

/// Lists in text form: a JSON array (`[1,2,3]`, `["a","b"]`) or values separated by `;`.
/// A value that does not parse becomes NULL, which the caller reports.
fn parse_list_text(s: &StringArray, ty: ColumnType) -> ArrayRef {
    fn items(text: &str) -> Option<Vec<String>> {
        let t = text.trim();
        if t.starts_with('[') {
            let v: Vec<serde_json::Value> = serde_json::from_str(t).ok()?;
            v.into_iter()
                .map(|x| match x {
                    serde_json::Value::String(s) => Some(s),
                    serde_json::Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .collect()
        } else {
            Some(t.split(';').map(|x| x.trim().to_string()).collect())
        }
    }
    match ty {
        ColumnType::Int32List => {
            let mut b = ListBuilder::new(Int32Builder::new());
            for v in s.iter() {
                let parsed = v.and_then(items).and_then(|xs| {
                    xs.iter()
                        .map(|x| x.parse::<i32>().ok())
                        .collect::<Option<Vec<i32>>>()
                });
                match parsed {
                    Some(xs) => {
                        b.values().append_slice(&xs);
                        b.append(true);
                    }
                    None => b.append(false),
                }
            }
            Arc::new(b.finish())
        }
        _ => {
            let mut b = ListBuilder::new(StringBuilder::new());
            for v in s.iter() {
                match v.and_then(items) {
                    Some(xs) => {
                        for x in xs.iter().filter(|x| !x.is_empty()) {
                            b.values().append_value(x);
                        }
                        b.append(true);
                    }
                    None => b.append(false),
                }
            }
            Arc::new(b.finish())
        }
    }
}

/// Applies a column's value rule, returning the (possibly normalised) column.
fn apply_rule(a: ArrayRef, c: &ColumnDef, errors: &mut Vec<RowError>) -> ArrayRef {
    let mut err = |row: usize, kind: RejectKind, reason: String| {
        errors.push(RowError {
            row,
            column: c.name,
            kind,
            reason,
        })
    };
    match c.rule {
        Rule::None => a,
        Rule::Enum(values) => {
            let s = a.as_string::<i32>();
            if s.iter().flatten().all(|v| values.contains(&v)) {
                return a;
            }
            let mut b = StringBuilder::with_capacity(s.len(), s.value_data().len());
            for (i, v) in s.iter().enumerate() {
                match v {
                    None => b.append_null(),
                    Some(v) => match values.iter().find(|x| x.eq_ignore_ascii_case(v.trim())) {
                        Some(canon) => b.append_value(canon),
                        None => {
                            err(
                                i,
                                RejectKind::NotAllowed,
                                format!("'{v}' is not one of {}", values.join(", ")),
                            );
                            b.append_null();
                        }
                    },
                }
            }
            Arc::new(b.finish())
        }
        Rule::E164 => {
            let s = a.as_string::<i32>();
            let mut b = StringBuilder::with_capacity(s.len(), s.value_data().len());
            for (i, v) in s.iter().enumerate() {
                match v {
                    None => b.append_null(),
                    Some(v) if is_canonical_e164(v) => b.append_value(v),
                    Some(v) => match e164::normalize(v) {
                        Ok(Number::E164(n)) => b.append_value(n),
                        Ok(Number::Withheld) => b.append_null(),
                        Err(reason) => {
                            err(i, RejectKind::InvalidNumber, reason);
                            b.append_null();
                        }
                    },
                }
            }
            Arc::new(b.finish())
        }
        Rule::NonNegative => {
            for_each_number(&a, |i, v| {
                if v.is_nan() {
                    err(i, RejectKind::OutOfRange, "NaN is not a number".into());
                } else if v < 0.0 {
                    err(
                        i,
                        RejectKind::Negative,
                        format!("{} is negative", display(&a, i)),
                    );
                }
            });
            a
        }
        Rule::Range(lo, hi) => {
            for_each_number(&a, |i, v| {
                if v.is_nan() || v < lo || v > hi {
                    err(
                        i,
                        RejectKind::OutOfRange,
                        format!("{} is outside {lo} to {hi}", display(&a, i)),
                    );
                }
            });
            a
        }
        Rule::TimeZone => {
            let s = a.as_string::<i32>();
            for (i, v) in s.iter().enumerate() {
                if let Some(v) = v
                    && v.parse::<chrono_tz::Tz>().is_err()
                {
                    err(
                        i,
                        RejectKind::InvalidTimeZone,
                        format!("'{v}' is not an IANA time zone (e.g. America/Chicago)"),
                    );
                }
            }
            a
        }
    }
}

fn is_canonical_e164(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() >= 8
        && b.len() <= 16
        && b[0] == b'+'
        && b[1] != b'0'
        && b[1..].iter().all(u8::is_ascii_digit)
}

/// Calls `f(row, value)` for each non-null number. Decimals are compared by sign only (as
/// -1.0, 0.0 or their value when it fits), which is all the rules need.
fn for_each_number(a: &ArrayRef, mut f: impl FnMut(usize, f64)) {
    match a.data_type() {
        DataType::Int32 => a
            .as_primitive::<Int32Type>()
            .iter()
            .enumerate()
            .for_each(|(i, v)| {
                if let Some(v) = v {
                    f(i, v as f64)
                }
            }),
        DataType::Int64 => a
            .as_primitive::<Int64Type>()
            .iter()
            .enumerate()
            .for_each(|(i, v)| {
                if let Some(v) = v {
                    f(i, v as f64)
                }
            }),
        DataType::Float64 => {
            a.as_primitive::<Float64Type>()
                .iter()
                .enumerate()
                .for_each(|(i, v)| {
                    if let Some(v) = v {
                        f(i, v)
                    }
                })
        }
        DataType::Decimal128(_, scale) => {
            let div = 10f64.powi(*scale as i32);
            a.as_primitive::<Decimal128Type>()
                .iter()
                .enumerate()
                .for_each(|(i, v)| {
                    if let Some(v) = v {
                        f(i, v as f64 / div)
                    }
                })
        }
        _ => {}
    }
}

fn check_row_rule<'a>(
    rule: &RowRule,
    by_name: &dyn Fn(&str) -> Option<&'a ArrayRef>,
    n: usize,
    errors: &mut Vec<RowError>,
) {
    match *rule {
        RowRule::NotBefore { earlier, later } => {
            let (Some(e), Some(l)) = (by_name(earlier), by_name(later)) else {
                return;
            };
            let e = e.as_primitive::<TimestampMicrosecondType>();
            let l = l.as_primitive::<TimestampMicrosecondType>();
            for i in 0..n {
                if e.is_valid(i) && l.is_valid(i) && l.value(i) < e.value(i) {
                    errors.push(RowError {
                        row: i,
                        column: later,
                        kind: RejectKind::TimeOrder,
                        reason: format!(
                            "{later} {} is before {earlier} {}",
                            display(&(Arc::new(l.clone()) as ArrayRef), i),
                            display(&(Arc::new(e.clone()) as ArrayRef), i)
                        ),
                    });
                }
            }
        }
        RowRule::RequiredWhen {
            column,
            when_column,
            when_value,
        } => {
            let (Some(c), Some(w)) = (by_name(column), by_name(when_column)) else {
                return;
            };
            let w = w.as_string::<i32>();
            for i in 0..n {
                if c.is_null(i) && w.is_valid(i) && w.value(i) == when_value {
                    errors.push(RowError {
                        row: i,
                        column,
                        kind: RejectKind::Inconsistent,
                        reason: format!(
                            "{column} is missing although {when_column} is '{when_value}'"
                        ),
                    });
                }
            }
        }
        RowRule::ZeroUnless {
            column,
            when_column,
            when_value,
        } => {
            let (Some(c), Some(w)) = (by_name(column), by_name(when_column)) else {
                return;
            };
            let w = w.as_string::<i32>();
            let mut nonzero = vec![false; n];
            for_each_number(c, |i, v| nonzero[i] = v != 0.0);
            for (i, nz) in nonzero.iter().enumerate() {
                if *nz && w.is_valid(i) && w.value(i) != when_value {
                    errors.push(RowError {
                        row: i,
                        column,
                        kind: RejectKind::Inconsistent,
                        reason: format!(
                            "{column} is {} although {when_column} is '{}', not '{when_value}'",
                            display(c, i),
                            w.value(i)
                        ),
                    });
                }
            }
        }
    }
}

/// Remembers the keys seen in one file, as 128-bit hashes (a false duplicate would need a
/// 128-bit collision).
#[derive(Default)]
struct KeyTracker {
    seen: HashMap<u128, i64>,
}

impl KeyTracker {
    fn check<'a>(
        &mut self,
        def: &TableDef,
        by_name: &dyn Fn(&str) -> Option<&'a ArrayRef>,
        bad: &mut [bool],
        errors: &mut Vec<RowError>,
        locators: &[i64],
    ) {
        let key_cols: Vec<&ArrayRef> = def.key.iter().filter_map(|k| by_name(k)).collect();
        if key_cols.len() != def.key.len() {
            return;
        }
        for (i, bad_row) in bad.iter_mut().enumerate() {
            if *bad_row {
                continue;
            }
            let mut h1 = std::collections::hash_map::DefaultHasher::new();
            let mut h2 = std::collections::hash_map::DefaultHasher::new();
            0xC0FFEEu32.hash(&mut h2);
            for a in &key_cols {
                match a.data_type() {
                    DataType::Utf8 => {
                        let v = a.as_string::<i32>().value(i);
                        v.hash(&mut h1);
                        v.hash(&mut h2);
                    }
                    DataType::Int32 => {
                        let v = a.as_primitive::<Int32Type>().value(i);
                        v.hash(&mut h1);
                        v.hash(&mut h2);
                    }
                    _ => return,
                }
            }
            let h = ((h1.finish() as u128) << 64) | h2.finish() as u128;
            let loc = locators[i];
            if let Some(first) = self.seen.insert(h, loc) {
                self.seen.insert(h, first);
                *bad_row = true;
                let key_text = key_cols
                    .iter()
                    .map(|a| display(a, i))
                    .collect::<Vec<_>>()
                    .join(", ");
                errors.push(RowError {
                    row: i,
                    column: def.key[0],
                    kind: RejectKind::DuplicateKey,
                    reason: format!(
                        "duplicate key ({}) = ({key_text}), first seen at row/line {first}",
                        def.key.join(", ")
                    ),
                });
            }
        }
    }
}
