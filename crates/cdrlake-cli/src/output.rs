//! Running a query and writing its result as a table, CSV, JSON or Parquet.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::Schema;
use datafusion::prelude::SessionContext;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Csv,
    Json,
    JsonLines,
    Parquet,
    Xlsx,
}

pub async fn run_query(
    ctx: &SessionContext,
    sql: &str,
    format: Format,
    delimiter: u8,
    output: Option<&Path>,
) -> Result<()> {
    let (schema, batches) = collect(ctx, sql).await?;
    write_result(&schema, &batches, format, delimiter, output)
}

/// Runs a query `runs` times (planning included, the session already open), prints each
/// run's seconds and the row count as one JSON object on stderr, and writes the last result.
pub async fn run_query_timed(
    ctx: &SessionContext,
    sql: &str,
    runs: usize,
    format: Format,
    delimiter: u8,
    output: Option<&Path>,
) -> Result<()> {
    let mut seconds = Vec::with_capacity(runs);
    let mut cpu = Vec::with_capacity(runs);
    let mut last = None;
    // The peak resident set is measured over the runs only, not over opening the lake.
    let peak_reset = reset_peak_rss();
    for _ in 0..runs.max(1) {
        let cpu0 = cpu_seconds();
        let start = std::time::Instant::now();
        let result = collect(ctx, sql).await?;
        seconds.push(start.elapsed().as_secs_f64());
        if let (Some(a), Some(b)) = (cpu0, cpu_seconds()) {
            cpu.push(b - a);
        }
        last = Some(result);
    }
    let Some((schema, batches)) = last else {
        bail!("no run");
    };
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    let peak = if peak_reset { peak_rss_bytes() } else { None };
    eprintln!(
        "{}",
        serde_json::json!({"runs_s": seconds, "cpu_s": cpu, "peak_rss_bytes": peak, "rows": rows})
    );
    write_result(&schema, &batches, format, delimiter, output)
}

/// CPU seconds (user + system, every thread) this process has used, from /proc/self/stat
/// (Linux; clock ticks of 10 ms). None elsewhere.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// Resets the process's peak resident set (VmHWM) so the next reading covers what follows.
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// The process's peak resident set since the last reset, in bytes (Linux).
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

async fn collect(ctx: &SessionContext, sql: &str) -> Result<(Arc<Schema>, Vec<RecordBatch>)> {
    let df = match cdrlake_engine::sql(ctx, sql).await {
        Ok(df) => df,
        Err(e) => {
            let msg = e.to_string();
            if msg.contains("table '") && msg.contains("not found") {
                let tables = cdrlake_schema::table_names().join(", ");
                bail!(
                    "query failed: {msg}; the lake's tables are {tables} (SHOW TABLES lists all)"
                );
            }
            return Err(anyhow::Error::new(e).context("query failed"));
        }
    };
    let schema: Arc<Schema> = Arc::new(df.schema().as_arrow().clone());
    let batches = df.collect().await.context("query failed")?;
    Ok((schema, batches))
}

fn write_result(
    schema: &Arc<Schema>,
    batches: &[RecordBatch],
    format: Format,
    delimiter: u8,
    output: Option<&Path>,
) -> Result<()> {
    if format == Format::Xlsx {
        let path = output.context("--format xlsx needs --output FILE")?;
        return crate::xlsx::write(path, schema, batches);
    }
    let mut sink: Box<dyn Write + Send> = match output {
        Some(p) => {
            Box::new(File::create(p).with_context(|| format!("cannot create {}", p.display()))?)
        }
        None if format == Format::Parquet => bail!("--format parquet needs --output FILE"),
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
    };
    write_batches(&mut sink, schema, batches, format, delimiter)?;
    sink.flush().context("cannot write the result")?;
    Ok(())
}

pub fn write_batches(
    sink: &mut (dyn Write + Send),
    schema: &Arc<Schema>,
    batches: &[RecordBatch],
    format: Format,
    delimiter: u8,
) -> Result<()> {
    // An empty result still shows its columns.
    let empty;
    let batches = if batches.is_empty() {
        empty = [RecordBatch::new_empty(schema.clone())];
        &empty[..]
    } else {
        batches
    };
    match format {
        Format::Table => {
            let text = datafusion::arrow::util::pretty::pretty_format_batches(batches)?;
            writeln!(sink, "{text}")?;
        }
        Format::Csv => {
            // RFC 4180: a field holding the delimiter, a quote or a line break is quoted and
            // its quotes doubled (arrow's writer quotes when necessary).
            let mut w = datafusion::arrow::csv::WriterBuilder::new()
                .with_header(true)
                .with_delimiter(delimiter)
                .build(sink);
            for b in batches {
                w.write(&nested_as_text(b)?)?;
            }
        }
        Format::Json => {
            let mut w = datafusion::arrow::json::WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, datafusion::arrow::json::writer::JsonArray>(sink);
            for b in batches {
                w.write(b)?;
            }
            w.finish()?;
            drop(w);
        }
        Format::JsonLines => {
            let mut w = datafusion::arrow::json::WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, datafusion::arrow::json::writer::LineDelimited>(sink);
            for b in batches {
                w.write(b)?;
            }
            w.finish()?;
        }
        Format::Xlsx => bail!("xlsx is written to a file"),
        Format::Parquet => {
            let mut w =
                datafusion::parquet::arrow::ArrowWriter::try_new(sink, schema.clone(), None)?;
            for b in batches {
                w.write(b)?;
            }
            w.close()?;
        }
    }
    Ok(())
}

/// CSV has no lists or structs: such columns are written as their display text
/// (`[a, b]`, `{x: 1}`), as the table format shows them.
fn nested_as_text(batch: &RecordBatch) -> Result<RecordBatch> {
    use datafusion::arrow::array::{Array, ArrayRef, StringBuilder};
    use datafusion::arrow::datatypes::{DataType, Field};
    use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
    if !batch
        .schema()
        .fields()
        .iter()
        .any(|f| f.data_type().is_nested())
    {
        return Ok(batch.clone());
    }
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        if field.data_type().is_nested() {
            let fmt = ArrayFormatter::try_new(column.as_ref(), &FormatOptions::default())?;
            let mut b = StringBuilder::with_capacity(column.len(), column.len() * 16);
            for i in 0..column.len() {
                if column.is_null(i) {
                    b.append_null();
                } else {
                    b.append_value(fmt.value(i).to_string());
                }
            }
            fields.push(Field::new(field.name(), DataType::Utf8, true));
            columns.push(Arc::new(b.finish()));
        } else {
            fields.push(field.as_ref().clone());
            columns.push(column.clone());
        }
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}
