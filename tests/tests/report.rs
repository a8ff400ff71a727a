//! The daily sales report equals what the test itself computes from the
//! orders it sent: 1,000 orders around a midnight in Asia/Jakarta with PPN
//! and a service charge, cash rounded to Rp 100, mixed and split payments,
//! some refunded (some of those after midnight), some cancelled: a sale
//! stays on its day, a cancel pays back what is left on the day it is made.

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, Utc};
use harness::{Options, Pipeline, eventually, uuid};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use uuid::Uuid;

const METHODS: [&str; 5] = ["cash", "qris", "card", "bank_transfer", "ewallet"];

#[derive(Clone, Default, Debug, PartialEq)]
struct Day {
    orders: i64,
    gross: i64,
    discounts: i64,
    service: i64,
    tax_base: i64,
    tax: i64,
    net: i64,
    rounding: i64,
    cancelled: i64,
    cancelled_amount: i64,
    by_method: BTreeMap<String, i64>,
    refunds: i64,
    refunded: i64,
    refunded_by_method: BTreeMap<String, i64>,
    /// What the refunds gave back of discounts, service charge, tax base and tax.
    refunded_charges: [i64; 4],
    products: BTreeMap<Uuid, (i64, i64)>,
}

/// One order's money as the tenant's settings make it: exclusive PPN 11 %
/// on the order plus a 5 % service charge; (service, base, tax, total).
fn charged(after_discounts: i64) -> (i64, i64, i64, i64) {
    let service = after_discounts * 500 / 10_000;
    let base = after_discounts + service;
    let tax = base * 1_100 / 10_000;
    (service, base, tax, base + tax)
}

/// Cash due rounded to the nearest Rp 100, an exact half down.
fn round_100(due: i64) -> i64 {
    let below = due - due % 100;
    if (due - below) * 2 > 100 { below + 100 } else { below }
}

