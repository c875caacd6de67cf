//! SQL for the `sessions` table: one row per login, whose refresh token
//! rotates in place on every refresh.

use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::db::{BeginWrite, Db};
use crate::on_pool;

pub struct NewSession<'a> {
    pub id: Uuid,
    pub user_id: Uuid,
    pub refresh_jti: Uuid,
    pub expires_at: DateTime<Utc>,
    pub user_agent: Option<&'a str>,
    pub ip: Option<&'a str>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// The presented token was the live one; it is now retired and `new_jti` is live.
    Rotated { user_id: Uuid },
    /// The presented token was retired within the reuse interval: two clients
    /// refreshed at once. It earns an access token but no new refresh token.
    Grace { user_id: Uuid },
    /// The presented token was retired earlier; the session is now revoked.
    Reused,
    /// Unknown, revoked or expired session.
    Invalid,
}

pub async fn create(
    db: &Db,
    session: &NewSession<'_>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    on_pool!(db, pool => {
        sqlx::query(
            "INSERT INTO sessions (id, user_id, refresh_jti, created_at, last_used_at, expires_at, user_agent, ip) \
             VALUES ($1, $2, $3, $4, $4, $5, $6, $7)",
        )
        .bind(session.id)
        .bind(session.user_id)
        .bind(session.refresh_jti)
        .bind(now)
        .bind(session.expires_at)
        .bind(session.user_agent)
        .bind(session.ip)
        .execute(pool)
        .await
        .map(|_| ())
    })
}

/// Rotates the refresh token `jti` of session `id` to `new_jti`, or decides
/// why it cannot. Runs in one transaction so that two concurrent refreshes
/// with the same token rotate once.
pub async fn rotate(
    db: &Db,
    id: Uuid,
    jti: Uuid,
    new_jti: Uuid,
    now: DateTime<Utc>,
    new_expires_at: DateTime<Utc>,
    reuse_interval: Duration,
) -> Result<RefreshOutcome, sqlx::Error> {
    on_pool!(db, pool => {
        let mut tx = pool.begin_write().await?;
        let rotated: Option<(Uuid,)> = sqlx::query_as(
            "UPDATE sessions SET previous_refresh_jti = refresh_jti, refresh_jti = $3, rotated_at = $4, \
             last_used_at = $4, expires_at = $5 \
             WHERE id = $1 AND refresh_jti = $2 AND revoked_at IS NULL AND expires_at > $4 RETURNING user_id",
        )
        .bind(id)
        .bind(jti)
        .bind(new_jti)
        .bind(now)
        .bind(new_expires_at)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some((user_id,)) = rotated {
            tx.commit().await?;
            return Ok(RefreshOutcome::Rotated { user_id });
        }

        type SessionState = (Uuid, Option<Uuid>, Option<DateTime<Utc>>, Option<DateTime<Utc>>, DateTime<Utc>);
        let state: Option<SessionState> = sqlx::query_as(
            "SELECT user_id, previous_refresh_jti, rotated_at, revoked_at, expires_at FROM sessions WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((user_id, previous, rotated_at, revoked_at, expires_at)) = state else {
            return Ok(RefreshOutcome::Invalid);
        };
        if revoked_at.is_some() || expires_at <= now {
            return Ok(RefreshOutcome::Invalid);
        }
        let within_interval = rotated_at
            .and_then(|at| chrono::Duration::from_std(reuse_interval).ok().map(|d| now <= at + d))
            .unwrap_or(false);
        if previous == Some(jti) && within_interval {
            return Ok(RefreshOutcome::Grace { user_id });
        }

        sqlx::query("UPDATE sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(RefreshOutcome::Reused)
    })
}

/// A live session as `GET /api/auth/sessions` lists it.
#[derive(Debug, sqlx::FromRow)]
pub struct LiveSession {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

/// Lists the user's sessions that are neither revoked nor expired, most recently used first.
pub async fn list_live(
    db: &Db,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Vec<LiveSession>, sqlx::Error> {
    on_pool!(db, pool => {
        sqlx::query_as::<_, LiveSession>(
            "SELECT id, created_at, last_used_at, user_agent, ip FROM sessions \
             WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 \
             ORDER BY last_used_at DESC, id DESC",
        )
        .bind(user_id)
        .bind(now)
        .fetch_all(pool)
        .await
    })
}

/// Revokes session `id` if it is a live session of `user_id`; returns whether it was.
pub async fn revoke_own(
    db: &Db,
    id: Uuid,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    on_pool!(db, pool => {
        sqlx::query(
            "UPDATE sessions SET revoked_at = $3 \
             WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL AND expires_at > $3",
        )
        .bind(id)
        .bind(user_id)
        .bind(now)
        .execute(pool)
        .await
        .map(|result| result.rows_affected() > 0)
    })
}

/// Revokes every session of a user and returns how many were live.
pub async fn revoke_all(db: &Db, user_id: Uuid, now: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    on_pool!(db, pool => {
        sqlx::query("UPDATE sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL")
            .bind(user_id)
            .bind(now)
            .execute(pool)
            .await
            .map(|result| result.rows_affected())
    })
}

/// Revokes one session; revoking twice is harmless.
pub async fn revoke(db: &Db, id: Uuid, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
    on_pool!(db, pool => {
        sqlx::query("UPDATE sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(id)
            .bind(now)
            .execute(pool)
            .await
            .map(|_| ())
    })
}
