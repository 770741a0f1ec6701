//! Proptests: any sequence of commands (a random mix of saga and operator commands with random
//! amounts and dates, across the deadline), decided and applied in order, keeps every invariant
//! after every event; every entry balances; the trial balance is zero; the parts make the whole;
//! ESF+ plus Land is the total; the figures equal the sums of the events' typed amounts; the
//! waitlist is strictly FIFO and served at the end of every decision; and replaying the events
//! gives the same fund. A decision tried on a draft finds exactly what it finds on a copy of the
//! fund, forged events included.

use proptest::prelude::*;

use buendel_contract::aggregate::given;
use buendel_contract::ledger::{
    Account, Amounts, LedgerEvent, ReleaseReason, Source, SourceBalances,
};
use buendel_contract::{Aggregate, Cents, DomainError};
use uuid::Uuid;

use super::*;
use crate::draft::Draft;
use crate::fund::fits;
use crate::invariants::check_waitlist_served;
use crate::state::FundState;

/// An amount in a random command: a percentage of what the project could take (so that payments,
/// recoveries and repayments are often accepted, sometimes above the bound), or a raw amount.
#[derive(Debug, Clone, Copy)]
pub(super) enum Amt {
    Pct(i64),
    Raw(i64),
}

impl Amt {
    fn resolve(self, base: Cents) -> Cents {
        match self {
            Amt::Pct(pct) => Cents(base.0 * pct / 100),
            Amt::Raw(raw) => Cents(raw),
        }
    }
}

/// One command of a random sequence; proposals are 0..6.
#[derive(Debug, Clone)]
pub(super) enum Op {
    Reserve(u8, i64, i64),
    Commit(u8, Amt, Amt),
    Release(u8, u8),
    Disburse(u8, Amt, Amt, u8),
    Close(u8),
    Recover(u8, Amt, Amt),
    Repay(u8, Amt, Amt, u8),
    Adjust(bool, i64),
    Expire,
}

fn raw() -> impl Strategy<Value = i64> {
    prop_oneof![6 => 0i64..400, 1 => Just(0i64), 1 => -5i64..0]
}

fn amt() -> impl Strategy<Value = Amt> {
    prop_oneof![5 => (0i64..=130).prop_map(Amt::Pct), 1 => raw().prop_map(Amt::Raw)]
}

pub(super) fn op() -> impl Strategy<Value = Op> {
    let proposal = 0u8..6;
    prop_oneof![
        4 => (proposal.clone(), raw(), raw()).prop_map(|(p, e, l)| Op::Reserve(p, e, l)),
        3 => (proposal.clone(), amt(), amt()).prop_map(|(p, e, l)| Op::Commit(p, e, l)),
        2 => (proposal.clone(), 0u8..4).prop_map(|(p, r)| Op::Release(p, r)),
        4 => (proposal.clone(), amt(), amt(), 0u8..3).prop_map(|(p, e, l, b)| Op::Disburse(p, e, l, b)),
        1 => proposal.clone().prop_map(Op::Close),
        2 => (proposal.clone(), amt(), amt()).prop_map(|(p, e, l)| Op::Recover(p, e, l)),
        2 => (proposal, amt(), amt(), 0u8..3).prop_map(|(p, e, l, b)| Op::Repay(p, e, l, b)),
        1 => (any::<bool>(), -400i64..400).prop_map(|(s, d)| Op::Adjust(s, d)),
        1 => Just(Op::Expire),
    ]
}

fn reason(n: u8) -> ReleaseReason {
    match n {
        0 => ReleaseReason::Withdrawn,
        1 => ReleaseReason::Refused,
        2 => ReleaseReason::Expired,
        _ => ReleaseReason::Cancelled,
    }
}

