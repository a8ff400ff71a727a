//! What the virtual terminals send: the scenarios of the benchmark.

use rand::RngExt;
use serde_json::{Value, json};
use uuid::Uuid;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// Orders spread over every product.
    Uniform,
    /// Every order touches 1 to 3 of 5 hot products.
    Hot,
    /// Offline sync batches of 50 to 500 orders.
    Offline,
    /// A share of requests resent with the same clientOrderId.
    Duplicates,
    /// A mix of all of the above.
    Mixed,
}

/// The catalogue the load runs against.
#[derive(Clone, Debug)]
pub struct Catalogue {
    pub products: Vec<(Uuid, i64)>,
    /// Outlets besides the default one: when there are any, half the
    /// orders name one of them (the rest name none: the default outlet).
    pub outlets: Vec<Uuid>,
}

/// One request a terminal makes.
pub enum Request {
    Order(Value),
    Sync(Vec<Value>),
}

impl Catalogue {
    fn line(&self, index: usize, rng: &mut impl rand::Rng) -> Value {
        let (id, price) = self.products[index % self.products.len()];
        json!({ "productId": id, "quantity": rng.random_range(1..=3), "price": price })
    }

    pub fn order(&self, scenario: Scenario, rng: &mut impl rand::Rng) -> Value {
        let lines: Vec<Value> = match scenario {
            Scenario::Hot => {
                let hot = self.products.len().min(5);
                let mut picks: Vec<usize> = (0..hot).collect();
                let n = rng.random_range(1..=3.min(hot));
                let chosen: Vec<usize> = (0..n).map(|_| picks.swap_remove(rng.random_range(0..picks.len()))).collect();
                chosen.into_iter().map(|i| self.line(i, rng)).collect()
            }
            _ => {
                (0..rng.random_range(1..=3)).map(|_| self.line(rng.random_range(0..self.products.len()), rng)).collect()
            }
        };
        let total: i64 =
            lines.iter().map(|l| l["quantity"].as_i64().unwrap_or(0) * l["price"].as_i64().unwrap_or(0)).sum();
        let mut order = json!({ "clientOrderId": Uuid::now_v7(), "items": lines });
        if !self.outlets.is_empty() && rng.random_bool(0.5) {
            order["outletId"] = json!(self.outlets[rng.random_range(0..self.outlets.len())]);
        }
        if rng.random_bool(0.2) {
            // Split tender: part by QRIS, the rest in cash with some change.
            let qris = rng.random_range(0..=total);
            order["payments"] = json!([{ "method": "qris", "amount": qris },
                                       { "method": "cash", "amount": total - qris + 1_000 }]);
        } else {
            let method = ["cash", "qris", "card", "ewallet"][rng.random_range(0..4)];
            order["payment"] = json!({ "method": method, "amount": total });
        }
        order
    }

    /// The next request of a terminal running `scenario`.
    pub fn next(&self, scenario: Scenario, rng: &mut impl rand::Rng) -> Request {
        let effective = match scenario {
            Scenario::Mixed => {
                [Scenario::Uniform, Scenario::Hot, Scenario::Offline, Scenario::Duplicates][rng.random_range(0..4)]
            }
            other => other,
        };
        match effective {
            Scenario::Offline => {
                let size = rng.random_range(50..=500);
                Request::Sync((0..size).map(|_| self.order(Scenario::Uniform, rng)).collect())
            }
            other => Request::Order(self.order(other, rng)),
        }
    }
}
