//! Members' personal data (UU PDP): an export holds everything about a
//! member; after an erasure no table, failed sync, dead letter or log line
//! of the run holds their name, phone or email, while their orders and the
//! day's report are unchanged; the retention sweep erases inactive members
//! and strips resolved raw requests.

use common::broker::headers;
use harness::{Options, Pipeline, eventually, order, uuid};
use lapin::types::AMQPValue;
use serde_json::{Value, json};
use std::time::Duration;
use uuid::Uuid;

/// Tables (and dead letters' raw bodies) holding any of `needles`, with counts.
async fn holding(p: &Pipeline, needles: &[&str]) -> Vec<(String, i64)> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
    )
    .fetch_all(&p.db)
    .await
    .expect("tables");
    let patterns: Vec<String> = needles.iter().map(|n| format!("%{n}%")).collect();
    let mut found = Vec::new();
    for table in tables {
        // Table names come from the catalogue; quote_ident keeps them literal.
        let sql = format!("SELECT count(*) FROM {} t WHERE t::text ILIKE ANY ($1)", quote(&table));
        let count: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(&patterns).fetch_one(&p.db).await.expect("scan");
        if count > 0 {
            found.push((table, count));
        }
    }
    let bodies: i64 =
        sqlx::query_scalar("SELECT count(*) FROM dead_letters WHERE encode(body, 'escape') ILIKE ANY ($1)")
            .bind(&patterns)
            .fetch_one(&p.db)
            .await
            .expect("bodies");
    if bodies > 0 {
        found.push(("dead_letters.body".to_owned(), bodies));
    }
    found
}

