-- Read models of issue 4 (funding ledger), projected from the LEDGER stream
-- (`buendel_projector::LedgerProjection`): one Fund aggregate per `<ns>.ledger.<fund_id>`, fund ids
-- such as `non-2021-2027`. The chart of accounts, the journal entry of each event and the figures
-- derived from account balances are documented in `buendel_contract::ledger`.
--
-- Every ledger event becomes one `ledger_entries` row and its `ledger_postings`; the balances
-- (`account_balances`, `fund_balances`, `proposal_money`) are kept up to date incrementally in the
-- same transaction. Only events whose `ledger_entries` row is new move a balance, so an event applied
-- twice (a replay, even without the checkpoint) moves nothing twice.
--
-- Money is integer euro cents (bigint), never floats. A posting moves `amount_cents` (> 0) of one
-- source from its credit account into its debit account; an account's balance is what was debited
-- to it minus what was credited from it.
--
-- This file is never edited once applied: later changes are new migrations.

-- One row per fund that has any event.
CREATE TABLE funds (
    -- `<alliance>-<first year>-<last year>`.
    fund_id          text        PRIMARY KEY,
    -- The alliance part of the fund id (`non`, `son`).
    alliance_id      text        NOT NULL,
    -- From `budget_allocated` (the first one): the last day money may be reserved or committed.
    -- NULL only while the fund's allocation has not been projected.
    commit_deadline  date        NULL,
    -- The latest value date booked on the fund.
    last_value_date  date        NOT NULL,
    -- LEDGER stream sequence of the fund's first event: a stable, increasing key for pagination.
    created_sequence bigint      NOT NULL UNIQUE,
    -- LEDGER stream sequence of the last event applied.
    last_sequence    bigint      NOT NULL,
    -- The aggregate version (envelope `sequence`) after the last event = the number of entries.
    version          bigint      NOT NULL,
    -- The `hash` of the last event: the head of the fund's hash chain.
    last_hash        text        NULL,
    -- Event time of the last event (never the wall clock, so a rebuild yields the same rows).
    updated_at       timestamptz NOT NULL
);

