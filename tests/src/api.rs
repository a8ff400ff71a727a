//! Talking to the pipeline's API as terminals and the back office do.

use crate::pipeline::Pipeline;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

/// A shop with a signed-in owner.
#[derive(Clone, Debug)]
pub struct Tenant {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub slug: String,
    pub token: String,
}

/// An HTTP answer: status and JSON body (Null when the body is not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Reply {
    pub fn code(&self) -> &str {
        self.body.pointer("/error/code").and_then(Value::as_str).unwrap_or("")
    }
}

impl Pipeline {
    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<&Value>) -> Reply {
        let mut request = self.http.request(method, format!("{}{path}", self.base_url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.expect("HTTP request to ingest");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap_or_default();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply { status, body, headers }
    }

    pub async fn post(&self, token: &str, path: &str, body: &Value) -> Reply {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn get(&self, token: &str, path: &str) -> Reply {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn login(&self, email: &str, password: &str) -> Reply {
        self.call(Method::POST, "/api/auth/login", None, Some(&json!({ "email": email, "password": password }))).await
    }

    /// A new shop and its owner's access token.
    pub async fn tenant(&self) -> Tenant {
        let slug = format!("shop-{:08x}", rand::random::<u32>());
        let email = format!("owner@{slug}.test");
        let body = json!({ "name": format!("Warung {slug}"), "slug": slug, "owner": { "email": email, "password": "owner-pass-123", "name": "Owner" } });
        let created = self
            .http
            .post(format!("{}/api/admin/tenants", self.base_url))
            .header("X-Internal-Api-Key", &self.internal_key)
            .json(&body)
            .send()
            .await
            .expect("creating a tenant");
        assert_eq!(created.status().as_u16(), 201, "tenant creation failed");
        let created: Value = created.json().await.expect("tenant JSON");
        let login = self.login(&email, "owner-pass-123").await;
        assert_eq!(login.status, 200, "owner login failed: {}", login.body);
        Tenant {
            id: uuid(&created["tenantId"]),
            owner_id: uuid(&created["ownerUserId"]),
            slug,
            token: login.body["accessToken"].as_str().unwrap_or_default().to_owned(),
        }
    }

    /// A user of `role` in the tenant, signed in; returns the access token.
    pub async fn user(&self, tenant: &Tenant, role: &str) -> String {
        let email = format!("{role}-{:08x}@{}.test", rand::random::<u32>(), tenant.slug);
        let body = json!({ "email": email, "password": "user-pass-123", "name": role, "role": role });
        let created = self.post(&tenant.token, "/api/users", &body).await;
        assert_eq!(created.status, 201, "user creation failed: {}", created.body);
        let login = self.login(&email, "user-pass-123").await;
        login.body["accessToken"].as_str().unwrap_or_default().to_owned()
    }

    /// A product with a price and opening stock; returns its id.
    pub async fn product(&self, tenant: &Tenant, price: i64, stock: i64) -> Uuid {
        let sku = format!("SKU-{:08x}", rand::random::<u32>());
        let body = json!({ "sku": sku, "name": format!("Product {sku}"), "price": price, "stock": stock });
        let created = self.post(&tenant.token, "/api/products", &body).await;
        assert_eq!(created.status, 201, "product creation failed: {}", created.body);
        uuid(&created.body["id"])
    }

    /// A product's stock over all outlets.
    pub async fn stock(&self, product: Uuid) -> i64 {
        crate::checks::stock(&self.db, product, None).await
    }

    /// A product's stock at one outlet.
    pub async fn stock_at(&self, product: Uuid, outlet: Uuid) -> i64 {
        crate::checks::stock(&self.db, product, Some(outlet)).await
    }
}

/// An order for `lines` of (product, quantity, unit price), paid exactly in cash.
pub fn order(lines: &[(Uuid, u32, i64)]) -> Value {
    let total: i64 = lines.iter().map(|(_, q, p)| i64::from(*q) * p).sum();
    let items: Vec<Value> =
        lines.iter().map(|(id, q, p)| json!({ "productId": id, "quantity": q, "price": p })).collect();
    json!({ "clientOrderId": Uuid::now_v7(), "items": items, "payment": { "method": "cash", "amount": total } })
}

pub fn uuid(value: &Value) -> Uuid {
    value.as_str().and_then(|s| Uuid::parse_str(s).ok()).unwrap_or_else(|| panic!("not a UUID: {value}"))
}
