-- What could not be applied, kept for a person to review.
--
-- failed_syncs: one row per order that could not be applied (an offline order
-- short of stock, a poison or retries-exhausted order). Written in the same
-- transaction that marks the order `failed`; a retry that fails again updates
-- the same row (attempts + 1, new reason) rather than adding another.
-- dead_letters: messages from the dead-letter queue that are not readable
-- orders at all (undecodable bodies, unknown message types, failed cancels).
-- Those may carry no readable tenant, so this one table is platform-wide and
-- read only by the operator tooling, never by the tenant-facing API.

CREATE TABLE failed_syncs (
    id               uuid PRIMARY KEY,
    tenant_id        uuid NOT NULL,
    order_id         uuid NOT NULL,
    client_order_id  uuid NOT NULL,
    device_id        text,
    status           text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved', 'discarded')),
    reason_code      text NOT NULL,
    reason_message   text NOT NULL,
    attempts         integer NOT NULL DEFAULT 1 CHECK (attempts >= 1),
    first_failed_at  timestamptz NOT NULL DEFAULT now(),
    last_failed_at   timestamptz NOT NULL DEFAULT now(),
    -- The full OrderRequest, so nothing the cashier rang up is ever lost.
    request          jsonb NOT NULL,
    CONSTRAINT failed_syncs_tenant_id_key UNIQUE (tenant_id, id),
    CONSTRAINT failed_syncs_order_key UNIQUE (tenant_id, order_id),
    CONSTRAINT failed_syncs_order_fkey FOREIGN KEY (tenant_id, order_id) REFERENCES orders (tenant_id, id)
);
CREATE INDEX failed_syncs_list_idx ON failed_syncs (tenant_id, status, last_failed_at DESC, id DESC);
CREATE INDEX failed_syncs_open_reason_idx ON failed_syncs (reason_code) WHERE status = 'open';

-- Every action on a failed sync: failed, retried, failed_again, resolved, discarded.
CREATE TABLE failed_sync_events (
    id              uuid PRIMARY KEY,
    tenant_id       uuid NOT NULL,
    failed_sync_id  uuid NOT NULL,
    at              timestamptz NOT NULL DEFAULT now(),
    action          text NOT NULL,
    by              text NOT NULL,
    note            text,
    CONSTRAINT failed_sync_events_fkey FOREIGN KEY (tenant_id, failed_sync_id) REFERENCES failed_syncs (tenant_id, id)
);
CREATE INDEX failed_sync_events_idx ON failed_sync_events (tenant_id, failed_sync_id, at);

CREATE TABLE dead_letters (
    id             uuid PRIMARY KEY,
    -- Set when the body named a tenant we could read; NULL otherwise.
    tenant_id      uuid,
    queue          text NOT NULL,
    reason_code    text NOT NULL,
    reason_message text NOT NULL,
    headers        jsonb NOT NULL DEFAULT '{}',
    body           bytea NOT NULL,
    status         text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'replayed', 'discarded')),
    received_at    timestamptz NOT NULL DEFAULT now(),
    resolved_at    timestamptz,
    resolved_by    text,
    note           text
);
CREATE INDEX dead_letters_open_idx ON dead_letters (received_at) WHERE status = 'open';