/// How order `i` pays `total`: (payments JSON, rounding, net per method).
fn payments(i: i64, total: i64) -> (Value, i64, Vec<(&'static str, i64)>) {
    let method = METHODS[usize::try_from(i % 5).unwrap_or(0)];
    if i % 7 == 3 {
        // Split: QRIS pays half, cash the rest (rounded) with some change.
        let qris = total / 2;
        let due = round_100(total - qris);
        let paid = json!([{ "method": "qris", "amount": qris }, { "method": "cash", "amount": due + 2_000 }]);
        return (paid, due - (total - qris), vec![("qris", qris), ("cash", due)]);
    }
    if method == "cash" {
        let due = round_100(total);
        (json!({ "method": "cash", "amount": due + (i % 3) * 1_000 }), due - total, vec![("cash", due)])
    } else {
        (json!({ "method": method, "amount": total }), 0, vec![(method, total)])
    }
}

/// The most recent Jakarta midnight at least three hours ago (so two hours
/// either side of it are in the past and within the offline window).
fn boundary(now: DateTime<Utc>) -> DateTime<Utc> {
    let wib = FixedOffset::east_opt(7 * 3600).expect("offset");
    let local_midnight = now.with_timezone(&wib).date_naive().and_hms_opt(0, 0, 0).expect("midnight");
    let midnight = local_midnight.and_local_timezone(wib).single().expect("local time").with_timezone(&Utc);
    if now - midnight >= Duration::hours(3) { midnight } else { midnight - Duration::days(1) }
}

#[tokio::test]
async fn the_daily_report_across_a_jakarta_midnight_equals_the_orders_sent() {
    let p = Pipeline::start_with(Options::workers(2)).await;
    let shop = p.tenant().await;
    let settings = json!({ "taxMode": "exclusive", "taxRateBp": 1100, "serviceChargeBp": 500, "cashRounding": "100" });
    let set = p.call(reqwest::Method::PATCH, "/api/settings", Some(&shop.token), Some(&settings)).await;
    assert_eq!(set.status, 200, "{}", set.body);
    // Sales are charged by the settings in force at their sale time, and
    // the sales below are backdated by hours: the shop charged this way all
    // along, so its history starts with these settings (before a shop's
    // first entry, the first applies).
    sqlx::query(
        "DELETE FROM tenant_charge_settings WHERE tenant_id = $1
           AND effective_at < (SELECT max(effective_at) FROM tenant_charge_settings WHERE tenant_id = $1)",
    )
    .bind(shop.id)
    .execute(&p.db)
    .await
    .expect("the shop's charges from the start");
    let prices = [3_500, 6_000, 12_500, 32_000, 1_000];
    let mut products = Vec::new();
    for price in prices {
        products.push(p.product(&shop, price, 1_000_000).await);
    }
    let wib = FixedOffset::east_opt(7 * 3600).expect("offset");
    let midnight = boundary(Utc::now());
    let mut orders = Vec::new();
    let mut facts = Vec::new();
    for i in 0..1000_i64 {
        let created = midnight - Duration::hours(2) + Duration::milliseconds(i * 14_400);
        let lines: Vec<(usize, i64)> =
            (0..=(i % 3)).map(|j| (usize::try_from((i * 7 + j) % 5).unwrap_or(0), (i + j) % 4 + 1)).collect();
        let subtotal: i64 = lines.iter().map(|(p, q)| prices[*p] * q).sum();
        let discount = if i % 10 == 0 { 500 } else { 0 };
        let charges = charged(subtotal - discount);
        let (paid, rounding, by_method) = payments(i, charges.3);
        let items: Vec<Value> = lines
            .iter()
            .map(|(p, q)| json!({ "productId": products[*p], "quantity": q, "price": prices[*p] }))
            .collect();
        let mut order = json!({
            "clientOrderId": Uuid::now_v7(), "items": items, "discount": discount, "createdAt": created.to_rfc3339(),
        });
        let key = if paid.is_array() { "payments" } else { "payment" };
        order[key] = paid;
        orders.push(order);
        let date = created.with_timezone(&wib).date_naive();
        facts.push(Fact { date, created, lines, subtotal, discount, charges, rounding, by_method });
    }
    let mut order_ids = Vec::new();
    for chunk in orders.chunks(500) {
        let reply = p.post(&shop.token, "/api/sync/orders", &json!({ "deviceId": "till-r", "orders": chunk })).await;
        assert_eq!(reply.status, 202, "{}", reply.body);
        order_ids.extend(reply.body["results"].as_array().into_iter().flatten().map(|r| uuid(&r["orderId"])));
    }
    p.drained(std::time::Duration::from_secs(120)).await;
    assert_eq!(p.count("SELECT count(*) FROM orders WHERE status = 'committed'").await, 1000);

    // Refunds: one unit of the first line, 45 minutes after the sale (so
    // some on the next day), paid back in cash when the sale took cash.
    let refunded: Vec<usize> = (0..1000).filter(|i| i % 9 == 4).collect();
    for &i in &refunded {
        let (product, _) = facts[i].lines[0];
        let body = json!({ "clientRefundId": Uuid::now_v7(), "items": [{ "productId": products[product], "quantity": 1 }],
                           "createdAt": (facts[i].created + Duration::minutes(45)).to_rfc3339() });
        let reply = p.post(&shop.token, &format!("/api/orders/{}/refunds", order_ids[i]), &body).await;
        assert_eq!(reply.status, 202, "{}", reply.body);
    }
    eventually("the refunds", std::time::Duration::from_secs(60), || async {
        (p.count("SELECT count(*) FROM refunds WHERE status = 'committed'").await
            == i64::try_from(refunded.len()).unwrap_or(0))
        .then_some(())
    })
    .await;

    // Every day's report before the cancels: a cancel may add to the day
    // it is made on, and changes no other (issue 22 #5).
    let sale_days: Vec<NaiveDate> =
        facts.iter().map(|f| f.date).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    let mut before = BTreeMap::new();
    for date in &sale_days {
        before.insert(*date, p.get(&shop.token, &format!("/api/reports/daily-sales?date={date}")).await.body);
    }
    let cancelled: Vec<usize> = (0..1000).filter(|i| i % 23 == 0).collect();
    for &i in &cancelled {
        let reply = p
            .post(&shop.token, &format!("/api/orders/{}/cancel", order_ids[i]), &json!({ "reason": "returned" }))
            .await;
        assert_eq!(reply.status, 202);
    }
    eventually("the cancellations", std::time::Duration::from_secs(60), || async {
        (p.count("SELECT count(*) FROM orders WHERE status = 'cancelled'").await
            == i64::try_from(cancelled.len()).unwrap_or(0))
        .then_some(())
    })
    .await;

    let cancel_days: BTreeMap<Uuid, NaiveDate> =
        sqlx::query_as::<_, (Uuid, DateTime<Utc>)>("SELECT id, cancelled_at FROM orders WHERE status = 'cancelled'")
            .fetch_all(&p.db)
            .await
            .expect("cancelled orders")
            .into_iter()
            .map(|(id, at)| (id, at.with_timezone(&wib).date_naive()))
            .collect();
    let mut expected: BTreeMap<NaiveDate, Day> = BTreeMap::new();
    for (i, f) in facts.iter().enumerate() {
        let day = expected.entry(f.date).or_default();
        let (service, base, tax, total) = f.charges;
        // A sale stays on its day whatever happens to it later.
        day.orders += 1;
        day.gross += f.subtotal;
        day.discounts += f.discount;
        (day.service, day.tax_base, day.tax, day.net) =
            (day.service + service, day.tax_base + base, day.tax + tax, day.net + total);
        day.rounding += f.rounding;
        for (method, amount) in &f.by_method {
            *day.by_method.entry((*method).to_owned()).or_default() += amount;
        }
        // What is left to give back, per method and of each charge.
        let mut left: BTreeMap<&str, i64> = BTreeMap::new();
        for (method, amount) in &f.by_method {
            *left.entry(method).or_default() += amount;
        }
        let mut charges_left = [f.discount, service, base, tax];
        if refunded.contains(&i) {
            // The unit's share of what was paid, back to each method in
            // proportion to what it took (largest remainders first).
            let price = prices[f.lines[0].0];
            let amount = (total + f.rounding) * price / f.subtotal;
            let refund_day =
                expected.entry((f.created + Duration::minutes(45)).with_timezone(&wib).date_naive()).or_default();
            refund_day.refunds += 1;
            refund_day.refunded += amount;
            // One refund per order: its part of each figure is that figure's share.
            for (k, figure) in [f.discount, service, base, tax].into_iter().enumerate() {
                refund_day.refunded_charges[k] += figure * price / f.subtotal;
                charges_left[k] -= figure * price / f.subtotal;
            }
            for (method, back) in proportional(amount, &f.by_method) {
                *refund_day.refunded_by_method.entry(method.to_owned()).or_default() += back;
                *left.entry(method).or_default() -= back;
            }
        }
        if cancelled.contains(&i) {
            // The cancel pays back all that is left, on the day it is made.
            let cancel_day = expected.entry(cancel_days[&order_ids[i]]).or_default();
            let amount: i64 = left.values().sum();
            (cancel_day.cancelled, cancel_day.cancelled_amount) =
                (cancel_day.cancelled + 1, cancel_day.cancelled_amount + amount);
            (cancel_day.refunds, cancel_day.refunded) = (cancel_day.refunds + 1, cancel_day.refunded + amount);
            for (k, figure) in charges_left.into_iter().enumerate() {
                cancel_day.refunded_charges[k] += figure;
            }
            for (method, back) in left.into_iter().filter(|(_, back)| *back > 0) {
                *cancel_day.refunded_by_method.entry(method.to_owned()).or_default() += back;
            }
        }
        let day = expected.entry(f.date).or_default();
        for (product, quantity) in &f.lines {
            let entry = day.products.entry(products[*product]).or_default();
            entry.0 += quantity;
            entry.1 += prices[*product] * quantity;
        }
    }
    assert_eq!(sale_days.len(), 2, "the orders straddle one midnight");
    for (date, report) in &before {
        if !cancel_days.values().any(|d| d == date) {
            let after = p.get(&shop.token, &format!("/api/reports/daily-sales?date={date}")).await.body;
            assert_eq!(&after, report, "a day with nothing new dated in it is unchanged by later cancels");
        }
    }
    for (date, day) in &expected {
        let report = p.get(&shop.token, &format!("/api/reports/daily-sales?date={date}")).await;
        assert_eq!(report.status, 200, "{}", report.body);
        let r = &report.body;
        assert_eq!(r["timezone"], "Asia/Jakarta");
        assert_eq!(r["date"], date.to_string());
        let mut by_method = BTreeMap::new();
        for method in METHODS {
            by_method.insert(method.to_owned(), r["byPaymentMethod"][method].as_i64().unwrap_or(-1));
        }
        let mut got_products = BTreeMap::new();
        for top in r["topProducts"].as_array().into_iter().flatten() {
            got_products.insert(
                uuid(&top["productId"]),
                (top["quantity"].as_i64().unwrap_or(-1), top["revenue"].as_i64().unwrap_or(-1)),
            );
        }
        let refunded_by_method: BTreeMap<String, i64> = METHODS
            .iter()
            .map(|m| ((*m).to_owned(), r["refunds"]["byPaymentMethod"][m].as_i64().unwrap_or(-1)))
            .collect();
        let n = |field: &str| r[field].as_i64().unwrap_or(-1);
        let got = Day {
            orders: n("orders"),
            gross: n("grossSales"),
            discounts: n("discounts"),
            service: n("serviceCharge"),
            tax_base: n("taxBase"),
            tax: n("tax"),
            net: n("netSales"),
            rounding: n("rounding"),
            cancelled: r["cancelled"]["orders"].as_i64().unwrap_or(-1),
            cancelled_amount: r["cancelled"]["amount"].as_i64().unwrap_or(-1),
            by_method,
            refunds: r["refunds"]["count"].as_i64().unwrap_or(-1),
            refunded: r["refunds"]["amount"].as_i64().unwrap_or(-1),
            refunded_by_method,
            refunded_charges: ["discounts", "serviceCharge", "taxBase", "tax"]
                .map(|k| r["refunds"][k].as_i64().unwrap_or(-1)),
            products: got_products,
        };
        let every_method = |sums: &BTreeMap<String, i64>| {
            let mut all: BTreeMap<String, i64> = METHODS.iter().map(|m| ((*m).to_owned(), 0)).collect();
            all.extend(sums.clone());
            all
        };
        let want = Day {
            by_method: every_method(&day.by_method),
            refunded_by_method: every_method(&day.refunded_by_method),
            ..day.clone()
        };
        assert_eq!(got, want, "report for {date}");
        // The payment rows, net of change, less what went back: the day's money.
        assert_eq!(n("collected"), day.net + day.rounding);
        assert_eq!(n("netCollected"), day.net + day.rounding - day.refunded);
        assert_eq!(day.by_method.values().sum::<i64>(), day.net + day.rounding, "the test's own sums agree");
        let revenues: Vec<i64> =
            r["topProducts"].as_array().into_iter().flatten().filter_map(|t| t["revenue"].as_i64()).collect();
        assert!(revenues.windows(2).all(|w| w[0] >= w[1]), "top products by revenue");
    }
    let empty = p.get(&shop.token, "/api/reports/daily-sales?date=2020-01-01").await;
    assert_eq!((empty.body["orders"].as_i64(), empty.body["netSales"].as_i64()), (Some(0), Some(0)));
    assert_eq!(p.get(&shop.token, "/api/reports/daily-sales?date=yesterday").await.status, 422);
    p.assert_books_balance().await;
    p.stop().await;
}

/// What the test knows of one order it sent.
struct Fact {
    date: NaiveDate,
    created: DateTime<Utc>,
    lines: Vec<(usize, i64)>,
    subtotal: i64,
    discount: i64,
    /// (service charge, tax base, tax, total)
    charges: (i64, i64, i64, i64),
    rounding: i64,
    /// Net of change, per payment line.
    by_method: Vec<(&'static str, i64)>,
}

/// `amount` split over what each method took: floors, then a rupiah more to
/// the largest remainders (ties in the contract's method order).
fn proportional(amount: i64, paid: &[(&'static str, i64)]) -> Vec<(&'static str, i64)> {
    const ORDER: [&str; 5] = ["cash", "qris", "card", "bank_transfer", "ewallet"];
    let mut paid: Vec<(&'static str, i64)> = paid.iter().copied().filter(|(_, p)| *p > 0).collect();
    paid.sort_by_key(|(m, _)| ORDER.iter().position(|o| o == m));
    let total: i64 = paid.iter().map(|(_, p)| p).sum();
    let mut shares: Vec<(&'static str, i64, i64)> =
        paid.iter().map(|(m, p)| (*m, amount * p / total, amount * p % total)).collect();
    let mut short = amount - shares.iter().map(|s| s.1).sum::<i64>();
    let mut by_remainder: Vec<usize> = (0..shares.len()).collect();
    by_remainder.sort_by(|a, b| shares[*b].2.cmp(&shares[*a].2).then(a.cmp(b)));
    for i in by_remainder {
        if short > 0 && shares[i].2 > 0 {
            shares[i].1 += 1;
            short -= 1;
        }
    }
    shares.into_iter().map(|(m, share, _)| (m, share)).filter(|(_, share)| *share > 0).collect()
}
