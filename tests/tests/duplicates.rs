//! A message delivered twice applies once: idempotency is on the order's
//! effect, not on having seen a message.

use common::broker::headers;
use common::ids::{ClientOrderId, MessageId, OrderId, ProductId, TenantId};
use common::message::{Message, OrderMessage};
use common::money::Money;
use common::order::{OrderLine, Payment, PaymentMethod, Source, ValidatedOrder, canonical_hash, hex};
use harness::{Pipeline, eventually};
use std::time::Duration;

#[tokio::test]
async fn the_same_message_published_twice_onto_the_queue_has_one_effect() {
    let p = Pipeline::start().await;
    let shop = p.tenant().await;
    let product = p.product(&shop, 7_500, 10).await;
    let order = ValidatedOrder {
        client_order_id: ClientOrderId::generate(),
        outlet_id: None,
        items: vec![OrderLine { product_id: ProductId(product), quantity: 2, price: Money::from_rupiah(7_500) }],
        member_id: None,
        discount: Money::ZERO,
        payments: vec![Payment { method: PaymentMethod::Qris, amount: Money::from_rupiah(15_000), reference: None }],
        created_at: chrono::Utc::now(),
        notes: None,
        shift_id: None,
    };
    let hash = hex(&canonical_hash(&serde_json::to_value(&order).expect("json")));
    let message = Message::Order(OrderMessage {
        message_id: MessageId::generate(),
        tenant_id: TenantId(shop.id),
        order_id: OrderId::generate(),
        source: Source::Online,
        device_id: None,
        sync_batch_id: None,
        request_hash: hash,
        received_at: chrono::Utc::now(),
        request_id: Some("raw-duplicate".into()),
        replay: None,
        order,
    });
    for _ in 0..2 {
        p.broker.publish_raw(&message.encode(), headers::for_message(&message, 1)).await.expect("publish");
    }
    let order_id = message.order_id().expect("an order").0;
    eventually("the order committed", Duration::from_secs(20), || async {
        (p.order_status(order_id).await.as_deref() == Some("committed")).then_some(())
    })
    .await;
    p.drained(Duration::from_secs(10)).await;
    assert_eq!(p.count("SELECT count(*) FROM orders").await, 1);
    assert_eq!(p.count("SELECT count(*) FROM payments").await, 1);
    assert_eq!(p.count("SELECT count(*) FROM stock_movements WHERE kind = 'sale'").await, 1);
    assert_eq!(p.stock(product).await, 8);
    p.assert_books_balance().await;
    p.stop().await;
}
