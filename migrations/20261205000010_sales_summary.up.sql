-- The daily report from quarter-hour summaries, kept by the database itself.
--
-- A shop's day of a million orders took the report past its client's
-- timeout: it summed the day's orders, joined a million payments and
-- several million order items (seconds each, five statements). These
-- tables hold the same sums per tenant, quarter hour (UTC: every real time
-- zone's midnight falls on one) and outlet, so a day is 96 rows per outlet
-- whatever the volume.
--
-- Statement-level triggers keep them in the transaction that changes the
-- rows, whichever code writes them (a worker's batch, an older release
-- during a rolling upgrade, a replay, an operator's SQL): one set-based
-- upsert per statement and table. What counts is exactly what the report
-- counted before:
--   - orders committed (and, apart, cancelled), by their time of sale;
--   - committed orders' payments net of change by method, and their items
--     by product;
--   - committed refunds of orders still committed, by the refund's time,
--     and their payments by method.
-- A row counts while its order (and refund) is in that state: an order's
-- trigger adds or takes away its dependent rows that exist when its status
-- changes, and a dependent row's trigger adds itself when its order is in
-- that state already; so each is counted once whatever the order of the
-- statements in a transaction. The summaries are locked in key order, after
-- the rows they summarise, like every other lock of the commit path.

-- A refund's part of its order's discounts, service charge, tax base and
-- tax, set at commit by the same rule as its amount
-- (common/src/pricing/refund_charges.rs), so the books say what was given
-- back of each: the PPN owed is the sales' tax less the refunds'. Refunds
-- committed before this migration have none (they count as 0).
ALTER TABLE refunds
    ADD COLUMN discount_total  bigint,
    ADD COLUMN service_charge  bigint,
    ADD COLUMN tax_base        bigint,
    ADD COLUMN tax             bigint;

-- No outlet (orders from before outlets, or sent without one) sums under
-- the nil UUID, so the key has no NULL.
CREATE FUNCTION sales_outlet_key(outlet uuid) RETURNS uuid
LANGUAGE sql IMMUTABLE AS $$ SELECT coalesce(outlet, '00000000-0000-0000-0000-000000000000'::uuid) $$;

CREATE FUNCTION sales_bucket(at timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE AS $$ SELECT date_bin('15 minutes', at, timestamptz '2000-01-01 00:00:00+00') $$;

CREATE TABLE sales_buckets (
    tenant_id         uuid NOT NULL REFERENCES tenants (id),
    bucket            timestamptz NOT NULL,
    outlet_key        uuid NOT NULL,
    -- Committed orders sold in the quarter hour.
    orders            bigint NOT NULL DEFAULT 0,
    gross             bigint NOT NULL DEFAULT 0,
    discounts         bigint NOT NULL DEFAULT 0,
    service_charge    bigint NOT NULL DEFAULT 0,
    tax_base          bigint NOT NULL DEFAULT 0,
    tax               bigint NOT NULL DEFAULT 0,
    net               bigint NOT NULL DEFAULT 0,
    rounding          bigint NOT NULL DEFAULT 0,
    -- Cancelled orders sold in the quarter hour.
    cancelled         bigint NOT NULL DEFAULT 0,
    cancelled_amount  bigint NOT NULL DEFAULT 0,
    -- Refunds made in the quarter hour (of orders still committed).
    refunds           bigint NOT NULL DEFAULT 0,
    refunded          bigint NOT NULL DEFAULT 0,
    refunded_discounts       bigint NOT NULL DEFAULT 0,
    refunded_service_charge  bigint NOT NULL DEFAULT 0,
    refunded_tax_base        bigint NOT NULL DEFAULT 0,
    refunded_tax             bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, bucket, outlet_key)
);

-- kind 'paid': committed orders' payments net of change; 'refunded': refunds' payments.
CREATE TABLE sales_bucket_methods (
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    bucket      timestamptz NOT NULL,
    outlet_key  uuid NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('paid', 'refunded')),
    method      text NOT NULL,
    amount      bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, bucket, outlet_key, kind, method)
);

CREATE TABLE sales_bucket_products (
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    bucket      timestamptz NOT NULL,
    outlet_key  uuid NOT NULL,
    product_id  uuid NOT NULL,
    quantity    bigint NOT NULL DEFAULT 0,
    revenue     bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, bucket, outlet_key, product_id)
);

