//! A seeded, deterministic generator of realistic CDR data for every table, written as landing
//! Parquet (`landing/<table>/date=YYYY-MM-DD/part-*.parquet`).
//!
//! The same options and seed give byte-identical rows on every machine: each (tenant, day) draws
//! from its own random stream, so days can be generated in parallel in any order.

mod model;
mod prng;
mod rows;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::RecordBatch;
use bytes::Bytes;
use cdrlake_schema::{CALLS, MESSAGES, NUMBERS, REGISTRATIONS, STREAMS, TEAMS, TENANTS, USERS};
use cdrlake_store::Store;
use chrono::{Datelike, NaiveDate, TimeZone, Weekday};
use chrono_tz::Tz;
use futures::StreamExt;
use object_store::ObjectStoreExt as _;
use object_store::path::Path;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use serde::Serialize;

use model::{CITIES, CUSTOMERS, DEVICES, PROVIDERS, TENANT_CITIES};
pub use prng::Prng;
use rows::{CallRow, Cell, MessageRow, RegistrationRow, StreamRow};

const MICROS: i64 = 1_000_000;

#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub tenants: usize,
    pub days: u32,
    /// Calls per day over all tenants (weekdays; weekends are quieter).
    pub calls_per_day: u64,
    pub seed: u64,
    /// The first (local) day generated.
    pub start: NaiveDate,
    /// Files per table and day (more files = smaller files, as pipelines often land them).
    pub files_per_day: usize,
    /// Fraction of call rows made invalid on purpose, to exercise quarantine.
    pub bad_rows: f64,
    /// Days generated at once.
    pub threads: usize,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            tenants: 8,
            days: 14,
            calls_per_day: 2_000,
            seed: 42,
            start: NaiveDate::from_ymd_opt(2026, 10, 1).unwrap_or_default(),
            files_per_day: 1,
            bad_rows: 0.0,
            threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("invalid option: {0}")]
    Invalid(String),
    #[error("building {table} rows: {source}")]
    Arrow {
        table: &'static str,
        #[source]
        source: arrow::error::ArrowError,
    },
    #[error("writing {path}: {message}")]
    Write { path: String, message: String },
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct GenerateSummary {
    pub files: u64,
    pub bytes: u64,
    pub rows: std::collections::BTreeMap<String, u64>,
    pub seconds: f64,
}

struct User {
    id: String,
    display: String,
    team: usize,
    enabled: bool,
    number: Option<String>,
    device: usize,
}

