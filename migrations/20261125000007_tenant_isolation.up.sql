-- Tenant isolation enforced by the database.
--
-- Roles (cluster-wide; created once, reused by every database):
--   warungin_app       the services (ingest, workers). Owns nothing; sees only
--                      the rows of the tenants its transaction names in
--                      `app.tenant_ids` (ingest: the request's tenant; a
--                      worker: the tenants of the batch it commits).
--   warungin_platform  platform operators (the dlq CLI): every tenant, by an
--                      explicit policy, never by switching the checks off.
-- Work that is platform-wide by nature but runs in the services (login by
-- email, the metrics gauges, the pending sweep) goes through the SECURITY
-- DEFINER functions at the end, each returning only what that job needs.
-- Deployments give these roles passwords and grant them to login users.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'warungin_app') THEN
        CREATE ROLE warungin_app LOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'warungin_platform') THEN
        CREATE ROLE warungin_platform LOGIN;
    END IF;
END
$$;

-- The tenants the current transaction may see: set with
-- set_config('app.tenant_ids', '{...}', true); none when unset.
CREATE FUNCTION warungin_tenants() RETURNS uuid[]
LANGUAGE sql STABLE AS $$
    SELECT coalesce(nullif(current_setting('app.tenant_ids', true), ''), '{}')::uuid[]
$$;

GRANT USAGE ON SCHEMA public TO warungin_app, warungin_platform;
GRANT SELECT, INSERT, UPDATE, DELETE ON
    tenants, users, refresh_tokens, products, stock_movements, orders, order_items, payments,
    sync_batches, failed_syncs, failed_sync_events, discount_rules, members, product_prices
TO warungin_app, warungin_platform;
-- Dead letters may carry no readable tenant: the services only add them,
-- the operators read and resolve them.
GRANT INSERT ON dead_letters TO warungin_app;
GRANT SELECT, INSERT, UPDATE ON dead_letters TO warungin_platform;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['users', 'refresh_tokens', 'products', 'stock_movements', 'orders', 'order_items',
                             'payments', 'sync_batches', 'failed_syncs', 'failed_sync_events', 'discount_rules',
                             'members', 'product_prices']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I TO warungin_app
                        USING (tenant_id = ANY (warungin_tenants())) WITH CHECK (tenant_id = ANY (warungin_tenants()))', t);
        EXECUTE format('CREATE POLICY platform_operators ON %I TO warungin_platform USING (true) WITH CHECK (true)', t);
    END LOOP;
END
$$;
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenants TO warungin_app
    USING (id = ANY (warungin_tenants())) WITH CHECK (id = ANY (warungin_tenants()));
CREATE POLICY platform_operators ON tenants TO warungin_platform USING (true) WITH CHECK (true);

-- Maintenance mode and other switches every replica polls.
CREATE TABLE platform_settings (
    key         text PRIMARY KEY,
    value       jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT, INSERT, UPDATE ON platform_settings TO warungin_app, warungin_platform;

-- Login: find a user by email before any tenant is known.
CREATE FUNCTION auth_find_user(login_email text)
RETURNS TABLE (id uuid, tenant_id uuid, email text, name text, role text, password_hash text, is_active boolean)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT u.id, u.tenant_id, u.email, u.name, u.role, u.password_hash, u.is_active
    FROM users u WHERE lower(u.email) = lower(login_email)
$$;

-- Metrics: counts only, never rows.
CREATE FUNCTION platform_open_failed_syncs()
RETURNS TABLE (reason_code text, open bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT f.reason_code, count(*) FROM failed_syncs f WHERE f.status = 'open' GROUP BY 1
$$;

CREATE FUNCTION platform_oldest_pending_seconds()
RETURNS double precision
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT extract(epoch FROM now() - min(o.received_at))::double precision FROM orders o WHERE o.status = 'pending'
$$;

-- The pending sweep: claim (touch) up to `max_orders` pending orders older
-- than `older_than` and return what is needed to republish them.
CREATE FUNCTION platform_claim_stale_pending(older_than interval, max_orders integer)
RETURNS TABLE (id uuid, tenant_id uuid, source text, device_id text, sync_batch_id uuid, request_hash text,
               received_at timestamptz, request_id text, request jsonb)
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public AS $$
    UPDATE orders o SET updated_at = now()
    WHERE o.id IN (SELECT s.id FROM orders s
                   WHERE s.status = 'pending' AND s.received_at < now() - older_than AND s.updated_at < now() - older_than
                   ORDER BY s.received_at LIMIT max_orders FOR UPDATE SKIP LOCKED)
    RETURNING o.id, o.tenant_id, o.source, o.device_id, o.sync_batch_id, encode(o.request_hash, 'hex'),
              o.received_at, o.request_id, o.request
$$;

REVOKE ALL ON FUNCTION auth_find_user(text), platform_open_failed_syncs(), platform_oldest_pending_seconds(),
    platform_claim_stale_pending(interval, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION auth_find_user(text), platform_open_failed_syncs(), platform_oldest_pending_seconds(),
    platform_claim_stale_pending(interval, integer) TO warungin_app, warungin_platform;
GRANT EXECUTE ON FUNCTION warungin_tenants() TO warungin_app, warungin_platform;
