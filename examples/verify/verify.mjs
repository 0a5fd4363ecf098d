// Verify authd's access tokens in a Node.js service (npm jose).
//
//   const verify = authdVerifier({ issuer: "https://auth.example.com" }); // authd's jwt.issuer
//   const { payload } = await verify(token);   // throws on a refused token
//
// jose's remote key set refetches on an unknown kid, at most once per `cooldownDuration`
// (10 s here): a key rotation is picked up, a flood of made-up kids is not forwarded to authd.
// The header `typ` must be `at+jwt` (a refresh token never passes) and the algorithms are
// pinned. An error with code ERR_JWT_EXPIRED means "expired": the client should refresh.
//
// Run as a program it reads tokens, one per line, and prints `valid <sub>`, `expired` or
// `invalid <reason>` for each (AUTHD_ISSUER, AUTHD_JWKS_URL, AUTHD_AUDIENCE,
// AUTHD_LEEWAY_SECS, AUTHD_REFETCH_SECS from the environment).
import { createInterface } from "node:readline";
import { createRemoteJWKSet, jwtVerify } from "jose";

export function authdVerifier({ issuer, jwksUrl, audience = "authd", leewaySecs = 30, refetchSecs = 10 }) {
  const keys = createRemoteJWKSet(new URL(jwksUrl ?? `${issuer.replace(/\/$/, "")}/.well-known/jwks.json`), {
    cooldownDuration: refetchSecs * 1000,
  });
  return (token) => jwtVerify(token, keys, {
    issuer,
    audience,
    typ: "at+jwt",
    algorithms: ["EdDSA", "ES256", "RS256"],
    clockTolerance: leewaySecs,
    requiredClaims: ["exp", "iat", "sub"],
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const env = process.env;
  const verify = authdVerifier({
    issuer: env.AUTHD_ISSUER,
    jwksUrl: env.AUTHD_JWKS_URL,
    audience: env.AUTHD_AUDIENCE ?? "authd",
    leewaySecs: Number(env.AUTHD_LEEWAY_SECS ?? 30),
    refetchSecs: Number(env.AUTHD_REFETCH_SECS ?? 10),
  });
  // One at a time, in order: each answer matches its line.
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    try {
      const { payload } = await verify(line.trim());
      console.log(`valid ${payload.sub}`);
    } catch (error) {
      console.log(error.code === "ERR_JWT_EXPIRED" ? "expired" : `invalid ${error.code ?? ""} ${error.message}`.replace(/\n/g, " "));
    }
  }
}
