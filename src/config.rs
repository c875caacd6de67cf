//! Settings from flags, environment variables and `.env`, parsed once into
//! [`Settings`] so that the rest of the server only gets valid values.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use axum::http::HeaderValue;
use base64::Engine;
use clap::{Args, ValueEnum};
use ipnet::IpNet;
use lettre::message::Mailbox;
use url::Url;

use crate::ratelimit::{Limit, parse_setting};

/// A setting whose value must never reach a log line or an error message.
#[derive(Clone, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"********\"")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

/// Every setting of the server, as given on the command line or in the
/// environment. The environment variable names include those of the
/// FastAPI reference app's `.env`, so that file works unchanged.
#[derive(Debug, Clone, Args)]
pub struct ConfigArgs {
    /// Address to listen on.
    #[arg(long, env = "HOST", default_value = "127.0.0.1", global = true)]
    pub host: IpAddr,

    /// TCP port to listen on (0 picks a free port).
    #[arg(long, env = "PORT", default_value_t = 8000, global = true)]
    pub port: u16,

    /// Base URL that links in emails start with [default: http://{host}:{port}].
    #[arg(long, env = "PUBLIC_URL", global = true)]
    pub public_url: Option<String>,

    /// Folder for the SQLite file, the generated signing key and the `.eml` outbox.
    #[arg(long, env = "DATA_DIR", default_value = "./data", global = true)]
    pub data_dir: PathBuf,

    /// Database URL: `postgres://…` or `sqlite://…` [default: sqlite file in DATA_DIR,
    /// or PostgreSQL from the POSTGRES_* settings when POSTGRES_HOSTNAME is set].
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<Secret>,

    /// PostgreSQL user, used with the other POSTGRES_* settings when DATABASE_URL is unset.
    #[arg(long, env = "POSTGRES_USER", global = true)]
    pub postgres_user: Option<String>,

    /// PostgreSQL password, used when DATABASE_URL is unset.
    #[arg(long, env = "POSTGRES_PASSWORD", global = true, hide_env_values = true)]
    pub postgres_password: Option<Secret>,

    /// PostgreSQL host name, used when DATABASE_URL is unset.
    #[arg(long, env = "POSTGRES_HOSTNAME", global = true)]
    pub postgres_hostname: Option<String>,

    /// PostgreSQL port, used when DATABASE_URL is unset.
    #[arg(long, env = "DATABASE_PORT", default_value_t = 5432, global = true)]
    pub database_port: u16,

    /// PostgreSQL database name, used when DATABASE_URL is unset.
    #[arg(long, env = "POSTGRES_DB", global = true)]
    pub postgres_db: Option<String>,

