-- Reverses 20261201000008_tenant_filter_never_an_access_path.up.sql: the
-- inlinable STABLE SQL function of 0007 again. No data is lost; the slow
-- plans it describes may come back.
CREATE OR REPLACE FUNCTION warungin_tenants() RETURNS uuid[]
LANGUAGE sql STABLE AS $$
    SELECT coalesce(nullif(current_setting('app.tenant_ids', true), ''), '{}')::uuid[]
$$;
