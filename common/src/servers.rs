//! Settings that name one server or several: `AMQP_URL` (the nodes of a
//! RabbitMQ cluster) and `DATABASE_URL` (a PostgreSQL primary and its
//! standbys). Two spellings are accepted, and may be mixed:
//!
//! - libpq's, hosts separated by commas in one URL:
//!   `amqp://user:pw@h1:5672,h2:5672/%2f?heartbeat=10`;
//! - whole URLs separated by commas: `amqp://…@h1:5672/%2f,amqp://…@h2:5672/%2f`.
//!
//! Each comes out as one single-host URL per server, in the order given
//! (credentials, path and query repeated), which is the order clients try
//! them in. A comma inside a password must be percent-encoded (`%2C`).

/// One URL per server, in the order given; never empty for a non-empty input.
pub fn split(setting: &str) -> Vec<String> {
    whole_urls(setting.trim()).iter().flat_map(|url| per_host(url)).collect()
}

/// The whole URLs of a setting: a comma followed by `scheme://` starts the
/// next one; any other comma belongs to the URL it is in (a host list).
fn whole_urls(setting: &str) -> Vec<String> {
    let mut urls: Vec<String> = Vec::new();
    for part in setting.split(',').map(str::trim) {
        match urls.last_mut() {
            Some(current) if !part.contains("://") => {
                current.push(',');
                current.push_str(part);
            }
            _ => urls.push(part.to_owned()),
        }
    }
    urls.retain(|url| !url.is_empty());
    urls
}

/// `scheme://userinfo@h1,h2/rest` → `scheme://userinfo@h1/rest`, `scheme://userinfo@h2/rest`.
fn per_host(url: &str) -> Vec<String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return vec![url.to_owned()];
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (userinfo, hosts) = match authority.rfind('@') {
        Some(at) => authority.split_at(at + 1),
        None => ("", authority),
    };
    let urls: Vec<String> = hosts
        .split(',')
        .filter(|host| !host.is_empty())
        .map(|host| format!("{scheme}://{userinfo}{host}{tail}"))
        .collect();
    if urls.is_empty() { vec![url.to_owned()] } else { urls }
}

/// `url` without the query parameter `name` (for clients that do not know it).
pub fn without_param(url: &str, name: &str) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_owned();
    };
    let kept: Vec<&str> = query.split('&').filter(|pair| pair.split('=').next() != Some(name)).collect();
    if kept.is_empty() { base.to_owned() } else { format!("{base}?{}", kept.join("&")) }
}

/// `url` with `name=value` added unless it already sets `name`.
pub fn with_default_param(url: &str, name: &str, value: &str) -> String {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    if query.split('&').any(|pair| pair.split('=').next() == Some(name)) {
        return url.to_owned();
    }
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{name}={value}")
}

/// The host and port of a single-host URL, for logs and metrics labels
/// (never the credentials).
pub fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    authority.rsplit_once('@').map_or(authority, |(_, host)| host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_server_stays_one_url() {
        assert_eq!(split("amqp://guest:guest@127.0.0.1:5672/%2f"), ["amqp://guest:guest@127.0.0.1:5672/%2f"]);
        assert_eq!(split("postgres://u@db/x?sslmode=disable"), ["postgres://u@db/x?sslmode=disable"]);
    }

    #[test]
    fn a_host_list_becomes_one_url_per_host_with_everything_else_repeated() {
        assert_eq!(
            split("postgres://app:pw@10.0.0.1:5432,10.0.0.2:5433/shop?target_session_attrs=read-write"),
            [
                "postgres://app:pw@10.0.0.1:5432/shop?target_session_attrs=read-write",
                "postgres://app:pw@10.0.0.2:5433/shop?target_session_attrs=read-write",
            ]
        );
        assert_eq!(split("amqp://a,b,c"), ["amqp://a", "amqp://b", "amqp://c"]);
    }

    #[test]
    fn whole_urls_separated_by_commas_and_mixed_spellings() {
        assert_eq!(
            split("amqp://g:g@h1:5681/%2f, amqp://g:g@h2:5682,h3:5683/%2f"),
            ["amqp://g:g@h1:5681/%2f", "amqp://g:g@h2:5682/%2f", "amqp://g:g@h3:5683/%2f"]
        );
    }

    #[test]
    fn an_at_sign_in_the_password_is_not_a_host() {
        assert_eq!(split("amqp://u:p@ss@h1,h2/"), ["amqp://u:p@ss@h1/", "amqp://u:p@ss@h2/"]);
    }

    #[test]
    fn query_parameters_are_removed_and_defaulted() {
        let url = "postgres://u@h/db?a=1&target_session_attrs=read-write&b=2";
        assert_eq!(without_param(url, "target_session_attrs"), "postgres://u@h/db?a=1&b=2");
        assert_eq!(
            without_param("postgres://u@h/db?target_session_attrs=any", "target_session_attrs"),
            "postgres://u@h/db"
        );
        assert_eq!(with_default_param("amqp://h/%2f", "heartbeat", "10"), "amqp://h/%2f?heartbeat=10");
        assert_eq!(with_default_param("amqp://h/%2f?heartbeat=30", "heartbeat", "10"), "amqp://h/%2f?heartbeat=30");
        assert_eq!(with_default_param("amqp://h/?x=1", "heartbeat", "10"), "amqp://h/?x=1&heartbeat=10");
    }

    #[test]
    fn the_host_is_shown_without_credentials() {
        assert_eq!(host_of("amqp://guest:secret@127.0.0.1:5681/%2f"), "127.0.0.1:5681");
        assert_eq!(host_of("postgres://db.internal/x"), "db.internal");
    }
}
