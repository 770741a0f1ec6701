//! The one status the API shows for a proposal, combined from two independently projected streams.
//!
//! `proposals.status` comes from PROPOSALS (`submitted`, `screening_failed`, `in_review`,
//! `withdrawn`); `proposal_reviews.review_status` comes from REVIEWS (`in_review`,
//! `statement_positive`, `statement_negative`, `granted`, `refused`). The rule, in this order:
//!
//! 1. **`withdrawn`** if the proposal is withdrawn (PROPOSALS) and its review is not `granted`: a
//!    withdrawal wins over every review state before the grant;
//! 2. else **the review's status**, if the review has one beyond `in_review` (`statement_positive`,
//!    `statement_negative`, `granted`, `refused`);
//! 3. else **the proposal's status**.
//!
//! The rule is written once, as SQL ([`PROPOSALS_WITH_STATUS`]), and used by every endpoint that
//! shows or filters or counts by status (`/v1/proposals`, `/v1/proposals/{id}`, `/v1/alliances`,
//! `/metrics`), so they always agree. Because it is evaluated at query time, it does not matter
//! which of the two projections ran first.

/// Every column of `proposals`, with `status` replaced by the combined status and the review's own
/// status added as `review_status` (NULL without a review). Use it as a derived table:
/// `SELECT .. FROM (PROPOSALS_WITH_STATUS) AS v WHERE v.status = ..`.
pub const PROPOSALS_WITH_STATUS: &str = "SELECT p.proposal_id, p.alliance_id, \
        CASE \
            WHEN p.status = 'withdrawn' AND r.review_status IS DISTINCT FROM 'granted' \
                THEN 'withdrawn' \
            WHEN r.review_status IN \
                    ('statement_positive', 'statement_negative', 'granted', 'refused') \
                THEN r.review_status \
            ELSE p.status \
        END AS status, \
        r.review_status, \
        p.title, p.summary, p.project_type, p.applicant_name, p.applicant_kind, \
        p.applicant_district, p.focus_areas, p.districts, p.planned_start, p.duration_months, \
        p.eligible_cost_cents, p.requested_rate_bp, p.rules_version, p.screening, \
        p.created_sequence, p.last_sequence, p.version, p.submitted_at, p.updated_at \
    FROM proposals p LEFT JOIN proposal_reviews r ON r.proposal_id = p.proposal_id";

/// [`PROPOSALS_WITH_STATUS`] as a derived table named `v`, ready for a `FROM` clause.
pub fn proposals_view() -> String {
    format!("({PROPOSALS_WITH_STATUS}) AS v")
}