/// The command an op stands for, on `date`, with percentages taken of the project's balances.
pub(super) fn command(state: &Fund, op: &Op, date: NaiveDate, serial: usize) -> Command {
    let id = |n: &u8| p(u128::from(*n));
    let back = |b: &u8| date - chrono::Days::new(u64::from(*b));
    let of = |n: &u8, account: fn(Uuid) -> Account, e: &Amt, l: &Amt| {
        let account = account(id(n));
        let esf = e.resolve(state.book().balance(Source::EsfPlus, &account));
        let land = l.resolve(state.book().balance(Source::Land, &account));
        (esf.0, land.0)
    };
    match op {
        Op::Reserve(n, e, l) => on(reserve(id(n), *e, *l), date),
        Op::Commit(n, e, l) => {
            // A percentage of the reservation, or of 300/60 when there is none.
            let (esf, land) = of(n, |proposal_id| Account::Reserved { proposal_id }, e, l);
            let (esf, land) = if esf == 0 && land == 0 {
                (e.resolve(Cents(300)).0, l.resolve(Cents(60)).0)
            } else {
                (esf, land)
            };
            on(commit(id(n), esf, land), date)
        }
        Op::Release(n, r) => on(release(id(n), reason(*r)), date),
        Op::Disburse(n, e, l, b) => {
            let (esf, land) = of(n, |proposal_id| Account::Committed { proposal_id }, e, l);
            on(
                disburse(id(n), &format!("NB-{serial}"), esf, land, back(b)),
                date,
            )
        }
        Op::Close(n) => on(close(id(n)), date),
        Op::Recover(n, e, l) => {
            let (esf, land) = of(n, |proposal_id| Account::Disbursed { proposal_id }, e, l);
            on(recover(id(n), esf, land), date)
        }
        Op::Repay(n, e, l, b) => {
            let (esf, land) = of(n, |proposal_id| Account::Receivable { proposal_id }, e, l);
            on(repay(id(n), esf, land, back(b)), date)
        }
        Op::Adjust(esf, d) => on(
            adjust(if *esf { Source::EsfPlus } else { Source::Land }, *d),
            date,
        ),
        Op::Expire => Command::ExpireUnbound { today: date },
    }
}

/// Sums of the typed amounts of the events, per source: an oracle independent of the postings.
#[derive(Default)]
struct Oracle {
    allocated: [i64; 2],
    disbursed: [i64; 2],
    recovered: [i64; 2],
    repaid: [i64; 2],
}

impl Oracle {
    fn add(slot: &mut [i64; 2], amounts: &Amounts) {
        slot[0] += amounts.esf_cents.0;
        slot[1] += amounts.land_cents.0;
    }

    fn book(&mut self, event: &LedgerEvent) {
        match event {
            LedgerEvent::BudgetAllocated(e) => Self::add(&mut self.allocated, &e.allocated),
            LedgerEvent::BudgetAdjusted(e) => {
                let index = usize::from(e.source == Source::Land);
                self.allocated[index] += e.delta_cents.0;
            }
            LedgerEvent::DisbursementRecorded(e) => Self::add(&mut self.disbursed, &e.paid),
            LedgerEvent::ClaimApproved(e) => Self::add(&mut self.disbursed, &e.paid),
            LedgerEvent::RecoveryAssessed(e) => Self::add(&mut self.recovered, &e.principal),
            LedgerEvent::RepaymentReceived(e) => Self::add(&mut self.repaid, &e.repaid),
            LedgerEvent::FundsReserved(_)
            | LedgerEvent::ReservationDeclined(_)
            | LedgerEvent::FundsCommitted(_)
            | LedgerEvent::ReservationReleased(_)
            | LedgerEvent::CommitmentReleased(_)
            | LedgerEvent::FundsExpired(_)
            | LedgerEvent::GrantTermsRecorded(_)
            | LedgerEvent::ClaimSubmitted(_)
            | LedgerEvent::ClaimVerified(_)
            | LedgerEvent::ClaimReturned(_)
            | LedgerEvent::ClaimResubmitted(_)
            | LedgerEvent::FinalReportChecked(_)
            | LedgerEvent::GrantRevoked(_)
            | LedgerEvent::InterestCharged(_)
            | LedgerEvent::InterestPaid(_)
            | LedgerEvent::PeriodLocked(_)
            | LedgerEvent::CorrectionNoted(_) => {}
        }
    }

    fn matches(&self, index: usize, figures: &SourceBalances) -> bool {
        figures.allocated.0 == self.allocated[index]
            && figures.disbursed.0 == self.disbursed[index]
            && figures.recovered.0 == self.recovered[index]
            && figures.repaid.0 == self.repaid[index]
    }
}

