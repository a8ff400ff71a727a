-- Tenants (shops) and the people who sign in to them.
--
-- Every tenant-owned table in this schema carries `tenant_id` and is keyed so
-- that a row can only point at rows of the same tenant (composite foreign keys
-- on (tenant_id, id)). That is what later lets row-level security and a
-- tenant-sharded PostgreSQL (distribution column `tenant_id`) work unchanged.

CREATE TABLE tenants (
    id          uuid PRIMARY KEY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    slug        text NOT NULL CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    -- IANA zone used to cut "a day" in reports; Indonesian shops default to WIB.
    timezone    text NOT NULL DEFAULT 'Asia/Jakarta',
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tenants_slug_key UNIQUE (slug)
);

CREATE TABLE users (
    id             uuid PRIMARY KEY,
    tenant_id      uuid NOT NULL REFERENCES tenants (id),
    email          text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    role           text NOT NULL CHECK (role IN ('owner', 'admin', 'supervisor', 'cashier')),
    -- argon2id PHC string; never logged, never returned.
    password_hash  text NOT NULL,
    is_active      boolean NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_tenant_id_key UNIQUE (tenant_id, id)
);
-- Emails are unique platform-wide (login does not ask for a shop), case-insensitively.
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

-- Refresh tokens are opaque random strings; only a keyed hash is stored.
-- A refresh rotates the token inside its family; reuse of a rotated token
-- revokes the family (a stolen token is good for one use at most).
CREATE TABLE refresh_tokens (
    id           uuid PRIMARY KEY,
    tenant_id    uuid NOT NULL,
    user_id      uuid NOT NULL,
    family_id    uuid NOT NULL,
    token_hash   bytea NOT NULL,
    expires_at   timestamptz NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    rotated_at   timestamptz,
    revoked_at   timestamptz,
    CONSTRAINT refresh_tokens_token_hash_key UNIQUE (token_hash),
    CONSTRAINT refresh_tokens_user_fkey FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id)
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (tenant_id, family_id);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (tenant_id, user_id);
