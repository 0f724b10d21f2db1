//! cdrlake's domain SQL functions for call detail records.
//!
//! - call quality: `emodel_r`, `mos_from_r`, `simple_r`, `mos`, `network_mos`,
//!   `quality_score`, `quality_class`, `stream_class`, `poor_reason`;
//! - numbers and jurisdiction: `normalize_e164`, `npa_state`, `jurisdiction`,
//!   `jurisdiction_reason`, `jurisdiction_lata`, `rate_center`, `lata`;
//! - billing: `billed_seconds`, `rated_amount`;
//! - devices: `device_vendor`, `device_model`, `device_version`;
//! - time: `local_time` (tenant-local wall-clock time for report buckets);
//! - concurrency and licences: the aggregate `max_concurrent`, the window function
//!   `license_use` and the table function `concurrency`.
//!
//! [`register_all`] puts every one of them on a session: the CLI, the Flight SQL server and
//! Ballista executors call the same function. Constants that are product decisions live in
//! [`CdrlakeOptions`] (`SET cdrlake.<name> = ...`). Reference data is compiled in from
//! `data/` (codecs, NANP area codes, countries, User-Agent patterns); the rate-center table
//! is loaded by the user and passed in [`Reference`].

mod billing;
mod concurrency;
pub use concurrency::unqualified;
mod cqd;
mod data;
mod devices;
mod floatcmp;
mod localbounds;
pub use floatcmp::FloatComparisons;
mod numbers;
mod options;
mod quality;
mod time;
mod udf;
mod zones;

use std::sync::Arc;

use datafusion::error::Result;
use datafusion::logical_expr::{AggregateUDF, Documentation, ScalarUDF, WindowUDF};
use datafusion::prelude::SessionContext;

pub use billing::{billed_seconds, money_type, rated_micros};
pub use concurrency::{constant_value, peak_concurrency, soft_ceiling};
pub use cqd::{Media, StreamMetrics, Verdict, classify, classify_media};
pub use numbers::{RATE_CENTER_COLUMNS, RateCenter, RateCenters, rate_centers_schema};
pub use options::CdrlakeOptions;
pub use quality::{emodel_r, idd, mos_from_r, network_mos, quality_score, r_from_mos, simple_r};
pub use zones::{TZDB_VERSION, Zone};

/// Reference tables the user loads into the lake (see `cdrlake reference load`).
#[derive(Debug, Default, Clone)]
pub struct Reference {
    /// NPA-NXX -> rate center, state, LATA; `None` when never loaded.
    pub rate_centers: Option<Arc<RateCenters>>,
}

/// The name of the table function that computes concurrency per bucket.
pub const CONCURRENCY_FUNCTION: &str = "concurrency";

/// Every scalar function, with the given reference tables.
pub fn scalar_functions(reference: &Reference) -> Vec<ScalarUDF> {
    let mut out = quality::functions();
    out.extend(cqd::functions());
    out.extend(numbers::functions(reference.rate_centers.clone()));
    out.extend(billing::functions());
    out.extend(devices::functions());
    out.extend(time::functions());
    out
}

/// Every aggregate function.
pub fn aggregate_functions() -> Vec<AggregateUDF> {
    concurrency::aggregates()
}

/// Every window function; their constants are read from `opts` now.
pub fn window_functions(opts: &CdrlakeOptions) -> Vec<WindowUDF> {
    concurrency::windows(opts)
}

/// Registers every cdrlake function on `ctx` without user-loaded reference tables.
pub fn register_all(ctx: &SessionContext) -> Result<()> {
    register_all_with(ctx, &Reference::default())
}

/// Registers every cdrlake function on `ctx`, adds the `cdrlake.*` settings to the session
/// (keeping values already set) and uses `reference` for the rate-center functions.
pub fn register_all_with(ctx: &SessionContext, reference: &Reference) -> Result<()> {
    let opts = {
        let state = ctx.state_ref();
        let mut state = state.write();
        let config = state.config_mut().options_mut();
        if config.extensions.get::<CdrlakeOptions>().is_none() {
            config.extensions.insert(CdrlakeOptions::default());
        }
        config
            .extensions
            .get::<CdrlakeOptions>()
            .cloned()
            .unwrap_or_default()
    };
    for f in scalar_functions(reference) {
        ctx.register_udf(f);
    }
    for f in aggregate_functions() {
        ctx.register_udaf(f);
    }
    for f in window_functions(&opts) {
        ctx.register_udwf(f);
    }
    ctx.register_udtf(CONCURRENCY_FUNCTION, concurrency::table_function());
    let state = ctx.state();
    let float = floatcmp::rule();
    let has_float = state
        .analyzer()
        .rules
        .iter()
        .any(|r| r.name() == datafusion::optimizer::AnalyzerRule::name(float.as_ref()));
    if !has_local_time_bounds(state.optimizers()) {
        let rules = optimizer_rules(state.optimizers().to_vec());
        *ctx.state_ref().write() =
            datafusion::execution::SessionStateBuilder::new_from_existing(state)
                .with_optimizer_rules(rules)
                .build();
    }
    if !has_float {
        ctx.add_analyzer_rule(float);
    }
    Ok(())
}

