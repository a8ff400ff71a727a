//! The benchmark's figures: medians with their spread, and the table.

use serde::Serialize;

/// A figure measured several times: the median and how far runs spread.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Figure {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub runs: usize,
}

impl Figure {
    pub fn of(mut values: Vec<f64>) -> Self {
        if values.is_empty() {
            return Self::default();
        }
        values.sort_by(f64::total_cmp);
        let median = values[values.len() / 2];
        Self { median, min: values[0], max: values[values.len() - 1], runs: values.len() }
    }

    /// (max − min) / median, as a percentage.
    pub fn spread_pct(&self) -> f64 {
        if self.median == 0.0 { 0.0 } else { (self.max - self.min) / self.median * 100.0 }
    }

    pub fn cell(&self) -> String {
        if self.runs > 1 {
            format!("{:.0} (±{:.0} %)", self.median, self.spread_pct() / 2.0)
        } else {
            format!("{:.0}", self.median)
        }
    }
}

#[derive(Debug, Default, Serialize)]
pub struct Results {
    pub direct_sql_uniform: f64,
    pub direct_sql_uniform_by_clients: Vec<(u32, f64)>,
    pub direct_sql_hot: f64,
    pub broker_confirmed: f64,
    pub uniform_committed: Figure,
    pub hot_committed: Figure,
    pub offline_committed: Figure,
    pub ingest_accepted: Figure,
    pub half_rate: f64,
    pub half_ingest_p99_ms: f64,
    pub half_e2e_p99_ms: f64,
    pub half_error_rate: f64,
    /// p50/p99 of each step of an order's acceptance, from ingest's histograms.
    pub half_latency_split: String,
    pub audits_clean: bool,
    pub rss_ingest_mib: f64,
    pub rss_worker_mib: f64,
    pub cpu_uniform: super::cpu::PerOrder,
    pub cpu_hot: super::cpu::PerOrder,
    pub cpu_offline: super::cpu::PerOrder,
    pub cpu_ingest_only: super::cpu::PerOrder,
}

pub fn table(r: &Results) -> String {
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    let rows = [
        (
            "Direct SQL, one order per transaction (best of 1–16 clients), uniform".to_owned(),
            format!("{:.0} orders/s", r.direct_sql_uniform),
            String::new(),
        ),
        ("Direct SQL, hot (5 products)".to_owned(), format!("{:.0} orders/s", r.direct_sql_hot), String::new()),
        (
            "Broker: persistent publishes with confirms".to_owned(),
            format!("{:.0} msg/s", r.broker_confirmed),
            String::new(),
        ),
        (
            "Pipeline `uniform` committed".to_owned(),
            format!("{}/s", r.uniform_committed.cell()),
            format!("{:.2} × direct SQL (target ≥ 1.5)", ratio(r.uniform_committed.median, r.direct_sql_uniform)),
        ),
        (
            "Pipeline `hot` committed".to_owned(),
            format!("{}/s", r.hot_committed.cell()),
            format!("{:.2} × uniform (target ≥ 0.8)", ratio(r.hot_committed.median, r.uniform_committed.median)),
        ),
        ("Pipeline `offline` committed".to_owned(), format!("{}/s", r.offline_committed.cell()), String::new()),
        (
            "Ingest accepted, workers stopped".to_owned(),
            format!("{}/s", r.ingest_accepted.cell()),
            format!("{:.2} × broker (target ≥ 0.5)", ratio(r.ingest_accepted.median, r.broker_confirmed)),
        ),
        (
            format!("At half of peak ({:.0} orders/s): ingest p99", r.half_rate),
            format!("{:.1} ms", r.half_ingest_p99_ms),
            "target ≤ 10 ms".to_owned(),
        ),
        (
            "At half of peak: 202 → committed p99".to_owned(),
            format!("{:.0} ms", r.half_e2e_p99_ms),
            "target ≤ 250 ms".to_owned(),
        ),
        (
            "At half of peak: error rate".to_owned(),
            format!("{:.3} %", r.half_error_rate * 100.0),
            "target 0".to_owned(),
        ),
        (
            "Peak RSS: ingest / a worker".to_owned(),
            format!("{:.1} MiB / {:.1} MiB", r.rss_ingest_mib, r.rss_worker_mib),
            "target ≤ 64 MiB each".to_owned(),
        ),
        (
            "Stock audits of every run".to_owned(),
            if r.audits_clean { "clean".to_owned() } else { "FAILED".to_owned() },
            String::new(),
        ),
    ];
    let mut out = String::from("| measure | figure | ratio / target |\n| --- | --- | --- |\n");
    for (a, b, c) in rows {
        out.push_str(&format!("| {a} | {b} | {c} |\n"));
    }
    out
}
