//! Several messages for one order in one worker batch: two operators'
//! retries of the same failed sync, a retry next to a redelivery of the
//! original. The batch is forced through the commit path directly (a queue
//! cannot promise which messages share a batch). Whatever the mix, the
//! order gets at most one effect and its status agrees with its rows.

use common::message::Message;
use common::order::Source;
use harness::commit::{CommitDb, order_message, replay};
use workers::commit::Effect;

/// A shop with one product of `stock` and an offline sale of `quantity`
/// that failed for short stock (its failed sync open).
async fn failed_sale(c: &CommitDb, stock: i64, quantity: u32) -> (common::message::OrderMessage, uuid::Uuid) {
    let (tenant, products) = c.shop(&[stock]).await;
    let sale = order_message(tenant, &[(products[0], quantity)], Source::Offline, None);
    c.admit(&[&sale]).await;
    let plan = c.apply(&[Message::Order(sale.clone())]).await.expect("first delivery");
    assert!(matches!(plan.effects[..], [Effect::Failed { .. }]), "{:?}", plan.effects);
    (sale, products[0])
}

fn kinds(effects: &[Effect]) -> Vec<&'static str> {
    effects.iter().map(Effect::kind).collect()
}

#[tokio::test]
async fn a_retry_that_fails_and_a_retry_with_allow_oversell_in_one_batch_commit_the_order_once() {
    let c = CommitDb::create().await;
    let (sale, product) = failed_sale(&c, 1, 2).await;
    // Retry (fails again: still short), then Retry with allowOversell (commits).
    let batch = [replay(&sale, false), replay(&sale, true)];
    let plan = c.apply(&batch).await.expect("the batch commits");
    assert_eq!(kinds(&plan.effects), ["failed", "committed"]);
    assert_eq!(c.status(sale.order_id).await, "committed");
    assert_eq!(c.failed_sync(sale.order_id).await, Some(("resolved".into(), 2)));
    assert_eq!(c.stock(product).await, 0);
    c.assert_books_balance().await;
    c.drop().await;
}

#[tokio::test]
async fn two_retries_that_both_fail_in_one_batch_count_two_attempts_and_book_nothing() {
    let c = CommitDb::create().await;
    let (sale, product) = failed_sale(&c, 1, 2).await;
    let batch = [replay(&sale, false), replay(&sale, false)];
    let plan = c.apply(&batch).await.expect("the batch commits as a batch");
    assert_eq!(kinds(&plan.effects), ["failed", "failed"]);
    assert_eq!(c.status(sale.order_id).await, "failed");
    assert_eq!(c.failed_sync(sale.order_id).await, Some(("open".into(), 3)));
    assert_eq!(c.stock(product).await, 1);
    c.assert_books_balance().await;
    c.drop().await;
}

#[tokio::test]
async fn a_retry_next_to_a_redelivery_of_the_original_applies_once_in_either_order() {
    let c = CommitDb::create().await;
    for retry_first in [false, true] {
        let (sale, product) = failed_sale(&c, 1, 2).await;
        c.adjust(sale.tenant_id, product, 5).await;
        let (original, retry) = (Message::Order(sale.clone()), replay(&sale, false));
        let batch = if retry_first { [retry.clone(), original, retry] } else { [original, retry.clone(), retry] };
        let plan = c.apply(&batch).await.expect("the batch commits");
        let expected =
            if retry_first { ["committed", "skipped", "skipped"] } else { ["skipped", "committed", "skipped"] };
        assert_eq!(kinds(&plan.effects), expected);
        assert_eq!(c.status(sale.order_id).await, "committed");
        assert_eq!(c.failed_sync(sale.order_id).await, Some(("resolved".into(), 1)));
        assert_eq!(c.stock(product).await, 4);
    }
    c.assert_books_balance().await;
    c.drop().await;
}

#[tokio::test]
async fn a_sale_and_its_cancel_in_one_batch_give_the_stock_back() {
    let c = CommitDb::create().await;
    let (tenant, products) = c.shop(&[3]).await;
    let sale = order_message(tenant, &[(products[0], 2)], Source::Online, None);
    c.admit(&[&sale]).await;
    let batch = [Message::Order(sale.clone()), harness::commit::cancel(tenant, sale.order_id)];
    let plan = c.apply(&batch).await.expect("the batch commits");
    assert_eq!(kinds(&plan.effects), ["committed", "cancelled"]);
    assert_eq!(c.status(sale.order_id).await, "cancelled");
    assert_eq!(c.stock(products[0]).await, 3);
    c.assert_books_balance().await;
    c.drop().await;
}

/// One round: an operator discards a failed sync while a retry of it (with
/// stock to commit) is applied. Returns (discard answered ok, retry committed).
async fn discard_against_retry(c: &CommitDb, round: u32) -> (bool, bool) {
    let (sale, product) = failed_sale(c, 0, 1).await;
    c.adjust(sale.tenant_id, product, 1).await;
    let id = c.failed_sync_id(sale.order_id).await;
    let scope = common::replay::Scope::Tenant(sale.tenant_id);
    let retry = [replay(&sale, false)];
    // Stagger the two by 0–3 ms so every interleaving of their locks comes up.
    let (head, tail) = (std::time::Duration::from_micros(u64::from(round % 4) * 1000), std::time::Duration::ZERO);
    let (discard_delay, retry_delay) = if round.is_multiple_of(2) { (head, tail) } else { (tail, head) };
    let (discarded, applied) = tokio::join!(
        async {
            tokio::time::sleep(discard_delay).await;
            common::replay::discard(&c.app, scope, id, "duplicate of another sale", "budi").await
        },
        async {
            tokio::time::sleep(retry_delay).await;
            c.apply(&retry).await
        },
    );
    let committed = matches!(applied.expect("the retry's batch").effects[..], [Effect::Committed { .. }]);
    match &discarded {
        Ok(()) | Err(common::replay::ReviewError::NotOpen(_)) => {}
        Err(other) => panic!("discard failed: {other}"),
    }
    let (status, sync) = (c.status(sale.order_id).await, c.failed_sync(sale.order_id).await);
    let sync_status = sync.map(|(s, _)| s).unwrap_or_default();
    if committed {
        assert!(discarded.is_err(), "round {round}: a discard answered ok for an order that committed");
        assert_eq!((status.as_str(), sync_status.as_str()), ("committed", "resolved"), "round {round}");
    } else {
        assert!(discarded.is_ok(), "round {round}: the retry was skipped, so the discard must have won");
        assert_eq!((status.as_str(), sync_status.as_str()), ("failed", "discarded"), "round {round}");
        assert_eq!(c.stock(product).await, 1, "round {round}: a discarded sale took stock");
    }
    (discarded.is_ok(), committed)
}

#[tokio::test]
async fn a_discard_racing_a_retrys_commit_never_leaves_a_discarded_sync_with_effects() {
    let c = CommitDb::create().await;
    let (mut discards, mut commits) = (0, 0);
    for round in 0..200 {
        let (discarded, committed) = discard_against_retry(&c, round).await;
        discards += u32::from(discarded);
        commits += u32::from(committed);
    }
    // Both sides must have won some rounds, or the race was not exercised.
    assert!(discards > 0 && commits > 0, "discards won {discards}, retries {commits}");
    c.assert_books_balance().await;
    c.drop().await;
}
