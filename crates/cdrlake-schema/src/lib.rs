//! The canonical CDR schema of cdrlake.
//!
//! Every table the lake holds is described here once, as data: its columns, their Arrow types,
//! which are required, and the validation rule each value must pass. Ingest validates against
//! these definitions, the engine registers tables under these names, and `docs/schema.md` is
//! generated from them (`cdrlake schema --markdown`), so the three cannot drift apart.

pub mod e164;
pub mod rollup;
pub use rollup::{CONCURRENCY_SLOTS, ROLLUPS, RollupDef};

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// The schema version written into every table's metadata. A change to any definition below
/// is a new version with a migration documented in `docs/schema.md`.
pub const SCHEMA_VERSION: u32 = 1;

/// Precision and scale of every money column: up to 10^12 with six decimal places, enough for
/// sub-cent per-minute rates.
pub const MONEY_PRECISION: u8 = 18;
pub const MONEY_SCALE: i8 = 6;

/// The name of the partition column every fact table carries: the UTC date of its time column.
pub const PARTITION_COLUMN: &str = "event_date";

/// The type of a canonical column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    Utf8,
    Bool,
    Int32,
    Int64,
    Float64,
    /// `Timestamp(Microsecond, "UTC")`.
    Timestamp,
    /// `Decimal128(MONEY_PRECISION, MONEY_SCALE)`.
    Money,
    /// `List<Int32>`.
    Int32List,
    /// `List<Utf8>`.
    Utf8List,
}

impl ColumnType {
    pub fn data_type(self) -> DataType {
        match self {
            ColumnType::Utf8 => DataType::Utf8,
            ColumnType::Bool => DataType::Boolean,
            ColumnType::Int32 => DataType::Int32,
            ColumnType::Int64 => DataType::Int64,
            ColumnType::Float64 => DataType::Float64,
            ColumnType::Timestamp => timestamp_type(),
            ColumnType::Money => DataType::Decimal128(MONEY_PRECISION, MONEY_SCALE),
            ColumnType::Int32List => {
                DataType::List(Arc::new(Field::new("item", DataType::Int32, true)))
            }
            ColumnType::Utf8List => {
                DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
            }
        }
    }

    /// How the type is written in the docs.
    pub fn doc_name(self) -> &'static str {
        match self {
            ColumnType::Utf8 => "string",
            ColumnType::Bool => "boolean",
            ColumnType::Int32 => "int32",
            ColumnType::Int64 => "int64",
            ColumnType::Float64 => "float64",
            ColumnType::Timestamp => "timestamp(us, UTC)",
            ColumnType::Money => "decimal(18,6)",
            ColumnType::Int32List => "list<int32>",
            ColumnType::Utf8List => "list<string>",
        }
    }
}

/// `Timestamp(Microsecond, "UTC")`, the one time type of the lake.
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// The rule a single value must pass. NULL always passes a rule; `required` is separate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rule {
    None,
    /// One of the listed values, matched without regard to ASCII case and stored as listed.
    Enum(&'static [&'static str]),
    /// A phone number, normalised to E.164 (`+` and 7 to 15 digits). National NANP formats
    /// (10 digits, or 11 starting with 1) become `+1...`; `00` and `011` prefixes become `+`.
    /// Withheld-caller tokens (`anonymous`, `restricted`, `private`, `unavailable`, empty)
    /// become NULL.
    E164,
    /// Zero or more.
    NonNegative,
    /// Between the bounds, inclusive. NaN fails.
    Range(f64, f64),
    /// An IANA time-zone name such as `America/Chicago`.
    TimeZone,
}

/// A cross-column rule of a table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RowRule {
    /// `later >= earlier` when both are present.
    NotBefore {
        earlier: &'static str,
        later: &'static str,
    },
    /// `column` is present when `when_column` equals `when_value`.
    RequiredWhen {
        column: &'static str,
        when_column: &'static str,
        when_value: &'static str,
    },
    /// `column` is NULL or zero unless `when_column` equals `when_value`.
    ZeroUnless {
        column: &'static str,
        when_column: &'static str,
        when_value: &'static str,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ColumnDef {
    pub name: &'static str,
    pub ty: ColumnType,
    pub required: bool,
    pub rule: Rule,
    pub doc: &'static str,
}

