/// Django's username rule: 1-150 characters of letters, digits and `@ . + - _`, in NFKC so
/// that `ａｎｎ` (fullwidth) is `ann` (letters and digits exclude invisible characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let normalised = super::text::nfkc(raw);
        let value = normalised.trim();
        if value.is_empty() {
            return Err("This field may not be blank.".into());
        }
        if value.chars().count() > 150 {
            return Err("Enter a username of at most 150 characters.".into());
        }
        if !value
            .chars()
            .all(|c| c.is_alphanumeric() || "@.+-_".contains(c))
        {
            return Err("Enter a username of letters, digits and @ . + - _ only.".into());
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Usernames are unique regardless of case, like emails.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

/// A first or last name in NFC: up to 150 characters, no control, invisible or
/// bidirectional-control characters; may be empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonName(String);

impl PersonName {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let normalised = super::text::nfc(raw);
        let value = normalised.trim();
        if value.chars().count() > 150 {
            return Err("Enter at most 150 characters.".into());
        }
        if value.chars().any(char::is_control) {
            return Err("Control characters are not allowed.".into());
        }
        if super::text::has_invisible_or_bidi(value) {
            return Err("Invisible and text-direction characters are not allowed.".into());
        }
        Ok(Self(value.to_owned()))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A phone number as people write it: digits, spaces and `+ - . ( )`, 3 to 32 characters,
/// at least 3 digits; may be empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone(String);

impl Phone {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let value = raw.trim();
        if value.is_empty() {
            return Ok(Self(String::new()));
        }
        let digits = value.chars().filter(char::is_ascii_digit).count();
        let allowed = value
            .chars()
            .all(|c| c.is_ascii_digit() || " +-.()".contains(c));
        if !allowed || digits < 3 || value.len() > 32 {
            return Err("Enter a phone number of digits, spaces and + - . ( ) only.".into());
        }
        Ok(Self(value.to_owned()))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn username_rules() {
        assert_eq!(Username::parse("Ann.Lee+1").unwrap().key(), "ann.lee+1");
        assert!(Username::parse("ann lee").is_err());
        assert!(Username::parse("").is_err());
        assert!(Username::parse(&"a".repeat(151)).is_err());
        assert_eq!(Username::parse("ａｎｎ").unwrap().as_str(), "ann");
        assert!(Username::parse("ann\u{200D}").is_err());
        assert!(PersonName::parse("Ann\u{202E}").is_err());
    }

    #[test]
    fn phone_rules() {
        assert!(Phone::parse("+44 (0)20 7946-0958").is_ok());
        assert!(Phone::parse("call me").is_err());
        assert_eq!(Phone::parse("").unwrap().into_inner(), "");
    }
}
