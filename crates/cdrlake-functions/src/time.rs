//! Local wall-clock time in a tenant's time zone, for report buckets.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, TimeUnit, TimestampMicrosecondType};
use datafusion::common::{ScalarValue, exec_err, plan_err};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    TypeSignature, Volatility,
};

use crate::udf::{Text, is_text, section, utc_micros};
use crate::zones::Zone;

/// The naive local type `local_time` returns.
fn local_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, None)
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct LocalTime {
    signature: Signature,
    doc: Documentation,
}

impl LocalTime {
    fn new() -> Self {
        LocalTime {
            signature: Signature::one_of(
                vec![
                    TypeSignature::UserDefined,
                    TypeSignature::Exact(vec![utc_micros(), DataType::Utf8]),
                ],
                Volatility::Immutable,
            ),
            doc: Documentation::builder(
                section("cdrlake: time"),
                "The wall-clock time in an IANA time zone at a UTC instant, as a timestamp \
                 without time zone: the tenant-local time reports bucket by. Daylight saving \
                 is applied per instant (2026-03-08T07:30:00Z is 03:30 in America/New_York, \
                 2026-03-08T06:30:00Z is 01:30). NULL when either argument is NULL; an unknown \
                 zone is an error that names it."
                    .to_string(),
                "local_time(utc_time, time_zone)".to_string(),
            )
            .with_sql_example(
                "```sql\nSELECT date_trunc('day', local_time(c.invite_time, t.time_zone)) AS local_day\nFROM calls c JOIN tenants t USING (tenant_id);\n```",
            )
            .with_argument("utc_time", "A timestamp (an instant).")
            .with_argument("time_zone", "An IANA zone name such as 'Europe/Berlin'.")
            .build(),
        }
    }
}

impl ScalarUDFImpl for LocalTime {
    fn name(&self) -> &str {
        "local_time"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(local_type())
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let [t, z] = arg_types else {
            return plan_err!(
                "local_time takes 2 arguments (utc_time, time_zone), got {}",
                arg_types.len()
            );
        };
        let t = match t {
            DataType::Timestamp(_, _) | DataType::Date32 | DataType::Date64 | DataType::Null => {
                utc_micros()
            }
            _ if is_text(t) => utc_micros(),
            other => return plan_err!("local_time: utc_time must be a timestamp, got {other}"),
        };
        let z = if is_text(z) || z.is_null() {
            match z {
                DataType::Dictionary(_, _) | DataType::Null => DataType::Utf8,
                other => other.clone(),
            }
        } else {
            return plan_err!("local_time: time_zone must be a string, got {z}");
        };
        Ok(vec![t, z])
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let all_scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let [t, z] = arrays.as_slice() else {
            return exec_err!("local_time takes 2 arguments");
        };
        let t = if t.data_type() == &utc_micros() {
            Arc::clone(t)
        } else {
            arrow::compute::cast(t, &utc_micros())?
        };
        let t = t.as_primitive::<TimestampMicrosecondType>();
        let zones = Text::new(z)?;
        let mut last: Option<(&str, Zone)> = None;
        let mut out = Vec::with_capacity(t.len());
        for i in 0..t.len() {
            if t.is_null(i) {
                out.push(None);
                continue;
            }
            let Some(name) = zones.get(i) else {
                out.push(None);
                continue;
            };
            let same = matches!(&last, Some((n, _)) if *n == name);
            if !same {
                let Some(tz) = Zone::get(name) else {
                    return exec_err!("local_time: unknown time zone '{name}'");
                };
                last = Some((name, tz));
            }
            let Some((_, tz)) = &last else {
                return exec_err!("local_time: no zone");
            };
            out.push(Some(tz.local_micros(t.value(i))));
        }
        let out: ArrayRef = Arc::new(TimestampMicrosecondArray::from(out));
        if all_scalar {
            Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?))
        } else {
            Ok(ColumnarValue::Array(out))
        }
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&self.doc)
    }
}

/// Whether `f` is this crate's `local_time` (not merely a function of that name).
pub(crate) fn is_local_time(f: &ScalarUDF) -> bool {
    let inner: &dyn std::any::Any = f.inner().as_ref();
    inner.downcast_ref::<LocalTime>().is_some()
}

pub(crate) fn functions() -> Vec<ScalarUDF> {
    vec![ScalarUDF::new_from_impl(LocalTime::new())]
}
