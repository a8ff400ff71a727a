-- Refunds go back the way the money came (issue 22): by default to each
-- payment method in proportion to what it has left, never more to a method
-- than it took net of change. A shop may let cash stand in for a card, QRIS
-- or transfer payment (a customer whose card cannot be refunded at the
-- counter): off by default, since it pays cash out of a drawer that never
-- took it. Changing it is logged with the person who did (the audit trail
-- of the settings).
ALTER TABLE tenants ADD COLUMN refund_cash_for_noncash boolean NOT NULL DEFAULT false;
