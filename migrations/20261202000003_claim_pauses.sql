-- The pauses of each claim's 80-day clock, so that the API reads the clock as of any day, not only
-- as of its last change: [[sent_back_on, returned_on | null], ...] in order. Rows projected before
-- this column existed start with no pauses: `buendel projections rebuild` fills them in.
ALTER TABLE claims ADD COLUMN pauses jsonb NOT NULL DEFAULT '[]';
