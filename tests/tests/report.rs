//! The daily sales report equals what the test itself computes from the
//! orders it sent: 1,000 orders around a midnight in Asia/Jakarta, mixed
//! payment methods, some cancelled.

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, Utc};
use harness::{Options, Pipeline, eventually, uuid};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use uuid::Uuid;

const METHODS: [&str; 5] = ["cash", "qris", "card", "bank_transfer", "ewallet"];

#[derive(Default, Debug, PartialEq)]
struct Day {
    orders: i64,
    gross: i64,
    discounts: i64,
    net: i64,
    cancelled: i64,
    cancelled_amount: i64,
    by_method: BTreeMap<String, i64>,
    products: BTreeMap<Uuid, (i64, i64)>,
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
        let total = subtotal - discount;
        let method = METHODS[usize::try_from(i % 5).unwrap_or(0)];
        let paid = if method == "cash" { total + (i % 3) * 1_000 } else { total };
        let items: Vec<Value> = lines
            .iter()
            .map(|(p, q)| json!({ "productId": products[*p], "quantity": q, "price": prices[*p] }))
            .collect();
        orders.push(json!({
            "clientOrderId": Uuid::now_v7(), "items": items, "discount": discount,
            "payment": { "method": method, "amount": paid }, "createdAt": created.to_rfc3339(),
        }));
        facts.push((created.with_timezone(&wib).date_naive(), lines, subtotal, discount, total, method));
    }
    let mut order_ids = Vec::new();
    for chunk in orders.chunks(500) {
        let reply = p.post(&shop.token, "/api/sync/orders", &json!({ "deviceId": "till-r", "orders": chunk })).await;
        assert_eq!(reply.status, 202, "{}", reply.body);
        order_ids.extend(reply.body["results"].as_array().into_iter().flatten().map(|r| uuid(&r["orderId"])));
    }
    p.drained(std::time::Duration::from_secs(120)).await;
    assert_eq!(p.count("SELECT count(*) FROM orders WHERE status = 'committed'").await, 1000);

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

    let mut expected: BTreeMap<NaiveDate, Day> = BTreeMap::new();
    for (i, (date, lines, subtotal, discount, total, method)) in facts.iter().enumerate() {
        let day = expected.entry(*date).or_default();
        if cancelled.contains(&i) {
            day.cancelled += 1;
            day.cancelled_amount += total;
            continue;
        }
        day.orders += 1;
        day.gross += subtotal;
        day.discounts += discount;
        day.net += total;
        *day.by_method.entry((*method).to_owned()).or_default() += total;
        for (product, quantity) in lines {
            let entry = day.products.entry(products[*product]).or_default();
            entry.0 += quantity;
            entry.1 += prices[*product] * quantity;
        }
    }
    assert_eq!(expected.len(), 2, "the orders straddle one midnight");
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
        let got = Day {
            orders: r["orders"].as_i64().unwrap_or(-1),
            gross: r["grossSales"].as_i64().unwrap_or(-1),
            discounts: r["discounts"].as_i64().unwrap_or(-1),
            net: r["netSales"].as_i64().unwrap_or(-1),
            cancelled: r["cancelled"]["orders"].as_i64().unwrap_or(-1),
            cancelled_amount: r["cancelled"]["amount"].as_i64().unwrap_or(-1),
            by_method,
            products: got_products,
        };
        let mut want_methods: BTreeMap<String, i64> = METHODS.iter().map(|m| ((*m).to_owned(), 0)).collect();
        want_methods.extend(day.by_method.clone());
        assert_eq!(got, Day { by_method: want_methods, ..clone_day(day) }, "report for {date}");
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

fn clone_day(day: &Day) -> Day {
    Day { by_method: day.by_method.clone(), products: day.products.clone(), ..*day }
}
