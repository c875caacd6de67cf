//! SQL for the `email_outbox` table. Emails are enqueued inside the
//! transaction of the change that causes them and claimed by the delivery
//! worker with a lease, so an instance that dies mid-send gives its emails
//! back once the lease runs out.

use chrono::{DateTime, Utc};
use sqlx::FromRow;
use uuid::Uuid;

use crate::db::{BeginWrite, Db};
use crate::on_pool;

/// An email ready to be stored in the outbox.
pub struct NewEmail<'a> {
    pub kind: &'static str,
    pub user_id: Option<Uuid>,
    pub recipient: &'a str,
    /// The formatted RFC 5322 message.
    pub message: Vec<u8>,
}

/// An email claimed for one delivery attempt.
#[derive(Debug, FromRow)]
pub struct ClaimedEmail {
    pub id: Uuid,
    pub kind: String,
    pub user_id: Option<Uuid>,
    pub recipient: String,
    pub message: Option<Vec<u8>>,
    /// Attempts so far, this one included.
    pub attempts: i32,
}

const ENQUEUE_SQL: &str = "INSERT INTO email_outbox \
     (id, kind, user_id, recipient, message, status, attempts, next_attempt_at, created_at) \
     VALUES ($1, $2, $3, $4, $5, 'queued', 0, $6, $6)";

/// Stores an email in the outbox on a connection that is inside the
/// caller's transaction, so the email exists exactly when the change does.
pub trait EnqueueEmail {
    fn enqueue_email(
        &mut self,
        email: &NewEmail<'_>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Uuid, sqlx::Error>> + Send;
}

macro_rules! impl_enqueue_email {
    ($connection:ty) => {
        impl EnqueueEmail for $connection {
            async fn enqueue_email(
                &mut self,
                email: &NewEmail<'_>,
                now: DateTime<Utc>,
            ) -> Result<Uuid, sqlx::Error> {
                let id = Uuid::new_v4();
                sqlx::query(ENQUEUE_SQL)
                    .bind(id)
                    .bind(email.kind)
                    .bind(email.user_id)
                    .bind(email.recipient)
                    .bind(&email.message)
                    .bind(now)
                    .execute(&mut *self)
                    .await?;
                Ok(id)
            }
        }
    };
}

impl_enqueue_email!(sqlx::PgConnection);
impl_enqueue_email!(sqlx::SqliteConnection);

/// Claims up to `limit` due emails for this instance until `lease_until`.
/// On PostgreSQL, `FOR UPDATE SKIP LOCKED` lets several instances claim at
/// once without taking the same row; SQLite has one writer at a time, so
/// its write transaction gives the same guarantee.
pub async fn claim_due(
    db: &Db,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<ClaimedEmail>, sqlx::Error> {
    const DUE: &str = "status = 'queued' AND next_attempt_at <= $2 \
         AND (locked_until IS NULL OR locked_until <= $2) \
         ORDER BY next_attempt_at, id LIMIT $3";
    const RETURNING: &str = " RETURNING id, kind, user_id, recipient, message, attempts";
    let sql = match db {
        Db::Postgres(_) => format!(
            "UPDATE email_outbox SET locked_until = $1, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM email_outbox WHERE {DUE} FOR UPDATE SKIP LOCKED){RETURNING}"
        ),
        Db::Sqlite(_) => format!(
            "UPDATE email_outbox SET locked_until = $1, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM email_outbox WHERE {DUE}){RETURNING}"
        ),
    };
    // Only the constant fragments above are spliced in.
    let sql = sqlx::AssertSqlSafe(sql);
    on_pool!(db, pool => {
        let mut tx = pool.begin_write().await?;
        let claimed = sqlx::query_as::<_, ClaimedEmail>(sql)
            .bind(lease_until)
            .bind(now)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(claimed)
    })
}

/// Marks an email delivered and drops its message, which contains a
/// single-use link that no one needs to read again.
pub async fn mark_sent(db: &Db, id: Uuid, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
    on_pool!(db, pool => {
        sqlx::query(
            "UPDATE email_outbox SET status = 'sent', sent_at = $2, message = NULL, \
             locked_until = NULL, last_error = NULL WHERE id = $1",
        )
        .bind(id)
        .bind(now)
        .execute(pool)
        .await
        .map(|_| ())
    })
}

/// Releases an email after a failed attempt so it is tried again at `retry_at`.
pub async fn schedule_retry(
    db: &Db,
    id: Uuid,
    retry_at: DateTime<Utc>,
    error: &str,
) -> Result<(), sqlx::Error> {
    on_pool!(db, pool => {
        sqlx::query(
            "UPDATE email_outbox SET next_attempt_at = $2, locked_until = NULL, last_error = $3 \
             WHERE id = $1",
        )
        .bind(id)
        .bind(retry_at)
        .bind(error)
        .execute(pool)
        .await
        .map(|_| ())
    })
}

/// Gives up on an email after its last attempt.
pub async fn mark_failed(db: &Db, id: Uuid, error: &str) -> Result<(), sqlx::Error> {
    on_pool!(db, pool => {
        sqlx::query(
            "UPDATE email_outbox SET status = 'failed', locked_until = NULL, last_error = $2 \
             WHERE id = $1",
        )
        .bind(id)
        .bind(error)
        .execute(pool)
        .await
        .map(|_| ())
    })
}

/// Counts outbox rows per status, for the metrics endpoint and tests.
pub async fn count_by_status(db: &Db) -> Result<Vec<(String, i64)>, sqlx::Error> {
    on_pool!(db, pool => {
        sqlx::query_as("SELECT status, COUNT(*) FROM email_outbox GROUP BY status ORDER BY status")
            .fetch_all(pool)
            .await
    })
}
