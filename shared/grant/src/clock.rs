//! The 80-day payment clock (Art. 74 (1) (b) Regulation (EU) 2021/1060, "CPR").
//!
//! The beneficiary is paid within 80 days of submitting a payment claim. The clock is paused while
//! the claim is sent back for missing information, and resumes when it comes back. Days are
//! calendar days between dates (date − date): a claim submitted on 10 January and read on 11
//! January has run one day.

use chrono::{Days, NaiveDate};
use serde::{Deserialize, Serialize};

/// The payment deadline, in days of running clock.
pub const PAYMENT_DAYS: i64 = 80;

/// The clock of one payment claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentClock {
    /// The day the claim was submitted.
    pub submitted_on: NaiveDate,
    /// The days of all completed pauses.
    pub paused_days: i64,
    /// The day the current pause began, while the claim is back with the beneficiary.
    pub paused_since: Option<NaiveDate>,
    /// The day the claim was paid: the clock is stopped.
    pub paid_on: Option<NaiveDate>,
    /// The day of the last start, pause or resume; no later change may be dated before it.
    pub changed_on: NaiveDate,
}

/// Why a clock change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClockError {
    /// The clock is paused already (or must be resumed before it is stopped).
    #[error("the payment clock is paused")]
    Paused,
    /// The clock is not paused, so it cannot resume.
    #[error("the payment clock is not paused")]
    NotPaused,
    /// The claim was paid: the clock is stopped for good.
    #[error("the payment clock is stopped")]
    Stopped,
    /// The change is dated before the clock's last change.
    #[error("{on} is before the clock's last change on {earliest}")]
    DateBeforeClock {
        /// The date of the change.
        on: NaiveDate,
        /// The earliest date allowed.
        earliest: NaiveDate,
    },
}

impl ClockError {
    /// The stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            ClockError::Paused => "clock_paused",
            ClockError::NotPaused => "clock_not_paused",
            ClockError::Stopped => "clock_stopped",
            ClockError::DateBeforeClock { .. } => "date_before_clock",
        }
    }
}

/// What the clock shows on a day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockReading {
    /// Days from submission to the end (the payment, or the day read).
    pub days_elapsed: i64,
    /// Days the clock was paused, the current pause included.
    pub days_paused: i64,
    /// Days the clock ran: elapsed − paused.
    pub days_running: i64,
    /// The last day for payment: submission + 80 days + the days paused so far.
    pub due_date: NaiveDate,
    /// 80 − days running; negative once overdue.
    pub days_left: i64,
    /// True while the claim is back with the beneficiary.
    pub paused: bool,
    /// True once paid.
    pub paid: bool,
    /// True when the clock ran more than 80 days (for a paid claim: it was paid late).
    pub overdue: bool,
}

impl PaymentClock {
    /// A running clock for a claim submitted on `submitted_on`.
    pub fn start(submitted_on: NaiveDate) -> Self {
        Self {
            submitted_on,
            paused_days: 0,
            paused_since: None,
            paid_on: None,
            changed_on: submitted_on,
        }
    }

    /// Refuses a change dated before the last one.
    fn check_date(&self, on: NaiveDate) -> Result<(), ClockError> {
        if on < self.changed_on {
            return Err(ClockError::DateBeforeClock {
                on,
                earliest: self.changed_on,
            });
        }
        Ok(())
    }

    /// Pauses the clock on `on`: the claim goes back to the beneficiary.
    pub fn pause(&mut self, on: NaiveDate) -> Result<(), ClockError> {
        if self.paid_on.is_some() {
            return Err(ClockError::Stopped);
        }
        if self.paused_since.is_some() {
            return Err(ClockError::Paused);
        }
        self.check_date(on)?;
        self.paused_since = Some(on);
        self.changed_on = on;
        Ok(())
    }

    /// Resumes the clock on `on`: the claim came back. The pause lasted `on − paused_since` days.
    pub fn resume(&mut self, on: NaiveDate) -> Result<(), ClockError> {
        if self.paid_on.is_some() {
            return Err(ClockError::Stopped);
        }
        let since = self.paused_since.ok_or(ClockError::NotPaused)?;
        self.check_date(on)?;
        self.paused_days = self.paused_days.saturating_add((on - since).num_days());
        self.paused_since = None;
        self.changed_on = on;
        Ok(())
    }

