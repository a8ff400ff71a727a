-- Reverses 20261205000017_cash_shifts.up.sql, in reverse order.
--
-- DATA LOSS: the cash shifts (floats, counts, kept Z-reports), their pay-ins
-- and pay-outs, which shift each order and refund belonged to, and who sold
-- each order.
DROP TRIGGER refund_shift ON refunds;
DROP FUNCTION refund_shift();
DROP TRIGGER order_shift ON orders;
DROP FUNCTION order_shift();
DROP FUNCTION shift_at(uuid, uuid, uuid, timestamptz);
ALTER TABLE refunds DROP COLUMN shift_id;
ALTER TABLE orders DROP COLUMN shift_id;
ALTER TABLE orders DROP COLUMN sold_by;
DROP TABLE cash_movements;
DROP TABLE cash_shifts;