-- What the sums need of an order and of a refund (not their requests).
CREATE TYPE sales_order AS (
    id uuid, tenant_id uuid, outlet_id uuid, created_at timestamptz, status text, subtotal bigint,
    discount_total bigint, service_charge bigint, tax_base bigint, tax bigint, total bigint, rounding bigint
);
CREATE TYPE sales_refund AS (
    id uuid, tenant_id uuid, order_id uuid, created_at timestamptz, status text, amount bigint,
    discount_total bigint, service_charge bigint, tax_base bigint, tax bigint
);

-- Orders that became committed (+1) or stopped being (-1) between `was` and `now`.
CREATE FUNCTION sales_order_flips(was sales_order[], now sales_order[])
RETURNS TABLE (tenant_id uuid, id uuid, bucket timestamptz, outlet_key uuid, sign bigint)
LANGUAGE sql STABLE AS $$
    SELECT c.tenant_id, c.id, sales_bucket(min(c.created_at)), sales_outlet_key(min(c.outlet_id::text)::uuid),
           sum(c.sign)
    FROM (SELECT -1 AS sign, o.* FROM unnest(was) o WHERE o.status = 'committed'
          UNION ALL SELECT 1, o.* FROM unnest(now) o WHERE o.status = 'committed') c
    GROUP BY c.tenant_id, c.id HAVING sum(c.sign) <> 0
$$;

