//! Cash shifts through the whole pipeline: the sales a cashier rings up and
//! the refunds of them land in the shift open for them, the Z-report adds
//! them up by method net of change, a close keeps its figures, and a sale
//! synced after the close is shown apart as a late addition.

use harness::{Pipeline, uuid};
use serde_json::{Value, json};
use std::time::Duration;
use uuid::Uuid;

fn sale(product: Uuid, quantity: u32, payments: Value) -> Value {
    json!({ "clientOrderId": Uuid::now_v7(), "items": [{ "productId": product, "quantity": quantity, "price": 10_000 }],
            "payments": payments })
}

#[tokio::test]
async fn a_shifts_z_report_adds_up_its_sales_refunds_and_pay_outs_and_keeps_its_close() {
    let p = Pipeline::start().await;
    let shop = p.tenant().await;
    let product = p.product(&shop, 10_000, 100).await;
    let (ayu, budi) = (p.user(&shop, "cashier").await, p.user(&shop, "cashier").await);

    let opened = p.post(&ayu, "/api/shifts", &json!({ "openingFloat": 200_000 })).await;
    assert_eq!(opened.status, 201, "{}", opened.body);
    let shift = uuid(&opened.body["shiftId"]);
    let again = p.post(&ayu, "/api/shifts", &json!({ "openingFloat": 0 })).await;
    assert_eq!((again.status, again.code()), (409, "shift_already_open"), "{}", again.body);

    // Cash with change, QRIS, and a split of cash and QRIS.
    let sales = [
        sale(product, 2, json!([{ "method": "cash", "amount": 50_000 }])),
        sale(product, 1, json!([{ "method": "qris", "amount": 10_000 }])),
        sale(product, 3, json!([{ "method": "cash", "amount": 10_000 }, { "method": "qris", "amount": 20_000 }])),
    ];
    let mut ids = Vec::new();
    for body in &sales {
        let placed = p.post(&ayu, "/api/orders?wait=10000", body).await;
        assert_eq!(placed.body["status"], "committed", "{}", placed.body);
        ids.push(uuid(&placed.body["orderId"]));
    }
    // One of the first sale's two items back in cash (a supervisor's refund
    // of her sale counts in her drawer), and a pay-out for ice.
    let refund = json!({ "clientRefundId": Uuid::now_v7(), "items": [{ "productId": product, "quantity": 1 }],
                         "payments": [{ "method": "cash" }] });
    let refunded = p.post(&shop.token, &format!("/api/orders/{}/refunds?wait=10000", ids[0]), &refund).await;
    assert_eq!(refunded.body["status"], "committed", "{}", refunded.body);
    let pay_out = json!({ "kind": "pay_out", "amount": 15_000, "reason": "es batu" });
    assert_eq!(p.post(&ayu, &format!("/api/shifts/{shift}/cash-movements"), &pay_out).await.status, 201);

    // Another cashier can neither read nor close it.
    assert_eq!(p.get(&budi, &format!("/api/shifts/{shift}")).await.status, 403);
    let closing = json!({ "countedCash": 203_000 });
    assert_eq!(p.post(&budi, &format!("/api/shifts/{shift}/close"), &closing).await.status, 403);

    // Float 200,000 + cash sales net of change (20,000 + 10,000) − cash
    // refund 10,000 + pay-ins 0 − pay-outs 15,000.
    let expected = 200_000 + 20_000 + 10_000 - 10_000 - 15_000;
    let closed = p.post(&ayu, &format!("/api/shifts/{shift}/close"), &closing).await;
    assert_eq!(closed.status, 200, "{}", closed.body);
    let report = closed.body;
    assert_eq!(report["sales"]["orders"], 3, "{report}");
    assert_eq!(report["sales"]["netSales"], 60_000);
    assert_eq!(report["sales"]["byPaymentMethod"], json!({ "cash": 30_000, "qris": 30_000 }));
    assert_eq!(report["refunds"], json!({ "count": 1, "byPaymentMethod": { "cash": 10_000 } }));
    assert_eq!((report["payIns"].as_i64(), report["payOuts"].as_i64()), (Some(0), Some(15_000)));
    assert_eq!(report["cashExpected"], expected);
    assert_eq!(report["overShort"], 203_000 - expected, "counted − expected: short by 2,000");
    assert_eq!(report["lateAdditions"]["sales"]["orders"], 0);

    // The till was offline: a cash sale made during the shift syncs after the close.
    let mut late = sale(product, 1, json!([{ "method": "cash", "amount": 10_000 }]));
    late["shiftId"] = json!(shift);
    late["createdAt"] = opened.body["openedAt"].clone();
    let synced = p.post(&ayu, "/api/sync/orders", &json!({ "deviceId": "till-ayu", "orders": [late] })).await;
    assert_eq!(synced.status, 202, "{}", synced.body);
    p.drained(Duration::from_secs(30)).await;
    let now = p.get(&shop.token, &format!("/api/shifts/{shift}")).await.body;
    for field in ["sales", "refunds", "cashExpected", "overShort", "countedCash"] {
        assert_eq!(now[field], report[field], "{field}: the closed report is as it was closed");
    }
    let added = &now["lateAdditions"];
    assert_eq!((added["sales"]["orders"].as_i64(), added["cash"].as_i64()), (Some(1), Some(10_000)), "{now}");
    assert_eq!(added["sales"]["byPaymentMethod"], json!({ "cash": 10_000 }));

    // Listed for the shop; a cashier's list has only her own.
    let listed = p.get(&shop.token, "/api/shifts").await.body;
    assert_eq!(listed["data"][0]["overShort"], 203_000 - expected, "{listed}");
    assert_eq!(p.get(&budi, "/api/shifts").await.body["data"], json!([]));
    assert_eq!(p.get(&ayu, "/api/shifts").await.body["data"][0]["shiftId"], json!(shift));
    // The day's report lists the shifts of the day with their over/short.
    let day: String = sqlx::query_scalar(
        "SELECT (s.opened_at AT TIME ZONE t.timezone)::date::text FROM cash_shifts s JOIN tenants t ON t.id = s.tenant_id
         WHERE s.id = $1",
    )
    .bind(shift)
    .fetch_one(&p.db)
    .await
    .expect("the shift's day");
    let daily = p.get(&shop.token, &format!("/api/reports/daily-sales?date={day}")).await.body;
    assert_eq!(daily["shifts"][0]["shiftId"], json!(shift), "{daily}");
    assert_eq!(daily["shifts"][0]["overShort"], 203_000 - expected);
    p.stop().await;
}
