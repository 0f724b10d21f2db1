//! Row structs for each table and their conversion to Arrow batches in canonical column order.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Decimal128Builder, Float64Builder, Int32Builder, Int64Builder,
    ListBuilder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{Field, Schema};
use arrow::error::ArrowError;
use cdrlake_schema::{MONEY_PRECISION, MONEY_SCALE, TableDef};

/// The landing schema of a table: its canonical columns, without the derived `event_date`,
/// all nullable (landing files are validated, not trusted).
pub fn landing_schema(def: &TableDef) -> Arc<Schema> {
    Arc::new(Schema::new(
        def.columns
            .iter()
            .map(|c| Field::new(c.name, c.ty.data_type(), true))
            .collect::<Vec<_>>(),
    ))
}

fn ts() -> TimestampMicrosecondBuilder {
    TimestampMicrosecondBuilder::new().with_timezone("UTC")
}

fn money() -> Decimal128Builder {
    Decimal128Builder::new()
        .with_precision_and_scale(MONEY_PRECISION, MONEY_SCALE)
        .unwrap_or_else(|_| Decimal128Builder::new())
}

#[derive(Default, Clone)]
pub struct CallRow {
    pub tenant_id: Option<String>,
    pub call_id: String,
    pub team_id: Option<String>,
    pub conference_id: Option<String>,
    pub conference_organizer: Option<String>,
    pub direction: &'static str,
    pub media: &'static str,
    pub caller_number: Option<String>,
    pub caller_user: Option<String>,
    pub callee_number: Option<String>,
    pub callee_user: Option<String>,
    pub dialled: Option<String>,
    pub customer: Option<&'static str>,
    pub provider: Option<&'static str>,
    pub invite_us: i64,
    pub answer_us: Option<i64>,
    pub end_us: i64,
    pub duration_s: i64,
    pub billable_s: i64,
    pub pdd_ms: Option<i64>,
    pub sip_code: i32,
    pub q850_cause: i32,
    pub end_reason: &'static str,
    pub disposition: &'static str,
    pub voicemail: bool,
    pub is_pstn: bool,
    pub user_agent: &'static str,
    pub platform: &'static str,
    pub protocol: &'static str,
    pub transport: &'static str,
    pub connectivity: &'static str,
    pub source_ip: String,
    pub country: &'static str,
    pub region: &'static str,
    pub city: &'static str,
    pub latitude: f64,
    pub longitude: f64,
    pub license_decision: Option<&'static str>,
    pub dtmf_digits: Option<i32>,
    pub customer_rate: Option<i128>,
    pub customer_first_increment_s: Option<i32>,
    pub customer_next_increment_s: Option<i32>,
    pub customer_charge: Option<i128>,
    pub provider_rate: Option<i128>,
    pub provider_first_increment_s: Option<i32>,
    pub provider_next_increment_s: Option<i32>,
    pub provider_cost: Option<i128>,
    pub user_rating: Option<i32>,
}

