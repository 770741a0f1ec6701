//! Payment claims and grant terms, from the LEDGER stream's `claim_*` and `grant_terms_recorded`
//! events, into `claims` and `grant_terms`.
//!
//! Claim events are few beside the rest of the ledger (a handful per project and year), so each
//! is one statement, in stream order, inside the batch's transaction. They are applied only for
//! events whose `ledger_entries` row is new, so a replay moves no claim twice. The clock columns
//! keep what the events say (submitted on, paused since, paused days, paid on); the reading of the
//! 80-day clock as of a day is computed when read (`buendel_grant::PaymentClock`).

use sqlx::PgConnection;

use buendel_contract::ledger::LedgerEvent;

use crate::projection::{Decoded, ProjectionError};

/// Applies the claim events among `fresh`, in order.
pub(crate) async fn apply(
    conn: &mut PgConnection,
    fresh: &[&Decoded<LedgerEvent>],
) -> Result<(), ProjectionError> {
    for decoded in fresh {
        let sequence = decoded.sql_sequence;
        match &decoded.envelope.event {
            LedgerEvent::GrantTermsRecorded(e) => {
                sqlx::query(
                    "INSERT INTO grant_terms (proposal_id, fund_id, bank_reference,
                         eligible_cost_cents, total_rate_bp, esf_rate_bp, period_from, period_to,
                         sequence)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                     ON CONFLICT (proposal_id) DO UPDATE SET
                         bank_reference = EXCLUDED.bank_reference,
                         eligible_cost_cents = EXCLUDED.eligible_cost_cents,
                         total_rate_bp = EXCLUDED.total_rate_bp,
                         esf_rate_bp = EXCLUDED.esf_rate_bp,
                         period_from = EXCLUDED.period_from,
                         period_to = EXCLUDED.period_to,
                         sequence = EXCLUDED.sequence",
                )
                .bind(e.proposal_id)
                .bind(&e.fund_id)
                .bind(&e.terms.bank_reference)
                .bind(e.terms.eligible_cost_cents.0)
                .bind(i64::from(e.terms.total_rate_bp.0))
                .bind(i64::from(e.terms.esf_rate_bp.0))
                .bind(e.terms.period_from)
                .bind(e.terms.period_to)
                .bind(sequence)
                .execute(&mut *conn)
                .await?;
            }
            LedgerEvent::ClaimSubmitted(e) => {
                sqlx::query(
                    "INSERT INTO claims (claim_id, proposal_id, fund_id, status, period_from,
                         period_to, declared_eligible_cents, asked_esf_cents, asked_land_cents,
                         receipts_reference, submitted_by, submitted_on, clock_changed_on,
                         last_sequence)
                     VALUES ($1, $2, $3, 'submitted', $4, $5, $6, $7, $8, $9, $10, $11, $11, $12)
                     ON CONFLICT (proposal_id, claim_id) DO NOTHING",
                )
                .bind(e.claim_id)
                .bind(e.proposal_id)
                .bind(&e.fund_id)
                .bind(e.period_from)
                .bind(e.period_to)
                .bind(e.declared_eligible_cents.0)
                .bind(e.asked.esf_cents.0)
                .bind(e.asked.land_cents.0)
                .bind(&e.receipts_reference)
                .bind(&e.submitted_by)
                .bind(e.value_date)
                .bind(sequence)
                .execute(&mut *conn)
                .await?;
            }
            LedgerEvent::ClaimReturned(e) => {
                sqlx::query(
                    "UPDATE claims SET status = 'returned', paused_since = $3,
                         pauses = pauses || jsonb_build_array(jsonb_build_array($3::date, NULL)),
                         clock_changed_on = $3, last_sequence = $4
                     WHERE proposal_id = $1 AND claim_id = $2",
                )
                .bind(e.proposal_id)
                .bind(e.claim_id)
                .bind(e.value_date)
                .bind(sequence)
                .execute(&mut *conn)
                .await?;
            }
            LedgerEvent::ClaimResubmitted(e) => {
                sqlx::query(
                    "UPDATE claims SET status = 'resubmitted',
                         paused_days = paused_days + GREATEST($3 - COALESCE(paused_since, $3), 0),
                         pauses = CASE WHEN jsonb_array_length(pauses) > 0
                             THEN jsonb_set(pauses, ARRAY[(jsonb_array_length(pauses) - 1)::text, '1'],
                                            to_jsonb($3::date))
                             ELSE pauses END,
                         paused_since = NULL, clock_changed_on = $3, receipts_reference = $4,
                         last_sequence = $5
                     WHERE proposal_id = $1 AND claim_id = $2",
                )
                .bind(e.proposal_id)
                .bind(e.claim_id)
                .bind(e.value_date)
                .bind(&e.receipts_reference)
                .bind(sequence)
                .execute(&mut *conn)
                .await?;
            }
            LedgerEvent::ClaimVerified(e) => {
                let cuts = serde_json::to_value(&e.cuts).map_err(|error| {
                    ProjectionError::Undecodable {
                        sequence: decoded.sequence,
                        subject: decoded.envelope.subject.clone(),
                        reason: error.to_string(),
                    }
                })?;
                sqlx::query(
                    "UPDATE claims SET status = 'verified', accepted_esf_cents = $3,
                         accepted_land_cents = $4, cuts = $5, verified_by = $6, last_sequence = $7
                     WHERE proposal_id = $1 AND claim_id = $2",
                )
                .bind(e.proposal_id)
                .bind(e.claim_id)
                .bind(e.accepted.esf_cents.0)
                .bind(e.accepted.land_cents.0)
                .bind(cuts)
                .bind(&e.verified_by)
                .bind(sequence)
                .execute(&mut *conn)
                .await?;
            }
            LedgerEvent::ClaimApproved(e) => {
                sqlx::query(
                    "UPDATE claims SET status = 'paid', approved_by = $3, payment_reference = $4,
                         paid_on = $5, clock_changed_on = $5, last_sequence = $6
                     WHERE proposal_id = $1 AND claim_id = $2",
                )
                .bind(e.proposal_id)
                .bind(e.claim_id)
                .bind(&e.approved_by)
                .bind(&e.payment_reference)
                .bind(e.value_date)
                .bind(sequence)
                .execute(&mut *conn)
                .await?;
            }
            _ => {}
        }
    }
    Ok(())
}
