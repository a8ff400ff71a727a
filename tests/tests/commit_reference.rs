//! The commit path against a one-at-a-time reference. Random batches of
//! sales (short of stock or underpaid now and then), redeliveries, cancels
//! and operators' retries are applied as one batch in one database, and
//! one message per transaction in delivery order in another that starts
//! identical. Now and then another transaction changes a product's stock
//! while the batch is being decided (after its unlocked read): the batch
//! must decide as if it had run after that change, like the reference.
//! Each shop has a second outlet with its own stock: half the sales are
//! made there, cancels give back to the outlet that sold, and stock
//! transfers between the two (some larger than the source has) compete
//! with the sales for it.
//! Both databases must end with the same effects and the same books.
//!
//! `COMMIT_REFERENCE_CASES` (default 2,000) and `COMMIT_REFERENCE_SEED`
//! (default random, printed) reproduce a run.

use common::ids::TenantId;
use common::message::{Message, OrderMessage};
use common::order::Source;
use harness::commit::{CommitDb, cancel, order_message, replay, transfer_message};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::sync::Arc;
use uuid::Uuid;

const PARALLEL: u64 = 12;

/// One case, generated once and applied to both databases.
struct Case {
    tenant: TenantId,
    products: Vec<(Uuid, i64)>,
    /// The second outlet, and each product's opening stock there.
    stall: Uuid,
    stall_stock: Vec<i64>,
    history: Vec<OrderMessage>,
    /// Another transaction's stock change (product index, at the stall?, delta) while the batch is decided.
    concurrent: Option<(usize, bool, i64)>,
    batch: Vec<Message>,
}

fn sale(rng: &mut StdRng, tenant: TenantId, products: &[(Uuid, i64)], stall: Uuid) -> OrderMessage {
    let mut lines: Vec<(Uuid, u32)> = Vec::new();
    for (id, _) in products {
        if lines.is_empty() || rng.random_bool(0.4) {
            lines.push((*id, rng.random_range(1..=3)));
        }
    }
    let source = if rng.random_bool(0.5) { Source::Offline } else { Source::Online };
    let total: i64 = lines.iter().map(|(_, q)| harness::commit::PRICE * i64::from(*q)).sum();
    let paid = rng.random_bool(0.15).then_some(total - 1);
    let mut message = order_message(tenant, &lines, source, paid);
    // None: the default outlet, as a till that names no outlet sends it.
    message.order.outlet_id = rng.random_bool(0.5).then_some(stall);
    message
}

/// The history's outcome, known only after it is applied: which orders can be cancelled or retried.
struct Known {
    committed: Vec<OrderMessage>,
    failed: Vec<OrderMessage>,
    default_outlet: Uuid,
}

fn batch(rng: &mut StdRng, case: &Case, known: &Known) -> Vec<Message> {
    let mut batch: Vec<Message> = Vec::new();
    for _ in 0..rng.random_range(1..=8) {
        let pick = rng.random_range(0..10);
        let message = match pick {
            0 | 1 if !batch.is_empty() => batch[rng.random_range(0..batch.len())].clone(),
            2 | 3 if !known.committed.is_empty() => {
                let order = &known.committed[rng.random_range(0..known.committed.len())];
                cancel(case.tenant, order.order_id)
            }
            4 | 5 if !known.failed.is_empty() => {
                let order = &known.failed[rng.random_range(0..known.failed.len())];
                replay(order, rng.random_bool(0.3))
            }
            6 => {
                let (product, _) = case.products[rng.random_range(0..case.products.len())];
                let (from, to) = if rng.random_bool(0.5) {
                    (known.default_outlet, case.stall)
                } else {
                    (case.stall, known.default_outlet)
                };
                Message::Transfer(transfer_message(case.tenant, from, to, product, rng.random_range(1..=4)))
            }
            _ => Message::Order(sale(rng, case.tenant, &case.products, case.stall)),
        };
        batch.push(message);
    }
    batch
}

