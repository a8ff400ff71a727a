//! Discounts end to end: rules of every kind and a member, priced by the
//! worker exactly as the pricing engine says; windows by sale time.

use chrono::Utc;
use common::ids::ProductId;
use common::money::Money;
use common::order::OrderLine;
use common::pricing::{DiscountRule, Member, PricingInput, Rate, RuleKind, price_order};
use harness::{Options, Pipeline, uuid};
use serde_json::{Value, json};

#[tokio::test]
async fn committed_totals_match_the_engine_and_a_closed_window_gives_no_discount() {
    let p = Pipeline::start().await;
    let shop = p.tenant().await;
    let (rice, oil, soap) =
        (p.product(&shop, 15_000, 100).await, p.product(&shop, 32_500, 100).await, p.product(&shop, 4_000, 100).await);
    let now = Utc::now();
    let rules = [
        json!({ "name": "Belanja 100rb", "type": "amount_based", "valueType": "percentage", "value": 5, "minAmount": 100_000, "isActive": true,
                "startsAt": (now - chrono::Duration::hours(1)).to_rfc3339() }),
        json!({ "name": "Minyak murah", "type": "product_based", "valueType": "fixed", "value": 2_500, "productIds": [oil], "isActive": true }),
        json!({ "name": "Sabun grosir", "type": "quantity_based", "valueType": "percentage", "value": 12.5, "minQuantity": 3, "productIds": [soap], "isActive": true }),
        json!({ "name": "Paket dapur", "type": "bundle", "valueType": "percentage", "value": 50, "bundleProductIds": [rice, oil], "bundleDiscountProductId": soap, "isActive": true }),
    ];
    let mut ids = Vec::new();
    for rule in &rules {
        let created = p.post(&shop.token, "/api/discounts", rule).await;
        assert_eq!(created.status, 201, "{}", created.body);
        ids.push(uuid(&created.body["id"]));
    }
    assert_eq!(p.get(&shop.token, "/api/discounts").await.body["data"].as_array().map(Vec::len), Some(4));
    let member = p.post(&shop.token, "/api/members", &json!({ "name": "Pak Budi", "phone": "0812000111", "memberCode": "M-1", "isActive": true, "discountType": "percentage", "discountValue": 2.5 })).await;
    assert_eq!(member.status, 201, "{}", member.body);
    assert_eq!(member.body["discountValue"], 2.5);
    let member_id = uuid(&member.body["id"]);

    let lines = [(rice, 2, 15_000), (oil, 2, 32_500), (soap, 4, 4_000)];
    let engine_rules = vec![
        rule(
            ids[0],
            "Belanja 100rb",
            RuleKind::AmountBased { min_amount: Money::from_rupiah(100_000) },
            Rate::Percentage(500),
        ),
        rule(
            ids[1],
            "Minyak murah",
            RuleKind::ProductBased { products: vec![ProductId(oil)] },
            Rate::Fixed(Money::from_rupiah(2_500)),
        ),
        rule(
            ids[2],
            "Sabun grosir",
            RuleKind::QuantityBased { min_quantity: 3, products: vec![ProductId(soap)] },
            Rate::Percentage(1250),
        ),
        rule(
            ids[3],
            "Paket dapur",
            RuleKind::Bundle { products: vec![ProductId(rice), ProductId(oil)], discounted: ProductId(soap) },
            Rate::Percentage(5000),
        ),
    ];
    let member_rate = Member::Active { name: "Pak Budi".into(), rate: Some(Rate::Percentage(250)) };
    let expected = engine(&lines, &engine_rules, &member_rate, 1_000);

    let body = order(&lines, Some(member_id), 1_000, expected.total.rupiah());
    let placed = p.post(&shop.token, "/api/orders?wait=10000", &body).await;
    assert_eq!(placed.status, 201, "{}", placed.body);
    let o = &placed.body;
    assert_eq!(o["subtotal"], expected.subtotal.rupiah());
    assert_eq!(o["total"], expected.total.rupiah());
    assert_eq!(o["discountTotal"], expected.discount_total.rupiah());
    let shown: Vec<(String, i64)> = o["discounts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| (d["kind"].as_str().unwrap_or("").to_owned(), d["amount"].as_i64().unwrap_or(-1)))
        .collect();
    let engine_view: Vec<(String, i64)> = expected
        .discounts
        .iter()
        .map(|d| {
            (
                serde_json::to_value(d.kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(),
                d.amount.rupiah(),
            )
        })
        .collect();
    assert_eq!(shown, engine_view);
    let kinds: Vec<&str> = shown.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        kinds,
        ["amount_based", "product_based", "quantity_based", "bundle", "member", "manual"],
        "every kind applied"
    );

    // Close the amount-based rule's window: the same order gets no such discount.
    let closed = p
        .call(
            reqwest::Method::PATCH,
            &format!("/api/discounts/{}", ids[0]),
            Some(&shop.token),
            Some(&json!({ "endsAt": Utc::now().to_rfc3339() })),
        )
        .await;
    assert_eq!(closed.status, 200, "{}", closed.body);
    let without = engine(&lines, &engine_rules[1..], &member_rate, 1_000);
    let later = p
        .post(&shop.token, "/api/orders?wait=10000", &order(&lines, Some(member_id), 1_000, without.total.rupiah()))
        .await;
    assert_eq!(later.status, 201, "{}", later.body);
    assert_eq!(later.body["total"], without.total.rupiah());
    assert!(later.body["discounts"].as_array().into_iter().flatten().all(|d| d["kind"] != "amount_based"));
    assert!(without.total > expected.total);
    p.assert_books_balance().await;
    p.stop().await;
}

fn rule(id: uuid::Uuid, name: &str, kind: RuleKind, rate: Rate) -> DiscountRule {
    DiscountRule { id, name: name.into(), kind, rate, starts_at: None, ends_at: None, is_active: true }
}

fn engine(
    lines: &[(uuid::Uuid, u32, i64)],
    rules: &[DiscountRule],
    member: &Member,
    manual: i64,
) -> common::pricing::PricedOrder {
    let lines: Vec<OrderLine> = lines
        .iter()
        .map(|(p, q, price)| OrderLine { product_id: ProductId(*p), quantity: *q, price: Money::from_rupiah(*price) })
        .collect();
    let input = PricingInput {
        lines: &lines,
        rules,
        member,
        manual_discount: Money::from_rupiah(manual),
        sale_time: Utc::now(),
    };
    price_order(&input).expect("priced")
}

fn order(lines: &[(uuid::Uuid, u32, i64)], member: Option<uuid::Uuid>, discount: i64, pay: i64) -> Value {
    let items: Vec<Value> =
        lines.iter().map(|(id, q, price)| json!({ "productId": id, "quantity": q, "price": price })).collect();
    json!({ "clientOrderId": uuid::Uuid::now_v7(), "items": items, "memberId": member, "discount": discount, "payment": { "method": "qris", "amount": pay } })
}

#[tokio::test]
async fn an_inactive_or_unknown_member_gives_no_discount_but_the_order_goes_through() {
    let p = Pipeline::start().await;
    let shop = p.tenant().await;
    let product = p.product(&shop, 10_000, 10).await;
    let member = p.post(&shop.token, "/api/members", &json!({ "name": "Bu Ani", "phone": "0813", "memberCode": "M-2", "isActive": false, "discountType": "fixed", "discountValue": 1_000 })).await;
    for member_id in [uuid(&member.body["id"]), uuid::Uuid::now_v7()] {
        let placed = p
            .post(&shop.token, "/api/orders?wait=10000", &order(&[(product, 1, 10_000)], Some(member_id), 0, 10_000))
            .await;
        assert_eq!(placed.status, 201, "{}", placed.body);
        assert_eq!(placed.body["total"], 10_000);
        assert_eq!(placed.body["discounts"][0]["kind"], "member");
        assert_eq!(placed.body["discounts"][0]["amount"], 0);
    }
    p.stop().await;
}

#[tokio::test]
async fn rules_and_members_are_validated() {
    let p = Pipeline::start_with(Options::workers(0)).await;
    let shop = p.tenant().await;
    let product = p.product(&shop, 1_000, 1).await;
    let bad = [
        json!({ "name": "x", "type": "amount_based", "valueType": "percentage", "value": 100.5, "minAmount": 0, "isActive": true }),
        json!({ "name": "x", "type": "amount_based", "valueType": "percentage", "value": 10.125, "minAmount": 0, "isActive": true }),
        json!({ "name": "x", "type": "amount_based", "valueType": "fixed", "value": -5, "minAmount": 0, "isActive": true }),
        json!({ "name": "x", "type": "product_based", "valueType": "fixed", "value": 5, "productIds": [uuid::Uuid::now_v7()], "isActive": true }),
        json!({ "name": "x", "type": "quantity_based", "valueType": "fixed", "value": 5, "isActive": true }),
        json!({ "name": "x", "type": "bundle", "valueType": "fixed", "value": 5, "bundleProductIds": [product], "isActive": true }),
        json!({ "name": "x", "type": "amount_based", "valueType": "fixed", "value": 5, "minAmount": 0, "isActive": true,
                "startsAt": "2026-01-02T00:00:00Z", "endsAt": "2026-01-01T00:00:00Z" }),
        json!({ "type": "amount_based", "valueType": "fixed", "value": 5, "minAmount": 0 }),
    ];
    for rule in bad {
        let reply = p.post(&shop.token, "/api/discounts", &rule).await;
        assert_eq!((reply.status, reply.code()), (422, "validation_failed"), "{rule}: {}", reply.body);
    }
    let cashier = p.user(&shop, "cashier").await;
    let fine = json!({ "name": "ok", "type": "amount_based", "valueType": "fixed", "value": 5, "minAmount": 0, "isActive": true });
    assert_eq!(p.post(&cashier, "/api/discounts", &fine).await.status, 403, "cashiers read rules, never write them");
    let created = p.post(&shop.token, "/api/discounts", &fine).await;
    assert_eq!(
        p.get(&cashier, &format!("/api/discounts/{}", created.body["id"].as_str().unwrap_or_default())).await.status,
        200
    );
    let deleted = p
        .call(
            reqwest::Method::DELETE,
            &format!("/api/discounts/{}", created.body["id"].as_str().unwrap_or_default()),
            Some(&shop.token),
            None,
        )
        .await;
    assert_eq!(deleted.status, 204);

    let member = json!({ "name": "A", "phone": "0811", "memberCode": "A", "isActive": true });
    assert_eq!(p.post(&shop.token, "/api/members", &member).await.status, 201);
    let taken = p.post(&shop.token, "/api/members", &member).await;
    assert_eq!((taken.status, taken.code()), (409, "phone_taken"));
    let other = p.tenant().await;
    assert_eq!(
        p.post(&other.token, "/api/members", &member).await.status,
        201,
        "phones are unique within a tenant only"
    );
    let found = p.get(&shop.token, "/api/members?search=081").await;
    assert_eq!(found.body["data"].as_array().map(Vec::len), Some(1));
    p.stop().await;
}