/// One canonical table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TableDef {
    pub name: &'static str,
    pub doc: &'static str,
    pub columns: &'static [ColumnDef],
    /// Columns that identify a row; duplicates within one landed file are rejected.
    pub key: &'static [&'static str],
    /// The time column whose UTC date becomes `event_date`; `None` for dimension tables,
    /// which are not partitioned.
    pub time_column: Option<&'static str>,
    pub row_rules: &'static [RowRule],
    /// Columns written with Parquet bloom filters (point lookups: numbers, ids).
    pub bloom_filter_columns: &'static [&'static str],
    /// Columns written without dictionary encoding besides the key: high-cardinality times
    /// and measurements, where nearly every value in a row group is distinct. Their
    /// dictionary page (the writer's 1 MB limit) is then the column itself, read and decoded
    /// before the first data page, plus an index per row; plain pages are read as they are.
    pub plain_columns: &'static [&'static str],
    /// The sort order of rows inside each data file.
    pub sort_columns: &'static [&'static str],
}

impl TableDef {
    pub fn column(&self, name: &str) -> Option<&'static ColumnDef> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The partition columns of the Delta table.
    pub fn partition_columns(&self) -> Vec<String> {
        match self.time_column {
            Some(_) => vec![PARTITION_COLUMN.to_string()],
            None => vec![],
        }
    }

    /// The Arrow schema of the curated table: the canonical columns, then `event_date` for
    /// fact tables.
    pub fn arrow_schema(&self) -> SchemaRef {
        let mut fields: Vec<Field> = self
            .columns
            .iter()
            .map(|c| Field::new(c.name, c.ty.data_type(), !c.required))
            .collect();
        if self.time_column.is_some() {
            fields.push(Field::new(PARTITION_COLUMN, DataType::Date32, false));
        }
        Arc::new(Schema::new(fields))
    }
}

const fn col(
    name: &'static str,
    ty: ColumnType,
    required: bool,
    rule: Rule,
    doc: &'static str,
) -> ColumnDef {
    ColumnDef {
        name,
        ty,
        required,
        rule,
        doc,
    }
}

use ColumnType::*;

pub const DIRECTIONS: &[&str] = &["inbound", "outbound", "internal"];
pub const CALL_MEDIA: &[&str] = &["audio", "video", "app_sharing", "file_transfer"];
pub const DISPOSITIONS: &[&str] = &[
    "answered",
    "busy",
    "no_answer",
    "failed",
    "rejected",
    "lost_to_queue",
];
pub const PROTOCOLS: &[&str] = &["SIP", "H323"];
pub const TRANSPORTS: &[&str] = &["UDP", "TCP", "TLS"];
pub const CONNECTIVITY: &[&str] = &["DIRECT", "RELAY"];
pub const LICENSE_DECISIONS: &[&str] = &["normal", "surged", "rejected"];
pub const STREAM_MEDIA: &[&str] = &["audio", "video", "video_screen_sharing", "app_sharing"];
pub const STREAM_DIRECTIONS: &[&str] = &["in", "out"];
pub const MESSAGE_OUTCOMES: &[&str] = &["accepted", "lost"];
pub const REGISTRATION_EVENTS: &[&str] = &["login", "logout"];
pub const NUMBER_TYPES: &[&str] = &[
    "user",
    "conference",
    "service",
    "auto_attendant",
    "queue",
    "fax",
    "toll_free",
];

