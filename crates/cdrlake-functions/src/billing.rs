//! Billing increments and rating, in integer seconds and decimal money.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Decimal128Array, Int64Array};
use arrow::datatypes::{DataType, Decimal128Type, Int64Type};
use datafusion::common::exec_err;
use datafusion::error::Result;
use datafusion::logical_expr::{Documentation, ScalarUDF};

use cdrlake_schema::{MONEY_PRECISION, MONEY_SCALE};

use crate::udf::{Call, DomainFn, Param, section};

/// The money type: Decimal128(18, 6), as in every money column of the lake.
pub fn money_type() -> DataType {
    DataType::Decimal128(MONEY_PRECISION, MONEY_SCALE)
}

/// Seconds billed for a call of `d` seconds with increments a/b: 0 for 0 s, `a` up to `a`,
/// then `a` plus whole increments of `b`. `None` for negative inputs, or for `b` = 0 when the
/// call is longer than `a`.
pub fn billed_seconds(d: i64, a: i64, b: i64) -> Option<i64> {
    if d < 0 || a < 0 || b < 0 {
        return None;
    }
    if d == 0 {
        return Some(0);
    }
    if d <= a {
        return Some(a);
    }
    if b == 0 {
        return None;
    }
    let rest = d - a;
    let steps = rest / b + i64::from(rest % b != 0);
    steps.checked_mul(b).and_then(|v| v.checked_add(a))
}

/// `billed_s / 60 x rate + fee` in micro-units (scale 6), rounded half away from zero.
/// `None` on overflow of 18 digits.
pub fn rated_micros(billed_s: i64, rate_micros: i128, fee_micros: i128) -> Option<i128> {
    let num = rate_micros.checked_mul(billed_s as i128)?;
    let q = num / 60;
    let r = num % 60;
    let rounded = if r * 2 >= 60 { q + 1 } else { q };
    let v = rounded.checked_add(fee_micros)?;
    (v.abs() < 10_i128.pow(MONEY_PRECISION as u32)).then_some(v)
}

fn int<'a>(c: &'a Call<'_>, i: usize) -> &'a Int64Array {
    c.args[i].as_primitive::<Int64Type>()
}

/// A money argument as decimal(18, 6), whatever decimal it came as.
fn money(c: &Call<'_>, i: usize) -> Result<Decimal128Array> {
    let a = arrow::compute::cast(&c.args[i], &money_type())?;
    Ok(a.as_primitive::<Decimal128Type>().clone())
}

fn get<T: arrow::datatypes::ArrowPrimitiveType>(
    a: &arrow::array::PrimitiveArray<T>,
    i: usize,
) -> Option<T::Native> {
    a.is_valid(i).then(|| a.value(i))
}

