//! Email templates in Jinja syntax, compiled into the binary. Names ending in
//! `.html` are HTML-escaped by minijinja, so user input such as a name cannot
//! inject markup.

use minijinja::{Environment, Value, context};

use super::RenderedEmail;

pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    pub fn embedded() -> anyhow::Result<Self> {
        let mut env = Environment::new();
        env.add_template(
            "verification.html",
            include_str!("../../templates/email/verification.html"),
        )?;
        env.add_template(
            "verification.txt",
            include_str!("../../templates/email/verification.txt"),
        )?;
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
        // minijinja's HTML escaping also turns `/` into `&#x2f;`, which makes the
        // link unreadable in the source of the email. The link is built from the
        // validated PUBLIC_URL and a hex token, so it cannot contain `"` or `<`.
        let link = Value::from_safe_string(link.to_owned());
        let values = context! { name, email, link, expires_in };
        Ok(RenderedEmail {
            subject: "Verify your email address".to_owned(),
            html: self
                .env
                .get_template("verification.html")?
                .render(&values)?,
            text: self.env.get_template("verification.txt")?.render(&values)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escapes_user_values() {
        let templates = Templates::embedded().unwrap();
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
    }
}