pub const CALLS: TableDef = TableDef {
    name: "calls",
    doc: "One row per call attempt or call leg.",
    columns: &[
        col("tenant_id", Utf8, true, Rule::None, "Owning tenant."),
        col(
            "call_id",
            Utf8,
            true,
            Rule::None,
            "Unique id of this attempt or leg.",
        ),
        col(
            "team_id",
            Utf8,
            false,
            Rule::None,
            "Team of the tenant user involved.",
        ),
        col(
            "conference_id",
            Utf8,
            false,
            Rule::None,
            "Conference this leg joined.",
        ),
        col(
            "conference_organizer",
            Utf8,
            false,
            Rule::None,
            "User who organised the conference.",
        ),
        col(
            "direction",
            Utf8,
            true,
            Rule::Enum(DIRECTIONS),
            "inbound, outbound or internal, seen from the tenant.",
        ),
        col(
            "media",
            Utf8,
            true,
            Rule::Enum(CALL_MEDIA),
            "audio, video, app_sharing or file_transfer.",
        ),
        col(
            "caller_number",
            Utf8,
            false,
            Rule::E164,
            "Calling number (ANI), E.164; NULL when withheld.",
        ),
        col(
            "caller_user",
            Utf8,
            false,
            Rule::None,
            "Calling user or SIP address.",
        ),
        col(
            "callee_number",
            Utf8,
            false,
            Rule::E164,
            "Called number, E.164.",
        ),
        col(
            "callee_user",
            Utf8,
            false,
            Rule::None,
            "Called user or SIP address.",
        ),
        col(
            "dialled",
            Utf8,
            false,
            Rule::None,
            "The digits or URI as dialled, unnormalised.",
        ),
        col(
            "customer",
            Utf8,
            false,
            Rule::None,
            "Wholesale customer (originating account).",
        ),
        col(
            "provider",
            Utf8,
            false,
            Rule::None,
            "Wholesale provider (terminating carrier).",
        ),
        col(
            "invite_time",
            Timestamp,
            true,
            Rule::None,
            "When the call was offered (SIP INVITE).",
        ),
        col(
            "answer_time",
            Timestamp,
            false,
            Rule::None,
            "When it was answered; NULL if never.",
        ),
        col("end_time", Timestamp, true, Rule::None, "When it ended."),
        col(
            "duration_s",
            Int64,
            true,
            Rule::NonNegative,
            "Seconds from invite to end.",
        ),
        col(
            "billable_s",
            Int64,
            true,
            Rule::NonNegative,
            "Seconds from answer to end, as the switch billed them; 0 when not answered.",
        ),
        col(
            "pdd_ms",
            Int64,
            false,
            Rule::NonNegative,
            "Post-dial delay: INVITE to first 180/183, ms.",
        ),
        col(
            "sip_code",
            Int32,
            false,
            Rule::Range(100.0, 699.0),
            "Final SIP response code.",
        ),
        col(
            "q850_cause",
            Int32,
            false,
            Rule::Range(0.0, 127.0),
            "Q.850 release cause.",
        ),
        col(
            "end_reason",
            Utf8,
            false,
            Rule::None,
            "Why the call ended, as the platform names it.",
        ),
        col(
            "disposition",
            Utf8,
            true,
            Rule::Enum(DISPOSITIONS),
            "answered, busy, no_answer, failed, rejected or lost_to_queue.",
        ),
        col(
            "voicemail",
            Bool,
            false,
            Rule::None,
            "The call went to voicemail.",
        ),
        col(
            "is_pstn",
            Bool,
            false,
            Rule::None,
            "One side is on the PSTN.",
        ),
        col(
            "user_agent",
            Utf8,
            false,
            Rule::None,
            "SIP User-Agent of the endpoint.",
        ),
        col(
            "platform",
            Utf8,
            false,
            Rule::None,
            "Client platform (Windows, iOS, room system...).",
        ),
        col(
            "protocol",
            Utf8,
            false,
            Rule::Enum(PROTOCOLS),
            "SIP or H323.",
        ),
        col(
            "transport",
            Utf8,
            false,
            Rule::Enum(TRANSPORTS),
            "UDP, TCP or TLS.",
        ),
        col(
            "connectivity",
            Utf8,
            false,
            Rule::Enum(CONNECTIVITY),
            "DIRECT or RELAY (media through a relay).",
        ),
        col("source_ip", Utf8, false, Rule::None, "Endpoint IP address."),
        col(
            "country",
            Utf8,
            false,
            Rule::None,
            "Endpoint country (ISO 3166 alpha-2).",
        ),
        col(
            "region",
            Utf8,
            false,
            Rule::None,
            "Endpoint region or state.",
        ),
        col("city", Utf8, false, Rule::None, "Endpoint city."),
        col(
            "latitude",
            Float64,
            false,
            Rule::Range(-90.0, 90.0),
            "Endpoint latitude.",
        ),
        col(
            "longitude",
            Float64,
            false,
            Rule::Range(-180.0, 180.0),
            "Endpoint longitude.",
        ),
        col(
            "license_decision",
            Utf8,
            false,
            Rule::Enum(LICENSE_DECISIONS),
            "normal, surged or rejected, when the switch recorded its licence decision.",
        ),
        col(
            "dtmf_digits",
            Int32,
            false,
            Rule::NonNegative,
            "DTMF digits sent during the call.",
        ),
        col(
            "customer_rate",
            Money,
            false,
            Rule::NonNegative,
            "Customer rate per minute.",
        ),
        col(
            "customer_first_increment_s",
            Int32,
            false,
            Rule::NonNegative,
            "Customer billing: first increment, seconds (the a of a/b).",
        ),
        col(
            "customer_next_increment_s",
            Int32,
            false,
            Rule::NonNegative,
            "Customer billing: next increments, seconds (the b of a/b).",
        ),
        col(
            "customer_charge",
            Money,
            false,
            Rule::NonNegative,
            "What the customer is charged.",
        ),
        col(
            "provider_rate",
            Money,
            false,
            Rule::NonNegative,
            "Provider rate per minute.",
        ),
        col(
            "provider_first_increment_s",
            Int32,
            false,
            Rule::NonNegative,
            "Provider billing: first increment, seconds.",
        ),
        col(
            "provider_next_increment_s",
            Int32,
            false,
            Rule::NonNegative,
            "Provider billing: next increments, seconds.",
        ),
        col(
            "provider_cost",
            Money,
            false,
            Rule::NonNegative,
            "What the provider costs.",
        ),
        col(
            "user_rating",
            Int32,
            false,
            Rule::Range(1.0, 5.0),
            "User rating 1 (bad) to 5 (excellent); NULL when not rated.",
        ),
    ],
    key: &["call_id"],
    time_column: Some("invite_time"),
    row_rules: &[
        RowRule::NotBefore {
            earlier: "invite_time",
            later: "end_time",
        },
        RowRule::NotBefore {
            earlier: "invite_time",
            later: "answer_time",
        },
        RowRule::NotBefore {
            earlier: "answer_time",
            later: "end_time",
        },
        RowRule::RequiredWhen {
            column: "answer_time",
            when_column: "disposition",
            when_value: "answered",
        },
        RowRule::ZeroUnless {
            column: "billable_s",
            when_column: "disposition",
            when_value: "answered",
        },
    ],
    bloom_filter_columns: &["call_id", "caller_number", "callee_number"],
    plain_columns: &[
        "invite_time",
        "answer_time",
        "end_time",
        "latitude",
        "longitude",
    ],
    sort_columns: &["tenant_id", "invite_time"],
};

