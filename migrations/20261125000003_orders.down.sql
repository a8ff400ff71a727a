-- Reverses 20261125000003_orders.up.sql.
--
-- DATA LOSS: every order, order line, payment and sync batch. (Stock
-- movements of kind sale/cancel/oversold keep their order_id: it is not a
-- foreign key.)

DROP TABLE sync_batches;
DROP TABLE payments;
DROP TABLE order_items;  -- with order_items_product_idx
DROP TABLE orders;       -- with orders_created_idx, orders_status_created_idx, orders_pending_idx