type OptimizerRuleRef = Arc<dyn datafusion::optimizer::OptimizerRule + Send + Sync>;

fn has_local_time_bounds(rules: &[OptimizerRuleRef]) -> bool {
    rules.iter().any(|r| r.name() == localbounds::RULE_NAME)
}

/// `rules` (a session's logical optimizer rules, e.g. DataFusion's defaults
/// `Optimizer::new().rules`) with cdrlake's `cdrlake_local_time_bounds` placed before common
/// subexpression elimination, which would otherwise compute the `local_time` both bounds of a
/// period share for every row (a projection below the filter), and after filters are pushed
/// into joins and literals folded. A session built with `SessionStateBuilder` can pass them to
/// `with_optimizer_rules`; [`register_all_with`] adds them to a session that lacks them.
pub fn optimizer_rules(mut rules: Vec<OptimizerRuleRef>) -> Vec<OptimizerRuleRef> {
    if has_local_time_bounds(&rules) {
        return rules;
    }
    let at = rules
        .iter()
        .position(|r| r.name() == "common_sub_expression_eliminate")
        .unwrap_or(rules.len());
    rules.insert(at, localbounds::rule());
    rules
}

/// One function's name, kind and documentation, for listings and `docs/functions.md`.
pub struct FunctionDoc {
    pub name: String,
    pub kind: &'static str,
    pub doc: Documentation,
}

/// Every function's documentation, in the order of `docs/functions.md`.
pub fn function_docs() -> Vec<FunctionDoc> {
    let mut out = Vec::new();
    for f in scalar_functions(&Reference::default()) {
        if let Some(d) = f.documentation() {
            out.push(FunctionDoc {
                name: f.name().to_string(),
                kind: "scalar",
                doc: d.clone(),
            });
        }
    }
    for f in aggregate_functions() {
        if let Some(d) = f.documentation() {
            out.push(FunctionDoc {
                name: f.name().to_string(),
                kind: "aggregate",
                doc: d.clone(),
            });
        }
    }
    for f in window_functions(&CdrlakeOptions::default()) {
        if let Some(d) = f.documentation() {
            out.push(FunctionDoc {
                name: f.name().to_string(),
                kind: "window",
                doc: d.clone(),
            });
        }
    }
    out.push(FunctionDoc {
        name: CONCURRENCY_FUNCTION.to_string(),
        kind: "table",
        doc: concurrency::concurrency_doc().clone(),
    });
    out
}

/// The function reference as Markdown (the generated part of `docs/functions.md`).
pub fn functions_markdown() -> String {
    let mut md = String::new();
    let mut section = String::new();
    for f in function_docs() {
        if f.doc.doc_section.label != section {
            section = f.doc.doc_section.label.to_string();
            let title = section.trim_start_matches("cdrlake: ");
            let mut chars = title.chars();
            let title: String = chars
                .next()
                .map(|c| c.to_uppercase().chain(chars).collect())
                .unwrap_or_default();
            md.push_str(&format!("\n## {title}\n"));
        }
        md.push_str(&format!(
            "\n### `{}` ({})\n\n`{}`\n\n{}\n",
            f.name, f.kind, f.doc.syntax_example, f.doc.description
        ));
        if let Some(args) = &f.doc.arguments {
            md.push_str("\n| argument | meaning |\n|---|---|\n");
            for (n, d) in args {
                md.push_str(&format!("| `{n}` | {d} |\n"));
            }
        }
        if let Some(ex) = &f.doc.sql_example {
            md.push_str(&format!("\n{ex}\n"));
        }
    }
    md.push_str(
        "\n## Settings\n\nProduct decisions and thresholds, per session: \
         `SET cdrlake.<name> = <value>`; `SHOW ALL` lists them. The licence settings are read \
         when a session is opened.\n\n",
    );
    md.push_str(&settings_markdown());
    md
}

/// The `cdrlake.*` settings with their defaults and descriptions, as a Markdown table.
pub fn settings_markdown() -> String {
    use datafusion::config::ExtensionOptions;
    let mut md = String::from("| setting | default | meaning |\n|---|---|---|\n");
    for e in CdrlakeOptions::default().entries() {
        md.push_str(&format!(
            "| `{}` | {} | {} |\n",
            e.key,
            e.value.unwrap_or_default(),
            e.description.trim()
        ));
    }
    md
}
