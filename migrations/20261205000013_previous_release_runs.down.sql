-- Reverses 20261205000013_previous_release_runs.up.sql, in reverse order.
-- Drops nothing: the orders the previous release committed keep the figures
-- written for them, and a refund's failed sync takes its order back into
-- `order_id`, and the key is partial again (the previous release of the
-- workers before migration 9 then fails on failed offline orders, as it did).
DROP TRIGGER order_money_of_previous_release ON orders;
DROP FUNCTION order_money_of_previous_release();
DROP TRIGGER failed_sync_refund_order ON failed_syncs;
DROP FUNCTION failed_sync_refund_order();
ALTER TABLE failed_syncs DROP CONSTRAINT failed_syncs_names_one_thing;
ALTER TABLE failed_syncs DROP CONSTRAINT failed_syncs_refund_order_fkey;
CREATE INDEX failed_syncs_by_order_idx ON failed_syncs (tenant_id, order_id);
ALTER TABLE failed_syncs DROP CONSTRAINT failed_syncs_order_key;
CREATE UNIQUE INDEX failed_syncs_order_key ON failed_syncs (tenant_id, order_id) WHERE refund_id IS NULL;

UPDATE failed_syncs SET order_id = refund_order_id WHERE refund_id IS NOT NULL;
ALTER TABLE failed_syncs ALTER COLUMN order_id SET NOT NULL;
ALTER TABLE failed_syncs DROP COLUMN refund_order_id;
