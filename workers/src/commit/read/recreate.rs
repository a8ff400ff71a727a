//! Rows a message names that the database no longer has (restored from a
//! backup older than them, lost with an asynchronous standby, or a
//! hand-published message): the messages are self-contained, so the rows
//! are recreated from them before the batch is decided, never dropped.
//! Orders and stock transfers (`recreate_transfer`) always; refunds when
//! their order is there (otherwise the refund waits for its order's own
//! message, within the retry schedule). Each
//! recreation is logged and counted (`warungin_orders_recreated_total`,
//! `warungin_refunds_recreated_total`): after a failover these are
//! acknowledged writes the database lost and the queue gave back.

use super::Locked;
use crate::error::StoreError;
use common::ids::TenantId;
use common::message::{Message, OrderMessage, RefundMessage};
use deadpool_postgres::Transaction;
use std::collections::HashSet;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

/// Recreate what the batch's messages name and the database lacks; true
/// when something was (the batch then reads its rows again).
pub(in crate::commit) async fn missing_rows(
    tx: &Transaction<'_>,
    messages: &[&Message],
    locked: &Locked,
) -> Result<bool, StoreError> {
    let orders = missing_orders(messages, locked);
    for order in &orders {
        let (tenant_id, order_id, client_order_id) = (order.tenant_id, order.order_id, order.order.client_order_id);
        tracing::warn!(%tenant_id, %order_id, %client_order_id, "order row missing: recreated from its message");
    }
    let refunds = missing_refunds(messages, locked);
    for refund in &refunds {
        let (tenant_id, order_id, refund_id) = (refund.tenant_id, refund.order_id, refund.refund_id);
        tracing::warn!(%tenant_id, %order_id, %refund_id, "refund row missing: recreated from its message");
    }
    let transfers = super::recreate_transfer::missing(messages, locked);
    for transfer in &transfers {
        let (tenant_id, transfer_id) = (transfer.tenant_id, transfer.transfer_id);
        tracing::warn!(%tenant_id, %transfer_id, "stock transfer row missing: recreated from its message");
    }
    crate::metrics::recreated(orders.len(), refunds.len());
    insert_orders(tx, &orders).await?;
    insert_refunds(tx, &refunds).await?;
    super::recreate_transfer::insert(tx, &transfers).await?;
    Ok(!orders.is_empty() || !refunds.is_empty() || !transfers.is_empty())
}

fn missing_orders<'a>(messages: &[&'a Message], locked: &Locked) -> Vec<&'a OrderMessage> {
    let found: HashSet<(TenantId, Uuid)> = locked.0.iter().map(|o| (o.tenant_id, o.client_order_id)).collect();
    messages
        .iter()
        .filter_map(|m| match m {
            Message::Order(o) if !found.contains(&(o.tenant_id, o.order.client_order_id.0)) => Some(o),
            _ => None,
        })
        .collect()
}

const INSERT_ORDERS: &str = "
INSERT INTO orders (id, tenant_id, client_order_id, source, request, request_hash, outlet_id, member_id,
                    device_id, sync_batch_id, created_at, received_at, request_id)
SELECT k.id, k.tenant_id, k.client_order_id, k.source, k.request, decode(k.request_hash, 'hex'), k.outlet_id,
       k.member_id, k.device_id, k.sync_batch_id, k.created_at, k.received_at, k.request_id
FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::jsonb[], $6::text[], $7::uuid[], $8::uuid[],
            $9::text[], $10::uuid[], $11::timestamptz[], $12::timestamptz[], $13::text[])
     AS k(id, tenant_id, client_order_id, source, request, request_hash, outlet_id, member_id,
          device_id, sync_batch_id, created_at, received_at, request_id)
ON CONFLICT (tenant_id, client_order_id) DO NOTHING";

pub async fn insert_orders(tx: &Transaction<'_>, orders: &[&OrderMessage]) -> Result<(), StoreError> {
    if orders.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = orders.iter().map(|m| m.order_id.0).collect();
    let tenants: Vec<Uuid> = orders.iter().map(|m| m.tenant_id.0).collect();
    let client_ids: Vec<Uuid> = orders.iter().map(|m| m.order.client_order_id.0).collect();
    let sources: Vec<&str> = orders.iter().map(|m| m.source.as_str()).collect();
    let requests: Vec<serde_json::Value> =
        orders.iter().map(|m| serde_json::to_value(&m.order).unwrap_or_default()).collect();
    let hashes: Vec<&str> = orders.iter().map(|m| m.request_hash.as_str()).collect();
    let outlets: Vec<Option<Uuid>> = orders.iter().map(|m| m.order.outlet_id).collect();
    let members: Vec<Option<Uuid>> = orders.iter().map(|m| m.order.member_id).collect();
    let devices: Vec<Option<&str>> = orders.iter().map(|m| m.device_id.as_deref()).collect();
    let batches: Vec<Option<Uuid>> = orders.iter().map(|m| m.sync_batch_id.map(|b| b.0)).collect();
    let created: Vec<_> = orders.iter().map(|m| m.order.created_at).collect();
    let received: Vec<_> = orders.iter().map(|m| m.received_at).collect();
    let request_ids: Vec<Option<&str>> = orders.iter().map(|m| m.request_id.as_deref()).collect();
    let params: [&(dyn ToSql + Sync); 13] = [
        &ids,
        &tenants,
        &client_ids,
        &sources,
        &requests,
        &hashes,
        &outlets,
        &members,
        &devices,
        &batches,
        &created,
        &received,
        &request_ids,
    ];
    tx.execute(INSERT_ORDERS, &params).await?;
    Ok(())
}

