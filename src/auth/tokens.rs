//! JWT access and refresh tokens. Claims follow the reference app
//! (`sub`, `iat`, `nbf`, `exp`, `jti`, `type`, `fresh`) plus `sid`, the
//! session the token belongs to, so that revoking a session stops its tokens.

use std::time::Duration;

use jsonwebtoken::{Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use jsonwebtoken::jwk::JwkSet;

use super::keys::{KeyPair, VerifyingKey};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenType {
    Access,
    Refresh,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
    #[serde(rename = "type")]
    pub token_type: TokenType,
    #[serde(default)]
    pub fresh: bool,
    pub sid: Uuid,
}

/// A token's verified identity: the user and session it names.
#[derive(Debug, Clone, Copy)]
pub struct VerifiedToken {
    pub user_id: Uuid,
    pub session_id: Uuid,
    pub jti: Uuid,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid token: {0}")]
pub struct InvalidToken(&'static str);

pub struct Tokens {
    keys: KeyPair,
    /// Every key that verifies tokens: the signing key's public half first,
    /// then the configured extra verification keys.
    verifying: Vec<VerifyingKey>,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
}

impl Tokens {
    pub fn new(
        keys: KeyPair,
        extra_verifying: Vec<VerifyingKey>,
        access_ttl: Duration,
        refresh_ttl: Duration,
    ) -> anyhow::Result<Self> {
        let mut verifying = vec![keys.verifying_key()?];
        verifying.extend(extra_verifying);
        Ok(Self {
            keys,
            verifying,
            access_ttl,
            refresh_ttl,
        })
    }

    /// Returns the public keys as a JWK set, for other services that verify
    /// postgate's access tokens.
    pub fn jwks(&self) -> anyhow::Result<JwkSet> {
        let keys = self
            .verifying
            .iter()
            .map(VerifyingKey::to_jwk)
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(JwkSet { keys })
    }

    /// Signs a token of `token_type` for a user's session.
    pub fn issue(
        &self,
        token_type: TokenType,
        user_id: Uuid,
        session_id: Uuid,
        jti: Uuid,
    ) -> anyhow::Result<String> {
        let now = chrono::Utc::now().timestamp();
        let ttl = match token_type {
            TokenType::Access => self.access_ttl,
            TokenType::Refresh => self.refresh_ttl,
        };
        let claims = Claims {
            sub: user_id.to_string(),
            iat: now,
            nbf: now,
            exp: now + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 4),
            jti: jti.to_string(),
            token_type,
            fresh: false,
            sid: session_id,
        };
        let mut header = Header::new(self.keys.algorithm);
        header.kid = Some(self.keys.kid.clone());
        Ok(jsonwebtoken::encode(&header, &claims, &self.keys.encoding)?)
    }

    /// Checks the signature, algorithm, key id, time claims and type of a token.
    pub fn verify(&self, token: &str, expected: TokenType) -> Result<VerifiedToken, InvalidToken> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| InvalidToken("malformed"))?;
        // Every token postgate issues names its key, so a token without a
        // `kid` was not issued here.
        let kid = header.kid.ok_or(InvalidToken("missing key id"))?;
        let key = self
            .verifying
            .iter()
            .find(|key| key.kid == kid)
            .ok_or(InvalidToken("unknown key id"))?;
        // Only the key's own algorithm is accepted, which rules out `none`
        // and an HMAC signature made with the public key as the secret.
        let mut validation = Validation::new(key.algorithm);
        validation.leeway = 0;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "nbf", "sub"]);
        let data = jsonwebtoken::decode::<Claims>(token, &key.decoding, &validation)
            .map_err(|_| InvalidToken("signature or claims rejected"))?;
        let claims = data.claims;
        if claims.token_type != expected {
            return Err(InvalidToken("wrong token type"));
        }
        let user_id =
            Uuid::parse_str(&claims.sub).map_err(|_| InvalidToken("sub is not a UUID"))?;
        let jti = Uuid::parse_str(&claims.jti).map_err(|_| InvalidToken("jti is not a UUID"))?;
        Ok(VerifiedToken {
            user_id,
            session_id: claims.sid,
            jti,
        })
    }
}
