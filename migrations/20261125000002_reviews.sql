-- Read models of issue 3 (approval): the review of each proposal, the partners' current votes and
-- recusals, and the alliances with their partner rosters. All projected from the REVIEWS stream
-- (`buendel_projector::ReviewsProjection`), which holds both the Review aggregate
-- (`<ns>.review.<proposal_id>`) and the Alliance aggregate (`<ns>.review.alliance-<alliance_id>`).
--
-- Why the review lives in its own table and not in columns of `proposals`: `proposals` is projected
-- from PROPOSALS and these from REVIEWS, by independent runners, so a review event may be projected
-- before its proposal's row exists. Keyed by proposal_id and written by upserts, these tables never
-- depend on that order; the API joins them. The status the API shows combines both (see
-- `buendel_api::status`): `withdrawn` (from PROPOSALS) unless granted, else the review's status
-- beyond `in_review`, else the proposal's status.
--
-- This file is never edited once applied: later changes are new migrations.

-- The review of one proposal: one row per proposal that has any review event.
CREATE TABLE proposal_reviews (
    proposal_id          uuid        PRIMARY KEY,
    -- in_review (opened, collecting votes) | statement_positive | statement_negative | granted |
    -- refused. A `closed` review (the proposal was withdrawn) keeps its last status; the withdrawal
    -- shows through the combined status.
    review_status        text        NOT NULL,
    -- From `opened` (NULL only while `opened` has not been projected, which REVIEWS' per-subject
    -- order rules out in practice).
    alliance_id          text        NULL,
    -- The partner roster snapshot of `opened`: exactly these partners may vote (`[{"id","name"}]`).
    review_roster        jsonb       NULL,
    -- The quorum rule of `opened` (`{"min_participation_bp": ..}`).
    quorum               jsonb       NULL,
    -- The alliance's region category at opening: transition | more_developed.
    region               text        NULL,
    -- The program rules version the review applies.
    rules_version        text        NULL,
    opened_at            timestamptz NULL,
    -- From `statement_issued`: the tally it rests on (`{"yes","no","abstain","recused","eligible"}`),
    -- whether the quorum was met, positive | negative, and the conditions (a JSON array of strings).
    tally                jsonb       NULL,
    quorum_met           boolean     NULL,
    statement_verdict    text        NULL,
    statement_conditions jsonb       NULL,
    statement_issued_at  timestamptz NULL,
    -- From `grant_decided`: bank_reference, eligible_cost_cents, total_rate_bp, esf_rate_bp,
    -- esf_cents, land_cents, grant_cents (= esf + land), period_from, period_to, amendment (or null),
    -- decided_at. Integer cents and basis points, never floats.
    grant_terms          jsonb       NULL,
    -- From `grant_refused`: bank_reference, reason, refused_at.
    refusal              jsonb       NULL,
    -- From `closed` (the proposal was withdrawn).
    closed_reason        text        NULL,
    closed_at            timestamptz NULL,
    -- REVIEWS stream sequence of the last event applied; updates only apply to an older row.
    last_sequence        bigint      NOT NULL,
    -- The review aggregate's version (the envelope `sequence`) after the last event.
    version              bigint      NOT NULL,
    -- Time of the last event (event time, so a rebuild yields the same rows).
    updated_at           timestamptz NOT NULL
);

CREATE INDEX proposal_reviews_status_idx ON proposal_reviews (review_status);

-- The current vote of each partner on each proposal. A changed vote replaces the row (only an event
-- with a higher stream sequence does); a partner who declares a conflict loses its row, because a
-- recused partner's vote no longer counts.
CREATE TABLE review_votes (
    proposal_id uuid        NOT NULL,
    partner_id  text        NOT NULL,
    -- yes | no | abstain
    vote        text        NOT NULL,
    comment     text        NULL,
    -- The event time of the vote.
    recorded_at timestamptz NOT NULL,
    -- The REVIEWS stream sequence of the vote.
    sequence    bigint      NOT NULL,
    PRIMARY KEY (proposal_id, partner_id)
);

-- Declared conflicts of interest: the partner may not vote on the proposal.
CREATE TABLE review_recusals (
    proposal_id uuid        NOT NULL,
    partner_id  text        NOT NULL,
    reason      text        NOT NULL,
    declared_at timestamptz NOT NULL,
    -- The REVIEWS stream sequence of the declaration.
    sequence    bigint      NOT NULL,
    PRIMARY KEY (proposal_id, partner_id)
);

-- Every alliance with its current partner roster, from the `buendel.alliance.*` events. Purely
-- derived from events: before an alliance's `registered` event is projected, it is not here.
CREATE TABLE alliances (
    -- Short id (`non`, `son`).
    alliance_id          text        PRIMARY KEY,
    name                 text        NOT NULL,
    -- transition | more_developed
    region               text        NOT NULL,
    districts            text[]      NOT NULL,
    focus_areas          text[]      NOT NULL,
    -- The current roster, in joining order: `[{"id","name"}]`.
    partners             jsonb       NOT NULL,
    -- `{"min_participation_bp": ..}`
    quorum               jsonb       NOT NULL,
    rules_version        text        NOT NULL,
    application_deadline date        NOT NULL,
    -- REVIEWS stream sequence of `registered`: a stable, increasing key for cursor pagination.
    registered_sequence  bigint      NOT NULL UNIQUE,
    registered_at        timestamptz NOT NULL,
    -- Time of the last event.
    updated_at           timestamptz NOT NULL,
    -- REVIEWS stream sequence of the last event applied; updates only apply to an older row.
    last_sequence        bigint      NOT NULL
);
