//! Finding landed files and reading them into raw Arrow batches.
//!
//! Parquet keeps its own types. CSV and JSON Lines become all-string columns that validation
//! parses, so a bad value is rejected with its row instead of failing the whole file. Rows that
//! are not even well-formed (a CSV line with the wrong number of fields, invalid UTF-8, a JSON
//! line that does not parse) become rejects here, with their line number.

use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema};
use bytes::Bytes;
use cdrlake_schema::TableDef;
use futures::TryStreamExt;
use object_store::ObjectStoreExt as _;
use object_store::path::Path;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::reject::{Reject, RejectKind};
use cdrlake_store::Store;

/// Rows per raw batch read from CSV and JSON Lines.
const TEXT_BATCH_ROWS: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Parquet,
    Csv,
    JsonLines,
}

impl Format {
    /// The format of a file by its extension; `None` for files ingest does not read
    /// (`_SUCCESS`, `.crc`, hidden files).
    pub fn from_name(name: &str) -> Option<Format> {
        let lower = name.to_ascii_lowercase();
        let base = lower.rsplit('/').next().unwrap_or(&lower);
        if base.starts_with('.') || base.starts_with('_') {
            return None;
        }
        if lower.ends_with(".parquet") || lower.ends_with(".parq") {
            Some(Format::Parquet)
        } else if lower.ends_with(".csv") {
            Some(Format::Csv)
        } else if lower.ends_with(".jsonl")
            || lower.ends_with(".ndjson")
            || lower.ends_with(".json")
        {
            Some(Format::JsonLines)
        } else {
            None
        }
    }
}

#[derive(Debug, Clone)]
pub enum Location {
    /// A path inside the store (landing files).
    Store(Path),
    /// A local file given on the command line.
    Local(PathBuf),
}

/// One file to ingest.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Stable identity used for exactly-once: the store-relative path of a landed file, or
    /// `file://` and the absolute path of a local file.
    pub key: String,
    pub location: Location,
    pub format: Format,
    pub size: u64,
    /// `key=value` folders in the path, usable as values of columns the file lacks.
    pub hive: Vec<(String, String)>,
}

impl SourceFile {
    pub fn from_store_path(path: Path, size: u64) -> Option<SourceFile> {
        let format = Format::from_name(path.as_ref())?;
        Some(SourceFile {
            key: path.to_string(),
            hive: hive_values(path.as_ref()),
            location: Location::Store(path),
            format,
            size,
        })
    }

    pub fn from_local(path: &std::path::Path) -> Result<SourceFile, String> {
        let abs = std::fs::canonicalize(path)
            .map_err(|e| format!("cannot open '{}': {e}", path.display()))?;
        let meta = std::fs::metadata(&abs)
            .map_err(|e| format!("cannot open '{}': {e}", path.display()))?;
        if !meta.is_file() {
            return Err(format!("'{}' is not a file", path.display()));
        }
        let name = abs.to_string_lossy().to_string();
        let format = Format::from_name(&name).ok_or_else(|| {
            format!(
                "'{}': unknown format (expected .parquet, .csv, .jsonl or .ndjson)",
                path.display()
            )
        })?;
        Ok(SourceFile {
            key: format!("file://{name}"),
            hive: hive_values(&name),
            location: Location::Local(abs),
            format,
            size: meta.len(),
        })
    }
}

/// Lists the landed files of a table, sorted by path so runs are repeatable.
pub async fn list_landing(store: &Store, table: &str) -> Result<Vec<SourceFile>, String> {
    let prefix = Store::landing_prefix(table);
    let metas: Vec<_> = store
        .object_store()
        .list(Some(&prefix))
        .try_collect()
        .await
        .map_err(|e| format!("cannot list {prefix}: {e}"))?;
    let mut files: Vec<SourceFile> = metas
        .into_iter()
        .filter_map(|m| SourceFile::from_store_path(m.location, m.size))
        .collect();
    files.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(files)
}