    /// Maximum number of pooled database connections.
    #[arg(
        long,
        env = "DATABASE_MAX_CONNECTIONS",
        default_value_t = 10,
        global = true
    )]
    pub database_max_connections: u32,

    /// Private signing key as base64 of a PEM file (RS256 or EdDSA). With no key
    /// configured, an Ed25519 key is generated into DATA_DIR on first start.
    #[arg(long, env = "JWT_PRIVATE_KEY", global = true, hide_env_values = true)]
    pub jwt_private_key: Option<Secret>,

    /// Public verification key as base64 of a PEM file; required with JWT_PRIVATE_KEY.
    #[arg(long, env = "JWT_PUBLIC_KEY", global = true)]
    pub jwt_public_key: Option<String>,

    /// Extra public keys that verify tokens but sign none, as comma-separated
    /// base64 of PEM: the previous key while a new one rolls out.
    #[arg(long, env = "JWT_VERIFICATION_KEYS", global = true)]
    pub jwt_verification_keys: Option<String>,

    /// Signing algorithm of the configured key pair: RS256 or EdDSA.
    #[arg(long, env = "JWT_ALGORITHM", default_value = "RS256", global = true)]
    pub jwt_algorithm: String,

    /// Access token lifetime in minutes.
    #[arg(
        long,
        env = "ACCESS_TOKEN_EXPIRES_IN",
        default_value_t = 15,
        global = true
    )]
    pub access_token_expires_in: u64,

    /// Refresh token lifetime in minutes.
    #[arg(
        long,
        env = "REFRESH_TOKEN_EXPIRES_IN",
        default_value_t = 60,
        global = true
    )]
    pub refresh_token_expires_in: u64,

    /// Seconds during which a just-rotated refresh token still returns an access token,
    /// so that two tabs refreshing at once both succeed.
    #[arg(
        long,
        env = "REFRESH_TOKEN_REUSE_INTERVAL",
        default_value_t = 10,
        global = true
    )]
    pub refresh_token_reuse_interval: u64,

    /// Email verification link lifetime in minutes.
    #[arg(
        long,
        env = "VERIFICATION_TOKEN_EXPIRES_IN",
        default_value_t = 1440,
        global = true
    )]
    pub verification_token_expires_in: u64,

    /// Origins allowed to call the API from a browser, comma-separated
    /// (for example `http://localhost:3000`). Empty allows none.
    #[arg(long, env = "CLIENT_ORIGIN", default_value = "", global = true)]
    pub client_origin: String,

    /// Add `Secure` to cookies [default: true when PUBLIC_URL starts with https://].
    #[arg(long, env = "COOKIE_SECURE", global = true)]
    pub cookie_secure: Option<bool>,

    /// SMTP server host name; unset (with EMAIL_URL unset) writes emails as `.eml`
    /// files under DATA_DIR/outbox.
    #[arg(long, env = "EMAIL_HOST", global = true)]
    pub email_host: Option<String>,

    /// SMTP server port.
    #[arg(long, env = "EMAIL_PORT", default_value_t = 587, global = true)]
    pub email_port: u16,

    /// SMTP user name.
    #[arg(long, env = "EMAIL_USERNAME", global = true)]
    pub email_username: Option<String>,

    /// SMTP password.
    #[arg(long, env = "EMAIL_PASSWORD", global = true, hide_env_values = true)]
    pub email_password: Option<Secret>,

    /// Sender address, as `address` or `Name <address>`.
    #[arg(
        long,
        env = "EMAIL_FROM",
        default_value = "postgate <noreply@localhost>",
        global = true
    )]
    pub email_from: String,

    /// SMTP transport security.
    #[arg(long, env = "EMAIL_TLS", value_enum, default_value_t = EmailTls::Opportunistic, global = true)]
    pub email_tls: EmailTls,

    /// SMTP server as one URL (`smtp://user:pass@host:587?tls=required`, `smtps://…`);
    /// replaces the other EMAIL_* connection settings.
    #[arg(long, env = "EMAIL_URL", global = true, hide_env_values = true)]
    pub email_url: Option<Secret>,

    /// SMTP connection and command timeout in seconds.
    #[arg(long, env = "EMAIL_TIMEOUT", default_value_t = 10, global = true)]
    pub email_timeout: u64,

    /// Delivery attempts per email before it is marked failed.
    #[arg(long, env = "EMAIL_MAX_ATTEMPTS", default_value_t = 8, global = true)]
    pub email_max_attempts: u32,

    /// Delay in seconds before the first retry of a failed email; each further
    /// retry waits twice as long, up to EMAIL_RETRY_MAX, with random jitter.
    #[arg(long, env = "EMAIL_RETRY_BASE", default_value_t = 30.0, global = true)]
    pub email_retry_base: f64,

    /// Maximum delay in seconds between two delivery attempts of one email.
    #[arg(long, env = "EMAIL_RETRY_MAX", default_value_t = 3600.0, global = true)]
    pub email_retry_max: f64,

    /// Seconds an instance may hold a claimed email before another instance
    /// takes it over (covers an instance that died while sending).
    #[arg(long, env = "EMAIL_LEASE", default_value_t = 300.0, global = true)]
    pub email_lease: f64,

    /// Seconds between two checks of the outbox for due emails.
    #[arg(
        long,
        env = "EMAIL_POLL_INTERVAL",
        default_value_t = 5.0,
        global = true
    )]
    pub email_poll_interval: f64,

    /// Folder with email templates that replace the built-in ones of the same
    /// file name (for example `verification.html`).
    #[arg(long, env = "EMAIL_TEMPLATES_DIR", global = true)]
    pub email_templates_dir: Option<PathBuf>,

    /// Link in password reset emails; `{token}` is replaced by the reset token
    /// [default: {PUBLIC_URL}/api/auth/reset-password?token={token}].
    #[arg(long, env = "RESET_PASSWORD_URL", global = true)]
    pub reset_password_url: Option<String>,

    /// Password reset link lifetime in minutes.
    #[arg(
        long,
        env = "RESET_TOKEN_EXPIRES_IN",
        default_value_t = 60,
        global = true
    )]
    pub reset_token_expires_in: u64,

    /// Failed logins per account, as COUNT/DURATION (units s, m, h, d) or off.
    #[arg(
        long,
        env = "RATE_LIMIT_LOGIN_ACCOUNT",
        default_value = "10/15m",
        global = true
    )]
    pub rate_limit_login_account: String,

    /// Login attempts per client IP, as COUNT/DURATION or off.
    #[arg(
        long,
        env = "RATE_LIMIT_LOGIN_IP",
        default_value = "100/15m",
        global = true
    )]
    pub rate_limit_login_ip: String,

    /// Registrations per client IP, as COUNT/DURATION or off.
    #[arg(
        long,
        env = "RATE_LIMIT_REGISTER_IP",
        default_value = "20/1h",
        global = true
    )]
    pub rate_limit_register_ip: String,

    /// Resend-verification and forgot-password requests per email address,
    /// as COUNT/DURATION or off.
    #[arg(
        long,
        env = "RATE_LIMIT_EMAIL_ADDRESS",
        default_value = "5/1h",
        global = true
    )]
    pub rate_limit_email_address: String,

    /// Resend-verification and forgot-password requests per client IP, as
    /// COUNT/DURATION or off.
    #[arg(
        long,
        env = "RATE_LIMIT_EMAIL_IP",
        default_value = "50/1h",
        global = true
    )]
    pub rate_limit_email_ip: String,

    /// Proxies whose X-Forwarded-For header names the client, as
    /// comma-separated IP addresses or CIDR ranges. Empty trusts none.
    #[arg(long, env = "TRUSTED_PROXIES", default_value = "", global = true)]
    pub trusted_proxies: String,

    /// Log line format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,

    /// Maximum time in seconds that a request may run before the server responds with 408.
    #[arg(long, env = "REQUEST_TIMEOUT", default_value_t = 30, global = true)]
    pub request_timeout: u64,

    /// Maximum time in seconds for a client to send a complete request head
    /// (and for a keep-alive connection to stay idle); then the connection closes.
    #[arg(long, env = "HEADER_READ_TIMEOUT", default_value_t = 15, global = true)]
    pub header_read_timeout: u64,
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Ok(Self(value.to_owned()))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EmailTls {
    /// STARTTLS when the server offers it, plain text otherwise.
    Opportunistic,
    /// STARTTLS, and fail when the server does not offer it.
    Starttls,
    /// Implicit TLS from the first byte, usually on port 465.
    Tls,
    /// No encryption.
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    pub backend: Backend,
    pub url: Secret,
    pub max_connections: u32,
}

