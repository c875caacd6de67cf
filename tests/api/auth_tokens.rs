//! How protected routes treat the access token: where it comes from, and
//! every way it can be wrong.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, COOKIE, WWW_AUTHENTICATE};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, assert_detail};
use crate::on_both_backends;

const INVALID: &str = "Token is invalid or has expired";

/// Splits a JWT into its decoded claims, for building altered copies.
fn claims_of(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("JWT has a payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("payload is base64url");
    serde_json::from_slice(&bytes).expect("payload is JSON")
}

/// Signs `claims` with the server's own generated key and the key id of `original`.
fn sign(app: &TestApp, original: &str, claims: &Value) -> String {
    let key = EncodingKey::from_ed_pem(app.signing_key_pem().as_bytes()).expect("server key loads");
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = jsonwebtoken::decode_header(original)
        .expect("token header")
        .kid;
    jsonwebtoken::encode(&header, claims, &key).expect("token signs")
}

async fn me_with(app: &TestApp, token: &str) -> reqwest::Response {
    app.get_with_token("/api/users/me", token).await
}

/// Signs `claims` with the server's own key, in the header of `original`, and
/// checks that `/api/users/me` rejects the token with 401.
async fn assert_resigned_rejected(app: &TestApp, original: &str, claims: &Value) {
    assert_detail(
        me_with(app, &sign(app, original, claims)).await,
        StatusCode::UNAUTHORIZED,
        INVALID,
    )
    .await;
}

async fn missing_token_is_rejected(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app
        .bare_client()
        .get(app.url("/api/users/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response
            .headers()
            .get(WWW_AUTHENTICATE)
            .map(|v| v.to_str().unwrap()),
        Some("Bearer")
    );
    assert_detail(response, StatusCode::UNAUTHORIZED, "You are not logged in").await;
}

async fn malformed_headers_are_rejected(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.signed_in_user("Ann", "ann@example.com").await;
    for header in [
        format!("Token {token}"),
        "Bearer".to_owned(),
        format!("Bearer {token} extra"),
        "Bearer not-a-jwt".to_owned(),
        String::new(),
    ] {
        let response = app
            .bare_client()
            .get(app.url("/api/users/me"))
            .header(AUTHORIZATION, &header)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "header {header:?}"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body, json!({ "detail": INVALID }), "header {header:?}");
    }
}

async fn bearer_header_works(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.signed_in_user("Ann", "ann@example.com").await;
    let response = me_with(&app, &token).await;
    assert_eq!(response.status(), StatusCode::OK);
    let lowercase = app
        .bare_client()
        .get(app.url("/api/users/me"))
        .header(AUTHORIZATION, format!("bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(lowercase.status(), StatusCode::OK);
}

async fn access_cookie_works(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.signed_in_user("Ann", "ann@example.com").await;
    let response = app
        .bare_client()
        .get(app.url("/api/users/me"))
        .header(COOKIE, format!("access_token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

async fn header_wins_over_cookie(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.signed_in_user("Ann", "ann@example.com").await;
    let response = app
        .bare_client()
        .get(app.url("/api/users/me"))
        .header(COOKIE, format!("access_token={token}"))
        .header(AUTHORIZATION, "Bearer garbage")
        .send()
        .await
        .unwrap();
    assert_detail(response, StatusCode::UNAUTHORIZED, INVALID).await;
}

async fn tampered_signature_is_rejected(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.signed_in_user("Ann", "ann@example.com").await;
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    // Flip one character of the signature.
    let flipped = if parts[2].starts_with('A') { "B" } else { "A" };
    parts[2].replace_range(0..1, flipped);
    assert_detail(
        me_with(&app, &parts.join(".")).await,
        StatusCode::UNAUTHORIZED,
        INVALID,
    )
    .await;
}

async fn tampered_claims_are_rejected(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.signed_in_user("Ann", "ann@example.com").await;
    let mut claims = claims_of(&token);
    claims["exp"] = json!(claims["exp"].as_i64().unwrap() + 3600);
    use base64::Engine;
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims.to_string());
    let parts: Vec<&str> = token.split('.').collect();
    let forged = format!("{}.{}.{}", parts[0], payload, parts[2]);
    assert_detail(
        me_with(&app, &forged).await,
        StatusCode::UNAUTHORIZED,
        INVALID,
    )
    .await;
}

async fn expired_token_is_rejected(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.signed_in_user("Ann", "ann@example.com").await;
    let mut claims = claims_of(&token);
    let now = chrono::Utc::now().timestamp();
    claims["iat"] = json!(now - 7200);
    claims["nbf"] = json!(now - 7200);
    claims["exp"] = json!(now - 3600);
    assert_resigned_rejected(&app, &token, &claims).await;
}

async fn resigned_valid_token_is_accepted(backend: Backend) {
    // Guards the forging helper itself: an unaltered copy signed the same way passes.
    let app = TestApp::spawn(backend).await;
    let token = app.signed_in_user("Ann", "ann@example.com").await;
    let claims = claims_of(&token);
    assert_eq!(
        me_with(&app, &sign(&app, &token, &claims)).await.status(),
        StatusCode::OK
    );
}

async fn future_nbf_is_rejected(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.signed_in_user("Ann", "ann@example.com").await;
    let mut claims = claims_of(&token);
    claims["nbf"] = json!(chrono::Utc::now().timestamp() + 600);
    assert_resigned_rejected(&app, &token, &claims).await;
}

async fn refresh_token_is_not_access(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.signed_in_user("Ann", "ann@example.com").await;
    let mut claims = claims_of(&token);
    claims["type"] = json!("refresh");
    assert_resigned_rejected(&app, &token, &claims).await;
}

async fn non_uuid_subject_is_rejected(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.signed_in_user("Ann", "ann@example.com").await;
    let mut claims = claims_of(&token);
    claims["sub"] = json!("ann@example.com");
    assert_resigned_rejected(&app, &token, &claims).await;
}

async fn missing_session_claim_is_rejected(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.signed_in_user("Ann", "ann@example.com").await;
    let mut claims = claims_of(&token);
    claims.as_object_mut().unwrap().remove("sid");
    assert_resigned_rejected(&app, &token, &claims).await;
}

async fn alg_none_is_rejected(backend: Backend) {
    use base64::Engine;
    let app = TestApp::spawn(backend).await;
    let token = app.signed_in_user("Ann", "ann@example.com").await;
    let encode =
        |value: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string());
    let unsigned = format!(
        "{}.{}.",
        encode(&json!({ "alg": "none", "typ": "JWT" })),
        encode(&claims_of(&token))
    );
    assert_detail(
        me_with(&app, &unsigned).await,
        StatusCode::UNAUTHORIZED,
        INVALID,
    )
    .await;
}

async fn hmac_token_is_rejected(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.signed_in_user("Ann", "ann@example.com").await;
    let key = EncodingKey::from_secret(b"guessed secret").unwrap();
    let forged =
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims_of(&token), &key).unwrap();
    assert_detail(
        me_with(&app, &forged).await,
        StatusCode::UNAUTHORIZED,
        INVALID,
    )
    .await;
}

async fn unknown_key_id_is_rejected(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.signed_in_user("Ann", "ann@example.com").await;
    let key = EncodingKey::from_ed_pem(app.signing_key_pem().as_bytes()).unwrap();
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some("some-other-key".into());
    let forged = jsonwebtoken::encode(&header, &claims_of(&token), &key).unwrap();
    assert_detail(
        me_with(&app, &forged).await,
        StatusCode::UNAUTHORIZED,
        INVALID,
    )
    .await;
}

async fn deleted_user_is_rejected(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.signed_in_user("Ann", "ann@example.com").await;
    app.execute("DELETE FROM users WHERE email = $1", "ann@example.com")
        .await;
    assert_detail(
        me_with(&app, &token).await,
        StatusCode::UNAUTHORIZED,
        "User no longer exist",
    )
    .await;
}

async fn unverified_user_is_rejected(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.signed_in_user("Ann", "ann@example.com").await;
    // No route un-verifies an account; this stands for an account whose
    // verification an operator withdrew after the token was issued.
    on_unverify(&app, "ann@example.com").await;
    assert_detail(
        me_with(&app, &token).await,
        StatusCode::UNAUTHORIZED,
        "Please verify your account",
    )
    .await;
}

async fn on_unverify(app: &TestApp, email: &str) {
    postgate::on_pool!(&app.db, pool => {
        sqlx::query("UPDATE users SET verified = $2 WHERE email = $1")
            .bind(email)
            .bind(false)
            .execute(pool)
            .await
            .unwrap();
    });
}

async fn logout_revokes_access_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.signed_in_user("Ann", "ann@example.com").await;
    let logout = app.get_with_token("/api/auth/logout", &token).await;
    assert_eq!(logout.status(), StatusCode::OK);
    assert_detail(
        me_with(&app, &token).await,
        StatusCode::UNAUTHORIZED,
        INVALID,
    )
    .await;
}

async fn missing_key_id_is_rejected(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.signed_in_user("Ann", "ann@example.com").await;
    let key = EncodingKey::from_ed_pem(app.signing_key_pem().as_bytes()).unwrap();
    let forged =
        jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &claims_of(&token), &key).unwrap();
    assert_detail(
        me_with(&app, &forged).await,
        StatusCode::UNAUTHORIZED,
        INVALID,
    )
    .await;
}

async fn hmac_with_public_key_is_rejected(backend: Backend) {
    // The classic key-confusion attack: HS256 keyed with the published public key.
    let app = TestApp::spawn(backend).await;
    let token = app.signed_in_user("Ann", "ann@example.com").await;
    let jwks = crate::helpers::json_body(app.get("/.well-known/jwks.json").await).await;
    let public_x = jwks["keys"][0]["x"].as_str().unwrap().to_owned();
    let mut header = Header::new(Algorithm::HS256);
    header.kid = jsonwebtoken::decode_header(&token).unwrap().kid;
    for secret in [
        public_x.as_bytes().to_vec(),
        app.signing_key_pem().into_bytes(),
    ] {
        let key = EncodingKey::from_secret(&secret).unwrap();
        let forged = jsonwebtoken::encode(&header, &claims_of(&token), &key).unwrap();
        assert_detail(
            me_with(&app, &forged).await,
            StatusCode::UNAUTHORIZED,
            INVALID,
        )
        .await;
    }
}

async fn jwks_publishes_signing_key(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.signed_in_user("Ann", "ann@example.com").await;
    let response = app.get("/.well-known/jwks.json").await;
    assert_eq!(response.status(), StatusCode::OK);
    let jwks = crate::helpers::json_body(response).await;
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let kid = jsonwebtoken::decode_header(&token).unwrap().kid.unwrap();
    assert_eq!(keys[0]["kid"], kid.as_str());
    assert_eq!(keys[0]["kty"], "OKP");
    assert_eq!(keys[0]["crv"], "Ed25519");
    assert_eq!(keys[0]["alg"], "EdDSA");
    assert_eq!(keys[0]["use"], "sig");
    assert!(keys[0].get("d").is_none(), "no private part");

    // The published key verifies the server's tokens.
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(keys[0].clone()).unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
    let mut validation = jsonwebtoken::Validation::new(Algorithm::EdDSA);
    validation.validate_aud = false;
    assert!(jsonwebtoken::decode::<Value>(&token, &key, &validation).is_ok());
}

on_both_backends!(
    missing_key_id_is_rejected,
    hmac_with_public_key_is_rejected,
    jwks_publishes_signing_key,
    missing_token_is_rejected,
    malformed_headers_are_rejected,
    bearer_header_works,
    access_cookie_works,
    header_wins_over_cookie,
    tampered_signature_is_rejected,
    tampered_claims_are_rejected,
    expired_token_is_rejected,
    resigned_valid_token_is_accepted,
    future_nbf_is_rejected,
    refresh_token_is_not_access,
    non_uuid_subject_is_rejected,
    missing_session_claim_is_rejected,
    alg_none_is_rejected,
    hmac_token_is_rejected,
    unknown_key_id_is_rejected,
    deleted_user_is_rejected,
    unverified_user_is_rejected,
    logout_revokes_access_token,
);