fn hive_values(path: &str) -> Vec<(String, String)> {
    let mut segments: Vec<&str> = path.split('/').collect();
    segments.pop(); // the file name
    segments
        .into_iter()
        .filter_map(|seg| seg.split_once('='))
        .filter(|(k, v)| !k.is_empty() && !v.is_empty())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Raw rows of a file, with where each row came from.
pub struct RawBatch {
    pub batch: RecordBatch,
    /// The row number (Parquet) or line number (CSV, JSON Lines) of each row, 1-based.
    pub locators: Vec<i64>,
}

pub struct RawFile {
    /// The file's columns, when the format declares them (Parquet schema, CSV header).
    pub schema: Option<arrow::datatypes::SchemaRef>,
    pub batches: Vec<RawBatch>,
    /// Rows that could not be turned into columns at all.
    pub rejects: Vec<Reject>,
}

impl RawFile {
    pub fn rows(&self) -> u64 {
        self.batches
            .iter()
            .map(|b| b.batch.num_rows() as u64)
            .sum::<u64>()
            + self.rejects.len() as u64
    }
}

/// A file that cannot be read at all, and how many rows it holds when that is known.
#[derive(Debug)]
pub struct FileError {
    pub reason: String,
    pub column: Option<String>,
    pub rows: Option<u64>,
}

impl FileError {
    pub fn new(reason: impl Into<String>) -> Self {
        FileError {
            reason: reason.into(),
            column: None,
            rows: None,
        }
    }
}

pub async fn fetch(store: &Store, file: &SourceFile) -> Result<Bytes, FileError> {
    match &file.location {
        Location::Store(path) => {
            let got = store
                .object_store()
                .get(path)
                .await
                .map_err(|e| FileError::new(format!("cannot fetch: {e}")))?;
            got.bytes()
                .await
                .map_err(|e| FileError::new(format!("cannot fetch: {e}")))
        }
        Location::Local(p) => tokio::fs::read(p)
            .await
            .map(Bytes::from)
            .map_err(|e| FileError::new(format!("cannot read: {e}"))),
    }
}

/// Decodes a fetched file. CPU-bound: run it off the async runtime.
pub fn decode(def: &TableDef, format: Format, bytes: Bytes) -> Result<RawFile, FileError> {
    match format {
        Format::Parquet => decode_parquet(bytes),
        Format::Csv => decode_csv(&bytes),
        Format::JsonLines => decode_json_lines(def, &bytes),
    }
}

fn decode_parquet(bytes: Bytes) -> Result<RawFile, FileError> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .map_err(|e| FileError::new(format!("not a readable Parquet file: {e}")))?;
    let total = builder.metadata().file_metadata().num_rows().max(0) as u64;
    let schema = builder.schema().clone();
    let reader = builder
        .with_batch_size(TEXT_BATCH_ROWS)
        .build()
        .map_err(|e| FileError::new(format!("not a readable Parquet file: {e}")))?;
    let mut batches = Vec::new();
    let mut next_row = 1i64;
    for batch in reader {
        let batch = batch.map_err(|e| FileError {
            reason: format!("Parquet data cannot be decoded near row {next_row}: {e}"),
            column: None,
            rows: Some(total),
        })?;
        let n = batch.num_rows() as i64;
        batches.push(RawBatch {
            batch,
            locators: (next_row..next_row + n).collect(),
        });
        next_row += n;
    }
    Ok(RawFile {
        schema: Some(schema),
        batches,
        rejects: vec![],
    })
}