-- Orders as they were (`was`) and are (`now`): their own sums, then what
-- hangs on whether each is committed (payments, items, refunds).
CREATE FUNCTION sales_apply_orders(was sales_order[], now sales_order[]) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public AS $$
BEGIN
    WITH c AS (
        SELECT -1 AS sign, o.* FROM unnest(was) o WHERE o.status IN ('committed', 'cancelled')
        UNION ALL
        SELECT 1, o.* FROM unnest(now) o WHERE o.status IN ('committed', 'cancelled')
    ), sums AS (
        SELECT c.tenant_id, sales_bucket(c.created_at) AS bucket, sales_outlet_key(c.outlet_id) AS outlet_key,
               coalesce(sum(c.sign) FILTER (WHERE c.status = 'committed'), 0) AS orders,
               coalesce(sum(c.sign * c.subtotal) FILTER (WHERE c.status = 'committed'), 0) AS gross,
               coalesce(sum(c.sign * c.discount_total) FILTER (WHERE c.status = 'committed'), 0) AS discounts,
               coalesce(sum(c.sign * c.service_charge) FILTER (WHERE c.status = 'committed'), 0) AS service_charge,
               coalesce(sum(c.sign * c.tax_base) FILTER (WHERE c.status = 'committed'), 0) AS tax_base,
               coalesce(sum(c.sign * c.tax) FILTER (WHERE c.status = 'committed'), 0) AS tax,
               coalesce(sum(c.sign * c.total) FILTER (WHERE c.status = 'committed'), 0) AS net,
               coalesce(sum(c.sign * c.rounding) FILTER (WHERE c.status = 'committed'), 0) AS rounding,
               coalesce(sum(c.sign) FILTER (WHERE c.status = 'cancelled'), 0) AS cancelled,
               coalesce(sum(c.sign * c.total) FILTER (WHERE c.status = 'cancelled'), 0) AS cancelled_amount
        FROM c GROUP BY 1, 2, 3
    )
    INSERT INTO sales_buckets AS s (tenant_id, bucket, outlet_key, orders, gross, discounts, service_charge,
                                    tax_base, tax, net, rounding, cancelled, cancelled_amount)
    SELECT * FROM sums
    WHERE (orders, gross, discounts, service_charge, tax_base, tax, net, rounding, cancelled, cancelled_amount)
          <> (0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    ORDER BY 1, 2, 3
    ON CONFLICT (tenant_id, bucket, outlet_key) DO UPDATE SET
        orders = s.orders + EXCLUDED.orders, gross = s.gross + EXCLUDED.gross,
        discounts = s.discounts + EXCLUDED.discounts, service_charge = s.service_charge + EXCLUDED.service_charge,
        tax_base = s.tax_base + EXCLUDED.tax_base, tax = s.tax + EXCLUDED.tax, net = s.net + EXCLUDED.net,
        rounding = s.rounding + EXCLUDED.rounding, cancelled = s.cancelled + EXCLUDED.cancelled,
        cancelled_amount = s.cancelled_amount + EXCLUDED.cancelled_amount;

    IF NOT EXISTS (SELECT 1 FROM sales_order_flips(was, now)) THEN
        RETURN;
    END IF;
    INSERT INTO sales_bucket_methods AS s (tenant_id, bucket, outlet_key, kind, method, amount)
    SELECT f.tenant_id, f.bucket, f.outlet_key, 'paid', p.method, sum(f.sign * (p.amount - p.change))
    FROM sales_order_flips(was, now) f JOIN payments p ON p.tenant_id = f.tenant_id AND p.order_id = f.id
    GROUP BY 1, 2, 3, 5 ORDER BY 1, 2, 3, 5
    ON CONFLICT (tenant_id, bucket, outlet_key, kind, method) DO UPDATE SET amount = s.amount + EXCLUDED.amount;

    INSERT INTO sales_bucket_products AS s (tenant_id, bucket, outlet_key, product_id, quantity, revenue)
    SELECT f.tenant_id, f.bucket, f.outlet_key, i.product_id, sum(f.sign * i.quantity), sum(f.sign * i.line_total)
    FROM sales_order_flips(was, now) f JOIN order_items i ON i.tenant_id = f.tenant_id AND i.order_id = f.id
    GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
    ON CONFLICT (tenant_id, bucket, outlet_key, product_id) DO UPDATE SET
        quantity = s.quantity + EXCLUDED.quantity, revenue = s.revenue + EXCLUDED.revenue;

    INSERT INTO sales_buckets AS s (tenant_id, bucket, outlet_key, refunds, refunded, refunded_discounts,
                                    refunded_service_charge, refunded_tax_base, refunded_tax)
    SELECT f.tenant_id, sales_bucket(r.created_at), f.outlet_key, sum(f.sign), sum(f.sign * r.amount),
           coalesce(sum(f.sign * r.discount_total), 0), coalesce(sum(f.sign * r.service_charge), 0),
           coalesce(sum(f.sign * r.tax_base), 0), coalesce(sum(f.sign * r.tax), 0)
    FROM sales_order_flips(was, now) f
    JOIN refunds r ON r.tenant_id = f.tenant_id AND r.order_id = f.id AND r.status = 'committed'
    GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (tenant_id, bucket, outlet_key) DO UPDATE SET
        refunds = s.refunds + EXCLUDED.refunds, refunded = s.refunded + EXCLUDED.refunded,
        refunded_discounts = s.refunded_discounts + EXCLUDED.refunded_discounts,
        refunded_service_charge = s.refunded_service_charge + EXCLUDED.refunded_service_charge,
        refunded_tax_base = s.refunded_tax_base + EXCLUDED.refunded_tax_base,
        refunded_tax = s.refunded_tax + EXCLUDED.refunded_tax;

    INSERT INTO sales_bucket_methods AS s (tenant_id, bucket, outlet_key, kind, method, amount)
    SELECT f.tenant_id, sales_bucket(r.created_at), f.outlet_key, 'refunded', rp.method, sum(f.sign * rp.amount)
    FROM sales_order_flips(was, now) f
    JOIN refunds r ON r.tenant_id = f.tenant_id AND r.order_id = f.id AND r.status = 'committed'
    JOIN refund_payments rp ON rp.tenant_id = r.tenant_id AND rp.refund_id = r.id
    GROUP BY 1, 2, 3, 5 ORDER BY 1, 2, 3, 5
    ON CONFLICT (tenant_id, bucket, outlet_key, kind, method) DO UPDATE SET amount = s.amount + EXCLUDED.amount;
END
$$;

-- Refunds as they were and are: counted while committed and their order
-- committed; their payments follow their being counted.
CREATE FUNCTION sales_apply_refunds(was sales_refund[], now sales_refund[]) RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public AS $$
    WITH flips AS (
        SELECT c.tenant_id, c.id, sales_bucket(min(c.created_at)) AS bucket,
               sales_outlet_key(min(o.outlet_id::text)::uuid) AS outlet_key, sum(c.sign) AS sign,
               sum(c.sign * c.amount) AS amount, coalesce(sum(c.sign * c.discount_total), 0) AS discounts,
               coalesce(sum(c.sign * c.service_charge), 0) AS service_charge,
               coalesce(sum(c.sign * c.tax_base), 0) AS tax_base, coalesce(sum(c.sign * c.tax), 0) AS tax
        FROM (SELECT -1 AS sign, r.* FROM unnest(was) r WHERE r.status = 'committed'
              UNION ALL SELECT 1, r.* FROM unnest(now) r WHERE r.status = 'committed') c
        JOIN orders o ON o.tenant_id = c.tenant_id AND o.id = c.order_id AND o.status = 'committed'
        GROUP BY c.tenant_id, c.id
        HAVING sum(c.sign) <> 0 OR sum(c.sign * c.amount) <> 0 OR coalesce(sum(c.sign * c.tax), 0) <> 0
            OR coalesce(sum(c.sign * c.tax_base), 0) <> 0 OR coalesce(sum(c.sign * c.service_charge), 0) <> 0
            OR coalesce(sum(c.sign * c.discount_total), 0) <> 0
    ), counted AS (
        INSERT INTO sales_buckets AS s (tenant_id, bucket, outlet_key, refunds, refunded, refunded_discounts,
                                        refunded_service_charge, refunded_tax_base, refunded_tax)
        SELECT tenant_id, bucket, outlet_key, sum(sign), sum(amount), sum(discounts), sum(service_charge),
               sum(tax_base), sum(tax)
        FROM flips
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (tenant_id, bucket, outlet_key) DO UPDATE SET
            refunds = s.refunds + EXCLUDED.refunds, refunded = s.refunded + EXCLUDED.refunded,
            refunded_discounts = s.refunded_discounts + EXCLUDED.refunded_discounts,
            refunded_service_charge = s.refunded_service_charge + EXCLUDED.refunded_service_charge,
            refunded_tax_base = s.refunded_tax_base + EXCLUDED.refunded_tax_base,
            refunded_tax = s.refunded_tax + EXCLUDED.refunded_tax
    )
    INSERT INTO sales_bucket_methods AS s (tenant_id, bucket, outlet_key, kind, method, amount)
    SELECT f.tenant_id, f.bucket, f.outlet_key, 'refunded', rp.method, sum(f.sign * rp.amount)
    FROM flips f JOIN refund_payments rp ON rp.tenant_id = f.tenant_id AND rp.refund_id = f.id
    WHERE f.sign <> 0
    GROUP BY 1, 2, 3, 5 ORDER BY 1, 2, 3, 5
    ON CONFLICT (tenant_id, bucket, outlet_key, kind, method) DO UPDATE SET amount = s.amount + EXCLUDED.amount
$$;

-- The triggers: one per table and operation (a transition table exists only
-- for the operation that names it, and only in the trigger's own queries,
-- so they read it there: `rel` is new_rows or old_rows). Statements that
-- touch no counted row (admission's pending rows, the sweep's claims)
-- return at the first check.
CREATE FUNCTION sales_orders_trigger() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    pick constant text := 'SELECT ARRAY(SELECT ROW(r.id, r.tenant_id, r.outlet_id, r.created_at, r.status, r.subtotal,
        r.discount_total, r.service_charge, r.tax_base, r.tax, r.total, r.rounding)::sales_order FROM %I r)';
    counted constant text := 'SELECT EXISTS (SELECT 1 FROM %I WHERE status IN (''committed'', ''cancelled''))';
    was sales_order[] := '{}';
    now sales_order[] := '{}';
    any_counted boolean := false;
    found_here boolean;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        EXECUTE format(counted, 'old_rows') INTO found_here;
        any_counted := found_here;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        EXECUTE format(counted, 'new_rows') INTO found_here;
        any_counted := any_counted OR found_here;
    END IF;
    IF NOT any_counted THEN
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        EXECUTE format(pick, 'old_rows') INTO was;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        EXECUTE format(pick, 'new_rows') INTO now;
    END IF;
    PERFORM sales_apply_orders(was, now);
    RETURN NULL;