fn case(rng: &mut StdRng) -> Case {
    let tenant = TenantId::generate();
    let products: Vec<(Uuid, i64)> =
        (0..rng.random_range(1..=3)).map(|_| (Uuid::now_v7(), rng.random_range(0..=5))).collect();
    let stall = Uuid::now_v7();
    let stall_stock = products.iter().map(|_| rng.random_range(0..=5)).collect();
    let history = (0..rng.random_range(0..=4)).map(|_| sale(rng, tenant, &products, stall)).collect();
    let concurrent = rng.random_bool(0.5).then(|| {
        let index = rng.random_range(0..products.len());
        let delta = rng.random_range(-3..=2_i64);
        (index, rng.random_bool(0.5), if delta >= 0 { delta + 1 } else { delta })
    });
    Case { tenant, products, stall, stall_stock, history, concurrent, batch: Vec::new() }
}

/// Set up the case's shop and history in one database; what became of the history.
async fn prepare(c: &CommitDb, case: &Case) -> Known {
    c.shop_with(case.tenant, case.products.clone()).await;
    c.outlet(case.tenant, case.stall, "Lapak").await;
    for ((product, _), &stock) in case.products.iter().zip(&case.stall_stock) {
        c.adjust_at(case.tenant, Some(case.stall), *product, stock).await;
    }
    let default_outlet = c.default_outlet(case.tenant).await;
    let mut known = Known { committed: Vec::new(), failed: Vec::new(), default_outlet };
    for order in &case.history {
        c.admit(&[order]).await;
        let plan = c.apply(&[Message::Order(order.clone())]).await.expect("history");
        match plan.effects[0] {
            workers::commit::Effect::Committed { .. } => known.committed.push(order.clone()),
            workers::commit::Effect::Failed { .. } => known.failed.push(order.clone()),
            _ => {}
        }
    }
    known
}

async fn admit_batch(c: &CommitDb, case: &Case) {
    let mut transfers = std::collections::HashSet::new();
    for message in &case.batch {
        if let Message::Transfer(t) = message
            && transfers.insert(t.transfer_id)
        {
            c.admit_transfer(t).await;
        }
    }
    let new: Vec<&OrderMessage> = case
        .batch
        .iter()
        .filter_map(|m| match m {
            Message::Order(o) if o.replay.is_none() && !case.history.iter().any(|h| h.order_id == o.order_id) => {
                Some(o)
            }
            _ => None,
        })
        .collect();
    let mut seen = std::collections::HashSet::new();
    let new: Vec<&OrderMessage> = new.into_iter().filter(|o| seen.insert(o.order_id)).collect();
    if !new.is_empty() {
        c.admit(&new).await;
    }
}

/// Everything the batch could have written, for one tenant, as comparable text.
async fn books(c: &CommitDb, tenant: TenantId) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT 'product ' || product_id || ' at ' || outlet_id || ' stock ' || stock FROM outlet_stock WHERE tenant_id = $1
         UNION ALL SELECT 'order ' || id || ' ' || status || ' ' || coalesce(rejection_code, '-') || ' '
                          || coalesce(total::text, '-') FROM orders WHERE tenant_id = $1
         UNION ALL SELECT 'failed sync ' || order_id || ' ' || status || ' ' || attempts || ' ' || reason_code
                   FROM failed_syncs WHERE tenant_id = $1
         UNION ALL SELECT 'movement ' || coalesce(order_id::text, transfer_id::text, '-') || ' ' || product_id || ' at '
                          || outlet_id || ' ' || kind || ' ' || delta
                   FROM stock_movements WHERE tenant_id = $1
         UNION ALL SELECT 'payment ' || order_id || ' ' || amount || ' ' || change FROM payments WHERE tenant_id = $1
         UNION ALL SELECT 'transfer ' || id || ' ' || status || ' ' || failures || ' ' || coalesce(rejection_code, '-')
                   FROM stock_transfers WHERE tenant_id = $1
         UNION ALL SELECT 'item ' || order_id || ' ' || line_no || ' ' || quantity FROM order_items WHERE tenant_id = $1
         ORDER BY 1",
    )
    .bind(tenant.0)
    .fetch_all(&c.db)
    .await
    .expect("books")
}

