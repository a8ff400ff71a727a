-- Stock per outlet (issue 19): a warung with two stalls counts each stall's
-- shelf apart. `products.stock` (one figure per product for the whole
-- shop) becomes one row per (tenant, outlet, product) in `outlet_stock`,
-- and every stock movement names the outlet whose stock it moved, so per
-- outlet: Σ movements.delta = outlet_stock.stock.
--
-- A contract step: workers of the releases before this one update
-- `products.stock`, which is gone, so their batches fail (and are retried,
-- nothing lost) until they are replaced. Stop the old workers, apply this,
-- start the new ones (RUNBOOK, "Upgrading"); ingest keeps accepting and the
-- queues hold the orders meanwhile.
CREATE TABLE outlet_stock (
    tenant_id   uuid NOT NULL,
    outlet_id   uuid NOT NULL,
    product_id  uuid NOT NULL,
    -- The last line of defence against overselling, per outlet: the
    -- workers' guarded decrement never relies on it.
    stock       bigint NOT NULL CONSTRAINT outlet_stock_stock_check CHECK (stock >= 0),
    PRIMARY KEY (tenant_id, outlet_id, product_id),
    CONSTRAINT outlet_stock_outlet_fkey FOREIGN KEY (tenant_id, outlet_id) REFERENCES outlets (tenant_id, id),
    CONSTRAINT outlet_stock_product_fkey FOREIGN KEY (tenant_id, product_id) REFERENCES products (tenant_id, id)
);
-- A product's rows at every outlet (its total, the products list).
CREATE INDEX outlet_stock_product_idx ON outlet_stock (tenant_id, product_id);

-- Every outlet has a row for every product of its shop, from the moment
-- either exists: the workers' guarded UPDATE then always finds the row it
-- takes from or gives back to (a missing row would read as stock moved).
-- A product and an outlet created at once would each miss the other (not
-- committed yet): a per-shop lock, taken before the statement that reads
-- the other table, makes the second wait for the first and then see it
-- (each statement of a READ COMMITTED transaction reads anew).
CREATE FUNCTION outlet_stock_lock(tenant uuid) RETURNS void
LANGUAGE sql AS $$ SELECT pg_advisory_xact_lock(hashtextextended('warungin outlet stock ' || tenant::text, 0)) $$;

CREATE FUNCTION product_outlet_stock() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
    PERFORM outlet_stock_lock(NEW.tenant_id);
    INSERT INTO outlet_stock (tenant_id, outlet_id, product_id, stock)
    SELECT NEW.tenant_id, o.id, NEW.id, 0 FROM outlets o WHERE o.tenant_id = NEW.tenant_id;
    RETURN NEW;
END $$;
CREATE TRIGGER product_outlet_stock AFTER INSERT ON products
    FOR EACH ROW EXECUTE FUNCTION product_outlet_stock();

CREATE FUNCTION outlet_product_stock() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
    PERFORM outlet_stock_lock(NEW.tenant_id);
    INSERT INTO outlet_stock (tenant_id, outlet_id, product_id, stock)
    SELECT NEW.tenant_id, NEW.id, p.id, 0 FROM products p WHERE p.tenant_id = NEW.tenant_id;
    RETURN NEW;
END $$;
CREATE TRIGGER outlet_product_stock AFTER INSERT ON outlets
    FOR EACH ROW EXECUTE FUNCTION outlet_product_stock();

-- Today's stock is the default outlet's; the other outlets start empty.
INSERT INTO outlet_stock (tenant_id, outlet_id, product_id, stock)
SELECT p.tenant_id, o.id, p.id, CASE WHEN o.is_default THEN p.stock ELSE 0 END
FROM products p JOIN outlets o ON o.tenant_id = p.tenant_id;

-- The ledger so far explains the default outlet's stock.
ALTER TABLE stock_movements ADD COLUMN outlet_id uuid;
UPDATE stock_movements SET outlet_id = default_outlet_id(tenant_id);
ALTER TABLE stock_movements ALTER COLUMN outlet_id SET NOT NULL;
ALTER TABLE stock_movements ADD CONSTRAINT stock_movements_outlet_fkey
    FOREIGN KEY (tenant_id, outlet_id) REFERENCES outlets (tenant_id, id);

ALTER TABLE products DROP COLUMN stock;

GRANT SELECT, INSERT, UPDATE ON outlet_stock TO warungin_app, warungin_platform;
ALTER TABLE outlet_stock ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON outlet_stock TO warungin_app
    USING (tenant_id = ANY (warungin_tenants())) WITH CHECK (tenant_id = ANY (warungin_tenants()));
CREATE POLICY platform_operators ON outlet_stock TO warungin_platform USING (true) WITH CHECK (true);
