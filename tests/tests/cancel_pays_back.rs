//! A cancel after refunds (issue 22 #5): sold on day 1, partly refunded on
//! day 2, cancelled on day 3. The cancel pays back, on day 3, what each
//! payment method has left; days 1 and 2 read the same before and after.

use chrono::{DateTime, Duration, FixedOffset, Utc};
use harness::{Pipeline, eventually, uuid};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use uuid::Uuid;

fn jakarta_date(at: DateTime<Utc>) -> String {
    let wib = FixedOffset::east_opt(7 * 3600).expect("offset");
    at.with_timezone(&wib).date_naive().to_string()
}

#[tokio::test]
async fn a_cancel_after_refunds_pays_back_what_is_left_on_its_own_day_and_leaves_closed_days_alone() {
    let p = Pipeline::start().await;
    let shop = p.tenant().await;
    let product = p.product(&shop, 25_000, 100).await;
    let now = Utc::now();
    let (sold_at, refunded_at) = (now - Duration::hours(48), now - Duration::hours(24));
    // 100,000: 90,000 by card, 10,000 cash.
    let order = json!({
        "clientOrderId": Uuid::now_v7(), "createdAt": sold_at.to_rfc3339(),
        "items": [{ "productId": product, "quantity": 4, "price": 25_000 }],
        "payments": [{ "method": "card", "amount": 90_000 }, { "method": "cash", "amount": 10_000 }],
    });
    let batch = p.post(&shop.token, "/api/sync/orders", &json!({ "deviceId": "till-c", "orders": [order] })).await;
    assert_eq!(batch.status, 202, "{}", batch.body);
    let order_id = uuid(&batch.body["results"][0]["orderId"]);
    p.drained(std::time::Duration::from_secs(60)).await;
    // One unit back the next day: 25,000, as 22,500 card and 2,500 cash
    // (in proportion to what each took).
    let refund = json!({ "clientRefundId": Uuid::now_v7(), "createdAt": refunded_at.to_rfc3339(),
                         "items": [{ "productId": product, "quantity": 1 }] });
    let refunded = p.post(&shop.token, &format!("/api/orders/{order_id}/refunds?wait=10000"), &refund).await;
    assert_eq!(refunded.body["status"], "committed", "{}", refunded.body);

    let days = [jakarta_date(sold_at), jakarta_date(refunded_at)];
    let report = |day: String| {
        let p = &p;
        let token = shop.token.clone();
        async move { p.get(&token, &format!("/api/reports/daily-sales?date={day}")).await.body }
    };
    let before = [report(days[0].clone()).await, report(days[1].clone()).await];
    assert_eq!((before[0]["orders"].as_i64(), before[0]["netSales"].as_i64()), (Some(1), Some(100_000)));
    assert_eq!(before[1]["refunds"]["amount"].as_i64(), Some(25_000), "{}", before[1]);

    let cancel = p.post(&shop.token, &format!("/api/orders/{order_id}/cancel"), &json!({ "reason": "returned" })).await;
    assert_eq!(cancel.status, 202, "{}", cancel.body);
    eventually("the cancel", std::time::Duration::from_secs(30), || async {
        (p.count("SELECT count(*) FROM orders WHERE status = 'cancelled'").await == 1).then_some(())
    })
    .await;
    let cancelled_at: DateTime<Utc> = sqlx::query_scalar("SELECT cancelled_at FROM orders WHERE id = $1")
        .bind(order_id)
        .fetch_one(&p.db)
        .await
        .expect("order");

    // The closed days read as they did.
    assert_eq!(report(days[0].clone()).await, before[0], "the sale day is unchanged by a later cancel");
    assert_eq!(report(days[1].clone()).await, before[1], "the refund day is unchanged by a later cancel");

    // The cancel's day: what is left, per method, paid back.
    let today = report(jakarta_date(cancelled_at)).await;
    assert_eq!(today["orders"].as_i64(), Some(0), "{today}");
    assert_eq!((today["cancelled"]["orders"].as_i64(), today["cancelled"]["amount"].as_i64()), (Some(1), Some(75_000)));
    assert_eq!((today["refunds"]["count"].as_i64(), today["refunds"]["amount"].as_i64()), (Some(1), Some(75_000)));
    let back: BTreeMap<String, i64> = ["card", "cash", "qris"]
        .iter()
        .map(|m| ((*m).to_owned(), today["refunds"]["byPaymentMethod"][m].as_i64().unwrap_or(-1)))
        .collect();
    let want: BTreeMap<String, i64> =
        [("card", 67_500), ("cash", 7_500), ("qris", 0)].iter().map(|(m, a)| ((*m).to_owned(), *a)).collect();
    assert_eq!(back, want, "{today}");
    assert_eq!(today["netCollected"].as_i64(), Some(-75_000));

    // In the books: per method, paid − paid back = 0; the order's refunds
    // list shows the refund only (the cancel is the order's own status).
    let left: i64 = p
        .count(
            "SELECT count(*) FROM (SELECT method, sum(amount) FROM (
                 SELECT method, amount - change AS amount FROM payments
                 UNION ALL SELECT method, -amount FROM refund_payments) x GROUP BY 1 HAVING sum(amount) <> 0) y",
        )
        .await;
    assert_eq!(left, 0, "every method gave back all it took");
    let listed = p.get(&shop.token, &format!("/api/orders/{order_id}/refunds")).await;
    let listed: Vec<Value> = listed.body["data"].as_array().cloned().unwrap_or_default();
    assert_eq!(listed.len(), 1, "{listed:?}");
    p.assert_books_balance().await;
    p.stop().await;
}
