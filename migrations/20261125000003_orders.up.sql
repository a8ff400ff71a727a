-- Orders, their lines and payments, and the offline sync batches they came in.
--
-- Life of an order (the only transitions there are):
--   pending   -> committed | rejected | failed     (a worker applied it, or could not)
--   failed    -> committed                         (only a retry from review)
--   committed -> cancelled                         (stock given back exactly once)
-- Ingest writes the `pending` row (the idempotency record) before it publishes;
-- a worker changes the status in the same transaction that writes the effect.

CREATE TABLE orders (
    id                  uuid PRIMARY KEY,
    tenant_id           uuid NOT NULL REFERENCES tenants (id),
    -- Made on the terminal; the idempotency key of the whole pipeline.
    client_order_id     uuid NOT NULL,
    source              text NOT NULL CHECK (source IN ('online', 'offline')),
    status              text NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'committed', 'rejected', 'failed', 'cancelled')),
    -- The validated request (OrderRequest shape, createdAt resolved): what a
    -- worker or a replay applies, and what a reader of a pending order sees.
    request             jsonb NOT NULL,
    -- SHA-256 of the request body as the terminal sent it (canonical JSON),
    -- so a resend with the same body is a duplicate and a different one a 409.
    request_hash        bytea NOT NULL,
    outlet_id           uuid,
    member_id           uuid,
    device_id           text,
    sync_batch_id       uuid,
    -- Money, integer rupiah; set when a worker priced the order.
    subtotal            bigint,
    discount_total      bigint,
    total               bigint,
    discounts           jsonb NOT NULL DEFAULT '[]',
    payment_change      bigint,
    rejection_code      text,
    rejection_message   text,
    -- created_at is the time of sale (the terminal's clock, checked against a
    -- window); received_at is when ingest accepted it.
    created_at          timestamptz NOT NULL,
    received_at         timestamptz NOT NULL,
    committed_at        timestamptz,
    cancelled_at        timestamptz,
    cancel_reason       text,
    -- X-Request-Id of the request that accepted it: one grep from HTTP to commit.
    request_id          text,
    -- The message whose commit applied the effect (debugging duplicates).
    applied_message_id  uuid,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT orders_tenant_id_key UNIQUE (tenant_id, id),
    CONSTRAINT orders_client_order_id_key UNIQUE (tenant_id, client_order_id),
    CONSTRAINT orders_rejection_present CHECK ((status IN ('rejected', 'failed')) = (rejection_code IS NOT NULL))
);
-- Newest-first listings, optionally by status.
CREATE INDEX orders_created_idx ON orders (tenant_id, created_at DESC, id DESC);
CREATE INDEX orders_status_created_idx ON orders (tenant_id, status, created_at DESC, id DESC);
-- Stuck-pending detection (alerting, republishing) touches only pending rows.
CREATE INDEX orders_pending_idx ON orders (received_at) WHERE status = 'pending';

CREATE TABLE order_items (
    tenant_id   uuid NOT NULL,
    order_id    uuid NOT NULL,
    line_no     smallint NOT NULL CHECK (line_no >= 0),
    product_id  uuid NOT NULL,
    quantity    integer NOT NULL CHECK (quantity BETWEEN 1 AND 10000),
    price       bigint NOT NULL CHECK (price >= 0),
    line_total  bigint NOT NULL CHECK (line_total >= 0),
    PRIMARY KEY (order_id, line_no),
    CONSTRAINT order_items_order_fkey FOREIGN KEY (tenant_id, order_id) REFERENCES orders (tenant_id, id),
    CONSTRAINT order_items_product_fkey FOREIGN KEY (tenant_id, product_id) REFERENCES products (tenant_id, id)
);
CREATE INDEX order_items_product_idx ON order_items (tenant_id, product_id);

CREATE TABLE payments (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL,
    order_id    uuid NOT NULL,
    method      text NOT NULL CHECK (method IN ('cash', 'qris', 'card', 'bank_transfer', 'ewallet')),
    amount      bigint NOT NULL CHECK (amount >= 0),
    change      bigint NOT NULL CHECK (change >= 0),
    reference   text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    -- One payment per order, however often its message is delivered.
    CONSTRAINT payments_order_key UNIQUE (tenant_id, order_id),
    CONSTRAINT payments_order_fkey FOREIGN KEY (tenant_id, order_id) REFERENCES orders (tenant_id, id)
);

CREATE TABLE sync_batches (
    id           uuid PRIMARY KEY,
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    device_id    text NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    created_by   uuid,
    -- The orders the batch carried (accepted or duplicate), in request order.
    order_ids    uuid[] NOT NULL,
    CONSTRAINT sync_batches_tenant_id_key UNIQUE (tenant_id, id)
);