pub fn calls_batch(def: &TableDef, rows: &[CallRow]) -> Result<RecordBatch, ArrowError> {
    let n = rows.len();
    let mut s: Vec<StringBuilder> = (0..20)
        .map(|_| StringBuilder::with_capacity(n, n * 12))
        .collect();
    let mut t: Vec<TimestampMicrosecondBuilder> = (0..3).map(|_| ts()).collect();
    let mut i64s: Vec<Int64Builder> = (0..3).map(|_| Int64Builder::with_capacity(n)).collect();
    let mut i32s: Vec<Int32Builder> = (0..8).map(|_| Int32Builder::with_capacity(n)).collect();
    let mut bools: Vec<BooleanBuilder> = (0..2).map(|_| BooleanBuilder::with_capacity(n)).collect();
    let mut f64s: Vec<Float64Builder> = (0..2).map(|_| Float64Builder::with_capacity(n)).collect();
    let mut m: Vec<Decimal128Builder> = (0..4).map(|_| money()).collect();
    let mut enums: Vec<StringBuilder> = (0..10)
        .map(|_| StringBuilder::with_capacity(n, n * 8))
        .collect();
    for r in rows {
        s[0].append_option(r.tenant_id.as_deref());
        s[1].append_value(&r.call_id);
        s[2].append_option(r.team_id.as_deref());
        s[3].append_option(r.conference_id.as_deref());
        s[4].append_option(r.conference_organizer.as_deref());
        enums[0].append_value(r.direction);
        enums[1].append_value(r.media);
        s[5].append_option(r.caller_number.as_deref());
        s[6].append_option(r.caller_user.as_deref());
        s[7].append_option(r.callee_number.as_deref());
        s[8].append_option(r.callee_user.as_deref());
        s[9].append_option(r.dialled.as_deref());
        s[10].append_option(r.customer);
        s[11].append_option(r.provider);
        t[0].append_value(r.invite_us);
        t[1].append_option(r.answer_us);
        t[2].append_value(r.end_us);
        i64s[0].append_value(r.duration_s);
        i64s[1].append_value(r.billable_s);
        i64s[2].append_option(r.pdd_ms);
        i32s[0].append_value(r.sip_code);
        i32s[1].append_value(r.q850_cause);
        enums[2].append_value(r.end_reason);
        enums[3].append_value(r.disposition);
        bools[0].append_value(r.voicemail);
        bools[1].append_value(r.is_pstn);
        enums[4].append_value(r.user_agent);
        enums[5].append_value(r.platform);
        enums[6].append_value(r.protocol);
        enums[7].append_value(r.transport);
        enums[8].append_value(r.connectivity);
        s[12].append_value(&r.source_ip);
        s[13].append_value(r.country);
        s[14].append_value(r.region);
        s[15].append_value(r.city);
        f64s[0].append_value(r.latitude);
        f64s[1].append_value(r.longitude);
        enums[9].append_option(r.license_decision);
        i32s[2].append_option(r.dtmf_digits);
        m[0].append_option(r.customer_rate);
        i32s[3].append_option(r.customer_first_increment_s);
        i32s[4].append_option(r.customer_next_increment_s);
        m[1].append_option(r.customer_charge);
        m[2].append_option(r.provider_rate);
        i32s[5].append_option(r.provider_first_increment_s);
        i32s[6].append_option(r.provider_next_increment_s);
        m[3].append_option(r.provider_cost);
        i32s[7].append_option(r.user_rating);
    }
    let a = |b: &mut StringBuilder| Arc::new(b.finish()) as ArrayRef;
    let cols: Vec<ArrayRef> = vec![
        a(&mut s[0]),
        a(&mut s[1]),
        a(&mut s[2]),
        a(&mut s[3]),
        a(&mut s[4]),
        a(&mut enums[0]),
        a(&mut enums[1]),
        a(&mut s[5]),
        a(&mut s[6]),
        a(&mut s[7]),
        a(&mut s[8]),
        a(&mut s[9]),
        a(&mut s[10]),
        a(&mut s[11]),
        Arc::new(t[0].finish()),
        Arc::new(t[1].finish()),
        Arc::new(t[2].finish()),
        Arc::new(i64s[0].finish()),
        Arc::new(i64s[1].finish()),
        Arc::new(i64s[2].finish()),
        Arc::new(i32s[0].finish()),
        Arc::new(i32s[1].finish()),
        a(&mut enums[2]),
        a(&mut enums[3]),
        Arc::new(bools[0].finish()),
        Arc::new(bools[1].finish()),
        a(&mut enums[4]),
        a(&mut enums[5]),
        a(&mut enums[6]),
        a(&mut enums[7]),
        a(&mut enums[8]),
        a(&mut s[12]),
        a(&mut s[13]),
        a(&mut s[14]),
        a(&mut s[15]),
        Arc::new(f64s[0].finish()),
        Arc::new(f64s[1].finish()),
        a(&mut enums[9]),
        Arc::new(i32s[2].finish()),
        Arc::new(m[0].finish()),
        Arc::new(i32s[3].finish()),
        Arc::new(i32s[4].finish()),
        Arc::new(m[1].finish()),
        Arc::new(m[2].finish()),
        Arc::new(i32s[5].finish()),
        Arc::new(i32s[6].finish()),
        Arc::new(m[3].finish()),
        Arc::new(i32s[7].finish()),
    ];
    RecordBatch::try_new(landing_schema(def), cols)
}

#[derive(Default, Clone)]
pub struct StreamRow {
    pub tenant_id: String,
    pub call_id: String,
    pub stream_id: i32,
    pub media: &'static str,
    pub direction: &'static str,
    pub codec: &'static str,
    pub start_us: i64,
    pub duration_s: i64,
    pub packets_sent: i64,
    pub packets_received: i64,
    pub packets_lost: i64,
    pub loss_rate_avg: f64,
    pub loss_rate_max: f64,
    pub jitter_avg_ms: f64,
    pub jitter_max_ms: f64,
    pub rtt_avg_ms: f64,
    pub rtt_max_ms: f64,
    pub concealed_ratio: Option<f64>,
    pub degradation_avg: Option<f64>,
    pub mos_avg: Option<f64>,
    pub mos_min: Option<f64>,
    pub frame_rate_avg: Option<f64>,
    pub frame_loss_pct: Option<f64>,
    pub post_fec_loss_rate: Option<f64>,
    pub spoiled_tile_pct: Option<f64>,
    pub app_latency_ms: Option<f64>,
    pub relative_one_way_delay_ms: Option<f64>,
    pub lost_per_minute: Vec<i32>,
}