    /// Stops the clock: the claim was paid on `paid_on`.
    pub fn stop(&mut self, paid_on: NaiveDate) -> Result<(), ClockError> {
        if self.paid_on.is_some() {
            return Err(ClockError::Stopped);
        }
        if self.paused_since.is_some() {
            return Err(ClockError::Paused);
        }
        self.check_date(paid_on)?;
        self.paid_on = Some(paid_on);
        self.changed_on = paid_on;
        Ok(())
    }

    /// The clock as it stood at the end of `as_of`, from its whole history: the submission, the
    /// pauses (each from the day the claim was sent back to the day it returned, `None` while it
    /// is still out) and the payment. Only the changes dated on or before `as_of` count, so a
    /// reading as of an earlier day is the reading that day gave.
    pub fn as_of(
        submitted_on: NaiveDate,
        pauses: &[(NaiveDate, Option<NaiveDate>)],
        paid_on: Option<NaiveDate>,
        as_of: NaiveDate,
    ) -> Result<Self, ClockError> {
        let mut clock = Self::start(submitted_on);
        for &(from, to) in pauses.iter().filter(|(from, _)| *from <= as_of) {
            clock.pause(from)?;
            if let Some(to) = to.filter(|to| *to <= as_of) {
                clock.resume(to)?;
            }
        }
        if let Some(paid_on) = paid_on.filter(|paid_on| *paid_on <= as_of) {
            clock.stop(paid_on)?;
        }
        Ok(clock)
    }

