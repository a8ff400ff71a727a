-- Pricing: automatic discount rules, members, and every product's price history.

-- A rule's value is an integer: basis points for a percentage (12.5 % = 1250,
-- so two decimals are exact) or rupiah for a fixed amount.
CREATE TABLE discount_rules (
    id                          uuid PRIMARY KEY,
    tenant_id                   uuid NOT NULL REFERENCES tenants (id),
    name                        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind                        text NOT NULL CHECK (kind IN ('amount_based', 'product_based', 'quantity_based', 'bundle')),
    value_type                  text NOT NULL CHECK (value_type IN ('percentage', 'fixed')),
    value                       bigint NOT NULL CHECK (value > 0),
    min_amount                  bigint CHECK (min_amount >= 0),
    min_quantity                integer CHECK (min_quantity >= 1),
    product_ids                 uuid[] NOT NULL DEFAULT '{}',
    bundle_product_ids          uuid[] NOT NULL DEFAULT '{}',
    bundle_discount_product_id  uuid,
    starts_at                   timestamptz,
    ends_at                     timestamptz,
    is_active                   boolean NOT NULL DEFAULT true,
    created_at                  timestamptz NOT NULL DEFAULT now(),
    updated_at                  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT discount_rules_tenant_id_key UNIQUE (tenant_id, id),
    CONSTRAINT discount_rules_percentage_range CHECK (value_type <> 'percentage' OR value <= 10000),
    CONSTRAINT discount_rules_window CHECK (starts_at IS NULL OR ends_at IS NULL OR ends_at > starts_at)
);
-- The workers load a tenant's active rules for every batch.
CREATE INDEX discount_rules_active_idx ON discount_rules (tenant_id) WHERE is_active;

CREATE TABLE members (
    id              uuid PRIMARY KEY,
    tenant_id       uuid NOT NULL REFERENCES tenants (id),
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    phone           text NOT NULL CHECK (length(phone) BETWEEN 3 AND 32),
    member_code     text NOT NULL CHECK (length(member_code) BETWEEN 1 AND 64),
    is_active       boolean NOT NULL DEFAULT true,
    discount_type   text CHECK (discount_type IN ('percentage', 'fixed')),
    discount_value  bigint CHECK (discount_value > 0),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT members_tenant_id_key UNIQUE (tenant_id, id),
    CONSTRAINT members_phone_key UNIQUE (tenant_id, phone),
    CONSTRAINT members_discount_pair CHECK ((discount_type IS NULL) = (discount_value IS NULL)),
    CONSTRAINT members_percentage_range CHECK (discount_type IS DISTINCT FROM 'percentage' OR discount_value <= 10000)
);
CREATE INDEX members_name_idx ON members (tenant_id, name);

-- Every price a product had, from when. An offline sale is priced at the
-- price in effect at its sale time; before the first entry, the first price.
CREATE TABLE product_prices (
    tenant_id     uuid NOT NULL,
    product_id    uuid NOT NULL,
    effective_at  timestamptz NOT NULL,
    price         bigint NOT NULL CHECK (price >= 0),
    PRIMARY KEY (tenant_id, product_id, effective_at),
    CONSTRAINT product_prices_product_fkey FOREIGN KEY (tenant_id, product_id) REFERENCES products (tenant_id, id)
);
INSERT INTO product_prices (tenant_id, product_id, effective_at, price)
SELECT tenant_id, id, created_at, price FROM products;

-- The daily report reads a tenant's orders of one day by sale time.
CREATE INDEX orders_report_idx ON orders (tenant_id, created_at) WHERE status IN ('committed', 'cancelled');
