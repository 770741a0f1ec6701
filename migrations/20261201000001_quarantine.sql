-- Events the read side could not take (quarantined by the projector, never deleted from their stream).
--
-- A batch that fails for a reason that lies in its events (an undecodable message, a value Postgres
-- refuses, a constraint it breaks) is bisected until the failing event stands alone; that event is
-- recorded here and the checkpoint moves past it in the same transaction, so one event never stalls
-- a stream. Like every read model it is rebuilt from the streams: a replay quarantines the same
-- events again. No clock column: rows depend only on the messages.
CREATE TABLE projection_quarantine (
    -- The stream's name without the namespace prefix, as in `checkpoints`.
    stream       text   NOT NULL,
    -- The event's stream sequence.
    sequence     bigint NOT NULL CHECK (sequence > 0),
    -- The subject it was stored on, and its last token (a proposal id, a fund id).
    subject      text   NOT NULL,
    aggregate_id text   NOT NULL,
    -- The CloudEvents id and type where they could be read (control characters replaced).
    event_id     text,
    event_type   text,
    -- Why the read model could not take it.
    error        text   NOT NULL,
    PRIMARY KEY (stream, sequence)
);

CREATE INDEX projection_quarantine_aggregate ON projection_quarantine (aggregate_id);
