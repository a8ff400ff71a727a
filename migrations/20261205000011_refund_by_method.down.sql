-- Reverses 20261205000011_refund_by_method.up.sql.
--
-- DATA LOSS: each shop's choice to let cash stand in for non-cash refunds
-- (the previous release refunds by its own rule).
ALTER TABLE tenants DROP COLUMN refund_cash_for_noncash;
