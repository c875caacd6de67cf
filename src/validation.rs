//! Request parsing that reports every problem in the 422 shape of the FastAPI
//! reference app, one entry per failing field, so its clients keep working.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde_json::{Map, Value, json};
use unicode_normalization::UnicodeNormalization;
use uuid::Uuid;

use crate::error::{ApiError, FieldError};

/// Maximum accepted request body size in bytes. A post's content of 100,000
/// characters fits even when a client escapes every character as a
/// surrogate pair (`\uD83D\uDE00`, 12 bytes), with room for the other fields.
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// The `detail` of the 413 for a body over [`MAX_BODY_BYTES`].
pub const BODY_TOO_LARGE: &str = "Request body is too large";

/// A request body parsed as JSON. A missing `Content-Type` is read as JSON, as
/// the reference app does. Any other non-JSON type is rejected with 415, so
/// that a cross-site HTML form cannot post to the API.
#[derive(Debug)]
pub struct JsonBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(content_type) = request.headers().get(header::CONTENT_TYPE)
            && !is_json_content_type(content_type.to_str().unwrap_or(""))
        {
            return Err(ApiError::client(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Content-Type must be application/json with charset utf-8 or none",
            ));
        }
        // The body is read as it arrives, so a compressed body would be
        // parsed as garbage; reject it with a clear status instead.
        if let Some(encoding) = request.headers().get(header::CONTENT_ENCODING)
            && !encoding
                .to_str()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("identity")
        {
            return Err(ApiError::client(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Content-Encoding is not supported; send the body uncompressed",
            ));
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::client(StatusCode::PAYLOAD_TOO_LARGE, BODY_TOO_LARGE)
                } else {
                    ApiError::bad_request("Request body could not be read")
                }
            })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::validation(FieldError::new(
                vec![json!("body")],
                "field required",
                "value_error.missing",
            )));
        }
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|error| ApiError::validation(json_decode_error(&bytes, &error)))
    }
}

/// Accepts `application/json` and `application/*+json`, with no charset
/// parameter or `charset=utf-8`: JSON is UTF-8 (RFC 8259), and the body is
/// decoded as UTF-8 whatever the header claims.
fn is_json_content_type(value: &str) -> bool {
    let mut parts = value.split(';');
    let essence = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let json = essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"));
    let utf8 = parts.all(|parameter| {
        let Some((name, value)) = parameter.split_once('=') else {
            return true;
        };
        !name.trim().eq_ignore_ascii_case("charset")
            || matches!(
                value.trim().trim_matches('"').to_ascii_lowercase().as_str(),
                "utf-8" | "utf8"
            )
    });
    json && utf8
}

fn json_decode_error(bytes: &[u8], error: &serde_json::Error) -> FieldError {
    // serde_json reports a 1-based line and column; clients of the reference
    // app expect the byte offset in `loc`. At an unexpected end of input the
    // column is that of the last byte read, but the error is at the end.
    let offset = if error.is_eof() {
        bytes.len()
    } else {
        let line_start: usize = bytes
            .split(|b| *b == b'\n')
            .take(error.line().saturating_sub(1))
            .map(|line| line.len() + 1)
            .sum();
        (line_start + error.column().saturating_sub(1)).min(bytes.len())
    };
    let message = error.to_string();
    let message = match message.rfind(" at line ") {
        Some(cut) => message[..cut].to_owned(),
        None => message,
    };
    FieldError::new(
        vec![json!("body"), json!(offset)],
        message,
        "value_error.jsondecode",
    )
    .with_ctx(json!({
        "pos": offset,
        "lineno": error.line(),
        "colno": error.column(),
    }))
}

/// The fields of a JSON object body, checked one by one. Each check records
/// its error and returns `None`, so a request with several bad fields gets
/// all of them reported at once by [`BodyFields::finish`].
pub struct BodyFields {
    object: Map<String, Value>,
    errors: Vec<FieldError>,
}

/// Pattern that every body string must match: PostgreSQL cannot store U+0000
/// in text, so it is rejected up front with pydantic's code for a pattern
/// mismatch instead of failing the query.
const NO_NUL_PATTERN: &str = "^[^\\x00]*$";

/// Inclusive character-count bounds of a string field.
#[derive(Debug, Clone, Copy)]
pub struct Length {
    pub min: usize,
    pub max: usize,
}

impl BodyFields {
    pub fn new(body: JsonBody) -> Result<Self, ApiError> {
        match body.0 {
            Value::Object(object) => Ok(Self {
                object,
                errors: Vec::new(),
            }),
            _ => Err(ApiError::validation(FieldError::new(
                vec![json!("body")],
                "value is not a valid dict",
                "type_error.dict",
            ))),
        }
    }