fn quote(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

#[tokio::test]
async fn an_erased_member_is_nowhere_in_tables_failed_syncs_dead_letters_or_logs_and_the_books_are_unchanged() {
    let mut p = Pipeline::start_with(Options { in_process_ingest: false, ..Options::workers(0) }).await;
    let logs = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{}-logs", p.database_name()));
    std::fs::create_dir_all(&logs).expect("log dir");
    let debug = [("LOG_LEVEL", "debug")];
    let ingest = p.spawn_ingest_process("pdp", &debug, Some(&logs.join("ingest.log"))).await;
    let _worker = p.spawn_worker_with_port("pdp", &debug, Some(&logs.join("worker.log"))).await;
    // Every request goes to the ingest process whose log is read below.
    p.base_url = ingest.base_url.clone();
    let api = &p;
    let shop = api.tenant().await;
    let tag = format!("{:08x}", rand::random::<u32>());
    let (name, phone, email) =
        (format!("Siti Rahma {tag}"), format!("0812{}", &tag[..8]), format!("siti.{tag}@contoh.id"));
    let created = api
        .post(
            &shop.token,
            "/api/members",
            &json!({ "name": name, "phone": phone, "email": email, "memberCode": format!("M{tag}"), "isActive": true }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let member = uuid(&created.body["id"]);
    assert_eq!(
        api.call(
            reqwest::Method::PATCH,
            &format!("/api/members/{member}"),
            Some(&shop.token),
            Some(&json!({ "name": format!("{name} W") }))
        )
        .await
        .status,
        200
    );

    // A sale to her with a note naming her; an offline one short of stock
    // (a failed sync, discarded); a dead letter naming her.
    let product = api.product(&shop, 10_000, 5).await;
    let mut sale = order(&[(product, 2, 10_000)]);
    sale["memberId"] = json!(member);
    sale["notes"] = json!(format!("antar ke {name}, {phone}"));
    let sold = api.post(&shop.token, "/api/orders?wait=10000", &sale).await;
    assert_eq!(sold.body["status"], "committed", "{}", sold.body);
    let sold_id = uuid(&sold.body["orderId"]);
    let mut short = order(&[(product, 50, 10_000)]);
    short["memberId"] = json!(member);
    short["notes"] = json!(format!("{email}"));
    let synced = api.post(&shop.token, "/api/sync/orders", &json!({ "deviceId": "till-1", "orders": [short] })).await;
    let short_id = uuid(&synced.body["results"][0]["orderId"]);
    let failed: Uuid = eventually("the failed sync", Duration::from_secs(20), || async {
        sqlx::query_scalar("SELECT id FROM failed_syncs WHERE order_id = $1")
            .bind(short_id)
            .fetch_optional(&p.db)
            .await
            .ok()
            .flatten()
    })
    .await;
    let discard = json!({ "reason": "pelanggan batal" });
    assert_eq!(api.post(&shop.token, &format!("/api/failed-syncs/{failed}/discard"), &discard).await.status, 200);
    let poison = json!({ "type": "order.v9", "tenantId": shop.id, "order": { "memberId": member, "notes": phone } });
    let tenant_header = [(headers::TENANT_ID, AMQPValue::LongString(shop.id.to_string().into()))];
    let properties = headers::with_headers(&lapin::BasicProperties::default(), &tenant_header);
    p.broker.publish_raw(poison.to_string().as_bytes(), properties).await.expect("publish");
    eventually("the dead letter recorded", Duration::from_secs(20), || async {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM dead_letters").fetch_one(&p.db).await.ok()?;
        (n == 1).then_some(())
    })
    .await;
    let needles = [name.as_str(), phone.as_str(), email.as_str()];
    assert!(!holding(&p, &needles).await.is_empty(), "the scan finds her before the erasure");

    // The export holds her profile and orders.
    let export = api.get(&shop.token, &format!("/api/members/{member}/personal-data")).await;
    assert_eq!(export.status, 200, "{}", export.body);
    assert_eq!(export.body["profile"]["phone"], phone);
    assert_eq!(export.body["profile"]["email"], email);
    let exported: Vec<Uuid> =
        export.body["orders"].as_array().into_iter().flatten().map(|o| uuid(&o["orderId"])).collect();
    assert_eq!(exported, vec![sold_id, short_id]);
    assert_eq!(export.body["orders"][0]["total"], sold.body["total"]);

    // Asia/Jakarta (UTC+7, no DST), the shop's zone.
    let today = (chrono::Utc::now() + chrono::Duration::hours(7)).date_naive();
    let report_path = format!("/api/reports/daily-sales?date={today}");
    let (report_before, order_before) = (
        api.get(&shop.token, &report_path).await.body,
        api.get(&shop.token, &format!("/api/orders/{sold_id}")).await.body,
    );
    let admin = api.user(&shop, "admin").await;
    assert_eq!(api.post(&admin, &format!("/api/members/{member}/erase"), &json!({})).await.status, 403, "owners only");
    let erased = api.post(&shop.token, &format!("/api/members/{member}/erase"), &json!({})).await;
    assert_eq!((erased.status, &erased.body["erased"]), (200, &json!(true)), "{}", erased.body);

    assert_eq!(holding(&p, &needles).await, Vec::<(String, i64)>::new(), "nothing holds her name, phone or email");
    let order_after: Value = api.get(&shop.token, &format!("/api/orders/{sold_id}")).await.body;
    for field in ["total", "subtotal", "items", "payment", "status", "receiptNumber", "createdAt"] {
        assert_eq!(order_after[field], order_before[field], "{field}");
    }
    assert_eq!(api.get(&shop.token, &report_path).await.body, report_before, "the day's report is unchanged");
    let after = api.get(&shop.token, &format!("/api/members/{member}/personal-data")).await.body;
    assert_eq!(after["profile"]["name"], "Erased member");
    assert_eq!(after["orders"].as_array().map(Vec::len), Some(2), "her orders stay hers, by id");
    let audit = api.get(&shop.token, &format!("/api/audit?entity=member&entityId={member}")).await.body;
    assert_eq!(audit["data"].as_array().map(Vec::len), Some(3), "create, update and erase: {audit}");
    let again = api
        .call(
            reqwest::Method::PATCH,
            &format!("/api/members/{member}"),
            Some(&shop.token),
            Some(&json!({ "name": "x" })),
        )
        .await;
    assert_eq!((again.status, again.code()), (409, "member_erased"));

    for file in ["ingest.log", "worker.log"] {
        let text = std::fs::read_to_string(logs.join(file)).expect("log");
        assert!(text.len() > 1_000, "{file} has the run's lines");
        for needle in needles {
            assert!(!text.contains(needle), "{file} holds {needle}");
        }
        for secret in ["user-pass-123", "owner-pass-123", shop.token.as_str()] {
            assert!(!text.contains(secret), "{file} holds a password or token");
        }
    }
    p.stop().await;
}

#[tokio::test]
async fn the_retention_sweep_erases_inactive_members_and_strips_resolved_raw_requests() {
    let options = Options::workers(1)
        .with_env("MEMBER_RETENTION_DAYS", "0")
        .with_env("REVIEW_RETENTION_DAYS", "0")
        .with_env("RETENTION_SWEEP_EVERY", "300ms");
    let p = Pipeline::start_with(options).await;
    let shop = p.tenant().await;
    let product = p.product(&shop, 10_000, 0).await;
    let mut short = order(&[(product, 1, 10_000)]);
    short["notes"] = json!("Pak Joko 081311112222");
    let synced = p.post(&shop.token, "/api/sync/orders", &json!({ "deviceId": "till-1", "orders": [short] })).await;
    let order_id = uuid(&synced.body["results"][0]["orderId"]);
    let failed: Uuid = eventually("the failed sync", Duration::from_secs(20), || async {
        sqlx::query_scalar("SELECT id FROM failed_syncs WHERE order_id = $1")
            .bind(order_id)
            .fetch_optional(&p.db)
            .await
            .ok()
            .flatten()
    })
    .await;
    let member = json!({ "name": "Pak Joko", "phone": "081311112222", "memberCode": "J1", "isActive": true });
    let member = uuid(&p.post(&shop.token, "/api/members", &member).await.body["id"]);
    eventually("the inactive member erased", Duration::from_secs(20), || async {
        let view = p.get(&shop.token, &format!("/api/members/{member}")).await;
        (view.body["name"] == "Erased member" && view.body["phone"] != "081311112222").then_some(())
    })
    .await;
    // Still open: kept whole for review however old.
    let request: Value = sqlx::query_scalar("SELECT request FROM failed_syncs WHERE id = $1")
        .bind(failed)
        .fetch_one(&p.db)
        .await
        .expect("row");
    assert_eq!(request["notes"], "Pak Joko 081311112222", "an open failed sync keeps its request");
    assert_eq!(
        p.post(&shop.token, &format!("/api/failed-syncs/{failed}/discard"), &json!({ "reason": "x" })).await.status,
        200
    );
    eventually("the discarded request stripped", Duration::from_secs(20), || async {
        let (request, at): (Value, Option<chrono::DateTime<chrono::Utc>>) =
            sqlx::query_as("SELECT request, personal_data_removed_at FROM failed_syncs WHERE id = $1")
                .bind(failed)
                .fetch_one(&p.db)
                .await
                .ok()?;
        (at.is_some() && request.get("notes").is_none() && request["items"][0]["quantity"] == 1).then_some(())
    })
    .await;
    p.stop().await;
}
