//! Rollups: hourly aggregates of the raw tables that dashboard reports read instead of raw
//! calls. Each is one SQL query in `sql/rollups/<name>.sql` over the raw tables, grouped by
//! `event_date` (the UTC date partition of the rows it summarises) among other columns, and
//! stored as a Delta table under `rollups/<name>/v<version>/` partitioned by `event_date`. A change to
//! one partition of a source table rebuilds that partition of the rollup; a change to a
//! dimension source (tenants: their time zones) rebuilds all of it.

/// One rollup.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RollupDef {
    pub name: &'static str,
    /// Bumped whenever the query changes: each version has its own Delta table, so a changed
    /// rollup is built afresh beside the old one (which `rm -r` may then remove).
    pub version: u32,
    pub doc: &'static str,
    /// Partitioned source tables: a data change in partition D rebuilds partition D.
    pub fact_sources: &'static [&'static str],
    /// Dimension sources: any data change rebuilds every partition.
    pub dimension_sources: &'static [&'static str],
    /// The query, over the lake's tables, whose result the rollup stores.
    pub sql: &'static str,
    /// The columns the rollup's rows are sorted by in each file.
    pub sort_columns: &'static [&'static str],
    /// Columns with a Parquet bloom filter (1 % false positives): point lookups of a value
    /// that is in few partitions skip the others' row groups without reading their pages.
    pub bloom_filter_columns: &'static [&'static str],
    /// Columns written without dictionary encoding: the high-cardinality columns of a lookup
    /// index. A dictionary page (up to 1 MB per column chunk) is read and decoded before any
    /// data page of its chunk, even when the page index keeps a single page of it.
    pub plain_columns: &'static [&'static str],
    /// How a team admin's rows are chosen: None, by `team_id` (the rollup has it); Some(c),
    /// through the user named by column `c` (a user of one of the teams).
    pub team_user_column: Option<&'static str>,
}

impl RollupDef {
    /// The rollup's Delta table, relative to the store root: `rollups/<name>/v<version>`.
    pub fn folder(&self) -> String {
        format!("rollups/{}/v{}", self.name, self.version)
    }

    /// Every source table.
    pub fn sources(&self) -> impl Iterator<Item = &'static str> {
        self.fact_sources
            .iter()
            .chain(self.dimension_sources)
            .copied()
    }
}

pub const CALLS_HOURLY: RollupDef = RollupDef {
    name: "calls_hourly",
    version: 1,
    doc: "Calls per tenant, team and tenant-local hour, by end reason and disposition: counts, billable seconds (all, PSTN, per media) and inbound non-conference calls.",
    fact_sources: &["calls"],
    dimension_sources: &["tenants"],
    sql: include_str!("../../../sql/rollups/calls_hourly.sql"),
    sort_columns: &["tenant_id", "local_hour"],
    bloom_filter_columns: &[],
    plain_columns: &[],
    team_user_column: None,
};

pub const IMS_HOURLY: RollupDef = RollupDef {
    name: "ims_hourly",
    version: 1,
    doc: "IM sessions per tenant, team and tenant-local hour, by direction and outcome: sessions, messages, and the duration of the accepted sessions.",
    fact_sources: &["messages"],
    dimension_sources: &["tenants"],
    sql: include_str!("../../../sql/rollups/ims_hourly.sql"),
    sort_columns: &["tenant_id", "local_hour"],
    bloom_filter_columns: &[],
    plain_columns: &[],
    team_user_column: None,
};

pub const TEAM_CALLS_HOURLY: RollupDef = RollupDef {
    name: "team_calls_hourly",
    version: 1,
    doc: "Team calls (with a team, not conference legs) per tenant, team and tenant-local hour: accepted, lost, by direction, direct (not to a queue number), answered seconds, voicemails.",
    fact_sources: &["calls"],
    dimension_sources: &["tenants", "numbers"],
    sql: include_str!("../../../sql/rollups/team_calls_hourly.sql"),
    sort_columns: &["tenant_id", "local_hour"],
    bloom_filter_columns: &[],
    plain_columns: &[],
    team_user_column: None,
};

pub const ACTIVITY_HOURLY: RollupDef = RollupDef {
    name: "activity_hourly",
    version: 1,
    doc: "Activity per tenant, team and tenant-local hour: calls, answered calls, billable seconds (all, PSTN), answered calls and seconds per media, IM sessions and messages (all, accepted).",
    fact_sources: &["calls", "messages"],
    dimension_sources: &["tenants"],
    sql: include_str!("../../../sql/rollups/activity_hourly.sql"),
    sort_columns: &["tenant_id", "local_hour"],
    bloom_filter_columns: &[],
    plain_columns: &[],
    team_user_column: None,
};

pub const LOGINS_HOURLY: RollupDef = RollupDef {
    name: "logins_hourly",
    version: 1,
    doc: "Successful logins per tenant, user and tenant-local hour (distinct users over any period).",
    fact_sources: &["registrations"],
    dimension_sources: &["tenants"],
    sql: include_str!("../../../sql/rollups/logins_hourly.sql"),
    sort_columns: &["tenant_id", "local_hour"],
    bloom_filter_columns: &[],
    plain_columns: &[],
    team_user_column: Some("user_id"),
};

