-- Reverses 20261205000016_stock_transfers.up.sql, in reverse order.
--
-- DATA LOSS: the transfers (their requests, statuses, reasons). Their
-- movements stay in the ledger as adjustments whose reason names the
-- transfer and its direction ('transfer_out <id>'), so each outlet's
-- ledger still sums to its stock.
ALTER TABLE stock_movements DROP CONSTRAINT stock_movements_transfer_fkey;
ALTER TABLE stock_movements DROP CONSTRAINT stock_movements_transfer_kind;
ALTER TABLE stock_movements DROP CONSTRAINT stock_movements_kind_check;
DROP INDEX stock_movements_transfer_effect_key;
UPDATE stock_movements SET kind = 'adjustment', reason = kind || ' ' || transfer_id, transfer_id = NULL
WHERE transfer_id IS NOT NULL;
ALTER TABLE stock_movements ADD CONSTRAINT stock_movements_kind_check
    CHECK (kind IN ('sale', 'cancel', 'adjustment', 'oversold', 'return'));
ALTER TABLE stock_movements DROP COLUMN transfer_id;
DROP TABLE stock_transfer_items;
DROP TABLE stock_transfers;