    /// A string that must be present, non-null and within `length`.
    pub fn required_str(&mut self, name: &str, length: Length) -> Option<String> {
        match self.object.get(name) {
            None => {
                self.errors.push(missing(name));
                None
            }
            Some(_) => self.optional_str(name, length),
        }
    }

    /// A string that may be absent. When present, it must be non-null, within
    /// `length` and free of U+0000.
    pub fn optional_str(&mut self, name: &str, length: Length) -> Option<String> {
        let error = match self.object.get(name)? {
            Value::String(value) => match check_length(value, length) {
                Ok(()) if value.contains('\0') => FieldError::new(
                    loc(name),
                    "string must not contain the NUL character (U+0000)",
                    "value_error.str.regex",
                )
                .with_ctx(json!({ "pattern": NO_NUL_PATTERN })),
                // A required text of only spaces is as empty as "".
                Ok(()) if length.min > 0 && value.trim().is_empty() => FieldError::new(
                    loc(name),
                    "ensure this value has at least 1 character other than whitespace",
                    "value_error.any_str.min_length",
                )
                .with_ctx(json!({ "limit_value": 1 })),
                Ok(()) => return Some(value.clone()),
                Err((msg, kind, limit)) => {
                    FieldError::new(loc(name), msg, kind).with_ctx(json!({ "limit_value": limit }))
                }
            },
            Value::Null => FieldError::new(
                loc(name),
                "none is not an allowed value",
                "type_error.none.not_allowed",
            ),
            _ => FieldError::new(loc(name), "str type expected", "type_error.str"),
        };
        self.errors.push(error);
        None
    }

    /// Reads a required single-line string: like [`Self::required_str`], and
    /// also free of control characters such as CR and LF. A name ends up in
    /// email headers, where a line break could inject a header.
    pub fn required_line(&mut self, name: &str, length: Length) -> Option<String> {
        if !self.object.contains_key(name) {
            self.errors.push(missing(name));
            return None;
        }
        self.optional_line(name, length)
    }

    /// Reads an optional single-line string, like [`Self::optional_str`] and
    /// free of control characters.
    pub fn optional_line(&mut self, name: &str, length: Length) -> Option<String> {
        let value = self.optional_str(name, length)?;
        if value.chars().any(char::is_control) {
            self.errors.push(
                FieldError::new(
                    loc(name),
                    "string must not contain control characters such as line breaks",
                    "value_error.str.regex",
                )
                .with_ctx(json!({ "pattern": "^[^\\x00-\\x1f\\x7f-\\x9f]*$" })),
            );
            return None;
        }
        Some(value)
    }

    /// Reads a required email address, trimmed and lower-cased.
    pub fn required_email(&mut self, name: &str) -> Option<String> {
        let value = self.required_str(
            name,
            Length {
                min: 1,
                max: EMAIL_MAX_CHARS,
            },
        )?;
        match normalize_email(&value) {
            Some(email) => Some(email),
            None => {
                self.errors.push(FieldError::new(
                    loc(name),
                    "value is not a valid email address",
                    "value_error.email",
                ));
                None
            }
        }
    }

    /// Fails with every recorded field error, or succeeds when there is none.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.errors))
        }
    }
}

/// Maximum length of an email address in characters (RFC 5321 path limit).
pub const EMAIL_MAX_CHARS: usize = 254;

/// Trims and lower-cases an address, and returns it when it is a valid
/// address of at most [`EMAIL_MAX_CHARS`] characters with a dotted domain.
///
/// Addresses that look the same are stored the same: the text is NFC
/// normalized, invisible format characters (such as U+200B) are rejected,
/// and the domain is stored in its ASCII (punycode) form.
pub fn normalize_email(raw: &str) -> Option<String> {
    let email: String = raw.trim().nfc().collect::<String>().to_lowercase();
    if email
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || is_invisible(c))
    {
        return None;
    }
    let parsed: email_address::EmailAddress = email.parse().ok()?;
    // Reject bracketed IP literals and single-label hosts, which a mail
    // server on the internet would not deliver to.
    let domain = parsed.domain();
    if domain.starts_with('[') || !domain.contains('.') || domain.ends_with('.') {
        return None;
    }
    let ascii_domain = idna::domain_to_ascii(domain).ok()?;
    let email = format!("{}@{ascii_domain}", parsed.local_part());
    if email.chars().count() > EMAIL_MAX_CHARS {
        return None;
    }
    Some(email)
}

/// Format characters that render as nothing: zero-width spaces and joiners,
/// direction marks, word joiners, the soft hyphen and the byte order mark.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{00AD}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{FEFF}')
}

