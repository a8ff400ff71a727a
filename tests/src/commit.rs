//! The commit path on its own: a fresh database, a worker's pool on it (as
//! the services' role, so row-level security applies) and messages built
//! the way ingest builds them. Tests force exactly the batches they mean,
//! which a queue cannot promise, and compare the result with the books.

use crate::db;
use chrono::Utc;
use common::ids::{ClientOrderId, MessageId, OrderId, TenantId, TransferId, UserId};
use common::message::{CancelMessage, Message, OrderMessage, Replay, TransferMessage};
use common::money::Money;
use common::order::{OrderLine, Payment, PaymentMethod, Source, ValidatedOrder};
use common::transfer::{TransferLine, ValidatedTransfer};
use sqlx::PgPool;
use std::time::Duration;
use uuid::Uuid;
use workers::commit::Plan;
use workers::error::StoreError;

pub const PRICE: i64 = 1_000;

/// A database of its own with the commit path's pool on it.
pub struct CommitDb {
    pub name: String,
    /// The owner's pool (no row-level security): set-up and checks.
    pub db: PgPool,
    /// The services' role through sqlx, as the review API uses it.
    pub app: PgPool,
    pub pool: deadpool_postgres::Pool,
}

impl CommitDb {
    pub async fn create() -> Self {
        crate::init_logging();
        let name = format!("wt_{}_{:06x}", Utc::now().timestamp(), rand::random_range(0..0xff_ffffu32));
        let db = db::create(&name).await.expect("creating the test database");
        // Thousands of tiny transactions: a crash loses this database anyway,
        // so its commits need not wait for the WAL flush.
        let fast = format!("ALTER DATABASE {name} SET synchronous_commit = off");
        sqlx::query(sqlx::AssertSqlSafe(fast)).execute(&db).await.expect("synchronous_commit");
        let url = db::url_as(&name, &db::app_userinfo()).expect("database url");
        let pool = workers::pg::pool(&url, 8, Duration::from_secs(10)).expect("worker pool");
        let app = PgPool::connect(&url).await.expect("the services' pool");
        Self { name, db, app, pool }
    }

    pub async fn drop(self) {
        self.app.close().await;
        self.db.close().await;
        db::drop_database(&self.name).await;
    }

    /// A tenant with one product per figure in `stocks`, each priced `PRICE`.
    pub async fn shop(&self, stocks: &[i64]) -> (TenantId, Vec<Uuid>) {
        let tenant = TenantId::generate();
        self.shop_with(tenant, stocks.iter().map(|&s| (Uuid::now_v7(), s)).collect()).await
    }

    /// A tenant with the given ids, and products with the given ids and stock.
    pub async fn shop_with(&self, tenant: TenantId, products: Vec<(Uuid, i64)>) -> (TenantId, Vec<Uuid>) {
        let slug = format!("s-{}", tenant.0.simple());
        sqlx::query("INSERT INTO tenants (id, name, slug) VALUES ($1, $2, $2)")
            .bind(tenant.0)
            .bind(&slug)
            .execute(&self.db)
            .await
            .expect("tenant");
        for (i, (id, stock)) in products.iter().enumerate() {
            sqlx::query("INSERT INTO products (id, tenant_id, sku, name, price) VALUES ($1, $2, $3, $3, $4)")
                .bind(id)
                .bind(tenant.0)
                .bind(format!("SKU-{i}"))
                .bind(PRICE)
                .execute(&self.db)
                .await
                .expect("product");
            if *stock > 0 {
                let mut tx = self.db.begin().await.expect("begin");
                adjust_at(&mut tx, tenant, None, *id, *stock, "opening stock").await;
                tx.commit().await.expect("opening stock");
            }
        }
        (tenant, products.into_iter().map(|(id, _)| id).collect())
    }

    /// Change a product's stock by `delta` with its adjustment movement, committed.
    pub async fn adjust(&self, tenant: TenantId, product: Uuid, delta: i64) {
        if delta == 0 {
            return;
        }
        let mut tx = self.db.begin().await.expect("begin");
        adjust_in(&mut tx, tenant, product, delta).await;
        tx.commit().await.expect("commit");
    }

    /// Write each message's pending row, as ingest does before it publishes.
    pub async fn admit(&self, messages: &[&OrderMessage]) {
        let mut client = self.pool.get().await.expect("connection");
        let tx = client.transaction().await.expect("begin");
        let tenants: Vec<Uuid> = messages.iter().map(|m| m.tenant_id.0).collect();
        tx.execute("SELECT set_config('app.tenant_ids', $1, true)", &[&common::db::tenant_list(&tenants)])
            .await
            .expect("tenant scope");
        workers::commit::read::recreate::insert_orders(&tx, messages).await.expect("pending rows");
        tx.commit().await.expect("commit");
    }

