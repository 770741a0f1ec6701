//! The clock as an input: every service reads the time through a [`Clock`], never from the system.
//!
//! In production the clock is the system's. Tests and demos start it at a chosen business date
//! (`--clock 2027-11-30`, `BUENDEL_CLOCK`): the time then runs on from noon UTC of that date at the
//! system's pace, so event times still advance and the date stays the chosen one for twelve hours.
//! A frozen clock ([`Clock::frozen`]) never moves, for pure tests.

use std::fmt;
use std::str::FromStr;
use std::time::Instant;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

/// Where the time comes from.
#[derive(Clone, Copy)]
enum Source {
    /// The system's clock.
    System,
    /// `start` at the moment `since`, running on at the system's pace.
    Started {
        /// The time at `since`.
        start: DateTime<Utc>,
        /// When the clock was started (monotonic).
        since: Instant,
    },
    /// Always this instant.
    Frozen(DateTime<Utc>),
}

/// The time as the services see it. Cheap to copy.
#[derive(Clone, Copy)]
pub struct Clock(Source);

impl Clock {
    /// The system's clock.
    pub fn system() -> Self {
        Self(Source::System)
    }

    /// A clock that reads noon UTC of `date` now and runs on from there.
    pub fn starting_on(date: NaiveDate) -> Self {
        let start = date.and_hms_opt(12, 0, 0).unwrap_or_default().and_utc();
        Self(Source::Started {
            start,
            since: Instant::now(),
        })
    }

    /// A clock that always reads `instant`.
    pub fn frozen(instant: DateTime<Utc>) -> Self {
        Self(Source::Frozen(instant))
    }

    /// The current time.
    pub fn now(&self) -> DateTime<Utc> {
        match self.0 {
            Source::System => Utc::now(),
            Source::Started { start, since } => {
                let elapsed = TimeDelta::from_std(since.elapsed()).unwrap_or(TimeDelta::MAX);
                start.checked_add_signed(elapsed).unwrap_or(start)
            }
            Source::Frozen(instant) => instant,
        }
    }

    /// The business date: today in UTC.
    pub fn today(&self) -> NaiveDate {
        self.now().date_naive()
    }

    /// Whether this is the system's clock.
    pub fn is_system(&self) -> bool {
        matches!(self.0, Source::System)
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Source::System => f.write_str("system"),
            Source::Started { start, .. } => write!(f, "started on {}", start.date_naive()),
            Source::Frozen(instant) => write!(f, "frozen at {instant}"),
        }
    }
}

impl fmt::Display for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Source::System => f.write_str("system"),
            Source::Started { start, .. } => write!(f, "{}", start.date_naive()),
            Source::Frozen(instant) => write!(f, "{}", instant.to_rfc3339()),
        }
    }
}

/// Why a clock setting was refused.
#[derive(Debug, thiserror::Error)]
#[error("clock {0:?}: expected `system` or a date YYYY-MM-DD")]
pub struct ClockError(String);

impl FromStr for Clock {
    type Err = ClockError;

    /// `system`, or a date `YYYY-MM-DD` to start on.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("system") {
            return Ok(Self::system());
        }
        NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map(Self::starting_on)
            .map_err(|_| ClockError(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("a date")
    }

    #[test]
    fn a_started_clock_reads_its_date_and_runs_on() {
        let clock: Clock = "2027-11-30".parse().expect("a clock");
        let first = clock.now();
        assert_eq!(clock.today(), day(2027, 11, 30));
        assert!(clock.now() >= first);
        assert!(!clock.is_system());
        assert_eq!(clock.to_string(), "2027-11-30");
    }

    #[test]
    fn the_system_clock_is_the_default_and_parses_by_name() {
        let clock: Clock = " System ".parse().expect("a clock");
        assert!(clock.is_system());
        assert!(Clock::default().is_system());
    }

    #[test]
    fn a_frozen_clock_never_moves() {
        let instant = day(2026, 1, 5)
            .and_hms_opt(8, 30, 0)
            .expect("a time")
            .and_utc();
        let clock = Clock::frozen(instant);
        assert_eq!(clock.now(), instant);
        assert_eq!(clock.now(), instant);
    }

    #[test]
    fn anything_else_is_refused_with_what_is_expected() {
        let error = "tomorrow".parse::<Clock>().expect_err("refused");
        assert!(error.to_string().contains("YYYY-MM-DD"), "{error}");
        assert!("2027-02-30".parse::<Clock>().is_err());
    }
}
