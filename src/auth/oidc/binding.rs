//! Binding a provider sign-in to the browser, and a link to the user, that started it.
//!
//! Without it, an attacker who starts a sign-in at their own provider account gets a valid
//! `code` and `state`; a victim's browser made to post them signs the victim in as the
//! attacker (login CSRF), and posting them with the victim's bearer token to `/link` attaches
//! the attacker's identity to the victim's account (link CSRF). So the SPA sends the S256
//! challenge of a secret it keeps in `sessionStorage` to `authorize`, and must show the secret
//! itself (`code_verifier`) at the callback: the attacker's state carries the attacker's
//! challenge, whose secret the victim's browser does not have (the same construction as PKCE,
//! RFC 7636, between the SPA and authd). A link is started with the bearer token at authorize
//! and completes only for that user.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// An S256 code challenge: base64url of a SHA-256, 43 characters.
pub fn parse_challenge(challenge: &str, method: Option<&str>) -> Result<String, String> {
    if method != Some("S256") {
        return Err("code_challenge_method must be S256.".into());
    }
    let decoded = URL_SAFE_NO_PAD.decode(challenge).ok();
    if challenge.len() != 43 || decoded.is_none_or(|bytes| bytes.len() != 32) {
        return Err(
            "code_challenge must be the base64url SHA-256 of the verifier (43 characters).".into(),
        );
    }
    Ok(challenge.to_owned())
}

/// Whether `verifier` (RFC 7636: 43-128 of `A-Z a-z 0-9 - . _ ~`) hashes to `challenge`.
pub fn verifies(challenge: &str, verifier: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    if !well_formed {
        return false;
    }
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    // Constant time: the challenge is not secret, but there is no reason to leak either.
    computed.len() == challenge.len()
        && computed
            .bytes()
            .zip(challenge.bytes())
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

/// What the callback is finishing.
pub enum Flow<'a> {
    SignIn,
    Link { user_id: &'a str },
}

/// Why a stored sign-in may not be finished by this request, if it may not.
pub fn refusal(
    browser_challenge: Option<&str>,
    link_user_id: Option<&str>,
    code_verifier: Option<&str>,
    flow: Flow<'_>,
    allow_unbound: bool,
) -> Option<&'static str> {
    match (browser_challenge, code_verifier) {
        (Some(challenge), Some(verifier)) if verifies(challenge, verifier) => {}
        (Some(_), _) => {
            return Some(
                "the code_verifier does not belong to the browser that started this sign-in",
            )
        }
        (None, _) if !allow_unbound => {
            return Some("the sign-in was started without a code_challenge")
        }
        (None, _) => {}
    }
    match (flow, link_user_id) {
        (Flow::SignIn, None) => None,
        (Flow::SignIn, Some(_)) => {
            Some("this flow was started to link an identity, not to sign in")
        }
        (Flow::Link { user_id }, Some(starter)) if starter == user_id => None,
        (Flow::Link { .. }, Some(_)) => Some("this link was started by another user"),
        (Flow::Link { .. }, None) if allow_unbound => None,
        (Flow::Link { .. }, None) => {
            Some("a link must be started at authorize with the bearer token of the user")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc_7636_example_verifies() {
        // RFC 7636, Appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert_eq!(
            parse_challenge(challenge, Some("S256")).as_deref(),
            Ok(challenge)
        );
        assert!(verifies(challenge, verifier));
        assert!(!verifies(challenge, &verifier.replace('d', "e")));
        assert!(!verifies(challenge, "short"));
        assert!(parse_challenge(challenge, Some("plain")).is_err());
        assert!(parse_challenge(challenge, None).is_err());
        assert!(parse_challenge("too-short", Some("S256")).is_err());
    }
}
