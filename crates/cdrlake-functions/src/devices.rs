//! Device vendor, model and firmware from a SIP User-Agent, by the ordered pattern table
//! `data/user_agents.csv` (first matching row wins).

use std::sync::{Arc, LazyLock};

use arrow::array::{ArrayRef, StringViewBuilder};
use arrow::datatypes::DataType;
use datafusion::error::Result;
use datafusion::logical_expr::{Documentation, ScalarUDF};
use regex::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};

use crate::data::header_columns;
use crate::udf::{Call, DomainFn, Memo, Param, section};

const USER_AGENTS_CSV: &str = include_str!("../../../data/user_agents.csv");

/// One row of the pattern table.
#[derive(Debug)]
pub struct UaPattern {
    pub vendor: String,
    pub regex: Regex,
    pub model: Option<String>,
    pub version: Option<String>,
    pub kind: String,
    model_group: Option<usize>,
    version_group: Option<usize>,
}

/// The ordered pattern table.
#[derive(Debug)]
pub struct UserAgents {
    set: RegexSet,
    patterns: Vec<UaPattern>,
}

pub static USER_AGENTS: LazyLock<UserAgents> = LazyLock::new(|| {
    // Compiled in and checked by a unit test: a failure here is a build defect.
    UserAgents::parse(USER_AGENTS_CSV).expect("data/user_agents.csv is valid")
});

/// What a User-Agent resolved to: the pattern row and the spans of the captured groups.
#[derive(Debug, Clone, Copy)]
struct Match {
    row: Option<usize>,
    model: Option<(usize, usize)>,
    version: Option<(usize, usize)>,
}

impl UserAgents {
    /// Parses `vendor,pattern,model,version,type`; errors name the line.
    pub fn parse(text: &str) -> std::result::Result<UserAgents, String> {
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let [cv, cp, cm, cver, ct] = header_columns(
            &mut reader,
            "user_agents.csv",
            ["vendor", "pattern", "model", "version", "type"],
        )?;
        let mut patterns = Vec::new();
        let mut sources = Vec::new();
        for (i, rec) in reader.records().enumerate() {
            let line = i + 2;
            let rec = rec.map_err(|e| format!("user_agents.csv line {line}: {e}"))?;
            let get = |c: usize| rec.get(c).unwrap_or("").trim();
            let regex = RegexBuilder::new(get(cp))
                .case_insensitive(true)
                .build()
                .map_err(|e| format!("user_agents.csv line {line}: bad pattern: {e}"))?;
            let group = |name: &str| regex.capture_names().position(|n| n == Some(name));
            let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
            patterns.push(UaPattern {
                vendor: get(cv).to_string(),
                model_group: group("model"),
                version_group: group("version"),
                model: non_empty(get(cm)),
                version: non_empty(get(cver)),
                kind: get(ct).to_string(),
                regex,
            });
            sources.push(get(cp).to_string());
            if get(cv).is_empty() {
                return Err(format!("user_agents.csv line {line}: empty vendor"));
            }
        }
        let set = RegexSetBuilder::new(&sources)
            .case_insensitive(true)
            .build()
            .map_err(|e| format!("user_agents.csv: {e}"))?;
        Ok(UserAgents { set, patterns })
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.patterns.len()
    }

    fn resolve(&self, ua: &str, locs: &mut [regex::CaptureLocations]) -> Match {
        let none = Match {
            row: None,
            model: None,
            version: None,
        };
        let Some(row) = self.set.matches(ua).iter().next() else {
            return none;
        };
        let p = &self.patterns[row];
        let loc = &mut locs[row];
        if p.regex.captures_read(loc, ua).is_none() {
            return Match {
                row: Some(row),
                ..none
            };
        }
        let span = |g: Option<usize>| g.and_then(|g| loc.get(g)).filter(|(s, e)| e > s);
        Match {
            row: Some(row),
            model: span(p.model_group),
            version: span(p.version_group),
        }
    }
}

#[derive(Clone, Copy)]
enum Part {
    Vendor,
    Model,
    Version,
    Type,
}

