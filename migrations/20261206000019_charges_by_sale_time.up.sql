-- Charges by sale time (issue 21): a shop's tax, service charge and cash
-- rounding get a history, as prices have (`product_prices`), so an order is
-- charged by the settings in force at its sale time (`createdAt`). An
-- offline sale made before a rate change and synced after it is charged as
-- the till charged it; a sale after the change, the new way.
--
-- `tenants` keeps the current settings (what `GET /api/settings` shows and
-- what a release before this one reads and writes); every change of them
-- appends a row here, by trigger, whichever code makes it. Receipt
-- numbering is not part of it: it stays at commit.
CREATE TABLE tenant_charge_settings (
    tenant_id             uuid        NOT NULL REFERENCES tenants (id),
    effective_at          timestamptz NOT NULL,
    tax_mode              text        NOT NULL CHECK (tax_mode IN ('none', 'inclusive', 'exclusive')),
    tax_rate_bp           integer     NOT NULL CHECK (tax_rate_bp BETWEEN 0 AND 10000),
    service_charge_bp     integer     NOT NULL CHECK (service_charge_bp BETWEEN 0 AND 10000),
    service_charge_taxed  boolean     NOT NULL,
    cash_rounding         text        NOT NULL CHECK (cash_rounding IN ('none', '100', '500')),
    PRIMARY KEY (tenant_id, effective_at)
);

-- A shop's first row is effective from its creation; a change, from the
-- start of the transaction that made it (two changes in one transaction
-- are one change). Before a shop's first row, the first row applies (a
-- till whose clock ran behind).
CREATE FUNCTION tenant_charge_history() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
    INSERT INTO tenant_charge_settings (tenant_id, effective_at, tax_mode, tax_rate_bp, service_charge_bp,
                                        service_charge_taxed, cash_rounding)
    VALUES (NEW.id, CASE WHEN TG_OP = 'INSERT' THEN NEW.created_at ELSE now() END, NEW.tax_mode, NEW.tax_rate_bp,
            NEW.service_charge_bp, NEW.service_charge_taxed, NEW.cash_rounding)
    ON CONFLICT (tenant_id, effective_at) DO UPDATE
        SET tax_mode = EXCLUDED.tax_mode, tax_rate_bp = EXCLUDED.tax_rate_bp,
            service_charge_bp = EXCLUDED.service_charge_bp,
            service_charge_taxed = EXCLUDED.service_charge_taxed, cash_rounding = EXCLUDED.cash_rounding;
    RETURN NEW;
END $$;
CREATE TRIGGER tenant_charge_created AFTER INSERT ON tenants
    FOR EACH ROW EXECUTE FUNCTION tenant_charge_history();
CREATE TRIGGER tenant_charge_changed AFTER UPDATE OF tax_mode, tax_rate_bp, service_charge_bp, service_charge_taxed,
    cash_rounding ON tenants
    FOR EACH ROW
    WHEN ((OLD.tax_mode, OLD.tax_rate_bp, OLD.service_charge_bp, OLD.service_charge_taxed, OLD.cash_rounding)
          IS DISTINCT FROM
          (NEW.tax_mode, NEW.tax_rate_bp, NEW.service_charge_bp, NEW.service_charge_taxed, NEW.cash_rounding))
    EXECUTE FUNCTION tenant_charge_history();

-- Earlier changes were never recorded: today's settings are the best
-- known for every time (orders already committed keep their figures).
INSERT INTO tenant_charge_settings (tenant_id, effective_at, tax_mode, tax_rate_bp, service_charge_bp,
                                    service_charge_taxed, cash_rounding)
SELECT id, created_at, tax_mode, tax_rate_bp, service_charge_bp, service_charge_taxed, cash_rounding FROM tenants;

-- Rows are only ever added (by the trigger); the services read them.
GRANT SELECT ON tenant_charge_settings TO warungin_app, warungin_platform;
ALTER TABLE tenant_charge_settings ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenant_charge_settings TO warungin_app
    USING (tenant_id = ANY (warungin_tenants())) WITH CHECK (tenant_id = ANY (warungin_tenants()));
CREATE POLICY platform_operators ON tenant_charge_settings TO warungin_platform USING (true) WITH CHECK (true);
