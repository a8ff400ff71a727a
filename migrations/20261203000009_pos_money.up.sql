-- POS money: split tender, tax and service charge, cash rounding, receipt
-- numbers, refunds and returns.

-- A tenant's charges and receipt numbering. Rates are basis points
-- (PPN 11 % = 1100, PB1 10 % = 1000). Read by the workers at commit, so a
-- change applies to orders committed after it.
ALTER TABLE tenants
    ADD COLUMN tax_mode              text    NOT NULL DEFAULT 'none' CHECK (tax_mode IN ('none', 'inclusive', 'exclusive')),
    ADD COLUMN tax_rate_bp           integer NOT NULL DEFAULT 0 CHECK (tax_rate_bp BETWEEN 0 AND 10000),
    ADD COLUMN service_charge_bp     integer NOT NULL DEFAULT 0 CHECK (service_charge_bp BETWEEN 0 AND 10000),
    -- The service charge is part of the tax base (PB1 on restaurant service).
    ADD COLUMN service_charge_taxed  boolean NOT NULL DEFAULT true,
    -- The smallest coin cash is rounded to: none, Rp 100, Rp 500.
    ADD COLUMN cash_rounding         text    NOT NULL DEFAULT 'none' CHECK (cash_rounding IN ('none', '100', '500')),
    ADD COLUMN receipt_prefix        text    NOT NULL DEFAULT 'WRG' CHECK (receipt_prefix ~ '^[A-Z0-9]{1,12}$'),
    -- Receipt numbers start again at 1 every day or every year (tenant's timezone).
    ADD COLUMN receipt_reset         text    NOT NULL DEFAULT 'daily' CHECK (receipt_reset IN ('daily', 'yearly'));

-- An order's money as committed: subtotal − discounts = the amount charges
-- apply to; + service charge + tax (exclusive) = total; the cash rounding
-- line (negative or positive) is apart, so total + rounding = what was paid.
ALTER TABLE orders
    ADD COLUMN service_charge  bigint,
    ADD COLUMN tax_base        bigint,
    ADD COLUMN tax             bigint,
    ADD COLUMN rounding        bigint,
    -- Assigned in the commit transaction, so a rolled-back batch uses none.
    ADD COLUMN receipt_number  text;
CREATE UNIQUE INDEX orders_receipt_number_key
    ON orders (tenant_id, coalesce(outlet_id, '00000000-0000-0000-0000-000000000000'), receipt_number)
    WHERE receipt_number IS NOT NULL;

-- The last receipt number given per tenant, outlet and period. Its row is
-- locked by the commit that takes numbers from it: numbers are gap-free
-- because a rolled-back commit rolls its increment back too.
CREATE TABLE receipt_counters (
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    -- The nil UUID for orders without an outlet.
    outlet_key   uuid NOT NULL,
    -- YYYYMMDD or YYYY in the tenant's timezone, at commit.
    period       text NOT NULL,
    last_number  bigint NOT NULL CHECK (last_number >= 1),
    PRIMARY KEY (tenant_id, outlet_key, period)
);

-- Split tender: one row per payment line (was one per order).
ALTER TABLE payments DROP CONSTRAINT payments_order_key;
ALTER TABLE payments ADD COLUMN line_no smallint NOT NULL DEFAULT 0 CHECK (line_no BETWEEN 0 AND 9);
ALTER TABLE payments ADD CONSTRAINT payments_order_line_key UNIQUE (tenant_id, order_id, line_no);

-- A refund of some of an order's items: accepted by ingest (pending, its
-- items written with it so later refunds are checked against them), then
-- committed by a worker exactly once (stock returned, money paid back).
CREATE TABLE refunds (
    id                 uuid PRIMARY KEY,
    tenant_id          uuid NOT NULL REFERENCES tenants (id),
    order_id           uuid NOT NULL,
    -- Made on the terminal; the refund's idempotency key.
    client_refund_id   uuid NOT NULL,
    status             text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'committed', 'failed')),
    -- The validated request (RefundRequest shape, createdAt resolved).
    request            jsonb NOT NULL,
    request_hash       bytea NOT NULL,
    reason             text,
    -- Rupiah paid back; set at commit.
    amount             bigint CHECK (amount >= 0),
    rejection_code     text,
    rejection_message  text,
    -- When the refund was made at the till, and when ingest accepted it.
    created_at         timestamptz NOT NULL,
    received_at        timestamptz NOT NULL DEFAULT now(),
    committed_at       timestamptz,
    requested_by       uuid,
    request_id         text,
    -- Touched by the pending sweep when it republishes the refund.
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT refunds_tenant_id_key UNIQUE (tenant_id, id),
    CONSTRAINT refunds_client_refund_id_key UNIQUE (tenant_id, client_refund_id),
    CONSTRAINT refunds_order_fkey FOREIGN KEY (tenant_id, order_id) REFERENCES orders (tenant_id, id),
    CONSTRAINT refunds_rejection_present CHECK ((status = 'failed') = (rejection_code IS NOT NULL))
);
CREATE INDEX refunds_order_idx ON refunds (tenant_id, order_id);
-- Stuck-pending detection (the sweep republishing lost refund messages).
CREATE INDEX refunds_pending_idx ON refunds (received_at) WHERE status = 'pending';
-- The daily report reads committed refunds by the time they were made.
CREATE INDEX refunds_report_idx ON refunds (tenant_id, created_at) WHERE status = 'committed';

