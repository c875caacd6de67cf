//! Signing keys: the configured RS256 or EdDSA pair, or an Ed25519 key
//! generated into the data folder on first start and reused afterwards.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use base64::Engine;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{EncodePrivateKey, EncodePublicKey, KeypairBytes};
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use sha2::{Digest, Sha256};

use crate::config::ConfiguredKeys;

/// File name of the generated Ed25519 private key inside the data folder.
pub const GENERATED_KEY_FILE: &str = "jwt-ed25519.pem";

/// A public key that verifies tokens, with the id that tokens name it by.
pub struct VerifyingKey {
    pub algorithm: Algorithm,
    pub kid: String,
    pub decoding: DecodingKey,
}

impl VerifyingKey {
    /// Reads an RSA or Ed25519 public key from PEM text.
    pub fn from_public_pem(pem: &str) -> anyhow::Result<Self> {
        let (algorithm, decoding) = if let Ok(key) = DecodingKey::from_rsa_pem(pem.as_bytes()) {
            (Algorithm::RS256, key)
        } else if let Ok(key) = DecodingKey::from_ed_pem(pem.as_bytes()) {
            (Algorithm::EdDSA, key)
        } else {
            anyhow::bail!(
                "JWT_VERIFICATION_KEYS contains a key that is neither an RSA nor an Ed25519 public key"
            );
        };
        Ok(Self {
            algorithm,
            kid: key_id(&decoding, algorithm)?,
            decoding,
        })
    }

    /// Returns the key as a JSON Web Key for `/.well-known/jwks.json`.
    pub fn to_jwk(&self) -> anyhow::Result<Jwk> {
        let mut jwk = Jwk::from_decoding_key(&self.decoding, Some(self.algorithm))?;
        jwk.common.key_id = Some(self.kid.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        Ok(jwk)
    }
}

/// The key pair that signs and verifies tokens.
pub struct KeyPair {
    pub algorithm: Algorithm,
    /// Key id written into every token header; derived from the public key so
    /// every instance with the same key agrees on it.
    pub kid: String,
    pub encoding: EncodingKey,
    pub decoding: DecodingKey,
    /// The public half as PEM, for the JWKS document.
    pub public_pem: String,
}

impl KeyPair {
    /// Loads the configured keys, or the generated key from `data_dir`,
    /// generating it first when it does not exist.
    pub fn load(configured: Option<&ConfiguredKeys>, data_dir: &Path) -> anyhow::Result<Self> {
        match configured {
            Some(keys) => {
                Self::from_pem(keys.algorithm, keys.private_pem.expose(), &keys.public_pem)
            }
            None => Self::load_or_generate(data_dir),
        }
    }

    fn from_pem(algorithm: Algorithm, private_pem: &str, public_pem: &str) -> anyhow::Result<Self> {
        let (encoding, decoding) = match algorithm {
            Algorithm::RS256 => (
                EncodingKey::from_rsa_pem(private_pem.as_bytes())
                    .context("JWT_PRIVATE_KEY is not an RSA private key")?,
                DecodingKey::from_rsa_pem(public_pem.as_bytes())
                    .context("JWT_PUBLIC_KEY is not an RSA public key")?,
            ),
            Algorithm::EdDSA => (
                EncodingKey::from_ed_pem(private_pem.as_bytes())
                    .context("JWT_PRIVATE_KEY is not an Ed25519 private key")?,
                DecodingKey::from_ed_pem(public_pem.as_bytes())
                    .context("JWT_PUBLIC_KEY is not an Ed25519 public key")?,
            ),
            other => anyhow::bail!("unsupported JWT algorithm {other:?}"),
        };
        let pair = Self {
            algorithm,
            kid: key_id(&decoding, algorithm)?,
            encoding,
            decoding,
            public_pem: public_pem.to_owned(),
        };
        pair.check_pair()?;
        Ok(pair)
    }

    /// Signs and verifies a probe token so that a private key that does not
    /// match the public key stops the start instead of failing every login.
    fn check_pair(&self) -> anyhow::Result<()> {
        let header = jsonwebtoken::Header::new(self.algorithm);
        let claims = serde_json::json!({ "exp": u64::MAX / 2 });
        let token = jsonwebtoken::encode(&header, &claims, &self.encoding)
            .context("the signing key cannot sign")?;
        let validation = jsonwebtoken::Validation::new(self.algorithm);
        jsonwebtoken::decode::<serde_json::Value>(&token, &self.decoding, &validation)
            .context("JWT_PUBLIC_KEY does not match JWT_PRIVATE_KEY")?;
        Ok(())
    }

