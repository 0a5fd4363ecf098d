//! `Authorization: Bearer <token>`, with a specific error for each way it can be wrong.

/// Why an `Authorization` header gives no bearer token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BearerError {
    #[error("no Authorization header")]
    Missing,
    #[error("{0}")]
    Malformed(&'static str),
}

/// The `WWW-Authenticate` value of a 401 with this error code (RFC 6750 §3): a bare challenge
/// when no credentials were sent (or they were not a token), else the error and its code.
pub fn bearer_challenge(code: &str) -> String {
    match code {
        "not_authenticated" | "invalid_credentials" | "user_inactive" => {
            r#"Bearer realm="authd""#.to_owned()
        }
        _ => format!(r#"Bearer realm="authd", error="invalid_token", error_description="{code}""#),
    }
}

/// The token of an `Authorization` header's value (`None`: no header).
pub fn parse_bearer(header: Option<&[u8]>) -> Result<&str, BearerError> {
    let header = header.ok_or(BearerError::Missing)?;
    // Visible ASCII and tabs only, as HTTP header values should be.
    let value = std::str::from_utf8(header)
        .ok()
        .filter(|v| v.bytes().all(|b| b == b'\t' || (0x20..0x7f).contains(&b)))
        .ok_or(BearerError::Malformed("the header is not visible ASCII"))?;
    let value = value.trim();
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(BearerError::Malformed("the scheme is not Bearer"));
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(BearerError::Malformed("no token follows Bearer"));
    }
    if token.bytes().any(|b| b == b' ' || b == b'\t') {
        return Err(BearerError::Malformed("the token contains spaces"));
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_malformed_header_says_why() {
        assert_eq!(parse_bearer(Some(b"Bearer abc")), Ok("abc"));
        assert_eq!(parse_bearer(Some(b"bearer  abc ")), Ok("abc"));
        assert_eq!(parse_bearer(None), Err(BearerError::Missing));
        for (header, why) in [
            (&b"Basic abc"[..], "scheme"),
            (b"Bearer", "no token"),
            (b"Bearer a b", "spaces"),
            (b"Bearer \xff", "visible ASCII"),
        ] {
            let error = parse_bearer(Some(header)).unwrap_err().to_string();
            assert!(error.contains(why), "{error}");
        }
    }
}