pub fn streams_batch(def: &TableDef, rows: &[StreamRow]) -> Result<RecordBatch, ArrowError> {
    let n = rows.len();
    let mut s: Vec<StringBuilder> = (0..5)
        .map(|_| StringBuilder::with_capacity(n, n * 10))
        .collect();
    let mut i32b = Int32Builder::with_capacity(n);
    let mut start = ts();
    let mut i64s: Vec<Int64Builder> = (0..4).map(|_| Int64Builder::with_capacity(n)).collect();
    let mut f: Vec<Float64Builder> = (0..16).map(|_| Float64Builder::with_capacity(n)).collect();
    let mut lpm = ListBuilder::new(Int32Builder::new());
    for r in rows {
        s[0].append_value(&r.tenant_id);
        s[1].append_value(&r.call_id);
        i32b.append_value(r.stream_id);
        s[2].append_value(r.media);
        s[3].append_value(r.direction);
        s[4].append_value(r.codec);
        start.append_value(r.start_us);
        i64s[0].append_value(r.duration_s);
        i64s[1].append_value(r.packets_sent);
        i64s[2].append_value(r.packets_received);
        i64s[3].append_value(r.packets_lost);
        f[0].append_value(r.loss_rate_avg);
        f[1].append_value(r.loss_rate_max);
        f[2].append_value(r.jitter_avg_ms);
        f[3].append_value(r.jitter_max_ms);
        f[4].append_value(r.rtt_avg_ms);
        f[5].append_value(r.rtt_max_ms);
        f[6].append_option(r.concealed_ratio);
        f[7].append_option(r.degradation_avg);
        f[8].append_option(r.mos_avg);
        f[9].append_option(r.mos_min);
        f[10].append_option(r.frame_rate_avg);
        f[11].append_option(r.frame_loss_pct);
        f[12].append_option(r.post_fec_loss_rate);
        f[13].append_option(r.spoiled_tile_pct);
        f[14].append_option(r.app_latency_ms);
        f[15].append_option(r.relative_one_way_delay_ms);
        lpm.values().append_slice(&r.lost_per_minute);
        lpm.append(true);
    }
    let mut fa = |i: usize| Arc::new(f[i].finish()) as ArrayRef;
    let cols: Vec<ArrayRef> = vec![
        Arc::new(s[0].finish()),
        Arc::new(s[1].finish()),
        Arc::new(i32b.finish()),
        Arc::new(s[2].finish()),
        Arc::new(s[3].finish()),
        Arc::new(s[4].finish()),
        Arc::new(start.finish()),
        Arc::new(i64s[0].finish()),
        Arc::new(i64s[1].finish()),
        Arc::new(i64s[2].finish()),
        Arc::new(i64s[3].finish()),
        fa(0),
        fa(1),
        fa(2),
        fa(3),
        fa(4),
        fa(5),
        fa(6),
        fa(7),
        fa(8),
        fa(9),
        fa(10),
        fa(11),
        fa(12),
        fa(13),
        fa(14),
        fa(15),
        Arc::new(lpm.finish()),
    ];
    RecordBatch::try_new(landing_schema(def), cols)
}

#[derive(Default, Clone)]
pub struct MessageRow {
    pub tenant_id: String,
    pub session_id: String,
    pub team_id: Option<String>,
    pub from_user: String,
    pub to_user: String,
    pub participants: i32,
    pub start_us: i64,
    pub end_us: Option<i64>,
    pub message_count: i32,
    pub outcome: &'static str,
    pub direction: &'static str,
}

