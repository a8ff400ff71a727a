//! The HTTP edge: everything that knows about requests and responses. A
//! request passes the middleware (ids, headers, client address, limits,
//! maintenance), is parsed by the extractors, answered by a route (lists
//! page the one way `page` knows), and any failure becomes a response in
//! one place (`error`). What happens to an order once its route validated
//! it is not the edge's business but `accept`'s.

pub mod app;
pub mod error;
pub mod extract;
pub mod middleware;
pub mod page;
pub mod routes;
