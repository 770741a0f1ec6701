-- Faster projection catch-up (a rebuild replays every stream from sequence 1): every row the
-- projector writes costs less, and nothing the API reads changes.
--
-- 1. The CloudEvents `data` "as published" is stored as `json`, not `jsonb`: the projector passes
--    the published bytes of `data` through untouched, and `json` only checks them where `jsonb`
--    would parse them into its binary form (on every one of the millions of rows a rebuild writes,
--    for a column that is only ever read back whole). Readers decode it the same way (the API
--    decodes both types into the same JSON value); `to_jsonb(..)` still works on rows.
-- 2. Indexes no reader uses are dropped:
--    - `proposal_timeline`'s UNIQUE (event_id): the key (stream, sequence) already makes a replay
--      insert nothing; the timeline is read by proposal only.
--    - `proposals_status_idx`, `proposal_reviews_status_idx`, `proposal_money_fund_idx`: the API
--      filters and counts by the *combined* status (`buendel_api::status`), a CASE over three
--      tables that no single-table index can serve; it reads `proposal_money` by proposal (its
--      key), and the auditor reads a whole fund's rows at once (a scan either way).
--    Without them, a status change no longer touches an index, so it can be a HOT update.
-- 3. The rows the projector updates again and again (an account's balance and a project's money
--    move with every ledger event about it, a review with every event of the review) leave room
--    in each page, so that an update writes the new version next to the old one (a HOT update: no
--    new index entries, and the page is cleaned as it fills) instead of somewhere else with a new
--    entry in every index. It applies to pages written from now on (a rebuild writes them all).
-- 4. Rows of up to a page are kept whole and uncompressed (`toast_tuple_target`), so that a review
--    with an alliance's roster of thirty partners, or its `opened` event in the timeline, is not
--    compressed (and decompressed on every update) for the few hundred bytes it would save.
--
-- This file is never edited once applied: later changes are new migrations.

ALTER TABLE proposal_timeline DROP CONSTRAINT proposal_timeline_event_id_key;
ALTER TABLE proposal_timeline ALTER COLUMN data TYPE json USING data::json;
ALTER TABLE ledger_entries ALTER COLUMN data TYPE json USING data::json;

DROP INDEX proposals_status_idx;
DROP INDEX proposal_reviews_status_idx;
DROP INDEX proposal_money_fund_idx;

ALTER TABLE account_balances SET (fillfactor = 60);
ALTER TABLE proposal_money SET (fillfactor = 60);
ALTER TABLE proposal_reviews SET (fillfactor = 70);
ALTER TABLE proposal_reviews SET (toast_tuple_target = 8160);
ALTER TABLE proposal_timeline SET (toast_tuple_target = 8160);
