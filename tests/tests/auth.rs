//! Sign-in and sessions: argon2id logins, short-lived access tokens,
//! rotating refresh tokens whose reuse ends the session, roles.

use harness::{Options, Pipeline};
use serde_json::json;

#[tokio::test]
async fn login_refresh_rotation_reuse_and_logout() {
    let p = Pipeline::start_with(Options::workers(0)).await;
    let shop = p.tenant().await;
    let email = format!("owner@{}.test", shop.slug);

    let wrong = p.login(&email, "not-the-password").await;
    let unknown = p.login("nobody@nowhere.test", "owner-pass-123").await;
    assert_eq!((wrong.status, wrong.code()), (401, "invalid_credentials"));
    assert_eq!(unknown.body["error"]["message"], wrong.body["error"]["message"], "the same answer for both");

    let login = p.login(&email, "owner-pass-123").await;
    assert_eq!(login.status, 200);
    assert_eq!(login.body["tokenType"], "Bearer");
    assert_eq!(login.body["expiresIn"], 900);
    assert_eq!(login.body["user"]["role"], "owner");
    assert_eq!(login.body["user"]["tenantId"], json!(shop.id));
    let stored: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
        .bind(shop.owner_id)
        .fetch_one(&p.db)
        .await
        .expect("user");
    assert!(stored.starts_with("$argon2id$"), "argon2id hashes");

    let first = login.body["refreshToken"].clone();
    let refreshed =
        p.call(reqwest::Method::POST, "/api/auth/refresh", None, Some(&json!({ "refreshToken": first }))).await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    let second = refreshed.body["refreshToken"].clone();
    assert_ne!(first, second, "refresh rotates");
    let access = refreshed.body["accessToken"].as_str().unwrap_or_default().to_owned();
    assert_eq!(p.get(&access, "/api/products").await.status, 200);

    // The same token again within the grace window (a till that lost the
    // response): the same new pair, not a logout.
    let repeated =
        p.call(reqwest::Method::POST, "/api/auth/refresh", None, Some(&json!({ "refreshToken": first }))).await;
    assert_eq!(repeated.status, 200, "{}", repeated.body);
    assert_eq!(
        (&repeated.body["refreshToken"], &repeated.body["accessToken"]),
        (&second, &refreshed.body["accessToken"])
    );
    // Once the new token is used, the old one presented again means a copy
    // exists somewhere: the whole session ends.
    let third =
        p.call(reqwest::Method::POST, "/api/auth/refresh", None, Some(&json!({ "refreshToken": second }))).await;
    assert_eq!(third.status, 200);
    let reused =
        p.call(reqwest::Method::POST, "/api/auth/refresh", None, Some(&json!({ "refreshToken": first }))).await;
    assert_eq!((reused.status, reused.code()), (401, "invalid_token"));
    let latest = third.body["refreshToken"].clone();
    let after_reuse =
        p.call(reqwest::Method::POST, "/api/auth/refresh", None, Some(&json!({ "refreshToken": latest }))).await;
    assert_eq!(after_reuse.status, 401, "the reused token's family is revoked");

    let again = p.login(&email, "owner-pass-123").await;
    let token = again.body["refreshToken"].clone();
    let bearer = again.body["accessToken"].as_str().unwrap_or_default().to_owned();
    let logout = p.post(&bearer, "/api/auth/logout", &json!({ "refreshToken": token })).await;
    assert_eq!(logout.status, 204);
    let after_logout =
        p.call(reqwest::Method::POST, "/api/auth/refresh", None, Some(&json!({ "refreshToken": token }))).await;
    assert_eq!(after_logout.status, 401);
    p.stop().await;
}

#[tokio::test]
async fn roles_and_platform_administration() {
    let p = Pipeline::start_with(Options::workers(0)).await;
    let shop = p.tenant().await;
    let admin = p.user(&shop, "admin").await;
    let cashier = p.user(&shop, "cashier").await;

    let product = json!({ "sku": "X-1", "name": "Kerupuk", "price": 1_000, "stock": 5 });
    assert_eq!(p.post(&cashier, "/api/products", &product).await.status, 403, "cashiers do not manage products");
    assert_eq!(p.post(&admin, "/api/products", &product).await.status, 201);
    let new_admin = json!({ "email": "a2@x.test", "password": "password-123", "name": "A2", "role": "admin" });
    let by_admin = p.post(&admin, "/api/users", &new_admin).await;
    assert_eq!((by_admin.status, by_admin.code()), (403, "forbidden"), "only an owner adds admins");
    assert_eq!(p.post(&shop.token, "/api/users", &new_admin).await.status, 201);
    let duplicate = p.post(&shop.token, "/api/users", &new_admin).await;
    assert_eq!((duplicate.status, duplicate.code()), (409, "email_taken"));
    let weak = json!({ "email": "w@x.test", "password": "short", "name": "W", "role": "cashier" });
    assert_eq!(p.post(&shop.token, "/api/users", &weak).await.status, 422);

    let tenant = json!({ "name": "Toko", "slug": shop.slug, "owner": { "email": "o@toko.test", "password": "password-123", "name": "O" } });
    let no_key = p.call(reqwest::Method::POST, "/api/admin/tenants", None, Some(&tenant)).await;
    assert_eq!(no_key.status, 401);
    let taken = p
        .http
        .post(format!("{}/api/admin/tenants", p.base_url))
        .header("X-Internal-Api-Key", &p.internal_key)
        .json(&tenant)
        .send()
        .await
        .expect("request");
    assert_eq!(taken.status().as_u16(), 409);
    let taken: serde_json::Value = taken.json().await.unwrap_or_default();
    assert_eq!(taken["error"]["code"], "slug_taken");
    p.stop().await;
}
