//! Phone numbers and US jurisdiction: E.164 normalisation, NANP area codes (shipped table),
//! rate centers and LATAs (user-loaded reference table), and the number-based jurisdiction.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use arrow::array::{ArrayRef, AsArray, RecordBatch, StringArray, StringBuilder, StringViewBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::exec_err;
use datafusion::error::Result;
use datafusion::logical_expr::{Documentation, ScalarUDF};

use cdrlake_schema::e164::{self, Dialing, Number};

use crate::data::header_columns;
use crate::udf::{Call, DomainFn, Param, label_array, section};

const NPA_CSV: &str = include_str!("../../../data/nanp/npa.csv");
const COUNTRIES_CSV: &str = include_str!("../../../data/countries.csv");

/// What an area code is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NpaKind {
    Geographic,
    TollFree,
    Premium,
    Personal,
    NonGeographic,
}

/// One NANP area code.
#[derive(Debug, Clone, PartialEq)]
pub struct Npa {
    pub kind: NpaKind,
    /// USPS code, Canadian province code(s) or ISO country code; empty if non-geographic.
    pub region: String,
    /// ISO country: US for states, DC and US territories; empty if non-geographic.
    pub country: String,
}

/// Every NANP area code, indexed by its number.
pub struct NpaTable {
    codes: Vec<Option<Npa>>,
}

pub static NPAS: LazyLock<NpaTable> = LazyLock::new(|| {
    // Compiled in and checked by a unit test: a failure here is a build defect.
    NpaTable::parse(NPA_CSV).expect("data/nanp/npa.csv is valid")
});

impl NpaTable {
    /// Parses `npa,kind,region,country,location,status`; errors name the line.
    pub fn parse(text: &str) -> std::result::Result<NpaTable, String> {
        let mut codes = vec![None; 1000];
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let [c_npa, c_kind, c_region, c_country] =
            header_columns(&mut reader, "npa.csv", ["npa", "kind", "region", "country"])?;
        for (i, rec) in reader.records().enumerate() {
            let line = i + 2;
            let rec = rec.map_err(|e| format!("npa.csv line {line}: {e}"))?;
            let get = |c: usize| rec.get(c).unwrap_or("").trim();
            let npa: usize = match get(c_npa).parse() {
                Ok(n) if (200..1000).contains(&n) => n,
                _ => return Err(format!("npa.csv line {line}: bad npa '{}'", get(c_npa))),
            };
            let kind = match get(c_kind) {
                "geographic" => NpaKind::Geographic,
                "toll_free" => NpaKind::TollFree,
                "premium" => NpaKind::Premium,
                "personal" => NpaKind::Personal,
                "non_geographic" => NpaKind::NonGeographic,
                other => return Err(format!("npa.csv line {line}: unknown kind '{other}'")),
            };
            if kind == NpaKind::Geographic
                && (get(c_region).is_empty() || get(c_country).is_empty())
            {
                return Err(format!(
                    "npa.csv line {line}: a geographic code needs region and country"
                ));
            }
            if codes[npa].is_some() {
                return Err(format!("npa.csv line {line}: npa {npa} listed twice"));
            }
            codes[npa] = Some(Npa {
                kind,
                region: get(c_region).to_string(),
                country: get(c_country).to_string(),
            });
        }
        Ok(NpaTable { codes })
    }

    pub fn get(&self, npa: u16) -> Option<&Npa> {
        self.codes.get(npa as usize).and_then(Option::as_ref)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.codes.iter().flatten().count()
    }
}

/// One country's dialling rules from `data/countries.csv`.
#[derive(Debug, Clone)]
pub struct Country {
    pub calling_code: String,
    pub national_prefix: String,
    pub international_prefix: String,
}

pub static COUNTRIES: LazyLock<HashMap<String, Country>> = LazyLock::new(|| {
    // Compiled in and checked by a unit test: a failure here is a build defect.
    parse_countries(COUNTRIES_CSV).expect("data/countries.csv is valid")
});

fn parse_countries(text: &str) -> std::result::Result<HashMap<String, Country>, String> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let [iso, cc, np, ip] = header_columns(
        &mut reader,
        "countries.csv",
        [
            "iso2",
            "calling_code",
            "national_prefix",
            "international_prefix",
        ],
    )?;
    let mut out = HashMap::new();
    for (i, rec) in reader.records().enumerate() {
        let rec = rec.map_err(|e| format!("countries.csv line {}: {e}", i + 2))?;
        let get = |c: usize| rec.get(c).unwrap_or("").trim().to_string();
        let code = get(cc);
        if code.is_empty() || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "countries.csv line {}: bad calling code '{code}'",
                i + 2
            ));
        }
        out.insert(
            get(iso).to_ascii_uppercase(),
            Country {
                calling_code: code,
                national_prefix: get(np),
                international_prefix: get(ip),
            },
        );
    }
    Ok(out)
}