CREATE TABLE refund_items (
    tenant_id   uuid NOT NULL,
    refund_id   uuid NOT NULL,
    product_id  uuid NOT NULL,
    quantity    integer NOT NULL CHECK (quantity BETWEEN 1 AND 10000),
    PRIMARY KEY (refund_id, product_id),
    CONSTRAINT refund_items_refund_fkey FOREIGN KEY (tenant_id, refund_id) REFERENCES refunds (tenant_id, id)
);

CREATE TABLE refund_payments (
    tenant_id   uuid NOT NULL,
    refund_id   uuid NOT NULL,
    line_no     smallint NOT NULL CHECK (line_no BETWEEN 0 AND 9),
    method      text NOT NULL CHECK (method IN ('cash', 'qris', 'card', 'bank_transfer', 'ewallet')),
    amount      bigint NOT NULL CHECK (amount >= 0),
    PRIMARY KEY (refund_id, line_no),
    CONSTRAINT refund_payments_refund_fkey FOREIGN KEY (tenant_id, refund_id) REFERENCES refunds (tenant_id, id)
);

-- Returned goods go back to stock as `return` movements, one per refund
-- and product at most.
ALTER TABLE stock_movements ADD COLUMN refund_id uuid;
ALTER TABLE stock_movements DROP CONSTRAINT stock_movements_kind_check;
ALTER TABLE stock_movements ADD CONSTRAINT stock_movements_kind_check
    CHECK (kind IN ('sale', 'cancel', 'adjustment', 'oversold', 'return'));
ALTER TABLE stock_movements DROP CONSTRAINT stock_movements_order_kind;
ALTER TABLE stock_movements ADD CONSTRAINT stock_movements_order_kind
    CHECK ((kind IN ('sale', 'cancel', 'oversold', 'return')) = (order_id IS NOT NULL)
           AND (kind = 'return') = (refund_id IS NOT NULL));
DROP INDEX stock_movements_order_effect_key;
CREATE UNIQUE INDEX stock_movements_order_effect_key
    ON stock_movements (tenant_id, order_id, product_id, kind) WHERE order_id IS NOT NULL AND refund_id IS NULL;
CREATE UNIQUE INDEX stock_movements_refund_effect_key
    ON stock_movements (tenant_id, refund_id, product_id) WHERE refund_id IS NOT NULL;
-- The unique keys above are partial, so they cannot serve a lookup by
-- order alone (what an order's cancel and refunds read): this does.
CREATE INDEX stock_movements_order_idx ON stock_movements (tenant_id, order_id) WHERE order_id IS NOT NULL;

-- A refund that cannot be applied is a failed sync too, one per refund.
ALTER TABLE failed_syncs ADD COLUMN refund_id uuid;
ALTER TABLE failed_syncs DROP CONSTRAINT failed_syncs_order_key;
CREATE UNIQUE INDEX failed_syncs_order_key ON failed_syncs (tenant_id, order_id) WHERE refund_id IS NULL;
CREATE UNIQUE INDEX failed_syncs_refund_key ON failed_syncs (tenant_id, refund_id) WHERE refund_id IS NOT NULL;
-- Likewise: the commit path looks an order's failed syncs up by order.
CREATE INDEX failed_syncs_by_order_idx ON failed_syncs (tenant_id, order_id);

GRANT SELECT, INSERT, UPDATE, DELETE ON receipt_counters, refunds, refund_items, refund_payments
TO warungin_app, warungin_platform;
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['receipt_counters', 'refunds', 'refund_items', 'refund_payments']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I TO warungin_app
                        USING (tenant_id = ANY (warungin_tenants())) WITH CHECK (tenant_id = ANY (warungin_tenants()))', t);
        EXECUTE format('CREATE POLICY platform_operators ON %I TO warungin_platform USING (true) WITH CHECK (true)', t);
    END LOOP;
END
$$;

-- The pending sweep for refunds, as platform_claim_stale_pending is for
-- orders: a refund whose message never reached the queue (ingest died
-- between its insert and its publish, a confirm timed out) is claimed
-- (touched) and republished; the commit applies a refund at most once.
CREATE FUNCTION platform_claim_stale_refunds(older_than interval, max_refunds integer)
RETURNS TABLE (id uuid, tenant_id uuid, order_id uuid, request_hash text, requested_by uuid,
               received_at timestamptz, request_id text, request jsonb)
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public AS $$
    UPDATE refunds r SET updated_at = now()
    WHERE r.id IN (SELECT s.id FROM refunds s
                   WHERE s.status = 'pending' AND s.received_at < now() - older_than AND s.updated_at < now() - older_than
                   ORDER BY s.received_at LIMIT max_refunds FOR UPDATE SKIP LOCKED)
    RETURNING r.id, r.tenant_id, r.order_id, encode(r.request_hash, 'hex'), r.requested_by, r.received_at,
              r.request_id, r.request
$$;
REVOKE ALL ON FUNCTION platform_claim_stale_refunds(interval, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION platform_claim_stale_refunds(interval, integer) TO warungin_app, warungin_platform;
