//! Email: templates rendered with minijinja and delivered over SMTP (lettre)
//! or written as `.eml` files when no SMTP server is configured.

pub mod outbox;
pub mod templates;
pub mod worker;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use lettre::address::{Address, Envelope};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::{EmailSettings, EmailTls, EmailTransportSettings};
pub use templates::Templates;

#[derive(Clone)]
enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(AsyncFileTransport<Tokio1Executor>),
}

/// Time allowed to write one `.eml` file in the development mode.
const FILE_WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// Sends the server's emails through the configured transport.
#[derive(Clone)]
pub struct Mailer {
    transport: Transport,
    from: Mailbox,
    templates: Arc<Templates>,
    /// Folder of the `.eml` files in file mode, or `None` when sending over SMTP.
    pub outbox_dir: Option<PathBuf>,
    /// Limit on one whole SMTP delivery. lettre's own timeout covers only the
    /// TCP connect, so a server that accepts and then stays silent would
    /// otherwise hold the worker for ever.
    delivery_timeout: Duration,
}

/// The parts of a rendered email.
pub struct RenderedEmail {
    pub subject: String,
    pub html: String,
    pub text: String,
}

impl Mailer {
    pub fn new(settings: &EmailSettings) -> anyhow::Result<Self> {
        let (transport, outbox_dir, delivery_timeout) = match &settings.transport {
            EmailTransportSettings::Smtp {
                host,
                port,
                tls,
                credentials,
                timeout,
            } => {
                let parameters =
                    || TlsParameters::new(host.clone()).context("invalid EMAIL_HOST for TLS");
                let tls = match tls {
                    EmailTls::Opportunistic => Tls::Opportunistic(parameters()?),
                    EmailTls::Starttls => Tls::Required(parameters()?),
                    EmailTls::Tls => Tls::Wrapper(parameters()?),
                    EmailTls::None => Tls::None,
                };
                let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
                    .port(*port)
                    .tls(tls)
                    .timeout(Some(*timeout));
                if let Some((user, password)) = credentials {
                    builder = builder
                        .credentials(Credentials::new(user.clone(), password.expose().to_owned()));
                }
                (Transport::Smtp(builder.build()), None, *timeout)
            }
            EmailTransportSettings::SmtpUrl { url, timeout } => {
                let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
                    .context("invalid EMAIL_URL")?
                    .timeout(Some(*timeout))
                    .build();
                (Transport::Smtp(transport), None, *timeout)
            }
            EmailTransportSettings::Files { dir } => {
                std::fs::create_dir_all(dir).with_context(|| {
                    format!(
                        "failed to create the email folder {} (check DATA_DIR)",
                        dir.display()
                    )
                })?;
                (
                    Transport::Files(AsyncFileTransport::new(dir)),
                    Some(dir.clone()),
                    FILE_WRITE_TIMEOUT,
                )
            }
        };
        Ok(Self {
            transport,
            from: settings.from.clone(),
            templates: Arc::new(Templates::load(settings.templates_dir.as_deref())?),
            outbox_dir,
            delivery_timeout,
        })
    }

    pub fn templates(&self) -> &Templates {
        &self.templates
    }

    /// Builds a multipart email with an HTML body and its plain-text alternative.
    pub fn build(&self, to: Mailbox, email: RenderedEmail) -> anyhow::Result<Message> {
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.subject)
            .multipart(MultiPart::alternative_plain_html(email.text, email.html))
            .context("failed to build the email")
    }

    /// Delivers a formatted message to `recipient` and waits for the
    /// transport to accept it.
    pub async fn send_raw(&self, recipient: &str, message: &[u8]) -> anyhow::Result<()> {
        let to: Address = recipient
            .parse()
            .with_context(|| format!("invalid recipient address {recipient:?}"))?;
        let envelope = Envelope::new(Some(self.from.email.clone()), vec![to])
            .context("failed to build the SMTP envelope")?;
        let delivery = async {
            match &self.transport {
                Transport::Smtp(smtp) => smtp
                    .send_raw(&envelope, message)
                    .await
                    .map(|_| ())
                    .context("SMTP delivery failed"),
                Transport::Files(files) => files
                    .send_raw(&envelope, message)
                    .await
                    .map(|_| ())
                    .context("writing the .eml file failed"),
            }
        };
        tokio::time::timeout(self.delivery_timeout, delivery)
            .await
            .map_err(|_| {
                anyhow::anyhow!(
                    "delivery timed out after {} seconds (EMAIL_TIMEOUT)",
                    self.delivery_timeout.as_secs_f64()
                )
            })?
    }
}