-- Every ledger event: one balanced journal entry.
CREATE TABLE ledger_entries (
    -- LEDGER stream sequence: the pagination key of `GET /v1/funds/{id}/entries`.
    sequence      bigint      PRIMARY KEY,
    fund_id       text        NOT NULL,
    -- The aggregate version after this event (1 for the fund's first).
    version       bigint      NOT NULL,
    -- The CloudEvents id.
    event_id      uuid        NOT NULL UNIQUE,
    -- The CloudEvents type, e.g. `buendel.ledger.funds_reserved.v1`.
    event_type    text        NOT NULL,
    -- The day the entry takes effect (balances `as_of` a date include every entry up to it).
    value_date    date        NOT NULL,
    -- The CloudEvents time.
    time          timestamptz NOT NULL,
    -- The project, for the events about one (NULL for allocations, adjustments, expiries).
    proposal_id   uuid        NULL,
    -- The hash chain: the previous event's hash (or the genesis hash) and this event's hash.
    prevhash      text        NULL,
    hash          text        NULL,
    -- What caused the event (a command id or a review event id), and who asked.
    causationid   text        NULL,
    correlationid text        NULL,
    actor         text        NOT NULL,
    -- The CloudEvents `data`, as published (postings included).
    data          jsonb       NOT NULL
);

-- The journal of a fund in stream order (pagination; `as_of` walks it backwards from the end).
CREATE INDEX ledger_entries_fund_idx ON ledger_entries (fund_id, sequence);

-- Every posting of every entry, in the entry's order (`index` from 0).
CREATE TABLE ledger_postings (
    sequence        bigint NOT NULL,
    index           integer NOT NULL,
    fund_id         text   NOT NULL,
    -- The entry's project (NULL for fund-level entries).
    proposal_id     uuid   NULL,
    -- esf_plus | land
    source          text   NOT NULL,
    -- budget | available | reserved | committed | disbursed | receivable | repaid | expired, and the
    -- project of a project account (NULL for the fund accounts budget, available, expired).
    debit_kind      text   NOT NULL,
    debit_proposal  uuid   NULL,
    credit_kind     text   NOT NULL,
    credit_proposal uuid   NULL,
    amount_cents    bigint NOT NULL CHECK (amount_cents > 0),
    -- The entry's value date, repeated so balances `as_of` a date read this table alone.
    value_date      date   NOT NULL,
    PRIMARY KEY (sequence, index)
);

CREATE INDEX ledger_postings_fund_value_date_idx ON ledger_postings (fund_id, value_date);

-- The balance of every account ever posted to, per fund and source. Fund accounts have the nil
-- UUID as `proposal_id`, so the key needs no NULLs. Per fund and source the balances sum to zero
-- (the trial balance).
CREATE TABLE account_balances (
    fund_id       text   NOT NULL,
    source        text   NOT NULL,
    account_kind  text   NOT NULL,
    -- The project of a project account; '00000000-0000-0000-0000-000000000000' for a fund account.
    proposal_id   uuid   NOT NULL,
    balance_cents bigint NOT NULL,
    PRIMARY KEY (fund_id, source, account_kind, proposal_id)
);

-- The sum of `account_balances` per fund, source and account kind (at most 8 kinds x 2 sources per
-- fund), so that a fund's figures are read from a handful of rows however many projects it has.
CREATE TABLE fund_balances (
    fund_id       text   NOT NULL,
    source        text   NOT NULL,
    account_kind  text   NOT NULL,
    balance_cents bigint NOT NULL,
    PRIMARY KEY (fund_id, source, account_kind)
);

-- The money of each project that has any ledger event, per source. The figures are those of
-- `buendel_contract::ledger::ProjectBalances`:
--   reserved  = reserved(p)
--   committed = committed(p) + disbursed(p) + receivable(p) + repaid(p)  (granted, less released)
--   disbursed = disbursed(p) + receivable(p) + repaid(p)                 (paid out in all)
--   recovered = receivable(p) + repaid(p)                                (clawback principal)
--   repaid    = repaid(p)
CREATE TABLE proposal_money (
    proposal_id            uuid        PRIMARY KEY,
    fund_id                text        NOT NULL,
    -- The project's status in the fund: waitlisted | reserved | committed | closed | released.
    -- NULL only if the fund's first event about the project is one that sets no status (a
    -- disbursement, recovery or repayment), which the Fund aggregate never decides.
    status                 text        NULL,
    -- Why its reservation was released (withdrawn | refused | expired | cancelled), if it was.
    release_reason         text        NULL,
    -- The split of its last reservation request (reserved or declined), per source; NULL until one.
    requested_esf_cents    bigint      NULL,
    requested_land_cents   bigint      NULL,
    esf_reserved_cents     bigint      NOT NULL DEFAULT 0,
    esf_committed_cents    bigint      NOT NULL DEFAULT 0,
    esf_disbursed_cents    bigint      NOT NULL DEFAULT 0,
    esf_recovered_cents    bigint      NOT NULL DEFAULT 0,
    esf_repaid_cents       bigint      NOT NULL DEFAULT 0,
    land_reserved_cents    bigint      NOT NULL DEFAULT 0,
    land_committed_cents   bigint      NOT NULL DEFAULT 0,
    land_disbursed_cents   bigint      NOT NULL DEFAULT 0,
    land_recovered_cents   bigint      NOT NULL DEFAULT 0,
    land_repaid_cents      bigint      NOT NULL DEFAULT 0,
    -- LEDGER stream sequence of the last event about the project.
    last_sequence          bigint      NOT NULL,
    -- Its event time.
    updated_at             timestamptz NOT NULL
);

CREATE INDEX proposal_money_fund_idx ON proposal_money (fund_id, status);
