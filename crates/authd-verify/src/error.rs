/// Every way a token can fail verification. `code()` is the stable code authd answers with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("the token has expired")]
    Expired,
    #[error("the token header has no kid, or names a key this server does not have")]
    UnknownKey,
    #[error("the token's algorithm is not the one its key is pinned to")]
    AlgorithmNotAllowed,
    #[error("the token's signature does not verify")]
    BadSignature,
    #[error("the token was issued by someone else")]
    WrongIssuer,
    #[error("the token is meant for another audience")]
    WrongAudience,
    #[error("expected {expected} token")]
    WrongType { expected: &'static str },
    #[error("a required claim is missing or malformed: {0}")]
    BadClaims(String),
    #[error("the token header lists critical extensions (crit) this server does not understand")]
    UnsupportedCritical,
    #[error("the token is not valid yet (nbf)")]
    NotYetValid,
    #[error("the token's iat is in the future")]
    IssuedInFuture,
    #[error("the token's lifetime (exp - iat) is longer than this server issues")]
    LifetimeTooLong,
    /// The revocation feed lists the token's session, or its user's "not before" is later.
    #[error("{0}")]
    Revoked(&'static str),
    /// No key set could be fetched yet (authd unreachable since start).
    #[error("the key set cannot be fetched: {0}")]
    KeysUnavailable(String),
}

impl VerifyError {
    /// authd's error code for this refusal.
    pub fn code(&self) -> &'static str {
        match self {
            VerifyError::Expired => "token_expired",
            VerifyError::Revoked(_) => "token_revoked",
            VerifyError::KeysUnavailable(_) => "verifier_unavailable",
            _ => "token_invalid",
        }
    }
}
