-- Reverses 20261205000015_stock_per_outlet.up.sql, in reverse order.
--
-- DATA LOSS: where the stock is. A product's stock becomes the sum over its
-- outlets again, and the ledger forgets which outlet each movement moved
-- (its deltas still sum to that figure). Applied again, the up script puts
-- all of it at the default outlet.
ALTER TABLE products ADD COLUMN stock bigint NOT NULL DEFAULT 0 CONSTRAINT products_stock_check CHECK (stock >= 0);
UPDATE products p SET stock = s.total
FROM (SELECT tenant_id, product_id, sum(stock)::bigint AS total FROM outlet_stock GROUP BY 1, 2) s
WHERE s.tenant_id = p.tenant_id AND s.product_id = p.id;
ALTER TABLE products ALTER COLUMN stock DROP DEFAULT;

ALTER TABLE stock_movements DROP COLUMN outlet_id;
DROP TRIGGER outlet_product_stock ON outlets;
DROP FUNCTION outlet_product_stock();
DROP TRIGGER product_outlet_stock ON products;
DROP FUNCTION product_outlet_stock();
DROP FUNCTION outlet_stock_lock(uuid);
DROP TABLE outlet_stock;
