//! Voice quality: the ITU-T G.107 E-model, MOS, the simplified effective-latency model,
//! network MOS and the call quality score.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use arrow::array::{ArrayRef, Float64Array};
use arrow::datatypes::DataType;
use datafusion::common::exec_err;
use datafusion::error::Result;
use datafusion::logical_expr::{Documentation, ScalarUDF};

use crate::data::header_columns;
use crate::udf::{
    Call, DomainFn, Memo, Param, Text, float_array, label_array, measure, opt, section,
};

const SECTION: datafusion::logical_expr::DocSection = section("cdrlake: call quality");

/// R with every G.107 default and no impairment (narrowband G.711).
pub const R_DEFAULT: f64 = 93.2;

/// The codec table shipped in `data/codecs.csv`.
const CODECS_CSV: &str = include_str!("../../../data/codecs.csv");

/// One codec's E-model constants (ITU-T G.113 Appendix I).
#[derive(Debug, Clone, PartialEq)]
pub struct Codec {
    pub name: String,
    /// Equipment impairment factor.
    pub ie: f64,
    /// Packet-loss robustness factor.
    pub bpl: f64,
    pub band: String,
}

/// Codecs by normalised name or alias.
#[derive(Debug)]
pub struct Codecs {
    rows: Vec<Codec>,
    by_key: HashMap<String, usize>,
}

/// The shipped codec table.
pub static CODECS: LazyLock<Codecs> = LazyLock::new(|| {
    // The table is compiled in and checked by a unit test, so a failure here is a build defect.
    Codecs::parse(CODECS_CSV).expect("data/codecs.csv is valid")
});

impl Codecs {
    /// Parses a codec table (`codec,aliases,ie,bpl,band,source`); errors name the line.
    pub fn parse(csv_text: &str) -> std::result::Result<Codecs, String> {
        let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
        let [c_codec, c_aliases, c_ie, c_bpl, c_band] = header_columns(
            &mut reader,
            "codecs.csv",
            ["codec", "aliases", "ie", "bpl", "band"],
        )?;
        let mut rows = Vec::new();
        let mut by_key = HashMap::new();
        for (i, rec) in reader.records().enumerate() {
            let line = i + 2;
            let rec = rec.map_err(|e| format!("codecs.csv line {line}: {e}"))?;
            let field = |n: usize| rec.get(n).unwrap_or("").trim();
            let num = |n: usize, what: &str| {
                field(n).parse::<f64>().map_err(|_| {
                    format!(
                        "codecs.csv line {line}: {what} '{}' is not a number",
                        field(n)
                    )
                })
            };
            let codec = Codec {
                name: field(c_codec).to_string(),
                ie: num(c_ie, "ie")?,
                bpl: num(c_bpl, "bpl")?,
                band: field(c_band).to_string(),
            };
            if codec.name.is_empty() || codec.bpl <= 0.0 || !(0.0..=95.0).contains(&codec.ie) {
                return Err(format!(
                    "codecs.csv line {line}: a codec needs a name, 0 <= ie <= 95 and bpl > 0"
                ));
            }
            let idx = rows.len();
            for name in std::iter::once(field(c_codec)).chain(field(c_aliases).split('|')) {
                let key = codec_key(name);
                if key.is_empty() {
                    continue;
                }
                if let Some(prev) = by_key.insert(key.clone(), idx)
                    && prev != idx
                {
                    return Err(format!(
                        "codecs.csv line {line}: '{name}' also names codec '{}'",
                        rows.get(prev)
                            .map(|c: &Codec| c.name.as_str())
                            .unwrap_or("")
                    ));
                }
            }
            rows.push(codec);
        }
        Ok(Codecs { rows, by_key })
    }

    /// Looks a codec up by name or alias, ignoring case, spaces, dots, dashes and underscores.
    pub fn get(&self, name: &str) -> Option<&Codec> {
        let mut buf = String::with_capacity(name.len());
        self.get_with(name, &mut buf)
    }

    /// Like `get`, reusing `buf` for the normalised key (no allocation per row).
    fn get_with(&self, name: &str, buf: &mut String) -> Option<&Codec> {
        buf.clear();
        push_key(name, buf);
        self.by_key.get(buf.as_str()).map(|&i| &self.rows[i])
    }

    #[cfg(test)]
    fn all(&self) -> &[Codec] {
        &self.rows
    }
}

fn push_key(name: &str, buf: &mut String) {
    for c in name.chars() {
        if !matches!(c, ' ' | '.' | '-' | '_') {
            buf.extend(c.to_lowercase());
        }
    }
}