/// Refund messages without their row whose order is there (locked by the batch).
fn missing_refunds<'a>(messages: &[&'a Message], locked: &Locked) -> Vec<&'a RefundMessage> {
    let found: HashSet<(TenantId, Uuid)> = locked.3.refunds.iter().map(|r| (r.tenant_id, r.id.0)).collect();
    let orders: HashSet<(TenantId, Uuid)> = locked.0.iter().map(|o| (o.tenant_id, o.id.0)).collect();
    messages
        .iter()
        .filter_map(|m| match m {
            Message::Refund(r)
                if !found.contains(&(r.tenant_id, r.refund_id.0)) && orders.contains(&(r.tenant_id, r.order_id.0)) =>
            {
                Some(r)
            }
            _ => None,
        })
        .collect()
}

// A refund row and its items, as ingest admitted them (pending).
const INSERT_REFUNDS: &str = "
WITH r AS (
    INSERT INTO refunds (id, tenant_id, order_id, client_refund_id, request, request_hash, reason, created_at,
                         received_at, requested_by, request_id)
    SELECT k.id, k.tenant_id, k.order_id, k.client_refund_id, k.request, decode(k.request_hash, 'hex'), k.reason,
           k.created_at, k.received_at, k.requested_by, k.request_id
    FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::jsonb[], $6::text[], $7::text[],
                $8::timestamptz[], $9::timestamptz[], $10::uuid[], $11::text[])
         AS k(id, tenant_id, order_id, client_refund_id, request, request_hash, reason, created_at, received_at,
              requested_by, request_id)
    ON CONFLICT DO NOTHING
    RETURNING id, tenant_id)
INSERT INTO refund_items (tenant_id, refund_id, product_id, quantity)
SELECT r.tenant_id, r.id, i.product_id, i.quantity
FROM unnest($12::uuid[], $13::uuid[], $14::int4[]) AS i(refund_id, product_id, quantity)
JOIN r ON r.id = i.refund_id";

async fn insert_refunds(tx: &Transaction<'_>, refunds: &[&RefundMessage]) -> Result<(), StoreError> {
    if refunds.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = refunds.iter().map(|m| m.refund_id.0).collect();
    let tenants: Vec<Uuid> = refunds.iter().map(|m| m.tenant_id.0).collect();
    let orders: Vec<Uuid> = refunds.iter().map(|m| m.order_id.0).collect();
    let client_ids: Vec<Uuid> = refunds.iter().map(|m| m.refund.client_refund_id).collect();
    let requests: Vec<serde_json::Value> =
        refunds.iter().map(|m| serde_json::to_value(&m.refund).unwrap_or_default()).collect();
    let hashes: Vec<&str> = refunds.iter().map(|m| m.request_hash.as_str()).collect();
    let reasons: Vec<Option<&str>> = refunds.iter().map(|m| m.refund.reason.as_deref()).collect();
    let created: Vec<_> = refunds.iter().map(|m| m.refund.created_at).collect();
    let received: Vec<_> = refunds.iter().map(|m| m.received_at).collect();
    let requested_by: Vec<Option<Uuid>> = refunds.iter().map(|m| m.requested_by.map(|u| u.0)).collect();
    let request_ids: Vec<Option<&str>> = refunds.iter().map(|m| m.request_id.as_deref()).collect();
    let lines = refunds.iter().flat_map(|m| m.refund.items.iter().map(move |l| (m.refund_id.0, l)));
    let (line_refunds, line_products, line_quantities): (Vec<Uuid>, Vec<Uuid>, Vec<i32>) =
        lines.fold((Vec::new(), Vec::new(), Vec::new()), |(mut r, mut p, mut q), (refund, line)| {
            r.push(refund);
            p.push(line.product_id.0);
            q.push(i32::try_from(line.quantity).unwrap_or(i32::MAX));
            (r, p, q)
        });
    let params: [&(dyn ToSql + Sync); 14] = [
        &ids,
        &tenants,
        &orders,
        &client_ids,
        &requests,
        &hashes,
        &reasons,
        &created,
        &received,
        &requested_by,
        &request_ids,
        &line_refunds,
        &line_products,
        &line_quantities,
    ];
    tx.execute(INSERT_REFUNDS, &params).await?;
    Ok(())
}