struct Tenant {
    id: String,
    name: &'static str,
    city: usize,
    tz: Tz,
    licenses: i32,
    retention_days: i32,
    weight: f64,
    records_license: bool,
    teams: Vec<String>,
    users: Vec<User>,
    numbers: Vec<(String, &'static str, Option<String>)>,
    range: (String, String),
    customer: usize,
}

impl Tenant {
    /// The SIP address of one of the tenant's users.
    fn sip_address(&self, user_id: &str) -> String {
        format!("sip:{user_id}@{}.example.com", self.id)
    }
}

struct World {
    tenants: Vec<Tenant>,
    opts: GenerateOptions,
}

fn nanp_or_intl_number(r: &mut Prng, prefix: &str) -> String {
    if prefix.starts_with('1') && prefix.len() == 4 {
        format!("+{prefix}{}{:04}", r.range(200, 999), r.below(10_000))
    } else {
        format!("+{prefix}{:07}", r.below(10_000_000))
    }
}

fn build_world(opts: &GenerateOptions) -> World {
    // Tenant sizes vary a lot (log-normal); licences follow each tenant's busiest hour, so
    // peaks surge now and then, and bursts go over the soft ceiling.
    let weights: Vec<f64> = (0..opts.tenants)
        .map(|t| Prng::new(opts.seed, &[0, t as u64]).lognormal(1.0, 1.0))
        .collect();
    let total_weight: f64 = weights.iter().sum();
    let mut tenants = Vec::with_capacity(opts.tenants);
    for t in 0..opts.tenants {
        let mut r = Prng::new(opts.seed, &[1, t as u64]);
        let city = TENANT_CITIES[t % TENANT_CITIES.len()];
        let tz: Tz = CITIES[city].tz.parse().unwrap_or(chrono_tz::UTC);
        let calls = opts.calls_per_day as f64 * weights[t] / total_weight;
        // About 10% of a day's calls start in the busiest hour and hold a line ~220 s on
        // average (ringing included); licences cover that with some headroom.
        let busy_hour_concurrency = calls * 0.10 * 220.0 / 3600.0;
        let licenses = ((busy_hour_concurrency * (1.2 + 0.6 * r.f64())).ceil() as i32 + 2).max(2);
        let id = format!("t{:03}", t + 1);
        let team_count = r.range(2, 5) as usize;
        let teams: Vec<String> = (0..team_count)
            .map(|k| format!("{id}-team{}", k + 1))
            .collect();
        let user_count = (licenses as usize * 3).max(6);
        let prefix = CITIES[city].prefixes[0];
        let exchange = r.range(200, 999);
        let block = r.range(1, 8) * 1000;
        // The tenant's block of 1000 numbers: NANP NPA-NXX-XXXX, or city code + 7 digits.
        let did = |k: usize| format!("+{prefix}{exchange}{:04}", block as usize + k);
        let mut users = Vec::with_capacity(user_count);
        let mut numbers = Vec::new();
        for u in 0..user_count {
            let uid = format!("{id}-u{:04}", u + 1);
            let first = r.pick(model::FIRST_NAMES);
            let last = r.pick(model::LAST_NAMES);
            let has_number = r.chance(0.85);
            let number = has_number.then(|| did(u));
            if let Some(n) = &number {
                numbers.push((n.clone(), "user", Some(uid.clone())));
            }
            let weights: Vec<f64> = DEVICES.iter().map(|d| d.weight).collect();
            users.push(User {
                display: format!("{first} {last}"),
                team: r.below(team_count as u64) as usize,
                enabled: r.chance(0.94),
                number,
                device: r.weighted(&weights),
                id: uid,
            });
        }
        // Service numbers and free numbers of the same range.
        numbers.push((did(200), "conference", Some(format!("{id}-bridge"))));
        numbers.push((did(201), "auto_attendant", Some(format!("{id}-aa"))));
        numbers.push((did(202), "queue", Some(format!("{id}-queue"))));
        for k in 0..r.range(3, 12) as usize {
            numbers.push((did(300 + k), "user", None));
        }
        numbers.push((
            format!(
                "+1{}{}{:04}",
                r.pick(model::TOLL_FREE_NPAS),
                r.range(200, 999),
                r.below(10_000)
            ),
            "toll_free",
            Some(format!("{id}-aa")),
        ));
        let range = (did(0), did(999));
        tenants.push(Tenant {
            name: model::TENANT_NAMES[t % model::TENANT_NAMES.len()],
            city,
            tz,
            licenses,
            retention_days: *r.pick(&[90, 180, 365, 730]),
            weight: weights[t],
            records_license: r.chance(0.7),
            teams,
            users,
            numbers,
            range,
            customer: t % CUSTOMERS.len(),
            id,
        });
    }
    World {
        tenants,
        opts: opts.clone(),
    }
}

/// Share of a local day's calls that start in each hour: a morning and an afternoon peak.
const HOURLY: [f64; 24] = [
    0.2, 0.1, 0.1, 0.1, 0.1, 0.3, 0.8, 2.5, 6.0, 9.0, 10.0, 9.0, 6.5, 7.5, 9.5, 9.0, 7.5, 5.0, 2.5,
    1.5, 1.0, 0.7, 0.5, 0.3,
];

fn weekday_factor(d: NaiveDate) -> f64 {
    match d.weekday() {
        Weekday::Sat => 0.35,
        Weekday::Sun => 0.25,
        Weekday::Mon => 1.1,
        Weekday::Fri => 0.9,
        _ => 1.0,
    }
}

/// Local time of day (seconds) drawn from the hourly pattern.
fn local_second(r: &mut Prng) -> i64 {
    let h = r.weighted(&HOURLY) as i64;
    h * 3600 + r.below(3600) as i64
}

fn to_utc_micros(tz: &Tz, day: NaiveDate, second_of_day: i64) -> i64 {
    let midnight = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    let local = midnight + chrono::Duration::seconds(second_of_day);
    match tz.from_local_datetime(&local).earliest() {
        Some(dt) => dt.timestamp_micros(),
        // A time skipped by a DST change: take it an hour later.
        None => tz
            .from_local_datetime(&(local + chrono::Duration::hours(1)))
            .earliest()
            .map(|dt| dt.timestamp_micros())
            .unwrap_or(local.and_utc().timestamp_micros()),
    }
}

/// Billing a/b increments: 0 for 0 s, `a` up to `a`, then whole `b` increments.
pub fn billed_seconds(duration: i64, first: i64, next: i64) -> i64 {
    if duration <= 0 {
        0
    } else if duration <= first {
        first
    } else {
        let next = next.max(1);
        first + (duration - first + next - 1) / next * next
    }
}

/// Amount in millionths for `billed` seconds at `rate_micros` per minute, rounded half up.
pub fn rated_micros(billed: i64, rate_micros: i64) -> i128 {
    let num = billed as i128 * rate_micros as i128;
    (num + 30) / 60
}

/// The destination class for rating: 0 US, 1 Canada and other NANP, 2 toll-free, 3 international.
fn destination_class(number: &str) -> usize {
    if let Some(rest) = number.strip_prefix("+1") {
        if model::TOLL_FREE_NPAS.iter().any(|t| rest.starts_with(t)) {
            2
        } else if CITIES
            .iter()
            .filter(|c| c.country == "CA")
            .any(|c| c.prefixes.iter().any(|p| number[1..].starts_with(p)))
        {
            1
        } else {
            0
        }
    } else {
        3
    }
}

struct DayData {
    calls: Vec<CallRow>,
    streams: Vec<StreamRow>,
    messages: Vec<MessageRow>,
    registrations: Vec<RegistrationRow>,
}

fn outside_number(r: &mut Prng) -> (Option<String>, String) {
    let x = r.f64();
    if x < 0.02 {
        // Withheld caller.
        return (None, "anonymous".into());
    }
    if x < 0.03 {
        // Syntactically E.164 but not a valid NANP number (NPA cannot start with 0 or 1).
        let n = format!("+1{}{:09}", r.range(0, 1), r.below(1_000_000_000));
        return (Some(n.clone()), n);
    }
    if x < 0.08 {
        let n = format!(
            "+1{}{}{:04}",
            r.pick(model::TOLL_FREE_NPAS),
            r.range(200, 999),
            r.below(10_000)
        );
        return (Some(n.clone()), n);
    }
    let city = if r.chance(0.12) {
        r.range(30, CITIES.len() as i64 - 1) as usize
    } else {
        r.below(30) as usize
    };
    let prefix = *r.pick(CITIES[city].prefixes);
    let n = nanp_or_intl_number(r, prefix);
    let dialled = if n.starts_with("+1") && r.chance(0.5) {
        n[2..].to_string()
    } else if !n.starts_with("+1") {
        format!("011{}", &n[1..])
    } else {
        n.clone()
    };
    (Some(n), dialled)
}

/// Draws the network conditions of a call: mostly good, a few percent poor.
struct Network {
    loss: f64,
    jitter: f64,
    rtt: f64,
    quality: u8,
}

fn network(r: &mut Prng, relay: bool) -> Network {
    let x = r.f64();
    let extra = if relay { 40.0 } else { 0.0 };
    if x < 0.92 {
        Network {
            loss: (r.lognormal(0.002, 0.8)).min(0.02),
            jitter: r.lognormal(6.0, 0.5).min(25.0),
            rtt: r.lognormal(60.0, 0.4).min(250.0) + extra,
            quality: 0,
        }
    } else if x < 0.97 {
        Network {
            loss: r.lognormal(0.02, 0.4).min(0.09),
            jitter: r.lognormal(18.0, 0.3).min(30.0),
            rtt: r.lognormal(180.0, 0.3).min(480.0) + extra,
            quality: 1,
        }
    } else {
        Network {
            loss: r.lognormal(0.09, 0.5).min(0.5),
            jitter: r.lognormal(40.0, 0.4),
            rtt: r.lognormal(450.0, 0.4) + extra,
            quality: 2,
        }
    }
}

fn gen_streams(
    r: &mut Prng,
    c: &CallRow,
    net: &Network,
    codec: &'static str,
    out: &mut Vec<StreamRow>,
) {
    let Some(answer) = c.answer_us else { return };
    let dur = c.billable_s.max(1);
    let kinds: &[(&'static str, &'static str)] = match c.media {
        "video" => &[
            ("audio", "in"),
            ("audio", "out"),
            ("video", "in"),
            ("video", "out"),
        ],
        "app_sharing" => &[("audio", "in"), ("audio", "out"), ("app_sharing", "out")],
        "audio" => &[("audio", "in"), ("audio", "out")],
        _ => &[],
    };
    let tenant = c.tenant_id.clone().unwrap_or_default();
    for (i, (media, dir)) in kinds.iter().enumerate() {
        let pps = match *media {
            "audio" => 50.0,
            "video" => 250.0,
            _ => 30.0,
        };
        let loss = (net.loss * r.lognormal(1.0, 0.3)).min(0.6);
        let sent = (dur as f64 * pps) as i64;
        let minutes = ((dur + 59) / 60).min(240) as usize;
        let per_min = pps * 60.0;
        let mut lost_per_minute = Vec::with_capacity(minutes);
        let mut lost_total = 0i64;
        let mut loss_max = 0.0f64;
        for m in 0..minutes {
            let in_minute = if m + 1 == minutes && dur % 60 != 0 {
                (dur % 60) as f64 * pps
            } else {
                per_min
            };
            let f = loss * r.lognormal(1.0, 0.6);
            let lost = (in_minute * f.min(1.0)).round() as i64;
            loss_max = loss_max.max(f.min(1.0));
            lost_total += lost;
            lost_per_minute.push(lost as i32);
        }
        let lost_total = lost_total.min(sent);
        let loss_avg = if sent > 0 {
            lost_total as f64 / sent as f64
        } else {
            0.0
        };
        let jitter = net.jitter * r.lognormal(1.0, 0.2);
        let rtt = net.rtt * r.lognormal(1.0, 0.1);
        let is_audio = *media == "audio";
        let mos = (4.4 - loss_avg * 12.0 - (jitter / 40.0) - (rtt / 600.0)).clamp(1.0, 4.5);
        out.push(StreamRow {
            tenant_id: tenant.clone(),
            call_id: c.call_id.clone(),
            stream_id: i as i32,
            media,
            direction: dir,
            codec: match *media {
                "audio" => codec,
                "video" => "H.264",
                _ => "RDP",
            },
            start_us: answer,
            duration_s: dur,
            packets_sent: sent,
            packets_received: sent - lost_total,
            packets_lost: lost_total,
            loss_rate_avg: loss_avg.min(1.0),
            loss_rate_max: loss_max.max(loss_avg).min(1.0),
            jitter_avg_ms: jitter,
            jitter_max_ms: jitter * r.lognormal(2.0, 0.3),
            rtt_avg_ms: rtt,
            rtt_max_ms: rtt * r.lognormal(1.6, 0.2),
            concealed_ratio: is_audio.then(|| (loss_avg * 0.8 + r.f64() * 0.01).min(1.0)),
            degradation_avg: is_audio.then(|| (4.4 - mos).max(0.0) * 0.8),
            mos_avg: is_audio.then_some(mos),
            mos_min: is_audio.then(|| (mos - r.f64() * 0.6).max(1.0)),
            frame_rate_avg: (*media == "video").then(|| {
                if net.quality == 2 {
                    r.range(4, 12) as f64
                } else {
                    r.range(24, 30) as f64
                }
            }),
            frame_loss_pct: (*media == "video").then(|| (loss_avg * 100.0 * 3.0).min(100.0)),
            post_fec_loss_rate: (*media == "video").then(|| (loss_avg * 0.5).min(1.0)),
            spoiled_tile_pct: (*media == "app_sharing").then(|| {
                if net.quality == 2 {
                    20.0 + r.f64() * 40.0
                } else {
                    r.f64() * 5.0
                }
            }),
            app_latency_ms: (*media == "app_sharing").then(|| rtt * 0.8 + r.f64() * 50.0),
            relative_one_way_delay_ms: (*media == "app_sharing").then(|| rtt / 2.0 + jitter),
            lost_per_minute,
        });
    }
}

/// Signalling transports, as often as seen: half UDP, the rest TCP and TLS.
const TRANSPORT_MIX: [&str; 5] = ["UDP", "UDP", "TCP", "TLS", "TLS"];

const ANSWER_REASONS: &[&str] = &["caller hung up", "callee hung up"];

/// Generates one local day of one tenant.
fn gen_tenant_day(w: &World, t_idx: usize, day_idx: u32, out: &mut DayData) {
    let opts = &w.opts;
    let t = &w.tenants[t_idx];
    let day = opts.start + chrono::Duration::days(day_idx as i64);
    let mut r = Prng::new(opts.seed, &[2, t_idx as u64, day_idx as u64]);
    let total_weight: f64 = w.tenants.iter().map(|t| t.weight).sum();
    let expected = opts.calls_per_day as f64 * t.weight / total_weight
        * weekday_factor(day)
        * r.lognormal(1.0, 0.1);
    let n_calls = expected.floor() as usize + usize::from(r.f64() < expected.fract());
    let city = &CITIES[t.city];
    let day_key = day.format("%Y%m%d").to_string();
    let mut calls: Vec<CallRow> = Vec::with_capacity(n_calls + 16);
    let mut nets: Vec<(Network, &'static str)> = Vec::with_capacity(n_calls + 16);

    // Starts: the daily pattern, plus on some days a burst (an all-hands bridge, a campaign)
    // that goes over the licence count.
    let mut starts: Vec<(i64, Option<String>)> = (0..n_calls)
        .map(|_| (to_utc_micros(&t.tz, day, local_second(&mut r)), None))
        .collect();
    if n_calls > 0 && r.chance(0.2) {
        let at = to_utc_micros(&t.tz, day, r.range(9 * 3600, 16 * 3600));
        let conf = format!("{}-conf-{day_key}-burst", t.id);
        for _ in 0..(t.licenses as f64 * 1.8).ceil() as usize {
            starts.push((at + r.below(300 * MICROS as u64) as i64, Some(conf.clone())));
        }
    }
    // Conferences: a few meetings with several legs each.
    let meetings = (n_calls / 150).min(40);
    for m in 0..meetings {
        let at = to_utc_micros(&t.tz, day, local_second(&mut r));
        let conf = format!("{}-conf-{day_key}-{m}", t.id);
        for _ in 0..r.range(3, (t.licenses as i64).clamp(3, 8)) {
            starts.push((at + r.below(180 * MICROS as u64) as i64, Some(conf.clone())));
        }
    }
    starts.sort_by_key(|s| s.0);

    for (seq, (invite, conference)) in starts.into_iter().enumerate() {
        let user = &t.users[r.below(t.users.len() as u64) as usize];
        let device = &DEVICES[user.device];
        let in_conference = conference.is_some();
        let direction = if in_conference {
            "inbound"
        } else {
            *r.pick(&["inbound", "inbound", "outbound", "outbound", "internal"])
        };
        let media = if in_conference {
            if device.video && r.chance(0.6) {
                "video"
            } else {
                "audio"
            }
        } else {
            match r.weighted(&[80.0, 14.0, 4.5, 1.5]) {
                0 => "audio",
                1 if device.video => "video",
                1 => "audio",
                2 => "app_sharing",
                _ => "file_transfer",
            }
        };
        let (other_number, other_dialled) = if direction == "internal" {
            let peer = &t.users[r.below(t.users.len() as u64) as usize];
            (
                peer.number.clone(),
                peer.number.clone().unwrap_or_else(|| peer.id.clone()),
            )
        } else {
            // An outside party (for a conference: a participant dialling into the bridge).
            outside_number(&mut r)
        };
        let is_pstn = direction != "internal";
        let sip = |u: &str| t.sip_address(u);
        let (caller_number, caller_user, callee_number, callee_user, dialled) = match direction {
            "outbound" | "internal" => (
                user.number.clone(),
                Some(sip(&user.id)),
                other_number.clone(),
                None,
                Some(other_dialled),
            ),
            _ => {
                let target = if in_conference {
                    t.numbers
                        .iter()
                        .find(|n| n.1 == "conference")
                        .map(|n| n.0.clone())
                } else {
                    user.number.clone()
                };
                (
                    other_number.clone(),
                    None,
                    target.clone(),
                    Some(sip(&user.id)),
                    target,
                )
            }
        };

        // Outcome.
        let (disposition, sip_code, q850, reason) =
            match r.weighted(&[70.0, 8.0, 12.0, 5.0, 3.0, 2.0]) {
                0 => ("answered", 200, 16, *r.pick(ANSWER_REASONS)),
                1 => ("busy", 486, 17, "busy"),
                2 => ("no_answer", *r.pick(&[480, 408]), 19, "no answer"),
                3 => *r.pick(&[
                    ("failed", 503, 34, "no circuit available"),
                    ("failed", 404, 1, "unallocated number"),
                    ("failed", 500, 41, "temporary failure"),
                ]),
                4 => ("rejected", 603, 21, "call rejected"),
                _ => ("lost_to_queue", 487, 16, "caller abandoned in queue"),
            };
        let (disposition, sip_code, q850, reason) = if in_conference {
            ("answered", 200, 16, "left the conference")
        } else {
            (disposition, sip_code, q850, reason)
        };
        let pdd_ms = if is_pstn {
            r.lognormal(1800.0, 0.5)
        } else {
            r.lognormal(300.0, 0.4)
        } as i64;
        let ring = (pdd_ms / 1000) + r.range(2, 25);
        let answered = disposition == "answered";
        let talk = if answered {
            let (median, sigma) = if in_conference {
                (900.0, 0.6)
            } else {
                (75.0, 1.0)
            };
            (r.lognormal(median, sigma) as i64).clamp(1, 4 * 3600)
        } else {
            0
        };
        let answer_us = answered.then(|| invite + ring * MICROS);
        let end_us = invite + (ring + talk) * MICROS;
        let relay = r.chance(0.15);
        let net = network(&mut r, relay);
        let voicemail = disposition == "no_answer" && direction == "inbound" && r.chance(0.4);
        let dest = callee_number.as_deref().map(destination_class).unwrap_or(0);
        let customer = &CUSTOMERS[t.customer];
        let provider_idx = r.below(PROVIDERS.len() as u64) as usize;
        let provider = &PROVIDERS[provider_idx];
        let wholesale = is_pstn;
        let cust_billed = billed_seconds(
            talk,
            customer.first_increment_s as i64,
            customer.next_increment_s as i64,
        );
        let prov_billed = billed_seconds(
            talk,
            provider.first_increment_s as i64,
            provider.next_increment_s as i64,
        );
        let (ip, city_row) = if r.chance(0.85) {
            (format!("203.0.113.{}", r.range(1, 254)), city)
        } else {
            (
                format!("198.51.100.{}", r.range(1, 254)),
                &CITIES[r.below(CITIES.len() as u64) as usize],
            )
        };
        let rating = (answered && r.chance(0.1)).then(|| match net.quality {
            0 => *r.pick(&[3, 4, 4, 5, 5, 5]),
            1 => *r.pick(&[2, 3, 3, 4]),
            _ => *r.pick(&[1, 1, 2, 3]),
        });
        calls.push(CallRow {
            tenant_id: Some(t.id.clone()),
            call_id: format!("c{:x}-{day_key}-{}-{seq:06}", opts.seed, t.id),
            team_id: Some(t.teams[user.team].clone()),
            conference_organizer: conference.as_ref().map(|_| t.users[0].id.clone()),
            conference_id: conference,
            direction,
            media,
            caller_number,
            caller_user,
            callee_number,
            callee_user,
            dialled,
            customer: wholesale.then_some(customer.name),
            provider: wholesale.then_some(provider.name),
            invite_us: invite,
            answer_us,
            end_us,
            duration_s: ring + talk,
            billable_s: talk,
            pdd_ms: Some(pdd_ms),
            sip_code,
            q850_cause: q850,
            end_reason: reason,
            disposition,
            voicemail,
            is_pstn,
            user_agent: device.user_agent,
            platform: device.platform,
            protocol: if r.chance(0.95) { "SIP" } else { "H323" },
            transport: TRANSPORT_MIX[r.below(TRANSPORT_MIX.len() as u64) as usize],
            connectivity: if relay { "RELAY" } else { "DIRECT" },
            source_ip: ip,
            country: city_row.country,
            region: city_row.region,
            city: city_row.name,
            latitude: city_row.lat + (r.f64() - 0.5) * 0.1,
            longitude: city_row.lon + (r.f64() - 0.5) * 0.1,
            license_decision: None,
            dtmf_digits: answered.then(|| {
                if direction == "inbound" {
                    r.range(0, 12) as i32
                } else {
                    0
                }
            }),
            customer_rate: wholesale.then_some(customer.rates_micros[dest] as i128),
            customer_first_increment_s: wholesale.then_some(customer.first_increment_s),
            customer_next_increment_s: wholesale.then_some(customer.next_increment_s),
            customer_charge: wholesale
                .then(|| rated_micros(cust_billed, customer.rates_micros[dest])),
            provider_rate: wholesale.then_some(provider.rates_micros[dest] as i128),
            provider_first_increment_s: wholesale.then_some(provider.first_increment_s),
            provider_next_increment_s: wholesale.then_some(provider.next_increment_s),
            provider_cost: wholesale
                .then(|| rated_micros(prov_billed, provider.rates_micros[dest])),
            user_rating: rating,
        });
        nets.push((net, device.codec));
    }

    apply_licences(t, &mut calls);
    for (c, (net, codec)) in calls.iter().zip(nets.iter()) {
        gen_streams(&mut r, c, net, codec, &mut out.streams);
    }
    if opts.bad_rows > 0.0 {
        for c in calls.iter_mut() {
            if r.chance(opts.bad_rows) {
                corrupt(&mut r, c);
            }
        }
    }
    out.calls.extend(calls);
    gen_messages(w, t_idx, day, day_idx, &mut r, out);
    gen_registrations(w, t_idx, day, day_idx, &mut r, out);
}

/// Simulates the switch's licence check with the soft ceiling (L + floor(L/2) for L >= 6):
/// calls over it are rejected and occupy nothing.
fn apply_licences(t: &Tenant, calls: &mut [CallRow]) {
    let l = t.licenses as i64;
    let ceiling = if l >= 6 { l + l / 2 } else { l };
    let mut active: BinaryHeap<Reverse<i64>> = BinaryHeap::new();
    for c in calls.iter_mut() {
        while active
            .peek()
            .is_some_and(|Reverse(end)| *end <= c.invite_us)
        {
            active.pop();
        }
        let concurrency = active.len() as i64 + 1;
        let decision = if concurrency <= l {
            "normal"
        } else if concurrency <= ceiling {
            "surged"
        } else {
            "rejected"
        };
        if decision == "rejected" {
            c.disposition = "rejected";
            c.sip_code = 503;
            c.q850_cause = 34;
            c.end_reason = "licence limit reached";
            c.answer_us = None;
            c.end_us = c.invite_us + MICROS;
            c.duration_s = 1;
            c.billable_s = 0;
            c.dtmf_digits = None;
            c.user_rating = None;
            c.voicemail = false;
            if c.customer_charge.is_some() {
                c.customer_charge = Some(0);
                c.provider_cost = Some(0);
            }
        } else {
            active.push(Reverse(c.end_us));
        }
        if t.records_license {
            c.license_decision = Some(decision);
        }
    }
}

/// Makes a row invalid in one of the ways real feeds are.
fn corrupt(r: &mut Prng, c: &mut CallRow) {
    match r.below(5) {
        0 => c.duration_s = -c.duration_s - 1,
        1 => c.disposition = "ANSWERD",
        2 => c.caller_number = Some("12-34".into()),
        3 => c.end_us = c.invite_us - 5 * MICROS,
        _ => c.tenant_id = None,
    }
}

fn gen_messages(
    w: &World,
    t_idx: usize,
    day: NaiveDate,
    day_idx: u32,
    r: &mut Prng,
    out: &mut DayData,
) {
    let t = &w.tenants[t_idx];
    let expected = t.users.len() as f64 * 1.5 * weekday_factor(day);
    let n = expected as usize;
    for k in 0..n {
        let from = &t.users[r.below(t.users.len() as u64) as usize];
        let to = &t.users[r.below(t.users.len() as u64) as usize];
        let start = to_utc_micros(&t.tz, day, local_second(r));
        let lost = r.chance(0.05);
        let external = r.chance(0.3);
        out.messages.push(MessageRow {
            tenant_id: t.id.clone(),
            session_id: format!("m{:x}-{day_idx}-{}-{k:05}", w.opts.seed, t.id),
            team_id: Some(t.teams[from.team].clone()),
            from_user: if external {
                format!("sip:visitor{}@web.example.net", r.below(10_000))
            } else {
                t.sip_address(&from.id)
            },
            to_user: t.sip_address(&to.id),
            participants: if r.chance(0.9) {
                2
            } else {
                r.range(3, 6) as i32
            },
            start_us: start,
            end_us: (!lost).then(|| start + (r.lognormal(240.0, 0.8) as i64 + 5) * MICROS),
            message_count: if lost {
                1
            } else {
                (r.lognormal(6.0, 0.7) as i32).max(1)
            },
            outcome: if lost { "lost" } else { "accepted" },
            direction: if external { "inbound" } else { "internal" },
        });
    }
}

fn gen_registrations(
    w: &World,
    t_idx: usize,
    day: NaiveDate,
    day_idx: u32,
    r: &mut Prng,
    out: &mut DayData,
) {
    let t = &w.tenants[t_idx];
    let p_login = 0.75 * weekday_factor(day).min(1.0);
    let mut k = 0;
    for (u_idx, u) in t.users.iter().enumerate() {
        if !r.chance(p_login) {
            continue;
        }
        let d = &DEVICES[u.device];
        let mac = format!(
            "00:15:65:{:02x}:{:02x}:{:02x}",
            t_idx % 256,
            (u_idx / 256) % 256,
            u_idx % 256
        );
        let ip = format!("203.0.113.{}", 1 + (u_idx % 254));
        let mut push =
            |event_type: &'static str, at: i64, success: bool, reason: Option<&'static str>| {
                k += 1;
                out.registrations.push(RegistrationRow {
                    tenant_id: t.id.clone(),
                    event_id: format!("r{:x}-{day_idx}-{}-{k:05}", w.opts.seed, t.id),
                    user_id: u.id.clone(),
                    event_type,
                    event_us: at,
                    success,
                    failure_reason: reason,
                    device_manufacturer: d.manufacturer,
                    device_model: d.model,
                    device_version: d.version,
                    mac: mac.clone(),
                    client_version: d.version,
                    user_agent: d.user_agent,
                    ip: ip.clone(),
                });
            };
        let login = to_utc_micros(&t.tz, day, r.range(7 * 3600, 10 * 3600));
        if !u.enabled {
            push("login", login, false, Some("account disabled"));
            continue;
        }
        if r.chance(0.04) {
            let reason = *r.pick(&[
                "wrong password",
                "certificate expired",
                "timeout",
                "unknown user",
            ]);
            push("login", login - 60 * MICROS, false, Some(reason));
        }
        push("login", login, true, None);
        if r.chance(0.85) {
            let logout = to_utc_micros(&t.tz, day, r.range(16 * 3600, 19 * 3600));
            push("logout", logout, true, None);
        }
    }
}

fn dimension_batches(w: &World) -> Result<Vec<(&'static str, RecordBatch)>, GenerateError> {
    let arrow = |table: &'static str| move |source| GenerateError::Arrow { table, source };
    let s = |v: &str| Cell::Str(Some(v.to_string()));
    let mut tenants = Vec::new();
    let mut teams = Vec::new();
    let mut users = Vec::new();
    let mut numbers = Vec::new();
    for t in &w.tenants {
        tenants.push(vec![
            s(&t.id),
            s(t.name),
            s(CITIES[t.city].tz),
            Cell::Int(t.licenses),
            Cell::Int(t.retention_days),
        ]);
        for (i, team) in t.teams.iter().enumerate() {
            teams.push(vec![
                s(&t.id),
                s(team),
                s(model::TEAM_NAMES[i % model::TEAM_NAMES.len()]),
            ]);
        }
        for (i, u) in t.users.iter().enumerate() {
            let mut feats = vec!["im", "conferencing"];
            if u.number.is_some() {
                feats.push("enterprise_voice");
                feats.push("voicemail");
            }
            if i % 3 == 0 {
                feats.push("video");
            }
            users.push(vec![
                s(&t.id),
                s(&u.id),
                s(&u.display),
                s(&t.teams[u.team]),
                Cell::Bool(u.enabled),
                s(&t.sip_address(&u.id)),
                Cell::Str(u.number.clone()),
                Cell::StrList(feats),
            ]);
        }
        for (n, kind, assigned) in &t.numbers {
            let in_range = *kind != "toll_free";
            numbers.push(vec![
                s(&t.id),
                s(n),
                s(kind),
                Cell::Str(assigned.clone()),
                Cell::Str(in_range.then(|| t.range.0.clone())),
                Cell::Str(in_range.then(|| t.range.1.clone())),
            ]);
        }
    }
    Ok(vec![
        (
            "tenants",
            rows::cells_batch(&TENANTS, &tenants).map_err(arrow("tenants"))?,
        ),
        (
            "teams",
            rows::cells_batch(&TEAMS, &teams).map_err(arrow("teams"))?,
        ),
        (
            "users",
            rows::cells_batch(&USERS, &users).map_err(arrow("users"))?,
        ),
        (
            "numbers",
            rows::cells_batch(&NUMBERS, &numbers).map_err(arrow("numbers"))?,
        ),
    ])
}

fn parquet_bytes(batch: &RecordBatch) -> Result<Bytes, String> {
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut buf = Vec::new();
    let mut w =
        ArrowWriter::try_new(&mut buf, batch.schema(), Some(props)).map_err(|e| e.to_string())?;
    w.write(batch).map_err(|e| e.to_string())?;
    w.close().map_err(|e| e.to_string())?;
    Ok(Bytes::from(buf))
}

/// Files of one generated day: (path, bytes, table, rows).
type DayFiles = Vec<(Path, Bytes, &'static str, u64)>;

fn gen_day_files(w: &World, day_idx: u32) -> Result<DayFiles, GenerateError> {
    let opts = &w.opts;
    let mut data = DayData {
        calls: vec![],
        streams: vec![],
        messages: vec![],
        registrations: vec![],
    };
    for t in 0..w.tenants.len() {
        gen_tenant_day(w, t, day_idx, &mut data);
    }
    let day = opts.start + chrono::Duration::days(day_idx as i64);
    let date = day.format("%Y-%m-%d");
    let arrow = |table: &'static str| move |source| GenerateError::Arrow { table, source };
    let batches = [
        (
            "calls",
            rows::calls_batch(&CALLS, &data.calls).map_err(arrow("calls"))?,
        ),
        (
            "streams",
            rows::streams_batch(&STREAMS, &data.streams).map_err(arrow("streams"))?,
        ),
        (
            "messages",
            rows::messages_batch(&MESSAGES, &data.messages).map_err(arrow("messages"))?,
        ),
        (
            "registrations",
            rows::registrations_batch(&REGISTRATIONS, &data.registrations)
                .map_err(arrow("registrations"))?,
        ),
    ];
    let mut files = Vec::new();
    for (table, batch) in batches {
        let n = batch.num_rows();
        if n == 0 {
            continue;
        }
        let parts = opts.files_per_day.max(1).min(n);
        let per = n.div_ceil(parts);
        for p in 0..parts {
            let off = p * per;
            if off >= n {
                break;
            }
            let slice = batch.slice(off, per.min(n - off));
            let path = Path::from(format!(
                "landing/{table}/date={date}/part-s{}-{p:04}.parquet",
                opts.seed
            ));
            let bytes = parquet_bytes(&slice).map_err(|message| GenerateError::Write {
                path: path.to_string(),
                message,
            })?;
            files.push((path, bytes, table, slice.num_rows() as u64));
        }
    }
    Ok(files)
}

/// Generates the data set into the store's landing folders.
pub async fn generate(
    store: &Store,
    opts: GenerateOptions,
    progress: Option<indicatif::ProgressBar>,
) -> Result<GenerateSummary, GenerateError> {
    if opts.tenants == 0 || opts.tenants > 100_000 {
        return Err(GenerateError::Invalid(format!(
            "--tenants must be 1 to 100000, got {}",
            opts.tenants
        )));
    }
    if opts.days == 0 {
        return Err(GenerateError::Invalid("--days must be at least 1".into()));
    }
    if !(0.0..=1.0).contains(&opts.bad_rows) {
        return Err(GenerateError::Invalid(format!(
            "--bad-rows must be a fraction from 0 to 1, got {}",
            opts.bad_rows
        )));
    }
    let started = Instant::now();
    let world = Arc::new(build_world(&opts));
    let os = store.object_store();
    let mut summary = GenerateSummary::default();
    let mut put = |path: Path, bytes: Bytes, table: &'static str, rows: u64| {
        summary.files += 1;
        summary.bytes += bytes.len() as u64;
        *summary.rows.entry(table.to_string()).or_default() += rows;
        let os = os.clone();
        async move {
            os.put(&path, bytes.into())
                .await
                .map_err(|e| GenerateError::Write {
                    path: path.to_string(),
                    message: e.to_string(),
                })
        }
    };
    for (table, batch) in dimension_batches(&world)? {
        let path = Path::from(format!("landing/{table}/part-s{}.parquet", opts.seed));
        let bytes = parquet_bytes(&batch).map_err(|message| GenerateError::Write {
            path: path.to_string(),
            message,
        })?;
        put(path, bytes, table, batch.num_rows() as u64).await?;
    }
    if let Some(p) = &progress {
        p.set_length(opts.days as u64);
        p.set_message("generating");
    }
    let threads = opts.threads.max(1);
    let mut days = futures::stream::iter(0..opts.days)
        .map(|d| {
            let w = world.clone();
            async move {
                tokio::task::spawn_blocking(move || gen_day_files(&w, d))
                    .await
                    .map_err(|e| GenerateError::Invalid(format!("generator thread failed: {e}")))?
            }
        })
        .buffer_unordered(threads);
    while let Some(files) = days.next().await {
        for (path, bytes, table, rows) in files? {
            put(path, bytes, table, rows).await?;
        }
        if let Some(p) = &progress {
            p.inc(1);
        }
    }
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn billing_increments_match_the_reference_examples() {
        assert_eq!(billed_seconds(0, 6, 6), 0);
        assert_eq!(billed_seconds(8, 6, 6), 12);
        assert_eq!(billed_seconds(31, 30, 6), 36);
        assert_eq!(billed_seconds(61, 60, 60), 120);
        assert_eq!(billed_seconds(5, 30, 6), 30);
        assert_eq!(billed_seconds(7, 1, 1), 7);
        // 12 s at 0.009/min = 0.0018 -> 1800 millionths.
        assert_eq!(rated_micros(12, 9_000), 1_800);
    }

    #[test]
    fn licence_simulation_uses_the_soft_ceiling() {
        let opts = GenerateOptions {
            tenants: 1,
            ..Default::default()
        };
        let mut w = build_world(&opts);
        let t = &mut w.tenants[0];
        t.licenses = 6; // ceiling 9
        t.records_license = true;
        let mut calls: Vec<CallRow> = (0..11)
            .map(|i| CallRow {
                invite_us: i,
                end_us: 1_000_000_000,
                ..Default::default()
            })
            .collect();
        apply_licences(t, &mut calls);
        let d: Vec<_> = calls
            .iter()
            .map(|c| c.license_decision.unwrap_or(""))
            .collect();
        assert_eq!(&d[..6], &["normal"; 6]);
        assert_eq!(&d[6..9], &["surged"; 3]);
        assert_eq!(&d[9..], &["rejected"; 2]);
    }

    #[test]
    fn same_seed_same_rows() {
        let opts = GenerateOptions {
            tenants: 3,
            days: 2,
            calls_per_day: 300,
            ..Default::default()
        };
        let a = gen_day_files(&build_world(&opts), 1).expect("gen");
        let b = gen_day_files(&build_world(&opts), 1).expect("gen");
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b.iter()) {
            assert_eq!(x.0, y.0);
            assert_eq!(x.1, y.1, "{} differs", x.0);
        }
        let other = GenerateOptions { seed: 7, ..opts };
        let c = gen_day_files(&build_world(&other), 1).expect("gen");
        assert_ne!(a[0].1, c[0].1);
    }
}
