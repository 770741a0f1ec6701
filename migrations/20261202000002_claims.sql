-- Payment claims (Mittelabruf) and the grant terms they are checked against, from the LEDGER
-- stream's claim_* and grant_terms_recorded events. Like every read model, rebuilt from the stream;
-- no clock column: the 80-day clock is computed when read, from the dates stored here.
CREATE TABLE grant_terms (
    proposal_id         uuid    PRIMARY KEY,
    fund_id             text    NOT NULL,
    bank_reference      text    NOT NULL,
    eligible_cost_cents bigint  NOT NULL CHECK (eligible_cost_cents >= 0),
    total_rate_bp       integer NOT NULL CHECK (total_rate_bp BETWEEN 0 AND 10000),
    esf_rate_bp         integer NOT NULL CHECK (esf_rate_bp BETWEEN 0 AND 10000),
    period_from         date    NOT NULL,
    period_to           date    NOT NULL,
    -- The LEDGER sequence of the event that recorded them.
    sequence            bigint  NOT NULL
);

CREATE TABLE claims (
    claim_id                uuid    NOT NULL,
    proposal_id             uuid    NOT NULL,
    fund_id                 text    NOT NULL,
    -- submitted | returned | resubmitted | verified | paid
    status                  text    NOT NULL,
    period_from             date    NOT NULL,
    period_to               date    NOT NULL,
    declared_eligible_cents bigint  NOT NULL,
    asked_esf_cents         bigint  NOT NULL,
    asked_land_cents        bigint  NOT NULL,
    accepted_esf_cents      bigint,
    accepted_land_cents     bigint,
    -- The verifier's cuts, [{cut: {esf_cents, land_cents}, reason}], as in claim_verified.
    cuts                    jsonb   NOT NULL DEFAULT '[]',
    receipts_reference      text    NOT NULL,
    submitted_by            text    NOT NULL,
    verified_by             text,
    approved_by             text,
    payment_reference       text,
    -- The 80-day clock (CPR Art. 74(1)(b)): started on submission, paused while returned.
    submitted_on            date    NOT NULL,
    paused_since            date,
    paused_days             integer NOT NULL DEFAULT 0 CHECK (paused_days >= 0),
    paid_on                 date,
    -- The day of the clock's last start, pause, resume or stop.
    clock_changed_on        date    NOT NULL,
    -- The LEDGER sequence of the claim's last event.
    last_sequence           bigint  NOT NULL,
    PRIMARY KEY (proposal_id, claim_id)
);

CREATE INDEX claims_open ON claims (submitted_on) WHERE status <> 'paid';
CREATE INDEX claims_fund ON claims (fund_id);
