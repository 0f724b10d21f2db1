//! Poor-stream rules of Microsoft's Call Quality Dashboard: `stream_class` and `poor_reason`.

use std::sync::Arc;

use arrow::array::{ArrayRef, StringArray};
use arrow::datatypes::DataType;
use datafusion::common::exec_err;
use datafusion::error::Result;
use datafusion::logical_expr::{Documentation, ScalarUDF};

use crate::options::CdrlakeOptions;
use crate::udf::{Call, DomainFn, Param, opt, section};

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

/// Classifies a stream of `media` by the CQD rules with the thresholds in `o`. Returns
/// `Err` with the unknown media name.
pub fn classify(media: &str, m: &StreamMetrics, o: &CdrlakeOptions) -> Result<Verdict, String> {
    let above = |v: Option<f64>, max: f64| v.is_some_and(|v| v > max);
    let below = |v: Option<f64>, min: f64| v.is_some_and(|v| v < min);
    let verdict = if media.eq_ignore_ascii_case(AUDIO) {
        // Any rule fires; the first in this order names the reason.
        let rules = [
            (
                above(m.degradation_avg, o.cqd_audio_degradation_max),
                "degradation",
            ),
            (above(m.rtt_avg_ms, o.cqd_audio_rtt_max_ms), "round_trip"),
            (above(m.loss_rate_avg, o.cqd_audio_loss_max), "packet_loss"),
            (above(m.jitter_avg_ms, o.cqd_audio_jitter_max_ms), "jitter"),
            (
                above(m.concealed_ratio, o.cqd_audio_concealed_max),
                "concealed_ratio",
            ),
        ];
        let present = [
            m.degradation_avg,
            m.rtt_avg_ms,
            m.loss_rate_avg,
            m.jitter_avg_ms,
            m.concealed_ratio,
        ]
        .iter()
        .any(Option::is_some);
        match rules.iter().find(|(fired, _)| *fired) {
            Some((_, reason)) => Verdict::Poor(reason),
            None if present => Verdict::Good,
            None => Verdict::Unclassified,
        }
    } else if media.eq_ignore_ascii_case(VIDEO) || media.eq_ignore_ascii_case(SCREEN) {
        // The first available metric decides.
        let fps_min = if media.eq_ignore_ascii_case(SCREEN) {
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
    } else if media.eq_ignore_ascii_case(APP) {
        let rules = [
            (
                above(m.spoiled_tile_pct, o.cqd_app_spoiled_tile_max_pct),
                "spoiled_tiles",
            ),
            (
                above(m.app_latency_ms, o.cqd_app_latency_max_ms),
                "app_latency",
            ),
            (
                above(m.relative_one_way_delay_ms, o.cqd_app_relative_delay_max_ms),
                "relative_one_way_delay",
            ),
        ];
        let present = [
            m.spoiled_tile_pct,
            m.app_latency_ms,
            m.relative_one_way_delay_ms,
        ]
        .iter()
        .any(Option::is_some);
        match rules.iter().find(|(fired, _)| *fired) {
            Some((_, reason)) => Verdict::Poor(reason),
            None if present => Verdict::Good,
            None => Verdict::Unclassified,
        }
    } else {
        return Err(media.to_string());
    };
    Ok(verdict)
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

fn verdicts(c: &Call<'_>, pick: fn(Verdict) -> Option<&'static str>) -> Result<ArrayRef> {
    let media = c.text(0)?;
    let f: Vec<_> = (1..12).map(|i| c.float(i)).collect();
    // A metric that is NaN or negative was not measured.
    let g = |k: usize, i: usize| opt(f[k], i).filter(|v| v.is_finite() && *v >= 0.0);
    let out = (0..c.rows)
        .map(|i| {
            let Some(m) = media.get(i) else {
                return Ok(None);
            };
            let metrics = StreamMetrics {
                degradation_avg: g(0, i),
                rtt_avg_ms: g(1, i),
                loss_rate_avg: g(2, i),
                jitter_avg_ms: g(3, i),
                concealed_ratio: g(4, i),
                frame_loss_pct: g(5, i),
                frame_rate_avg: g(6, i),
                post_fec_loss_rate: g(7, i),
                spoiled_tile_pct: g(8, i),
                app_latency_ms: g(9, i),
                relative_one_way_delay_ms: g(10, i),
            };
            match classify(m, &metrics, c.opts) {
                Ok(v) => Ok(pick(v)),
                Err(m) => exec_err!(
                    "stream_class: unknown media '{m}' (expected audio, video, video_screen_sharing or app_sharing)"
                ),
            }
        })
        .collect::<Result<StringArray>>()?;
    Ok(Arc::new(out))
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
            DataType::Utf8,
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
            Arc::new(|c: &Call<'_>| verdicts(c, |v| Some(v.class()))),
        )
        .udf(),
        DomainFn::new(
            "poor_reason",
            vec![PARAMS.to_vec()],
            DataType::Utf8,
            doc(
                "poor_reason",
                "The rule that made stream_class 'poor' (same arguments): degradation, \
                 round_trip, packet_loss, jitter, concealed_ratio (audio, first that fired in \
                 this order); frame_loss, frame_rate, post_fec_loss (video); spoiled_tiles, \
                 app_latency, relative_one_way_delay (app sharing). NULL when the stream is not \
                 poor.",
                "SELECT poor_reason('audio', 0.2, 120, 0.01, 45, 0.01, NULL, NULL, NULL, NULL, NULL, NULL); -- jitter",
            ),
            Arc::new(|c: &Call<'_>| verdicts(c, Verdict::reason)),
        )
        .udf(),
    ]
}