fn codec_key(name: &str) -> String {
    let mut s = String::new();
    push_key(name, &mut s);
    s
}

/// Delay impairment Idd (G.107 7.3) for a one-way delay `ta_ms`.
pub fn idd(ta_ms: f64) -> f64 {
    if ta_ms <= 100.0 {
        return 0.0;
    }
    let x = (ta_ms / 100.0).log2();
    // y^(1/6) as the square root of the cube root: the same value, several times faster than powf.
    let sixth_root = |y: f64| y.cbrt().sqrt();
    25.0 * (sixth_root(1.0 + x.powi(6)) - 3.0 * sixth_root(1.0 + (x / 3.0).powi(6)) + 2.0)
}

/// Effective equipment impairment with packet loss `ppl` in percent (G.107 eq. 7-29).
pub fn ie_eff(codec: &Codec, ppl: f64, burst_r: f64) -> f64 {
    codec.ie + (95.0 - codec.ie) * ppl / (ppl / burst_r + codec.bpl)
}

/// The R-factor for a one-way delay, a loss percentage and a codec, clamped to [0, 100].
pub fn emodel_r(ta_ms: f64, ppl: f64, codec: &Codec, burst_r: f64) -> f64 {
    (R_DEFAULT - idd(ta_ms) - ie_eff(codec, ppl, burst_r)).clamp(0.0, 100.0)
}

/// R -> MOS (G.107 Annex B), clamped to [1, 4.5].
pub fn mos_from_r(r: f64) -> f64 {
    let mos = if r < 0.0 {
        1.0
    } else if r > 100.0 {
        4.5
    } else {
        1.0 + 0.035 * r + 7e-6 * r * (r - 60.0) * (100.0 - r)
    };
    mos.clamp(1.0, 4.5)
}

