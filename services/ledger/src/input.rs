//! Parsing operator command payloads: "parse, don't validate". Pure (no I/O, no clock: `today` is
//! passed in), so it is tested without NATS.
//!
//! A command is `{"command_id": uuid, "actor"?: str, "correlation_id"?: str, "data": {..}}`. Its
//! `data` names the fund (`fund_id`, a valid subject token) and the command's fields. Every
//! malformed, missing or unknown field is reported at once with its JSON path (`data.esf_cents`),
//! so a client fixes everything in one round trip. Money is integer cents: a float is refused by
//! name. Business rules (zero amounts, overdrafts, back-dating, deadlines) are the Fund's to
//! refuse, with their own codes.

use chrono::NaiveDate;
use serde_json::{Map, Value};
use uuid::Uuid;

use buendel_contract::ledger::{
    is_valid_fund_id, Amounts, ClaimCut, Effect, LegalBasis, ReleaseReason, Source,
};
use buendel_contract::reply::FieldError;
use buendel_contract::Cents;

use crate::domain::{Command, NewClaim, AMOUNT_CENTS_MAX, TEXT_LEN_MAX};

/// A parsed command and the fund it goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The fund (`<alliance>-<first>-<last>`), a valid subject token.
    pub fund_id: String,
    /// What is asked, with `today` filled in.
    pub command: Command,
}

impl Request {
    /// The proposal the command is about, if any (the default correlation id).
    pub fn proposal_id(&self) -> Option<Uuid> {
        match &self.command {
            Command::Reserve { proposal_id, .. }
            | Command::Commit { proposal_id, .. }
            | Command::ReleaseReservation { proposal_id, .. }
            | Command::RecordDisbursement { proposal_id, .. }
            | Command::CloseProject { proposal_id, .. }
            | Command::AssessRecovery { proposal_id, .. }
            | Command::RecordRepayment { proposal_id, .. }
            | Command::SubmitClaim { proposal_id, .. }
            | Command::VerifyClaim { proposal_id, .. }
            | Command::ReturnClaim { proposal_id, .. }
            | Command::ResubmitClaim { proposal_id, .. }
            | Command::ApproveClaim { proposal_id, .. }
            | Command::CheckFinalReport { proposal_id, .. }
            | Command::RevokeGrant { proposal_id, .. }
            | Command::ChargeInterest { proposal_id, .. }
            | Command::RecordInterestPayment { proposal_id, .. } => Some(*proposal_id),
            Command::AllocateBudget { .. }
            | Command::AdjustBudget { .. }
            | Command::ExpireUnbound { .. }
            | Command::LockPeriod { .. }
            | Command::NoteCorrection { .. } => None,
        }
    }
}

/// Parses the `data` of operator command `name`, given by `actor` on business date `today`. The
/// claim commands record the actor (submitter, verifier, approver); the others ignore it.
///
/// `None` for a name that is no operator command of this service (`reserve` and `commit` come
/// only from the saga).
pub fn parse(
    name: &str,
    data: &Value,
    today: NaiveDate,
    actor: &str,
) -> Option<Result<Request, Vec<FieldError>>> {
    let parsed = match name {
        "allocate_budget" => allocate_budget(data, today),
        "adjust_budget" => adjust_budget(data, today),
        "release_reservation" => release_reservation(data, today),
        "record_disbursement" => record_disbursement(data, today),
        "close_project" => close_project(data, today),
        "assess_recovery" => assess_recovery(data, today),
        "record_repayment" => record_repayment(data, today),
        "expire_unbound" => expire_unbound(data, today),
        "submit_claim" => submit_claim(data, today, actor),
        "verify_claim" => verify_claim(data, today, actor),
        "return_claim" => return_claim(data, today, actor),
        "resubmit_claim" => resubmit_claim(data, today),
        "approve_claim" => approve_claim(data, today, actor),
        "check_final_report" => check_final_report(data, today, actor),
        "revoke_grant" => revoke_grant(data, today),
        "charge_interest" => charge_interest(data, today),
        "record_interest_payment" => record_interest_payment(data, today),
        "lock_period" => lock_period(data, today),
        "note_correction" => note_correction(data, today),
        _ => return None,
    };
    Some(parsed)
}