END
$$;

CREATE FUNCTION sales_refunds_trigger() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    pick constant text := 'SELECT ARRAY(SELECT ROW(r.id, r.tenant_id, r.order_id, r.created_at, r.status, r.amount,
        r.discount_total, r.service_charge, r.tax_base, r.tax)::sales_refund FROM %I r)';
    counted constant text := 'SELECT EXISTS (SELECT 1 FROM %I WHERE status = ''committed'')';
    was sales_refund[] := '{}';
    now sales_refund[] := '{}';
    any_counted boolean := false;
    found_here boolean;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        EXECUTE format(counted, 'old_rows') INTO found_here;
        any_counted := found_here;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        EXECUTE format(counted, 'new_rows') INTO found_here;
        any_counted := any_counted OR found_here;
    END IF;
    IF NOT any_counted THEN
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        EXECUTE format(pick, 'old_rows') INTO was;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        EXECUTE format(pick, 'new_rows') INTO now;
    END IF;
    PERFORM sales_apply_refunds(was, now);
    RETURN NULL;
END
$$;

-- Payments, items and refund payments written or removed while their order
-- (and refund) already counts.
CREATE FUNCTION sales_children_trigger() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    rel constant text := CASE TG_OP WHEN 'INSERT' THEN 'new_rows' ELSE 'old_rows' END;
    sign constant integer := CASE TG_OP WHEN 'INSERT' THEN 1 ELSE -1 END;
