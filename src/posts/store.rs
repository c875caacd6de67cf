//! SQL for the `posts` table. Ownership is part of each `UPDATE` and `DELETE`,
//! so the 403/404 decision and the change happen in one transaction.

use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, FromRow};
use uuid::Uuid;

use crate::db::{BeginWrite, Db};
use crate::on_pool;

/// A post joined with the author fields that responses embed.
#[derive(Debug, FromRow)]
pub struct PostRow {
    pub id: Uuid,
    pub title: String,
    pub content: String,
    pub category: String,
    pub image: String,
    pub user_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub user_name: String,
    pub user_email: String,
    pub user_photo: String,
}

pub struct NewPost<'a> {
    pub title: &'a str,
    pub content: &'a str,
    pub category: &'a str,
    pub image: &'a str,
}

/// Fields to change; `None` keeps the stored value.
pub struct PostChanges {
    pub title: Option<String>,
    pub content: Option<String>,
    pub category: Option<String>,
    pub image: Option<String>,
}

pub enum ChangeOutcome<T> {
    Done(T),
    NotFound,
    NotAuthor,
}

/// The `SELECT … FROM` of [`PostRow`], as a literal so queries can be built with `concat!`.
macro_rules! select_post {
    () => {
        "SELECT p.id, p.title, p.content, p.category, p.image, p.user_id, p.created_at, \
         p.updated_at, u.name AS user_name, u.email AS user_email, u.photo AS user_photo \
         FROM posts p JOIN users u ON u.id = p.user_id"
    };
}

const SELECT_POST_BY_ID: &str = concat!(select_post!(), " WHERE p.id = $1");

/// Returns the number of posts whose title contains `search` (case-insensitive,
/// taken literally) and one page of them, newest first with the id as tie-breaker.
pub async fn list(
    db: &Db,
    search: &str,
    limit: i64,
    offset: i64,
) -> Result<(i64, Vec<PostRow>), sqlx::Error> {
    // The title filter is the only SQL that differs: PostgreSQL has ILIKE,
    // while SQLite's LIKE folds ASCII only, so it gets a case-insensitive
    // regular expression (Unicode-aware, from sqlx's REGEXP function).
    let (filter, pattern) = match db {
        Db::Postgres(_) => (
            "p.title ILIKE $1 ESCAPE '\\'",
            format!("%{}%", escape_like(search)),
        ),
        Db::Sqlite(_) => (
            "p.title REGEXP $1",
            format!("(?i){}", regex::escape(search)),
        ),
    };
    let filter = if search.is_empty() { "$1 = $1" } else { filter };
    // Only the fixed filter strings above are spliced in; user input is bound.
    let count_sql = AssertSqlSafe(format!("SELECT COUNT(*) FROM posts p WHERE {filter}"));
    let page_sql = AssertSqlSafe(format!(
        concat!(
            select_post!(),
            " WHERE {} ORDER BY p.created_at DESC, p.id DESC LIMIT $2 OFFSET $3"
        ),
        filter
    ));
    on_pool!(db, pool => {
        let (total,): (i64,) = sqlx::query_as(count_sql).bind(&pattern).fetch_one(pool).await?;
        let rows = sqlx::query_as::<_, PostRow>(page_sql)
            .bind(&pattern)
            .bind(limit)
            .bind(offset)
            .fetch_all(pool)
            .await?;
        Ok((total, rows))
    })
}

fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

pub async fn find(db: &Db, id: Uuid) -> Result<Option<PostRow>, sqlx::Error> {
    on_pool!(db, pool => sqlx::query_as::<_, PostRow>(SELECT_POST_BY_ID).bind(id).fetch_optional(pool).await)
}

pub async fn insert(
    db: &Db,
    author: Uuid,
    post: &NewPost<'_>,
    now: DateTime<Utc>,
) -> Result<PostRow, sqlx::Error> {
    let id = Uuid::new_v4();
    on_pool!(db, pool => {
        let mut tx = pool.begin_write().await?;
        sqlx::query(
            "INSERT INTO posts (id, user_id, title, content, category, image, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(id)
        .bind(author)
        .bind(post.title)
        .bind(post.content)
        .bind(post.category)
        .bind(post.image)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query_as::<_, PostRow>(SELECT_POST_BY_ID).bind(id).fetch_one(&mut *tx).await?;
        tx.commit().await?;
        Ok(row)
    })
}

/// Applies `changes` when `author` wrote post `id`, and returns the updated post.
pub async fn update(
    db: &Db,
    id: Uuid,
    author: Uuid,
    changes: &PostChanges,
    now: DateTime<Utc>,
) -> Result<ChangeOutcome<Option<PostRow>>, sqlx::Error> {
    on_pool!(db, pool => {
        let mut tx = pool.begin_write().await?;
        let updated = sqlx::query(
            "UPDATE posts SET title = COALESCE($3, title), content = COALESCE($4, content), \
             category = COALESCE($5, category), image = COALESCE($6, image), \
             updated_at = CASE WHEN $3 IS NULL AND $4 IS NULL AND $5 IS NULL AND $6 IS NULL \
             THEN updated_at ELSE $7 END \
             WHERE id = $1 AND user_id = $2",
        )
        .bind(id)
        .bind(author)
        .bind(changes.title.as_deref())
        .bind(changes.content.as_deref())
        .bind(changes.category.as_deref())
        .bind(changes.image.as_deref())
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated == 0 {
            let outcome = missing_or_foreign(&mut tx, id).await?;
            return Ok(outcome);
        }
        let row = sqlx::query_as::<_, PostRow>(SELECT_POST_BY_ID).bind(id).fetch_optional(&mut *tx).await?;
        tx.commit().await?;
        Ok(ChangeOutcome::Done(row))
    })
}

/// Deletes post `id` when `author` wrote it.
pub async fn delete(db: &Db, id: Uuid, author: Uuid) -> Result<ChangeOutcome<()>, sqlx::Error> {
    on_pool!(db, pool => {
        let mut tx = pool.begin_write().await?;
        let deleted = sqlx::query("DELETE FROM posts WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(author)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if deleted == 0 {
            return missing_or_foreign(&mut tx, id).await;
        }
        tx.commit().await?;
        Ok(ChangeOutcome::Done(()))
    })
}

/// Tells why a change by the author matched no row: no such post, or another author's.
async fn missing_or_foreign<'c, DB, T>(
    tx: &mut sqlx::Transaction<'c, DB>,
    id: Uuid,
) -> Result<ChangeOutcome<T>, sqlx::Error>
where
    DB: sqlx::Database,
    for<'e> &'e mut DB::Connection: sqlx::Executor<'e, Database = DB>,
    Uuid: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB> + for<'r> sqlx::Decode<'r, DB>,
    (Uuid,): for<'r> FromRow<'r, DB::Row>,
    for<'q> <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
{
    let exists: Option<(Uuid,)> = sqlx::query_as("SELECT id FROM posts WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(if exists.is_some() {
        ChangeOutcome::NotAuthor
    } else {
        ChangeOutcome::NotFound
    })
}