fn allocate_budget(data: &Value, today: NaiveDate) -> Result<Request, Vec<FieldError>> {
    let mut f = Fields::new(
        data,
        &["fund_id", "esf_cents", "land_cents", "commit_deadline"],
    )?;
    let fund_id = f.fund_id();
    let esf = f.cents("esf_cents", 0);
    let land = f.cents("land_cents", 0);
    let commit_deadline = f.date("commit_deadline");
    f.finish(|| {
        Some(Request {
            command: Command::AllocateBudget {
                fund_id: fund_id.clone()?,
                esf: esf?,
                land: land?,
                commit_deadline: commit_deadline?,
                today,
            },
            fund_id: fund_id?,
        })
    })
}

fn adjust_budget(data: &Value, today: NaiveDate) -> Result<Request, Vec<FieldError>> {
    let mut f = Fields::new(data, &["fund_id", "source", "delta_cents", "reason"])?;
    let fund_id = f.fund_id();
    let source = f.source();
    let delta = f.cents("delta_cents", -AMOUNT_CENTS_MAX);
    let reason = f.text("reason");
    f.finish(|| {
        Some(Request {
            fund_id: fund_id?,
            command: Command::AdjustBudget {
                source: source?,
                delta_cents: delta?,
                reason: reason?,
                today,
            },
        })
    })
}

fn release_reservation(data: &Value, today: NaiveDate) -> Result<Request, Vec<FieldError>> {
    let mut f = Fields::new(data, &["fund_id", "proposal_id", "reason"])?;
    let fund_id = f.fund_id();
    let proposal_id = f.proposal_id();
    let reason = f.release_reason();
    f.finish(|| {
        Some(Request {
            fund_id: fund_id?,
            command: Command::ReleaseReservation {
                proposal_id: proposal_id?,
                reason: reason?,
                today,
            },
        })
    })
}

fn record_disbursement(data: &Value, today: NaiveDate) -> Result<Request, Vec<FieldError>> {
    let mut f = Fields::new(
        data,
        &[
            "fund_id",
            "proposal_id",
            "payment_reference",
            "esf_cents",
            "land_cents",
            "value_date",
        ],
    )?;
    let fund_id = f.fund_id();
    let proposal_id = f.proposal_id();
    let payment_reference = f.text("payment_reference");
    let esf = f.cents("esf_cents", 0);
    let land = f.cents("land_cents", 0);
    let value_date = f.date("value_date");
    f.finish(|| {
        Some(Request {
            fund_id: fund_id?,
            command: Command::RecordDisbursement {
                proposal_id: proposal_id?,
                payment_reference: payment_reference?,
                esf: esf?,
                land: land?,
                value_date: value_date?,
                today,
            },
        })
    })
}

fn close_project(data: &Value, today: NaiveDate) -> Result<Request, Vec<FieldError>> {
    let mut f = Fields::new(data, &["fund_id", "proposal_id"])?;
    let fund_id = f.fund_id();
    let proposal_id = f.proposal_id();
    f.finish(|| {
        Some(Request {
            fund_id: fund_id?,
            command: Command::CloseProject {
                proposal_id: proposal_id?,
                today,
            },
        })
    })
}

fn assess_recovery(data: &Value, today: NaiveDate) -> Result<Request, Vec<FieldError>> {
    let mut f = Fields::new(
        data,
        &[
            "fund_id",
            "proposal_id",
            "esf_cents",
            "land_cents",
            "reason",
        ],
    )?;
    let fund_id = f.fund_id();
    let proposal_id = f.proposal_id();
    let esf = f.cents("esf_cents", 0);
    let land = f.cents("land_cents", 0);
    let reason = f.text("reason");
    f.finish(|| {
        Some(Request {
            fund_id: fund_id?,
            command: Command::AssessRecovery {
                proposal_id: proposal_id?,
                esf: esf?,
                land: land?,
                reason: reason?,
                today,
            },
        })
    })
}

