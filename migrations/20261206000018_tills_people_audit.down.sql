-- Reverses 20261206000018_tills_people_audit.up.sql, in reverse order.
--
-- DATA LOSS: registered tills (their sessions end: refresh tokens made on a
-- till go with them), PINs, token versions (tokens issued before a cut-off
-- become valid again until they expire), the audit trail, members' emails
-- and erasure marks (erased members stay anonymized), and the marks of raw
-- requests already stripped of personal fields.
DROP FUNCTION platform_remove_personal_data(interval);
DROP FUNCTION platform_erase_inactive_members(interval, integer);
DROP FUNCTION erase_member(uuid, uuid);
DROP FUNCTION member_erase(uuid, uuid);
DROP FUNCTION strip_personal_body(bytea);
DROP FUNCTION strip_personal(jsonb);
ALTER TABLE dead_letters DROP COLUMN personal_data_removed_at;
ALTER TABLE failed_syncs DROP COLUMN personal_data_removed_at;
DROP INDEX orders_member_idx;
ALTER TABLE members DROP COLUMN erased_at, DROP COLUMN email;
DROP TABLE audit_log;
ALTER TABLE cash_shifts DROP COLUMN device_id;
ALTER TABLE refunds DROP COLUMN device_id;
DELETE FROM refresh_tokens WHERE device_id IS NOT NULL;
DROP INDEX refresh_tokens_device_idx;
ALTER TABLE refresh_tokens DROP CONSTRAINT refresh_tokens_device_fkey, DROP COLUMN device_id;
DROP TABLE devices;
ALTER TABLE users DROP COLUMN pin_hash, DROP COLUMN token_version;
