//! The message an admitted order travels as, and its publish: persistent,
//! to the orders exchange, and done only when the broker confirmed it. A
//! group of orders is published at once on one channel, its confirms
//! awaited together; each message is confirmed on its own, so one refused
//! message fails only its own order.

use crate::accept::candidate::StoredOrigin;
use common::broker::{ORDER_ROUTING_KEY, PublishError, Publisher, Target, headers};
use common::ids::{MessageId, OrderId, TenantId};
use common::message::{Message, OrderMessage};
use common::order::ValidatedOrder;

/// A message and its body, encoded once.
pub struct Outgoing {
    pub message: Message,
    pub body: Vec<u8>,
}

impl Outgoing {
    pub fn new(message: Message) -> Self {
        let body = message.encode();
        Self { message, body }
    }
}

/// The order's message as stored (`first`: its origin as first admitted).
pub fn order(
    tenant_id: TenantId,
    first: &StoredOrigin,
    order_id: OrderId,
    order: ValidatedOrder,
    request_hash: String,
) -> Outgoing {
    Outgoing::new(Message::Order(OrderMessage {
        message_id: MessageId::generate(),
        tenant_id,
        order_id,
        source: first.source,
        device_id: first.device_id.clone(),
        sync_batch_id: first.sync_batch_id,
        request_hash,
        received_at: first.received_at,
        request_id: first.request_id.clone(),
        replay: None,
        order,
    }))
}

/// Publish every message on one channel, their confirms awaited together;
/// each one's result, in order.
pub async fn confirm_all<'a>(
    publisher: &Publisher,
    outgoing: impl IntoIterator<Item = &'a Outgoing>,
) -> Vec<Result<(), PublishError>> {
    let exchange = publisher.topology().orders_exchange();
    let target = Target { exchange: &exchange, routing_key: ORDER_ROUTING_KEY };
    let messages: Vec<(&[u8], _)> =
        outgoing.into_iter().map(|o| (o.body.as_slice(), headers::for_message(&o.message, 1))).collect();
    publisher.publish_many(target, &messages).await
}

/// Publish one message (a cancellation, say) and wait for its confirm.
pub async fn one(publisher: &Publisher, message: &Message) -> Result<(), PublishError> {
    let exchange = publisher.topology().orders_exchange();
    let target = Target { exchange: &exchange, routing_key: ORDER_ROUTING_KEY };
    publisher.publish(target, &message.encode(), headers::for_message(message, 1)).await
}