fn record_repayment(data: &Value, today: NaiveDate) -> Result<Request, Vec<FieldError>> {
    let mut f = Fields::new(
        data,
        &[
            "fund_id",
            "proposal_id",
            "esf_cents",
            "land_cents",
            "value_date",
        ],
    )?;
    let fund_id = f.fund_id();
    let proposal_id = f.proposal_id();
    let esf = f.cents("esf_cents", 0);
    let land = f.cents("land_cents", 0);
    let value_date = f.date("value_date");
    f.finish(|| {
        Some(Request {
            fund_id: fund_id?,
            command: Command::RecordRepayment {
                proposal_id: proposal_id?,
                esf: esf?,
                land: land?,
                value_date: value_date?,
                today,
            },
        })
    })
}

fn expire_unbound(data: &Value, today: NaiveDate) -> Result<Request, Vec<FieldError>> {
    let mut f = Fields::new(data, &["fund_id"])?;
    let fund_id = f.fund_id();
    f.finish(|| {
        Some(Request {
            fund_id: fund_id?,
            command: Command::ExpireUnbound { today },
        })
    })
}

/// Reads the fields of one `data` object, collecting every problem.
fn submit_claim(data: &Value, today: NaiveDate, actor: &str) -> Result<Request, Vec<FieldError>> {
    let mut f = Fields::new(
        data,
        &[
            "fund_id",
            "proposal_id",
            "claim_id",
            "period_from",
            "period_to",
            "declared_eligible_cents",
            "esf_cents",
            "land_cents",
            "receipts_reference",
        ],
    )?;
    let fund_id = f.fund_id();
    let proposal_id = f.proposal_id();
    let claim_id = f.uuid("claim_id");
    let period_from = f.date("period_from");
    let period_to = f.date("period_to");
    let declared = f.cents("declared_eligible_cents", 0);
    let esf = f.cents("esf_cents", 0);
    let land = f.cents("land_cents", 0);
    let receipts_reference = f.text("receipts_reference");
    f.finish(|| {
        Some(Request {
            fund_id: fund_id?,
            command: Command::SubmitClaim {
                proposal_id: proposal_id?,
                claim: NewClaim {
                    claim_id: claim_id?,
                    period_from: period_from?,
                    period_to: period_to?,
                    declared_eligible: declared?,
                    asked: Amounts {
                        esf_cents: esf?,
                        land_cents: land?,
                    },
                    receipts_reference: receipts_reference?,
                },
                actor: actor.to_owned(),
                today,
            },
        })
    })
}

/// The most cuts one verification may carry.
pub const CUTS_MAX: usize = 100;

fn verify_claim(data: &Value, today: NaiveDate, actor: &str) -> Result<Request, Vec<FieldError>> {
    let mut f = Fields::new(data, &["fund_id", "proposal_id", "claim_id", "cuts"])?;
    let fund_id = f.fund_id();
    let proposal_id = f.proposal_id();
    let claim_id = f.uuid("claim_id");
    let cuts = f.cuts();
    f.finish(|| {
        Some(Request {
            fund_id: fund_id?,
            command: Command::VerifyClaim {
                proposal_id: proposal_id?,
                claim_id: claim_id?,
                cuts: cuts?,
                actor: actor.to_owned(),
                today,
            },
        })
    })
}

fn return_claim(data: &Value, today: NaiveDate, actor: &str) -> Result<Request, Vec<FieldError>> {
    let mut f = Fields::new(data, &["fund_id", "proposal_id", "claim_id", "missing"])?;
    let fund_id = f.fund_id();
    let proposal_id = f.proposal_id();
    let claim_id = f.uuid("claim_id");
    let missing = f.text("missing");
    f.finish(|| {
        Some(Request {
            fund_id: fund_id?,
            command: Command::ReturnClaim {
                proposal_id: proposal_id?,
                claim_id: claim_id?,
                missing: missing?,
                actor: actor.to_owned(),
                today,
            },
        })
    })
}

fn resubmit_claim(data: &Value, today: NaiveDate) -> Result<Request, Vec<FieldError>> {
    let mut f = Fields::new(
        data,
        &["fund_id", "proposal_id", "claim_id", "receipts_reference"],
    )?;
    let fund_id = f.fund_id();
    let proposal_id = f.proposal_id();
    let claim_id = f.uuid("claim_id");
    let receipts_reference = f.text("receipts_reference");
    f.finish(|| {
        Some(Request {
            fund_id: fund_id?,
            command: Command::ResubmitClaim {
                proposal_id: proposal_id?,
                claim_id: claim_id?,
                receipts_reference: receipts_reference?,
                today,
            },
        })
    })
}