/// A number as jurisdiction sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Parsed {
    Missing,
    Invalid,
    NonNanp,
    Nanp { npa: u16, nxx: u16 },
}

fn digits3(b: &[u8]) -> Option<u16> {
    if b.len() == 3 && b.iter().all(u8::is_ascii_digit) {
        Some(b.iter().fold(0u16, |n, d| n * 10 + (d - b'0') as u16))
    } else {
        None
    }
}

fn nanp(e: &str) -> Parsed {
    let b = e.as_bytes();
    if b.len() == 12 && b[0] == b'+' && b[1] == b'1' && b[2..].iter().all(u8::is_ascii_digit) {
        return match (digits3(&b[2..5]), digits3(&b[5..8])) {
            // Area codes start with 2-9. The exchange is not checked here: the state rule does
            // not use it, and the LATA rule finds an impossible one missing from its table.
            (Some(npa), Some(nxx)) if npa >= 200 => Parsed::Nanp { npa, nxx },
            _ => Parsed::Invalid,
        };
    }
    if e.starts_with("+1") {
        Parsed::Invalid
    } else {
        Parsed::NonNanp
    }
}

fn parse(raw: Option<&str>) -> Parsed {
    let Some(raw) = raw else {
        return Parsed::Missing;
    };
    // Fast path: already canonical E.164.
    let b = raw.as_bytes();
    if b.first() == Some(&b'+')
        && b[1..].iter().all(u8::is_ascii_digit)
        && (8..=16).contains(&b.len())
    {
        return nanp(raw);
    }
    match e164::normalize(raw) {
        Ok(Number::Withheld) => Parsed::Missing,
        Ok(Number::E164(e)) => nanp(&e),
        Err(_) => Parsed::Invalid,
    }
}

/// Rate center and LATA of one NPA-NXX.
#[derive(Debug, Clone, PartialEq)]
pub struct RateCenter {
    pub rate_center: String,
    pub state: String,
    pub lata: String,
}

/// The user-loaded NPA-NXX reference (`cdrlake reference load rate_centers FILE.csv`).
#[derive(Debug, Default)]
pub struct RateCenters {
    by_npa_nxx: HashMap<u32, RateCenter>,
}

/// The columns of the rate-center reference table, in order.
pub const RATE_CENTER_COLUMNS: [&str; 5] = ["npa", "nxx", "rate_center", "state", "lata"];

pub fn rate_centers_schema() -> SchemaRef {
    Arc::new(Schema::new(
        RATE_CENTER_COLUMNS
            .iter()
            .map(|c| Field::new(*c, DataType::Utf8, false))
            .collect::<Vec<_>>(),
    ))
}

impl RateCenters {
    /// Parses and validates a rate-center CSV (a header naming at least npa, nxx,
    /// rate_center, state and lata, in any order; other columns are ignored). Errors say
    /// file, line and column. Returns the rows as a batch in [`rate_centers_schema`].
    pub fn parse_csv(text: &str, file: &str) -> std::result::Result<RecordBatch, String> {
        let mut reader = csv::ReaderBuilder::new()
            .flexible(false)
            .from_reader(text.as_bytes());
        let idx = header_columns(&mut reader, file, RATE_CENTER_COLUMNS)?;
        let mut builders: Vec<StringBuilder> = (0..5).map(|_| StringBuilder::new()).collect();
        let mut seen = HashMap::new();
        for rec in reader.records() {
            let rec = rec.map_err(|e| format!("{file}: {e}"))?;
            let line = rec.position().map(|p| p.line()).unwrap_or(0);
            let v: Vec<&str> = idx
                .iter()
                .map(|&c| rec.get(c).unwrap_or("").trim())
                .collect();
            let bad = |k: usize, why: &str| {
                Err(format!(
                    "{file} line {line}, column {}: '{}' {why}",
                    RATE_CENTER_COLUMNS[k], v[k]
                ))
            };
            let three = |s: &str| {
                s.len() == 3 && s.bytes().all(|b| b.is_ascii_digit()) && s.as_bytes()[0] >= b'2'
            };
            if !three(v[0]) {
                return bad(0, "is not an area code (3 digits, 2-9 first)");
            }
            if !three(v[1]) {
                return bad(1, "is not an exchange code (3 digits, 2-9 first)");
            }
            if v[2].is_empty() {
                return bad(2, "is empty");
            }
            if !(v[3].len() == 2 && v[3].bytes().all(|b| b.is_ascii_alphabetic())) {
                return bad(3, "is not a two-letter state or province code");
            }
            if !((3..=5).contains(&v[4].len()) && v[4].bytes().all(|b| b.is_ascii_digit())) {
                return bad(4, "is not a LATA number (3 to 5 digits)");
            }
            let key = format!("{}{}", v[0], v[1]);
            if let Some(prev) = seen.insert(key, line) {
                return Err(format!(
                    "{file} line {line}: NPA-NXX {}-{} is also on line {prev}",
                    v[0], v[1]
                ));
            }
            for (k, b) in builders.iter_mut().enumerate() {
                if k == 3 {
                    b.append_value(v[k].to_ascii_uppercase());
                } else {
                    b.append_value(v[k]);
                }
            }
        }
        let columns: Vec<ArrayRef> = builders
            .iter_mut()
            .map(|b| Arc::new(b.finish()) as ArrayRef)
            .collect();
        RecordBatch::try_new(rate_centers_schema(), columns).map_err(|e| format!("{file}: {e}"))
    }

