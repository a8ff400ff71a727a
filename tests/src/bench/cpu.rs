//! CPU per order, by component: on a 2-core machine with every service
//! local, CPU (not the disk) is the budget, so the benchmark says where it
//! goes. Read from `/proc/<pid>/stat` (user + system ticks) before and
//! after a run, for our processes and for every PostgreSQL and RabbitMQ
//! process on the machine.

use serde::Serialize;
use std::collections::BTreeMap;

/// Clock ticks per second of `/proc/<pid>/stat` (USER_HZ, 100 on Linux).
const TICKS_PER_S: f64 = 100.0;

/// CPU ticks used so far, per component.
#[derive(Clone, Debug, Default)]
pub struct Sample(BTreeMap<String, u64>);

/// Microseconds of CPU per committed order, per component.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PerOrder(pub BTreeMap<String, f64>);

fn ticks(pid: u32) -> Option<(String, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces.
    let (head, rest) = stat.rsplit_once(") ")?;
    let comm = head.split_once(" (")?.1.to_owned();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let used = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some((comm, used))
}

/// Sample our own processes (`named`: component → pid) and the engines'.
pub fn sample(named: &[(&str, u32)]) -> Sample {
    let mut totals: BTreeMap<String, u64> = BTreeMap::new();
    for (component, pid) in named {
        if let Some((_, used)) = ticks(*pid) {
            *totals.entry((*component).to_owned()).or_default() += used;
        }
    }
    let pids = std::fs::read_dir("/proc").into_iter().flatten().flatten();
    for pid in pids.filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok()) {
        let engine = match ticks(pid) {
            Some((comm, used)) if comm == "postgres" => ("postgres", used),
            Some((comm, used)) if comm == "beam.smp" => ("rabbitmq", used),
            _ => continue,
        };
        *totals.entry(engine.0.to_owned()).or_default() += engine.1;
    }
    Sample(totals)
}

impl Sample {
    /// CPU per order between `self` and a later sample.
    pub fn per_order(&self, later: &Sample, orders: i64) -> PerOrder {
        let orders = orders.max(1) as f64;
        PerOrder(
            later
                .0
                .iter()
                .map(|(component, after)| {
                    let before = self.0.get(component).copied().unwrap_or(0);
                    let seconds = after.saturating_sub(before) as f64 / TICKS_PER_S;
                    (component.clone(), seconds * 1e6 / orders)
                })
                .collect(),
        )
    }
}

impl PerOrder {
    pub fn total(&self) -> f64 {
        self.0.values().sum()
    }

    pub fn line(&self) -> String {
        let parts: Vec<String> = self.0.iter().map(|(c, us)| format!("{c} {us:.0} µs")).collect();
        format!(
            "{} (total {:.0} µs: at most {:.0} orders/s on 2 cores)",
            parts.join(", "),
            self.total(),
            2e6 / self.total().max(1.0)
        )
    }
}