fn approve_claim(data: &Value, today: NaiveDate, actor: &str) -> Result<Request, Vec<FieldError>> {
    let mut f = Fields::new(
        data,
        &[
            "fund_id",
            "proposal_id",
            "claim_id",
            "payment_reference",
            "value_date",
        ],
    )?;
    let fund_id = f.fund_id();
    let proposal_id = f.proposal_id();
    let claim_id = f.uuid("claim_id");
    let payment_reference = f.text("payment_reference");
    let value_date = f.date("value_date");
    f.finish(|| {
        Some(Request {
            fund_id: fund_id?,
            command: Command::ApproveClaim {
                proposal_id: proposal_id?,
                claim_id: claim_id?,
                payment_reference: payment_reference?,
                value_date: value_date?,
                actor: actor.to_owned(),
                today,
            },
        })
    })
}

fn check_final_report(
    data: &Value,
    today: NaiveDate,
    actor: &str,
) -> Result<Request, Vec<FieldError>> {
    let mut f = Fields::new(
        data,
        &[
            "fund_id",
            "proposal_id",
            "report_reference",
            "eligible_cost_cents",
        ],
    )?;
    let fund_id = f.fund_id();
    let proposal_id = f.proposal_id();
    let report_reference = f.text("report_reference");
    let eligible = f.cents("eligible_cost_cents", 0);
    f.finish(|| {
        Some(Request {
            fund_id: fund_id?,
            command: Command::CheckFinalReport {
                proposal_id: proposal_id?,
                report_reference: report_reference?,
                eligible: eligible?,
                actor: actor.to_owned(),
                today,
            },
        })
    })
}

fn revoke_grant(data: &Value, today: NaiveDate) -> Result<Request, Vec<FieldError>> {
    let mut f = Fields::new(
        data,
        &[
            "fund_id",
            "proposal_id",
            "legal_basis",
            "effect",
            "remaining_esf_cents",
            "remaining_land_cents",
            "interest_from",
            "reason",
        ],
    )?;
    let fund_id = f.fund_id();
    let proposal_id = f.proposal_id();
    let legal_basis = f.choice(
        "legal_basis",
        &[
            ("vwvfg_48", LegalBasis::Withdrawal),
            ("vwvfg_49", LegalBasis::Revocation),
        ],
    );
    let effect = f.choice(
        "effect",
        &[("ex_tunc", Effect::ExTunc), ("ex_nunc", Effect::ExNunc)],
    );
    let esf = f.cents("remaining_esf_cents", 0);
    let land = f.cents("remaining_land_cents", 0);
    let interest_from = f.date("interest_from");
    let reason = f.text("reason");
    f.finish(|| {
        Some(Request {
            fund_id: fund_id?,
            command: Command::RevokeGrant {
                proposal_id: proposal_id?,
                legal_basis: legal_basis?,
                effect: effect?,
                remaining: Amounts {
                    esf_cents: esf?,
                    land_cents: land?,
                },
                interest_from: interest_from?,
                reason: reason?,
                today,
            },
        })
    })
}

fn charge_interest(data: &Value, today: NaiveDate) -> Result<Request, Vec<FieldError>> {
    let mut f = Fields::new(data, &["fund_id", "proposal_id", "until"])?;
    let fund_id = f.fund_id();
    let proposal_id = f.proposal_id();
    let until = f.date("until");
    f.finish(|| {
        Some(Request {
            fund_id: fund_id?,
            command: Command::ChargeInterest {
                proposal_id: proposal_id?,
                until: until?,
                today,
            },
        })
    })
}

fn record_interest_payment(data: &Value, today: NaiveDate) -> Result<Request, Vec<FieldError>> {
    let mut f = Fields::new(
        data,
        &[
            "fund_id",
            "proposal_id",
            "esf_cents",
            "land_cents",
            "value_date",
        ],
    )?;
    let fund_id = f.fund_id();
    let proposal_id = f.proposal_id();
    let esf = f.cents("esf_cents", 0);
    let land = f.cents("land_cents", 0);
    let value_date = f.date("value_date");
    f.finish(|| {
        Some(Request {
            fund_id: fund_id?,
            command: Command::RecordInterestPayment {
                proposal_id: proposal_id?,
                paid: Amounts {
                    esf_cents: esf?,
                    land_cents: land?,
                },
                value_date: value_date?,
                today,
            },
        })
    })
}

