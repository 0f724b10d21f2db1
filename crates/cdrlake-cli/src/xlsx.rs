//! Writing a result as an Excel workbook with typed cells: numbers as numbers, money as
//! numbers with six decimals, dates and times as Excel dates, booleans as booleans.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use chrono::{Datelike, NaiveDateTime, Timelike};
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Float64Type, Schema, TimeUnit, TimestampMicrosecondType,
};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};

/// Excel's row limit, header included.
const MAX_ROWS: usize = 1_048_576;

pub fn write(path: &Path, schema: &Arc<Schema>, batches: &[RecordBatch]) -> Result<()> {
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    if rows + 1 > MAX_ROWS {
        bail!(
            "{rows} rows do not fit in one Excel sheet (at most {MAX_ROWS} rows with the header); use csv or parquet"
        );
    }
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    let bold = Format::new().set_bold();
    let date = Format::new().set_num_format("yyyy-mm-dd");
    let time = Format::new().set_num_format("yyyy-mm-dd hh:mm:ss");
    let money = Format::new().set_num_format("0.00####");
    let xl = |e: rust_xlsxwriter::XlsxError| anyhow::anyhow!("xlsx: {e}");
    for (c, f) in schema.fields().iter().enumerate() {
        sheet
            .write_string_with_format(0, col(c)?, f.name(), &bold)
            .map_err(xl)?;
    }
    let mut row: u32 = 1;
    for batch in batches {
        for (c, array) in batch.columns().iter().enumerate() {
            let c = col(c)?;
            // Cast once per column, so the cell code reads one type per kind.
            let target = match array.data_type() {
                t if t.is_integer() || t == &DataType::Float32 => Some(DataType::Float64),
                DataType::Date64 => Some(DataType::Date32),
                DataType::Timestamp(_, tz) => {
                    Some(DataType::Timestamp(TimeUnit::Microsecond, tz.clone()))
                }
                _ => None,
            };
            let array = match target {
                Some(t) => datafusion::arrow::compute::cast(array, &t)?,
                None => Arc::clone(array),
            };
            let fmt = ArrayFormatter::try_new(array.as_ref(), &FormatOptions::default())?;
            for i in 0..array.len() {
                let r = row + i as u32;
                if array.is_null(i) {
                    continue;
                }
                match array.data_type() {
                    DataType::Float64 => {
                        let v = array.as_primitive::<Float64Type>().value(i);
                        if v.is_finite() {
                            sheet.write_number(r, c, v).map_err(xl)?;
                        }
                    }
                    DataType::Decimal128(_, s) => {
                        let raw = array.as_primitive::<Decimal128Type>().value(i);
                        let v = raw as f64 / 10f64.powi(i32::from(*s));
                        sheet
                            .write_number_with_format(r, c, v, &money)
                            .map_err(xl)?;
                    }
                    DataType::Boolean => {
                        sheet
                            .write_boolean(r, c, array.as_boolean().value(i))
                            .map_err(xl)?;
                    }
                    DataType::Date32 => {
                        let days = array.as_primitive::<Date32Type>().value(i);
                        let d = chrono::NaiveDate::from_num_days_from_ce_opt(days + 719_163)
                            .context("date out of range")?;
                        let x = ExcelDateTime::from_ymd(
                            d.year() as u16,
                            d.month() as u8,
                            d.day() as u8,
                        )
                        .map_err(xl)?;
                        sheet
                            .write_datetime_with_format(r, c, &x, &date)
                            .map_err(xl)?;
                    }
                    DataType::Timestamp(_, _) => {
                        let us = array.as_primitive::<TimestampMicrosecondType>().value(i);
                        let t: NaiveDateTime = chrono::DateTime::from_timestamp_micros(us)
                            .context("timestamp out of range")?
                            .naive_utc();
                        let x = ExcelDateTime::from_ymd(
                            t.year() as u16,
                            t.month() as u8,
                            t.day() as u8,
                        )
                        .and_then(|d| {
                            d.and_hms(
                                t.hour() as u16,
                                t.minute() as u8,
                                f64::from(t.second()) + f64::from(t.nanosecond()) / 1e9,
                            )
                        })
                        .map_err(xl)?;
                        sheet
                            .write_datetime_with_format(r, c, &x, &time)
                            .map_err(xl)?;
                    }
                    _ => {
                        sheet
                            .write_string(r, c, fmt.value(i).to_string())
                            .map_err(xl)?;
                    }
                }
            }
        }
        row += batch.num_rows() as u32;
    }
    book.save(path)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    Ok(())
}

fn col(c: usize) -> Result<u16> {
    u16::try_from(c)
        .ok()
        .filter(|c| *c < 16_384)
        .context("more than 16384 columns")
}
