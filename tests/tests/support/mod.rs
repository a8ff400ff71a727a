//! Shared by the migration round-trip and the backup drill: a shop with
//! something in every tenant table, and fingerprints of a database's data
//! and schema to compare before and after.

use harness::{Pipeline, Tenant, order, uuid};
use serde_json::json;
use sqlx::PgPool;
use std::collections::BTreeMap;
use std::time::Duration;
use uuid::Uuid;

/// The tables `busy_shop` writes rows to (failed sync events, dead letters
/// and platform settings stay empty).
pub const FILLED_TABLES: &[&str] = &[
    "tenants",
    "tenant_charge_settings",
    "users",
    "refresh_tokens",
    "products",
    "stock_movements",
    "product_prices",
    "discount_rules",
    "members",
    "orders",
    "order_items",
    "payments",
    "sync_batches",
    "failed_syncs",
];

/// What `busy_shop` made.
pub struct Shop {
    pub tenant: Tenant,
    pub product: Uuid,
    pub orders: Vec<Uuid>,
}

/// A shop with rows in every tenant table: users and refresh tokens,
/// products and a stock adjustment, a discount rule and a member, committed
/// orders (items, payments, sale movements, one with the member), a
/// rejected one, a cancelled one (cancel movement), an offline sync batch
/// with a failed sync; then waits until everything settled.
pub async fn busy_shop(p: &Pipeline) -> Shop {
    let shop = p.tenant().await;
    let _cashier = p.user(&shop, "cashier").await;
    let rice = p.product(&shop, 15_000, 50).await;
    let oil = p.product(&shop, 32_500, 20).await;
    let soap = p.product(&shop, 4_000, 2).await;
    let rule = json!({ "name": "Belanja 100rb", "type": "amount_based", "valueType": "percentage", "value": 5,
                       "minAmount": 100_000, "isActive": true });
    let created = p.post(&shop.token, "/api/discounts", &rule).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let member = json!({ "name": "Pak Budi", "phone": "0812000111", "memberCode": "M-1", "isActive": true,
                         "discountType": "fixed", "discountValue": 1_000 });
    let member = p.post(&shop.token, "/api/members", &member).await;
    assert_eq!(member.status, 201, "{}", member.body);
    let adjusted = p
        .post(
            &shop.token,
            &format!("/api/products/{rice}/stock-adjustments"),
            &json!({ "delta": 10, "reason": "restock" }),
        )
        .await;
    assert!(adjusted.status < 300, "{}", adjusted.body);

    let mut orders = Vec::new();
    let mut with_member = order(&[(rice, 2, 15_000), (oil, 1, 32_500)]);
    with_member["memberId"] = member.body["id"].clone();
    for body in [with_member, order(&[(rice, 1, 15_000)]), order(&[(oil, 4, 32_500), (soap, 1, 4_000)])] {
        let placed = p.post(&shop.token, "/api/orders?wait=10000", &body).await;
        assert_eq!((placed.status, placed.body["status"].as_str()), (201, Some("committed")), "{}", placed.body);
        orders.push(uuid(&placed.body["orderId"]));
    }
    let short = p.post(&shop.token, "/api/orders?wait=10000", &order(&[(soap, 5, 4_000)])).await;
    assert_eq!(short.body["status"], "rejected", "{}", short.body);
    orders.push(uuid(&short.body["orderId"]));

    let offline = [order(&[(rice, 1, 15_000)]), order(&[(soap, 3, 4_000)])];
    let synced = p.post(&shop.token, "/api/sync/orders", &json!({ "deviceId": "till-1", "orders": offline })).await;
    assert_eq!(synced.status, 202, "{}", synced.body);
    for result in synced.body["results"].as_array().expect("results") {
        orders.push(uuid(&result["orderId"]));
    }

    let cancelled = orders[1];
    let cancel = p
        .post(&shop.token, &format!("/api/orders/{cancelled}/cancel"), &json!({ "reason": "customer returned it" }))
        .await;
    assert_eq!(cancel.status, 202, "{}", cancel.body);
    p.reaches(cancelled, "cancelled").await;
    p.drained(Duration::from_secs(30)).await;
    let statuses: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, count(*) FROM orders GROUP BY status ORDER BY status")
            .fetch_all(&p.db)
            .await
            .expect("statuses");
    let statuses: Vec<(&str, i64)> = statuses.iter().map(|(s, n)| (s.as_str(), *n)).collect();
    assert_eq!(statuses, [("cancelled", 1), ("committed", 3), ("failed", 1), ("rejected", 1)]);
    assert_eq!(p.count("SELECT count(*) FROM failed_syncs").await, 1);
    p.assert_books_balance().await;
    Shop { tenant: shop, product: rice, orders }
}

