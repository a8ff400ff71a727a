-- Outlets: a shop's stalls or branches (issue 19). Until now `orders.outlet_id`
-- was a free UUID with no outlet behind it; now every order names a real
-- outlet of its tenant, and every tenant has a default outlet that orders
-- sent without one go to (so every existing client keeps working).
CREATE TABLE outlets (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    address     text CHECK (length(address) <= 500),
    -- An IANA zone; NULL: the tenant's.
    timezone    text,
    is_active   boolean NOT NULL DEFAULT true,
    is_default  boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    -- What the tenant-scoped foreign keys (orders) reference.
    CONSTRAINT outlets_tenant_id_key UNIQUE (tenant_id, id),
    CONSTRAINT outlets_name_key UNIQUE (tenant_id, name),
    -- The default outlet takes every order sent without one: it stays open.
    CONSTRAINT outlets_default_is_active CHECK (is_active OR NOT is_default)
);
CREATE UNIQUE INDEX outlets_one_default ON outlets (tenant_id) WHERE is_default;

-- The default outlet's id is derived from its tenant's, so that reversing
-- this migration and applying it again gives the same outlet back (the
-- orders moved to it still name it).
CREATE FUNCTION default_outlet_id(tenant uuid) RETURNS uuid
LANGUAGE sql IMMUTABLE AS $$ SELECT md5('warungin default outlet ' || tenant::text)::uuid $$;

CREATE FUNCTION tenant_default_outlet() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
    INSERT INTO outlets (id, tenant_id, name, is_default) VALUES (default_outlet_id(NEW.id), NEW.id, 'Outlet utama', true);
    RETURN NEW;
END $$;
CREATE TRIGGER tenant_default_outlet AFTER INSERT ON tenants
    FOR EACH ROW EXECUTE FUNCTION tenant_default_outlet();

INSERT INTO outlets (id, tenant_id, name, is_default)
SELECT default_outlet_id(id), id, 'Outlet utama', true FROM tenants;
-- Outlets the orders named become outlets of their tenant; a UUID two
-- tenants both used stays with the first (the other's orders go to its
-- default outlet below).
INSERT INTO outlets (id, tenant_id, name)
SELECT DISTINCT ON (outlet_id) outlet_id, tenant_id, 'Outlet ' || left(outlet_id::text, 8)
FROM orders WHERE outlet_id IS NOT NULL
ORDER BY outlet_id, tenant_id
ON CONFLICT DO NOTHING;
-- Orders without an outlet (or naming another tenant's) move to the
-- default one, and so do the receipt counters and the daily summaries kept
-- for them. The summaries are moved here, whole (the orders' trigger only
-- moves a changed order's own sums, not its payments' and items'), so the
-- trigger is off for this one statement.
ALTER TABLE orders DISABLE TRIGGER sales_orders_updated;
UPDATE orders o SET outlet_id = default_outlet_id(o.tenant_id)
WHERE o.outlet_id IS NULL
   OR NOT EXISTS (SELECT 1 FROM outlets x WHERE x.tenant_id = o.tenant_id AND x.id = o.outlet_id);
ALTER TABLE orders ENABLE TRIGGER sales_orders_updated;
UPDATE receipt_counters c SET outlet_key = default_outlet_id(c.tenant_id)
WHERE NOT EXISTS (SELECT 1 FROM outlets x WHERE x.tenant_id = c.tenant_id AND x.id = c.outlet_key);
-- Each summary row under a key that is no outlet of its tenant is added
-- into the default outlet's row (its key columns are the primary key's;
-- every other column is a sum).
DO $$
DECLARE
    t text;
    keys text;
    cols text;
    sums text;
    sets text;
BEGIN
    FOREACH t IN ARRAY ARRAY['sales_buckets', 'sales_bucket_methods', 'sales_bucket_products']
    LOOP
        SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO keys
        FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
        WHERE i.indrelid = t::regclass AND i.indisprimary;
        SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum),
               string_agg(format('sum(%I)', a.attname), ', ' ORDER BY a.attnum),
               string_agg(format('%1$I = s.%1$I + EXCLUDED.%1$I', a.attname), ', ' ORDER BY a.attnum)
        INTO cols, sums, sets
        FROM pg_attribute a
        WHERE a.attrelid = t::regclass AND a.attnum > 0 AND NOT a.attisdropped
          AND a.attnum <> ALL ((SELECT indkey FROM pg_index WHERE indrelid = t::regclass AND indisprimary)::int2[]);
        EXECUTE format($q$
            WITH moved AS (
                DELETE FROM %1$I s
                WHERE NOT EXISTS (SELECT 1 FROM outlets x WHERE x.tenant_id = s.tenant_id AND x.id = s.outlet_key)
                RETURNING *)
            INSERT INTO %1$I AS s (%2$s, %3$s)
            SELECT %4$s, %5$s FROM moved GROUP BY %4$s
            ON CONFLICT (%2$s) DO UPDATE SET %6$s
        $q$, t, keys, cols, replace(keys, 'outlet_key', 'default_outlet_id(tenant_id)'), sums, sets);
    END LOOP;
END
$$;
ALTER TABLE orders ADD CONSTRAINT orders_outlet_fkey
    FOREIGN KEY (tenant_id, outlet_id) REFERENCES outlets (tenant_id, id);

GRANT SELECT, INSERT, UPDATE ON outlets TO warungin_app, warungin_platform;
ALTER TABLE outlets ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON outlets TO warungin_app
    USING (tenant_id = ANY (warungin_tenants())) WITH CHECK (tenant_id = ANY (warungin_tenants()));
CREATE POLICY platform_operators ON outlets TO warungin_platform USING (true) WITH CHECK (true);