pub const STREAMS: TableDef = TableDef {
    name: "streams",
    doc: "One row per media stream of a call (audio, video, content; in or out).",
    columns: &[
        col("tenant_id", Utf8, true, Rule::None, "Owning tenant."),
        col(
            "call_id",
            Utf8,
            true,
            Rule::None,
            "The call (calls.call_id) this stream belongs to.",
        ),
        col(
            "stream_id",
            Int32,
            true,
            Rule::NonNegative,
            "Index of the stream within its call.",
        ),
        col(
            "media",
            Utf8,
            true,
            Rule::Enum(STREAM_MEDIA),
            "audio, video, video_screen_sharing or app_sharing.",
        ),
        col(
            "direction",
            Utf8,
            true,
            Rule::Enum(STREAM_DIRECTIONS),
            "in or out, seen from the tenant endpoint.",
        ),
        col(
            "codec",
            Utf8,
            false,
            Rule::None,
            "Codec name (G.711, Opus, H.264...).",
        ),
        col(
            "start_time",
            Timestamp,
            true,
            Rule::None,
            "When the stream started.",
        ),
        col(
            "duration_s",
            Int64,
            true,
            Rule::NonNegative,
            "Stream duration, seconds.",
        ),
        col(
            "packets_sent",
            Int64,
            false,
            Rule::NonNegative,
            "RTP packets sent.",
        ),
        col(
            "packets_received",
            Int64,
            false,
            Rule::NonNegative,
            "RTP packets received.",
        ),
        col(
            "packets_lost",
            Int64,
            false,
            Rule::NonNegative,
            "RTP packets lost.",
        ),
        col(
            "loss_rate_avg",
            Float64,
            false,
            Rule::Range(0.0, 1.0),
            "Average packet-loss rate (fraction, 0.1 = 10 %).",
        ),
        col(
            "loss_rate_max",
            Float64,
            false,
            Rule::Range(0.0, 1.0),
            "Maximum packet-loss rate (fraction).",
        ),
        col(
            "jitter_avg_ms",
            Float64,
            false,
            Rule::NonNegative,
            "Average jitter, ms.",
        ),
        col(
            "jitter_max_ms",
            Float64,
            false,
            Rule::NonNegative,
            "Maximum jitter, ms.",
        ),
        col(
            "rtt_avg_ms",
            Float64,
            false,
            Rule::NonNegative,
            "Average round trip, ms.",
        ),
        col(
            "rtt_max_ms",
            Float64,
            false,
            Rule::NonNegative,
            "Maximum round trip, ms.",
        ),
        col(
            "concealed_ratio",
            Float64,
            false,
            Rule::Range(0.0, 1.0),
            "Share of concealed (healed) samples.",
        ),
        col(
            "degradation_avg",
            Float64,
            false,
            Rule::NonNegative,
            "Average network MOS degradation.",
        ),
        col(
            "mos_avg",
            Float64,
            false,
            Rule::Range(1.0, 5.0),
            "Average MOS the endpoint reported.",
        ),
        col(
            "mos_min",
            Float64,
            false,
            Rule::Range(1.0, 5.0),
            "Lowest MOS the endpoint reported.",
        ),
        col(
            "frame_rate_avg",
            Float64,
            false,
            Rule::NonNegative,
            "Video: average frames per second.",
        ),
        col(
            "frame_loss_pct",
            Float64,
            false,
            Rule::Range(0.0, 100.0),
            "Video: frames lost, percent.",
        ),
        col(
            "post_fec_loss_rate",
            Float64,
            false,
            Rule::Range(0.0, 1.0),
            "Video: loss after forward error correction (fraction).",
        ),
        col(
            "spoiled_tile_pct",
            Float64,
            false,
            Rule::Range(0.0, 100.0),
            "App sharing: spoiled tiles, percent.",
        ),
        col(
            "app_latency_ms",
            Float64,
            false,
            Rule::NonNegative,
            "App sharing: processing latency, ms.",
        ),
        col(
            "relative_one_way_delay_ms",
            Float64,
            false,
            Rule::NonNegative,
            "App sharing: relative one-way delay, ms.",
        ),
        col(
            "lost_per_minute",
            Int32List,
            false,
            Rule::None,
            "Packets lost in each minute of the stream, for the per-minute chart.",
        ),
    ],
    key: &["call_id", "stream_id"],
    time_column: Some("start_time"),
    row_rules: &[],
    bloom_filter_columns: &["call_id"],
    plain_columns: &[
        "start_time",
        "loss_rate_avg",
        "loss_rate_max",
        "jitter_avg_ms",
        "jitter_max_ms",
        "rtt_avg_ms",
        "rtt_max_ms",
        "concealed_ratio",
        "degradation_avg",
        "mos_avg",
        "mos_min",
    ],
    sort_columns: &["tenant_id", "start_time"],
};