/// Signing keys as configured; `None` means generate or reuse a key in the data folder.
#[derive(Debug, Clone)]
pub struct ConfiguredKeys {
    pub algorithm: jsonwebtoken::Algorithm,
    pub private_pem: Secret,
    pub public_pem: String,
}

#[derive(Debug, Clone)]
pub struct TokenSettings {
    pub keys: Option<ConfiguredKeys>,
    /// Extra verification keys as PEM text.
    pub verification_keys: Vec<String>,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    pub reuse_interval: Duration,
    pub verification_ttl: Duration,
    pub reset_ttl: Duration,
}

#[derive(Debug, Clone)]
pub enum EmailTransportSettings {
    Smtp {
        host: String,
        port: u16,
        tls: EmailTls,
        credentials: Option<(String, Secret)>,
        timeout: Duration,
    },
    SmtpUrl {
        url: Secret,
        timeout: Duration,
    },
    Files {
        dir: PathBuf,
    },
}

#[derive(Debug, Clone)]
pub struct EmailSettings {
    pub transport: EmailTransportSettings,
    pub from: Mailbox,
    pub templates_dir: Option<PathBuf>,
    pub outbox: OutboxSettings,
}

/// How the delivery worker retries and shares the outbox with other instances.
#[derive(Debug, Clone)]
pub struct OutboxSettings {
    pub max_attempts: u32,
    pub retry_base: Duration,
    pub retry_max: Duration,
    pub lease: Duration,
    pub poll_interval: Duration,
}

