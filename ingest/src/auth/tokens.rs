//! Access tokens (JWT, HS256 pinned, signed with `JWT_SECRET`, short-lived,
//! tenant and role in the claims) and refresh tokens (opaque random
//! strings; only an HMAC keyed with `JWT_REFRESH_SECRET` is stored).

use super::Role;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::config::Secrets;
use common::ids::{TenantId, UserId};
use hmac::{Hmac, KeyInit, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::time::Duration;

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: UserId,
    pub tid: TenantId,
    pub role: Role,
    pub iat: u64,
    pub exp: u64,
}

#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    refresh_key: Vec<u8>,
    internal_key_digest: [u8; 32],
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the token has expired")]
    Expired,
    #[error("the token is invalid")]
    Invalid,
}

impl TokenKeys {
    pub fn new(secrets: &Secrets, access_ttl: Duration, refresh_ttl: Duration) -> Self {
        let secret = secrets.jwt_secret.expose().as_bytes();
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            refresh_key: secrets.jwt_refresh_secret.expose().as_bytes().to_vec(),
            internal_key_digest: Sha256::digest(secrets.internal_api_key.expose().as_bytes()).into(),
            access_ttl,
            refresh_ttl,
        }
    }

    pub fn issue_access(
        &self,
        user: UserId,
        tenant: TenantId,
        role: Role,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let now = jsonwebtoken::get_current_timestamp();
        let claims = Claims { sub: user, tid: tenant, role, iat: now, exp: now + self.access_ttl.as_secs() };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
    }

    pub fn verify_access(&self, token: &str) -> Result<Claims, TokenError> {
        // Only HS256 is accepted: `none` and every other algorithm fail here.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation).map(|data| data.claims).map_err(|e| match e
            .kind()
        {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
            _ => TokenError::Invalid,
        })
    }

    /// A new refresh token and the digest to store for it. The token names
    /// its tenant in the clear (`<tenant>.<secret>`), so a refresh can look it
    /// up inside that tenant's rows only.
    pub fn new_refresh(&self, tenant: TenantId) -> (String, Vec<u8>) {
        let token = format!("{tenant}.{}", URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>()));
        let digest = self.refresh_digest(&token);
        (token, digest)
    }

    pub fn refresh_digest(&self, token: &str) -> Vec<u8> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.refresh_key).unwrap_or_else(|_| {
            // HMAC takes keys of any length; this branch cannot be reached.
            <Hmac<Sha256> as KeyInit>::new_from_slice(b"unreachable").expect("fixed-length key")
        });
        mac.update(token.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// Constant-time check of an `X-Internal-Api-Key` value.
    pub fn internal_key_matches(&self, presented: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        digest.iter().zip(self.internal_key_digest.iter()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

/// The tenant a refresh token names, when it is well formed.
pub fn tenant_of(token: &str) -> Option<TenantId> {
    let (tenant, _) = token.split_once('.')?;
    uuid::Uuid::parse_str(tenant).ok().map(TenantId)
}
