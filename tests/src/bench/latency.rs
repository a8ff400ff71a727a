//! Where a request's time goes at half of peak, from ingest's own
//! histograms: the whole `POST /api/orders` as ingest served it, the
//! admission group's transaction, and the broker's confirm. Read before and
//! after the run, so only that run counts.

use std::collections::BTreeMap;

/// Cumulative bucket counts (upper bound → count) of one histogram series.
pub type Buckets = BTreeMap<u64, f64>;

/// The series of ingest's exposition whose line starts with `prefix` (name
/// and labels up to `le`), e.g. `warungin_publish_confirm_seconds_bucket{`.
pub fn buckets(exposition: &str, prefix: &str, labels: &str) -> Buckets {
    let mut out = Buckets::new();
    for line in exposition.lines().filter(|l| l.starts_with(prefix) && l.contains(labels)) {
        let Some((series, count)) = line.rsplit_once(' ') else { continue };
        let Some(le) = series.split("le=\"").nth(1).and_then(|r| r.split('"').next()) else { continue };
        let bound = if le == "+Inf" { f64::INFINITY } else { le.parse().unwrap_or(f64::INFINITY) };
        // Microseconds as the key keeps the buckets ordered.
        let key = if bound.is_finite() { (bound * 1e6) as u64 } else { u64::MAX };
        *out.entry(key).or_default() += count.parse::<f64>().unwrap_or(0.0);
    }
    out
}

/// `q`-quantile of what `after` counted beyond `before`, as the upper bound
/// of the bucket it falls in (ms); `None` when nothing was counted.
pub fn quantile_ms(before: &Buckets, after: &Buckets, q: f64) -> Option<f64> {
    let delta: Vec<(u64, f64)> =
        after.iter().map(|(le, n)| (*le, n - before.get(le).copied().unwrap_or(0.0))).collect();
    let total = delta.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let (le, _) = delta.iter().find(|(_, n)| *n >= q * total)?;
    Some(if *le == u64::MAX { f64::INFINITY } else { *le as f64 / 1000.0 })
}

/// The line the benchmark prints: p50 and p99 (bucket bounds) of each step.
pub fn split(before: &str, after: &str) -> String {
    let steps = [
        ("POST /api/orders served", "warungin_api_request_duration_seconds_bucket{", "route=\"/api/orders\""),
        ("admission transaction", "warungin_admission_write_seconds_bucket{", ""),
        ("broker confirm", "warungin_publish_confirm_seconds_bucket{", ""),
    ];
    let parts: Vec<String> = steps
        .iter()
        .map(|(name, prefix, labels)| {
            let (b, a) = (buckets(before, prefix, labels), buckets(after, prefix, labels));
            let q = |q| quantile_ms(&b, &a, q).map_or("-".to_owned(), |ms| format!("≤ {ms} ms"));
            format!("{name} p50 {} p99 {}", q(0.5), q(0.99))
        })
        .collect();
    parts.join("; ")
}
