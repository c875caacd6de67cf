//! Configured signing keys and key rotation: a new key signs while the old
//! one still verifies, so nobody is logged out by the switch.

use base64::Engine;
use postgate::auth::keys::generate_key_files;
use reqwest::StatusCode;

use crate::helpers::{Backend, Options, TestApp, create_postgres_database, json_body};
use crate::on_both_backends;

struct KeyFiles {
    _folder: tempfile::TempDir,
    private: String,
    public: String,
}

/// Generates a key pair and returns both halves as base64 of PEM.
fn key_pair() -> KeyFiles {
    let folder = tempfile::tempdir().unwrap();
    let (private, public) = generate_key_files(folder.path()).unwrap();
    let encode = |path: std::path::PathBuf| {
        base64::engine::general_purpose::STANDARD.encode(std::fs::read(path).unwrap())
    };
    KeyFiles {
        private: encode(private),
        public: encode(public),
        _folder: folder,
    }
}

fn key_args(signing: &KeyFiles, verifying: Option<&KeyFiles>) -> Vec<String> {
    let mut args = vec![
        "--jwt-algorithm".into(),
        "EdDSA".into(),
        "--jwt-private-key".into(),
        signing.private.clone(),
        "--jwt-public-key".into(),
        signing.public.clone(),
    ];
    if let Some(old) = verifying {
        args.extend(["--jwt-verification-keys".into(), old.public.clone()]);
    }
    args
}

async fn spawn_on(backend: Backend, database_url: &str, args: Vec<String>) -> TestApp {
    TestApp::spawn_with(
        backend,
        Options {
            args,
            database_url: Some(database_url.to_owned()),
            ..Options::default()
        },
    )
    .await
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token)
        .unwrap()
        .kid
        .expect("tokens carry a kid")
}

async fn rotation_keeps_sessions(backend: Backend) {
    let folder = tempfile::tempdir().unwrap();
    let database_url = match backend {
        Backend::Sqlite => format!(
            "sqlite://{}?mode=rwc",
            folder.path().join("keys.db").display()
        ),
        Backend::Postgres => create_postgres_database().await,
    };
    let old = key_pair();
    let new = key_pair();

    let before = spawn_on(backend, &database_url, key_args(&old, None)).await;
    let old_token = before.signed_in_user("Ann", "ann@example.com").await;
    assert!(
        !before.data_dir.path().join("jwt-ed25519.pem").exists(),
        "no key generated"
    );
    before.stop().await;

    let during = spawn_on(backend, &database_url, key_args(&new, Some(&old))).await;
    let me = during.get_with_token("/api/users/me", &old_token).await;
    assert_eq!(
        me.status(),
        StatusCode::OK,
        "a token of the old key still works"
    );
    let jwks = json_body(during.get("/.well-known/jwks.json").await).await;
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids.len(), 2, "{jwks}");
    assert!(kids.contains(&kid_of(&old_token).as_str()), "{jwks}");
    let login = during
        .login("ann@example.com", crate::helpers::PASSWORD)
        .await;
    let new_token = json_body(login).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(
        kid_of(&new_token),
        kid_of(&old_token),
        "new tokens use the new key"
    );
    assert_eq!(kids[0], kid_of(&new_token), "the signing key comes first");
    during.stop().await;

    let after = spawn_on(backend, &database_url, key_args(&new, None)).await;
    let me = after.get_with_token("/api/users/me", &old_token).await;
    assert_eq!(
        me.status(),
        StatusCode::UNAUTHORIZED,
        "the retired key verifies nothing"
    );
    let me = after.get_with_token("/api/users/me", &new_token).await;
    assert_eq!(me.status(), StatusCode::OK);
}

on_both_backends!(rotation_keeps_sessions);
