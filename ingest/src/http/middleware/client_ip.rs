//! The client's address: the TCP peer, or, when the peer is a configured
//! trusted proxy, the right-most address in `X-Forwarded-For` that is not
//! one of our proxies (anything further left a client could have forged).

use crate::http::extract::ClientIp;
use axum::extract::{ConnectInfo, Request};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

pub fn parse_networks(cidrs: &[String]) -> Result<Vec<IpNet>, String> {
    cidrs
        .iter()
        .map(|c| {
            c.parse::<IpNet>()
                .or_else(|_| c.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("{c:?} is not a CIDR"))
        })
        .collect()
}

pub fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    forwarded.iter().rev().find(|ip| !is_trusted(ip)).copied().unwrap_or(peer)
}

pub async fn middleware(
    axum::extract::State(trusted): axum::extract::State<std::sync::Arc<Vec<IpNet>>>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer =
        request.extensions().get::<ConnectInfo<SocketAddr>>().map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |c| c.0.ip());
    let ip = resolve(peer, request.headers(), &trusted);
    request.extensions_mut().insert(ClientIp(ip));
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", xff.parse().unwrap());
        h
    }

    #[test]
    fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
        let trusted = parse_networks(&["10.0.0.0/8".into()]).unwrap();
        let proxy: IpAddr = "10.0.0.5".parse().unwrap();
        let stranger: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(resolve(stranger, &headers("1.2.3.4"), &trusted), stranger, "a client cannot pick its own address");
        assert_eq!(resolve(proxy, &headers("1.2.3.4, 198.51.100.7"), &trusted).to_string(), "198.51.100.7");
        assert_eq!(resolve(proxy, &headers("198.51.100.7, 10.0.0.9"), &trusted).to_string(), "198.51.100.7");
        assert!(parse_networks(&["nonsense".into()]).is_err());
    }
}