pub const MESSAGES: TableDef = TableDef {
    name: "messages",
    doc: "One row per instant-messaging session.",
    columns: &[
        col("tenant_id", Utf8, true, Rule::None, "Owning tenant."),
        col(
            "session_id",
            Utf8,
            true,
            Rule::None,
            "Unique id of the IM session.",
        ),
        col(
            "team_id",
            Utf8,
            false,
            Rule::None,
            "Team the session was routed to.",
        ),
        col(
            "from_user",
            Utf8,
            false,
            Rule::None,
            "Initiating user or address.",
        ),
        col(
            "to_user",
            Utf8,
            false,
            Rule::None,
            "First recipient user or address.",
        ),
        col(
            "participants",
            Int32,
            true,
            Rule::NonNegative,
            "Number of participants.",
        ),
        col("start_time", Timestamp, true, Rule::None, "Session start."),
        col("end_time", Timestamp, false, Rule::None, "Session end."),
        col(
            "message_count",
            Int32,
            true,
            Rule::NonNegative,
            "Messages exchanged.",
        ),
        col(
            "outcome",
            Utf8,
            true,
            Rule::Enum(MESSAGE_OUTCOMES),
            "accepted or lost.",
        ),
        col(
            "direction",
            Utf8,
            false,
            Rule::Enum(DIRECTIONS),
            "inbound, outbound or internal.",
        ),
    ],
    key: &["session_id"],
    time_column: Some("start_time"),
    row_rules: &[RowRule::NotBefore {
        earlier: "start_time",
        later: "end_time",
    }],
    bloom_filter_columns: &["session_id"],
    plain_columns: &[],
    sort_columns: &["tenant_id", "start_time"],
};

