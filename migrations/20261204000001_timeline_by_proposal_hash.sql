-- The timeline is read by proposal only, by equality (a proposal's page, and the decision times'
-- first grant of each proposal), and each proposal has a few dozen rows, sorted after the lookup.
-- A B-tree on (proposal_id, time, sequence) takes every row at a random place among millions (the
-- proposal ids are random), so at 100,000 proposals (1.8 million rows) its pages no longer stay in
-- shared buffers. A hash index keeps a 4-byte hash per row instead of 32 bytes of key: 60 MB
-- against 112 MB for 1.8 million rows, and their inserts (2,000 rows a statement, as the projector
-- writes them) took 12.7 s against 15.8 s on this machine. (The bench at 100,000 proposals showed
-- no change in Postgres's CPU per proposal with it: the growth there has another cause.)
--
-- This file is never edited once applied: later changes are new migrations.

CREATE INDEX proposal_timeline_proposal_hash ON proposal_timeline USING hash (proposal_id);
DROP INDEX proposal_timeline_proposal_idx;