    /// Builds the lookup from batches in [`rate_centers_schema`] (as read back from the lake).
    pub fn from_batches(batches: &[RecordBatch]) -> Result<RateCenters> {
        let mut by_npa_nxx = HashMap::new();
        for batch in batches {
            // Read back from Parquet the columns may be Utf8View: read them as Utf8.
            let col = |name: &str| -> Result<ArrayRef> {
                match batch.column_by_name(name) {
                    Some(c) => Ok(arrow::compute::cast(c, &DataType::Utf8)?),
                    None => exec_err!("the rate_centers table has no column {name}"),
                }
            };
            let cols = [
                col("npa")?,
                col("nxx")?,
                col("rate_center")?,
                col("state")?,
                col("lata")?,
            ];
            let [npa, nxx, rc, st, lata]: [&StringArray; 5] =
                [0, 1, 2, 3, 4].map(|k| cols[k].as_string::<i32>());
            for i in 0..batch.num_rows() {
                let key = match (
                    digits3(npa.value(i).as_bytes()),
                    digits3(nxx.value(i).as_bytes()),
                ) {
                    (Some(a), Some(b)) => a as u32 * 1000 + b as u32,
                    _ => continue,
                };
                by_npa_nxx.insert(
                    key,
                    RateCenter {
                        rate_center: rc.value(i).to_string(),
                        state: st.value(i).to_string(),
                        lata: lata.value(i).to_string(),
                    },
                );
            }
        }
        Ok(RateCenters { by_npa_nxx })
    }

    pub fn get(&self, npa: u16, nxx: u16) -> Option<&RateCenter> {
        self.by_npa_nxx.get(&(npa as u32 * 1000 + nxx as u32))
    }

    pub fn len(&self) -> usize {
        self.by_npa_nxx.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_npa_nxx.is_empty()
    }
}

/// Where the second comparison key comes from.
enum Level<'a> {
    State,
    Lata(&'a RateCenters),
}