fn text_schema(names: &[String]) -> Arc<Schema> {
    Arc::new(Schema::new(
        names
            .iter()
            .map(|n| Field::new(n, DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ))
}

struct TextColumns {
    schema: Arc<Schema>,
    builders: Vec<StringBuilder>,
    locators: Vec<i64>,
    out: Vec<RawBatch>,
}

impl TextColumns {
    fn new(names: &[String]) -> Self {
        TextColumns {
            schema: text_schema(names),
            builders: names.iter().map(|_| StringBuilder::new()).collect(),
            locators: vec![],
            out: vec![],
        }
    }

    fn finish_row(&mut self, locator: i64) -> Result<(), FileError> {
        self.locators.push(locator);
        if self.locators.len() >= TEXT_BATCH_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), FileError> {
        if self.locators.is_empty() {
            return Ok(());
        }
        let cols: Vec<ArrayRef> = self
            .builders
            .iter_mut()
            .map(|b| Arc::new(b.finish()) as ArrayRef)
            .collect();
        let batch = RecordBatch::try_new(self.schema.clone(), cols)
            .map_err(|e| FileError::new(format!("internal error building columns: {e}")))?;
        self.out.push(RawBatch {
            batch,
            locators: std::mem::take(&mut self.locators),
        });
        Ok(())
    }
}

fn decode_csv(bytes: &[u8]) -> Result<RawFile, FileError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(bytes);
    let header = reader
        .byte_headers()
        .map_err(|e| FileError::new(format!("CSV header cannot be read: {e}")))?
        .clone();
    let mut names = Vec::with_capacity(header.len());
    for (i, h) in header.iter().enumerate() {
        let name = std::str::from_utf8(h)
            .map_err(|_| FileError::new(format!("CSV header field {} is not UTF-8", i + 1)))?;
        names.push(name.trim().trim_start_matches('\u{feff}').to_string());
    }
    if names.iter().all(|n| n.is_empty()) {
        return Err(FileError::new("CSV file has no header line"));
    }
    let mut cols = TextColumns::new(&names);
    let mut rejects = Vec::new();
    let mut record = csv::ByteRecord::new();
    loop {
        let line = reader.position().line() as i64;
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map(|p| p.line() as i64).unwrap_or(line);
                rejects.push(Reject::row(
                    line,
                    None,
                    RejectKind::Malformed,
                    format!("CSV line cannot be parsed: {e}"),
                    None,
                ));
                if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                    break;
                }
                continue;
            }
        }
        let line = record.position().map(|p| p.line() as i64).unwrap_or(line);
        let raw = || {
            record
                .iter()
                .map(|f| String::from_utf8_lossy(f).to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        if record.len() != names.len() {
            rejects.push(Reject::row(
                line,
                None,
                RejectKind::Malformed,
                format!(
                    "expected {} fields as in the header, found {}",
                    names.len(),
                    record.len()
                ),
                Some(raw()),
            ));
            continue;
        }
        // Check every field before appending any, so a bad row leaves no partial values.
        let mut bad: Option<(usize, String)> = None;
        for (i, f) in record.iter().enumerate() {
            if let Err(e) = std::str::from_utf8(f) {
                bad = Some((i, format!("not valid UTF-8 at byte {}", e.valid_up_to())));
                break;
            }
        }
        if let Some((i, reason)) = bad {
            rejects.push(Reject::row(
                line,
                Some(names[i].clone()),
                RejectKind::Malformed,
                reason,
                Some(raw()),
            ));
            continue;
        }
        for (i, f) in record.iter().enumerate() {
            // Checked above.
            let s = std::str::from_utf8(f).unwrap_or_default();
            if s.is_empty() {
                cols.builders[i].append_null();
            } else {
                cols.builders[i].append_value(s);
            }
        }
        cols.finish_row(line)?;
    }
    cols.flush()?;
    Ok(RawFile {
        schema: Some(cols.schema.clone()),
        batches: cols.out,
        rejects,
    })
}

