-- Reverses 20261205000014_outlets.up.sql, in reverse order.
--
-- DATA LOSS: the outlets (names, addresses, timezones, active flags). The
-- orders keep the outlet ids they name (a free UUID again, as before), the
-- moved ones their tenant's default outlet's; applied again, this migration
-- gives each tenant the same default outlet back.
ALTER TABLE orders DROP CONSTRAINT orders_outlet_fkey;
DROP TRIGGER tenant_default_outlet ON tenants;
DROP FUNCTION tenant_default_outlet();
DROP TABLE outlets;
DROP FUNCTION default_outlet_id(uuid);