/// The jurisdiction of a call and the reason code, or `None` when the called number is NULL.
fn jurisdiction_of(
    calling: Option<&str>,
    called: Option<&str>,
    level: &Level<'_>,
) -> Option<(&'static str, &'static str)> {
    const IND: &str = "indeterminate";
    const INTL: &str = "international";
    let (npa, nxx) = match parse(called) {
        Parsed::Missing => return None,
        Parsed::Invalid => return Some((IND, "DEST_INVALID")),
        Parsed::NonNanp => return Some((INTL, "DEST_NON_NANP")),
        Parsed::Nanp { npa, nxx } => (npa, nxx),
    };
    let dest = match NPAS.get(npa) {
        None => return Some((IND, "DEST_NPA_UNKNOWN")),
        Some(d) if d.kind != NpaKind::Geographic => return Some((IND, "DEST_NON_GEOGRAPHIC")),
        Some(d) if d.country != "US" => return Some((INTL, "DEST_NON_US")),
        Some(d) => d,
    };
    let (a_npa, a_nxx) = match parse(calling) {
        Parsed::Missing => return Some((IND, "ANI_MISSING")),
        Parsed::Invalid => return Some((IND, "ANI_INVALID")),
        Parsed::NonNanp => return Some((IND, "ANI_NON_NANP")),
        Parsed::Nanp { npa, nxx } => (npa, nxx),
    };
    let ani = match NPAS.get(a_npa) {
        None => return Some((IND, "NPA_UNKNOWN")),
        Some(a) if a.kind == NpaKind::TollFree => return Some((IND, "ANI_TOLLFREE")),
        Some(a) if a.kind != NpaKind::Geographic => return Some((IND, "ANI_NON_GEOGRAPHIC")),
        Some(a) if a.country != "US" => return Some((IND, "ANI_NON_US")),
        Some(a) => a,
    };
    match level {
        Level::State if ani.region == dest.region => Some(("intrastate", "SAME_STATE")),
        Level::State => Some(("interstate", "DIFFERENT_STATE")),
        Level::Lata(rc) => {
            let Some(d) = rc.get(npa, nxx) else {
                return Some((IND, "DEST_NXX_UNKNOWN"));
            };
            let Some(a) = rc.get(a_npa, a_nxx) else {
                return Some((IND, "NXX_UNKNOWN"));
            };
            if a.lata == d.lata {
                Some(("intralata", "SAME_LATA"))
            } else {
                Some(("interlata", "DIFFERENT_LATA"))
            }
        }
    }
}

fn strings<'a>(c: &Call<'a>, f: impl FnMut(usize) -> Result<Option<&'a str>>) -> Result<ArrayRef> {
    label_array(c.rows, f)
}

/// One field of the rate-center row of each number; all NULL without a loaded table.
fn rate_center_field(
    c: &Call<'_>,
    table: Option<&RateCenters>,
    field: fn(&RateCenter) -> &String,
) -> Result<ArrayRef> {
    let Some(rc) = table else {
        return Ok(arrow::array::new_null_array(&DataType::Utf8View, c.rows));
    };
    let nums = c.text(0)?;
    strings(c, |i| {
        Ok(match parse(nums.get(i)) {
            Parsed::Nanp { npa, nxx } => rc.get(npa, nxx).map(|r| field(r).as_str()),
            _ => None,
        })
    })
}

fn doc(desc: &str, syntax: &str, example: &str, args: &[(&str, &str)]) -> Documentation {
    let mut b = Documentation::builder(
        section("cdrlake: numbers and jurisdiction"),
        desc.to_string(),
        syntax.to_string(),
    )
    .with_sql_example(format!("```sql\n{example}\n```"));
    for (n, d) in args {
        b = b.with_argument(*n, *d);
    }
    b.build()
}

const JURISDICTION_RULE: &str = "The called number decides first: NULL gives NULL; outside \
    the NANP, or in Canada or another NANP country, the call is 'international'; a toll-free, \
    premium or other non-geographic or unknown US area code is 'indeterminate'. Then the \
    caller: missing or withheld, invalid, non-NANP, toll-free or otherwise non-geographic, \
    unknown, or outside the US gives 'indeterminate'. Numbers are a proxy for location \
    (porting, VoIP): label results as number-based.";

