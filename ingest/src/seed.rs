//! The demo shop `scripts/run` creates: a tenant, its owner and a few
//! products. Idempotent: running it again changes nothing.

use crate::auth::{AuthUser, Role};
use crate::http::error::{ApiError, ApiResult};
use crate::http::routes::admin::{NewOwner, NewTenant, insert_tenant};
use crate::http::routes::products::{NewProduct, insert};
use common::ids::{TenantId, UserId};
use sqlx::PgPool;
use uuid::Uuid;

pub const DEMO_SLUG: &str = "warung-demo";
pub const DEMO_EMAIL: &str = "owner@warung-demo.test";
pub const DEMO_PASSWORD: &str = "demo-password-123";

const PRODUCTS: &[(&str, &str, i64, i64)] = &[
    ("IDM-GRG", "Indomie Goreng", 3_500, 200),
    ("TEH-BTL", "Teh Botol Sosro 450ml", 6_000, 120),
    ("AQUA-600", "Aqua 600ml", 4_000, 300),
    ("KOPI-KPL", "Kopi Kapal Api sachet", 2_000, 500),
    ("ROKOK-SMP", "Sampoerna Mild 16", 32_000, 50),
];

/// Create the demo shop if missing; returns its tenant id.
pub async fn demo(db: &PgPool) -> ApiResult<Uuid> {
    let existing: Option<(Uuid, Uuid)> = sqlx::query_as(
        "SELECT t.id, u.id FROM tenants t JOIN users u ON u.tenant_id = t.id AND u.role = 'owner' WHERE t.slug = $1 LIMIT 1",
    )
    .bind(DEMO_SLUG)
    .fetch_optional(db)
    .await?;
    let (tenant, owner) = match existing {
        Some(ids) => ids,
        None => {
            let new = NewTenant {
                name: "Warung Demo".to_owned(),
                slug: DEMO_SLUG.to_owned(),
                timezone: Some("Asia/Jakarta".to_owned()),
                owner: NewOwner {
                    email: DEMO_EMAIL.to_owned(),
                    password: DEMO_PASSWORD.to_owned(),
                    name: "Bu Sari".to_owned(),
                },
            };
            insert_tenant(db, new).await?
        }
    };
    let auth = AuthUser { user_id: UserId(owner), tenant_id: TenantId(tenant), role: Role::Owner, device_id: None };
    for (sku, name, price, stock) in PRODUCTS {
        let product = NewProduct {
            sku: (*sku).to_owned(),
            name: (*name).to_owned(),
            price: *price,
            stock: *stock,
            outlet_id: None,
        };
        match insert(db, &auth, &crate::audit::Trail::default(), &product).await {
            Ok(_) | Err(ApiError::Conflict { .. }) => {}
            Err(other) => return Err(other),
        }
    }
    Ok(tenant)
}
