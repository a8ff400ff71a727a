-- Products and the stock ledger.
--
-- `products.stock` is the current figure; `stock_movements` is the ledger that
-- explains it. Every change of stock writes a movement in the same
-- transaction, so for every product: Σ movements.delta = products.stock.
-- The CHECK is the last line of defence against overselling: the workers'
-- guarded decrements never rely on it, but a bug would hit it, not the books.

CREATE TABLE products (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    sku         text NOT NULL CHECK (length(sku) BETWEEN 1 AND 64),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    price       bigint NOT NULL CHECK (price BETWEEN 0 AND 1000000000000),
    stock       bigint NOT NULL CHECK (stock >= 0),
    is_active   boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT products_tenant_id_key UNIQUE (tenant_id, id),
    CONSTRAINT products_sku_key UNIQUE (tenant_id, sku)
);

CREATE TABLE stock_movements (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL,
    product_id  uuid NOT NULL,
    -- sale: an order took stock; cancel: a cancelled order gave it back;
    -- adjustment: restock, correction, waste, initial stock;
    -- oversold: the shortfall of an order committed with allowOversell
    -- (stock was short, so stock ends at 0 and this row records the gap).
    kind        text NOT NULL CHECK (kind IN ('sale', 'cancel', 'adjustment', 'oversold')),
    delta       bigint NOT NULL CHECK (delta <> 0),
    order_id    uuid,
    reason      text,
    by_user     uuid,
    at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT stock_movements_product_fkey FOREIGN KEY (tenant_id, product_id) REFERENCES products (tenant_id, id),
    CONSTRAINT stock_movements_order_kind CHECK ((kind IN ('sale', 'cancel', 'oversold')) = (order_id IS NOT NULL))
);
-- Newest-first listing per product.
CREATE INDEX stock_movements_product_idx ON stock_movements (tenant_id, product_id, at DESC, id DESC);
-- Exactly-once effect, enforced by the database: an order moves a product's
-- stock at most once per kind, whichever message or replay carries it.
CREATE UNIQUE INDEX stock_movements_order_effect_key
    ON stock_movements (tenant_id, order_id, product_id, kind) WHERE order_id IS NOT NULL;
