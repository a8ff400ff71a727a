-- Reverses 20261125000006_review.up.sql.
--
-- DATA LOSS: failed_syncs.last_retried_at (a bulk replay then retries again
-- what was already being retried; replays are idempotent, so that is harmless).

DROP INDEX failed_syncs_open_idx;
ALTER TABLE failed_syncs DROP COLUMN last_retried_at;