    /// Apply one batch through the commit path.
    pub async fn apply(&self, messages: &[Message]) -> Result<Plan, StoreError> {
        let mut client = self.pool.get().await.expect("connection");
        let refs: Vec<&Message> = messages.iter().collect();
        workers::commit::store::apply(&mut client, &refs).await
    }

    pub async fn status(&self, order: OrderId) -> String {
        sqlx::query_scalar("SELECT status FROM orders WHERE id = $1")
            .bind(order.0)
            .fetch_one(&self.db)
            .await
            .expect("order status")
    }

    /// The order's failed sync: (status, attempts).
    pub async fn failed_sync(&self, order: OrderId) -> Option<(String, i32)> {
        sqlx::query_as("SELECT status, attempts FROM failed_syncs WHERE order_id = $1")
            .bind(order.0)
            .fetch_optional(&self.db)
            .await
            .expect("failed sync")
    }

    pub async fn failed_sync_id(&self, order: OrderId) -> common::ids::FailedSyncId {
        let id = sqlx::query_scalar("SELECT id FROM failed_syncs WHERE order_id = $1")
            .bind(order.0)
            .fetch_one(&self.db)
            .await
            .expect("failed sync id");
        common::ids::FailedSyncId(id)
    }

    /// A product's stock over all outlets.
    pub async fn stock(&self, product: Uuid) -> i64 {
        crate::checks::stock(&self.db, product, None).await
    }

    /// A product's stock at one outlet.
    pub async fn stock_at(&self, product: Uuid, outlet: Uuid) -> i64 {
        crate::checks::stock(&self.db, product, Some(outlet)).await
    }

    /// Write a transfer's pending row and items, as ingest does before it publishes.
    pub async fn admit_transfer(&self, m: &TransferMessage) {
        let t = &m.transfer;
        sqlx::query(
            "INSERT INTO stock_transfers (id, tenant_id, client_transfer_id, from_outlet_id, to_outlet_id, request,
                                          request_hash, requested_by)
             VALUES ($1, $2, $3, $4, $5, $6, decode($7, 'hex'), $8)",
        )
        .bind(m.transfer_id.0)
        .bind(m.tenant_id.0)
        .bind(t.client_transfer_id)
        .bind(t.from_outlet_id)
        .bind(t.to_outlet_id)
        .bind(sqlx::types::Json(t))
        .bind(&m.request_hash)
        .bind(m.requested_by.0)
        .execute(&self.db)
        .await
        .expect("transfer row");
    }

    /// The shop's default outlet.
    pub async fn default_outlet(&self, tenant: TenantId) -> Uuid {
        sqlx::query_scalar("SELECT default_outlet_id($1)")
            .bind(tenant.0)
            .fetch_one(&self.db)
            .await
            .expect("default outlet")
    }

    /// A product's stock at its shop's default outlet.
    pub async fn stock_at_default(&self, tenant: TenantId, product: Uuid) -> i64 {
        sqlx::query_scalar(
            "SELECT stock FROM outlet_stock WHERE tenant_id = $1 AND outlet_id = default_outlet_id($1) AND product_id = $2",
        )
        .bind(tenant.0)
        .bind(product)
        .fetch_one(&self.db)
        .await
        .expect("stock at the default outlet")
    }

    /// Another outlet `id` of `tenant`: its stock rows start at 0.
    pub async fn outlet(&self, tenant: TenantId, id: Uuid, name: &str) {
        sqlx::query("INSERT INTO outlets (id, tenant_id, name) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(tenant.0)
            .bind(name)
            .execute(&self.db)
            .await
            .expect("outlet");
    }

    /// Change `outlet`'s stock of a product (none: the default outlet's), committed.
    pub async fn adjust_at(&self, tenant: TenantId, outlet: Option<Uuid>, product: Uuid, delta: i64) {
        if delta == 0 {
            return;
        }
        let mut tx = self.db.begin().await.expect("begin");
        adjust_at(&mut tx, tenant, outlet, product, delta, "adjustment").await;
        tx.commit().await.expect("commit");
    }

    pub async fn assert_books_balance(&self) {
        crate::checks::assert_books_balance(&self.db).await;
    }
}