/// The R at which Annex B gives `mos` (bisection; Annex B rises monotonically on [0, 100]).
pub fn r_from_mos(mos: f64) -> f64 {
    let (mut lo, mut hi) = (0.0_f64, 100.0_f64);
    for _ in 0..100 {
        let mid = (lo + hi) / 2.0;
        if mos_from_r(mid) < mos {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    (lo + hi) / 2.0
}

/// The simplified model's R before clamping (effective latency with RTT as the latency).
fn simple_r_raw(rtt_ms: f64, jitter_ms: f64, loss_pct: f64) -> f64 {
    let el = rtt_ms + 2.0 * jitter_ms + 10.0;
    let r = if el < 160.0 {
        R_DEFAULT - el / 40.0
    } else {
        R_DEFAULT - (el - 120.0) / 10.0
    };
    r - 2.5 * loss_pct
}

/// The simplified model's R, clamped to R >= 0.
pub fn simple_r(rtt_ms: f64, jitter_ms: f64, loss_pct: f64) -> f64 {
    simple_r_raw(rtt_ms, jitter_ms, loss_pct).max(0.0)
}

/// The simplified model's R with no impairment (92.95).
pub fn simple_r_max() -> f64 {
    simple_r_raw(0.0, 0.0, 0.0)
}

/// Network MOS: the simplified model's impairment taken off the R of an unimpaired call of
/// the kind, whose MOS is `ceiling`.
pub fn network_mos(rtt_ms: f64, jitter_ms: f64, loss_pct: f64, ceiling: f64) -> f64 {
    let impairment = simple_r_max() - simple_r_raw(rtt_ms, jitter_ms, loss_pct);
    mos_from_r(r_from_mos(ceiling) - impairment)
}

/// The call quality score: R as a percentage of the codec's unimpaired R.
pub fn quality_score(ta_ms: f64, loss_pct: f64, codec: &Codec) -> f64 {
    let r_max = R_DEFAULT - codec.ie;
    if r_max <= 0.0 {
        return 0.0;
    }
    (100.0 * emodel_r(ta_ms, loss_pct, codec, 1.0) / r_max).clamp(0.0, 100.0)
}

fn loss(a: &Float64Array, i: usize) -> Option<f64> {
    measure(a, i).filter(|v| *v <= 100.0)
}

/// `then(simple_r(rtt_ms, jitter_ms, loss_pct))` over a batch.
fn simple_model(c: &Call<'_>, then: fn(f64) -> f64) -> Result<ArrayRef> {
    let (rtt, jit, ppl) = (c.float(0), c.float(1), c.float(2));
    float_array(c.rows, |i| {
        Ok(match (measure(rtt, i), measure(jit, i), loss(ppl, i)) {
            (Some(r), Some(j), Some(l)) => Some(then(simple_r(r, j, l))),
            _ => None,
        })
    })
}

/// Per-batch codec lookup: each distinct name is normalised and looked up once.
struct CodecLookup<'a> {
    buf: String,
    memo: Memo<'a, Option<&'static Codec>>,
}

impl<'a> CodecLookup<'a> {
    fn new() -> Self {
        CodecLookup {
            buf: String::with_capacity(16),
            memo: Memo::new(),
        }
    }

    /// The codec named in row `i`; `None` for NULL or an unknown name.
    #[inline]
    fn at(&mut self, names: &Text<'a>, i: usize) -> Option<&'static Codec> {
        let buf = &mut self.buf;
        self.memo
            .at(names, i, |n| CODECS.get_with(n, buf))
            .flatten()
    }
}

fn doc(desc: &str, syntax: &str, example: &str, args: &[(&str, &str)]) -> Documentation {
    let mut b = Documentation::builder(SECTION, desc.to_string(), syntax.to_string())
        .with_sql_example(format!("```sql\n{example}\n```"));
    for (n, d) in args {
        b = b.with_argument(*n, *d);
    }
    b.build()
}

pub(crate) fn functions() -> Vec<ScalarUDF> {
    use Param::{Float, Text as Str};
    vec![
        DomainFn::new(
            "emodel_r",
            vec![
                vec![("one_way_delay_ms", Float), ("loss_pct", Float), ("codec", Str)],
                vec![
                    ("one_way_delay_ms", Float),
                    ("loss_pct", Float),
                    ("codec", Str),
                    ("burst_ratio", Float),
                ],
            ],
            DataType::Float64,
            doc(
                "ITU-T G.107 R-factor: 93.2 minus the delay impairment Idd minus the effective \
                 equipment impairment Ie_eff of the codec at the given packet loss, clamped to \
                 [0, 100]. Codec constants (Ie, Bpl) come from data/codecs.csv; names match \
                 ignoring case, spaces, dots, dashes and underscores (PCMU is G.711). NULL for \
                 NULL, NaN or negative inputs, loss above 100, burst_ratio below 1, or an \
                 unknown codec.",
                "emodel_r(one_way_delay_ms, loss_pct, codec [, burst_ratio])",
                "SELECT emodel_r(200, 1, 'G.711+PLC'); -- 86.52",
                &[
                    ("one_way_delay_ms", "One-way mouth-to-ear delay Ta, ms."),
                    ("loss_pct", "Packet loss Ppl, percent (1 = 1 %)."),
                    ("codec", "Codec name or alias from data/codecs.csv."),
                    ("burst_ratio", "BurstR, >= 1; 1 (the default) is random loss."),
                ],
            ),
            Arc::new(|c: &Call<'_>| {
                let (delay, ppl) = (c.float(0), c.float(1));
                let codecs = c.text(2)?;
                let burst = c.args.get(3).map(|_| c.float(3));
                let mut lookup = CodecLookup::new();
                float_array(c.rows, |i| {
                    let b = match burst {
                        Some(a) => match opt(a, i) {
                            Some(b) if b.is_finite() && b >= 1.0 => b,
                            _ => return Ok(None),
                        },
                        None => 1.0,
                    };
                    Ok(match (measure(delay, i), loss(ppl, i)) {
                        (Some(d), Some(l)) => lookup.at(&codecs, i).map(|codec| emodel_r(d, l, codec, b)),
                        _ => None,
                    })
                })
            }),
        )
        .udf(),
        DomainFn::new(
            "mos_from_r",
            vec![vec![("r", Float)]],
            DataType::Float64,
            doc(
                "MOS from an R-factor by ITU-T G.107 Annex B: 1 below R 0, 4.5 above R 100, \
                 otherwise 1 + 0.035 R + 7e-6 R (R - 60)(100 - R), clamped to [1, 4.5]. NULL \
                 for NULL or NaN.",
                "mos_from_r(r)",
                "SELECT mos_from_r(93.2); -- 4.41",
                &[("r", "R-factor.")],
            ),
            Arc::new(|c: &Call<'_>| {
                let r = c.float(0);
                float_array(c.rows, |i| {
                    Ok(opt(r, i).filter(|v| !v.is_nan()).map(mos_from_r))
                })
            }),
        )
        .udf(),
        DomainFn::new(
            "simple_r",
            vec![vec![("rtt_ms", Float), ("jitter_ms", Float), ("loss_pct", Float)]],
            DataType::Float64,
            doc(
                "R-factor of the simplified effective-latency model used by monitoring tools: \
                 EL = rtt + 2 x jitter + 10; R = 93.2 - EL/40 when EL < 160, else \
                 93.2 - (EL - 120)/10; then R - 2.5 x loss_pct, clamped to R >= 0. NULL for \
                 NULL, NaN or negative inputs, or loss above 100.",
                "simple_r(rtt_ms, jitter_ms, loss_pct)",
                "SELECT simple_r(0, 0, 1); -- 90.45",
                &[
                    ("rtt_ms", "Round-trip time, ms (used as the latency)."),
                    ("jitter_ms", "Jitter, ms."),
                    ("loss_pct", "Packet loss, percent."),
                ],
            ),
            Arc::new(|c: &Call<'_>| simple_model(c, |r| r)),
        )
        .udf(),
        DomainFn::new(
            "mos",
            vec![vec![("rtt_ms", Float), ("jitter_ms", Float), ("loss_pct", Float)]],
            DataType::Float64,
            doc(
                "MOS of the simplified effective-latency model: mos_from_r(simple_r(rtt_ms, \
                 jitter_ms, loss_pct)). NULL for NULL, NaN or negative inputs, or loss above 100.",
                "mos(rtt_ms, jitter_ms, loss_pct)",
                "SELECT mos(0, 0, 10); -- 3.499",
                &[
                    ("rtt_ms", "Round-trip time, ms."),
                    ("jitter_ms", "Jitter, ms."),
                    ("loss_pct", "Packet loss, percent."),
                ],
            ),
            Arc::new(|c: &Call<'_>| simple_model(c, mos_from_r)),
        )
        .udf(),
        DomainFn::new(
            "network_mos",
            vec![vec![
                ("rtt_ms", Float),
                ("jitter_ms", Float),
                ("loss_pct", Float),
                ("kind", Str),
            ]],
            DataType::Float64,
            doc(
                "Network MOS (product decision): the simplified model's impairment \
                 (92.95 - simple_r) taken off the R of an unimpaired call of the kind, then \
                 Annex B. An unimpaired 'p2p' call scores the ceiling \
                 cdrlake.network_mos_p2p_ceiling (4.3, R 88.5), a 'pstn' call \
                 cdrlake.network_mos_pstn_ceiling (3.71, R 72.5); below 3.0 is poor. NULL for \
                 NULL, NaN or negative inputs; an error for a kind other than 'p2p' or 'pstn'.",
                "network_mos(rtt_ms, jitter_ms, loss_pct, kind)",
                "SELECT network_mos(0, 0, 0, 'pstn'); -- 3.71",
                &[
                    ("rtt_ms", "Round-trip time, ms."),
                    ("jitter_ms", "Jitter, ms."),
                    ("loss_pct", "Packet loss, percent."),
                    ("kind", "'p2p' (peer to peer) or 'pstn' (a PSTN leg)."),
                ],
            ),
            Arc::new(|c: &Call<'_>| {
                let (rtt, jit, ppl) = (c.float(0), c.float(1), c.float(2));
                let kinds = c.text(3)?;
                let (p2p, pstn) = (c.opts.network_mos_p2p_ceiling, c.opts.network_mos_pstn_ceiling);
                float_array(c.rows, |i| {
                    let Some(kind) = kinds.get(i) else {
                        return Ok(None);
                    };
                    let ceiling = if kind.eq_ignore_ascii_case("p2p") {
                        p2p
                    } else if kind.eq_ignore_ascii_case("pstn") {
                        pstn
                    } else {
                        return exec_err!("network_mos: kind must be 'p2p' or 'pstn', got '{kind}'");
                    };
                    Ok(match (measure(rtt, i), measure(jit, i), loss(ppl, i)) {
                        (Some(r), Some(j), Some(l)) => Some(network_mos(r, j, l, ceiling)),
                        _ => None,
                    })
                })
            }),
        )
        .udf(),
        DomainFn::new(
            "quality_score",
            vec![
                vec![("loss_pct", Float), ("jitter_ms", Float), ("rtt_ms", Float)],
                vec![
                    ("loss_pct", Float),
                    ("jitter_ms", Float),
                    ("rtt_ms", Float),
                    ("codec", Str),
                ],
            ],
            DataType::Float64,
            doc(
                "Call quality percentage (product decision): the E-model R of the call as a \
                 percentage of the codec's unimpaired R (93.2 - Ie), clamped to [0, 100]. The \
                 one-way delay is rtt_ms x cdrlake.quality_rtt_factor (0.5) plus jitter_ms x \
                 cdrlake.quality_jitter_buffer_factor (2, the jitter buffer); loss is random \
                 (BurstR 1). 100 with no impairment; falls monotonically with loss, and with \
                 jitter and round trip once the one-way delay passes 100 ms. The codec defaults \
                 to cdrlake.quality_default_codec (G.711+PLC). NULL for NULL, NaN or negative \
                 inputs, loss above 100, or an unknown codec.",
                "quality_score(loss_pct, jitter_ms, rtt_ms [, codec])",
                "SELECT quality_score(1, 0, 0); -- 96.09",
                &[
                    ("loss_pct", "Packet loss, percent."),
                    ("jitter_ms", "Jitter, ms."),
                    ("rtt_ms", "Round-trip time, ms."),
                    ("codec", "Codec name or alias from data/codecs.csv."),
                ],
            ),
            Arc::new(|c: &Call<'_>| {
                let (ppl, jit, rtt) = (c.float(0), c.float(1), c.float(2));
                let codecs = if c.args.len() > 3 { Some(c.text(3)?) } else { None };
                let (rf, jf) = (c.opts.quality_rtt_factor, c.opts.quality_jitter_buffer_factor);
                let default = CODECS.get(&c.opts.quality_default_codec);
                let Some(default) = default else {
                    return exec_err!(
                        "quality_score: cdrlake.quality_default_codec '{}' is not in data/codecs.csv",
                        c.opts.quality_default_codec
                    );
                };
                let mut lookup = CodecLookup::new();
                float_array(c.rows, |i| {
                    let codec = match &codecs {
                        None => Some(default),
                        Some(names) => lookup.at(names, i),
                    };
                    Ok(match (loss(ppl, i), measure(jit, i), measure(rtt, i), codec) {
                        (Some(l), Some(j), Some(r), Some(codec)) => {
                            Some(quality_score(r * rf + j * jf, l, codec))
                        }
                        _ => None,
                    })
                })
            }),
        )
        .udf(),
        DomainFn::new(
            "quality_class",
            vec![vec![("score", Float)]],
            DataType::Utf8View,
            doc(
                "Class of a call quality score: 'good' at or above cdrlake.quality_good_min \
                 (91), 'marginal' at or above cdrlake.quality_marginal_min (86), else 'poor'. \
                 NULL for NULL or NaN.",
                "quality_class(score)",
                "SELECT quality_class(quality_score(loss_pct, jitter_ms, rtt_ms)) FROM streams;",
                &[("score", "A quality_score, 0 to 100.")],
            ),
            Arc::new(|c: &Call<'_>| {
                let s = c.float(0);
                let (good, marginal) = (c.opts.quality_good_min, c.opts.quality_marginal_min);
                label_array(c.rows, |i| {
                    Ok(opt(s, i).filter(|v| !v.is_nan()).map(|v| {
                        if v >= good {
                            "good"
                        } else if v >= marginal {
                            "marginal"
                        } else {
                            "poor"
                        }
                    }))
                })
            }),
        )
        .udf(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn shipped_codec_table_parses_and_resolves_aliases() {
        let g711 = CODECS.get("PCMU").map(|c| c.name.clone());
        assert_eq!(g711.as_deref(), Some("G.711"));
        assert_eq!(CODECS.get("g729a").map(|c| c.ie), Some(11.0));
        assert_eq!(CODECS.get("OPUS").map(|c| c.bpl), Some(25.1));
        assert!(CODECS.get("H.264").is_none());
        assert!(CODECS.all().len() >= 15);
    }

    #[test]
    fn idd_check_points() {
        for (ta, want) in [(150.0, 0.16), (200.0, 3.04), (300.0, 14.8), (400.0, 24.1)] {
            let got = idd(ta);
            assert!(close(got, want, 0.051), "Idd({ta}) = {got}, want {want}");
        }
        assert_eq!(idd(100.0), 0.0);
    }

    #[test]
    fn annex_b_and_its_inverse() {
        for (r, want) in [
            (93.2, 4.41),
            (90.0, 4.34),
            (86.0, 4.23),
            (80.0, 4.02),
            (70.0, 3.60),
            (60.0, 3.10),
        ] {
            assert!(close(mos_from_r(r), want, 0.005), "R {r}");
        }
        for (m, r) in [(4.3, 88.5), (3.71, 72.5), (3.0, 58.1)] {
            assert!(close(r_from_mos(m), r, 0.05), "MOS {m}");
        }
    }
}
