//! The three login cookies: `access_token` and `refresh_token` (HttpOnly) and
//! `logged_in`, which scripts may read to tell that a session exists.

use std::time::Duration;

use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue};
use cookie::{Cookie, SameSite};

pub const ACCESS_COOKIE: &str = "access_token";
pub const REFRESH_COOKIE: &str = "refresh_token";
pub const LOGGED_IN_COOKIE: &str = "logged_in";
/// The refresh cookie is only sent to the auth routes that read it.
pub const REFRESH_COOKIE_PATH: &str = "/api/auth";

/// Builds `Set-Cookie` headers with the configured `Secure` attribute.
#[derive(Clone)]
pub struct CookieJar {
    secure: bool,
    /// Path of PUBLIC_URL without a trailing slash, such as `/gw` behind a
    /// gateway that serves postgate under `/gw/`. Browsers match a cookie's
    /// path against the URL they see, so every cookie path starts with it.
    path_prefix: String,
}

impl CookieJar {
    pub fn new(secure: bool, public_url: &str) -> Self {
        let path_prefix = url::Url::parse(public_url)
            .map(|url| url.path().trim_end_matches('/').to_owned())
            .unwrap_or_default();
        Self {
            secure,
            path_prefix,
        }
    }

    pub fn set_access(&self, headers: &mut HeaderMap, token: &str, ttl: Duration) {
        self.append(headers, ACCESS_COOKIE, token, "/", true, ttl);
        self.append(headers, LOGGED_IN_COOKIE, "True", "/", false, ttl);
    }

    pub fn set_refresh(&self, headers: &mut HeaderMap, token: &str, ttl: Duration) {
        self.append(
            headers,
            REFRESH_COOKIE,
            token,
            REFRESH_COOKIE_PATH,
            true,
            ttl,
        );
    }

    /// Expires all three cookies at once (`Max-Age=0`).
    pub fn clear(&self, headers: &mut HeaderMap) {
        self.append(headers, ACCESS_COOKIE, "", "/", true, Duration::ZERO);
        self.append(
            headers,
            REFRESH_COOKIE,
            "",
            REFRESH_COOKIE_PATH,
            true,
            Duration::ZERO,
        );
        self.append(headers, LOGGED_IN_COOKIE, "", "/", false, Duration::ZERO);
    }

    fn append(
        &self,
        headers: &mut HeaderMap,
        name: &'static str,
        value: &str,
        path: &str,
        http_only: bool,
        ttl: Duration,
    ) {
        let max_age = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
        let path = if path == "/" && !self.path_prefix.is_empty() {
            self.path_prefix.clone()
        } else {
            format!("{}{path}", self.path_prefix)
        };
        let cookie = Cookie::build((name, value))
            .path(path)
            .http_only(http_only)
            .secure(self.secure)
            .same_site(SameSite::Lax)
            .max_age(cookie::time::Duration::seconds(max_age))
            .build();
        // Token values are base64url and dots, so the header is always valid.
        if let Ok(value) = HeaderValue::from_str(&cookie.to_string()) {
            headers.append(SET_COOKIE, value);
        }
    }
}

/// Returns the value of the first cookie called `name`, if any.
pub fn read_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|cookie| cookie.name() == name)
        .map(|cookie| cookie.value().to_owned())
}
