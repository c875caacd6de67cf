//! The whole happy path a front end walks, end to end.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, PASSWORD, TestApp, json_body};
use crate::on_both_backends;

async fn whole_flow(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let registered = app.register("Ann Author", "Ann@Example.com").await;
    assert_eq!(registered.status(), StatusCode::CREATED);
    assert_eq!(
        json_body(registered).await,
        json!({"status": "success", "message": "Verification token successfully sent to your email"})
    );

    let link = app.verification_link("ann@example.com").await;
    let verified = app.client.get(&link).send().await.unwrap();
    assert_eq!(verified.status(), StatusCode::OK);
    assert_eq!(
        json_body(verified).await,
        json!({"status": "success", "message": "Account verified successfully"})
    );

    let login = app.login("ANN@example.com", PASSWORD).await;
    assert_eq!(login.status(), StatusCode::OK);
    let body = json_body(login).await;
    assert_eq!(body["status"], "success");
    assert!(body["access_token"].as_str().is_some());

    // From here on the cookie store carries the tokens.
    let me = json_body(app.get("/api/users/me").await).await;
    assert_eq!(me["email"], "ann@example.com");
    assert_eq!(me["name"], "Ann Author");
    assert_eq!(me["verified"], true);
    assert_eq!(me["role"], "user");
    assert_eq!(me["photo"], "default.png");
    assert!(me.get("password").is_none());

    let created = app
        .post_json(
            "/api/posts",
            &json!({"title": "First post", "content": "Hello", "category": "news", "image": "a.png"}),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let post = json_body(created).await;
    let id = post["id"].as_str().unwrap().to_owned();
    assert_eq!(post["user"]["email"], "ann@example.com");
    assert_eq!(post["user_id"], me["id"]);

    let list = json_body(app.get("/api/posts?search=FIRST").await).await;
    assert_eq!(list["status"], "success");
    assert_eq!(list["results"], 1);
    assert_eq!(list["total"], 1);
    assert_eq!(list["posts"][0]["id"], id.as_str());

    let read = json_body(app.get(&format!("/api/posts/{id}")).await).await;
    assert_eq!(read["title"], "First post");

    let updated = app
        .client
        .put(app.url(&format!("/api/posts/{id}")))
        .json(&json!({"title": "Renamed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(updated.status(), StatusCode::OK);
    let updated = json_body(updated).await;
    assert_eq!(updated["title"], "Renamed");
    assert_eq!(updated["content"], "Hello");

    let deleted = app
        .client
        .delete(app.url(&format!("/api/posts/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.get(&format!("/api/posts/{id}")).await.status(),
        StatusCode::NOT_FOUND
    );

    let refreshed = app.get("/api/auth/refresh").await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    assert!(
        json_body(refreshed).await["access_token"]
            .as_str()
            .is_some()
    );
    assert_eq!(app.get("/api/users/me").await.status(), StatusCode::OK);

    let logout = app.get("/api/auth/logout").await;
    assert_eq!(logout.status(), StatusCode::OK);
    assert_eq!(json_body(logout).await, json!({"status": "success"}));
    assert_eq!(
        app.get("/api/users/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    app.stop().await;
}

on_both_backends!(whole_flow);