fn decode_json_lines(def: &TableDef, bytes: &[u8]) -> Result<RawFile, FileError> {
    let names: Vec<String> = def.columns.iter().map(|c| c.name.to_string()).collect();
    let mut cols = TextColumns::new(&names);
    let mut rejects = Vec::new();
    for (idx, line) in bytes.split(|b| *b == b'\n').enumerate() {
        let line_no = idx as i64 + 1;
        let text = line.strip_suffix(b"\r").unwrap_or(line);
        if text.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        let raw = || String::from_utf8_lossy(text).to_string();
        let obj: serde_json::Map<String, serde_json::Value> = match serde_json::from_slice(text) {
            Ok(serde_json::Value::Object(m)) => m,
            Ok(_) => {
                rejects.push(Reject::row(
                    line_no,
                    None,
                    RejectKind::Malformed,
                    "JSON line is not an object".into(),
                    Some(raw()),
                ));
                continue;
            }
            Err(e) => {
                rejects.push(Reject::row(
                    line_no,
                    None,
                    RejectKind::Malformed,
                    format!("invalid JSON at column {}: {e}", e.column()),
                    Some(raw()),
                ));
                continue;
            }
        };
        if let Some(unknown) = obj
            .keys()
            .find(|k| def.column(k).is_none() && k.as_str() != cdrlake_schema::PARTITION_COLUMN)
        {
            rejects.push(Reject::row(
                line_no,
                Some(unknown.clone()),
                RejectKind::UnknownColumn,
                format!(
                    "unknown field '{unknown}': table {} has no such column",
                    def.name
                ),
                Some(raw()),
            ));
            continue;
        }
        for (i, name) in names.iter().enumerate() {
            match obj.get(name) {
                None | Some(serde_json::Value::Null) => cols.builders[i].append_null(),
                Some(serde_json::Value::String(s)) if s.is_empty() => {
                    cols.builders[i].append_null()
                }
                Some(serde_json::Value::String(s)) => cols.builders[i].append_value(s),
                Some(v) => cols.builders[i].append_value(v.to_string()),
            }
        }
        cols.finish_row(line_no)?;
    }
    cols.flush()?;
    Ok(RawFile {
        schema: None,
        batches: cols.out,
        rejects,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_by_extension() {
        assert_eq!(Format::from_name("a/b/x.parquet"), Some(Format::Parquet));
        assert_eq!(Format::from_name("x.CSV"), Some(Format::Csv));
        assert_eq!(Format::from_name("x.ndjson"), Some(Format::JsonLines));
        assert_eq!(Format::from_name("a/_SUCCESS"), None);
        assert_eq!(Format::from_name("a/.x.parquet.crc"), None);
        assert_eq!(Format::from_name("a/readme.txt"), None);
    }

    #[test]
    fn hive_folders() {
        assert_eq!(
            hive_values("landing/calls/tenant_id=acme/date=2026-01-02/part-0.parquet"),
            vec![
                ("tenant_id".to_string(), "acme".to_string()),
                ("date".to_string(), "2026-01-02".to_string())
            ]
        );
    }

    #[test]
    fn csv_rows_with_wrong_field_counts_are_rejected_by_line() {
        let data = b"a,b\n1,2\n3\n4,5\n";
        let f = decode_csv(data).expect("decodes");
        assert_eq!(f.batches.len(), 1);
        assert_eq!(f.batches[0].locators, vec![2, 4]);
        assert_eq!(f.rejects.len(), 1);
        assert_eq!(f.rejects[0].source_row, Some(3));
        assert!(
            f.rejects[0].reason.contains("expected 2 fields"),
            "{}",
            f.rejects[0].reason
        );
    }

    #[test]
    fn json_lines_reject_bad_lines_with_position() {
        let data = b"{\"tenant_id\":\"t\",\"name\":\"x\"}\n{\"tenant_id\": \n\n{\"bogus\":1}\n";
        let f = decode_json_lines(&cdrlake_schema::TENANTS, data).expect("decodes");
        assert_eq!(f.batches[0].locators, vec![1]);
        assert_eq!(f.rejects.len(), 2);
        assert_eq!(f.rejects[0].source_row, Some(2));
        assert!(
            f.rejects[0].reason.contains("invalid JSON at column"),
            "{}",
            f.rejects[0].reason
        );
        assert_eq!(f.rejects[1].source_row, Some(4));
        assert_eq!(f.rejects[1].column.as_deref(), Some("bogus"));
    }
}
