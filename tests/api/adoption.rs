//! Adopting a PostgreSQL database that the FastAPI reference app created:
//! postgate's migrations run over its tables, and its users, links and posts
//! keep working. PostgreSQL only, because the reference app never used SQLite.

use reqwest::StatusCode;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::helpers::{Backend, Options, TestApp, create_postgres_database, json_body};

/// The DDL that SQLAlchemy emits for the reference app's models.
const REFERENCE_SCHEMA: &[&str] = &[
    "CREATE TABLE users (
        id UUID NOT NULL DEFAULT gen_random_uuid(),
        name VARCHAR NOT NULL,
        email VARCHAR NOT NULL,
        password VARCHAR NOT NULL,
        photo VARCHAR NOT NULL,
        verified BOOLEAN NOT NULL DEFAULT false,
        verification_code VARCHAR,
        role VARCHAR NOT NULL DEFAULT 'user',
        created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        PRIMARY KEY (id),
        UNIQUE (email),
        UNIQUE (verification_code)
    )",
    "CREATE TABLE posts (
        id UUID NOT NULL DEFAULT gen_random_uuid(),
        user_id UUID NOT NULL,
        title VARCHAR NOT NULL,
        content VARCHAR NOT NULL,
        category VARCHAR NOT NULL,
        image VARCHAR NOT NULL,
        created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        PRIMARY KEY (id),
        FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
    )",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_database_is_adopted() {
    let url = create_postgres_database().await;
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    for statement in REFERENCE_SCHEMA {
        sqlx::query(*statement).execute(&pool).await.unwrap();
    }
    // The reference app mails hex(10 random bytes) and stores sha256 hex of the bytes.
    let link_bytes: Vec<u8> = (1..=10).collect();
    let code = hex::encode(Sha256::digest(&link_bytes));
    let legacy_hash = bcrypt::hash("legacy-password", 4).unwrap();
    sqlx::query(
        "INSERT INTO users (name, email, password, photo, verification_code) \
         VALUES ('Old Unverified', 'old@example.com', $1, 'old.png', $2)",
    )
    .bind(&legacy_hash)
    .bind(&code)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO users (name, email, password, photo, verified) VALUES ('Old Author', 'author@example.com', $1, 'a.png', true)",
    )
    .bind(&legacy_hash)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO posts (user_id, title, content, category, image) \
         SELECT id, 'Legacy post', 'Written before postgate', 'history', 'l.png' FROM users WHERE email = 'author@example.com'",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;

    let options = Options {
        database_url: Some(url),
        ..Options::default()
    };
    let app = TestApp::spawn_with(Backend::Postgres, options).await;

    let verified = app
        .get(&format!(
            "/api/auth/verifyemail/{}",
            hex::encode(&link_bytes)
        ))
        .await;
    assert_eq!(
        verified.status(),
        StatusCode::OK,
        "a link the reference app sent still verifies"
    );

    let login = app.login("old@example.com", "legacy-password").await;
    assert_eq!(
        login.status(),
        StatusCode::OK,
        "a bcrypt password from the reference app verifies"
    );

    let list = json_body(app.get("/api/posts").await).await;
    assert_eq!(list["total"], 1);
    assert_eq!(list["posts"][0]["title"], "Legacy post");
    assert_eq!(list["posts"][0]["user"]["email"], "author@example.com");

    let created = app
        .post_json(
            "/api/posts",
            &json!({"title": "New", "content": "c", "category": "x", "image": "i.png"}),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    app.stop().await;
}