pub const REGISTRATIONS: TableDef = TableDef {
    name: "registrations",
    doc: "One row per login or logout of a user's device or client.",
    columns: &[
        col("tenant_id", Utf8, true, Rule::None, "Owning tenant."),
        col(
            "event_id",
            Utf8,
            true,
            Rule::None,
            "Unique id of the event.",
        ),
        col("user_id", Utf8, true, Rule::None, "The user."),
        col(
            "event_type",
            Utf8,
            true,
            Rule::Enum(REGISTRATION_EVENTS),
            "login or logout.",
        ),
        col(
            "event_time",
            Timestamp,
            true,
            Rule::None,
            "When it happened.",
        ),
        col(
            "success",
            Bool,
            true,
            Rule::None,
            "Whether the login succeeded.",
        ),
        col(
            "failure_reason",
            Utf8,
            false,
            Rule::None,
            "Why a login failed.",
        ),
        col(
            "device_manufacturer",
            Utf8,
            false,
            Rule::None,
            "Device manufacturer.",
        ),
        col("device_model", Utf8, false, Rule::None, "Device model."),
        col(
            "device_version",
            Utf8,
            false,
            Rule::None,
            "Device firmware version.",
        ),
        col("mac", Utf8, false, Rule::None, "Device MAC address."),
        col(
            "client_version",
            Utf8,
            false,
            Rule::None,
            "Client software version.",
        ),
        col("user_agent", Utf8, false, Rule::None, "User-Agent string."),
        col("ip", Utf8, false, Rule::None, "Client IP address."),
    ],
    key: &["event_id"],
    time_column: Some("event_time"),
    row_rules: &[],
    bloom_filter_columns: &["user_id"],
    plain_columns: &[],
    sort_columns: &["tenant_id", "event_time"],
};

pub const TENANTS: TableDef = TableDef {
    name: "tenants",
    doc: "One row per tenant (customer organisation of the platform).",
    columns: &[
        col("tenant_id", Utf8, true, Rule::None, "Tenant id."),
        col("name", Utf8, true, Rule::None, "Display name."),
        col(
            "time_zone",
            Utf8,
            true,
            Rule::TimeZone,
            "IANA time zone; reports bucket time in it.",
        ),
        col(
            "licenses",
            Int32,
            true,
            Rule::NonNegative,
            "Concurrent-call licences.",
        ),
        col(
            "retention_days",
            Int32,
            true,
            Rule::NonNegative,
            "Days of CDRs to keep.",
        ),
    ],
    key: &["tenant_id"],
    time_column: None,
    row_rules: &[],
    bloom_filter_columns: &[],
    plain_columns: &[],
    sort_columns: &["tenant_id"],
};

pub const TEAMS: TableDef = TableDef {
    name: "teams",
    doc: "One row per team of a tenant.",
    columns: &[
        col("tenant_id", Utf8, true, Rule::None, "Owning tenant."),
        col("team_id", Utf8, true, Rule::None, "Team id."),
        col("name", Utf8, true, Rule::None, "Display name."),
    ],
    key: &["tenant_id", "team_id"],
    time_column: None,
    row_rules: &[],
    bloom_filter_columns: &[],
    plain_columns: &[],
    sort_columns: &["tenant_id", "team_id"],
};

