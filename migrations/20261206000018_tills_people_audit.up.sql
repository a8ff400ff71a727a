-- Tills, people and personal data (issue 20).
--
-- * A till is a registered device of one outlet with a secret (stored only
--   as an argon2 hash, like passwords); cashiers open their session on it
--   with a PIN (hashed too). Refresh tokens, refunds and shifts name the
--   device they were made on; orders already carry `device_id` (text): a
--   registered till's id goes there.
-- * `users.token_version` moves whenever a person's access must end (role
--   changed, deactivated, password reset): tokens carry the version they were
--   issued under and ingest refuses older ones within seconds.
-- * `audit_log` records every change a person makes, append-only: the
--   services may add and read rows, never change or delete them. The one
--   exception is erasure (UU PDP): `audit_erase_member` blanks an erased
--   member's personal values in their audit rows, and nothing else.
-- * Members may have an email; an erased member keeps id, orders and totals
--   and loses name, phone and email (`erased_at`).

ALTER TABLE users
    ADD COLUMN token_version bigint NOT NULL DEFAULT 0,
    -- argon2id PHC string of the 4-6 digit till PIN; never logged, never returned.
    ADD COLUMN pin_hash text;

CREATE TABLE devices (
    id            uuid PRIMARY KEY,
    tenant_id     uuid NOT NULL REFERENCES tenants (id),
    outlet_id     uuid NOT NULL,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    secret_hash   text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    created_by    uuid NOT NULL,
    revoked_at    timestamptz,
    revoked_by    uuid,
    last_seen_at  timestamptz,
    CONSTRAINT devices_tenant_id_key UNIQUE (tenant_id, id),
    CONSTRAINT devices_outlet_fkey FOREIGN KEY (tenant_id, outlet_id) REFERENCES outlets (tenant_id, id),
    CONSTRAINT devices_revoked CHECK ((revoked_at IS NULL) = (revoked_by IS NULL))
);
CREATE INDEX devices_listing_idx ON devices (tenant_id, created_at DESC, id DESC);

ALTER TABLE refresh_tokens ADD COLUMN device_id uuid,
    ADD CONSTRAINT refresh_tokens_device_fkey FOREIGN KEY (tenant_id, device_id) REFERENCES devices (tenant_id, id);
CREATE INDEX refresh_tokens_device_idx ON refresh_tokens (tenant_id, device_id) WHERE device_id IS NOT NULL;
ALTER TABLE refunds ADD COLUMN device_id uuid;
ALTER TABLE cash_shifts ADD COLUMN device_id uuid;

CREATE TABLE audit_log (
    id               uuid PRIMARY KEY,
    tenant_id        uuid NOT NULL REFERENCES tenants (id),
    at               timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- A user of the shop, or an operator of the platform (`operator:<name>`).
    actor            text NOT NULL,
    actor_user_id    uuid,
    actor_device_id  uuid,
    client_addr      text,
    request_id       text,
    action           text NOT NULL,
    entity           text NOT NULL,
    entity_id        text NOT NULL,
    before           jsonb,
    after            jsonb
);
CREATE INDEX audit_log_listing_idx ON audit_log (tenant_id, at DESC, id DESC);
CREATE INDEX audit_log_entity_idx ON audit_log (tenant_id, entity, entity_id, at DESC);
CREATE INDEX audit_log_actor_idx ON audit_log (tenant_id, actor_user_id, at DESC);

ALTER TABLE members
    ADD COLUMN email text CHECK (length(email) BETWEEN 3 AND 254),
    ADD COLUMN erased_at timestamptz;
-- The retention sweep's question: when did this member last buy?
CREATE INDEX orders_member_idx ON orders (tenant_id, member_id, created_at DESC) WHERE member_id IS NOT NULL;
-- Raw requests kept for review lose their personal fields past retention.
ALTER TABLE failed_syncs ADD COLUMN personal_data_removed_at timestamptz;
ALTER TABLE dead_letters ADD COLUMN personal_data_removed_at timestamptz;

