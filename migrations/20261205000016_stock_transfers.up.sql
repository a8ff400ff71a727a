-- Stock transfers between a shop's outlets (issue 19). The back office
-- asks for one (`POST /api/stock-transfers`); ingest records it pending and
-- publishes it; a worker commits it exactly once as a pair of movements per
-- product, `transfer_out` at the source and `transfer_in` at the
-- destination, or fails it (short stock at the source) for review and retry.
CREATE TABLE stock_transfers (
    id                  uuid PRIMARY KEY,
    tenant_id           uuid NOT NULL REFERENCES tenants (id),
    -- The back office's idempotency key: the same key and body is the same
    -- transfer; another body under it is refused (409).
    client_transfer_id  uuid NOT NULL,
    from_outlet_id      uuid NOT NULL,
    to_outlet_id        uuid NOT NULL,
    note                text CHECK (length(note) <= 500),
    request             jsonb NOT NULL,
    request_hash        bytea NOT NULL,
    status              text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'committed', 'failed')),
    rejection_code      text,
    rejection_message   text,
    -- Failed commits so far (each retry that fails again adds one).
    failures            integer NOT NULL DEFAULT 0,
    requested_by        uuid NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    committed_at        timestamptz,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT stock_transfers_tenant_id_key UNIQUE (tenant_id, id),
    CONSTRAINT stock_transfers_client_transfer_id_key UNIQUE (tenant_id, client_transfer_id),
    CONSTRAINT stock_transfers_from_outlet_fkey FOREIGN KEY (tenant_id, from_outlet_id) REFERENCES outlets (tenant_id, id),
    CONSTRAINT stock_transfers_to_outlet_fkey FOREIGN KEY (tenant_id, to_outlet_id) REFERENCES outlets (tenant_id, id),
    CONSTRAINT stock_transfers_two_outlets CHECK (from_outlet_id <> to_outlet_id),
    CONSTRAINT stock_transfers_failed_has_reason CHECK ((status = 'failed') = (rejection_code IS NOT NULL))
);
-- Newest first, and the failed ones for review.
CREATE INDEX stock_transfers_listing_idx ON stock_transfers (tenant_id, created_at DESC, id DESC);
CREATE INDEX stock_transfers_failed_idx ON stock_transfers (tenant_id, created_at DESC) WHERE status = 'failed';

CREATE TABLE stock_transfer_items (
    tenant_id    uuid NOT NULL,
    transfer_id  uuid NOT NULL,
    product_id   uuid NOT NULL,
    quantity     integer NOT NULL CHECK (quantity BETWEEN 1 AND 1000000),
    PRIMARY KEY (transfer_id, product_id),
    CONSTRAINT stock_transfer_items_transfer_fkey FOREIGN KEY (tenant_id, transfer_id) REFERENCES stock_transfers (tenant_id, id),
    CONSTRAINT stock_transfer_items_product_fkey FOREIGN KEY (tenant_id, product_id) REFERENCES products (tenant_id, id)
);

-- A transfer's movements name it; at most one of each kind per product,
-- whichever message or retry carries it (exactly once, by the database).
ALTER TABLE stock_movements ADD COLUMN transfer_id uuid;
ALTER TABLE stock_movements DROP CONSTRAINT stock_movements_kind_check;
ALTER TABLE stock_movements ADD CONSTRAINT stock_movements_kind_check
    CHECK (kind IN ('sale', 'cancel', 'adjustment', 'oversold', 'return', 'transfer_out', 'transfer_in'));
ALTER TABLE stock_movements ADD CONSTRAINT stock_movements_transfer_kind
    CHECK ((kind IN ('transfer_out', 'transfer_in')) = (transfer_id IS NOT NULL));
ALTER TABLE stock_movements ADD CONSTRAINT stock_movements_transfer_fkey
    FOREIGN KEY (tenant_id, transfer_id) REFERENCES stock_transfers (tenant_id, id);
CREATE UNIQUE INDEX stock_movements_transfer_effect_key
    ON stock_movements (tenant_id, transfer_id, product_id, kind) WHERE transfer_id IS NOT NULL;

GRANT SELECT, INSERT, UPDATE ON stock_transfers, stock_transfer_items TO warungin_app, warungin_platform;
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['stock_transfers', 'stock_transfer_items']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I TO warungin_app
                        USING (tenant_id = ANY (warungin_tenants())) WITH CHECK (tenant_id = ANY (warungin_tenants()))', t);
        EXECUTE format('CREATE POLICY platform_operators ON %I TO warungin_platform USING (true) WITH CHECK (true)', t);
    END LOOP;
END
$$;
