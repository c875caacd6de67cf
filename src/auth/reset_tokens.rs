//! SQL for `password_reset_tokens`: one live link per user, stored as the
//! SHA-256 of its token, consumed by the reset that uses it.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::db::{BeginWrite, Db};
use crate::email::outbox::{EnqueueEmail, NewEmail};
use crate::on_pool;

/// Replaces every reset link of a user with a new one and enqueues its
/// email, in one transaction.
pub async fn replace(
    db: &Db,
    user_id: Uuid,
    token_hash: &str,
    expires_at: DateTime<Utc>,
    email: &NewEmail<'_>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    on_pool!(db, pool => {
        let mut tx = pool.begin_write().await?;
        sqlx::query("DELETE FROM password_reset_tokens WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO password_reset_tokens (token_hash, user_id, expires_at, created_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(expires_at)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.enqueue_email(email, now).await?;
        tx.commit().await?;
        Ok(())
    })
}

/// Returns the user of a live (unused, unexpired) reset link.
pub async fn find_live(
    db: &Db,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<Uuid>, sqlx::Error> {
    on_pool!(db, pool => {
        let row: Option<(Uuid,)> = sqlx::query_as(
            "SELECT user_id FROM password_reset_tokens WHERE token_hash = $1 AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(pool)
        .await?;
        Ok(row.map(|(user_id,)| user_id))
    })
}

/// Consumes a live reset link, sets the user's new password hash, deletes
/// the user's other links and revokes every session, in one transaction.
/// The link proves that the user reads the address, so the account also
/// becomes verified and any pending verification link is spent.
/// Returns the user, or `None` when the link was used or expired meanwhile.
pub async fn consume(
    db: &Db,
    token_hash: &str,
    password_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<Uuid>, sqlx::Error> {
    on_pool!(db, pool => {
        let mut tx = pool.begin_write().await?;
        // Deleting the row is what makes the link single-use: of two
        // concurrent resets with one link, only one deletes it.
        let consumed: Option<(Uuid,)> = sqlx::query_as(
            "DELETE FROM password_reset_tokens WHERE token_hash = $1 AND expires_at > $2 RETURNING user_id",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((user_id,)) = consumed else {
            return Ok(None);
        };
        sqlx::query(
            "UPDATE users SET password = $2, updated_at = $3, verified = $4, \
             verification_code = NULL, verification_expires_at = NULL WHERE id = $1",
        )
        .bind(user_id)
        .bind(password_hash)
        .bind(now)
        .bind(true)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM password_reset_tokens WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL")
            .bind(user_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(user_id))
    })
}