BEGIN
    IF TG_TABLE_NAME = 'payments' THEN
        EXECUTE format($q$
            INSERT INTO sales_bucket_methods AS s (tenant_id, bucket, outlet_key, kind, method, amount)
            SELECT o.tenant_id, sales_bucket(o.created_at), sales_outlet_key(o.outlet_id), 'paid', p.method,
                   sum($1 * (p.amount - p.change))
            FROM %I p JOIN orders o ON o.tenant_id = p.tenant_id AND o.id = p.order_id AND o.status = 'committed'
            GROUP BY 1, 2, 3, 5 ORDER BY 1, 2, 3, 5
            ON CONFLICT (tenant_id, bucket, outlet_key, kind, method) DO UPDATE SET amount = s.amount + EXCLUDED.amount
        $q$, rel) USING sign;
    ELSIF TG_TABLE_NAME = 'order_items' THEN
        EXECUTE format($q$
            INSERT INTO sales_bucket_products AS s (tenant_id, bucket, outlet_key, product_id, quantity, revenue)
            SELECT o.tenant_id, sales_bucket(o.created_at), sales_outlet_key(o.outlet_id), i.product_id,
                   sum($1 * i.quantity), sum($1 * i.line_total)
            FROM %I i JOIN orders o ON o.tenant_id = i.tenant_id AND o.id = i.order_id AND o.status = 'committed'
            GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
            ON CONFLICT (tenant_id, bucket, outlet_key, product_id) DO UPDATE SET
                quantity = s.quantity + EXCLUDED.quantity, revenue = s.revenue + EXCLUDED.revenue
        $q$, rel) USING sign;
    ELSE
        EXECUTE format($q$
            INSERT INTO sales_bucket_methods AS s (tenant_id, bucket, outlet_key, kind, method, amount)
            SELECT r.tenant_id, sales_bucket(r.created_at), sales_outlet_key(o.outlet_id), 'refunded', rp.method,
                   sum($1 * rp.amount)
            FROM %I rp
            JOIN refunds r ON r.tenant_id = rp.tenant_id AND r.id = rp.refund_id AND r.status = 'committed'
            JOIN orders o ON o.tenant_id = r.tenant_id AND o.id = r.order_id AND o.status = 'committed'
            GROUP BY 1, 2, 3, 5 ORDER BY 1, 2, 3, 5
            ON CONFLICT (tenant_id, bucket, outlet_key, kind, method) DO UPDATE SET amount = s.amount + EXCLUDED.amount
        $q$, rel) USING sign;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER sales_orders_inserted AFTER INSERT ON orders
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION sales_orders_trigger();
CREATE TRIGGER sales_orders_updated AFTER UPDATE ON orders
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION sales_orders_trigger();
CREATE TRIGGER sales_orders_deleted AFTER DELETE ON orders
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION sales_orders_trigger();
CREATE TRIGGER sales_refunds_inserted AFTER INSERT ON refunds
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION sales_refunds_trigger();
CREATE TRIGGER sales_refunds_updated AFTER UPDATE ON refunds
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION sales_refunds_trigger();
CREATE TRIGGER sales_refunds_deleted AFTER DELETE ON refunds
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION sales_refunds_trigger();
CREATE TRIGGER sales_payments_inserted AFTER INSERT ON payments
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION sales_children_trigger();
CREATE TRIGGER sales_payments_deleted AFTER DELETE ON payments
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION sales_children_trigger();
CREATE TRIGGER sales_items_inserted AFTER INSERT ON order_items
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION sales_children_trigger();
CREATE TRIGGER sales_items_deleted AFTER DELETE ON order_items
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION sales_children_trigger();
CREATE TRIGGER sales_refund_payments_inserted AFTER INSERT ON refund_payments
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION sales_children_trigger();
CREATE TRIGGER sales_refund_payments_deleted AFTER DELETE ON refund_payments
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION sales_children_trigger();

