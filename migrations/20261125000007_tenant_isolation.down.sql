-- Reverses 20261125000007_tenant_isolation.up.sql, in reverse order.
--
-- DATA LOSS: platform_settings (maintenance mode and other switches).
-- After this, the services' role `warungin_app` has no privileges at all in
-- this database and row-level security is off: only code of a release from
-- before this migration (which connects as the tables' owner) works.
--
-- The roles warungin_app and warungin_platform are NOT dropped. Roles are
-- cluster-wide: other databases on the same cluster (the test template, every
-- test database copied from it, a restored copy, a staging database) hold
-- grants and policies naming them, deployments grant them to login users and
-- give them passwords, and DROP ROLE would fail (or, forced, break those). The
-- up script creates them only when missing, so leaving them is what makes
-- down-then-up return to the same state. What belongs to this database is
-- removed: its grants to them, its policies naming them, its functions.

-- Dropping a function drops its grants.
DROP FUNCTION platform_claim_stale_pending(interval, integer);
DROP FUNCTION platform_oldest_pending_seconds();
DROP FUNCTION platform_open_failed_syncs();
DROP FUNCTION auth_find_user(text);

DROP TABLE platform_settings;

DROP POLICY platform_operators ON tenants;
DROP POLICY tenant_isolation ON tenants;
ALTER TABLE tenants DISABLE ROW LEVEL SECURITY;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['users', 'refresh_tokens', 'products', 'stock_movements', 'orders', 'order_items',
                             'payments', 'sync_batches', 'failed_syncs', 'failed_sync_events', 'discount_rules',
                             'members', 'product_prices']
    LOOP
        EXECUTE format('DROP POLICY platform_operators ON %I', t);
        EXECUTE format('DROP POLICY tenant_isolation ON %I', t);
        EXECUTE format('ALTER TABLE %I DISABLE ROW LEVEL SECURITY', t);
    END LOOP;
END
$$;

REVOKE SELECT, INSERT, UPDATE ON dead_letters FROM warungin_platform;
REVOKE INSERT ON dead_letters FROM warungin_app;
REVOKE SELECT, INSERT, UPDATE, DELETE ON
    tenants, users, refresh_tokens, products, stock_movements, orders, order_items, payments,
    sync_batches, failed_syncs, failed_sync_events, discount_rules, members, product_prices
FROM warungin_app, warungin_platform;
REVOKE USAGE ON SCHEMA public FROM warungin_app, warungin_platform;

DROP FUNCTION warungin_tenants();  -- no policy uses it any more

-- The roles stay (see above); nothing in this database refers to them any more.
