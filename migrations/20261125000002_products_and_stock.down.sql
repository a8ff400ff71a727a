-- Reverses 20261125000002_products_and_stock.up.sql.
--
-- DATA LOSS: every product and the whole stock ledger.

DROP TABLE stock_movements;  -- with stock_movements_product_idx, stock_movements_order_effect_key
DROP TABLE products;