    /// Returns the public half as a [`VerifyingKey`].
    pub fn verifying_key(&self) -> anyhow::Result<VerifyingKey> {
        let mut key = VerifyingKey::from_public_pem(&self.public_pem)?;
        key.kid = self.kid.clone();
        Ok(key)
    }

    fn load_or_generate(data_dir: &Path) -> anyhow::Result<Self> {
        let path = data_dir.join(GENERATED_KEY_FILE);
        let signing = if path.exists() {
            let pem = std::fs::read_to_string(&path)
                .with_context(|| format!("failed to read {}", path.display()))?;
            ed25519_dalek::pkcs8::DecodePrivateKey::from_pkcs8_pem(&pem)
                .with_context(|| format!("{} is not an Ed25519 private key", path.display()))?
        } else {
            let signing = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
            write_private_key(&path, &signing)?;
            tracing::info!(path = %path.display(), "generated a new Ed25519 signing key");
            signing
        };
        let private_pem = signing
            .to_pkcs8_pem(LineEnding::LF)
            .context("failed to encode the Ed25519 private key")?;
        let public_pem = signing
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .context("failed to encode the Ed25519 public key")?;
        Self::from_pem(Algorithm::EdDSA, &private_pem, &public_pem)
    }
}

/// Generates a new Ed25519 key pair into `dir` as `jwt-private.pem` (mode
/// 0600) and `jwt-public.pem`, and returns both paths.
pub fn generate_key_files(dir: &Path) -> anyhow::Result<(std::path::PathBuf, std::path::PathBuf)> {
    let signing = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
    let private_path = dir.join("jwt-private.pem");
    let public_path = dir.join("jwt-public.pem");
    if public_path.exists() {
        anyhow::bail!(
            "{} already exists; move it away first",
            public_path.display()
        );
    }
    write_private_key(&private_path, &signing)?;
    let public_pem = signing
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .context("failed to encode the Ed25519 public key")?;
    std::fs::write(&public_path, public_pem)
        .with_context(|| format!("failed to write {}", public_path.display()))?;
    Ok((private_path, public_path))
}

fn write_private_key(path: &Path, key: &SigningKey) -> anyhow::Result<()> {
    // PKCS#8 version 1 (no embedded public key), which OpenSSL 3.0 reads too.
    let pem = KeypairBytes {
        secret_key: key.to_bytes(),
        public_key: None,
    }
    .to_pkcs8_pem(LineEnding::LF)
    .context("failed to encode the Ed25519 private key")?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("failed to create {} (check DATA_DIR)", parent.display()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("failed to create {}", path.display()))?;
    file.write_all(pem.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("failed to write {}", path.display()))
}

/// Derives the key id from the key itself: the RFC 7638 JWK thumbprint
/// (SHA-256 of the key's required members in a fixed order). The same key
/// gets the same id however its PEM was wrapped or encoded (PKCS#1 or SPKI).
fn key_id(decoding: &DecodingKey, algorithm: Algorithm) -> anyhow::Result<String> {
    let jwk = Jwk::from_decoding_key(decoding, Some(algorithm))
        .context("failed to describe the public key as a JWK")?;
    let members = match &jwk.algorithm {
        AlgorithmParameters::RSA(rsa) => {
            format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, rsa.e, rsa.n)
        }
        AlgorithmParameters::OctetKeyPair(okp) => {
            format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, okp.x)
        }
        _ => anyhow::bail!("unsupported public key type for {algorithm:?}"),
    };
    let digest = Sha256::digest(members.as_bytes());
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_id_ignores_pem_layout() {
        let signing = SigningKey::from_bytes(&[7; 32]);
        let public = signing.verifying_key();
        let unix = public.to_public_key_pem(LineEnding::LF).unwrap();
        let windows = public.to_public_key_pem(LineEnding::CRLF).unwrap();
        let id = |pem: &str| VerifyingKey::from_public_pem(pem).unwrap().kid;
        assert_ne!(unix, windows);
        assert_eq!(id(&unix), id(&windows));
        assert_eq!(id(&unix), id(&format!("\n{unix}\n")));
    }

    #[test]
    fn key_id_is_rfc_7638_thumbprint() {
        // The example key and thumbprint of RFC 7638, section 3.1.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        let key = DecodingKey::from_rsa_components(n, "AQAB").unwrap();
        assert_eq!(
            key_id(&key, Algorithm::RS256).unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }
}
