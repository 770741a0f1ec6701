//! The one status the API shows for a proposal, combined from three independently projected streams.
//!
//! - `proposals.status` comes from PROPOSALS: `submitted`, `screening_failed`, `in_review`,
//!   `withdrawn`;
//! - `proposal_reviews.review_status` comes from REVIEWS: `in_review`, `statement_positive`,
//!   `statement_negative`, `granted` (the bank decided), `refused`;
//! - `proposal_money.status` comes from LEDGER: `waitlisted`, `reserved`, `committed`, `closed`,
//!   `released`.
//!
//! The rule, in this order (the first that applies wins):
//!
//! 1. **`withdrawn`** if the proposal is withdrawn (PROPOSALS), its review is not `granted` and no
//!    money is committed to it (ledger not `committed`/`closed`): a withdrawal wins over every state
//!    before the grant;
//! 2. **`refused`** if the bank refused the grant (REVIEWS);
//! 3. else, once the ledger has a say (after `statement_positive`), **the ledger's status**:
//!    `waitlisted` (the reservation was declined: the proposal waits for money, first come first
//!    served), **`funds_reserved`** (ledger `reserved`: money is held, the bank has not granted yet),
//!    **`granted`** (ledger `committed`: `granted` means the grant is committed in the fund),
//!    **`closed`** (ledger `closed`: the project was closed, what was not paid was freed). A
//!    `released` reservation (or no ledger row) leaves the decision to the next step;
//! 4. else **the review's status**, if the review has one beyond `in_review` (`statement_positive`,
//!    `statement_negative`, `granted`);
//! 5. else **the proposal's status**.
//!
//! So a proposal goes `submitted` → `in_review` → `statement_positive` → `funds_reserved` (or
//! `waitlisted`, and `funds_reserved` once money is freed) → `granted` → `closed`, or ends
//! `screening_failed`, `statement_negative`, `refused` or `withdrawn`. Without a ledger row (the
//! ledger has not booked anything for it yet) a bank decision shows as the review's `granted`.
//!
//! The rule is written once, as SQL ([`PROPOSALS_WITH_STATUS`]), and used by every endpoint that
//! shows or filters or counts by status (`/v1/proposals`, `/v1/proposals/{id}`, `/v1/alliances`,
//! `/metrics`), so they always agree. Because it is evaluated at query time, it does not matter
//! which of the projections ran first.

/// Every column of `proposals`, with `status` replaced by the combined status, the review's own
/// status added as `review_status` and the ledger's as `money_status` (NULL without a review or
/// ledger row). Use it as a derived table: `SELECT .. FROM (PROPOSALS_WITH_STATUS) AS v WHERE ..`.
pub const PROPOSALS_WITH_STATUS: &str = "SELECT p.proposal_id, p.alliance_id, \
        CASE \
            WHEN p.status = 'withdrawn' AND r.review_status IS DISTINCT FROM 'granted' \
                 AND m.status IS DISTINCT FROM 'committed' AND m.status IS DISTINCT FROM 'closed' \
                THEN 'withdrawn' \
            WHEN r.review_status = 'refused' THEN 'refused' \
            WHEN m.status = 'waitlisted' THEN 'waitlisted' \
            WHEN m.status = 'reserved' THEN 'funds_reserved' \
            WHEN m.status = 'committed' THEN 'granted' \
            WHEN m.status = 'closed' THEN 'closed' \
            WHEN r.review_status IN ('statement_positive', 'statement_negative', 'granted') \
                THEN r.review_status \
            ELSE p.status \
        END AS status, \
        r.review_status, m.status AS money_status, \
        p.title, p.summary, p.project_type, p.applicant_name, p.applicant_kind, \
        p.applicant_district, p.focus_areas, p.districts, p.planned_start, p.duration_months, \
        p.eligible_cost_cents, p.requested_rate_bp, p.rules_version, p.screening, \
        p.created_sequence, p.last_sequence, p.version, p.submitted_at, p.updated_at \
    FROM proposals p \
    LEFT JOIN proposal_reviews r ON r.proposal_id = p.proposal_id \
    LEFT JOIN proposal_money m ON m.proposal_id = p.proposal_id";

/// [`PROPOSALS_WITH_STATUS`] as a derived table named `v`, ready for a `FROM` clause.
pub fn proposals_view() -> String {
    format!("({PROPOSALS_WITH_STATUS}) AS v")
}