/// Validated settings of one server instance.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    /// Base URL without a trailing slash.
    pub public_url: String,
    /// Origin of `public_url` (scheme, host and port), for the Origin check.
    pub public_origin: String,
    pub data_dir: PathBuf,
    pub database: DatabaseSettings,
    pub tokens: TokenSettings,
    pub cookie_secure: bool,
    pub allowed_origins: Vec<HeaderValue>,
    pub email: EmailSettings,
    pub log_format: LogFormat,
    pub request_timeout: Duration,
    pub header_read_timeout: Duration,
    /// Password reset link with a `{token}` placeholder.
    pub reset_password_url: String,
    pub rate_limits: RateLimitSettings,
    pub trusted_proxies: Vec<IpNet>,
}

/// Each rate limit; `None` is off.
#[derive(Debug, Clone)]
pub struct RateLimitSettings {
    pub login_account: Option<Limit>,
    pub login_ip: Option<Limit>,
    pub register_ip: Option<Limit>,
    pub email_address: Option<Limit>,
    pub email_ip: Option<Limit>,
}

/// An invalid setting, named by its environment variable.
#[derive(Debug, thiserror::Error)]
#[error("invalid setting {name}: {reason}")]
pub struct ConfigError {
    pub name: &'static str,
    pub reason: String,
}

fn invalid(name: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        name,
        reason: reason.into(),
    }
}

impl ConfigArgs {
    /// Checks every setting and builds [`Settings`]; the error names the first
    /// invalid setting.
    pub fn into_settings(mut self) -> Result<Settings, ConfigError> {
        self.treat_empty_as_unset();
        let listen = SocketAddr::new(self.host, self.port);
        let public_url = self.public_url(listen)?;
        let database = self.database()?;
        let tokens = self.tokens()?;
        let cookie_secure = self
            .cookie_secure
            .unwrap_or_else(|| public_url.starts_with("https://"));
        let allowed_origins = parse_origins(&self.client_origin)?;
        let email = self.email()?;
        let rate_limits = self.rate_limits()?;
        let trusted_proxies = parse_trusted_proxies(&self.trusted_proxies)?;
        let reset_password_url = match &self.reset_password_url {
            Some(url) => {
                let parsed = Url::parse(&url.replace("{token}", "token"));
                if !url.contains("{token}") || parsed.is_err() {
                    return Err(invalid(
                        "RESET_PASSWORD_URL",
                        format!("{url:?} must be a URL that contains {{token}}"),
                    ));
                }
                url.clone()
            }
            None => format!("{public_url}/api/auth/reset-password?token={{token}}"),
        };

        let request_timeout = whole_seconds("REQUEST_TIMEOUT", self.request_timeout)?;
        let header_read_timeout = whole_seconds("HEADER_READ_TIMEOUT", self.header_read_timeout)?;

        Ok(Settings {
            listen,
            public_origin: Url::parse(&public_url)
                .map(|url| url.origin().ascii_serialization())
                .unwrap_or_default(),
            public_url,
            data_dir: self.data_dir,
            database,
            tokens,
            cookie_secure,
            allowed_origins,
            email,
            log_format: self.log_format,
            request_timeout,
            header_read_timeout,
            reset_password_url,
            rate_limits,
            trusted_proxies,
        })
    }