fn kernel(c: &Call<'_>, part: Part) -> Result<ArrayRef> {
    let uas = c.text(0)?;
    let table = &*USER_AGENTS;
    let mut locs: Vec<_> = table
        .patterns
        .iter()
        .map(|p| p.regex.capture_locations())
        .collect();
    // User-Agents repeat heavily: resolve each distinct string once per batch.
    let mut memo = Memo::new();
    let mut b = StringViewBuilder::with_capacity(c.rows);
    for i in 0..c.rows {
        let ua = match uas.get(i).map(str::trim) {
            Some(s) if !s.is_empty() => s,
            _ => {
                b.append_null();
                continue;
            }
        };
        let m = memo.get(ua, |ua| table.resolve(ua, &mut locs));
        let out: Option<&str> = match (part, m.row) {
            (Part::Vendor, None) => Some("Other"),
            (Part::Type, None) => Some("other"),
            (Part::Type, Some(r)) => Some(table.patterns[r].kind.as_str()),
            (_, None) => None,
            (Part::Vendor, Some(r)) => Some(table.patterns[r].vendor.as_str()),
            (Part::Model, Some(r)) => match m.model {
                Some((s, e)) => Some(&ua[s..e]),
                None => table.patterns[r].model.as_deref(),
            },
            (Part::Version, Some(r)) => match m.version {
                Some((s, e)) => Some(&ua[s..e]),
                None => table.patterns[r].version.as_deref(),
            },
        };
        b.append_option(out);
    }
    Ok(Arc::new(b.finish()))
}

fn doc(name: &str, desc: &str, example: &str) -> Documentation {
    Documentation::builder(
        section("cdrlake: devices"),
        desc.to_string(),
        format!("{name}(user_agent)"),
    )
    .with_sql_example(format!("```sql\n{example}\n```"))
    .with_argument(
        "user_agent",
        "A SIP User-Agent (or H.323 product id) string.",
    )
    .build()
}

pub(crate) fn functions() -> Vec<ScalarUDF> {
    let one = || vec![vec![("user_agent", Param::Text)]];
    vec![
        DomainFn::new(
            "device_vendor",
            one(),
            DataType::Utf8View,
            doc(
                "device_vendor",
                "The device or client vendor of a User-Agent by the ordered pattern table \
                 data/user_agents.csv (first match wins, case-insensitive): Poly, Cisco, \
                 Yealink, Grandstream, snom, Fanvil, Avaya, Zoom, Microsoft, Zoiper, MicroSIP, \
                 Bria, Linphone and more; 'Other' when no pattern matches. NULL for NULL or \
                 empty strings.",
                "SELECT device_vendor('Yealink SIP-T46S 66.86.0.15'); -- Yealink",
            ),
            Arc::new(|c: &Call<'_>| kernel(c, Part::Vendor)),
        )
        .udf(),
        DomainFn::new(
            "device_model",
            one(),
            DataType::Utf8View,
            doc(
                "device_model",
                "The device model of a User-Agent by data/user_agents.csv (the pattern's \
                 model group, or its fixed model). NULL when unknown, for NULL or empty strings.",
                "SELECT device_model('Yealink SIP-T46S 66.86.0.15'); -- SIP-T46S",
            ),
            Arc::new(|c: &Call<'_>| kernel(c, Part::Model)),
        )
        .udf(),
        DomainFn::new(
            "device_version",
            one(),
            DataType::Utf8View,
            doc(
                "device_version",
                "The firmware or application version in a User-Agent by data/user_agents.csv. \
                 NULL when unknown, for NULL or empty strings.",
                "SELECT device_version('Yealink SIP-T46S 66.86.0.15'); -- 66.86.0.15",
            ),
            Arc::new(|c: &Call<'_>| kernel(c, Part::Version)),
        )
        .udf(),
        DomainFn::new(
            "device_type",
            one(),
            DataType::Utf8View,
            doc(
                "device_type",
                "The kind of endpoint a User-Agent names, from data/user_agents.csv: desk_phone, \
                 conference_phone, video_room, softphone, mobile_app, web_client, gateway, pbx \
                 or other ('other' when no pattern matches). NULL for NULL or empty strings.",
                "SELECT device_type('Yealink SIP-T46S 66.86.0.15'); -- desk_phone",
            ),
            Arc::new(|c: &Call<'_>| kernel(c, Part::Type)),
        )
        .udf(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_pattern_table_compiles() {
        assert!(USER_AGENTS.len() >= 30, "{} patterns", USER_AGENTS.len());
    }
}
