use std::str::FromStr;

/// A syntactically valid email, in NFKC (so a lookalike such as the Kelvin sign in
/// `\u{212A}ate@x.io` is stored as the `Kate@x.io` it reads as). The domain is lower-cased (it
/// is case-insensitive); the local part keeps its case for display, and `key()` is the fully
/// lower-cased form used for uniqueness and look-up, so `Ann@x.io` and `ann@X.IO` are the same
/// account. Invisible and bidirectional-control characters are refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserEmail(String);

impl UserEmail {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let normalised = super::text::nfkc(raw);
        let trimmed = normalised.trim();
        if super::text::has_invisible_or_bidi(trimmed) {
            return Err("Enter a valid email address.".into());
        }
        if trimmed.is_empty() {
            return Err("This field may not be blank.".into());
        }
        if trimmed.len() > 254 {
            return Err("Enter an email of at most 254 characters.".into());
        }
        let parsed = email_address::EmailAddress::from_str(trimmed)
            .map_err(|_| "Enter a valid email address.".to_owned())?;
        // Display names ("Ann <ann@x.io>") parse too; accept only the bare address.
        if parsed.email() != trimmed || !parsed.domain().contains('.') {
            return Err("Enter a valid email address.".into());
        }
        Ok(Self(format!(
            "{}@{}",
            parsed.local_part(),
            parsed.domain().to_lowercase()
        )))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }

    pub fn local_part(&self) -> &str {
        self.0.split('@').next().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::UserEmail;

    #[test]
    fn keeps_local_case_and_lowercases_domain() {
        let email = UserEmail::parse(" Ann.Lee@Example.COM ").unwrap();
        assert_eq!(email.as_str(), "Ann.Lee@example.com");
        assert_eq!(email.key(), "ann.lee@example.com");
    }

    #[test]
    fn lookalikes_are_stored_as_they_read() {
        let kelvin = UserEmail::parse("\u{212A}ate@Example.com").unwrap();
        assert_eq!(kelvin.as_str(), "Kate@example.com");
        assert_eq!(
            kelvin.key(),
            UserEmail::parse("kate@example.com").unwrap().key()
        );
        assert!(UserEmail::parse("ann\u{200B}@example.com").is_err());
    }

    #[test]
    fn rejects_what_is_not_a_bare_address() {
        for bad in [
            "",
            "ann",
            "ann@",
            "@x.io",
            "Ann <ann@x.io>",
            "ann@localhost",
            "a b@x.io",
        ] {
            assert!(UserEmail::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