pub const RATINGS_HOURLY: RollupDef = RollupDef {
    name: "ratings_hourly",
    version: 1,
    doc: "Rated calls per tenant, team, rated user and tenant-local hour: count, sum, lowest, and count per rating 1-5.",
    fact_sources: &["calls"],
    dimension_sources: &["tenants"],
    sql: include_str!("../../../sql/rollups/ratings_hourly.sql"),
    sort_columns: &["tenant_id", "local_hour"],
    bloom_filter_columns: &[],
    plain_columns: &[],
    team_user_column: None,
};

pub const CALLS_DAILY: RollupDef = RollupDef {
    name: "calls_daily",
    version: 2,
    doc: "Calls per tenant, team, customer, provider, UTC date and tenant-local date: attempts, answered, billable seconds, customer charge and provider cost (decimal), calls surged and rejected by the licence check; and for the calls that carried DTMF: calls, digits, answered, billable seconds, charge and cost.",
    fact_sources: &["calls"],
    dimension_sources: &["tenants"],
    sql: include_str!("../../../sql/rollups/calls_daily.sql"),
    sort_columns: &["tenant_id", "customer", "provider"],
    bloom_filter_columns: &[],
    plain_columns: &[],
    team_user_column: None,
};

pub const CALLS_BY_NUMBER: RollupDef = RollupDef {
    name: "calls_by_number",
    version: 1,
    doc: "A number index: one row per call and number it involves (caller, and callee when different) with the call's id, time, numbers, duration and charge, sorted by number then time, for per-number histories.",
    fact_sources: &["calls"],
    dimension_sources: &[],
    sql: include_str!("../../../sql/rollups/calls_by_number.sql"),
    sort_columns: &["number", "invite_time"],
    bloom_filter_columns: &["number"],
    plain_columns: &[
        "number",
        "call_id",
        "invite_time",
        "caller_number",
        "callee_number",
    ],
    team_user_column: None,
};

pub const CONFERENCE_LEGS: RollupDef = RollupDef {
    name: "conference_legs",
    version: 1,
    doc: "A conference leg index: one row per call with a conference_id (answered or not) with its tenant, team, conference, organizer, call id, times, disposition, PSTN flag and billable seconds, sorted by tenant then invite time, for the conference reports.",
    fact_sources: &["calls"],
    dimension_sources: &[],
    sql: include_str!("../../../sql/rollups/conference_legs.sql"),
    sort_columns: &["tenant_id", "invite_time"],
    bloom_filter_columns: &[],
    plain_columns: &[],
    team_user_column: None,
};

/// Peak concurrency per tenant and UTC quarter hour (answered calls, [answer_time, end_time)),
/// which `concurrency()` folds into local hours and days. Kept apart from [`ROLLUPS`]: a day's
/// rows depend on every call still connected that day, whichever `event_date` partition holds
/// it, so its refresh recomputes the days each changed partition reaches (the jobs crate keeps
/// that reach per partition in the rollup's commit metadata), not just the changed partitions.
/// Its `sql` has two parameters, `$from` and `$to` (UTC midnights), the days it computes.
pub const CONCURRENCY_SLOTS: RollupDef = RollupDef {
    name: "concurrency_slots",
    version: 1,
    doc: "Connected calls per tenant and UTC quarter hour: calls answered in the quarter hour (joined) and the peak number of calls connected at any instant of it (max_concurrent, counting calls answered earlier); only quarter hours with a call. Local hours and days are unions of UTC quarter hours in every time zone in use, so concurrency() answers 'hour' and 'day' buckets from it. Absent from a session while it is behind the calls table (concurrency() then reads raw calls) and for team admins.",
    fact_sources: &["calls"],
    dimension_sources: &[],
    sql: include_str!("../../../sql/rollups/concurrency_slots.sql"),
    sort_columns: &["tenant_id", "slot_start"],
    bloom_filter_columns: &[],
    plain_columns: &[],
    team_user_column: None,
};

/// Every rollup, in the order jobs refresh them.
pub const ROLLUPS: &[RollupDef] = &[
    CALLS_HOURLY,
    IMS_HOURLY,
    TEAM_CALLS_HOURLY,
    ACTIVITY_HOURLY,
    LOGINS_HOURLY,
    RATINGS_HOURLY,
    CALLS_DAILY,
    CALLS_BY_NUMBER,
    CONFERENCE_LEGS,
];

pub fn rollup(name: &str) -> Option<&'static RollupDef> {
    ROLLUPS.iter().find(|r| r.name == name)
}

/// Every rollup's Delta table, [`CONCURRENCY_SLOTS`] included (vacuum, listings).
pub fn all_rollups() -> impl Iterator<Item = &'static RollupDef> {
    ROLLUPS.iter().chain(std::iter::once(&CONCURRENCY_SLOTS))
}
