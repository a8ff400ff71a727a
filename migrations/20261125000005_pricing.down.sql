-- Reverses 20261125000005_pricing.up.sql.
--
-- DATA LOSS: discount rules, members and the price history (product_prices).
-- Orders keep the prices and discounts they were committed with; offline
-- sales are then checked against the current price only.

DROP INDEX orders_report_idx;
DROP TABLE product_prices;
DROP TABLE members;         -- with members_name_idx
DROP TABLE discount_rules;  -- with discount_rules_active_idx
