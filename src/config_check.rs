//! `postgate config check`: validates a configuration the way a start
//! would, without touching the database or generating a key, and prints the
//! effective settings with every secret masked.

use std::fmt::Write as _;
use std::time::Duration;

use url::Url;

use crate::auth::keys::{GENERATED_KEY_FILE, KeyPair, VerifyingKey};
use crate::config::{EmailTransportSettings, Settings};
use crate::email::templates::Templates;
use crate::ratelimit::Limit;

const MASK: &str = "********";

/// Loads what a start would load besides the database: the signing key (if
/// it exists yet), the extra verification keys and the email templates.
/// Returns the report to print, or the first problem found.
pub fn check(settings: &Settings) -> anyhow::Result<String> {
    let key_file = settings.data_dir.join(GENERATED_KEY_FILE);
    let signing = match &settings.tokens.keys {
        Some(_) => {
            let pair = KeyPair::load(settings.tokens.keys.as_ref(), &settings.data_dir)?;
            format!("{MASK} ({:?}, kid {})", pair.algorithm, pair.kid)
        }
        None if key_file.exists() => {
            let pair = KeyPair::load(None, &settings.data_dir)?;
            format!(
                "generated key in {} (EdDSA, kid {})",
                key_file.display(),
                pair.kid
            )
        }
        None => format!("(none: the first start generates {})", key_file.display()),
    };
    let mut verification = Vec::new();
    for pem in &settings.tokens.verification_keys {
        verification.push(VerifyingKey::from_public_pem(pem)?.kid);
    }
    Templates::load(settings.email.templates_dir.as_deref())?;

    let mut lines = describe(settings);
    lines.push(("JWT_PRIVATE_KEY", signing));
    lines.push((
        "JWT_VERIFICATION_KEYS",
        if verification.is_empty() {
            "(none)".to_owned()
        } else {
            format!("kid {}", verification.join(", kid "))
        },
    ));
    let mut report = String::new();
    for (name, value) in lines {
        let _ = writeln!(report, "{name}={value}");
    }
    Ok(report)
}

