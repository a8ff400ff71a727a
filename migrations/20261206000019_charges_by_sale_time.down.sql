-- Reverses 20261206000019_charges_by_sale_time.up.sql, in reverse order.
--
-- DATA LOSS: the history of each shop's tax, service charge and cash
-- rounding settings (the current ones stay on `tenants`). The previous
-- release charges every order by the settings at its commit; applied
-- again, each shop's history starts over with its current settings.
DROP POLICY platform_operators ON tenant_charge_settings;
DROP POLICY tenant_isolation ON tenant_charge_settings;
REVOKE SELECT ON tenant_charge_settings FROM warungin_app, warungin_platform;
DROP TRIGGER tenant_charge_changed ON tenants;
DROP TRIGGER tenant_charge_created ON tenants;
DROP FUNCTION tenant_charge_history();
DROP TABLE tenant_charge_settings;
