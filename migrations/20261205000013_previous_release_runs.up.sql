-- The release before migration 9 (the POS money change) runs on this schema
-- again, so that a rolling upgrade or an image-only rollback works (issue 22
-- #8; tests/tests/previous_release.rs runs its workers). Two things broke it.
--
-- 1. The constraint it infers. Migration 9 turned `failed_syncs_order_key` into a partial index so
-- that a refund's failed sync could name its order next to the order's own
-- failed sync; a worker of that release writes `ON CONFLICT (tenant_id,
-- order_id)`, which cannot infer a partial index (42P10 on every failed
-- offline order). So a refund's failed sync keeps its order in
-- `refund_order_id` and leaves `order_id` empty, and the constraint is whole
-- again: every release infers it (a predicate `WHERE refund_id IS NULL`, as
-- the releases since migration 9 write, is implied by any whole index).
ALTER TABLE failed_syncs ADD COLUMN refund_order_id uuid;
ALTER TABLE failed_syncs ALTER COLUMN order_id DROP NOT NULL;
UPDATE failed_syncs SET refund_order_id = order_id, order_id = NULL WHERE refund_id IS NOT NULL;

DROP INDEX failed_syncs_order_key;
ALTER TABLE failed_syncs ADD CONSTRAINT failed_syncs_order_key UNIQUE (tenant_id, order_id);
-- The whole key serves the lookup by order that this index was for.
DROP INDEX failed_syncs_by_order_idx;
ALTER TABLE failed_syncs ADD CONSTRAINT failed_syncs_refund_order_fkey
    FOREIGN KEY (tenant_id, refund_order_id) REFERENCES orders (tenant_id, id);
-- An order's failed sync names its order; a refund's names its refund and
-- the order refunded, never the order's own key.
ALTER TABLE failed_syncs ADD CONSTRAINT failed_syncs_names_one_thing CHECK (
    (refund_id IS NULL AND order_id IS NOT NULL AND refund_order_id IS NULL)
    OR (refund_id IS NOT NULL AND order_id IS NULL AND refund_order_id IS NOT NULL));

-- Workers of the release before this one (migrations 9 to 12) still write a
-- refund's failed sync with its order in `order_id`; during a rolling upgrade
-- this moves it where it now belongs. A contract step drops it once no such
-- worker runs.
CREATE FUNCTION failed_sync_refund_order() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.refund_id IS NOT NULL AND NEW.order_id IS NOT NULL THEN
        NEW.refund_order_id := NEW.order_id;
        NEW.order_id := NULL;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER failed_sync_refund_order BEFORE INSERT ON failed_syncs
    FOR EACH ROW EXECUTE FUNCTION failed_sync_refund_order();

-- 2. Its orders' money. It commits an order without service charge, tax base,
-- tax or rounding (it charges none of them), and the daily summaries (from
-- migration 12) refuse an order whose figures are missing. What it charged
-- is no service charge, no tax, no rounding, so the tax base is the total
-- (as the pricing engine gives for a shop without tax): written here when a
-- committed order comes without them. This release always writes them.
CREATE FUNCTION order_money_of_previous_release() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status = 'committed' AND NEW.service_charge IS NULL AND NEW.tax IS NULL THEN
        NEW.service_charge := 0;
        NEW.tax := 0;
        NEW.tax_base := NEW.total;
        NEW.rounding := 0;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER order_money_of_previous_release BEFORE INSERT OR UPDATE OF status ON orders
    FOR EACH ROW EXECUTE FUNCTION order_money_of_previous_release();