-- Personal fields of a raw request (an OrderRequest, a queued message):
-- the member it names and the free text a cashier may have typed about
-- them. Stripped at any depth.
CREATE FUNCTION strip_personal(doc jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE SET search_path = public AS $$
DECLARE
    k text;
    v jsonb;
    stripped jsonb := '{}';
BEGIN
    CASE jsonb_typeof(doc)
    WHEN 'object' THEN
        FOR k, v IN SELECT * FROM jsonb_each(doc) LOOP
            CONTINUE WHEN k = ANY (ARRAY['memberId', 'member_id', 'notes', 'name', 'phone', 'email',
                                         'customerName', 'customerPhone', 'customerEmail']);
            stripped := stripped || jsonb_build_object(k, strip_personal(v));
        END LOOP;
        RETURN stripped;
    WHEN 'array' THEN
        RETURN coalesce((SELECT jsonb_agg(strip_personal(e) ORDER BY i)
                         FROM jsonb_array_elements(doc) WITH ORDINALITY AS a (e, i)), '[]');
    ELSE
        RETURN doc;
    END CASE;
END $$;

-- A dead letter's body without personal fields; a body that is not JSON
-- (poison) cannot be sorted field by field and goes whole.
CREATE FUNCTION strip_personal_body(body bytea) RETURNS bytea
LANGUAGE plpgsql IMMUTABLE SET search_path = public AS $$
BEGIN
    RETURN convert_to(strip_personal(convert_from(body, 'UTF8')::jsonb)::text, 'UTF8');
EXCEPTION WHEN others THEN
    RETURN ''::bytea;
END $$;

-- Erases a member: name, phone and email go; id, orders, totals and reports
-- stay. Their values go from the audit trail too (the one change ever made
-- to it); the notes of their orders' kept requests, and the raw requests of
-- failed syncs and dead letters naming them, lose personal fields.
CREATE FUNCTION member_erase(p_tenant uuid, p_member uuid) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public AS $$
BEGIN
    UPDATE members
    SET name = 'Erased member', email = NULL, is_active = false, erased_at = now(), updated_at = now(),
        -- Unique per shop and at most 32 characters: the id's random tail.
        phone = 'erased:' || right(replace(id::text, '-', ''), 24)
    WHERE tenant_id = p_tenant AND id = p_member AND erased_at IS NULL;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    UPDATE audit_log
    SET before = CASE WHEN before IS NULL THEN NULL ELSE before - ARRAY['name', 'phone', 'email'] END,
        after = CASE WHEN after IS NULL THEN NULL ELSE after - ARRAY['name', 'phone', 'email'] END
    WHERE tenant_id = p_tenant AND entity = 'member' AND entity_id = p_member::text;
    UPDATE orders SET request = request - 'notes' WHERE tenant_id = p_tenant AND member_id = p_member AND request ? 'notes';
    UPDATE failed_syncs SET request = strip_personal(request), personal_data_removed_at = now()
    WHERE tenant_id = p_tenant AND request ->> 'memberId' = p_member::text;
    UPDATE dead_letters SET body = strip_personal_body(body), personal_data_removed_at = now()
    WHERE tenant_id = p_tenant AND position(convert_to(p_member::text, 'UTF8') IN body) > 0;
    RETURN true;
END $$;

-- The API's erasure: only inside the caller's own shop.
CREATE FUNCTION erase_member(p_tenant uuid, p_member uuid) RETURNS boolean
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public AS $$
    SELECT CASE WHEN p_tenant = ANY (warungin_tenants()) THEN member_erase(p_tenant, p_member) ELSE false END
$$;

-- The workers' retention sweep: members who neither bought nor were changed
-- for `retention` are erased, a bounded number per call.
CREATE FUNCTION platform_erase_inactive_members(retention interval, max_members integer) RETURNS bigint
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public AS $$
    SELECT count(*) FILTER (WHERE member_erase(m.tenant_id, m.id))
    FROM (
        SELECT m.tenant_id, m.id FROM members m
        WHERE m.erased_at IS NULL AND m.updated_at < now() - retention
          AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.tenant_id = m.tenant_id AND o.member_id = m.id
                                                  AND o.created_at >= now() - retention)
        ORDER BY m.updated_at
        LIMIT max_members
    ) m
$$;

-- Raw requests of failed syncs resolved or discarded, and dead letters
-- replayed or discarded, more than `retention` ago lose personal fields.
CREATE FUNCTION platform_remove_personal_data(retention interval)
RETURNS TABLE (failed_syncs bigint, dead_letters bigint)
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public AS $$
    WITH syncs AS (
        UPDATE failed_syncs f SET request = strip_personal(f.request), personal_data_removed_at = now()
        WHERE f.status IN ('resolved', 'discarded') AND f.personal_data_removed_at IS NULL
          AND NOT EXISTS (SELECT 1 FROM failed_sync_events e
                          WHERE e.tenant_id = f.tenant_id AND e.failed_sync_id = f.id AND e.at >= now() - retention)
        RETURNING 1
    ), letters AS (
        UPDATE dead_letters d SET body = strip_personal_body(d.body), personal_data_removed_at = now()
        WHERE d.status <> 'open' AND d.personal_data_removed_at IS NULL AND d.resolved_at < now() - retention
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM syncs), (SELECT count(*) FROM letters)
$$;

REVOKE ALL ON FUNCTION strip_personal(jsonb), strip_personal_body(bytea), member_erase(uuid, uuid),
    erase_member(uuid, uuid), platform_erase_inactive_members(interval, integer),
    platform_remove_personal_data(interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION erase_member(uuid, uuid), platform_erase_inactive_members(interval, integer),
    platform_remove_personal_data(interval) TO warungin_app, warungin_platform;

GRANT SELECT, INSERT, UPDATE ON devices TO warungin_app, warungin_platform;
GRANT SELECT, INSERT ON audit_log TO warungin_app, warungin_platform;
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['devices', 'audit_log']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I TO warungin_app
                        USING (tenant_id = ANY (warungin_tenants())) WITH CHECK (tenant_id = ANY (warungin_tenants()))', t);
        EXECUTE format('CREATE POLICY platform_operators ON %I TO warungin_platform USING (true) WITH CHECK (true)', t);
    END LOOP;
END
$$;