fn note_correction(data: &Value, today: NaiveDate) -> Result<Request, Vec<FieldError>> {
    let mut f = Fields::new(data, &["fund_id", "corrects_entry", "by_entry", "reason"])?;
    let fund_id = f.fund_id();
    let corrects = f.entry("corrects_entry");
    let by = f.entry("by_entry");
    let reason = f.text("reason");
    f.finish(|| {
        Some(Request {
            fund_id: fund_id?,
            command: Command::NoteCorrection {
                corrects_entry: corrects?,
                by_entry: by?,
                reason: reason?,
                today,
            },
        })
    })
}

fn lock_period(data: &Value, today: NaiveDate) -> Result<Request, Vec<FieldError>> {
    let mut f = Fields::new(data, &["fund_id", "until", "reason"])?;
    let fund_id = f.fund_id();
    let until = f.date("until");
    let reason = f.text("reason");
    f.finish(|| {
        Some(Request {
            fund_id: fund_id?,
            command: Command::LockPeriod {
                until: until?,
                reason: reason?,
                today,
            },
        })
    })
}

struct Fields<'a> {
    /// The object.
    data: &'a Map<String, Value>,
    /// Every problem found so far.
    errors: Vec<FieldError>,
}

impl<'a> Fields<'a> {
    /// The fields of `data`, which must be an object with no field outside `allowed`.
    fn new(data: &'a Value, allowed: &[&str]) -> Result<Self, Vec<FieldError>> {
        let Value::Object(data) = data else {
            return Err(vec![FieldError::new("data", "must be a JSON object")]);
        };
        let errors = data
            .keys()
            .filter(|key| !allowed.contains(&key.as_str()))
            .map(|key| FieldError::new(format!("data.{key}"), "unknown field"))
            .collect();
        Ok(Self { data, errors })
    }

    /// The request when no error was found (and `build` could build it).
    fn finish(self, build: impl FnOnce() -> Option<Request>) -> Result<Request, Vec<FieldError>> {
        if !self.errors.is_empty() {
            return Err(self.errors);
        }
        build().ok_or_else(|| vec![FieldError::new("data", "is incomplete")])
    }

    fn error(&mut self, name: &str, reason: impl Into<String>) {
        self.errors
            .push(FieldError::new(format!("data.{name}"), reason));
    }

