//! cdrlake's reports: every report is a versioned SQL query in `sql/reports/<name>/v<N>.sql`,
//! compiled into the binary and served as
//!
//! - table functions `reports.<name>_v<N>(arg, ...)` and `reports.<name>(arg, ...)` (the
//!   latest version), whose positional arguments are the report's parameters (a missing
//!   or NULL argument takes the parameter's default);
//! - tables `reports.<name>_v<N>` and `reports.<name>` with every parameter at its default,
//!   which BI tools list and filter with WHERE;
//! - `reports.catalog`, one row per version: name, version, title, description, parameters
//!   and columns.
//!
//! A report runs in the caller's session: its query is planned when the caller's query is,
//! against the caller's tables, so whatever that session restricts (a tenant's rows, say)
//! the report sees restricted too. Ratios are computed by each report's own query over the
//! requested period and filters.
//!
//! Published versions never change: `sql/reports.lock` records each one's SHA-256 and
//! [`Catalog::builtin`] refuses a build whose reports disagree with it.

mod catalog;
mod provider;

pub use catalog::{
    Catalog, LOCK_FILE, Param, ParamType, REPORTS_DIR, Report, ReportError, sha256_hex,
};
pub use provider::{
    PreparedReports, REPORTS_SCHEMA, install, literal_sql, plan_report, prepare, register,
    rewrite_report_calls, sql_statement,
};