/// Lists the effective value of each setting, by environment variable name.
fn describe(settings: &Settings) -> Vec<(&'static str, String)> {
    let limit = |limit: Option<Limit>| match limit {
        Some(limit) => format!("{}/{}", limit.count, human_duration(limit.window)),
        None => "off".to_owned(),
    };
    let list = |items: Vec<String>| {
        if items.is_empty() {
            "(none)".to_owned()
        } else {
            items.join(",")
        }
    };
    let tokens = &settings.tokens;
    let email = &settings.email;
    let mut lines = vec![
        ("HOST", settings.listen.ip().to_string()),
        ("PORT", settings.listen.port().to_string()),
        ("PUBLIC_URL", settings.public_url.clone()),
        ("DATA_DIR", settings.data_dir.display().to_string()),
        (
            "DATABASE_URL",
            mask_url_password(settings.database.url.expose()),
        ),
        (
            "DATABASE_MAX_CONNECTIONS",
            settings.database.max_connections.to_string(),
        ),
        ("ACCESS_TOKEN_EXPIRES_IN", human_duration(tokens.access_ttl)),
        (
            "REFRESH_TOKEN_EXPIRES_IN",
            human_duration(tokens.refresh_ttl),
        ),
        (
            "REFRESH_TOKEN_REUSE_INTERVAL",
            human_duration(tokens.reuse_interval),
        ),
        (
            "VERIFICATION_TOKEN_EXPIRES_IN",
            human_duration(tokens.verification_ttl),
        ),
        ("RESET_TOKEN_EXPIRES_IN", human_duration(tokens.reset_ttl)),
        ("RESET_PASSWORD_URL", settings.reset_password_url.clone()),
        (
            "CLIENT_ORIGIN",
            list(
                settings
                    .allowed_origins
                    .iter()
                    .map(|origin| origin.to_str().unwrap_or_default().to_owned())
                    .collect(),
            ),
        ),
        ("COOKIE_SECURE", settings.cookie_secure.to_string()),
        (
            "TRUSTED_PROXIES",
            list(
                settings
                    .trusted_proxies
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
            ),
        ),
        (
            "RATE_LIMIT_LOGIN_ACCOUNT",
            limit(settings.rate_limits.login_account),
        ),
        ("RATE_LIMIT_LOGIN_IP", limit(settings.rate_limits.login_ip)),
        (
            "RATE_LIMIT_REGISTER_IP",
            limit(settings.rate_limits.register_ip),
        ),
        (
            "RATE_LIMIT_EMAIL_ADDRESS",
            limit(settings.rate_limits.email_address),
        ),
        ("RATE_LIMIT_EMAIL_IP", limit(settings.rate_limits.email_ip)),
        ("REQUEST_TIMEOUT", human_duration(settings.request_timeout)),
        (
            "HEADER_READ_TIMEOUT",
            human_duration(settings.header_read_timeout),
        ),
        (
            "LOG_FORMAT",
            format!("{:?}", settings.log_format).to_lowercase(),
        ),
        ("EMAIL_FROM", email.from.to_string()),
    ];
    match &email.transport {
        EmailTransportSettings::Files { dir } => {
            lines.push((
                "EMAIL_HOST",
                format!("(none: .eml files in {}, development mode)", dir.display()),
            ));
        }
        EmailTransportSettings::SmtpUrl { url, timeout } => {
            lines.push(("EMAIL_URL", mask_url_password(url.expose())));
            lines.push(("EMAIL_TIMEOUT", human_duration(*timeout)));
        }
        EmailTransportSettings::Smtp {
            host,
            port,
            tls,
            credentials,
            timeout,
        } => {
            lines.push(("EMAIL_HOST", host.clone()));
            lines.push(("EMAIL_PORT", port.to_string()));
            lines.push(("EMAIL_TLS", format!("{tls:?}").to_lowercase()));
            let (user, password) = match credentials {
                Some((user, password)) if password.expose().is_empty() => (user.clone(), "(empty)"),
                Some((user, _)) => (user.clone(), MASK),
                None => ("(none)".to_owned(), "(none)"),
            };
            lines.push(("EMAIL_USERNAME", user));
            lines.push(("EMAIL_PASSWORD", password.to_owned()));
            lines.push(("EMAIL_TIMEOUT", human_duration(*timeout)));
        }
    }
    let outbox = &email.outbox;
    lines.extend([
        ("EMAIL_MAX_ATTEMPTS", outbox.max_attempts.to_string()),
        ("EMAIL_RETRY_BASE", human_duration(outbox.retry_base)),
        ("EMAIL_RETRY_MAX", human_duration(outbox.retry_max)),
        ("EMAIL_LEASE", human_duration(outbox.lease)),
        ("EMAIL_POLL_INTERVAL", human_duration(outbox.poll_interval)),
        (
            "EMAIL_TEMPLATES_DIR",
            email.templates_dir.as_ref().map_or_else(
                || "(built-in templates)".to_owned(),
                |dir| dir.display().to_string(),
            ),
        ),
    ]);
    lines
}

/// Replaces the password of a URL, if it has one, with a mask. A value that
/// does not parse as a URL is masked whole, since it could be anything.
fn mask_url_password(raw: &str) -> String {
    match Url::parse(raw) {
        Ok(mut url) => {
            if url.password().is_some() {
                let _ = url.set_password(Some(MASK));
            }
            url.to_string()
        }
        Err(_) => MASK.to_owned(),
    }
}

/// Writes a duration in the largest unit that divides it: `15m`, `10s`, `1.5s`.
fn human_duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    if duration.subsec_nanos() != 0 {
        return format!("{}s", duration.as_secs_f64());
    }
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60)] {
        if seconds >= size && seconds.is_multiple_of(size) {
            return format!("{}{unit}", seconds / size);
        }
    }
    format!("{seconds}s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_passwords_are_masked() {
        assert_eq!(
            mask_url_password("postgres://app:hunter2@db:5432/app"),
            "postgres://app:********@db:5432/app"
        );
        assert_eq!(
            mask_url_password("sqlite://./data/postgate.db?mode=rwc"),
            "sqlite://./data/postgate.db?mode=rwc"
        );
        assert_eq!(mask_url_password("not a url with hunter2"), MASK);
    }

    #[test]
    fn durations_use_the_largest_unit() {
        assert_eq!(human_duration(Duration::from_secs(900)), "15m");
        assert_eq!(human_duration(Duration::from_secs(86_400)), "1d");
        assert_eq!(human_duration(Duration::from_secs(90)), "90s");
        assert_eq!(human_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(human_duration(Duration::ZERO), "0s");
    }
}
