-- Reverses 20261205000010_sales_summary.up.sql, in reverse order.
--
-- DATA LOSS: refunds' parts of their orders' discounts, service charge,
-- tax base and tax. The quarter-hour summaries are sums of orders,
-- payments, items and refunds that stay; the daily report of the previous
-- release reads those rows directly.

DROP POLICY platform_operators ON sales_bucket_products;
DROP POLICY tenant_isolation ON sales_bucket_products;
DROP POLICY platform_operators ON sales_bucket_methods;
DROP POLICY tenant_isolation ON sales_bucket_methods;
DROP POLICY platform_operators ON sales_buckets;
DROP POLICY tenant_isolation ON sales_buckets;
REVOKE SELECT ON sales_buckets, sales_bucket_methods, sales_bucket_products FROM warungin_app, warungin_platform;

DROP TRIGGER sales_refund_payments_deleted ON refund_payments;
DROP TRIGGER sales_refund_payments_inserted ON refund_payments;
DROP TRIGGER sales_items_deleted ON order_items;
DROP TRIGGER sales_items_inserted ON order_items;
DROP TRIGGER sales_payments_deleted ON payments;
DROP TRIGGER sales_payments_inserted ON payments;
DROP TRIGGER sales_refunds_deleted ON refunds;
DROP TRIGGER sales_refunds_updated ON refunds;
DROP TRIGGER sales_refunds_inserted ON refunds;
DROP TRIGGER sales_orders_deleted ON orders;
DROP TRIGGER sales_orders_updated ON orders;
DROP TRIGGER sales_orders_inserted ON orders;

DROP FUNCTION sales_children_trigger();
DROP FUNCTION sales_refunds_trigger();
DROP FUNCTION sales_orders_trigger();
DROP FUNCTION sales_apply_refunds(sales_refund[], sales_refund[]);
DROP FUNCTION sales_apply_orders(sales_order[], sales_order[]);
DROP FUNCTION sales_order_flips(sales_order[], sales_order[]);
DROP TYPE sales_refund;
DROP TYPE sales_order;

DROP TABLE sales_bucket_products;
DROP TABLE sales_bucket_methods;
DROP TABLE sales_buckets;

DROP FUNCTION sales_bucket(timestamptz);
DROP FUNCTION sales_outlet_key(uuid);

ALTER TABLE refunds DROP COLUMN tax, DROP COLUMN tax_base, DROP COLUMN service_charge, DROP COLUMN discount_total;
