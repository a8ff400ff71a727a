-- Cash shifts (issue 19): who took the drawer at which outlet, with how
-- much float, what went in and out of it besides sales, and what was
-- counted at the end. Orders and refunds name the shift they belong to;
-- the Z-report (`GET /api/shifts/{id}`) is computed from them, and at close
-- its figures are kept (`close_report`) so a closed report never changes:
-- a sale synced, or a refund made, after the close is a late addition,
-- shown apart.
CREATE TABLE cash_shifts (
    id              uuid PRIMARY KEY,
    tenant_id       uuid NOT NULL REFERENCES tenants (id),
    outlet_id       uuid NOT NULL,
    cashier_id      uuid NOT NULL,
    opening_float   bigint NOT NULL CHECK (opening_float BETWEEN 0 AND 1000000000000),
    status          text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    opened_at       timestamptz NOT NULL DEFAULT now(),
    opened_by       uuid NOT NULL,
    closed_at       timestamptz,
    closed_by       uuid,
    counted_cash    bigint CHECK (counted_cash BETWEEN 0 AND 1000000000000),
    expected_cash   bigint,
    -- The Z-report's figures at close, as the cashier saw them.
    close_report    jsonb,
    CONSTRAINT cash_shifts_tenant_id_key UNIQUE (tenant_id, id),
    CONSTRAINT cash_shifts_outlet_fkey FOREIGN KEY (tenant_id, outlet_id) REFERENCES outlets (tenant_id, id),
    CONSTRAINT cash_shifts_cashier_fkey FOREIGN KEY (tenant_id, cashier_id) REFERENCES users (tenant_id, id),
    CONSTRAINT cash_shifts_closed CHECK ((status = 'closed') = (closed_at IS NOT NULL AND counted_cash IS NOT NULL
                                                                AND expected_cash IS NOT NULL AND close_report IS NOT NULL))
);
-- One open shift per cashier and outlet.
CREATE UNIQUE INDEX cash_shifts_one_open ON cash_shifts (tenant_id, cashier_id, outlet_id) WHERE status = 'open';
CREATE INDEX cash_shifts_listing_idx ON cash_shifts (tenant_id, opened_at DESC, id DESC);
-- The shift a sale falls in: the cashier's at that outlet, by time.
CREATE INDEX cash_shifts_cashier_idx ON cash_shifts (tenant_id, cashier_id, outlet_id, opened_at DESC);

-- Pay-ins and pay-outs: cash in or out of the drawer that is not a sale.
CREATE TABLE cash_movements (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL,
    shift_id    uuid NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('pay_in', 'pay_out')),
    amount      bigint NOT NULL CHECK (amount BETWEEN 1 AND 1000000000000),
    reason      text NOT NULL CHECK (length(reason) BETWEEN 1 AND 200),
    by_user     uuid NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT cash_movements_shift_fkey FOREIGN KEY (tenant_id, shift_id) REFERENCES cash_shifts (tenant_id, id)
);
CREATE INDEX cash_movements_shift_idx ON cash_movements (tenant_id, shift_id, at);

-- Who sold an order (ingest knows the signed-in cashier; an order
-- recreated by a worker from its message does not).
ALTER TABLE orders ADD COLUMN sold_by uuid;
ALTER TABLE orders ADD COLUMN shift_id uuid;
ALTER TABLE orders ADD CONSTRAINT orders_shift_fkey FOREIGN KEY (tenant_id, shift_id) REFERENCES cash_shifts (tenant_id, id);
CREATE INDEX orders_shift_idx ON orders (tenant_id, shift_id) WHERE shift_id IS NOT NULL;
ALTER TABLE refunds ADD COLUMN shift_id uuid;
ALTER TABLE refunds ADD CONSTRAINT refunds_shift_fkey FOREIGN KEY (tenant_id, shift_id) REFERENCES cash_shifts (tenant_id, id);
CREATE INDEX refunds_shift_idx ON refunds (tenant_id, shift_id) WHERE shift_id IS NOT NULL;

-- The shift of `cashier` at `outlet` at time `at`: open then (closed
-- after it, or still open).
CREATE FUNCTION shift_at(tenant uuid, cashier uuid, outlet uuid, at timestamptz) RETURNS uuid
LANGUAGE sql STABLE AS $$
    SELECT s.id FROM cash_shifts s
    WHERE s.tenant_id = tenant AND s.cashier_id = cashier AND s.outlet_id = outlet
      AND s.opened_at <= at AND (s.closed_at IS NULL OR s.closed_at >= at)
    ORDER BY s.opened_at DESC LIMIT 1
$$;

-- An order's shift: the one its till had open (offline orders carry
-- `shiftId`; one that is not a shift of the shop, or of this outlet, is
-- ignored rather than refusing a sale already made), else its cashier's
-- at its outlet at its sale time. Whichever code inserts the order.
CREATE FUNCTION order_shift() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
    IF NEW.shift_id IS NULL AND NEW.request ? 'shiftId' THEN
        SELECT s.id INTO NEW.shift_id FROM cash_shifts s
        WHERE s.tenant_id = NEW.tenant_id AND s.id = (NEW.request->>'shiftId')::uuid
          AND s.outlet_id IS NOT DISTINCT FROM NEW.outlet_id;
    END IF;
    IF NEW.shift_id IS NULL AND NEW.sold_by IS NOT NULL THEN
        NEW.shift_id := shift_at(NEW.tenant_id, NEW.sold_by, NEW.outlet_id, NEW.created_at);
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER order_shift BEFORE INSERT ON orders FOR EACH ROW EXECUTE FUNCTION order_shift();

-- A refund's shift: the drawer of whoever gives the money back, at the
-- order's outlet, when they do; else (a cancel's payback, written by the
-- database) the order's own shift.
CREATE FUNCTION refund_shift() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
    IF NEW.shift_id IS NULL THEN
        SELECT coalesce(shift_at(o.tenant_id, NEW.requested_by, o.outlet_id, NEW.created_at), o.shift_id)
        INTO NEW.shift_id
        FROM orders o WHERE o.tenant_id = NEW.tenant_id AND o.id = NEW.order_id;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER refund_shift BEFORE INSERT ON refunds FOR EACH ROW EXECUTE FUNCTION refund_shift();

GRANT SELECT, INSERT, UPDATE ON cash_shifts, cash_movements TO warungin_app, warungin_platform;
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['cash_shifts', 'cash_movements']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I TO warungin_app
                        USING (tenant_id = ANY (warungin_tenants())) WITH CHECK (tenant_id = ANY (warungin_tenants()))', t);
        EXECUTE format('CREATE POLICY platform_operators ON %I TO warungin_platform USING (true) WITH CHECK (true)', t);
    END LOOP;
END
$$;
