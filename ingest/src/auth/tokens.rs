//! Access tokens (JWT, HS256 pinned, signed with `JWT_SECRET`, short-lived,
//! tenant, role, the user's token version and the till in the claims), till
//! tokens (a registered device signed in, before a cashier's PIN) and
//! refresh tokens (opaque random strings; only an HMAC keyed with
//! `JWT_REFRESH_SECRET` is stored).

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
    /// The user's `token_version` when issued; a newer one ends the token.
    /// Tokens from before versions existed read as 0, the first version.
    #[serde(default)]
    pub ver: i64,
    /// The registered till the cashier signed in on with a PIN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dev: Option<uuid::Uuid>,
    pub iat: u64,
    pub exp: u64,
}

/// Who an access token is for.
#[derive(Clone, Copy, Debug)]
pub struct Grant {
    pub user: UserId,
    pub tenant: TenantId,
    pub role: Role,
    pub version: i64,
    pub device: Option<uuid::Uuid>,
}

/// A till's token: it may only open cashiers' sessions (`/api/auth/pin`).
/// `typ` tells it apart; it has no `sub` or `role`, so it can never pass
/// as an access token.
#[derive(Debug, Serialize, Deserialize)]
pub struct DeviceClaims {
    pub typ: String,
    pub dev: uuid::Uuid,
    pub tid: TenantId,
    pub iat: u64,
    pub exp: u64,
}

pub const DEVICE_TOKEN_TYPE: &str = "till";

#[derive(Clone)]
pub struct TokenKeys {
    /// Signs new access tokens; its id goes in the token header (`kid`).
    signing: (String, EncodingKey),
    /// Every key a token may be verified with: the current one and, during a
    /// rotation, the previous one, by key id.
    verifying: Vec<(String, DecodingKey)>,
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

/// A key's id: the first 16 hex digits of its SHA-256 (never the key).
fn key_id(secret: &[u8]) -> String {
    common::order::hex(&Sha256::digest(secret))[..16].to_owned()
}

impl TokenKeys {
    pub fn new(secrets: &Secrets, access_ttl: Duration, refresh_ttl: Duration) -> Self {
        let current = secrets.jwt_secret.expose().as_bytes();
        let mut verifying = vec![(key_id(current), DecodingKey::from_secret(current))];
        if let Some(previous) = &secrets.jwt_secret_previous {
            let previous = previous.expose().as_bytes();
            verifying.push((key_id(previous), DecodingKey::from_secret(previous)));
        }
        Self {
            signing: (key_id(current), EncodingKey::from_secret(current)),
            verifying,
            refresh_key: secrets.jwt_refresh_secret.expose().as_bytes().to_vec(),
            internal_key_digest: Sha256::digest(secrets.internal_api_key.expose().as_bytes()).into(),
            access_ttl,
            refresh_ttl,
        }
    }

    /// An access token issued at `iat` (seconds): the same inputs give the
    /// same token, which lets a repeated refresh get the same pair back.
    pub fn issue_access(&self, grant: Grant, iat: u64) -> Result<String, jsonwebtoken::errors::Error> {
        let claims = Claims {
            sub: grant.user,
            tid: grant.tenant,
            role: grant.role,
            ver: grant.version,
            dev: grant.device,
            iat,
            exp: iat + self.access_ttl.as_secs(),
        };
        self.sign(&claims)
    }

    /// A till's token, good for `DEVICE_TOKEN_TTL`.
    pub fn issue_device(&self, device: uuid::Uuid, tenant: TenantId) -> Result<String, jsonwebtoken::errors::Error> {
        let iat = jsonwebtoken::get_current_timestamp();
        let exp = iat + DEVICE_TOKEN_TTL.as_secs();
        self.sign(&DeviceClaims { typ: DEVICE_TOKEN_TYPE.to_owned(), dev: device, tid: tenant, iat, exp })
    }

    fn sign(&self, claims: &impl Serialize) -> Result<String, jsonwebtoken::errors::Error> {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.signing.0.clone());
        jsonwebtoken::encode(&header, claims, &self.signing.1)
    }

    pub fn verify_access(&self, token: &str) -> Result<Claims, TokenError> {
        self.verify(token)
    }

    pub fn verify_device(&self, token: &str) -> Result<DeviceClaims, TokenError> {
        self.verify::<DeviceClaims>(token).and_then(|c| match c.typ == DEVICE_TOKEN_TYPE {
            true => Ok(c),
            false => Err(TokenError::Invalid),
        })
    }

