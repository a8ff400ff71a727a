//! Stock transfers whose row the database no longer has (see `recreate`):
//! rebuilt from their message, pending, with their items, so the batch
//! decides them as ingest admitted them.

use super::Locked;
use crate::error::StoreError;
use common::ids::TenantId;
use common::message::{Message, TransferMessage};
use deadpool_postgres::Transaction;
use std::collections::HashSet;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

pub(super) fn missing<'a>(messages: &[&'a Message], locked: &Locked) -> Vec<&'a TransferMessage> {
    let found: HashSet<(TenantId, Uuid)> = locked.4.iter().map(|t| (t.tenant_id, t.id.0)).collect();
    let mut seen = HashSet::new();
    messages
        .iter()
        .filter_map(|m| match m {
            Message::Transfer(t) if !found.contains(&(t.tenant_id, t.transfer_id.0)) => Some(t),
            _ => None,
        })
        .filter(|t| seen.insert(t.transfer_id))
        .collect()
}

const INSERT_TRANSFERS: &str = "
WITH t AS (
    INSERT INTO stock_transfers (id, tenant_id, client_transfer_id, from_outlet_id, to_outlet_id, note, request,
                                 request_hash, requested_by, created_at)
    SELECT k.id, k.tenant_id, k.client_transfer_id, k.from_outlet_id, k.to_outlet_id, k.note, k.request,
           decode(k.request_hash, 'hex'), k.requested_by, k.received_at
    FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::uuid[], $6::text[], $7::jsonb[], $8::text[],
                $9::uuid[], $10::timestamptz[])
         AS k(id, tenant_id, client_transfer_id, from_outlet_id, to_outlet_id, note, request, request_hash,
              requested_by, received_at)
    ON CONFLICT DO NOTHING
    RETURNING id, tenant_id)
INSERT INTO stock_transfer_items (tenant_id, transfer_id, product_id, quantity)
SELECT t.tenant_id, t.id, i.product_id, i.quantity
FROM unnest($11::uuid[], $12::uuid[], $13::int4[]) AS i(transfer_id, product_id, quantity)
JOIN t ON t.id = i.transfer_id";

pub(super) async fn insert(tx: &Transaction<'_>, transfers: &[&TransferMessage]) -> Result<(), StoreError> {
    if transfers.is_empty() {
        return Ok(());
    }
    let column = |f: fn(&TransferMessage) -> Uuid| transfers.iter().map(|m| f(m)).collect::<Vec<_>>();
    let (ids, tenants) = (column(|m| m.transfer_id.0), column(|m| m.tenant_id.0));
    let client_ids = column(|m| m.transfer.client_transfer_id);
    let (from, to) = (column(|m| m.transfer.from_outlet_id), column(|m| m.transfer.to_outlet_id));
    let notes: Vec<Option<&str>> = transfers.iter().map(|m| m.transfer.note.as_deref()).collect();
    let requests: Vec<serde_json::Value> =
        transfers.iter().map(|m| serde_json::to_value(&m.transfer).unwrap_or_default()).collect();
    let hashes: Vec<&str> = transfers.iter().map(|m| m.request_hash.as_str()).collect();
    let requested_by = column(|m| m.requested_by.0);
    let received: Vec<_> = transfers.iter().map(|m| m.received_at).collect();
    let lines: Vec<(Uuid, Uuid, i32)> = transfers
        .iter()
        .flat_map(|m| m.transfer.items.iter().map(move |l| (m.transfer_id.0, l)))
        .map(|(id, l)| (id, l.product_id.0, i32::try_from(l.quantity).unwrap_or(i32::MAX)))
        .collect();
    let line_ids: Vec<Uuid> = lines.iter().map(|l| l.0).collect();
    let line_products: Vec<Uuid> = lines.iter().map(|l| l.1).collect();
    let line_quantities: Vec<i32> = lines.iter().map(|l| l.2).collect();
    let params: [&(dyn ToSql + Sync); 13] = [
        &ids,
        &tenants,
        &client_ids,
        &from,
        &to,
        &notes,
        &requests,
        &hashes,
        &requested_by,
        &received,
        &line_ids,
        &line_products,
        &line_quantities,
    ];
    tx.execute(INSERT_TRANSFERS, &params).await?;
    Ok(())
}