    /// Clears optional settings given as empty strings: a `.env` line such as
    /// `EMAIL_HOST=` means "not configured", as it did for the reference app.
    fn treat_empty_as_unset(&mut self) {
        fn clear_string(value: &mut Option<String>) {
            if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
                *value = None;
            }
        }
        fn clear_secret(value: &mut Option<Secret>) {
            if value.as_ref().is_some_and(|v| v.expose().trim().is_empty()) {
                *value = None;
            }
        }
        clear_string(&mut self.public_url);
        clear_string(&mut self.postgres_user);
        clear_string(&mut self.postgres_hostname);
        clear_string(&mut self.postgres_db);
        clear_string(&mut self.jwt_public_key);
        clear_string(&mut self.email_host);
        clear_string(&mut self.email_username);
        clear_string(&mut self.reset_password_url);
        if self
            .email_templates_dir
            .as_ref()
            .is_some_and(|dir| dir.as_os_str().is_empty())
        {
            self.email_templates_dir = None;
        }
        clear_secret(&mut self.database_url);
        clear_secret(&mut self.postgres_password);
        clear_secret(&mut self.jwt_private_key);
        clear_secret(&mut self.email_password);
        clear_secret(&mut self.email_url);
    }

    fn rate_limits(&self) -> Result<RateLimitSettings, ConfigError> {
        let limit = |name: &'static str, raw: &str| {
            parse_setting(raw).map_err(|reason| invalid(name, reason))
        };
        Ok(RateLimitSettings {
            login_account: limit("RATE_LIMIT_LOGIN_ACCOUNT", &self.rate_limit_login_account)?,
            login_ip: limit("RATE_LIMIT_LOGIN_IP", &self.rate_limit_login_ip)?,
            register_ip: limit("RATE_LIMIT_REGISTER_IP", &self.rate_limit_register_ip)?,
            email_address: limit("RATE_LIMIT_EMAIL_ADDRESS", &self.rate_limit_email_address)?,
            email_ip: limit("RATE_LIMIT_EMAIL_IP", &self.rate_limit_email_ip)?,
        })
    }

    fn public_url(&self, listen: SocketAddr) -> Result<String, ConfigError> {
        let raw = match &self.public_url {
            Some(url) => url.clone(),
            None => format!("http://{listen}"),
        };
        let url = Url::parse(&raw)
            .map_err(|e| invalid("PUBLIC_URL", format!("{raw:?} is not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(invalid(
                "PUBLIC_URL",
                format!("{raw:?} must be an http:// or https:// URL with a host"),
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid(
                "PUBLIC_URL",
                format!("{raw:?} must not have a query or fragment"),
            ));
        }
        // The default URL has port 0 when PORT=0 picks a free port; a
        // configured URL with port 0 is a mistake.
        if self.public_url.is_some() && url.port() == Some(0) {
            return Err(invalid("PUBLIC_URL", format!("{raw:?} has port 0")));
        }
        // Every email link starts with this URL, so credentials in it would
        // go to every recipient.
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid(
                "PUBLIC_URL",
                "must not contain a user name or password",
            ));
        }
        Ok(url.as_str().trim_end_matches('/').to_owned())
    }

    fn database(&self) -> Result<DatabaseSettings, ConfigError> {
        if !(1..=MAX_DATABASE_CONNECTIONS).contains(&self.database_max_connections) {
            return Err(invalid(
                "DATABASE_MAX_CONNECTIONS",
                format!("must be from 1 to {MAX_DATABASE_CONNECTIONS}"),
            ));
        }
        let url = match (&self.database_url, &self.postgres_hostname) {
            (Some(url), _) => url.expose().to_owned(),
            (None, Some(host)) => self.postgres_url_from_parts(host)?,
            (None, None) => {
                let path = self.data_dir.join("postgate.db");
                format!("sqlite://{}?mode=rwc", path.display())
            }
        };
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            return Err(invalid(
                "DATABASE_URL",
                "must start with postgres://, postgresql:// or sqlite:",
            ));
        };
        Ok(DatabaseSettings {
            backend,
            url: Secret::new(url),
            max_connections: self.database_max_connections,
        })
    }

    fn postgres_url_from_parts(&self, host: &str) -> Result<String, ConfigError> {
        let user = self.postgres_user.as_deref().ok_or_else(|| {
            invalid(
                "POSTGRES_USER",
                "missing; it is required with POSTGRES_HOSTNAME",
            )
        })?;
        let db = self.postgres_db.as_deref().ok_or_else(|| {
            invalid(
                "POSTGRES_DB",
                "missing; it is required with POSTGRES_HOSTNAME",
            )
        })?;
        let mut url = Url::parse("postgres://localhost").expect("static URL parses");
        url.set_host(Some(host)).map_err(|e| {
            invalid(
                "POSTGRES_HOSTNAME",
                format!("{host:?} is not a host name: {e}"),
            )
        })?;
        url.set_port(Some(self.database_port))
            .expect("postgres URLs take a port");
        url.set_username(user)
            .expect("postgres URLs take a user name");
        if let Some(password) = &self.postgres_password {
            url.set_password(Some(password.expose()))
                .expect("postgres URLs take a password");
        }
        url.set_path(db);
        Ok(url.to_string())
    }

    fn tokens(&self) -> Result<TokenSettings, ConfigError> {
        let algorithm = match self.jwt_algorithm.as_str() {
            "RS256" => jsonwebtoken::Algorithm::RS256,
            "EdDSA" => jsonwebtoken::Algorithm::EdDSA,
            other => {
                return Err(invalid(
                    "JWT_ALGORITHM",
                    format!("{other:?} is not supported; use RS256 or EdDSA"),
                ));
            }
        };
        let keys = match (&self.jwt_private_key, &self.jwt_public_key) {
            (None, None) => None,
            (Some(_), None) => {
                return Err(invalid(
                    "JWT_PUBLIC_KEY",
                    "missing; it is required with JWT_PRIVATE_KEY",
                ));
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "JWT_PRIVATE_KEY",
                    "missing; it is required with JWT_PUBLIC_KEY",
                ));
            }
            (Some(private), Some(public)) => Some(ConfiguredKeys {
                algorithm,
                private_pem: Secret::new(decode_base64_pem("JWT_PRIVATE_KEY", private.expose())?),
                public_pem: decode_base64_pem("JWT_PUBLIC_KEY", public)?,
            }),
        };
        let minutes = |name: &'static str, value: u64| {
            if value == 0 {
                Err(invalid(name, "must be at least 1 minute"))
            } else if value > MAX_DURATION.as_secs() / 60 {
                Err(invalid(
                    name,
                    format!(
                        "must be at most 365 days ({} minutes)",
                        MAX_DURATION.as_secs() / 60
                    ),
                ))
            } else {
                Ok(Duration::from_secs(value * 60))
            }
        };
        let verification_keys = self
            .jwt_verification_keys
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|value| !value.is_empty())
            .map(|value| decode_base64_pem("JWT_VERIFICATION_KEYS", value))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TokenSettings {
            keys,
            verification_keys,
            access_ttl: minutes("ACCESS_TOKEN_EXPIRES_IN", self.access_token_expires_in)?,
            refresh_ttl: minutes("REFRESH_TOKEN_EXPIRES_IN", self.refresh_token_expires_in)?,
            // Zero is allowed here: it turns the grace period off.
            reuse_interval: match self.refresh_token_reuse_interval {
                0 => Duration::ZERO,
                value => whole_seconds("REFRESH_TOKEN_REUSE_INTERVAL", value)?,
            },
            verification_ttl: minutes(
                "VERIFICATION_TOKEN_EXPIRES_IN",
                self.verification_token_expires_in,
            )?,
            reset_ttl: minutes("RESET_TOKEN_EXPIRES_IN", self.reset_token_expires_in)?,
        })
    }

    fn email(&self) -> Result<EmailSettings, ConfigError> {
        let from: Mailbox = self.email_from.parse().map_err(|e| {
            invalid(
                "EMAIL_FROM",
                format!("{:?} is not an email address: {e}", self.email_from),
            )
        })?;
        let timeout = whole_seconds("EMAIL_TIMEOUT", self.email_timeout)?;
        let transport = if let Some(url) = &self.email_url {
            let parsed = Url::parse(url.expose())
                .map_err(|e| invalid("EMAIL_URL", format!("not a URL: {e}")))?;
            if !matches!(parsed.scheme(), "smtp" | "smtps") || parsed.host().is_none() {
                return Err(invalid(
                    "EMAIL_URL",
                    "must be an smtp:// or smtps:// URL with a host",
                ));
            }
            // lettre 0.11 reads `tls=required` and `tls=opportunistic` on smtp:// only.
            let tls = parsed
                .query_pairs()
                .find(|(key, _)| key == "tls")
                .map(|(_, value)| value.into_owned());
            if let Some(tls) = &tls
                && (parsed.scheme() != "smtp"
                    || !matches!(tls.as_str(), "required" | "opportunistic"))
            {
                return Err(invalid(
                    "EMAIL_URL",
                    format!(
                        "tls={tls:?} is not supported; use smtp://…?tls=required, smtp://…?tls=opportunistic or smtps://"
                    ),
                ));
            }
            // Without required TLS, lettre would send the password in plain
            // text to a server (or an attacker in between) without STARTTLS.
            let has_credentials = !parsed.username().is_empty() || parsed.password().is_some();
            if has_credentials && parsed.scheme() == "smtp" && tls.as_deref() != Some("required") {
                return Err(invalid(
                    "EMAIL_URL",
                    "credentials need TLS: use smtp://…?tls=required or smtps://, \
                     or EMAIL_HOST with EMAIL_TLS=none to send them unencrypted on purpose",
                ));
            }
            EmailTransportSettings::SmtpUrl {
                url: url.clone(),
                timeout,
            }
        } else if let Some(host) = &self.email_host {
            if host.trim().is_empty() {
                return Err(invalid("EMAIL_HOST", "must not be empty"));
            }
            if self.email_port == 0 {
                return Err(invalid("EMAIL_PORT", "must be from 1 to 65535"));
            }
            let credentials = match (&self.email_username, &self.email_password) {
                (Some(user), Some(password)) => Some((user.clone(), password.clone())),
                (Some(user), None) => Some((user.clone(), Secret::default())),
                _ => None,
            };
            // Opportunistic STARTTLS would send the credentials in plain text
            // to a server, or an attacker in between, that offers no STARTTLS.
            let tls = match self.email_tls {
                EmailTls::Opportunistic if credentials.is_some() => EmailTls::Starttls,
                other => other,
            };
            EmailTransportSettings::Smtp {
                host: host.clone(),
                port: self.email_port,
                tls,
                credentials,
                timeout,
            }
        } else {
            EmailTransportSettings::Files {
                dir: self.data_dir.join("outbox"),
            }
        };
        if self.email_max_attempts == 0 {
            return Err(invalid("EMAIL_MAX_ATTEMPTS", "must be at least 1"));
        }
        let outbox = OutboxSettings {
            max_attempts: self.email_max_attempts,
            retry_base: seconds("EMAIL_RETRY_BASE", self.email_retry_base)?,
            retry_max: seconds("EMAIL_RETRY_MAX", self.email_retry_max)?,
            lease: seconds("EMAIL_LEASE", self.email_lease)?,
            poll_interval: seconds("EMAIL_POLL_INTERVAL", self.email_poll_interval)?,
        };
        if outbox.poll_interval < MIN_POLL_INTERVAL {
            return Err(invalid(
                "EMAIL_POLL_INTERVAL",
                format!(
                    "must be at least {} seconds",
                    MIN_POLL_INTERVAL.as_secs_f64()
                ),
            ));
        }
        // A batch is sent in parallel, each email within the timeout, so a
        // shorter lease would let another instance take over emails that are
        // still being sent and deliver them twice.
        if outbox.lease <= timeout {
            return Err(invalid(
                "EMAIL_LEASE",
                "must be longer than EMAIL_TIMEOUT; keep it well above",
            ));
        }
        if let Some(dir) = &self.email_templates_dir
            && !dir.is_dir()
        {
            return Err(invalid(
                "EMAIL_TEMPLATES_DIR",
                format!("{} is not a folder", dir.display()),
            ));
        }
        Ok(EmailSettings {
            transport,
            from,
            templates_dir: self.email_templates_dir.clone(),
            outbox,
        })
    }
}