    fn required(&mut self, name: &str) -> Option<&'a Value> {
        match self.data.get(name) {
            None | Some(Value::Null) => {
                self.error(name, "is required");
                None
            }
            Some(value) => Some(value),
        }
    }

    /// A required string of 1..=`max` characters that is not blank.
    fn string(&mut self, name: &str, max: usize) -> Option<String> {
        let value = self.required(name)?;
        let Some(s) = value.as_str() else {
            self.error(name, "must be a string");
            return None;
        };
        let chars = s.chars().count();
        if s.trim().is_empty() {
            self.error(name, "must not be blank");
            return None;
        }
        if chars > max {
            self.error(
                name,
                format!("must have at most {max} characters, has {chars}"),
            );
            return None;
        }
        Some(s.to_owned())
    }

    /// Free text (a reason, a payment reference).
    fn text(&mut self, name: &str) -> Option<String> {
        self.string(name, TEXT_LEN_MAX)
    }

    /// A fund id like `non-2021-2027`; it becomes a subject token, so nothing else passes.
    fn fund_id(&mut self) -> Option<String> {
        let id = self.string("fund_id", 64)?;
        if is_valid_fund_id(&id) {
            Some(id)
        } else {
            self.error(
                "fund_id",
                "must be <alliance>-<first year>-<last year>, e.g. non-2021-2027",
            );
            None
        }
    }

    fn proposal_id(&mut self) -> Option<Uuid> {
        self.uuid("proposal_id")
    }

    fn uuid(&mut self, name: &str) -> Option<Uuid> {
        let s = self.string(name, 64)?;
        match Uuid::parse_str(&s) {
            Ok(id) => Some(id),
            Err(_) => {
                self.error(name, "must be a UUID");
                None
            }
        }
    }

    /// Optional: a verification's cuts, `[{esf_cents, land_cents, reason}]`, at most
    /// [`CUTS_MAX`]; absent or null is none.
    fn cuts(&mut self) -> Option<Vec<ClaimCut>> {
        let list = match self.data.get("cuts") {
            None | Some(Value::Null) => return Some(Vec::new()),
            Some(Value::Array(list)) => list,
            Some(_) => {
                self.error(
                    "cuts",
                    "must be an array of {esf_cents, land_cents, reason}",
                );
                return None;
            }
        };
        if list.len() > CUTS_MAX {
            self.error("cuts", format!("must have at most {CUTS_MAX} cuts"));
            return None;
        }
        let mut cuts = Vec::with_capacity(list.len());
        let mut complete = true;
        for (index, item) in list.iter().enumerate() {
            let Value::Object(_) = item else {
                self.error(&format!("cuts[{index}]"), "must be an object");
                complete = false;
                continue;
            };
            let mut inner = match Fields::new(item, &["esf_cents", "land_cents", "reason"]) {
                Ok(inner) => inner,
                Err(errors) => {
                    self.errors.extend(errors);
                    complete = false;
                    continue;
                }
            };
            let esf = inner.cents("esf_cents", 0);
            let land = inner.cents("land_cents", 0);
            let reason = inner.text("reason");
            for error in inner.errors {
                let field = error
                    .field
                    .replacen("data.", &format!("data.cuts[{index}]."), 1);
                self.errors.push(FieldError::new(field, error.reason));
                complete = false;
            }
            if let (Some(esf), Some(land), Some(reason)) = (esf, land, reason) {
                cuts.push(ClaimCut {
                    cut: Amounts {
                        esf_cents: esf,
                        land_cents: land,
                    },
                    reason,
                });
            }
        }
        complete.then_some(cuts)
    }

    /// Integer cents in `min..=AMOUNT_CENTS_MAX`; a float is refused by name.
    fn cents(&mut self, name: &str, min: i64) -> Option<Cents> {
        let value = self.required(name)?;
        let Value::Number(n) = value else {
            self.error(name, "must be an integer number of cents");
            return None;
        };
        let Some(cents) = n.as_i64() else {
            let reason = if n.is_f64() {
                "must be an integer number of cents, not a float (money is never a float)"
            } else {
                "is out of range"
            };
            self.error(name, reason);
            return None;
        };
        if !(min..=AMOUNT_CENTS_MAX).contains(&cents) {
            self.error(
                name,
                format!("must be between {min} and {AMOUNT_CENTS_MAX} cents, is {cents}"),
            );
            return None;
        }
        Some(Cents(cents))
    }

    fn date(&mut self, name: &str) -> Option<NaiveDate> {
        let s = self.string(name, 10)?;
        match buendel_contract::commands::parse_date(&s) {
            Some(date) => Some(date),
            None => {
                self.error(name, format!("{s:?} is not a real date YYYY-MM-DD"));
                None
            }
        }
    }

    /// An entry number of a fund: an integer ≥ 1.
    fn entry(&mut self, name: &str) -> Option<u64> {
        let value = self.required(name)?;
        match value.as_u64() {
            Some(n) if n >= 1 => Some(n),
            _ => {
                self.error(name, "must be an entry number, an integer from 1");
                None
            }
        }
    }

    /// One of `choices` by its wire name.
    fn choice<T: Copy>(&mut self, name: &str, choices: &[(&str, T)]) -> Option<T> {
        let s = self.string(name, 32)?;
        if let Some((_, value)) = choices.iter().find(|(wire, _)| *wire == s) {
            return Some(*value);
        }
        let names: Vec<&str> = choices.iter().map(|(wire, _)| *wire).collect();
        self.error(name, format!("must be one of {}", names.join(", ")));
        None
    }

    fn source(&mut self) -> Option<Source> {
        let s = self.string("source", 16)?;
        match s.as_str() {
            "esf_plus" => Some(Source::EsfPlus),
            "land" => Some(Source::Land),
            _ => {
                self.error("source", "must be esf_plus or land");
                None
            }
        }
    }

    /// Optional; an operator's release is `cancelled` unless it says otherwise.
    fn release_reason(&mut self) -> Option<ReleaseReason> {
        match self.data.get("reason") {
            None | Some(Value::Null) => return Some(ReleaseReason::Cancelled),
            Some(_) => {}
        }
        let s = self.string("reason", 16)?;
        match s.as_str() {
            "cancelled" => Some(ReleaseReason::Cancelled),
            "expired" => Some(ReleaseReason::Expired),
            "withdrawn" => Some(ReleaseReason::Withdrawn),
            "refused" => Some(ReleaseReason::Refused),
            _ => {
                self.error("reason", "must be cancelled, expired, withdrawn or refused");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 3, 1).expect("valid date")
    }

    fn fields(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn an_allocation_parses_into_its_command_with_today() {
        let data = json!({
            "fund_id": "non-2021-2027",
            "esf_cents": 200_571_429,
            "land_cents": 33_428_571,
            "commit_deadline": "2027-12-31",
        });
        let request = parse("allocate_budget", &data, today(), "operator")
            .expect("a command")
            .expect("valid");
        assert_eq!(request.fund_id, "non-2021-2027");
        assert_eq!(
            request.command,
            Command::AllocateBudget {
                fund_id: "non-2021-2027".into(),
                esf: Cents(200_571_429),
                land: Cents(33_428_571),
                commit_deadline: NaiveDate::from_ymd_opt(2027, 12, 31).expect("date"),
                today: today(),
            }
        );
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let data = json!({
            "fund_id": "non.2021",
            "proposal_id": "nope",
            "esf_cents": -5,
            "land_cents": "10",
            "value_date": "2025-02-30",
            "extra": 1,
        });
        let errors = parse("record_disbursement", &data, today(), "operator")
            .expect("a command")
            .expect_err("invalid");
        let mut found = fields(&errors);
        found.sort_unstable();
        assert_eq!(
            found,
            [
                "data.esf_cents",
                "data.extra",
                "data.fund_id",
                "data.land_cents",
                "data.payment_reference",
                "data.proposal_id",
                "data.value_date",
            ]
        );
    }

    #[test]
    fn a_float_amount_is_refused_by_name() {
        let data = json!({"fund_id": "non-2021-2027", "source": "land", "delta_cents": 12.5, "reason": "x"});
        let errors = parse("adjust_budget", &data, today(), "operator")
            .expect("a command")
            .expect_err("invalid");
        assert_eq!(fields(&errors), ["data.delta_cents"]);
        assert!(errors[0].reason.contains("not a float"), "{errors:?}");
    }

    #[test]
    fn a_cut_is_a_negative_delta() {
        let data = json!({"fund_id": "son-2021-2027", "source": "esf_plus", "delta_cents": -100, "reason": "cut"});
        let request = parse("adjust_budget", &data, today(), "operator")
            .expect("a command")
            .expect("valid");
        assert!(matches!(
            request.command,
            Command::AdjustBudget {
                delta_cents: Cents(-100),
                source: Source::EsfPlus,
                ..
            }
        ));
    }

    #[test]
    fn an_operator_release_is_cancelled_unless_it_says_otherwise() {
        let id = Uuid::from_u128(7);
        let data = json!({"fund_id": "non-2021-2027", "proposal_id": id.to_string()});
        let request = parse("release_reservation", &data, today(), "operator")
            .expect("a command")
            .expect("valid");
        assert_eq!(
            request.command,
            Command::ReleaseReservation {
                proposal_id: id,
                reason: ReleaseReason::Cancelled,
                today: today(),
            }
        );
        assert_eq!(request.proposal_id(), Some(id));
    }

    #[test]
    fn the_saga_commands_are_not_operator_commands() {
        assert!(parse("reserve", &json!({}), today(), "operator").is_none());
        assert!(parse("commit", &json!({}), today(), "operator").is_none());
    }

    #[test]
    fn data_must_be_an_object() {
        let errors = parse("expire_unbound", &json!([1]), today(), "operator")
            .expect("a command")
            .expect_err("invalid");
        assert_eq!(fields(&errors), ["data"]);
    }
}
