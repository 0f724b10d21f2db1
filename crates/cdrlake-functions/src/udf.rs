//! The one shape every scalar domain function shares: typed parameters coerced by DataFusion,
//! a columnar kernel, NULL in -> NULL out, and its documentation.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, LargeStringArray, StringArray, StringViewArray,
};
use arrow::datatypes::{DataType, Float64Type, TimeUnit};
use datafusion::common::{ScalarValue, exec_err, plan_err};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, DocSection, Documentation, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature, TypeSignature, Volatility,
};

use crate::options::CdrlakeOptions;

/// The section every cdrlake function is listed under in `SHOW FUNCTIONS` and the docs.
pub(crate) const fn section(label: &'static str) -> DocSection {
    DocSection {
        include: true,
        label,
        description: None,
    }
}

/// What a parameter is coerced to before the kernel sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Param {
    /// Any number, as Float64.
    Float,
    /// Any integer, as Int64.
    Int,
    /// Any number, as Decimal128(18, 6) (money).
    Money,
    /// Any string type, kept as it is (Utf8, LargeUtf8 or Utf8View).
    Text,
}

impl Param {
    /// The type the kernel sees.
    fn canonical(self) -> DataType {
        match self {
            Param::Float => DataType::Float64,
            Param::Int => DataType::Int64,
            Param::Money => crate::billing::money_type(),
            Param::Text => DataType::Utf8,
        }
    }

    /// Converts an argument array to the type the kernel reads.
    fn prepare(self, a: &ArrayRef) -> Result<ArrayRef> {
        let want = match (self, a.data_type()) {
            (Param::Text, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) => {
                return Ok(Arc::clone(a));
            }
            (Param::Money, t) if is_decimal(t) => return Ok(Arc::clone(a)),
            (p, _) => p.canonical(),
        };
        if a.data_type() == &want {
            Ok(Arc::clone(a))
        } else {
            Ok(arrow::compute::cast(a, &want)?)
        }
    }

    fn coerce(self, fname: &str, pname: &str, t: &DataType) -> Result<DataType> {
        let ok = match self {
            Param::Float => t.is_numeric() || t.is_null(),
            Param::Int => t.is_integer() || t.is_null(),
            // Money is never a float: floats would be a lossy, silent conversion.
            Param::Money => t.is_integer() || is_decimal(t) || t.is_null(),
            Param::Text => is_text(t) || t.is_null(),
        };
        if !ok {
            let want = match self {
                Param::Float => "a number",
                Param::Money => "a decimal or an integer",
                Param::Int => "an integer",
                Param::Text => "a string",
            };
            return plan_err!("{fname}: argument {pname} must be {want}, got {t}");
        }
        // The type is kept: `prepare` converts each batch. Returning the argument's own type
        // keeps DataFusion's signature check (which only knows the canonical types, for
        // information_schema) from second-guessing the coercion.
        Ok(t.clone())
    }
}

fn is_decimal(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Decimal32(_, _)
            | DataType::Decimal64(_, _)
            | DataType::Decimal128(_, _)
            | DataType::Decimal256(_, _)
    )
}

pub(crate) fn is_text(t: &DataType) -> bool {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, v) => is_text(v),
        _ => false,
    }
}

/// The UTC microsecond timestamp type every time argument is coerced to.
pub(crate) fn utc_micros() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// Coerces a time argument of an aggregate or window function.
pub(crate) fn coerce_time(fname: &str, pname: &str, t: &DataType) -> Result<DataType> {
    match t {
        DataType::Timestamp(_, _) | DataType::Date32 | DataType::Date64 | DataType::Null => {
            Ok(utc_micros())
        }
        _ if is_text(t) => Ok(utc_micros()),
        _ => plan_err!("{fname}: argument {pname} must be a timestamp, got {t}"),
    }
}

/// Everything a kernel gets: its arguments as arrays (already coerced), the row count and
/// the session's cdrlake options.
pub(crate) struct Call<'a> {
    pub args: &'a [ArrayRef],
    pub rows: usize,
    pub opts: &'a CdrlakeOptions,
}

impl Call<'_> {
    pub fn float(&self, i: usize) -> &Float64Array {
        self.args[i].as_primitive::<Float64Type>()
    }

    pub fn text(&self, i: usize) -> Result<Text<'_>> {
        Text::new(&self.args[i])
    }
}