/// An adjustment inside a caller's transaction (a concurrent writer of stock),
/// at the default outlet.
pub async fn adjust_in(tx: &mut sqlx::Transaction<'_, sqlx::Postgres>, tenant: TenantId, product: Uuid, delta: i64) {
    adjust_at(tx, tenant, None, product, delta, "concurrent adjustment").await;
}

/// Change `outlet`'s stock of `product` (none: the default outlet's) with its
/// adjustment movement, inside a caller's transaction.
pub async fn adjust_at(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    tenant: TenantId,
    outlet: Option<Uuid>,
    product: Uuid,
    delta: i64,
    reason: &str,
) {
    let moved = sqlx::query(
        "WITH s AS (
             UPDATE outlet_stock SET stock = stock + $4
             WHERE tenant_id = $1 AND outlet_id = coalesce($2, default_outlet_id($1)) AND product_id = $3
             RETURNING outlet_id)
         INSERT INTO stock_movements (id, tenant_id, outlet_id, product_id, kind, delta, reason)
         SELECT $5, $1, s.outlet_id, $3, 'adjustment', $4, $6 FROM s",
    )
    .bind(tenant.0)
    .bind(outlet)
    .bind(product)
    .bind(delta)
    .bind(Uuid::now_v7())
    .bind(reason)
    .execute(&mut **tx)
    .await
    .expect("stock adjustment");
    assert_eq!(moved.rows_affected(), 1, "no stock row for product {product} at outlet {outlet:?}");
}

/// An order of `lines` (product, quantity) at `PRICE`, paid by QRIS with `paid`
/// (the exact total when `None`).
pub fn order_message(tenant: TenantId, lines: &[(Uuid, u32)], source: Source, paid: Option<i64>) -> OrderMessage {
    let total: i64 = lines.iter().map(|(_, q)| PRICE * i64::from(*q)).sum();
    let client_order_id = ClientOrderId::generate();
    OrderMessage {
        message_id: MessageId::generate(),
        tenant_id: tenant,
        order_id: OrderId::generate(),
        source,
        device_id: (source == Source::Offline).then(|| "till-1".to_owned()),
        sync_batch_id: None,
        request_hash: format!("{:064x}", client_order_id.0.as_u128()),
        received_at: Utc::now(),
        request_id: None,
        replay: None,
        order: ValidatedOrder {
            client_order_id,
            outlet_id: None,
            items: lines
                .iter()
                .map(|&(product_id, quantity)| OrderLine {
                    product_id: common::ids::ProductId(product_id),
                    quantity,
                    price: Money::from_rupiah(PRICE),
                })
                .collect(),
            member_id: None,
            discount: Money::ZERO,
            payments: vec![Payment {
                method: PaymentMethod::Qris,
                amount: Money::from_rupiah(paid.unwrap_or(total)),
                reference: None,
            }],
            created_at: Utc::now(),
            notes: None,
            shift_id: None,
        },
    }
}

/// A transfer of `quantity` of `product` between two outlets, as ingest publishes it.
pub fn transfer_message(tenant: TenantId, from: Uuid, to: Uuid, product: Uuid, quantity: u32) -> TransferMessage {
    let client_transfer_id = Uuid::now_v7();
    TransferMessage {
        message_id: MessageId::generate(),
        tenant_id: tenant,
        transfer_id: TransferId::generate(),
        request_hash: format!("{:064x}", client_transfer_id.as_u128()),
        requested_by: UserId::generate(),
        received_at: Utc::now(),
        request_id: None,
        replay: None,
        transfer: ValidatedTransfer {
            client_transfer_id,
            from_outlet_id: from,
            to_outlet_id: to,
            items: vec![TransferLine { product_id: common::ids::ProductId(product), quantity }],
            note: None,
        },
    }
}

/// An operator's retry of `original`'s failed sync, as the review API publishes it.
pub fn replay(original: &OrderMessage, allow_oversell: bool) -> Message {
    let mut message = original.clone();
    message.message_id = MessageId::generate();
    message.replay = Some(Replay { failed_sync_id: None, by: "ayu".into(), allow_oversell, ..Default::default() });
    Message::Order(message)
}

/// A cancel of a committed order, as ingest publishes it.
pub fn cancel(tenant: TenantId, order: OrderId) -> Message {
    Message::Cancel(CancelMessage {
        message_id: MessageId::generate(),
        tenant_id: tenant,
        order_id: order,
        reason: "returned".into(),
        requested_by: UserId::generate(),
        requested_at: Utc::now(),
        request_id: None,
    })
}
