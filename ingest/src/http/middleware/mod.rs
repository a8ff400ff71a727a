//! What every request passes through before a route sees it, outermost
//! first: its id, the security headers, its client address, the overload
//! bounds, the unauthenticated rate limit and maintenance mode. Each takes
//! only the state it needs, so none of them knows the whole application.

pub mod client_ip;
pub mod headers;
pub mod limits;
pub mod maintenance;
pub mod overload;
pub mod request_id;