fn parse_trusted_proxies(raw: &str) -> Result<Vec<IpNet>, ConfigError> {
    raw.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            entry
                .parse::<IpNet>()
                .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    invalid(
                        "TRUSTED_PROXIES",
                        format!("{entry:?} is not an IP address or CIDR range"),
                    )
                })
        })
        .collect()
}

/// Parses a positive number of seconds, fractions allowed.
/// The largest pool the server accepts; far above what a PostgreSQL server
/// allows by default (100 connections), and small enough to allocate.
const MAX_DATABASE_CONNECTIONS: u32 = 10_000;

/// The shortest outbox poll interval: shorter ones only burn CPU on queries.
const MIN_POLL_INTERVAL: Duration = Duration::from_millis(50);

/// The maximum duration that any setting accepts. Longer values make no sense
/// for a token, a lease or a timeout, and would overflow date arithmetic.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// Parses a positive number of seconds, fractions allowed, up to [`MAX_DURATION`].
fn seconds(name: &'static str, value: f64) -> Result<Duration, ConfigError> {
    match Duration::try_from_secs_f64(value) {
        Ok(duration) if duration.is_zero() => Err(invalid(
            name,
            format!("{value} is not a positive number of seconds"),
        )),
        Ok(duration) if duration <= MAX_DURATION => Ok(duration),
        Ok(_) => Err(too_long(name)),
        Err(_) => Err(invalid(
            name,
            format!("{value} is not a positive number of seconds"),
        )),
    }
}

