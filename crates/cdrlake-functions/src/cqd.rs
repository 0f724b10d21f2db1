//! Poor-stream rules of Microsoft's Call Quality Dashboard: `stream_class` and `poor_reason`.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Float64Array};
use arrow::datatypes::DataType;
use datafusion::common::exec_err;
use datafusion::error::Result;
use datafusion::logical_expr::{Documentation, ScalarUDF};

use crate::options::CdrlakeOptions;
use crate::udf::{Call, DomainFn, LabelSet, Memo, Param, section};

/// The metrics of one stream, in the functions' argument order.
#[derive(Debug, Default, Clone, Copy)]
pub struct StreamMetrics {
    pub degradation_avg: Option<f64>,
    pub rtt_avg_ms: Option<f64>,
    pub loss_rate_avg: Option<f64>,
    pub jitter_avg_ms: Option<f64>,
    pub concealed_ratio: Option<f64>,
    pub frame_loss_pct: Option<f64>,
    pub frame_rate_avg: Option<f64>,
    pub post_fec_loss_rate: Option<f64>,
    pub spoiled_tile_pct: Option<f64>,
    pub app_latency_ms: Option<f64>,
    pub relative_one_way_delay_ms: Option<f64>,
}

/// A stream's class and, when poor, the rule that fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Good,
    Poor(&'static str),
    Unclassified,
}

impl Verdict {
    pub fn class(self) -> &'static str {
        match self {
            Verdict::Good => "good",
            Verdict::Poor(_) => "poor",
            Verdict::Unclassified => "unclassified",
        }
    }

    pub fn reason(self) -> Option<&'static str> {
        match self {
            Verdict::Poor(r) => Some(r),
            _ => None,
        }
    }
}

const AUDIO: &str = "audio";
const VIDEO: &str = "video";
const SCREEN: &str = "video_screen_sharing";
const APP: &str = "app_sharing";

/// The media a stream carries, as the rules tell them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    Audio,
    Video,
    VideoScreenSharing,
    AppSharing,
}

impl Media {
    /// Parses a media name, ignoring case.
    pub fn parse(media: &str) -> Option<Media> {
        [
            (AUDIO, Media::Audio),
            (VIDEO, Media::Video),
            (SCREEN, Media::VideoScreenSharing),
            (APP, Media::AppSharing),
        ]
        .into_iter()
        .find(|(name, _)| media.eq_ignore_ascii_case(name))
        .map(|(_, m)| m)
    }
}

/// Classifies a stream of `media` by the CQD rules with the thresholds in `o`. Returns
/// `Err` with the unknown media name.
pub fn classify(media: &str, m: &StreamMetrics, o: &CdrlakeOptions) -> Result<Verdict, String> {
    match Media::parse(media) {
        Some(kind) => Ok(classify_media(kind, m, o)),
        None => Err(media.to_string()),
    }
}