    fn verify<C: serde::de::DeserializeOwned>(&self, token: &str) -> Result<C, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
        // HS256 only: `none` and every other algorithm fail here.
        if header.alg != Algorithm::HS256 {
            return Err(TokenError::Invalid);
        }
        let key = match header.kid {
            Some(kid) => self.verifying.iter().find(|(id, _)| *id == kid).map(|(_, key)| key),
            None => self.verifying.first().map(|(_, key)| key),
        }
        .ok_or(TokenError::Invalid)?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        jsonwebtoken::decode::<C>(token, key, &validation).map(|data| data.claims).map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
            _ => TokenError::Invalid,
        })
    }

    /// A new refresh token and the digest to store for it. The token names
    /// its tenant in the clear (`<tenant>.<secret>`), so a refresh can look it
    /// up inside that tenant's rows only.
    pub fn new_refresh(&self, tenant: TenantId) -> String {
        format!("{tenant}.{}", URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>()))
    }

    /// The refresh token that replaces `token` on rotation, derived from it
    /// (so a repeat within the grace window gets the same one back).
    pub fn successor(&self, token: &str) -> String {
        let tenant = token.split_once('.').map_or("", |(t, _)| t);
        let derived = self.mac(&format!("successor:{token}"));
        format!("{tenant}.{}", URL_SAFE_NO_PAD.encode(derived))
    }

    pub fn refresh_digest(&self, token: &str) -> Vec<u8> {
        self.mac(token)
    }

    fn mac(&self, text: &str) -> Vec<u8> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.refresh_key).unwrap_or_else(|_| {
            // HMAC takes keys of any length; this branch cannot be reached.
            <Hmac<Sha256> as KeyInit>::new_from_slice(b"unreachable").expect("fixed-length key")
        });
        mac.update(text.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// Constant-time check of an `X-Internal-Api-Key` value.
    pub fn internal_key_matches(&self, presented: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        digest.iter().zip(self.internal_key_digest.iter()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

/// How long a till stays signed in without its secret again. Revoking the
/// device ends it at once, whatever is left.
pub const DEVICE_TOKEN_TTL: Duration = Duration::from_secs(12 * 3600);

/// The tenant a refresh token names, when it is well formed.
pub fn tenant_of(token: &str) -> Option<TenantId> {
    let (tenant, _) = token.split_once('.')?;
    uuid::Uuid::parse_str(tenant).ok().map(TenantId)
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::config::Secret;

    fn keys(current: &str, previous: Option<&str>) -> TokenKeys {
        let secrets = Secrets {
            jwt_secret: Secret::new(current),
            jwt_secret_previous: previous.map(Secret::new),
            jwt_refresh_secret: Secret::new("refresh-secret-0123456789abcdef0123456789"),
            internal_api_key: Secret::new("internal-key-0123456789abcdef0123456789ab"),
        };
        TokenKeys::new(&secrets, Duration::from_secs(900), Duration::from_secs(3600))
    }

    fn grant(role: Role) -> Grant {
        Grant { user: UserId::generate(), tenant: TenantId::generate(), role, version: 3, device: None }
    }

    #[test]
    fn a_till_token_is_never_an_access_token_nor_the_reverse() {
        let k = keys("secret-0123456789abcdef0123456789abcdefgh", None);
        let till = k.issue_device(uuid::Uuid::now_v7(), TenantId::generate()).unwrap();
        assert!(k.verify_access(&till).is_err());
        assert!(k.verify_device(&till).is_ok());
        let access = k.issue_access(grant(Role::Owner), jsonwebtoken::get_current_timestamp()).unwrap();
        assert!(k.verify_device(&access).is_err());
        assert_eq!(k.verify_access(&access).unwrap().ver, 3);
    }

    #[test]
    fn a_rotation_keeps_tokens_of_the_previous_key_valid_and_nothing_else() {
        let old = keys("old-secret-0123456789abcdef0123456789abcd", None);
        let now = jsonwebtoken::get_current_timestamp();
        let token = old.issue_access(grant(Role::Cashier), now).unwrap();
        let rotated =
            keys("new-secret-0123456789abcdef0123456789abcd", Some("old-secret-0123456789abcdef0123456789abcd"));
        assert!(rotated.verify_access(&token).is_ok(), "signed with the previous key");
        let after = keys("new-secret-0123456789abcdef0123456789abcd", None);
        assert!(after.verify_access(&token).is_err(), "once the previous key is retired");
        let fresh = rotated.issue_access(grant(Role::Owner), now).unwrap();
        assert!(after.verify_access(&fresh).is_ok(), "new tokens use the new key");
    }

    #[test]
    fn rotation_is_deterministic_so_a_repeat_gets_the_same_pair() {
        let k = keys("secret-0123456789abcdef0123456789abcdefgh", None);
        let first = k.new_refresh(TenantId::generate());
        assert_eq!(k.successor(&first), k.successor(&first));
        assert_ne!(k.successor(&first), first);
        assert_eq!(tenant_of(&k.successor(&first)), tenant_of(&first));
    }
}