fn loc(name: &str) -> Vec<Value> {
    vec![json!("body"), json!(name)]
}

fn missing(name: &str) -> FieldError {
    FieldError::new(loc(name), "field required", "value_error.missing")
}

fn check_length(value: &str, length: Length) -> Result<(), (String, &'static str, usize)> {
    let count = value.chars().count();
    if count < length.min {
        let unit = if length.min == 1 {
            "character"
        } else {
            "characters"
        };
        return Err((
            format!("ensure this value has at least {} {unit}", length.min),
            "value_error.any_str.min_length",
            length.min,
        ));
    }
    if count > length.max {
        return Err((
            format!("ensure this value has at most {} characters", length.max),
            "value_error.any_str.max_length",
            length.max,
        ));
    }
    Ok(())
}

/// Query string parameters, decoded leniently: an invalid percent escape
/// becomes U+FFFD instead of failing the request.
pub struct QueryParams(Vec<(String, String)>);

impl QueryParams {
    pub fn parse(raw: Option<&str>) -> Self {
        let pairs = url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        Self(pairs)
    }

    /// Returns the last value given for `name`, as clients of FastAPI expect.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Parses an integer in `min..=max`, or returns `default` when absent.
    /// Errors are pushed to `errors`.
    pub fn integer(
        &self,
        name: &str,
        default: i64,
        min: i64,
        max: i64,
        errors: &mut Vec<FieldError>,
    ) -> i64 {
        let Some(raw) = self.get(name) else {
            return default;
        };
        let loc = vec![json!("query"), json!(name)];
        let Ok(value) = raw.trim().parse::<i64>() else {
            errors.push(FieldError::new(
                loc,
                "value is not a valid integer",
                "type_error.integer",
            ));
            return default;
        };
        if value < min {
            errors.push(
                FieldError::new(
                    loc,
                    format!("ensure this value is greater than or equal to {min}"),
                    "value_error.number.not_ge",
                )
                .with_ctx(json!({ "limit_value": min })),
            );
            return default;
        }
        if value > max {
            errors.push(
                FieldError::new(
                    loc,
                    format!("ensure this value is less than or equal to {max}"),
                    "value_error.number.not_le",
                )
                .with_ctx(json!({ "limit_value": max })),
            );
            return default;
        }
        value
    }
}

/// The `{id}` path segment parsed as a UUID; anything else is a 422 at `["path", "id"]`.
#[derive(Debug, Clone, Copy)]
pub struct PathId(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let invalid = || {
            ApiError::validation(FieldError::new(
                vec![json!("path"), json!("id")],
                "value is not a valid uuid",
                "type_error.uuid",
            ))
        };
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| invalid())?;
        Uuid::parse_str(&raw).map(PathId).map_err(|_| invalid())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_trimmed_and_lowercased() {
        assert_eq!(
            normalize_email("  Alice@Example.COM "),
            Some("alice@example.com".to_owned())
        );
    }

    #[test]
    fn email_rejects_invalid_forms() {
        for raw in [
            "",
            "alice",
            "alice@",
            "@example.com",
            "alice@localhost",
            "a b@example.com",
            "alice@[127.0.0.1]",
        ] {
            assert_eq!(normalize_email(raw), None, "{raw:?} should be rejected");
        }
    }

    #[test]
    fn email_folds_lookalikes() {
        let composed = normalize_email("ü@exämple.com").unwrap();
        assert_eq!(composed, "ü@xn--exmple-cua.com");
        assert_eq!(normalize_email("u\u{0308}@exämple.com").unwrap(), composed);
        assert_eq!(normalize_email("ü@xn--exmple-cua.com").unwrap(), composed);
        assert_eq!(normalize_email("an\u{200B}n@example.com"), None);
    }

    #[test]
    fn email_rejects_overlong_address() {
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(normalize_email(&long), None);
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        assert!(check_length("ééé", Length { min: 1, max: 3 }).is_ok());
        assert!(check_length("éééé", Length { min: 1, max: 3 }).is_err());
    }

    #[test]
    fn json_error_reports_byte_offset() {
        let bytes = b"{\n  \"a\": }";
        let error = serde_json::from_slice::<Value>(bytes).unwrap_err();
        let field = json_decode_error(bytes, &error);
        assert_eq!(field.loc, vec![json!("body"), json!(9)]);
        assert_eq!(field.kind, "value_error.jsondecode");
    }

    #[test]
    fn json_error_at_end_reports_body_length() {
        let bytes = b"{\"a\": \"x\"";
        let error = serde_json::from_slice::<Value>(bytes).unwrap_err();
        let field = json_decode_error(bytes, &error);
        assert_eq!(field.loc, vec![json!("body"), json!(bytes.len())]);
    }
}