pub const USERS: TableDef = TableDef {
    name: "users",
    doc: "One row per user of a tenant.",
    columns: &[
        col("tenant_id", Utf8, true, Rule::None, "Owning tenant."),
        col("user_id", Utf8, true, Rule::None, "User id."),
        col("display_name", Utf8, false, Rule::None, "Display name."),
        col(
            "team_id",
            Utf8,
            false,
            Rule::None,
            "Team the user belongs to.",
        ),
        col(
            "enabled",
            Bool,
            true,
            Rule::None,
            "Whether the account is enabled.",
        ),
        col(
            "sip_address",
            Utf8,
            false,
            Rule::None,
            "SIP address (sip:user@domain).",
        ),
        col(
            "number",
            Utf8,
            false,
            Rule::E164,
            "Assigned phone number, E.164.",
        ),
        col(
            "features",
            Utf8List,
            false,
            Rule::None,
            "Enabled features (enterprise_voice, conferencing, im...).",
        ),
    ],
    key: &["tenant_id", "user_id"],
    time_column: None,
    row_rules: &[],
    bloom_filter_columns: &[],
    plain_columns: &[],
    sort_columns: &["tenant_id", "user_id"],
};

pub const NUMBERS: TableDef = TableDef {
    name: "numbers",
    doc: "Phone-number inventory: one row per number.",
    columns: &[
        col("tenant_id", Utf8, true, Rule::None, "Owning tenant."),
        col("number", Utf8, true, Rule::E164, "The number, E.164."),
        col(
            "number_type",
            Utf8,
            true,
            Rule::Enum(NUMBER_TYPES),
            "user, conference, service, auto_attendant, queue, fax or toll_free.",
        ),
        col(
            "assigned_to",
            Utf8,
            false,
            Rule::None,
            "User or service it is assigned to; NULL when free.",
        ),
        col(
            "range_start",
            Utf8,
            false,
            Rule::E164,
            "First number of the range it belongs to.",
        ),
        col(
            "range_end",
            Utf8,
            false,
            Rule::E164,
            "Last number of that range.",
        ),
    ],
    key: &["number"],
    time_column: None,
    row_rules: &[],
    bloom_filter_columns: &[],
    plain_columns: &[],
    sort_columns: &["tenant_id", "number"],
};

/// Every table, facts first.
pub const TABLES: &[TableDef] = &[
    CALLS,
    STREAMS,
    MESSAGES,
    REGISTRATIONS,
    TENANTS,
    TEAMS,
    USERS,
    NUMBERS,
];

/// Looks a table up by name.
pub fn table(name: &str) -> Option<&'static TableDef> {
    TABLES.iter().find(|t| t.name == name)
}

/// The names of all tables, for error messages.
pub fn table_names() -> Vec<&'static str> {
    TABLES.iter().map(|t| t.name).collect()
}

/// The schema of the quarantine table that holds each table's rejected rows.
pub fn quarantine_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("source_file", DataType::Utf8, false),
        Field::new("source_row", DataType::Int64, true),
        Field::new("column_name", DataType::Utf8, true),
        Field::new("kind", DataType::Utf8, false),
        Field::new("reason", DataType::Utf8, false),
        Field::new("all_errors", DataType::Utf8, false),
        Field::new("raw_row", DataType::Utf8, true),
        Field::new("rows", DataType::Int64, false),
        Field::new("quarantined_at", timestamp_type(), false),
    ]))
}

/// The name under which a table's quarantine is registered in the engine.
pub fn quarantine_table_name(table: &str) -> String {
    format!("quarantine_{table}")
}