/// Classifies a stream of a known media kind.
pub fn classify_media(media: Media, m: &StreamMetrics, o: &CdrlakeOptions) -> Verdict {
    let above = |v: Option<f64>, max: f64| v.is_some_and(|v| v > max);
    let below = |v: Option<f64>, min: f64| v.is_some_and(|v| v < min);
    // Rules where any may fire, the first in order naming the reason; unclassified when the
    // stream measured none of their metrics.
    let any_rule = |rules: &[(Option<f64>, f64, &'static str)]| match rules
        .iter()
        .find(|(v, max, _)| above(*v, *max))
    {
        Some((_, _, reason)) => Verdict::Poor(reason),
        None if rules.iter().any(|(v, _, _)| v.is_some()) => Verdict::Good,
        None => Verdict::Unclassified,
    };
    if media == Media::Audio {
        any_rule(&[
            (
                m.degradation_avg,
                o.cqd_audio_degradation_max,
                "degradation",
            ),
            (m.rtt_avg_ms, o.cqd_audio_rtt_max_ms, "round_trip"),
            (m.loss_rate_avg, o.cqd_audio_loss_max, "packet_loss"),
            (m.jitter_avg_ms, o.cqd_audio_jitter_max_ms, "jitter"),
            (
                m.concealed_ratio,
                o.cqd_audio_concealed_max,
                "concealed_ratio",
            ),
        ])
    } else if media == Media::Video || media == Media::VideoScreenSharing {
        // The first available metric decides.
        let fps_min = if media == Media::VideoScreenSharing {
            o.cqd_screen_frame_rate_min
        } else {
            o.cqd_video_frame_rate_min
        };
        if let Some(v) = m.frame_loss_pct {
            if v > o.cqd_video_frame_loss_max_pct {
                Verdict::Poor("frame_loss")
            } else {
                Verdict::Good
            }
        } else if m.frame_rate_avg.is_some() {
            if below(m.frame_rate_avg, fps_min) {
                Verdict::Poor("frame_rate")
            } else {
                Verdict::Good
            }
        } else if m.post_fec_loss_rate.is_some() {
            if above(m.post_fec_loss_rate, o.cqd_video_post_fec_loss_max) {
                Verdict::Poor("post_fec_loss")
            } else {
                Verdict::Good
            }
        } else {
            Verdict::Unclassified
        }
    } else {
        any_rule(&[
            (
                m.spoiled_tile_pct,
                o.cqd_app_spoiled_tile_max_pct,
                "spoiled_tiles",
            ),
            (m.app_latency_ms, o.cqd_app_latency_max_ms, "app_latency"),
            (
                m.relative_one_way_delay_ms,
                o.cqd_app_relative_delay_max_ms,
                "relative_one_way_delay",
            ),
        ])
    }
}

const PARAMS: [(&str, Param); 12] = [
    ("media", Param::Text),
    ("degradation_avg", Param::Float),
    ("rtt_avg_ms", Param::Float),
    ("loss_rate_avg", Param::Float),
    ("jitter_avg_ms", Param::Float),
    ("concealed_ratio", Param::Float),
    ("frame_loss_pct", Param::Float),
    ("frame_rate_avg", Param::Float),
    ("post_fec_loss_rate", Param::Float),
    ("spoiled_tile_pct", Param::Float),
    ("app_latency_ms", Param::Float),
    ("relative_one_way_delay_ms", Param::Float),
];

const SYNTAX_ARGS: &str = "media, degradation_avg, rtt_avg_ms, loss_rate_avg, jitter_avg_ms, \
    concealed_ratio, frame_loss_pct, frame_rate_avg, post_fec_loss_rate, spoiled_tile_pct, \
    app_latency_ms, relative_one_way_delay_ms";

/// Labels the kernels return, by index: the three classes, then the reasons, in rule order.
const LABELS: [&str; 14] = [
    "good",
    "poor",
    "unclassified",
    "degradation",
    "round_trip",
    "packet_loss",
    "jitter",
    "concealed_ratio",
    "frame_loss",
    "frame_rate",
    "post_fec_loss",
    "spoiled_tiles",
    "app_latency",
    "relative_one_way_delay",
];
const GOOD: usize = 0;
const POOR: usize = 1;
const UNCLASSIFIED: usize = 2;
/// The index in LABELS of reason code r (1-based).
const REASON_BASE: usize = 2;

/// What the kernel returns.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Output {
    Class,
    Reason,
}

/// CQD classification of a batch, row by row but reading only the metrics the row's media
/// needs, straight from the column buffers. Same result as `classify_media` (a unit test
/// checks on every combination of boundary, missing and invalid values).
fn verdicts(c: &Call<'_>, output: Output) -> Result<ArrayRef> {
    let n = c.rows;
    let o = c.opts;
    let media = c.text(0)?;
    let cols: Vec<&Float64Array> = (1..12).map(|k| c.float(k)).collect();
    let vals: Vec<&[f64]> = cols.iter().map(|a| a.values().as_ref()).collect();
    let nulls: Vec<_> = cols.iter().map(|a| a.nulls()).collect();
    // The metric in column k of row i, if measured (not NULL, NaN or negative).
    let m = |k: usize, i: usize| {
        let v = vals[k][i];
        (nulls[k].is_none_or(|nb| nb.is_valid(i)) && v.is_finite() && v >= 0.0).then_some(v)
    };
    // Rules where any may fire, the first in order naming the reason: the label, or None if
    // nothing was measured.
    let any_rule = |i: usize, rules: &[(usize, f64, usize)]| {
        let mut present = false;
        for &(k, max, label) in rules {
            if let Some(v) = m(k, i) {
                if v > max {
                    return Some(label);
                }
                present = true;
            }
        }
        present.then_some(GOOD)
    };
    let audio = [
        (0, o.cqd_audio_degradation_max, REASON_BASE + 1),
        (1, o.cqd_audio_rtt_max_ms, REASON_BASE + 2),
        (2, o.cqd_audio_loss_max, REASON_BASE + 3),
        (3, o.cqd_audio_jitter_max_ms, REASON_BASE + 4),
        (4, o.cqd_audio_concealed_max, REASON_BASE + 5),
    ];
    let app = [
        (8, o.cqd_app_spoiled_tile_max_pct, REASON_BASE + 9),
        (9, o.cqd_app_latency_max_ms, REASON_BASE + 10),
        (10, o.cqd_app_relative_delay_max_ms, REASON_BASE + 11),
    ];
    let mut memo = Memo::new();
    let mut unknown = None;
    let labels = LabelSet::new(&LABELS)?;
    let out = labels.array(n, |i| {
        let kind = match memo.at(&media, i, Media::parse)? {
            Some(kind) => kind,
            None => {
                unknown.get_or_insert(i);
                return None;
            }
        };
        // The label: GOOD, a reason, or None for unclassified.
        let verdict = match kind {
            Media::Audio => any_rule(i, &audio),
            Media::AppSharing => any_rule(i, &app),
            Media::Video | Media::VideoScreenSharing => {
                // The first available metric decides.
                if let Some(v) = m(5, i) {
                    Some(if v > o.cqd_video_frame_loss_max_pct {
                        REASON_BASE + 6
                    } else {
                        GOOD
                    })
                } else if let Some(v) = m(6, i) {
                    let min = if kind == Media::VideoScreenSharing {
                        o.cqd_screen_frame_rate_min
                    } else {
                        o.cqd_video_frame_rate_min
                    };
                    Some(if v < min { REASON_BASE + 7 } else { GOOD })
                } else {
                    m(7, i).map(|v| {
                        if v > o.cqd_video_post_fec_loss_max {
                            REASON_BASE + 8
                        } else {
                            GOOD
                        }
                    })
                }
            }
        };
        match (output, verdict) {
            (Output::Class, Some(GOOD)) => Some(GOOD),
            (Output::Class, Some(_)) => Some(POOR),
            (Output::Class, None) => Some(UNCLASSIFIED),
            (Output::Reason, Some(GOOD) | None) => None,
            (Output::Reason, Some(reason)) => Some(reason),
        }
    })?;
    if let Some(i) = unknown {
        return exec_err!(
            "stream_class: unknown media '{}' (expected audio, video, video_screen_sharing or app_sharing)",
            media.get(i).unwrap_or_default()
        );
    }
    Ok(out)
}

fn doc(name: &str, desc: &str, example: &str) -> Documentation {
    let mut b = Documentation::builder(
        section("cdrlake: call quality"),
        desc.to_string(),
        format!("{name}({SYNTAX_ARGS})"),
    )
    .with_sql_example(format!("```sql\n{example}\n```"));
    for (n, d) in [
        (
            "media",
            "audio, video, video_screen_sharing or app_sharing.",
        ),
        ("degradation_avg", "Audio: average network MOS degradation."),
        ("rtt_avg_ms", "Audio: average round trip, ms."),
        (
            "loss_rate_avg",
            "Audio: average packet-loss rate, a fraction (0.1 = 10 %).",
        ),
        ("jitter_avg_ms", "Audio: average jitter, ms."),
        ("concealed_ratio", "Audio: share of concealed samples."),
        ("frame_loss_pct", "Video: frames lost, percent."),
        ("frame_rate_avg", "Video: average frames per second."),
        (
            "post_fec_loss_rate",
            "Video: packet loss after FEC, a fraction.",
        ),
        ("spoiled_tile_pct", "App sharing: spoiled tiles, percent."),
        ("app_latency_ms", "App sharing: processing latency, ms."),
        (
            "relative_one_way_delay_ms",
            "App sharing: relative one-way delay, ms.",
        ),
    ] {
        b = b.with_argument(n, d);
    }
    b.build()
}

const EXAMPLE: &str =
    "SELECT stream_class(media, degradation_avg, rtt_avg_ms, loss_rate_avg, jitter_avg_ms,
       concealed_ratio, frame_loss_pct, frame_rate_avg, post_fec_loss_rate,
       spoiled_tile_pct, app_latency_ms, relative_one_way_delay_ms) AS class, count(*)
