-- Reverses 20261125000004_failed_syncs_and_dead_letters.up.sql.
--
-- DATA LOSS: every failed sync, its review history, and every dead letter.
-- The orders themselves stay (status `failed`, request kept in orders.request).

DROP TABLE dead_letters;        -- with dead_letters_open_idx
DROP TABLE failed_sync_events;  -- with failed_sync_events_idx
DROP TABLE failed_syncs;        -- with failed_syncs_list_idx, failed_syncs_open_reason_idx