/// `docs/schema.md`'s generated part: one section per table.
pub fn markdown() -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "<!-- generated by `cdrlake schema --markdown` from crates/cdrlake-schema; schema version {SCHEMA_VERSION} -->\n"
    ));
    for t in TABLES {
        out.push_str(&format!("\n### `{}`\n\n{}\n\n", t.name, t.doc));
        out.push_str(&format!("Key: `{}`. ", t.key.join("`, `")));
        match t.time_column {
            Some(tc) => out.push_str(&format!(
                "Partitioned by `{PARTITION_COLUMN}` (UTC date of `{tc}`). "
            )),
            None => out.push_str("Not partitioned. "),
        }
        out.push_str(&format!("Sorted by `{}`.", t.sort_columns.join("`, `")));
        if !t.bloom_filter_columns.is_empty() {
            out.push_str(&format!(
                " Bloom filters on `{}`.",
                t.bloom_filter_columns.join("`, `")
            ));
        }
        if !t.plain_columns.is_empty() {
            out.push_str(&format!(
                " No dictionary encoding on `{}` (nearly unique values).",
                t.plain_columns.join("`, `")
            ));
        }
        out.push_str("\n\n| column | type | required | rule | meaning |\n|---|---|---|---|---|\n");
        for c in t.columns {
            out.push_str(&format!(
                "| `{}` | {} | {} | {} | {} |\n",
                c.name,
                c.ty.doc_name(),
                if c.required { "yes" } else { "" },
                rule_doc(&c.rule),
                c.doc
            ));
        }
        if !t.row_rules.is_empty() {
            out.push_str("\nRow rules:\n");
            for r in t.row_rules {
                out.push_str(&format!("- {}\n", row_rule_doc(r)));
            }
        }
    }
    out
}

fn rule_doc(rule: &Rule) -> String {
    match rule {
        Rule::None => String::new(),
        Rule::Enum(values) => format!("one of {}", values.join(", ")),
        Rule::E164 => "E.164".into(),
        Rule::NonNegative => ">= 0".into(),
        Rule::Range(lo, hi) => format!("{lo} to {hi}"),
        Rule::TimeZone => "IANA time zone".into(),
    }
}

pub fn row_rule_doc(rule: &RowRule) -> String {
    match rule {
        RowRule::NotBefore { earlier, later } => format!("`{later}` >= `{earlier}`"),
        RowRule::RequiredWhen {
            column,
            when_column,
            when_value,
        } => format!("`{column}` is required when `{when_column}` is `{when_value}`"),
        RowRule::ZeroUnless {
            column,
            when_column,
            when_value,
        } => format!("`{column}` is 0 unless `{when_column}` is `{when_value}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_has_tenant_and_its_key_columns() {
        for t in TABLES {
            assert!(
                t.column("tenant_id").is_some(),
                "{} lacks tenant_id",
                t.name
            );
            for k in t
                .key
                .iter()
                .chain(t.sort_columns)
                .chain(t.bloom_filter_columns)
                .chain(t.plain_columns)
            {
                assert!(t.column(k).is_some(), "{}: unknown column {k}", t.name);
            }
            if let Some(tc) = t.time_column {
                assert_eq!(t.column(tc).map(|c| c.ty), Some(ColumnType::Timestamp));
            }
        }
    }

    #[test]
    fn row_rules_name_real_columns() {
        for t in TABLES {
            for r in t.row_rules {
                let names: Vec<&str> = match r {
                    RowRule::NotBefore { earlier, later } => vec![earlier, later],
                    RowRule::RequiredWhen {
                        column,
                        when_column,
                        ..
                    }
                    | RowRule::ZeroUnless {
                        column,
                        when_column,
                        ..
                    } => vec![column, when_column],
                };
                for n in names {
                    assert!(t.column(n).is_some(), "{}: unknown column {n}", t.name);
                }
            }
        }
    }

    #[test]
    fn docs_schema_md_is_up_to_date() {
        let doc =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/schema.md"))
                .expect("docs/schema.md exists");
        assert!(
            doc.contains(&markdown()),
            "docs/schema.md is stale: regenerate its table part with `cdrlake schema --markdown`"
        );
    }

    #[test]
    fn money_and_time_types() {
        let s = CALLS.arrow_schema();
        assert_eq!(
            s.field_with_name("customer_charge")
                .map(|f| f.data_type().clone())
                .ok(),
            Some(DataType::Decimal128(18, 6))
        );
        assert_eq!(
            s.field_with_name("invite_time")
                .map(|f| f.data_type().clone())
                .ok(),
            Some(timestamp_type())
        );
    }
}
