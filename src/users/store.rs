//! SQL for the `users` table.

use chrono::{DateTime, Utc};
use sqlx::FromRow;
use uuid::Uuid;

use crate::db::{BeginWrite, Db};
use crate::email::outbox::{EnqueueEmail, NewEmail};
use crate::on_pool;

/// A row of `users`. `password` is a PHC string (argon2id) or a bcrypt hash.
#[derive(Debug, Clone, FromRow)]
pub struct User {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    pub password: String,
    pub photo: String,
    pub verified: bool,
    pub role: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The columns of [`User`], as a literal so queries can be built with `concat!`.
macro_rules! user_columns {
    () => {
        "id, name, email, password, photo, verified, role, created_at, updated_at"
    };
}

/// A user about to be registered, with the hash of its verification token.
pub struct NewUser<'a> {
    pub id: Uuid,
    pub name: &'a str,
    pub email: &'a str,
    pub password_hash: &'a str,
    pub photo: &'a str,
    pub verification_code: &'a str,
    pub verification_expires_at: DateTime<Utc>,
}

pub enum InsertOutcome {
    Created(User),
    EmailTaken,
}

pub enum VerifyOutcome {
    Verified,
    Expired,
    NotFound,
}

/// A user and whether the session named in its access token is still live.
#[derive(Debug, FromRow)]
pub struct UserWithSession {
    #[sqlx(flatten)]
    pub user: User,
    pub session_live: bool,
}

/// Inserts an unverified user. The unique index on `email` decides between two
/// concurrent registrations of one address, so exactly one of them succeeds.
/// Inserts an unverified user and its verification email in one
/// transaction. The unique index on `email` decides between two concurrent
/// registrations of one address, so exactly one of them succeeds.
pub async fn insert_unverified(
    db: &Db,
    new: &NewUser<'_>,
    email: &NewEmail<'_>,
    now: DateTime<Utc>,
) -> Result<InsertOutcome, sqlx::Error> {
    let sql = concat!(
        "INSERT INTO users (id, name, email, password, photo, verified, verification_code, ",
        "verification_expires_at, role, created_at, updated_at) ",
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'user', $9, $9) RETURNING ",
        user_columns!()
    );
    on_pool!(db, pool => {
        let mut tx = pool.begin_write().await?;
        let inserted = sqlx::query_as::<_, User>(sql)
            .bind(new.id)
            .bind(new.name)
            .bind(new.email)
            .bind(new.password_hash)
            .bind(new.photo)
            .bind(false)
            .bind(new.verification_code)
            .bind(new.verification_expires_at)
            .bind(now)
            .fetch_one(&mut *tx)
            .await;
        let user = match inserted {
            Ok(user) => user,
            Err(sqlx::Error::Database(error)) if error.is_unique_violation() => {
                return Ok(InsertOutcome::EmailTaken);
            }
            Err(error) => return Err(error),
        };
        tx.enqueue_email(email, now).await?;
        tx.commit().await?;
        Ok(InsertOutcome::Created(user))
    })
}

/// Replaces the verification code of an unverified user and enqueues the
/// email with the new link, in one transaction. Returns false when the
/// user is verified by now, and then changes nothing.
pub async fn replace_verification_code(
    db: &Db,
    user_id: Uuid,
    code_hash: &str,
    expires_at: DateTime<Utc>,
    email: &NewEmail<'_>,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    on_pool!(db, pool => {
        let mut tx = pool.begin_write().await?;
        let updated = sqlx::query(
            "UPDATE users SET verification_code = $2, verification_expires_at = $3, updated_at = $4 \
             WHERE id = $1 AND verified = $5",
        )
        .bind(user_id)
        .bind(code_hash)
        .bind(expires_at)
        .bind(now)
        .bind(false)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated == 0 {
            return Ok(false);
        }
        tx.enqueue_email(email, now).await?;
        tx.commit().await?;
        Ok(true)
    })
}

pub async fn find_by_email(db: &Db, email: &str) -> Result<Option<User>, sqlx::Error> {
    let sql = concat!("SELECT ", user_columns!(), " FROM users WHERE email = $1");
    on_pool!(db, pool => sqlx::query_as::<_, User>(sql).bind(email).fetch_optional(pool).await)
}

pub async fn find_by_id(db: &Db, id: Uuid) -> Result<Option<User>, sqlx::Error> {
    let sql = concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1");
    on_pool!(db, pool => sqlx::query_as::<_, User>(sql).bind(id).fetch_optional(pool).await)
}

/// Loads a user and the liveness of one of its sessions in a single round
/// trip, so an authenticated request costs one query.
pub async fn find_with_session(
    db: &Db,
    user_id: Uuid,
    session_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<UserWithSession>, sqlx::Error> {
    let sql = concat!(
        "SELECT ",
        user_columns!(),
        ", EXISTS (SELECT 1 FROM sessions s WHERE s.id = $2 AND s.user_id = users.id ",
        "AND s.revoked_at IS NULL AND s.expires_at > $3) AS session_live FROM users WHERE id = $1"
    );
    on_pool!(db, pool => {
        sqlx::query_as::<_, UserWithSession>(sql)
            .bind(user_id)
            .bind(session_id)
            .bind(now)
            .fetch_optional(pool)
            .await
    })
}

/// Marks the user that owns `code_hash` as verified and consumes the code.
pub async fn verify_by_code(
    db: &Db,
    code_hash: &str,
    now: DateTime<Utc>,
) -> Result<VerifyOutcome, sqlx::Error> {
    on_pool!(db, pool => {
        let mut tx = pool.begin_write().await?;
        let updated = sqlx::query(
            "UPDATE users SET verified = $3, verification_code = NULL, verification_expires_at = NULL, \
             updated_at = $2 WHERE verification_code = $1 \
             AND (verification_expires_at IS NULL OR verification_expires_at > $2)",
        )
        .bind(code_hash)
        .bind(now)
        .bind(true)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let outcome = if updated > 0 {
            VerifyOutcome::Verified
        } else {
            let expired: Option<(Uuid,)> = sqlx::query_as("SELECT id FROM users WHERE verification_code = $1")
                .bind(code_hash)
                .fetch_optional(&mut *tx)
                .await?;
            if expired.is_some() { VerifyOutcome::Expired } else { VerifyOutcome::NotFound }
        };
        tx.commit().await?;
        Ok(outcome)
    })
}

/// Replaces the stored password hash, used to upgrade bcrypt hashes on login.
pub async fn update_password_hash(
    db: &Db,
    id: Uuid,
    hash: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    on_pool!(db, pool => {
        sqlx::query("UPDATE users SET password = $2, updated_at = $3 WHERE id = $1")
            .bind(id)
            .bind(hash)
            .bind(now)
            .execute(pool)
            .await
            .map(|_| ())
    })
}