FROM streams GROUP BY 1;";

pub(crate) fn functions() -> Vec<ScalarUDF> {
    vec![
        DomainFn::new(
            "stream_class",
            vec![PARAMS.to_vec()],
            DataType::Utf8View,
            doc(
                "stream_class",
                "'good', 'poor' or 'unclassified' by the Call Quality Dashboard rules. Audio is \
                 poor if any of: degradation_avg > 1.0, rtt_avg_ms > 500, loss_rate_avg > 0.1, \
                 jitter_avg_ms > 30, concealed_ratio > 0.07. Video and video_screen_sharing: \
                 the first available metric decides: frame_loss_pct > 50, else frame_rate_avg \
                 < 7 (screen sharing < 2), else post_fec_loss_rate > 0.15. App sharing is poor \
                 if spoiled_tile_pct > 36, app_latency_ms > 400 or relative_one_way_delay_ms > \
                 1750. A stream without the metrics its media needs is 'unclassified'. Every \
                 threshold is a setting (SET cdrlake.cqd_audio_jitter_max_ms = 40, ...). A \
                 NULL, NaN or negative metric counts as not measured. NULL when media is NULL; \
                 an error for an unknown media.",
                EXAMPLE,
            ),
            Arc::new(|c: &Call<'_>| verdicts(c, Output::Class)),
        )
        .udf(),
        DomainFn::new(
            "poor_reason",
            vec![PARAMS.to_vec()],
            DataType::Utf8View,
            doc(
                "poor_reason",
                "The rule that made stream_class 'poor' (same arguments): degradation, \
                 round_trip, packet_loss, jitter, concealed_ratio (audio, first that fired in \
                 this order); frame_loss, frame_rate, post_fec_loss (video); spoiled_tiles, \
                 app_latency, relative_one_way_delay (app sharing). NULL when the stream is not \
                 poor.",
                "SELECT poor_reason('audio', 0.2, 120, 0.01, 45, 0.01, NULL, NULL, NULL, NULL, NULL, NULL); -- jitter",
            ),
            Arc::new(|c: &Call<'_>| verdicts(c, Output::Reason)),
        )
        .udf(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{AsArray, Float64Array, StringArray};

    /// The column-at-a-time kernel agrees with the row-at-a-time rules on every combination
    /// of media, missing, invalid, boundary and ordinary values.
    #[test]
    fn columnar_kernel_matches_the_row_rules() {
        let o = CdrlakeOptions::default();
        let medias = ["audio", "Video", "video_screen_sharing", "app_sharing"];
        // Values around every threshold, plus not-measured ones.
        let pool = [
            None,
            Some(f64::NAN),
            Some(-1.0),
            Some(0.0),
            Some(0.07),
            Some(0.1),
            Some(0.15),
            Some(0.16),
            Some(1.0),
            Some(1.5),
            Some(2.0),
            Some(6.9),
            Some(7.0),
            Some(30.0),
            Some(36.0),
            Some(37.0),
            Some(50.0),
            Some(51.0),
            Some(400.0),
            Some(501.0),
            Some(1750.0),
            Some(1751.0),
        ];
        let rows = 20_000;
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut media = Vec::with_capacity(rows);
        let mut cols: Vec<Vec<Option<f64>>> = (0..11).map(|_| Vec::with_capacity(rows)).collect();
        for i in 0..rows {
            media.push((i % 17 != 0).then(|| medias[(next() % 4) as usize]));
            for col in cols.iter_mut() {
                // Mostly missing, so that "first available" and "unclassified" occur often.
                let pick = next() % (pool.len() as u64 * 2);
                col.push(pool.get(pick as usize).copied().flatten());
            }
        }
        let mut args: Vec<ArrayRef> = vec![Arc::new(StringArray::from(media.clone()))];
        for col in &cols {
            args.push(Arc::new(Float64Array::from(col.clone())));
        }
        let call = Call {
            args: &args,
            rows,
            opts: &o,
        };
        let classes = verdicts(&call, Output::Class).unwrap_or_else(|e| panic!("{e}"));
        let reasons = verdicts(&call, Output::Reason).unwrap_or_else(|e| panic!("{e}"));
        let (classes, reasons) = (classes.as_string_view(), reasons.as_string_view());
        let measured = |v: Option<f64>| v.filter(|v| v.is_finite() && *v >= 0.0);
        for i in 0..rows {
            let Some(m) = media[i] else {
                assert!(classes.is_null(i) && reasons.is_null(i), "row {i}");
                continue;
            };
            let g = |k: usize| measured(cols[k][i]);
            let metrics = StreamMetrics {
                degradation_avg: g(0),
                rtt_avg_ms: g(1),
                loss_rate_avg: g(2),
                jitter_avg_ms: g(3),
                concealed_ratio: g(4),
                frame_loss_pct: g(5),
                frame_rate_avg: g(6),
                post_fec_loss_rate: g(7),
                spoiled_tile_pct: g(8),
                app_latency_ms: g(9),
                relative_one_way_delay_ms: g(10),
            };
            let want = classify(m, &metrics, &o).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(classes.value(i), want.class(), "row {i}: {m} {metrics:?}");
            let got = (!reasons.is_null(i)).then(|| reasons.value(i));
            assert_eq!(got, want.reason(), "row {i}: {m} {metrics:?}");
        }
    }
}