pub(crate) fn functions(rate_centers: Option<Arc<RateCenters>>) -> Vec<ScalarUDF> {
    use Param::Text as Str;
    let two = || vec![vec![("calling", Str), ("called", Str)]];
    let rc_for_lata = rate_centers.clone();
    let rc_for_center = rate_centers.clone();
    let rc_for_lata_of = rate_centers;
    vec![
        DomainFn::new(
            "normalize_e164",
            vec![
                vec![("number", Str)],
                vec![("number", Str), ("default_country", Str)],
            ],
            DataType::Utf8View,
            doc(
                "A phone number as E.164 ('+' and 7 to 15 digits), from the forms switches \
                 write: '+1 (212) 555-0100', 'tel:' and 'sip:' URIs, international prefixes, \
                 and national numbers. Without default_country a national number must be a \
                 10- or 11-digit NANP number and both 00 and 011 are international prefixes; \
                 with an ISO country code (data/countries.csv) national numbers are read as \
                 dialled there ('020 7946 0000' in 'GB' is '+442079460000'). NULL for NULL, \
                 empty, withheld ('anonymous', 'restricted', ...) or malformed numbers; an \
                 error for an unknown country code.",
                "normalize_e164(number [, default_country])",
                "SELECT normalize_e164('(212) 555-0100'), normalize_e164('020 7946 0000', 'GB');",
                &[
                    ("number", "A phone number as written."),
                    ("default_country", "ISO 3166 alpha-2 country the number was dialled in."),
                ],
            ),
            Arc::new(|c: &Call<'_>| {
                let nums = c.text(0)?;
                let countries = if c.args.len() > 1 { Some(c.text(1)?) } else { None };
                let mut b = StringViewBuilder::with_capacity(c.rows);
                for i in 0..c.rows {
                    let Some(raw) = nums.get(i) else {
                        b.append_null();
                        continue;
                    };
                    let dialing = match countries.as_ref().map(|cs| cs.get(i)) {
                        None => None,
                        Some(None) => {
                            b.append_null();
                            continue;
                        }
                        Some(Some(iso)) => match COUNTRIES.get(&iso.trim().to_ascii_uppercase()) {
                            Some(c) => Some(c),
                            None => {
                                return exec_err!(
                                    "normalize_e164: unknown country '{iso}' (an ISO 3166 alpha-2 code from data/countries.csv)"
                                );
                            }
                        },
                    };
                    let d = dialing.map(|c| Dialing {
                        calling_code: &c.calling_code,
                        national_prefix: &c.national_prefix,
                        international_prefix: &c.international_prefix,
                    });
                    match e164::normalize_in(raw, d.as_ref()) {
                        Ok(Number::E164(e)) => b.append_value(e),
                        _ => b.append_null(),
                    }
                }
                Ok(Arc::new(b.finish()) as ArrayRef)
            }),
        )
        .udf(),
        DomainFn::new(
            "npa_state",
            vec![vec![("number", Str)]],
            DataType::Utf8View,
            doc(
                "Where a NANP number's area code is, from data/nanp/npa.csv: the USPS code for \
                 US states, DC and territories (NY, PR, GU), the province code for Canada (ON; \
                 'NS/PE' for a code shared by provinces), the ISO country code for the other \
                 NANP countries (JM, BS). NULL for non-NANP, non-geographic (toll-free 8YY, \
                 900, 5XX), unknown or malformed numbers.",
                "npa_state(number)",
                "SELECT npa_state('+12125550100'); -- NY",
                &[("number", "A phone number (E.164, or any form normalize_e164 reads).")],
            ),
            Arc::new(|c: &Call<'_>| {
                let nums = c.text(0)?;
                strings(c, |i| {
                    Ok(match parse(nums.get(i)) {
                        Parsed::Nanp { npa, .. } => NPAS
                            .get(npa)
                            .filter(|n| n.kind == NpaKind::Geographic)
                            .map(|n| n.region.as_str()),
                        _ => None,
                    })
                })
            }),
        )
        .udf(),
        DomainFn::new(
            "jurisdiction",
            two(),
            DataType::Utf8View,
            doc(
                &format!(
                    "US jurisdiction of a call by the states of its numbers: 'intrastate' \
                     (same state), 'interstate', 'indeterminate' or 'international'. \
                     {JURISDICTION_RULE} jurisdiction_reason says why."
                ),
                "jurisdiction(calling, called)",
                "SELECT jurisdiction('+12125550100', '+15185550100'); -- intrastate",
                &[
                    ("calling", "Calling number (ANI); NULL when withheld."),
                    ("called", "Called number."),
                ],
            ),
            Arc::new(|c: &Call<'_>| {
                let (a, b) = (c.text(0)?, c.text(1)?);
                strings(c, |i| Ok(jurisdiction_of(a.get(i), b.get(i), &Level::State).map(|j| j.0)))
            }),
        )
        .udf(),
        DomainFn::new(
            "jurisdiction_reason",
            two(),
            DataType::Utf8View,
            doc(
                "Why jurisdiction() decided as it did: SAME_STATE, DIFFERENT_STATE; for the \
                 called number DEST_INVALID, DEST_NON_NANP, DEST_NON_US (international), \
                 DEST_NPA_UNKNOWN, DEST_NON_GEOGRAPHIC; for the caller ANI_MISSING, \
                 ANI_INVALID, ANI_NON_NANP, ANI_TOLLFREE, ANI_NON_GEOGRAPHIC, ANI_NON_US, \
                 NPA_UNKNOWN (all indeterminate). NULL when the called number is NULL.",
                "jurisdiction_reason(calling, called)",
                "SELECT jurisdiction_reason(NULL, '+12125550100'); -- ANI_MISSING",
                &[
                    ("calling", "Calling number (ANI)."),
                    ("called", "Called number."),
                ],
            ),
            Arc::new(|c: &Call<'_>| {
                let (a, b) = (c.text(0)?, c.text(1)?);
                strings(c, |i| Ok(jurisdiction_of(a.get(i), b.get(i), &Level::State).map(|j| j.1)))
            }),
        )
        .udf(),
        DomainFn::new(
            "jurisdiction_lata",
            two(),
            DataType::Utf8View,
            doc(
                &format!(
                    "Like jurisdiction, but by LATA from the user-loaded rate-center table \
                     (cdrlake reference load rate_centers FILE.csv): 'intralata', \
                     'interlata', 'indeterminate' or 'international'. {JURISDICTION_RULE} \
                     An NPA-NXX missing from the table is 'indeterminate'. NULL for every row \
                     when no rate-center table is loaded."
                ),
                "jurisdiction_lata(calling, called)",
                "SELECT jurisdiction_lata(caller_number, callee_number), count(*) FROM calls GROUP BY 1;",
                &[
                    ("calling", "Calling number (ANI)."),
                    ("called", "Called number."),
                ],
            ),
            Arc::new(move |c: &Call<'_>| {
                let Some(rc) = rc_for_lata.as_deref() else {
                    return Ok(arrow::array::new_null_array(&DataType::Utf8View, c.rows));
                };
                let (a, b) = (c.text(0)?, c.text(1)?);
                let level = Level::Lata(rc);
                strings(c, |i| Ok(jurisdiction_of(a.get(i), b.get(i), &level).map(|j| j.0)))
            }),
        )
        .udf(),
        DomainFn::new(
            "rate_center",
            vec![vec![("number", Str)]],
            DataType::Utf8View,
            doc(
                "The rate center of a NANP number's NPA-NXX from the user-loaded rate-center \
                 table (cdrlake reference load rate_centers FILE.csv). NULL when the number is \
                 not NANP, its NPA-NXX is not in the table, or no table is loaded.",
                "rate_center(number)",
                "SELECT rate_center('+12125550100');",
                &[("number", "A phone number.")],
            ),
            Arc::new(move |c: &Call<'_>| {
                rate_center_field(c, rc_for_center.as_deref(), |r| &r.rate_center)
            }),
        )
        .udf(),
        DomainFn::new(
            "lata",
            vec![vec![("number", Str)]],
            DataType::Utf8View,
            doc(
                "The LATA of a NANP number's NPA-NXX from the user-loaded rate-center table. \
                 NULL when unknown or when no table is loaded.",
                "lata(number)",
                "SELECT lata('+12125550100');",
                &[("number", "A phone number.")],
            ),
            Arc::new(move |c: &Call<'_>| {
                rate_center_field(c, rc_for_lata_of.as_deref(), |r| &r.lata)
            }),
        )
        .udf(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_tables_parse() {
        assert!(NPAS.len() > 400, "{} area codes", NPAS.len());
        let ny = NPAS
            .get(212)
            .map(|n| (n.region.as_str(), n.country.as_str()));
        assert_eq!(ny, Some(("NY", "US")));
        assert_eq!(NPAS.get(800).map(|n| n.kind), Some(NpaKind::TollFree));
        assert!(COUNTRIES.len() > 200);
        assert_eq!(
            COUNTRIES.get("GB").map(|c| c.calling_code.as_str()),
            Some("44")
        );
    }

    #[test]
    fn rate_center_csv_errors_name_line_and_column() {
        let ok = "npa,nxx,rate_center,state,lata\n212,555,NWYRCYZN01,ny,132\n";
        let batch = RateCenters::parse_csv(ok, "rc.csv").map_err(|e| e.to_string());
        assert_eq!(batch.map(|b| b.num_rows()), Ok(1));
        let bad = "npa,nxx,rate_center,state,lata\n212,555,X,NY,132\n212,05,X,NY,132\n";
        let err = RateCenters::parse_csv(bad, "rc.csv")
            .err()
            .unwrap_or_default();
        assert!(err.contains("rc.csv line 3, column nxx: '05'"), "{err}");
        let dup = "npa,nxx,rate_center,state,lata\n212,555,X,NY,132\n212,555,Y,NY,132\n";
        let err = RateCenters::parse_csv(dup, "rc.csv")
            .err()
            .unwrap_or_default();
        assert!(err.contains("also on line 2"), "{err}");
        let missing = "npa,nxx,state\n";
        let err = RateCenters::parse_csv(missing, "rc.csv")
            .err()
            .unwrap_or_default();
        assert!(err.contains("no column 'rate_center'"), "{err}");
    }
}