/// A string argument of whichever string type DataFusion handed over.
pub(crate) enum Text<'a> {
    Utf8(&'a StringArray),
    Large(&'a LargeStringArray),
    View(&'a StringViewArray),
}

impl<'a> Text<'a> {
    pub fn new(a: &'a ArrayRef) -> Result<Self> {
        Ok(match a.data_type() {
            DataType::Utf8 => Text::Utf8(a.as_string::<i32>()),
            DataType::LargeUtf8 => Text::Large(a.as_string::<i64>()),
            DataType::Utf8View => Text::View(a.as_string_view()),
            other => return exec_err!("expected a string array, got {other}"),
        })
    }

    #[inline]
    pub fn get(&self, i: usize) -> Option<&'a str> {
        match self {
            Text::Utf8(a) => a.is_valid(i).then(|| a.value(i)),
            Text::Large(a) => a.is_valid(i).then(|| a.value(i)),
            Text::View(a) => a.is_valid(i).then(|| a.value(i)),
        }
    }
}

/// A float argument value at row `i`, NULL for NULL.
#[inline]
pub(crate) fn opt(a: &Float64Array, i: usize) -> Option<f64> {
    a.is_valid(i).then(|| a.value(i))
}

/// A measured quantity: NULL, NaN, infinite or negative values are invalid (NULL out).
#[inline]
pub(crate) fn measure(a: &Float64Array, i: usize) -> Option<f64> {
    opt(a, i).filter(|v| v.is_finite() && *v >= 0.0)
}

pub(crate) type Kernel = Arc<dyn Fn(&Call<'_>) -> Result<ArrayRef> + Send + Sync>;

/// A scalar domain function.
pub(crate) struct DomainFn {
    name: &'static str,
    /// The accepted parameter lists (one per arity), each with the parameter names.
    params: Vec<Vec<(&'static str, Param)>>,
    returns: DataType,
    signature: Signature,
    doc: Documentation,
    kernel: Kernel,
}

impl DomainFn {
    pub fn new(
        name: &'static str,
        params: Vec<Vec<(&'static str, Param)>>,
        returns: DataType,
        doc: Documentation,
        kernel: Kernel,
    ) -> Self {
        // Coercion is ours (`coerce_types`, with errors that name the argument); the exact
        // signatures only describe the canonical types to `information_schema` and
        // `SHOW FUNCTIONS`, which list nothing for a purely user-defined signature.
        let mut sigs = vec![TypeSignature::UserDefined];
        for ps in &params {
            sigs.push(TypeSignature::Exact(
                ps.iter().map(|(_, p)| p.canonical()).collect(),
            ));
        }
        DomainFn {
            name,
            params,
            returns,
            signature: Signature::one_of(sigs, Volatility::Immutable),
            doc,
            kernel,
        }
    }

    pub fn udf(self) -> ScalarUDF {
        ScalarUDF::new_from_impl(self)
    }

    fn usage(&self) -> String {
        self.params
            .iter()
            .map(|ps| {
                let names: Vec<_> = ps.iter().map(|(n, _)| *n).collect();
                format!("{}({})", self.name, names.join(", "))
            })
            .collect::<Vec<_>>()
            .join(" or ")
    }
}

impl fmt::Debug for DomainFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DomainFn")
            .field("name", &self.name)
            .finish()
    }
}

impl PartialEq for DomainFn {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}
impl Eq for DomainFn {}
impl Hash for DomainFn {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state)
    }
}

impl ScalarUDFImpl for DomainFn {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(self.returns.clone())
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let Some(params) = self.params.iter().find(|p| p.len() == arg_types.len()) else {
            return plan_err!(
                "{} takes {} arguments, got {}: {}",
                self.name,
                self.params
                    .iter()
                    .map(|p| p.len().to_string())
                    .collect::<Vec<_>>()
                    .join(" or "),
                arg_types.len(),
                self.usage()
            );
        };
        params
            .iter()
            .zip(arg_types)
            .map(|((pname, p), t)| p.coerce(self.name, pname, t))
            .collect()
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let all_scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let Some(params) = self.params.iter().find(|p| p.len() == args.args.len()) else {
            return exec_err!(
                "{}: no signature takes {} arguments",
                self.name,
                args.args.len()
            );
        };
        let arrays = ColumnarValue::values_to_arrays(&args.args)?
            .iter()
            .zip(params)
            .map(|(a, (_, p))| p.prepare(a))
            .collect::<Result<Vec<_>>>()?;
        let rows = if all_scalar { 1 } else { args.number_rows };
        let defaults = CdrlakeOptions::default();
        let opts = args
            .config_options
            .extensions
            .get::<CdrlakeOptions>()
            .unwrap_or(&defaults);
        let out = (self.kernel)(&Call {
            args: &arrays,
            rows,
            opts,
        })?;
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
