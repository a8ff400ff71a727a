//! Tills and people: a registered till signs in with its secret, cashiers
//! open sessions on it by PIN, and access ends on every ingest replica
//! within seconds of a till's revocation or a person's deactivation or
//! demotion, tokens issued before included. Wrong PINs lock out per
//! cashier and per till.

use harness::{Options, Pipeline, eventually, uuid};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use uuid::Uuid;

/// The promise: refused within 5 s of the change.
const CUT_OFF: Duration = Duration::from_secs(5);

async fn call(
    p: &Pipeline,
    base: &str,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut request = p.http.request(method, format!("{base}{path}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.expect("HTTP request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A person of `role` with a password and a PIN; their id.
async fn person(p: &Pipeline, owner: &str, slug: &str, role: &str, pin: &str) -> (Uuid, String) {
    let email = format!("{role}-{:08x}@{slug}.test", rand::random::<u32>());
    let body = json!({ "email": email, "password": "user-pass-123", "name": format!("{role} {pin}"), "role": role });
    let created = p.post(owner, "/api/users", &body).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = uuid(&created.body["id"]);
    let set = p.post(owner, &format!("/api/users/{id}/pin"), &json!({ "pin": pin })).await;
    assert_eq!(set.status, 204, "{}", set.body);
    (id, email)
}

/// A till at the shop's default outlet, signed in; (its id, its token).
async fn till(p: &Pipeline, owner: &str, name: &str) -> (Uuid, String, String) {
    let outlets = p.get(owner, "/api/outlets").await;
    let outlet = outlets.body["data"].as_array().and_then(|o| o.iter().find(|o| o["isDefault"] == true)).cloned();
    let outlet = uuid(&outlet.expect("a default outlet")["id"]);
    let registered = p.post(owner, "/api/devices", &json!({ "outletId": outlet, "name": name })).await;
    assert_eq!(registered.status, 201, "{}", registered.body);
    let secret = registered.body["secret"].as_str().expect("the secret, once").to_owned();
    let listed = p.get(owner, "/api/devices").await;
    assert!(!listed.body.to_string().contains(&secret), "the secret is never shown again");
    let signed_in = p.call(Method::POST, "/api/auth/device", None, Some(&json!({ "deviceSecret": secret }))).await;
    assert_eq!(signed_in.status, 200, "{}", signed_in.body);
    let token = signed_in.body["deviceToken"].as_str().expect("till token").to_owned();
    (uuid(&registered.body["id"]), token, secret)
}

async fn pin(p: &Pipeline, till: &str, user: Uuid, pin: &str) -> harness::Reply {
    p.call(Method::POST, "/api/auth/pin", Some(till), Some(&json!({ "userId": user, "pin": pin }))).await
}

/// How long after now `token` is first refused with 401 session_revoked on `base`.
async fn refused_after(p: &Pipeline, base: &str, token: &str, since: Instant) -> Duration {
    loop {
        let (status, body) = call(p, base, Method::GET, "/api/products", Some(token), None).await;
        if status == 401 {
            assert_eq!(body["error"]["code"], "session_revoked", "{body}");
            return since.elapsed();
        }
        assert_eq!(status, 200, "{body}");
        assert!(since.elapsed() < CUT_OFF * 3, "still served {:?} after the change", since.elapsed());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_revoked_till_and_a_deactivated_or_demoted_person_are_refused_within_5_s_on_two_ingest_processes() {
    let p = Pipeline::start_with(Options::workers(0)).await;
    let shop = p.tenant().await;
    let ingests = [p.spawn_ingest_process("one", &[], None).await, p.spawn_ingest_process("two", &[], None).await];
    let (ayu, _) = person(&p, &shop.token, &shop.slug, "cashier", "4821").await;
    let (till_id, till_token, secret) = till(&p, &shop.token, "Kasir depan").await;
    let session = pin(&p, &till_token, ayu, "4821").await;
    assert_eq!(session.status, 200, "{}", session.body);
    assert_eq!(uuid(&session.body["deviceId"]), till_id);
    let on_till = session.body["accessToken"].as_str().expect("access").to_owned();
    let (budi, budi_email) = person(&p, &shop.token, &shop.slug, "cashier", "1357").await;
    let budi_login = p.login(&budi_email, "user-pass-123").await;
    let budi_token = budi_login.body["accessToken"].as_str().expect("access").to_owned();
    let (sari, sari_email) = person(&p, &shop.token, &shop.slug, "supervisor", "2468").await;
    let sari_token = p.login(&sari_email, "user-pass-123").await.body["accessToken"].as_str().unwrap_or("").to_owned();
    for process in &ingests {
        for token in [&on_till, &budi_token, &sari_token] {
            let (status, body) = call(&p, &process.base_url, Method::GET, "/api/products", Some(token), None).await;
            assert_eq!(status, 200, "every replica has seen every session: {body}");
        }
    }

    // The till is revoked through the first replica.
    let (status, body) = call(
        &p,
        &ingests[0].base_url,
        Method::POST,
        &format!("/api/devices/{till_id}/revoke"),
        Some(&shop.token),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let revoked = Instant::now();
    for process in &ingests {
        let took = refused_after(&p, &process.base_url, &on_till, revoked).await;
        println!("revoked till refused by {} after {took:?}", process.base_url);
        assert!(took < CUT_OFF, "{took:?}");
    }
    let again = p.call(Method::POST, "/api/auth/device", None, Some(&json!({ "deviceSecret": secret }))).await;
    assert_eq!((again.status, again.code()), (401, "invalid_device"));
    let refresh = json!({ "refreshToken": session.body["refreshToken"] });
    assert_eq!(p.call(Method::POST, "/api/auth/refresh", None, Some(&refresh)).await.status, 401);

    // A cashier deactivated through the second replica.
    let patch = json!({ "isActive": false });
    let (status, body) =
        call(&p, &ingests[1].base_url, Method::PATCH, &format!("/api/users/{budi}"), Some(&shop.token), Some(&patch))
            .await;
    assert_eq!((status, &body["isActive"]), (200, &json!(false)), "{body}");
    let deactivated = Instant::now();
    for process in &ingests {
        let took = refused_after(&p, &process.base_url, &budi_token, deactivated).await;
        println!("deactivated cashier refused by {} after {took:?}", process.base_url);
        assert!(took < CUT_OFF, "{took:?}");
    }
    let refresh = json!({ "refreshToken": budi_login.body["refreshToken"] });
    assert_eq!(p.call(Method::POST, "/api/auth/refresh", None, Some(&refresh)).await.status, 401);
    assert_eq!(p.login(&budi_email, "user-pass-123").await.status, 401);

    // A supervisor demoted: the old token goes, a new sign-in carries the new role.
    let demote = json!({ "role": "cashier" });
    assert_eq!(
        p.call(Method::PATCH, &format!("/api/users/{sari}"), Some(&shop.token), Some(&demote)).await.status,
        200
    );
    let demoted = Instant::now();
    for process in &ingests {
        assert!(refused_after(&p, &process.base_url, &sari_token, demoted).await < CUT_OFF);
    }
    let fresh = p.login(&sari_email, "user-pass-123").await;
    assert_eq!(fresh.body["user"]["role"], "cashier", "{}", fresh.body);

    // The last owner stays one.
    let owner = format!("/api/users/{}", shop.owner_id);
    for change in [json!({ "isActive": false }), json!({ "role": "admin" })] {
        let refused = p.call(Method::PATCH, &owner, Some(&shop.token), Some(&change)).await;
        assert_eq!((refused.status, refused.code()), (409, "last_owner"), "{}", refused.body);
    }
    let cashier_token = p.user(&shop, "cashier").await;
    assert_eq!(p.call(Method::PATCH, &owner, Some(&cashier_token), Some(&json!({ "name": "x" }))).await.status, 403);
    p.stop().await;
}

/// Waits until at least `needed` seconds remain in the current `window`-second window.
async fn early_in_window(window: u64, needed: u64) -> u64 {
    eventually("an early moment of a lockout window", Duration::from_secs(window + 1), || async {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        (window - now % window >= needed).then_some(now - now % window + window)
    })
    .await
}

#[tokio::test]
async fn wrong_pins_lock_out_the_cashier_and_the_till_until_the_window_ends() {
    let options = Options::workers(0).with_env("RATE_LIMIT_PIN_FAILURES", "3").with_env("PIN_LOCKOUT", "10s");
    let p = Pipeline::start_with(options).await;
    let shop = p.tenant().await;
    let (ayu, _) = person(&p, &shop.token, &shop.slug, "cashier", "1234").await;
    let (budi, _) = person(&p, &shop.token, &shop.slug, "cashier", "5678").await;
    let (cici, _) = person(&p, &shop.token, &shop.slug, "cashier", "246801").await;
    let (_, front, _) = till(&p, &shop.token, "depan").await;
    let (_, back, _) = till(&p, &shop.token, "belakang").await;
    let (_, side, _) = till(&p, &shop.token, "samping").await;
    let window_ends = early_in_window(10, 6).await;

    // Per cashier: three wrong PINs, then every PIN (the right one too) is 429.
    for guess in ["0000", "1111", "2222"] {
        let wrong = pin(&p, &front, ayu, guess).await;
        assert_eq!((wrong.status, wrong.code()), (401, "invalid_credentials"), "{}", wrong.body);
    }
    assert_eq!(pin(&p, &front, ayu, "3333").await.status, 429);
    let locked = pin(&p, &back, ayu, "1234").await;
    assert_eq!(locked.status, 429, "the right PIN on another till is refused too: {}", locked.body);
    assert!(locked.headers.get("retry-after").is_some());

    // Per till: two cashiers' wrong PINs add up on the till they were typed on.
    assert_eq!(pin(&p, &back, budi, "0000").await.status, 401);
    assert_eq!(pin(&p, &back, budi, "1111").await.status, 401);
    assert_eq!(pin(&p, &back, cici, "000000").await.status, 401);
    assert_eq!(pin(&p, &back, cici, "246801").await.status, 429, "the till is locked for everyone");
    let elsewhere = pin(&p, &side, budi, "5678").await;
    assert_eq!(elsewhere.status, 200, "budi is under his own limit on another till: {}", elsewhere.body);

    // After the window the right PIN opens the session again.
    let opened = eventually("the lockout window to pass", Duration::from_secs(15), || async {
        let reply = pin(&p, &front, ayu, "1234").await;
        (reply.status == 200).then_some(SystemTime::now())
    })
    .await;
    let opened_at = opened.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    assert!(opened_at >= window_ends, "opened at {opened_at}, before the window ended at {window_ends}");
    // A PIN that is not 4-6 digits is never checked.
    assert_eq!(pin(&p, &side, cici, "12ab").await.status, 401);
    assert_eq!(p.post(&shop.token, &format!("/api/users/{cici}/pin"), &json!({ "pin": "12" })).await.status, 422);
    p.stop().await;
}

/// A cashier's session on a till, refreshed, is still the till's: the new
/// tokens carry the till, and revoking the till ends the refreshed session
/// too, within the cut-off.
#[tokio::test]
async fn a_refreshed_session_on_a_till_stays_bound_to_it_and_ends_with_its_revocation() {
    let p = Pipeline::start_with(Options::workers(0)).await;
    let shop = p.tenant().await;
    let (ayu, _) = person(&p, &shop.token, &shop.slug, "cashier", "4821").await;
    let (till_id, till_token, _) = till(&p, &shop.token, "Kasir belakang").await;
    let session = pin(&p, &till_token, ayu, "4821").await;
    assert_eq!(session.status, 200, "{}", session.body);

    let refresh = json!({ "refreshToken": session.body["refreshToken"] });
    let refreshed = p.call(Method::POST, "/api/auth/refresh", None, Some(&refresh)).await;
    assert_eq!(refreshed.status, 200, "an active till's session refreshes: {}", refreshed.body);
    assert_eq!(uuid(&refreshed.body["deviceId"]), till_id, "{}", refreshed.body);
    let access = refreshed.body["accessToken"].as_str().expect("access").to_owned();
    assert_eq!(p.get(&access, "/api/products").await.status, 200);

    let revoked = p.post(&shop.token, &format!("/api/devices/{till_id}/revoke"), &json!({})).await;
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    let took = refused_after(&p, &p.base_url, &access, Instant::now()).await;
    assert!(took < CUT_OFF, "{took:?}");
    let again = json!({ "refreshToken": refreshed.body["refreshToken"] });
    assert_eq!(p.call(Method::POST, "/api/auth/refresh", None, Some(&again)).await.status, 401);
    p.stop().await;
}