fn total_is_the_sum_of_the_sources(b: &crate::FundBalances) -> bool {
    let e = &b.esf_plus;
    let l = &b.land;
    let t = &b.total;
    [
        (e.allocated, l.allocated, t.allocated),
        (e.available, l.available, t.available),
        (e.reserved, l.reserved, t.reserved),
        (e.committed, l.committed, t.committed),
        (e.unpaid, l.unpaid, t.unpaid),
        (e.disbursed, l.disbursed, t.disbursed),
        (e.recovered, l.recovered, t.recovered),
        (e.receivable, l.receivable, t.receivable),
        (e.repaid, l.repaid, t.repaid),
        (e.expired, l.expired, t.expired),
    ]
    .iter()
    .all(|(a, b, sum): &(Cents, Cents, Cents)| a.0 + b.0 == sum.0)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_sequence_of_commands_keeps_every_invariant_after_every_event(
        esf in 1i64..3_000,
        land in 0i64..800,
        ops in prop::collection::vec((op(), 0u64..6), 1..100),
    ) {
        let start = day(2026, 1, 1);
        let fund_deadline = day(2026, 6, 30);
        let mut state = Fund::default();
        let mut oracle = Oracle::default();
        let mut all = Vec::new();
        let open = Command::AllocateBudget {
            fund_id: FUND.into(),
            esf: Cents(esf),
            land: Cents(land),
            commit_deadline: fund_deadline,
            today: start,
        };
        let mut date = start;
        let mut planned: Vec<(Option<(usize, Op)>, NaiveDate)> = vec![(None, start)];
        for (serial, (op, days)) in ops.iter().enumerate() {
            date = date + chrono::Days::new(*days);
            planned.push((Some((serial, op.clone())), date));
        }
        for (op, date) in &planned {
            let command = match op {
                None => open.clone(),
                Some((serial, op)) => command(&state, op, *date, *serial),
            };
            let command = &command;
            let Ok(events) = state.decide(command) else { continue };
            for event in &events {
                prop_assert_eq!(event.check_entry(), Ok(()));
                let json = serde_json::to_value(event).expect("serialize");
                let back: LedgerEvent = serde_json::from_value(json).expect("deserialize");
                prop_assert_eq!(&back, event);
                oracle.book(event);
                state = state.apply(event);
                prop_assert_eq!(state.check_invariants(), Ok(()));
                let balances = state.balances();
                prop_assert!(balances.trial_balance_zero);
                prop_assert!(balances.esf_plus.parts_sum_to_whole());
                prop_assert!(balances.land.parts_sum_to_whole());
                prop_assert!(balances.total.parts_sum_to_whole());
                prop_assert!(total_is_the_sum_of_the_sources(&balances));
                prop_assert!(oracle.matches(0, &balances.esf_plus));
                prop_assert!(oracle.matches(1, &balances.land));
                for money in balances.projects.values() {
                    for figures in [money.esf_plus, money.land] {
                        prop_assert!(figures.disbursed <= figures.committed);
                        prop_assert!(figures.recovered <= figures.disbursed);
                        prop_assert!(figures.repaid <= figures.recovered);
                        prop_assert!(figures.reserved.0 >= 0 && figures.unpaid.0 >= 0);
                    }
                }
            }
            all.extend(events);
            // Strict FIFO: after every decision on or before the deadline, the head does not fit.
            if state.booking_date(command.today()) <= fund_deadline {
                if let Some(head) = state.waitlist().next() {
                    let requested = state.project(head).expect("waitlisted projects are known").requested;
                    prop_assert!(!fits(&requested, &state.available()), "{head} waits although it fits");
                }
            }
        }
        let replayed = given::<Fund>(&all);
        prop_assert_eq!(replayed.balances(), state.balances());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// `check_after(event)` is the full check made incremental: after every event of a random
    /// sequence it fails exactly when `check_invariants` fails. Some events are forged: decided on
    /// a shadow fund with a larger budget and its own history, then applied to the fund as facts,
    /// so that balances go negative, statuses and the waitlist disagree, and both checks must fail
    /// on the same event.
    #[test]
    fn the_incremental_check_fails_exactly_when_the_full_check_fails(
        esf in 1i64..3_000,
        land in 0i64..800,
        ops in prop::collection::vec((op(), 0u64..6, prop::bool::weighted(0.15)), 1..80),
    ) {
        let start = day(2026, 1, 1);
        let open = |esf: i64, land: i64| Command::AllocateBudget {
            fund_id: FUND.into(),
            esf: Cents(esf),
            land: Cents(land),
            commit_deadline: day(2026, 6, 30),
            today: start,
        };
        let mut state = Fund::default();
        let mut shadow = given::<Fund>(&Fund::default().decide(&open(esf * 3, land * 3)).expect("opens"));
        let first = state.decide(&open(esf, land)).expect("opens");
        let mut date = start;
        let mut planned = vec![(first, false)];
        for (serial, (op, days, forged)) in ops.iter().enumerate() {
            date = date + chrono::Days::new(*days);
            let decider = if *forged { &shadow } else { &state };
            let command = command(decider, op, date, serial);
            let Ok(events) = decider.decide(&command) else { continue };
            for event in &events {
                shadow = shadow.apply(event);
            }
            planned.push((events, *forged));
        }
        'events: for (events, _) in &planned {
            for event in events {
                state = state.apply(event);
                let incremental = state.check_after(event);
                let full = state.check_invariants();
                prop_assert_eq!(
                    incremental.is_err(),
                    full.is_err(),
                    "after {:?}: incremental {:?}, full {:?}",
                    event,
                    incremental,
                    full
                );
                if full.is_err() {
                    // The auditor stops at the first bad event.
                    break 'events;
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The waitlist check at the end of a decision never trips on what the real `decide` decides,
    /// neither on the booking date of the command's `today` (as `decide` checks it) nor on the
    /// fund's last value date (as the auditor checks it); and no decision is refused for an
    /// invariant.
    #[test]
    fn any_sequence_of_decisions_leaves_the_waitlist_served(
        esf in 1i64..3_000,
        land in 0i64..800,
        ops in prop::collection::vec((op(), 0u64..6), 1..100),
    ) {
        let start = day(2026, 1, 1);
        let mut state = given::<Fund>(
            &Fund::default()
                .decide(&Command::AllocateBudget {
                    fund_id: FUND.into(),
                    esf: Cents(esf),
                    land: Cents(land),
                    commit_deadline: day(2026, 6, 30),
                    today: start,
                })
                .expect("opens"),
        );
        let mut date = start;
        for (serial, (op, days)) in ops.iter().enumerate() {
            date = date + chrono::Days::new(*days);
            let command = command(&state, op, date, serial);
            match state.decide(&command) {
                Ok(events) => {
                    for event in &events {
                        state = state.apply(event);
                    }
                }
                Err(refusal) => prop_assert_ne!(refusal.code(), "invariant_violation"),
            }
            let booked = state.booking_date(command.today());
            prop_assert_eq!(state.waitlist_served_check(booked), Ok(()));
            let replayed = state.last_value_date().expect("booked");
            prop_assert_eq!(state.waitlist_served_check(replayed), Ok(()));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// A decision folded into a draft over the fund gives, event by event, the same check results
    /// as on a copy of the fund with the events applied, and the same figures the rules read
    /// afterwards. Some decisions are forged (decided on a shadow fund with a larger budget), so
    /// that the checks fail too.
    #[test]
    fn a_draft_finds_exactly_what_a_copy_of_the_fund_finds(
        esf in 1i64..3_000,
        land in 0i64..800,
        ops in prop::collection::vec((op(), 0u64..6, prop::bool::weighted(0.15)), 1..80),
    ) {
        let start = day(2026, 1, 1);
        let open = |esf: i64, land: i64| Command::AllocateBudget {
            fund_id: FUND.into(),
            esf: Cents(esf),
            land: Cents(land),
            commit_deadline: day(2026, 6, 30),
            today: start,
        };
        let mut state = given::<Fund>(&Fund::default().decide(&open(esf, land)).expect("opens"));
        let mut shadow = given::<Fund>(&Fund::default().decide(&open(esf * 3, land * 3)).expect("opens"));
        let mut date = start;
        for (serial, (op, days, forged)) in ops.iter().enumerate() {
            date = date + chrono::Days::new(*days);
            let decider = if *forged { &shadow } else { &state };
            let command = command(decider, op, date, serial);
            let Ok(events) = decider.decide(&command) else { continue };
            for event in &events {
                shadow = shadow.apply(event);
            }
            let mut draft = Draft::over(&state);
            let mut copy = state.clone();
            let mut failed = false;
            for event in &events {
                let drafted = draft.fold_checked(event);
                copy = copy.apply(event);
                let copied = copy.check_after(event);
                prop_assert_eq!(&drafted, &copied, "after {:?}", event);
                if copied.is_err() {
                    failed = true;
                    break;
                }
            }
            prop_assert_eq!(draft.available(), copy.available());
            prop_assert_eq!(draft.first_in_line(), copy.waitlist().next());
            prop_assert_eq!(draft.line_len(), copy.waitlist().count());
            prop_assert_eq!(draft.scalars().entries, copy.entries());
            prop_assert_eq!(draft.scalars().last_value_date, copy.last_value_date());
            for event in &events {
                for posting in event.postings() {
                    for account in [posting.debit, posting.credit] {
                        prop_assert_eq!(
                            draft.balance(posting.source, &account),
                            copy.book().balance(posting.source, &account)
                        );
                    }
                }
                if let Some(id) = event.proposal_id() {
                    prop_assert_eq!(FundState::project(&draft, id), copy.project(id));
                    prop_assert_eq!(draft.is_listed(id), copy.waitlist().any(|w| w == id));
                }
            }
            let on = copy.booking_date(command.today());
            prop_assert_eq!(check_waitlist_served(&draft, on), copy.waitlist_served_check(on));
            drop(draft);
            state = copy;
            if failed || state.check_invariants().is_err() {
                // The auditor stops at the first bad event.
                break;
            }
        }
    }
}

#[test]
fn a_forged_overdraft_fails_both_checks_on_its_event() {
    let (mut state, _) = super::run(&[super::allocate(1_000, 100), reserve(p(1), 600, 100)]);
    let (_, forged) = super::run(&[super::allocate(100_000, 10_000), reserve(p(2), 90_000, 100)]);
    let event = &forged[1];
    state = state.apply(event);
    assert_eq!(
        state.check_after(event).map_err(|v| v.code()),
        Err("negative_balance")
    );
    assert_eq!(
        state.check_invariants().map_err(|v| v.code()),
        Err("negative_balance")
    );
}
