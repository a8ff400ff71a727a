-- Reverses 20261205000012_cancel_pays_back.up.sql, in reverse order.
--
-- DATA LOSS: the cancels' paybacks (refunds of kind 'cancel' and their
-- payments back). The summaries go back to the previous rules (a cancel
-- takes its order out of its sale day, refunds count while their order is
-- committed) and are recomputed from the rows that stay.

DROP TRIGGER cancel_pays_back ON orders;
DROP FUNCTION cancel_pays_back();

DELETE FROM refund_payments rp USING refunds r
WHERE r.tenant_id = rp.tenant_id AND r.id = rp.refund_id AND r.kind = 'cancel';
DELETE FROM refunds WHERE kind = 'cancel';
DROP FUNCTION cancel_payback_write(uuid[], uuid[]);
DROP FUNCTION cancel_payback_left(uuid[], uuid[]);

CREATE OR REPLACE FUNCTION sales_children_trigger() RETURNS trigger
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

CREATE OR REPLACE FUNCTION sales_refunds_trigger() RETURNS trigger
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
DROP FUNCTION sales_apply_refunds(sales_refund[], sales_refund[], boolean);

CREATE OR REPLACE FUNCTION sales_apply_orders(was sales_order[], now sales_order[]) RETURNS void
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

CREATE OR REPLACE FUNCTION sales_order_flips(was sales_order[], now sales_order[])
RETURNS TABLE (tenant_id uuid, id uuid, bucket timestamptz, outlet_key uuid, sign bigint)
LANGUAGE sql STABLE AS $$
    SELECT c.tenant_id, c.id, sales_bucket(min(c.created_at)), sales_outlet_key(min(c.outlet_id::text)::uuid),
           sum(c.sign)
    FROM (SELECT -1 AS sign, o.* FROM unnest(was) o WHERE o.status = 'committed'
          UNION ALL SELECT 1, o.* FROM unnest(now) o WHERE o.status = 'committed') c
    GROUP BY c.tenant_id, c.id HAVING sum(c.sign) <> 0
$$;

ALTER TYPE sales_refund DROP ATTRIBUTE kind;
DROP INDEX refunds_one_cancel_per_order;
ALTER TABLE refunds DROP COLUMN kind;

TRUNCATE sales_buckets, sales_bucket_methods, sales_bucket_products;

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
