-- The online audits that were asked to leave their result (`buendel audit verify --record`), so the
-- dashboard's exceptions can show the differences the latest one found. Not a read model: nothing
-- rebuilds it from a stream, and a projection rebuild leaves it alone. Only the auditor writes it;
-- the API reads the latest row.
CREATE TABLE audit_runs (
    run_id         uuid        PRIMARY KEY,
    -- When the audit finished (the auditor's clock).
    finished_at    timestamptz NOT NULL,
    -- Whether everything held: no failure, no difference.
    ok             boolean     NOT NULL,
    -- LEDGER stream sequences read, NULL for an empty ledger.
    first_sequence bigint      NULL,
    last_sequence  bigint      NULL,
    -- Ledger events verified.
    events         bigint      NOT NULL CHECK (events >= 0),
    -- The first bad event (the report's `first_failure`), NULL if none.
    failure        jsonb       NULL,
    -- How many differences with the projections, and the listed ones (at most the report's limit).
    difference_count integer   NOT NULL CHECK (difference_count >= 0),
    differences    jsonb       NOT NULL
);

CREATE INDEX audit_runs_finished_idx ON audit_runs (finished_at DESC);