/// Change `product`'s stock at `outlet` (none: the default outlet) by
/// `delta`, or by as much as it has when that is less.
async fn change_stock(c: &CommitDb, tenant: TenantId, outlet: Option<Uuid>, product: Uuid, delta: i64) {
    let have = match outlet {
        Some(outlet) => c.stock_at(product, outlet).await,
        None => c.stock_at_default(tenant, product).await,
    };
    c.adjust_at(tenant, outlet, product, delta.max(-have)).await;
}

async fn run_case(batched: &CommitDb, reference: &CommitDb, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut case = case(&mut rng);
    let known = prepare(batched, &case).await;
    prepare(reference, &case).await;
    case.batch = batch(&mut rng, &case, &known);
    admit_batch(batched, &case).await;
    admit_batch(reference, &case).await;
    let concurrent =
        case.concurrent.map(|(i, at_stall, delta)| (case.products[i].0, at_stall.then_some(case.stall), delta));

    let window = async {
        if let Some((product, outlet, delta)) = concurrent {
            change_stock(batched, case.tenant, outlet, product, delta).await;
        }
    };
    let mut client = batched.pool.get().await.expect("connection");
    let refs: Vec<&Message> = case.batch.iter().collect();
    let plan = workers::commit::store::apply_with_window(&mut client, &refs, window).await;
    let plan = plan.unwrap_or_else(|e| panic!("seed {seed}: the batch failed: {e}"));

    if let Some((product, outlet, delta)) = concurrent {
        change_stock(reference, case.tenant, outlet, product, delta).await;
    }
    let mut expected = Vec::new();
    for message in &case.batch {
        let one = reference.apply(std::slice::from_ref(message)).await.expect("one at a time");
        expected.extend(one.effects);
    }
    assert_eq!(plan.effects, expected, "seed {seed}: effects differ from one at a time");
    let (got, want) = (books(batched, case.tenant).await, books(reference, case.tenant).await);
    assert_eq!(got, want, "seed {seed}: books differ from one at a time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batches_decide_exactly_as_their_orders_one_at_a_time() {
    let cases: u64 = std::env::var("COMMIT_REFERENCE_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000);
    let seed: u64 =
        std::env::var("COMMIT_REFERENCE_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or_else(rand::random);
    println!("commit reference: {cases} cases, seed {seed}");
    let (batched, reference) = tokio::join!(CommitDb::create(), CommitDb::create());
    let dbs = Arc::new((batched, reference));
    // As autovacuum would (this machine's cluster runs without it): plans
    // made on the empty tables would scan the growing ones in every case.
    let analyze = tokio::spawn({
        let dbs = dbs.clone();
        async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(3)).await;
                let _ =
                    tokio::join!(sqlx::query("ANALYZE").execute(&dbs.0.db), sqlx::query("ANALYZE").execute(&dbs.1.db));
            }
        }
    });
    let mut lanes = tokio::task::JoinSet::new();
    for lane in 0..PARALLEL {
        let dbs = dbs.clone();
        lanes.spawn(async move {
            let mut n = lane;
            while n < cases {
                run_case(&dbs.0, &dbs.1, seed.wrapping_add(n)).await;
                n += PARALLEL;
            }
        });
    }
    while let Some(lane) = lanes.join_next().await {
        lane.expect("a lane of cases");
    }
    analyze.abort();
    let _ = analyze.await;
    let (batched, reference) = Arc::try_unwrap(dbs).ok().expect("all lanes done");
    batched.assert_books_balance().await;
    batched.drop().await;
    reference.drop().await;
}
