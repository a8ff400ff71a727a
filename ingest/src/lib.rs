//! Ingest: the HTTP API that POS terminals, the back office and operators
//! use. An order's path through it: `http::middleware` (request id, limits,
//! maintenance) → `http::routes::orders` / `http::routes::sync` (parse,
//! validate) → `accept` (idempotency record in Postgres, publish with
//! confirm, duplicates in Redis) → `202`. Reads come from Postgres.

pub mod accept;
pub mod audit;
pub mod auth;
pub mod http;
pub mod metrics;
pub mod redis;
pub mod seed;
pub mod state;