-- The sums of what exists now (the same definitions, computed at once).
INSERT INTO sales_buckets (tenant_id, bucket, outlet_key, orders, gross, discounts, service_charge, tax_base, tax,
                           net, rounding, cancelled, cancelled_amount)
SELECT tenant_id, sales_bucket(created_at), sales_outlet_key(outlet_id),
       count(*) FILTER (WHERE status = 'committed'),
       coalesce(sum(subtotal) FILTER (WHERE status = 'committed'), 0),
       coalesce(sum(discount_total) FILTER (WHERE status = 'committed'), 0),
       coalesce(sum(service_charge) FILTER (WHERE status = 'committed'), 0),
       coalesce(sum(tax_base) FILTER (WHERE status = 'committed'), 0),
       coalesce(sum(tax) FILTER (WHERE status = 'committed'), 0),
       coalesce(sum(total) FILTER (WHERE status = 'committed'), 0),
       coalesce(sum(rounding) FILTER (WHERE status = 'committed'), 0),
       count(*) FILTER (WHERE status = 'cancelled'),
       coalesce(sum(total) FILTER (WHERE status = 'cancelled'), 0)
FROM orders WHERE status IN ('committed', 'cancelled') GROUP BY 1, 2, 3;

INSERT INTO sales_buckets AS s (tenant_id, bucket, outlet_key, refunds, refunded)
SELECT r.tenant_id, sales_bucket(r.created_at), sales_outlet_key(o.outlet_id), count(*), sum(r.amount)
FROM refunds r JOIN orders o ON o.tenant_id = r.tenant_id AND o.id = r.order_id AND o.status = 'committed'
WHERE r.status = 'committed' GROUP BY 1, 2, 3
ON CONFLICT (tenant_id, bucket, outlet_key) DO UPDATE SET refunds = EXCLUDED.refunds, refunded = EXCLUDED.refunded;

INSERT INTO sales_bucket_methods (tenant_id, bucket, outlet_key, kind, method, amount)
SELECT o.tenant_id, sales_bucket(o.created_at), sales_outlet_key(o.outlet_id), 'paid', p.method, sum(p.amount - p.change)
FROM orders o JOIN payments p ON p.tenant_id = o.tenant_id AND p.order_id = o.id
WHERE o.status = 'committed' GROUP BY 1, 2, 3, 5;

INSERT INTO sales_bucket_methods (tenant_id, bucket, outlet_key, kind, method, amount)
SELECT r.tenant_id, sales_bucket(r.created_at), sales_outlet_key(o.outlet_id), 'refunded', rp.method, sum(rp.amount)
FROM refunds r JOIN orders o ON o.tenant_id = r.tenant_id AND o.id = r.order_id AND o.status = 'committed'
JOIN refund_payments rp ON rp.tenant_id = r.tenant_id AND rp.refund_id = r.id
WHERE r.status = 'committed' GROUP BY 1, 2, 3, 5;

INSERT INTO sales_bucket_products (tenant_id, bucket, outlet_key, product_id, quantity, revenue)
SELECT o.tenant_id, sales_bucket(o.created_at), sales_outlet_key(o.outlet_id), i.product_id, sum(i.quantity),
       sum(i.line_total)
FROM orders o JOIN order_items i ON i.tenant_id = o.tenant_id AND i.order_id = o.id
WHERE o.status = 'committed' GROUP BY 1, 2, 3, 4;

-- The services read them (the report), through row-level security; only the
-- triggers (their owner's functions) write them.
GRANT SELECT ON sales_buckets, sales_bucket_methods, sales_bucket_products TO warungin_app, warungin_platform;
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['sales_buckets', 'sales_bucket_methods', 'sales_bucket_products']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I TO warungin_app
                        USING (tenant_id = ANY (warungin_tenants())) WITH CHECK (tenant_id = ANY (warungin_tenants()))', t);
        EXECUTE format('CREATE POLICY platform_operators ON %I TO warungin_platform USING (true) WITH CHECK (true)', t);
    END LOOP;
END
$$;