pub(crate) fn functions() -> Vec<ScalarUDF> {
    let sec = section("cdrlake: billing");
    vec![
        DomainFn::new(
            "billed_seconds",
            vec![vec![
                ("duration_s", Param::Int),
                ("first_increment", Param::Int),
                ("next_increment", Param::Int),
            ]],
            DataType::Int64,
            Documentation::builder(
                sec.clone(),
                "Seconds billed with a/b increments: 0 for a 0-second call; the first \
                 increment a for calls up to a seconds; otherwise a + ceil((d - a) / b) x b. \
                 6/6 bills 8 s as 12 s, 30/6 bills 31 s as 36 s, 60/60 bills 61 s as 120 s, 1/1 \
                 bills by the second. NULL for NULL or negative inputs, and when b is 0 and the \
                 call is longer than a."
                    .to_string(),
                "billed_seconds(duration_s, first_increment, next_increment)".to_string(),
            )
            .with_sql_example(
                "```sql\nSELECT billed_seconds(billable_s, customer_first_increment_s, customer_next_increment_s) FROM calls;\n```",
            )
            .with_argument("duration_s", "The call's billable seconds (integer).")
            .with_argument("first_increment", "a: the first increment, seconds.")
            .with_argument("next_increment", "b: each further increment, seconds.")
            .build(),
            Arc::new(|c: &Call<'_>| {
                let (d, a, b) = (int(c, 0), int(c, 1), int(c, 2));
                let out: Int64Array = (0..c.rows)
                    .map(|i| match (get(d, i), get(a, i), get(b, i)) {
                        (Some(d), Some(a), Some(b)) => billed_seconds(d, a, b),
                        _ => None,
                    })
                    .collect();
                Ok(Arc::new(out) as ArrayRef)
            }),
        )
        .udf(),
        DomainFn::new(
            "rated_amount",
            vec![vec![
                ("billed_seconds", Param::Int),
                ("rate_per_minute", Param::Money),
                ("connect_fee", Param::Money),
            ]],
            money_type(),
            Documentation::builder(
                sec,
                "Money for billed seconds at a per-minute rate plus a connection fee: \
                 billed_seconds / 60 x rate_per_minute + connect_fee, computed exactly in \
                 decimal and rounded half away from zero to 6 decimal places; returns \
                 decimal(18,6). NULL for NULL or negative inputs; an error if the amount does \
                 not fit 18 digits."
                    .to_string(),
                "rated_amount(billed_seconds, rate_per_minute, connect_fee)".to_string(),
            )
            .with_sql_example(
                "```sql\nSELECT rated_amount(billed_seconds(95, 30, 6), 0.012, 0); -- 0.019200\n```",
            )
            .with_argument("billed_seconds", "Seconds to bill (integer), e.g. from billed_seconds.")
            .with_argument("rate_per_minute", "Price of a minute (decimal).")
            .with_argument("connect_fee", "Fixed amount per call (decimal); 0 for none.")
            .build(),
            Arc::new(|c: &Call<'_>| {
                let (s, rate, fee) = (int(c, 0), money(c, 1)?, money(c, 2)?);
                let out = (0..c.rows)
                    .map(|i| match (get(s, i), get(&rate, i), get(&fee, i)) {
                        (Some(s), Some(r), Some(f)) if s >= 0 && r >= 0 && f >= 0 => {
                            match rated_micros(s, r, f) {
                                Some(v) => Ok(Some(v)),
                                None => exec_err!(
                                    "rated_amount: {s} s at rate {r}e-6 plus fee {f}e-6 does not fit decimal(18,6)"
                                ),
                            }
                        }
                        _ => Ok(None),
                    })
                    .collect::<Result<Decimal128Array>>()?
                    .with_precision_and_scale(MONEY_PRECISION, MONEY_SCALE)?;
                Ok(Arc::new(out) as ArrayRef)
            }),
        )
        .udf(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn increments_from_the_reference() {
        assert_eq!(billed_seconds(8, 6, 6), Some(12));
        assert_eq!(billed_seconds(31, 30, 6), Some(36));
        assert_eq!(billed_seconds(61, 60, 60), Some(120));
        assert_eq!(billed_seconds(0, 60, 60), Some(0));
        assert_eq!(billed_seconds(1, 60, 60), Some(60));
        assert_eq!(billed_seconds(59, 1, 1), Some(59));
        assert_eq!(billed_seconds(-1, 6, 6), None);
        assert_eq!(billed_seconds(7, 6, 0), None);
    }

    #[test]
    fn rating_rounds_half_away_from_zero() {
        // 36 s at 0.012/min = 0.0072 exactly.
        assert_eq!(rated_micros(36, 12_000, 0), Some(7_200));
        // 1 s at 0.000001/min = 1/60 micro -> 0; 30 s -> 0.5 micro -> 1.
        assert_eq!(rated_micros(1, 1, 0), Some(0));
        assert_eq!(rated_micros(30, 1, 0), Some(1));
        assert_eq!(rated_micros(60, 1_000_000, 250_000), Some(1_250_000));
        assert_eq!(rated_micros(i64::MAX, 10_i128.pow(17), 0), None);
    }
}
