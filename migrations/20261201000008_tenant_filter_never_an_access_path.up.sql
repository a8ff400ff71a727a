-- Row-level security's tenant check as a filter, never as the access path.
--
-- As a STABLE SQL function, warungin_tenants() was inlined into every
-- policy's `tenant_id = ANY (...)`, which the planner could then use as an
-- index condition. Under a generic plan (the workers' prepared statements)
-- it did, whenever statistics made the tenant look small: a batch's
-- `UPDATE orders ... FROM unnest(...)` scanned every order of the tenant
-- through (tenant_id, id) and joined the batch against them row by row
-- (seconds per batch at 100,000 orders). A VOLATILE PL/pgSQL function is
-- neither inlined nor indexable, so the policy is checked on the rows the
-- query's own conditions find; every query names its tenant itself, so
-- those conditions are always there. The cost is one call per row read.
CREATE OR REPLACE FUNCTION warungin_tenants() RETURNS uuid[]
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RETURN coalesce(nullif(current_setting('app.tenant_ids', true), ''), '{}')::uuid[];
END
$$;
