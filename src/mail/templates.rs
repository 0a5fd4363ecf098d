//! The messages' text: built-in templates, each overridable by a file of the same name in
//! `email.templates_dir`, filled by MiniJinja. MiniJinja because it is a maintained engine
//! that needs no build step (askama compiles templates into the binary, so an operator could
//! not override them) and is smaller than tera; it escapes `.html` templates by default.

use minijinja::{Environment, Value};

/// What each message is, as template names: `<kind>.subject.txt`, `<kind>.txt`, `<kind>.html`.
pub const KINDS: [&str; 5] = [
    "verify_email",
    "reset_password",
    "email_signin",
    "change_email",
    "email_changed",
];

const BUILT_IN: &[(&str, &str)] = &[
    (
        "verify_email.subject.txt",
        include_str!("templates/verify_email.subject.txt"),
    ),
    (
        "verify_email.txt",
        include_str!("templates/verify_email.txt"),
    ),
    (
        "verify_email.html",
        include_str!("templates/verify_email.html"),
    ),
    (
        "reset_password.subject.txt",
        include_str!("templates/reset_password.subject.txt"),
    ),
    (
        "reset_password.txt",
        include_str!("templates/reset_password.txt"),
    ),
    (
        "reset_password.html",
        include_str!("templates/reset_password.html"),
    ),
    (
        "email_signin.subject.txt",
        include_str!("templates/email_signin.subject.txt"),
    ),
    (
        "email_signin.txt",
        include_str!("templates/email_signin.txt"),
    ),
    (
        "email_signin.html",
        include_str!("templates/email_signin.html"),
    ),
    (
        "change_email.subject.txt",
        include_str!("templates/change_email.subject.txt"),
    ),
    (
        "change_email.txt",
        include_str!("templates/change_email.txt"),
    ),
    (
        "change_email.html",
        include_str!("templates/change_email.html"),
    ),
    (
        "email_changed.subject.txt",
        include_str!("templates/email_changed.subject.txt"),
    ),
    (
        "email_changed.txt",
        include_str!("templates/email_changed.txt"),
    ),
    (
        "email_changed.html",
        include_str!("templates/email_changed.html"),
    ),
];

/// A message's three parts, filled in.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// What the templates can use.
pub struct MessageContext<'a> {
    pub product_name: &'a str,
    /// The address the message goes to.
    pub email: &'a str,
    pub new_email: Option<&'a str>,
    pub link: Option<&'a str>,
    pub code: Option<&'a str>,
    /// "15 minutes", "24 hours".
    pub expires_in: String,
}

impl MessageContext<'_> {
    fn values(&self) -> Value {
        Value::from_pairs([
            ("product_name", Value::from(self.product_name)),
            ("email", Value::from(self.email)),
            ("new_email", Value::from(self.new_email.unwrap_or_default())),
            ("link", Value::from(self.link.unwrap_or_default())),
            ("code", Value::from(self.code.unwrap_or_default())),
            ("expires_in", Value::from(self.expires_in.as_str())),
        ])
    }
}

pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    /// The built-in templates, with the files of `dir` (when not empty) in their place. Every
    /// template is compiled here, so a broken override stops the start, not a send.
    pub fn load(dir: &str) -> Result<Self, String> {
        let mut env = Environment::new();
        for (name, built_in) in BUILT_IN {
            let path = std::path::Path::new(dir).join(name);
            let source = if !dir.is_empty() && path.exists() {
                std::fs::read_to_string(&path)
                    .map_err(|e| format!("email.templates_dir: {}: {e}", path.display()))?
            } else {
                (*built_in).to_owned()
            };
            env.add_template_owned(*name, source)
                .map_err(|e| format!("email template {name}: {e}"))?;
        }
        Ok(Self { env })
    }

    pub fn render(&self, kind: &str, context: &MessageContext<'_>) -> Result<Rendered, String> {
        let part = |suffix: &str| {
            let name = format!("{kind}.{suffix}");
            self.env
                .get_template(&name)
                .and_then(|template| template.render(context.values()))
                .map_err(|e| format!("email template {name}: {e}"))
        };
        Ok(Rendered {
            subject: part("subject.txt")?.trim().replace(['\r', '\n'], " "),
            text: part("txt")?,
            html: part("html")?,
        })
    }
}

/// "15 minutes", "1 hour", "24 hours".
pub fn human_duration(secs: u64) -> String {
    let plural = |n: u64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    if secs >= 3600 && secs.is_multiple_of(3600) {
        plural(secs / 3600, "hour")
    } else if secs >= 60 {
        plural(secs.div_ceil(60), "minute")
    } else {
        plural(secs, "second")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_renders_and_html_is_escaped() {
        let templates = Templates::load("").unwrap();
        let context = MessageContext {
            product_name: "Acme <b>",
            email: "ann@example.com",
            new_email: Some("new@example.com"),
            link: Some("https://app.example/x?token=abc&y=1"),
            code: Some("123456"),
            expires_in: human_duration(900),
        };
        for kind in KINDS {
            let rendered = templates.render(kind, &context).unwrap();
            assert!(!rendered.subject.is_empty() && !rendered.subject.contains('\n'));
            assert!(!rendered.html.contains("Acme <b>"), "{kind}: not escaped");
        }
        let verify = templates.render("verify_email", &context).unwrap();
        assert!(verify.text.contains("https://app.example/x?token=abc&y=1"));
        assert!(verify.text.contains("15 minutes"));
        assert_eq!(human_duration(86400), "24 hours");
        assert_eq!(human_duration(3600), "1 hour");
    }
}