/// Every table of the public schema but `except`: its row count and an md5
/// of its rows as text, sorted (read as the owner: row-level security does
/// not apply).
pub async fn table_contents(db: &PgPool, except: &[&str]) -> BTreeMap<String, (i64, String)> {
    let tables: Vec<(String,)> =
        sqlx::query_as("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
            .fetch_all(db)
            .await
            .expect("listing tables");
    let mut contents = BTreeMap::new();
    for (table,) in tables.into_iter().filter(|(t,)| !except.contains(&t.as_str())) {
        // The name comes from the catalog; quote_ident makes it safe anyway.
        let quoted: String =
            sqlx::query_scalar("SELECT quote_ident($1)").bind(&table).fetch_one(db).await.expect("quote");
        let sql =
            format!("SELECT count(*), coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '') FROM {quoted} t");
        let row: (i64, String) =
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_one(db).await.unwrap_or_else(|e| panic!("{table}: {e}"));
        contents.insert(table, row);
    }
    contents
}

/// Every row of every table but `except`, as JSON objects in a stable
/// order, so what a down migration keeps can be compared column by column.
#[allow(dead_code)] // not every test binary that shares this module uses it
pub async fn table_rows(db: &PgPool, except: &[&str]) -> BTreeMap<String, Vec<serde_json::Value>> {
    let tables: Vec<(String,)> =
        sqlx::query_as("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
            .fetch_all(db)
            .await
            .expect("listing tables");
    let mut rows = BTreeMap::new();
    for (table,) in tables.into_iter().filter(|(t,)| !except.contains(&t.as_str())) {
        let quoted: String =
            sqlx::query_scalar("SELECT quote_ident($1)").bind(&table).fetch_one(db).await.expect("quote");
        let sql = format!("SELECT to_jsonb(t) FROM {quoted} t ORDER BY t::text");
        let all: Vec<serde_json::Value> =
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_all(db).await.unwrap_or_else(|e| panic!("{table}: {e}"));
        rows.insert(table, all);
    }
    rows
}

/// `rows` with only the tables and columns `like` has.
#[allow(dead_code)]
pub fn project(
    rows: &BTreeMap<String, Vec<serde_json::Value>>,
    like: &BTreeMap<String, Vec<serde_json::Value>>,
) -> BTreeMap<String, Vec<serde_json::Value>> {
    let columns = |table: &str| -> Vec<String> {
        let from_rows = like.get(table).and_then(|r| r.first()).and_then(|r| r.as_object());
        from_rows.map(|r| r.keys().cloned().collect()).unwrap_or_default()
    };
    like.keys()
        .filter_map(|table| {
            let keep = columns(table);
            let mut projected: Vec<serde_json::Value> = rows
                .get(table)?
                .iter()
                .map(|row| {
                    let object = row.as_object().into_iter().flatten();
                    serde_json::Value::Object(
                        object.filter(|(k, _)| keep.contains(k)).map(|(k, v)| (k.clone(), v.clone())).collect(),
                    )
                })
                .collect();
            projected.sort_by_key(|r| r.to_string());
            Some((table.clone(), projected))
        })
        .collect()
}

/// The schema as text, one line per object: tables (row-level security,
/// owner, privileges), columns, constraints, indexes, policies, functions
/// (definition, privileges) and the schema's privileges. Privileges are
/// compared as the sets they mean (an ACL reset to its default reads like
/// one never granted). sqlx's own table is left out.
pub async fn schema(db: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "WITH rel AS (
            SELECT c.* FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND c.relname NOT LIKE '\\_sqlx\\_migrations%'
         )
         SELECT line FROM (
            SELECT format('table %s kind=%s rls=%s force=%s owner=%s acl=%s', c.relname, c.relkind, c.relrowsecurity,
                          c.relforcerowsecurity, pg_get_userbyid(c.relowner),
                          (SELECT string_agg(format('%s>%s:%s', a.grantor::regrole, a.grantee::regrole, a.privilege_type),
                                             ',' ORDER BY 1)
                           FROM aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) a)) AS line
            FROM rel c WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S')
            UNION ALL
            SELECT format('column %s.%s %s notnull=%s default=%s', c.relname, a.attname,
                          format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid))
            FROM rel c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
            LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
            WHERE c.relkind IN ('r', 'p')
            UNION ALL
            SELECT format('constraint %s.%s %s', c.relname, k.conname, pg_get_constraintdef(k.oid))
            FROM rel c JOIN pg_constraint k ON k.conrelid = c.oid
            UNION ALL
            SELECT format('index %s', pg_get_indexdef(i.indexrelid))
            FROM rel c JOIN pg_index i ON i.indrelid = c.oid
            UNION ALL
            SELECT format('policy %s.%s %s %s to=%s using=%s check=%s', tablename, policyname, permissive, cmd,
                          roles::text, qual, with_check)
            FROM pg_policies WHERE schemaname = 'public'
            UNION ALL
            SELECT format('function %s owner=%s acl=%s %s', p.oid::regprocedure, pg_get_userbyid(p.proowner),
                          (SELECT string_agg(format('%s>%s:%s', a.grantor::regrole, a.grantee::regrole, a.privilege_type),
                                             ',' ORDER BY 1)
                           FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a),
                          pg_get_functiondef(p.oid))
            FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'
            UNION ALL
            SELECT format('schema %s owner=%s acl=%s', n.nspname, pg_get_userbyid(n.nspowner),
                          (SELECT string_agg(format('%s>%s:%s', a.grantor::regrole, a.grantee::regrole, a.privilege_type),
                                             ',' ORDER BY 1)
                           FROM aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) a))
            FROM pg_namespace n WHERE n.nspname = 'public'
         ) lines ORDER BY line",
    )
    .fetch_all(db)
    .await
    .expect("reading the schema")
}

/// What `found` lacks and has beyond `expected` (a readable assertion message).
pub fn schema_diff(expected: &[String], found: &[String]) -> String {
    let only =
        |a: &[String], b: &[String]| a.iter().filter(|l| !b.contains(l)).cloned().collect::<Vec<_>>().join("\n  ");
    format!("missing:\n  {}\nunexpected:\n  {}", only(expected, found), only(found, expected))
}
