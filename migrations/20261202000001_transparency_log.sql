-- The transparency logs: an RFC 6962 Merkle tree over every LEDGER and every REVIEWS message, in
-- stream order (leaf i = the message's stored bytes), and the signed checkpoints issued over it.
--
-- Unlike the read models these tables are not truncated by a projection rebuild: a checkpoint once
-- signed is evidence and is kept. The tree itself is rebuildable from its stream (the log service
-- checks every persisted node it reads against the stream when asked to), and the signer refuses
-- to sign a checkpoint inconsistent with one it signed before.

-- One row per log: how far the tree has been built.
CREATE TABLE tlog_heads (
    -- `ledger` or `reviews`.
    log          text   PRIMARY KEY CHECK (log IN ('ledger', 'reviews')),
    -- Leaves in the tree.
    size         bigint NOT NULL CHECK (size >= 0),
    -- The stream sequence of the last leaf (0 before the first).
    last_seq     bigint NOT NULL CHECK (last_seq >= 0)
);

-- One row per leaf: where it came from, so a proof can be asked for by event id.
CREATE TABLE tlog_leaves (
    log          text   NOT NULL REFERENCES tlog_heads (log),
    -- The leaf's index in the tree (0-based).
    idx          bigint NOT NULL CHECK (idx >= 0),
    -- The message's stream sequence.
    seq          bigint NOT NULL CHECK (seq > 0),
    -- The CloudEvents id of the event, where it could be read.
    event_id     uuid,
    PRIMARY KEY (log, idx)
);

CREATE UNIQUE INDEX tlog_leaves_seq ON tlog_leaves (log, seq);
CREATE INDEX tlog_leaves_event ON tlog_leaves (log, event_id);

-- Every perfect subtree of the tree: 2^level leaves, the idx-th of its level (level 0 = leaf
-- hashes). About two rows per leaf; any proof or earlier root is computed from O(log n) of them.
CREATE TABLE tlog_nodes (
    log          text     NOT NULL REFERENCES tlog_heads (log),
    level        smallint NOT NULL CHECK (level >= 0 AND level < 64),
    idx          bigint   NOT NULL CHECK (idx >= 0),
    hash         bytea    NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (log, level, idx)
);

-- Every checkpoint the log signed, and the cosignatures its witnesses added.
CREATE TABLE tlog_checkpoints (
    log          text        NOT NULL REFERENCES tlog_heads (log),
    size         bigint      NOT NULL CHECK (size >= 0),
    root         bytea       NOT NULL CHECK (length(root) = 32),
    -- The signed note exactly as signed (checkpoint body, blank line, the log's signature line).
    note         text        NOT NULL,
    -- The same note with every witness cosignature line appended (equal to `note` until one came).
    cosigned     text        NOT NULL,
    issued_at    timestamptz NOT NULL,
    PRIMARY KEY (log, size)
);

-- Per log and witness: the size of the last checkpoint that witness cosigned (its `old` size).
CREATE TABLE tlog_witnesses (
    log          text   NOT NULL REFERENCES tlog_heads (log),
    -- The witness's submission prefix (URL).
    witness      text   NOT NULL,
    size         bigint NOT NULL CHECK (size >= 0),
    PRIMARY KEY (log, witness)
);

INSERT INTO tlog_heads (log, size, last_seq) VALUES ('ledger', 0, 0), ('reviews', 0, 0);
