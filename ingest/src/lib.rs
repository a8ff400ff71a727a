//! Ingest: the HTTP API that POS terminals, the back office and operators
//! use. An order's path through it: `routes::orders` / `routes::sync`
//! (parse, validate) → `accept` (`idempotency` record in Postgres, publish
//! with confirm, `duplicates` in Redis) → `202`. Reads come from Postgres.

pub mod accept;
pub mod app;
pub mod auth;
pub mod client_ip;
pub mod duplicates;
pub mod error;
pub mod extract;
pub mod headers;
pub mod idempotency;
pub mod limits;
pub mod maintenance;
pub mod metrics;
pub mod order_view;
pub mod overload;
pub mod redis;
pub mod request_id;
pub mod routes;
pub mod seed;
pub mod state;
