"""Verify authd's access tokens in a Python service (PyJWT: pip install "pyjwt[crypto]").

    verifier = AuthdVerifier("https://auth.example.com")    # authd's jwt.issuer
    claims = verifier.verify(token)                          # raises jwt.InvalidTokenError

Each key is pinned to the algorithm the JWKS gives it; the header `typ` must be `at+jwt`, so a
refresh token never passes. An unknown `kid` refetches the JWKS at most once per
`refetch_interval` seconds: a key rotation is picked up, a flood of made-up kids is not
forwarded to authd. jwt.ExpiredSignatureError (a subclass of InvalidTokenError) means
"expired": the client should refresh and retry.

Run as a program it reads tokens, one per line, and prints `valid <sub>`, `expired` or
`invalid <reason>` for each (AUTHD_ISSUER, AUTHD_JWKS_URL, AUTHD_AUDIENCE, AUTHD_LEEWAY_SECS,
AUTHD_REFETCH_SECS from the environment).
"""
import os
import sys
import time

import jwt
from jwt import PyJWKClient


class AuthdVerifier:
    def __init__(self, issuer, jwks_url=None, audience="authd", leeway=30, refetch_interval=10):
        self.issuer, self.audience, self.leeway = issuer, audience, leeway
        self.refetch_interval = refetch_interval
        self.jwks = PyJWKClient(jwks_url or f"{issuer.rstrip('/')}/.well-known/jwks.json")
        self.keys = self._fetch()
        self.fetched_at = time.monotonic()

    def _fetch(self):
        return {key.key_id: key for key in self.jwks.get_signing_keys(refresh=True)}

    def _key(self, kid):
        if kid not in self.keys and time.monotonic() - self.fetched_at >= self.refetch_interval:
            self.fetched_at = time.monotonic()
            self.keys = self._fetch()
        if kid not in self.keys:
            raise jwt.InvalidTokenError(f"unknown kid {kid!r}")
        return self.keys[kid]

    def verify(self, token):
        header = jwt.get_unverified_header(token)
        if header.get("typ", "").lower() not in ("at+jwt", "application/at+jwt"):
            raise jwt.InvalidTokenError("not an access token (typ)")
        key = self._key(header.get("kid"))
        return jwt.decode(
            token,
            key.key,
            algorithms=[key.algorithm_name],
            audience=self.audience,
            issuer=self.issuer,
            leeway=self.leeway,
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
        )


def main():
    env = os.environ
    verifier = AuthdVerifier(
        env["AUTHD_ISSUER"],
        jwks_url=env.get("AUTHD_JWKS_URL"),
        audience=env.get("AUTHD_AUDIENCE", "authd"),
        leeway=int(env.get("AUTHD_LEEWAY_SECS", "30")),
        refetch_interval=float(env.get("AUTHD_REFETCH_SECS", "10")),
    )
    for line in sys.stdin:
        try:
            print("valid", verifier.verify(line.strip())["sub"], flush=True)
        except jwt.ExpiredSignatureError:
            print("expired", flush=True)
        except jwt.InvalidTokenError as error:
            print("invalid", str(error).replace("\n", " "), flush=True)


if __name__ == "__main__":
    main()
