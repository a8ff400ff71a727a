-- A cancel pays back what its order still held, on the day it is cancelled
-- (issue 22 #5).
--
-- Until now a cancel took its order out of its sale day, and refunds
-- counted only while their order stayed committed: an order sold Monday
-- for 100,000, refunded 30,000 on Tuesday and cancelled on Wednesday
-- changed Monday's and Tuesday's closed books, and the 70,000 paid back on
-- Wednesday showed on no day. Now:
--   - a sale stays on its sale day whatever happens to it later (orders
--     committed or cancelled count as sold);
--   - a cancel records what it pays back as a refund of kind 'cancel',
--     dated when the order was cancelled: per payment method, what the
--     method took net of change less what refunds gave back by it (the
--     last refund's rule: exactly what is left), and the rest of the
--     order's discounts, service charge, tax base and tax;
--   - refunds count on their own day whatever their order became.
-- So a day's figures change only when something new is dated in it.
--
-- The cancel's payback is written by a trigger on the order's change to
-- 'cancelled', in the same transaction, whichever code cancels (a worker
-- of this release or the previous one during a rolling upgrade, an
-- operator's SQL), so it cannot be forgotten or written twice (one cancel
-- refund per order, by a unique index).

ALTER TABLE refunds
    ADD COLUMN kind text NOT NULL DEFAULT 'refund' CHECK (kind IN ('refund', 'cancel'));
CREATE UNIQUE INDEX refunds_one_cancel_per_order ON refunds (tenant_id, order_id) WHERE kind = 'cancel';

-- The summaries' `cancelled` and `cancelled_amount` now count cancels by
-- the day they were made, and what they paid back (part of `refunds` and
-- `refunded`, which count every payback).
ALTER TYPE sales_refund ADD ATTRIBUTE kind text;

-- Per cancelled order and payment method, what is left to give back: what
-- the method took net of change, less what refunds gave back by it.
CREATE FUNCTION cancel_payback_left(tenants uuid[], ids uuid[])
RETURNS TABLE (tenant_id uuid, order_id uuid, method text, amount bigint)
LANGUAGE sql STABLE AS $$
    SELECT c.tenant_id, c.id, x.method, sum(x.amount)::bigint
    FROM unnest(tenants, ids) AS c(tenant_id, id),
    LATERAL (SELECT p.method, p.amount - p.change AS amount FROM payments p
             WHERE p.tenant_id = c.tenant_id AND p.order_id = c.id
             UNION ALL
             SELECT rp.method, -rp.amount FROM refunds r
             JOIN refund_payments rp ON rp.tenant_id = r.tenant_id AND rp.refund_id = r.id
             WHERE r.tenant_id = c.tenant_id AND r.order_id = c.id AND r.status = 'committed'
               AND r.kind = 'refund') x
    GROUP BY 1, 2, 3 HAVING sum(x.amount) > 0
$$;

-- Write the cancel refunds of these cancelled orders, with their payments
-- back, dated when each was cancelled.
CREATE FUNCTION cancel_payback_write(tenants uuid[], ids uuid[]) RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public AS $$
    INSERT INTO refunds (id, tenant_id, order_id, client_refund_id, kind, status, request, request_hash, reason,
                         amount, created_at, committed_at, discount_total, service_charge, tax_base, tax)
    SELECT md5('warungin cancel ' || o.id::text)::uuid, o.tenant_id, o.id,
           md5('warungin cancel client ' || o.id::text)::uuid, 'cancel', 'committed', q.request,
           sha256(convert_to(q.request::text, 'UTF8')), o.cancel_reason,
           (SELECT coalesce(sum(l.amount), 0) FROM cancel_payback_left(ARRAY[o.tenant_id], ARRAY[o.id]) l),
           coalesce(o.cancelled_at, o.updated_at), coalesce(o.cancelled_at, o.updated_at),
           o.discount_total - coalesce(b.discounts, 0), o.service_charge - coalesce(b.service_charge, 0),
           o.tax_base - coalesce(b.tax_base, 0), o.tax - coalesce(b.tax, 0)
    FROM unnest(tenants, ids) AS c(tenant_id, id)
    JOIN orders o ON o.tenant_id = c.tenant_id AND o.id = c.id
    CROSS JOIN LATERAL (SELECT jsonb_build_object('cancel', jsonb_build_object('reason', o.cancel_reason))
                        AS request) q
    LEFT JOIN LATERAL (SELECT sum(r.discount_total) AS discounts, sum(r.service_charge) AS service_charge,
                              sum(r.tax_base) AS tax_base, sum(r.tax) AS tax
                       FROM refunds r WHERE r.tenant_id = o.tenant_id AND r.order_id = o.id
                         AND r.status = 'committed' AND r.kind = 'refund') b ON true
    ORDER BY o.tenant_id, o.id;

    INSERT INTO refund_payments (tenant_id, refund_id, line_no, method, amount)
    SELECT l.tenant_id, md5('warungin cancel ' || l.order_id::text)::uuid,
           (row_number() OVER (PARTITION BY l.order_id ORDER BY l.method) - 1)::smallint, l.method, l.amount
    FROM cancel_payback_left(tenants, ids) l
$$;

-- The cancel refunds, with their payments back, of the orders that were
-- committed in `old_rows` and are cancelled in `new_rows`.
CREATE FUNCTION cancel_pays_back() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    tenants uuid[];
    ids uuid[];
BEGIN
    -- Most order updates commit or claim orders: one look and out.
    IF NOT EXISTS (SELECT 1 FROM new_rows WHERE status = 'cancelled') THEN
        RETURN NULL;
    END IF;
    SELECT array_agg(n.tenant_id ORDER BY n.tenant_id, n.id), array_agg(n.id ORDER BY n.tenant_id, n.id)
    INTO tenants, ids
    FROM new_rows n JOIN old_rows o ON o.tenant_id = n.tenant_id AND o.id = n.id
    WHERE o.status = 'committed' AND n.status = 'cancelled';
    IF ids IS NULL THEN
        RETURN NULL;
    END IF;

    PERFORM cancel_payback_write(tenants, ids);
    RETURN NULL;
END
$$;

-- Named to fire before the summaries' trigger on the same statement
-- (triggers fire in name order); either order counts the same.
CREATE TRIGGER cancel_pays_back AFTER UPDATE ON orders
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cancel_pays_back();

-- Orders that became sold (+1: committed, or cancelled straight from
-- another state) or stopped being (-1) between `was` and `now`.
CREATE OR REPLACE FUNCTION sales_order_flips(was sales_order[], now sales_order[])
RETURNS TABLE (tenant_id uuid, id uuid, bucket timestamptz, outlet_key uuid, sign bigint)
LANGUAGE sql STABLE AS $$
    SELECT c.tenant_id, c.id, sales_bucket(min(c.created_at)), sales_outlet_key(min(c.outlet_id::text)::uuid),
           sum(c.sign)
    FROM (SELECT -1 AS sign, o.* FROM unnest(was) o WHERE o.status IN ('committed', 'cancelled')
          UNION ALL SELECT 1, o.* FROM unnest(now) o WHERE o.status IN ('committed', 'cancelled')) c
    GROUP BY c.tenant_id, c.id HAVING sum(c.sign) <> 0
$$;

-- Orders as they were and are: sold (committed or cancelled) orders' own
-- sums on their sale day; then what hangs on an order's being sold
-- (payments, items, refunds) when it becomes so or stops being. A cancel
-- changes none of these: its payback is a refund.
CREATE OR REPLACE FUNCTION sales_apply_orders(was sales_order[], now sales_order[]) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public AS $$
BEGIN
    WITH c AS (
        SELECT -1 AS sign, o.* FROM unnest(was) o WHERE o.status IN ('committed', 'cancelled')
        UNION ALL
        SELECT 1, o.* FROM unnest(now) o WHERE o.status IN ('committed', 'cancelled')
    ), sums AS (
        SELECT c.tenant_id, sales_bucket(c.created_at) AS bucket, sales_outlet_key(c.outlet_id) AS outlet_key,
               sum(c.sign) AS orders, sum(c.sign * c.subtotal) AS gross, sum(c.sign * c.discount_total) AS discounts,
               sum(c.sign * c.service_charge) AS service_charge, sum(c.sign * c.tax_base) AS tax_base,
               sum(c.sign * c.tax) AS tax, sum(c.sign * c.total) AS net,
               coalesce(sum(c.sign * c.rounding), 0) AS rounding
        FROM c GROUP BY 1, 2, 3
    )
    INSERT INTO sales_buckets AS s (tenant_id, bucket, outlet_key, orders, gross, discounts, service_charge,
                                    tax_base, tax, net, rounding)
    SELECT * FROM sums
    WHERE (orders, gross, discounts, service_charge, tax_base, tax, net, rounding) <> (0, 0, 0, 0, 0, 0, 0, 0)
    ORDER BY 1, 2, 3
    ON CONFLICT (tenant_id, bucket, outlet_key) DO UPDATE SET
        orders = s.orders + EXCLUDED.orders, gross = s.gross + EXCLUDED.gross,
        discounts = s.discounts + EXCLUDED.discounts, service_charge = s.service_charge + EXCLUDED.service_charge,
        tax_base = s.tax_base + EXCLUDED.tax_base, tax = s.tax + EXCLUDED.tax, net = s.net + EXCLUDED.net,
        rounding = s.rounding + EXCLUDED.rounding;

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

    PERFORM sales_apply_refunds(
        ARRAY(SELECT ROW(r.id, r.tenant_id, r.order_id, r.created_at, r.status, r.amount, r.discount_total,
                         r.service_charge, r.tax_base, r.tax, r.kind)::sales_refund
              FROM sales_order_flips(was, now) f JOIN refunds r ON r.tenant_id = f.tenant_id AND r.order_id = f.id
              WHERE f.sign < 0),
        ARRAY(SELECT ROW(r.id, r.tenant_id, r.order_id, r.created_at, r.status, r.amount, r.discount_total,
                         r.service_charge, r.tax_base, r.tax, r.kind)::sales_refund
              FROM sales_order_flips(was, now) f JOIN refunds r ON r.tenant_id = f.tenant_id AND r.order_id = f.id
              WHERE f.sign > 0),
        true);
END
$$;

-- Refunds (and cancels' paybacks) as they were and are: counted on their
-- own day while committed and their order sold (always, when the caller
-- is the order's own flip: `order_sold`); their payments follow their
-- being counted.
CREATE FUNCTION sales_apply_refunds(was sales_refund[], now sales_refund[], order_sold boolean) RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public AS $$
    WITH flips AS (
        SELECT c.tenant_id, c.id, sales_bucket(min(c.created_at)) AS bucket,
               sales_outlet_key(min(o.outlet_id::text)::uuid) AS outlet_key, sum(c.sign) AS sign,
               sum(c.sign) FILTER (WHERE c.kind = 'cancel') AS cancels,
               sum(c.sign * c.amount) AS amount,
               sum(c.sign * c.amount) FILTER (WHERE c.kind = 'cancel') AS cancelled_amount,
               coalesce(sum(c.sign * c.discount_total), 0) AS discounts,
               coalesce(sum(c.sign * c.service_charge), 0) AS service_charge,
               coalesce(sum(c.sign * c.tax_base), 0) AS tax_base, coalesce(sum(c.sign * c.tax), 0) AS tax
        FROM (SELECT -1 AS sign, r.* FROM unnest(was) r WHERE r.status = 'committed'
              UNION ALL SELECT 1, r.* FROM unnest(now) r WHERE r.status = 'committed') c
        JOIN orders o ON o.tenant_id = c.tenant_id AND o.id = c.order_id
                     AND (order_sold OR o.status IN ('committed', 'cancelled'))
        GROUP BY c.tenant_id, c.id
        HAVING sum(c.sign) <> 0 OR sum(c.sign * c.amount) <> 0 OR coalesce(sum(c.sign * c.tax), 0) <> 0
            OR coalesce(sum(c.sign * c.tax_base), 0) <> 0 OR coalesce(sum(c.sign * c.service_charge), 0) <> 0
            OR coalesce(sum(c.sign * c.discount_total), 0) <> 0
    ), counted AS (
        INSERT INTO sales_buckets AS s (tenant_id, bucket, outlet_key, refunds, refunded, refunded_discounts,
                                        refunded_service_charge, refunded_tax_base, refunded_tax, cancelled,
                                        cancelled_amount)
        SELECT tenant_id, bucket, outlet_key, sum(sign), sum(amount), sum(discounts), sum(service_charge),
               sum(tax_base), sum(tax), coalesce(sum(cancels), 0), coalesce(sum(cancelled_amount), 0)
        FROM flips
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (tenant_id, bucket, outlet_key) DO UPDATE SET
            refunds = s.refunds + EXCLUDED.refunds, refunded = s.refunded + EXCLUDED.refunded,
            refunded_discounts = s.refunded_discounts + EXCLUDED.refunded_discounts,
            refunded_service_charge = s.refunded_service_charge + EXCLUDED.refunded_service_charge,
            refunded_tax_base = s.refunded_tax_base + EXCLUDED.refunded_tax_base,
            refunded_tax = s.refunded_tax + EXCLUDED.refunded_tax,
            cancelled = s.cancelled + EXCLUDED.cancelled,
            cancelled_amount = s.cancelled_amount + EXCLUDED.cancelled_amount
    )
    INSERT INTO sales_bucket_methods AS s (tenant_id, bucket, outlet_key, kind, method, amount)
    SELECT f.tenant_id, f.bucket, f.outlet_key, 'refunded', rp.method, sum(f.sign * rp.amount)
    FROM flips f JOIN refund_payments rp ON rp.tenant_id = f.tenant_id AND rp.refund_id = f.id
    WHERE f.sign <> 0
    GROUP BY 1, 2, 3, 5 ORDER BY 1, 2, 3, 5
    ON CONFLICT (tenant_id, bucket, outlet_key, kind, method) DO UPDATE SET amount = s.amount + EXCLUDED.amount
$$;
DROP FUNCTION sales_apply_refunds(sales_refund[], sales_refund[]);

CREATE OR REPLACE FUNCTION sales_refunds_trigger() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    pick constant text := 'SELECT ARRAY(SELECT ROW(r.id, r.tenant_id, r.order_id, r.created_at, r.status, r.amount,
        r.discount_total, r.service_charge, r.tax_base, r.tax, r.kind)::sales_refund FROM %I r)';
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
    PERFORM sales_apply_refunds(was, now, false);
    RETURN NULL;
END
$$;

-- Payments, items and refund payments written or removed while their order
-- (and refund) already counts: sold means committed or cancelled now.
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
            FROM %I p JOIN orders o ON o.tenant_id = p.tenant_id AND o.id = p.order_id AND o.status IN ('committed', 'cancelled')
            GROUP BY 1, 2, 3, 5 ORDER BY 1, 2, 3, 5
            ON CONFLICT (tenant_id, bucket, outlet_key, kind, method) DO UPDATE SET amount = s.amount + EXCLUDED.amount
        $q$, rel) USING sign;
    ELSIF TG_TABLE_NAME = 'order_items' THEN
        EXECUTE format($q$
            INSERT INTO sales_bucket_products AS s (tenant_id, bucket, outlet_key, product_id, quantity, revenue)
            SELECT o.tenant_id, sales_bucket(o.created_at), sales_outlet_key(o.outlet_id), i.product_id,
                   sum($1 * i.quantity), sum($1 * i.line_total)
            FROM %I i JOIN orders o ON o.tenant_id = i.tenant_id AND o.id = i.order_id AND o.status IN ('committed', 'cancelled')
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
            JOIN orders o ON o.tenant_id = r.tenant_id AND o.id = r.order_id AND o.status IN ('committed', 'cancelled')
            GROUP BY 1, 2, 3, 5 ORDER BY 1, 2, 3, 5
            ON CONFLICT (tenant_id, bucket, outlet_key, kind, method) DO UPDATE SET amount = s.amount + EXCLUDED.amount
        $q$, rel) USING sign;
    END IF;
    RETURN NULL;
END
$$;

-- The cancels made before this migration get their paybacks, dated when
-- they were made (the trigger's own rule, for every cancelled order at
-- once); then every sum is recomputed from the rows, by the new rules.
SELECT cancel_payback_write(array_agg(tenant_id ORDER BY tenant_id, id), array_agg(id ORDER BY tenant_id, id))
FROM orders WHERE status = 'cancelled' HAVING count(*) > 0;

TRUNCATE sales_buckets, sales_bucket_methods, sales_bucket_products;

INSERT INTO sales_buckets (tenant_id, bucket, outlet_key, orders, gross, discounts, service_charge, tax_base, tax,
                           net, rounding)
SELECT tenant_id, sales_bucket(created_at), sales_outlet_key(outlet_id), count(*), sum(subtotal),
       sum(discount_total), sum(service_charge), sum(tax_base), sum(tax), sum(total), coalesce(sum(rounding), 0)
FROM orders WHERE status IN ('committed', 'cancelled') GROUP BY 1, 2, 3;

INSERT INTO sales_buckets AS s (tenant_id, bucket, outlet_key, refunds, refunded, refunded_discounts,
                                refunded_service_charge, refunded_tax_base, refunded_tax, cancelled, cancelled_amount)
SELECT r.tenant_id, sales_bucket(r.created_at), sales_outlet_key(o.outlet_id), count(*), sum(r.amount),
       coalesce(sum(r.discount_total), 0), coalesce(sum(r.service_charge), 0), coalesce(sum(r.tax_base), 0),
       coalesce(sum(r.tax), 0), count(*) FILTER (WHERE r.kind = 'cancel'),
       coalesce(sum(r.amount) FILTER (WHERE r.kind = 'cancel'), 0)
FROM refunds r JOIN orders o ON o.tenant_id = r.tenant_id AND o.id = r.order_id
WHERE r.status = 'committed' AND o.status IN ('committed', 'cancelled') GROUP BY 1, 2, 3
ON CONFLICT (tenant_id, bucket, outlet_key) DO UPDATE SET
    refunds = EXCLUDED.refunds, refunded = EXCLUDED.refunded, refunded_discounts = EXCLUDED.refunded_discounts,
    refunded_service_charge = EXCLUDED.refunded_service_charge, refunded_tax_base = EXCLUDED.refunded_tax_base,
    refunded_tax = EXCLUDED.refunded_tax, cancelled = EXCLUDED.cancelled, cancelled_amount = EXCLUDED.cancelled_amount;

INSERT INTO sales_bucket_methods (tenant_id, bucket, outlet_key, kind, method, amount)
SELECT o.tenant_id, sales_bucket(o.created_at), sales_outlet_key(o.outlet_id), 'paid', p.method, sum(p.amount - p.change)
FROM orders o JOIN payments p ON p.tenant_id = o.tenant_id AND p.order_id = o.id
WHERE o.status IN ('committed', 'cancelled') GROUP BY 1, 2, 3, 5;

INSERT INTO sales_bucket_methods (tenant_id, bucket, outlet_key, kind, method, amount)
SELECT r.tenant_id, sales_bucket(r.created_at), sales_outlet_key(o.outlet_id), 'refunded', rp.method, sum(rp.amount)
FROM refunds r JOIN orders o ON o.tenant_id = r.tenant_id AND o.id = r.order_id
JOIN refund_payments rp ON rp.tenant_id = r.tenant_id AND rp.refund_id = r.id
WHERE r.status = 'committed' AND o.status IN ('committed', 'cancelled') GROUP BY 1, 2, 3, 5;

INSERT INTO sales_bucket_products (tenant_id, bucket, outlet_key, product_id, quantity, revenue)
SELECT o.tenant_id, sales_bucket(o.created_at), sales_outlet_key(o.outlet_id), i.product_id, sum(i.quantity),
       sum(i.line_total)
FROM orders o JOIN order_items i ON i.tenant_id = o.tenant_id AND i.order_id = o.id
WHERE o.status IN ('committed', 'cancelled') GROUP BY 1, 2, 3, 4;