    /// The reading on `today`. The end is the payment day, or else `today`; an end before the
    /// clock's last change is taken as that day, so a reading never runs backwards.
    pub fn at(&self, today: NaiveDate) -> ClockReading {
        let end = self.paid_on.unwrap_or(today).max(self.changed_on);
        let days_elapsed = (end - self.submitted_on).num_days();
        let current_pause = self
            .paused_since
            .map_or(0, |since| (end - since).num_days());
        let days_paused = self.paused_days.saturating_add(current_pause);
        let days_running = days_elapsed.saturating_sub(days_paused);
        let due_date = u64::try_from(PAYMENT_DAYS.saturating_add(days_paused))
            .ok()
            .and_then(|days| self.submitted_on.checked_add_days(Days::new(days)))
            .unwrap_or(NaiveDate::MAX);
        ClockReading {
            days_elapsed,
            days_paused,
            days_running,
            due_date,
            days_left: PAYMENT_DAYS.saturating_sub(days_running),
            paused: self.paused_since.is_some(),
            paid: self.paid_on.is_some(),
            overdue: days_running > PAYMENT_DAYS,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_clock_as_of_an_earlier_day_reads_what_that_day_read() {
        // Given a claim submitted on 1 March, sent back on 11 March, returned on 21 March and
        // paid on 1 May,
        let submitted = day(2026, 3, 1);
        let pauses = [(day(2026, 3, 11), Some(day(2026, 3, 21)))];
        let paid = Some(day(2026, 5, 1));
        let read = |on| {
            PaymentClock::as_of(submitted, &pauses, paid, on)
                .expect("a valid history")
                .at(on)
        };
        // during the pause it reads paused, with the pause so far and the due date moved by it,
        let during = read(day(2026, 3, 15));
        assert!(during.paused && !during.paid);
        assert_eq!(during.days_paused, 4);
        assert_eq!(during.days_running, 10);
        assert_eq!(during.due_date, day(2026, 5, 24));
        // after the return it runs again with the whole pause counted,
        let back = read(day(2026, 4, 1));
        assert!(!back.paused && !back.paid);
        assert_eq!((back.days_paused, back.days_running), (10, 21));
        assert_eq!(back.due_date, day(2026, 5, 30));
        // and from the payment on it is stopped and equals the stored clock's reading.
        let mut stored = PaymentClock::start(submitted);
        stored.pause(day(2026, 3, 11)).expect("paused");
        stored.resume(day(2026, 3, 21)).expect("resumed");
        stored.stop(day(2026, 5, 1)).expect("stopped");
        assert_eq!(read(day(2026, 6, 1)), stored.at(day(2026, 6, 1)));
        assert!(read(day(2026, 6, 1)).paid);
        // A history that does not fit (a return before its sending back) is refused.
        assert!(PaymentClock::as_of(
            submitted,
            &[(day(2026, 3, 11), Some(day(2026, 3, 1)))],
            None,
            day(2026, 4, 1)
        )
        .is_err());
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
    }

    #[test]
    fn a_claim_sent_back_for_two_weeks_is_due_two_weeks_later_and_paid_in_time() {
        let mut clock = PaymentClock::start(day(2025, 1, 10));
        clock.pause(day(2025, 2, 1)).expect("running");
        clock.resume(day(2025, 2, 15)).expect("paused");
        // Paused 2025-02-01 .. 2025-02-15: 14 days. Due 2025-01-10 + 80 + 14 = 94 days:
        // 21 days to 31 January, 28 to 28 February (49), 31 to 31 March (80), 14 more: 14 April.
        let reading = clock.at(day(2025, 3, 1));
        assert_eq!(reading.days_paused, 14);
        assert_eq!(reading.due_date, day(2025, 4, 14));
        assert_eq!((day(2025, 4, 14) - day(2025, 1, 10)).num_days(), 94);
        clock.stop(day(2025, 4, 10)).expect("running");
        // Paid 2025-04-10: elapsed 21 + 28 + 31 + 10 = 90 days, running 90 − 14 = 76, 4 left.
        let paid = clock.at(day(2026, 1, 1));
        assert_eq!(
            paid,
            ClockReading {
                days_elapsed: 90,
                days_paused: 14,
                days_running: 76,
                due_date: day(2025, 4, 14),
                days_left: 4,
                paused: false,
                paid: true,
                overdue: false,
            }
        );
    }

    #[test]
    fn a_claim_unpaid_on_the_81st_day_is_overdue() {
        let clock = PaymentClock::start(day(2025, 1, 10));
        // Due 2025-01-10 + 80 days = 2025-03-31 (21 + 28 + 31 days).
        let on_due_day = clock.at(day(2025, 3, 31));
        assert_eq!(on_due_day.due_date, day(2025, 3, 31));
        assert_eq!((on_due_day.days_running, on_due_day.days_left), (80, 0));
        assert!(!on_due_day.overdue);
        // 2025-04-01: 81 days running, one day late.
        let late = clock.at(day(2025, 4, 1));
        assert_eq!((late.days_running, late.days_left), (81, -1));
        assert!(late.overdue);
    }

    #[test]
    fn a_claim_paid_late_stays_overdue() {
        let mut clock = PaymentClock::start(day(2025, 1, 10));
        clock.stop(day(2025, 4, 5)).expect("running");
        // 2025-01-10 .. 2025-04-05: 21 + 28 + 31 + 5 = 85 days, 5 days late.
        let reading = clock.at(day(2025, 1, 1));
        assert_eq!((reading.days_running, reading.days_left), (85, -5));
        assert!(reading.paid && reading.overdue);
    }

    #[test]
    fn an_open_pause_counts_up_to_the_day_read() {
        let mut clock = PaymentClock::start(day(2025, 1, 10));
        clock.pause(day(2025, 2, 1)).expect("running");
        // Paused since 2025-02-01, read 2025-02-11: 10 days paused, 32 elapsed, 22 running.
        let reading = clock.at(day(2025, 2, 11));
        assert_eq!(
            (
                reading.days_elapsed,
                reading.days_paused,
                reading.days_running
            ),
            (32, 10, 22)
        );
        assert!(reading.paused);
        // Due 2025-01-10 + 90 days = 2025-04-10.
        assert_eq!(reading.due_date, day(2025, 4, 10));
    }

    #[test]
    fn a_reading_before_the_submission_shows_the_clock_at_its_start() {
        let clock = PaymentClock::start(day(2025, 1, 10));
        let reading = clock.at(day(2024, 12, 1));
        assert_eq!((reading.days_elapsed, reading.days_left), (0, 80));
    }

    #[test]
    fn invalid_changes_are_refused_with_their_codes() {
        let mut clock = PaymentClock::start(day(2025, 1, 10));
        assert_eq!(
            clock.pause(day(2025, 1, 9)).map_err(|e| e.code()),
            Err("date_before_clock")
        );
        assert_eq!(
            clock.resume(day(2025, 1, 11)).map_err(|e| e.code()),
            Err("clock_not_paused")
        );
        clock.pause(day(2025, 2, 1)).expect("running");
        assert_eq!(
            clock.pause(day(2025, 2, 2)).map_err(|e| e.code()),
            Err("clock_paused")
        );
        assert_eq!(
            clock.stop(day(2025, 2, 2)).map_err(|e| e.code()),
            Err("clock_paused")
        );
        assert_eq!(
            clock.resume(day(2025, 1, 31)).map_err(|e| e.code()),
            Err("date_before_clock")
        );
        clock.resume(day(2025, 2, 15)).expect("paused");
        assert_eq!(
            clock.pause(day(2025, 2, 14)).map_err(|e| e.code()),
            Err("date_before_clock")
        );
        clock.stop(day(2025, 3, 1)).expect("running");
        for result in [
            clock.stop(day(2025, 3, 2)),
            clock.pause(day(2025, 3, 2)),
            clock.resume(day(2025, 3, 2)),
        ] {
            assert_eq!(result.map_err(|e| e.code()), Err("clock_stopped"));
        }
    }

    proptest! {
        #[test]
        fn pauses_add_up_and_the_due_date_moves_by_them(
            submitted in 0u64..10_000,
            steps in proptest::collection::vec((0u64..60, 0u64..60), 0..6),
            open_pause in proptest::option::of(0u64..60),
            read_after in 0u64..400,
        ) {
            let submitted_on = day(2000, 1, 1) + Days::new(submitted);
            let mut clock = PaymentClock::start(submitted_on);
            let mut cursor = submitted_on;
            let mut pauses = 0i64;
            for (run, pause) in steps {
                let paused_on = cursor + Days::new(run);
                let resumed_on = paused_on + Days::new(pause);
                clock.pause(paused_on).expect("running");
                clock.resume(resumed_on).expect("paused");
                pauses += (resumed_on - paused_on).num_days();
                cursor = resumed_on;
            }
            let mut today = cursor + Days::new(read_after);
            if let Some(run) = open_pause {
                let paused_on = cursor + Days::new(run);
                clock.pause(paused_on).expect("running");
                today = today.max(paused_on);
                pauses += (today - paused_on).num_days();
            }
            let reading = clock.at(today);
            prop_assert_eq!(reading.days_paused, pauses);
            prop_assert_eq!(reading.days_running + reading.days_paused, reading.days_elapsed);
            prop_assert_eq!(reading.days_elapsed, (today - submitted_on).num_days());
            prop_assert_eq!((reading.due_date - submitted_on).num_days(), PAYMENT_DAYS + reading.days_paused);
            prop_assert_eq!(reading.days_left, PAYMENT_DAYS - reading.days_running);
            prop_assert_eq!(reading.overdue, reading.days_running > PAYMENT_DAYS);
            prop_assert!(reading.days_running >= 0);
        }

        #[test]
        fn a_reading_never_runs_backwards(
            submitted in 0u64..10_000,
            pause_after in 0u64..100,
            read_a in 0u64..300,
            read_b in 0u64..300,
        ) {
            let submitted_on = day(2000, 1, 1) + Days::new(submitted);
            let mut clock = PaymentClock::start(submitted_on);
            clock.pause(submitted_on + Days::new(pause_after)).expect("running");
            let (a, b) = (read_a.min(read_b), read_a.max(read_b));
            let early = clock.at(submitted_on + Days::new(a));
            let late = clock.at(submitted_on + Days::new(b));
            prop_assert!(early.days_elapsed <= late.days_elapsed);
            prop_assert!(early.days_running <= late.days_running);
            prop_assert!(early.days_paused <= late.days_paused);
        }
    }
}
