//! Email templates in Jinja syntax. The built-in ones are compiled into the
//! binary; a file of the same name in EMAIL_TEMPLATES_DIR replaces one.
//! Names ending in `.html` are HTML-escaped by minijinja, so user input such
//! as a name cannot inject markup.

use std::path::Path;

use anyhow::Context;
use minijinja::{Environment, Value, context};

use super::RenderedEmail;

/// Every template: `{kind}.subject.txt` (first line is the subject),
/// `{kind}.html` and `{kind}.txt` for each kind of email.
const BUILT_IN: &[(&str, &str)] = &[
    (
        "verification.subject.txt",
        include_str!("../../templates/email/verification.subject.txt"),
    ),
    (
        "verification.html",
        include_str!("../../templates/email/verification.html"),
    ),
    (
        "verification.txt",
        include_str!("../../templates/email/verification.txt"),
    ),
    (
        "password_reset.subject.txt",
        include_str!("../../templates/email/password_reset.subject.txt"),
    ),
    (
        "password_reset.html",
        include_str!("../../templates/email/password_reset.html"),
    ),
    (
        "password_reset.txt",
        include_str!("../../templates/email/password_reset.txt"),
    ),
];

pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    /// Loads the built-in templates, each replaced by the file of the same
    /// name in `override_dir` when there is one. A template with a syntax
    /// error stops the start with its file name.
    pub fn load(override_dir: Option<&Path>) -> anyhow::Result<Self> {
        let mut env = Environment::new();
        for (name, built_in) in BUILT_IN {
            let source = match override_dir.map(|dir| dir.join(name)) {
                Some(path) if path.is_file() => {
                    let source = std::fs::read_to_string(&path)
                        .with_context(|| format!("failed to read {}", path.display()))?;
                    tracing::info!(path = %path.display(), "using an email template override");
                    source
                }
                _ => (*built_in).to_owned(),
            };
            env.add_template_owned(*name, source)
                .with_context(|| format!("email template {name} is invalid"))?;
        }
        Ok(Self { env })
    }

    /// Renders the email that sends a new user the verification `link`.
    pub fn verification(
        &self,
        name: &str,
        email: &str,
        link: &str,
        expires_in: &str,
    ) -> anyhow::Result<RenderedEmail> {
        self.render("verification", name, email, link, expires_in)
    }

    /// Renders the email with a single-use password reset `link`.
    pub fn password_reset(
        &self,
        name: &str,
        email: &str,
        link: &str,
        expires_in: &str,
    ) -> anyhow::Result<RenderedEmail> {
        self.render("password_reset", name, email, link, expires_in)
    }

    fn render(
        &self,
        kind: &str,
        name: &str,
        email: &str,
        link: &str,
        expires_in: &str,
    ) -> anyhow::Result<RenderedEmail> {
        // minijinja's HTML escaping also turns `/` into `&#x2f;`, which makes the
        // link unreadable in the source of the email. Links are built from
        // validated URLs and a hex token, so they cannot contain `"` or `<`.
        let link = Value::from_safe_string(link.to_owned());
        let values = context! { name, email, link, expires_in };
        let render = |suffix: &str| -> anyhow::Result<String> {
            let template = format!("{kind}.{suffix}");
            self.env
                .get_template(&template)?
                .render(&values)
                .with_context(|| format!("failed to render email template {template}"))
        };
        let subject = render("subject.txt")?;
        Ok(RenderedEmail {
            subject: subject.lines().next().unwrap_or("").trim().to_owned(),
            html: render("html")?,
            text: render("txt")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escapes_user_values() {
        let templates = Templates::load(None).unwrap();
        let email = templates
            .verification(
                "<script>alert(1)</script>",
                "a@example.com",
                "http://x/y",
                "24 hours",
            )
            .unwrap();
        assert!(!email.html.contains("<script>"));
        assert!(email.html.contains("&lt;script&gt;"));
        assert_eq!(email.subject, "Verify your email address");
    }

    #[test]
    fn override_folder_replaces_one_template() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("password_reset.subject.txt"),
            "New password for {{ name }}\n",
        )
        .unwrap();
        let templates = Templates::load(Some(dir.path())).unwrap();
        let reset = templates
            .password_reset("Ann", "a@example.com", "http://x/r", "1 hour")
            .unwrap();
        assert_eq!(reset.subject, "New password for Ann");
        assert!(reset.html.contains("http://x/r"), "built-in body kept");
    }

    #[test]
    fn invalid_override_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("verification.html"), "{% if %}").unwrap();
        let error = Templates::load(Some(dir.path()))
            .err()
            .expect("syntax error");
        assert!(
            format!("{error:#}").contains("verification.html"),
            "{error:#}"
        );
    }
}