/// Parses a whole number of seconds from 1 up to [`MAX_DURATION`].
fn whole_seconds(name: &'static str, value: u64) -> Result<Duration, ConfigError> {
    match value {
        0 => Err(invalid(name, "must be at least 1 second")),
        value if value > MAX_DURATION.as_secs() => Err(too_long(name)),
        value => Ok(Duration::from_secs(value)),
    }
}

fn too_long(name: &'static str) -> ConfigError {
    invalid(
        name,
        format!(
            "must be at most 365 days ({} seconds)",
            MAX_DURATION.as_secs()
        ),
    )
}

fn decode_base64_pem(name: &'static str, value: &str) -> Result<String, ConfigError> {
    let compact: String = value.split_whitespace().collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|e| invalid(name, format!("not valid base64: {e}")))?;
    let pem = String::from_utf8(bytes)
        .map_err(|_| invalid(name, "the decoded value is not a PEM text"))?;
    if !pem.contains("-----BEGIN ") {
        return Err(invalid(name, "the decoded value is not a PEM text"));
    }
    Ok(pem)
}

fn parse_origins(raw: &str) -> Result<Vec<HeaderValue>, ConfigError> {
    let mut origins = Vec::new();
    for origin in raw.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        let url = Url::parse(origin)
            .map_err(|e| invalid("CLIENT_ORIGIN", format!("{origin:?} is not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(invalid(
                "CLIENT_ORIGIN",
                format!("{origin:?} must be an http:// or https:// origin"),
            ));
        }
        if !url.username().is_empty()
            || url.password().is_some()
            || url.path() != "/"
            || url.query().is_some()
            || url.fragment().is_some()
        {
            return Err(invalid(
                "CLIENT_ORIGIN",
                format!(
                    "{origin:?} must be only scheme, host and port, such as https://app.example.com"
                ),
            ));
        }
        // Browsers send the origin without a path, so compare against that form.
        let normalized = url.origin().ascii_serialization();
        // URL parsing accepts `*` in a host name, also percent-encoded.
        if normalized.contains('*') {
            return Err(invalid(
                "CLIENT_ORIGIN",
                format!("{origin:?}: wildcards are not supported; list each origin"),
            ));
        }
        let value = HeaderValue::from_str(&normalized)
            .map_err(|_| invalid("CLIENT_ORIGIN", format!("{origin:?} is not a valid origin")))?;
        origins.push(value);
    }
    Ok(origins)
}
