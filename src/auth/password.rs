//! Password hashing with argon2id, run on the blocking thread pool behind a
//! semaphore so that a flood of logins cannot occupy every blocking thread or
//! delay the async workers. Stored bcrypt hashes (`$2b$`, as the reference app
//! writes them) still verify and are flagged for an upgrade.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use argon2::{Argon2, PasswordHasher as _, PasswordVerifier as _};
use tokio::sync::Semaphore;

#[derive(Debug, PartialEq, Eq)]
pub enum Verification {
    Match { needs_rehash: bool },
    Mismatch,
}

#[derive(Clone)]
pub struct Passwords {
    permits: Arc<Semaphore>,
    /// Hash verified when the account does not exist, so that an unknown email
    /// costs the same work as a wrong password.
    dummy_hash: Arc<str>,
    /// Password verifications run so far, the dummy ones included.
    verifications: Arc<AtomicU64>,
}

impl Passwords {
    /// Creates the hasher with at most `concurrency` hashes computed at once.
    pub fn new(concurrency: usize) -> anyhow::Result<Self> {
        let dummy_hash = hash_blocking("postgate-dummy-password")?;
        Ok(Self {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            dummy_hash: dummy_hash.into(),
            verifications: Arc::default(),
        })
    }

    /// Hashes a new password with argon2id and a random salt.
    pub async fn hash(&self, password: String) -> anyhow::Result<String> {
        self.run(move || hash_blocking(&password)).await?
    }

    /// Verifies `password` against a stored hash, or against the dummy hash
    /// when `stored` is `None` (which then always reports a mismatch).
    pub async fn verify(
        &self,
        password: String,
        stored: Option<String>,
    ) -> anyhow::Result<Verification> {
        let known = stored.is_some();
        self.verifications.fetch_add(1, Ordering::Relaxed);
        let hash = stored.unwrap_or_else(|| self.dummy_hash.to_string());
        let verification = self.run(move || verify_blocking(&password, &hash)).await?;
        Ok(if known {
            verification
        } else {
            Verification::Mismatch
        })
    }

    /// Returns how many verifications this hasher has run, so tests can
    /// check that an unknown email costs the same work as a wrong password.
    pub fn verification_count(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        let _permit = self
            .permits
            .acquire()
            .await
            .context("password hasher is shut down")?;
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || span.in_scope(work))
            .await
            .context("password hashing task failed")
    }
}

fn hash_blocking(password: &str) -> anyhow::Result<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| anyhow::anyhow!("argon2 hashing failed: {e}"))
}

fn verify_blocking(password: &str, stored: &str) -> Verification {
    if stored.starts_with("$2") {
        // bcrypt only reads the first 72 bytes; the reference app had the same limit.
        return match bcrypt::verify(password, stored) {
            Ok(true) => Verification::Match { needs_rehash: true },
            Ok(false) => Verification::Mismatch,
            Err(error) => {
                tracing::warn!(%error, "stored bcrypt hash is unreadable; treating the password as wrong");
                Verification::Mismatch
            }
        };
    }
    match Argon2::default().verify_password(password.as_bytes(), stored) {
        Ok(()) => Verification::Match {
            needs_rehash: false,
        },
        Err(argon2::password_hash::Error::PasswordInvalid) => Verification::Mismatch,
        Err(error) => {
            tracing::warn!(%error, "stored password hash is unreadable; treating the password as wrong");
            Verification::Mismatch
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn argon2_hash_round_trips() {
        let passwords = Passwords::new(1).unwrap();
        let hash = passwords.hash("correct horse".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        let ok = passwords
            .verify("correct horse".into(), Some(hash.clone()))
            .await
            .unwrap();
        assert_eq!(
            ok,
            Verification::Match {
                needs_rehash: false
            }
        );
        let wrong = passwords
            .verify("wrong horse".into(), Some(hash))
            .await
            .unwrap();
        assert_eq!(wrong, Verification::Mismatch);
    }

    #[tokio::test]
    async fn bcrypt_hash_verifies_and_needs_rehash() {
        let passwords = Passwords::new(1).unwrap();
        let hash = bcrypt::hash("legacy password", 4).unwrap();
        let ok = passwords
            .verify("legacy password".into(), Some(hash))
            .await
            .unwrap();
        assert_eq!(ok, Verification::Match { needs_rehash: true });
    }

    #[tokio::test]
    async fn unknown_user_never_matches() {
        let passwords = Passwords::new(1).unwrap();
        let result = passwords
            .verify("postgate-dummy-password".into(), None)
            .await
            .unwrap();
        assert_eq!(result, Verification::Mismatch);
    }
}
