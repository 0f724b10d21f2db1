//! Rejected rows and files, as they are written to quarantine.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Builder, RecordBatch, StringBuilder, TimestampMicrosecondArray};

/// Why a row (or file) was rejected, as counted in the ingest summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectKind {
    /// The file cannot be read or lacks a required column: every row of it is quarantined.
    UnreadableFile,
    /// The row is not well-formed (CSV field count, UTF-8, JSON syntax).
    Malformed,
    /// The row or file has a column the table does not have.
    UnknownColumn,
    /// A required value is missing.
    MissingValue,
    /// A value cannot be read as the column's type.
    WrongType,
    /// A value is not one of the column's allowed values.
    NotAllowed,
    /// A phone number is not E.164.
    InvalidNumber,
    /// A count or amount is negative.
    Negative,
    /// A value is outside the column's range (or NaN).
    OutOfRange,
    /// A time zone name is not an IANA zone.
    InvalidTimeZone,
    /// Times are out of order (end before start, ...).
    TimeOrder,
    /// A value contradicts another column (answered without answer time, ...).
    Inconsistent,
    /// The row's key already appeared earlier in the same file.
    DuplicateKey,
}

impl RejectKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RejectKind::UnreadableFile => "unreadable_file",
            RejectKind::Malformed => "malformed",
            RejectKind::UnknownColumn => "unknown_column",
            RejectKind::MissingValue => "missing_value",
            RejectKind::WrongType => "wrong_type",
            RejectKind::NotAllowed => "not_allowed",
            RejectKind::InvalidNumber => "invalid_number",
            RejectKind::Negative => "negative",
            RejectKind::OutOfRange => "out_of_range",
            RejectKind::InvalidTimeZone => "invalid_time_zone",
            RejectKind::TimeOrder => "time_order",
            RejectKind::Inconsistent => "inconsistent",
            RejectKind::DuplicateKey => "duplicate_key",
        }
    }
}

/// One quarantine record: a rejected row, or a whole file (`rows` > 1 or unknown).
#[derive(Debug, Clone)]
pub struct Reject {
    /// Row (Parquet) or line (CSV, JSON Lines) number, 1-based; NULL for a whole file.
    pub source_row: Option<i64>,
    /// The column of the first error, when it concerns one column.
    pub column: Option<String>,
    pub kind: RejectKind,
    /// The first error.
    pub reason: String,
    /// Every error of the row, `column: reason` joined by `; `.
    pub all_errors: String,
    /// The row as it was read, as JSON (or the raw line).
    pub raw_row: Option<String>,
    /// How many input rows this record stands for: 1, or a whole file's rows (0 if unknown).
    pub rows: i64,
}

impl Reject {
    pub fn row(
        locator: i64,
        column: Option<String>,
        kind: RejectKind,
        reason: String,
        raw_row: Option<String>,
    ) -> Reject {
        let all_errors = match &column {
            Some(c) => format!("{c}: {reason}"),
            None => reason.clone(),
        };
        Reject {
            source_row: Some(locator),
            column,
            kind,
            reason,
            all_errors,
            raw_row,
            rows: 1,
        }
    }

    pub fn file(column: Option<String>, reason: String, rows: Option<u64>) -> Reject {
        Reject {
            source_row: None,
            all_errors: reason.clone(),
            column,
            kind: RejectKind::UnreadableFile,
            reason,
            raw_row: None,
            rows: rows.map(|r| r as i64).unwrap_or(0),
        }
    }
}

/// Builds the quarantine table's batch for the rejects of one source file.
pub fn quarantine_batch(
    source_file: &str,
    rejects: &[Reject],
    now_us: i64,
) -> Result<RecordBatch, arrow::error::ArrowError> {
    let n = rejects.len();
    let mut file = StringBuilder::with_capacity(n, n * source_file.len());
    let mut row = Int64Builder::with_capacity(n);
    let mut column = StringBuilder::new();
    let mut kind = StringBuilder::new();
    let mut reason = StringBuilder::new();
    let mut all = StringBuilder::new();
    let mut raw = StringBuilder::new();
    let mut rows = Int64Builder::with_capacity(n);
    for r in rejects {
        file.append_value(source_file);
        row.append_option(r.source_row);
        column.append_option(r.column.as_deref());
        kind.append_value(r.kind.as_str());
        reason.append_value(&r.reason);
        all.append_value(&r.all_errors);
        raw.append_option(r.raw_row.as_deref());
        rows.append_value(r.rows);
    }
    let at = TimestampMicrosecondArray::from(vec![now_us; n]).with_timezone("UTC");
    let cols: Vec<ArrayRef> = vec![
        Arc::new(file.finish()),
        Arc::new(row.finish()),
        Arc::new(column.finish()),
        Arc::new(kind.finish()),
        Arc::new(reason.finish()),
        Arc::new(all.finish()),
        Arc::new(raw.finish()),
        Arc::new(rows.finish()),
        Arc::new(at),
    ];
    RecordBatch::try_new(cdrlake_schema::quarantine_schema(), cols)
}
