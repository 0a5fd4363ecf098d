use secrecy::SecretString;
use zxcvbn::{zxcvbn, Score};

/// Longer inputs are refused before hashing: argon2 cost does not depend on length, but a
/// bound keeps request bodies and memory predictable.
pub const MAX_PASSWORD_BYTES: usize = 256;
const MIN_PASSWORD_CHARS: usize = 8;
/// zxcvbn's strength estimate looks at this many characters at most. Its cost grows fast with
/// length on crafted input (ambiguous l33t characters: 0.2 s at 64 characters, seconds at
/// 256); on 32 characters it stays in the tens of milliseconds. A password whose first 32
/// characters are guessable is weak whatever follows.
const STRENGTH_CHECKED_CHARS: usize = 32;

/// Django's UserAttributeSimilarityValidator: each personal value, its email local part and
/// its words are compared with the password; a ratio of 0.7 or more is too similar. Django
/// uses difflib's ratio; the Sørensen-Dice bigram ratio behaves alike on such short strings.
fn is_too_similar(password: &str, personal: &[&str]) -> bool {
    let password = password.to_lowercase();
    personal
        .iter()
        .map(|value| value.to_lowercase())
        .flat_map(|value| {
            let local = value.split('@').next().unwrap_or_default().to_owned();
            let words: Vec<String> = value
                .split(|c: char| !c.is_alphanumeric())
                .map(str::to_owned)
                .collect();
            [value, local].into_iter().chain(words)
        })
        .filter(|part| part.chars().count() >= 3)
        .any(|part| strsim::sorensen_dice(&password, &part) >= 0.7)
}

/// A password that passes the policy of Django's four default validators: minimum length,
/// not entirely numeric, not a common password, not too similar to the user's own details.
/// The last two use zxcvbn's dictionaries and pattern matching instead of Django's lists.
pub struct NewPassword(SecretString);

impl NewPassword {
    /// `personal` holds the user's email, username and names; a password that is guessable
    /// mostly because of them is refused as too similar.
    pub fn parse(raw: &str, personal: &[&str]) -> Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        if raw.len() > MAX_PASSWORD_BYTES {
            problems.push(format!(
                "This password is too long; use at most {MAX_PASSWORD_BYTES} bytes."
            ));
            return Err(problems);
        }
        if raw.chars().count() < MIN_PASSWORD_CHARS {
            problems.push(format!(
                "This password is too short. It must contain at least {MIN_PASSWORD_CHARS} characters."
            ));
        }
        if !raw.is_empty() && raw.chars().all(|c| c.is_ascii_digit()) {
            problems.push("This password is entirely numeric.".into());
        }
        if !raw.is_empty() && is_too_similar(raw, personal) {
            problems.push("The password is too similar to your personal information.".into());
        }
        let checked: String = raw.chars().take(STRENGTH_CHECKED_CHARS).collect();
        if !raw.is_empty() && zxcvbn(&checked, &[]).score() <= Score::One {
            problems.push("This password is too common.".into());
        }
        if problems.is_empty() {
            Ok(Self(SecretString::from(raw.to_owned())))
        } else {
            Err(problems)
        }
    }

    pub fn into_secret(self) -> SecretString {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::NewPassword;

    fn problems(password: &str, personal: &[&str]) -> Vec<String> {
        NewPassword::parse(password, personal)
            .err()
            .unwrap_or_default()
    }

    #[test]
    fn accepts_a_reasonable_password() {
        assert!(problems("violet-Tractor-42", &["ann@example.com"]).is_empty());
    }

    #[test]
    fn refuses_what_django_refuses() {
        assert!(problems("short1!", &[])[0].contains("too short"));
        assert!(problems("1234567890123", &[])
            .iter()
            .any(|p| p.contains("numeric")));
        assert!(problems("password123", &[])
            .iter()
            .any(|p| p.contains("common")));
        assert!(problems("annabelle.lee1", &["annabelle.lee@example.com"])
            .iter()
            .any(|p| p.contains("similar")));
        assert!(
            problems("violet-Tractor-42", &["tartan.rider@example.com", "tartan"])
                .iter()
                .all(|p| !p.contains("similar"))
        );
        assert!(problems(&"x".repeat(257), &[])[0].contains("too long"));
    }
}
