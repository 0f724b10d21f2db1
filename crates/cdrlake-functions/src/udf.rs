//! The one shape every scalar domain function shares: typed parameters coerced by DataFusion,
//! a columnar kernel, NULL in -> NULL out, and its documentation.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow::array::builder::{NullBufferBuilder, make_view};
use arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Float64Builder, LargeStringArray, StringArray,
    StringViewArray,
};
use arrow::buffer::{Buffer, ScalarBuffer};
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
    pub fn is_null(&self, i: usize) -> bool {
        match self {
            Text::Utf8(a) => a.is_null(i),
            Text::Large(a) => a.is_null(i),
            Text::View(a) => a.is_null(i),
        }
    }

    /// The view of row `i` when the column is Utf8View and the string is stored inline (up
    /// to 12 bytes): equal views are equal strings.
    #[inline]
    pub fn inline_view(&self, i: usize) -> Option<u128> {
        match self {
            Text::View(a) => {
                let v = a.views()[i];
                ((v as u32) <= 12).then_some(v)
            }
            _ => None,
        }
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

/// Builds a Float64 array row by row, without reallocating.
pub(crate) fn float_array(
    rows: usize,
    mut f: impl FnMut(usize) -> Result<Option<f64>>,
) -> Result<ArrayRef> {
    let mut b = Float64Builder::with_capacity(rows);
    for i in 0..rows {
        b.append_option(f(i)?);
    }
    Ok(Arc::new(b.finish()))
}

/// Builds a string result as Utf8View: the short labels these functions return (classes,
/// reason codes, states, vendors) are stored inline in their 16-byte views, and a longer label
/// repeated from the same place (a constant) is stored once and shared. Much cheaper than a
/// general string builder, and Utf8View groups faster than Utf8.
pub(crate) fn label_array<'s>(
    rows: usize,
    mut f: impl FnMut(usize) -> Result<Option<&'s str>>,
) -> Result<ArrayRef> {
    let mut views: Vec<u128> = Vec::with_capacity(rows);
    let mut nulls = NullBufferBuilder::new(rows);
    let mut data: Vec<u8> = Vec::new();
    // Long labels already stored: (address, length, view).
    let mut stored: Vec<(usize, usize, u128)> = Vec::new();
    for i in 0..rows {
        let Some(s) = f(i)? else {
            views.push(0);
            nulls.append_null();
            continue;
        };
        let view = if s.len() <= 12 {
            make_view(s.as_bytes(), 0, 0)
        } else {
            let key = (s.as_ptr() as usize, s.len());
            match stored.iter().find(|(p, l, _)| (*p, *l) == key) {
                Some((_, _, v)) => *v,
                None => {
                    let Ok(offset) = u32::try_from(data.len()) else {
                        return exec_err!("a string result is larger than 4 GiB");
                    };
                    data.extend_from_slice(s.as_bytes());
                    let v = make_view(s.as_bytes(), 0, offset);
                    if stored.len() < 64 {
                        stored.push((key.0, key.1, v));
                    }
                    v
                }
            }
        };
        views.push(view);
        nulls.append_non_null();
    }
    let buffers = if data.is_empty() {
        vec![]
    } else {
        vec![Buffer::from_vec(data)]
    };
    Ok(Arc::new(StringViewArray::try_new(
        ScalarBuffer::from(views),
        buffers,
        nulls.finish(),
    )?))
}

/// A fixed set of labels as Utf8View, for kernels that pick one per row by index: the views are
/// made once (labels over 12 bytes point into one shared buffer), so a result costs one 16-byte
/// copy per row.
pub(crate) struct LabelSet {
    views: Vec<u128>,
    buffer: Option<Buffer>,
}

impl LabelSet {
    pub fn new(labels: &[&str]) -> Result<Self> {
        let mut data = Vec::new();
        let mut views = Vec::with_capacity(labels.len());
        for l in labels {
            if l.len() <= 12 {
                views.push(make_view(l.as_bytes(), 0, 0));
            } else {
                let Ok(offset) = u32::try_from(data.len()) else {
                    return exec_err!("label set too large");
                };
                data.extend_from_slice(l.as_bytes());
                views.push(make_view(l.as_bytes(), 0, offset));
            }
        }
        Ok(LabelSet {
            views,
            buffer: (!data.is_empty()).then(|| Buffer::from_vec(data)),
        })
    }

    /// One label per row: `pick(i)` is the label's index, or `None` for NULL.
    pub fn array(
        &self,
        rows: usize,
        mut pick: impl FnMut(usize) -> Option<usize>,
    ) -> Result<ArrayRef> {
        let mut views = Vec::with_capacity(rows);
        let mut nulls = NullBufferBuilder::new(rows);
        for i in 0..rows {
            match pick(i) {
                Some(k) => {
                    views.push(self.views[k]);
                    nulls.append_non_null();
                }
                None => {
                    views.push(0);
                    nulls.append_null();
                }
            }
        }
        let buffers: Vec<Buffer> = self.buffer.iter().cloned().collect();
        // SAFETY: every view was made by `make_view` from a `&str` (valid UTF-8) in `new`, and
        // the long ones point into `buffer` at the offset their bytes were copied to; null
        // slots hold the empty view. So the views are valid for these buffers (what `try_new`
        // would check, at a cost of a UTF-8 validation per row).
        let array = unsafe {
            StringViewArray::new_unchecked(ScalarBuffer::from(views), buffers, nulls.finish())
        };
        Ok(Arc::new(array))
    }
}

/// A per-batch memo of what a string argument resolves to: columns such as codec, media or
/// User-Agent repeat a few values, so each distinct value is resolved once per batch. Short
/// strings of a Utf8View column are compared by their 16-byte view (one integer comparison);
/// others by a short list, then a map.
pub(crate) struct Memo<'a, V> {
    views: Vec<(u128, V)>,
    few: Vec<(&'a str, V)>,
    many: std::collections::HashMap<&'a str, V>,
}

impl<'a, V: Copy> Memo<'a, V> {
    pub fn new() -> Self {
        Memo {
            views: Vec::with_capacity(16),
            few: Vec::with_capacity(16),
            many: std::collections::HashMap::new(),
        }
    }

    /// What row `i` of `text` resolves to; NULL rows are `None`.
    #[inline]
    pub fn at(
        &mut self,
        text: &Text<'a>,
        i: usize,
        resolve: impl FnOnce(&'a str) -> V,
    ) -> Option<V> {
        if text.is_null(i) {
            return None;
        }
        let view = text.inline_view(i);
        if let Some(view) = view
            && let Some((_, v)) = self.views.iter().find(|(k, _)| *k == view)
        {
            return Some(*v);
        }
        let v = self.get(text.get(i)?, resolve);
        if let Some(view) = view
            && self.views.len() < 64
        {
            self.views.push((view, v));
        }
        Some(v)
    }

    #[inline]
    pub fn get(&mut self, key: &'a str, resolve: impl FnOnce(&'a str) -> V) -> V {
        if let Some((_, v)) = self.few.iter().find(|(k, _)| *k == key) {
            return *v;
        }
        if let Some(v) = self.many.get(key) {
            return *v;
        }
        let v = resolve(key);
        if self.few.len() < 16 {
            self.few.push((key, v));
        } else {
            self.many.insert(key, v);
        }
        v
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
