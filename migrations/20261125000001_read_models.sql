-- Read models of issue 2: proposals, their timeline, dead letters, and the projector's checkpoints.
--
-- Postgres holds read models only: everything here can be dropped and rebuilt by replaying the
-- JetStream streams (`buendel_projector::rebuild`). The projector writes each batch of events and its
-- checkpoint in one transaction, so a replayed or redelivered event changes nothing.
--
-- This file is never edited once applied: later changes are new migrations.

-- How far each projection has read its stream. One row per stream (the stream's name without the
-- namespace prefix, e.g. `PROPOSALS`, since the database is already per namespace). The projector
-- locks its row with `SELECT ... FOR UPDATE` for the length of a batch, which serialises concurrent
-- projector instances.
CREATE TABLE checkpoints (
    stream        text        PRIMARY KEY,
    -- The stream sequence of the last message applied; 0 before the first.
    last_sequence bigint      NOT NULL CHECK (last_sequence >= 0),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- The current state of every proposal.
--
-- `status` is plain text without a CHECK constraint, because later issues add statuses and this file
-- is never edited. Known statuses:
--   issue 2: submitted (awaiting screening), screening_failed (an `error` rule failed),
--            in_review (screened and passed), withdrawn (by the applicant);
--   later:   statement_positive, statement_negative, waitlisted, funds_reserved, granted, refused,
--            closed.
-- Money is integer euro cents, rates integer basis points; never floats.
CREATE TABLE proposals (
    proposal_id         uuid        PRIMARY KEY,
    alliance_id         text        NOT NULL,
    status              text        NOT NULL,
    title               text        NOT NULL,
    summary             text        NOT NULL,
    -- structure | unemployed | training
    project_type        text        NOT NULL,
    applicant_name      text        NOT NULL,
    applicant_kind      text        NOT NULL,
    applicant_district  text        NOT NULL,
    focus_areas         text[]      NOT NULL,
    districts           text[]      NOT NULL,
    planned_start       date        NOT NULL,
    duration_months     integer     NOT NULL,
    eligible_cost_cents bigint      NOT NULL,
    requested_rate_bp   integer     NOT NULL,
    -- The program rules version of the last screening (NULL until screened).
    rules_version       text        NULL,
    -- The rule results of the last `screened` event, as published (a JSON array); NULL until
    -- screened. After a revision it still holds the previous screening until the next one arrives
    -- (the status says `submitted` meanwhile).
    screening           jsonb       NULL,
    -- Stream sequence of the `submitted` event: a stable, increasing key for cursor pagination.
    created_sequence    bigint      NOT NULL,
    -- Stream sequence of the last event applied to this row.
    last_sequence       bigint      NOT NULL,
    -- The aggregate version (the envelope `sequence`) after the last event.
    version             bigint      NOT NULL,
    -- Event times, not wall-clock times, so a rebuild produces exactly the same rows.
    submitted_at        timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL
);

CREATE UNIQUE INDEX proposals_created_sequence_key ON proposals (created_sequence);
CREATE INDEX proposals_status_idx ON proposals (status, created_sequence);
CREATE INDEX proposals_alliance_idx ON proposals (alliance_id, created_sequence);
CREATE INDEX proposals_focus_areas_idx ON proposals USING gin (focus_areas);
CREATE INDEX proposals_districts_idx ON proposals USING gin (districts);

-- Every event that concerns a proposal, whichever aggregate it came from (PROPOSALS now; REVIEWS and
-- LEDGER in later issues), hence the `stream` column in the key.
CREATE TABLE proposal_timeline (
    -- The stream (without the namespace prefix) and the event's sequence in it.
    stream      text        NOT NULL,
    sequence    bigint      NOT NULL,
    proposal_id uuid        NOT NULL,
    -- The CloudEvents id.
    event_id    uuid        NOT NULL UNIQUE,
    -- The CloudEvents type, e.g. `buendel.proposal.submitted.v1`.
    event_type  text        NOT NULL,
    -- The CloudEvents time.
    time        timestamptz NOT NULL,
    actor       text        NOT NULL,
    -- The CloudEvents `data`, as published.
    data        jsonb       NOT NULL,
    PRIMARY KEY (stream, sequence)
);

CREATE INDEX proposal_timeline_proposal_idx ON proposal_timeline (proposal_id, time, sequence);

-- Every refused input, projected from the DEADLETTER stream, with its original bytes and every
-- reason found.
CREATE TABLE dead_letters (
    -- The dead letter's id (derived from where the input came from).
    id              uuid        PRIMARY KEY,
    -- The DEADLETTER stream sequence: the pagination key, newest last.
    dl_sequence     bigint      NOT NULL UNIQUE,
    -- `intake`, or the name of the service that refused the input.
    source          text        NOT NULL,
    -- The subject the input arrived on.
    subject         text        NOT NULL,
    -- The input's own stream sequence (0 when it did not come from a stream).
    stream_sequence bigint      NOT NULL,
    -- The input's CloudEvents id and type, when it had readable ones.
    event_id        text        NULL,
    event_type      text        NULL,
    -- A stable code for the kind of refusal, e.g. `invalid_input`, `retries_exhausted`.
    code            text        NOT NULL,
    -- Every reason, as a JSON array of `{"field":..,"reason":..}`.
    reasons         jsonb       NOT NULL,
    -- The original bytes, base64 (standard alphabet, padded).
    original_base64 text        NOT NULL,
    rejected_at     timestamptz NOT NULL
);

CREATE INDEX dead_letters_source_idx ON dead_letters (source, dl_sequence);
