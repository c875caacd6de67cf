//! The delivery worker: runs beside the HTTP server, claims due emails from
//! the outbox, sends them and records the outcome, retrying failures with
//! exponential backoff and jitter.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::join_all;
use tokio::sync::{Notify, watch};

use super::Mailer;
use super::outbox::{self, ClaimedEmail};
use crate::config::OutboxSettings;
use crate::db::{self, Db};

/// Emails claimed per round; they are sent concurrently.
const BATCH_SIZE: i64 = 10;

pub struct Worker {
    pub db: Db,
    pub mailer: Mailer,
    pub settings: OutboxSettings,
    /// Notified after a request commits an email, so it goes out at once
    /// instead of at the next poll.
    pub wake: Arc<Notify>,
}

impl Worker {
    /// Delivers emails until `stop` turns true, then finishes the emails it
    /// already claimed and returns.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        tracing::info!("email delivery worker started");
        while !*stop.borrow() {
            let now = db::now();
            let lease_until = now + to_chrono(self.settings.lease);
            let claimed = match outbox::claim_due(&self.db, now, lease_until, BATCH_SIZE).await {
                Ok(claimed) => claimed,
                Err(error) => {
                    tracing::error!(%error, "failed to claim emails from the outbox; retrying after the poll interval");
                    Vec::new()
                }
            };
            if claimed.is_empty() {
                tokio::select! {
                    () = self.wake.notified() => {}
                    () = tokio::time::sleep(self.settings.poll_interval) => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
            join_all(claimed.into_iter().map(|email| self.deliver(email))).await;
        }
        tracing::info!("email delivery worker stopped");
    }

    async fn deliver(&self, email: ClaimedEmail) {
        let result = match &email.message {
            Some(message) => self.mailer.send_raw(&email.recipient, message).await,
            None => Err(anyhow::anyhow!("the outbox row has no message")),
        };
        let recorded = match result {
            Ok(()) => {
                tracing::info!(email_id = %email.id, kind = %email.kind, user_id = ?email.user_id, attempts = email.attempts, "delivered an email");
                metrics::counter!("postgate_emails_sent_total", "kind" => email.kind.clone())
                    .increment(1);
                outbox::mark_sent(&self.db, email.id, db::now()).await
            }
            Err(error) => self.record_failure(&email, &format!("{error:#}")).await,
        };
        if let Err(error) = recorded {
            // The lease runs out and the email is claimed again, so it may
            // be sent twice, but it is not lost.
            tracing::error!(email_id = %email.id, %error, "failed to record the outcome of an email delivery");
        }
    }

    async fn record_failure(&self, email: &ClaimedEmail, error: &str) -> Result<(), sqlx::Error> {
        let attempts = u32::try_from(email.attempts).unwrap_or(u32::MAX);
        if attempts >= self.settings.max_attempts {
            tracing::error!(email_id = %email.id, kind = %email.kind, user_id = ?email.user_id, attempts, error, "email delivery failed for the last time; marked failed");
            metrics::counter!("postgate_emails_failed_total", "kind" => email.kind.clone())
                .increment(1);
            return outbox::mark_failed(&self.db, email.id, error).await;
        }
        let delay = retry_delay(&self.settings, attempts, rand::random::<f64>());
        let retry_at: DateTime<Utc> = db::now() + to_chrono(delay);
        tracing::warn!(email_id = %email.id, kind = %email.kind, attempts, retry_in_seconds = delay.as_secs_f64(), error, "email delivery failed; will retry");
        metrics::counter!("postgate_email_retries_total", "kind" => email.kind.clone())
            .increment(1);
        outbox::schedule_retry(&self.db, email.id, retry_at, error).await
    }
}

/// Returns the wait before the next attempt after `attempts` failures:
/// `retry_base * 2^(attempts - 1)`, capped at `retry_max`, times a jitter
/// factor between 0.5 and 1.5 taken from `random` (in 0..1) so that emails
/// that failed together do not retry together.
pub fn retry_delay(settings: &OutboxSettings, attempts: u32, random: f64) -> Duration {
    let exponent = attempts.saturating_sub(1).min(30);
    let backoff = settings
        .retry_base
        .saturating_mul(1 << exponent)
        .min(settings.retry_max);
    backoff.mul_f64(0.5 + random.clamp(0.0, 1.0))
}

fn to_chrono(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> OutboxSettings {
        OutboxSettings {
            max_attempts: 8,
            retry_base: Duration::from_secs(30),
            retry_max: Duration::from_secs(3600),
            lease: Duration::from_secs(300),
            poll_interval: Duration::from_secs(5),
        }
    }

    #[test]
    fn retry_delay_doubles_each_attempt() {
        assert_eq!(retry_delay(&settings(), 1, 0.5), Duration::from_secs(30));
        assert_eq!(retry_delay(&settings(), 2, 0.5), Duration::from_secs(60));
        assert_eq!(retry_delay(&settings(), 3, 0.5), Duration::from_secs(120));
    }

    #[test]
    fn retry_delay_is_capped() {
        assert_eq!(retry_delay(&settings(), 20, 0.5), Duration::from_secs(3600));
        assert_eq!(
            retry_delay(&settings(), u32::MAX, 0.5),
            Duration::from_secs(3600)
        );
    }

    #[test]
    fn retry_delay_jitter_bounds() {
        assert_eq!(retry_delay(&settings(), 1, 0.0), Duration::from_secs(15));
        assert_eq!(retry_delay(&settings(), 1, 1.0), Duration::from_secs(45));
    }
}