pub fn messages_batch(def: &TableDef, rows: &[MessageRow]) -> Result<RecordBatch, ArrowError> {
    let mut s: Vec<StringBuilder> = (0..7).map(|_| StringBuilder::new()).collect();
    let mut i: Vec<Int32Builder> = (0..2).map(|_| Int32Builder::new()).collect();
    let mut t: Vec<TimestampMicrosecondBuilder> = (0..2).map(|_| ts()).collect();
    for r in rows {
        s[0].append_value(&r.tenant_id);
        s[1].append_value(&r.session_id);
        s[2].append_option(r.team_id.as_deref());
        s[3].append_value(&r.from_user);
        s[4].append_value(&r.to_user);
        i[0].append_value(r.participants);
        t[0].append_value(r.start_us);
        t[1].append_option(r.end_us);
        i[1].append_value(r.message_count);
        s[5].append_value(r.outcome);
        s[6].append_value(r.direction);
    }
    let cols: Vec<ArrayRef> = vec![
        Arc::new(s[0].finish()),
        Arc::new(s[1].finish()),
        Arc::new(s[2].finish()),
        Arc::new(s[3].finish()),
        Arc::new(s[4].finish()),
        Arc::new(i[0].finish()),
        Arc::new(t[0].finish()),
        Arc::new(t[1].finish()),
        Arc::new(i[1].finish()),
        Arc::new(s[5].finish()),
        Arc::new(s[6].finish()),
    ];
    RecordBatch::try_new(landing_schema(def), cols)
}

#[derive(Default, Clone)]
pub struct RegistrationRow {
    pub tenant_id: String,
    pub event_id: String,
    pub user_id: String,
    pub event_type: &'static str,
    pub event_us: i64,
    pub success: bool,
    pub failure_reason: Option<&'static str>,
    pub device_manufacturer: &'static str,
    pub device_model: &'static str,
    pub device_version: &'static str,
    pub mac: String,
    pub client_version: &'static str,
    pub user_agent: &'static str,
    pub ip: String,
}

pub fn registrations_batch(
    def: &TableDef,
    rows: &[RegistrationRow],
) -> Result<RecordBatch, ArrowError> {
    let mut s: Vec<StringBuilder> = (0..12).map(|_| StringBuilder::new()).collect();
    let mut t = ts();
    let mut b = BooleanBuilder::new();
    for r in rows {
        s[0].append_value(&r.tenant_id);
        s[1].append_value(&r.event_id);
        s[2].append_value(&r.user_id);
        s[3].append_value(r.event_type);
        t.append_value(r.event_us);
        b.append_value(r.success);
        s[4].append_option(r.failure_reason);
        s[5].append_value(r.device_manufacturer);
        s[6].append_value(r.device_model);
        s[7].append_value(r.device_version);
        s[8].append_value(&r.mac);
        s[9].append_value(r.client_version);
        s[10].append_value(r.user_agent);
        s[11].append_value(&r.ip);
    }
    let mut a = |i: usize| Arc::new(s[i].finish()) as ArrayRef;
    let cols: Vec<ArrayRef> = vec![
        a(0),
        a(1),
        a(2),
        a(3),
        Arc::new(t.finish()),
        Arc::new(b.finish()),
        a(4),
        a(5),
        a(6),
        a(7),
        a(8),
        a(9),
        a(10),
        a(11),
    ];
    RecordBatch::try_new(landing_schema(def), cols)
}

/// Builds a dimension-table batch from string, int and bool cells given per row.
pub enum Cell {
    Str(Option<String>),
    Int(i32),
    Bool(bool),
    StrList(Vec<&'static str>),
}

pub fn cells_batch(def: &TableDef, rows: &[Vec<Cell>]) -> Result<RecordBatch, ArrowError> {
    let mut cols: Vec<ArrayRef> = Vec::with_capacity(def.columns.len());
    for (ci, _) in def.columns.iter().enumerate() {
        let first = rows.first().map(|r| &r[ci]);
        let col: ArrayRef = match first {
            Some(Cell::Int(_)) => {
                let mut b = Int32Builder::new();
                for r in rows {
                    if let Cell::Int(v) = r[ci] {
                        b.append_value(v)
                    } else {
                        b.append_null()
                    }
                }
                Arc::new(b.finish())
            }
            Some(Cell::Bool(_)) => {
                let mut b = BooleanBuilder::new();
                for r in rows {
                    if let Cell::Bool(v) = r[ci] {
                        b.append_value(v)
                    } else {
                        b.append_null()
                    }
                }
                Arc::new(b.finish())
            }
            Some(Cell::StrList(_)) => {
                let mut b = ListBuilder::new(StringBuilder::new());
                for r in rows {
                    if let Cell::StrList(v) = &r[ci] {
                        for x in v {
                            b.values().append_value(x);
                        }
                    }
                    b.append(true);
                }
                Arc::new(b.finish())
            }
            _ => {
                let mut b = StringBuilder::new();
                for r in rows {
                    match &r[ci] {
                        Cell::Str(v) => b.append_option(v.as_deref()),
                        _ => b.append_null(),
                    }
                }
                Arc::new(b.finish())
            }
        };
        cols.push(col);
    }
    RecordBatch::try_new(landing_schema(def), cols)
}
