// A real OpenID Connect provider (panva's certified oidc-provider) for authd's interoperability
// test. Usage: node provider.mjs PORT CLIENT_ID CLIENT_SECRET REDIRECT_URI EMAIL
// Its interaction logs the requested account in and grants consent without a human.
import http from "node:http";
import Provider from "oidc-provider";

const [port, clientId, clientSecret, redirectUri, email] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;
const accountId = "interop-account-1";

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: [redirectUri],
      response_types: ["code"],
      grant_types: ["authorization_code"],
      token_endpoint_auth_method: "client_secret_basic",
    },
  ],
  async findAccount(_ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, email, email_verified: true, given_name: "Ada", family_name: "Lovelace" };
      },
    };
  },
  claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["given_name", "family_name"] },
  // Put the scope's claims in the ID token too (authd reads them from there).
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: false } },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  cookies: { keys: ["interop-test-cookie-key"] },
});

const oidc = provider.callback();
const server = http.createServer(async (req, res) => {
  if (!req.url.startsWith("/interaction/")) return oidc(req, res);
  try {
    const { prompt, params, session } = await provider.interactionDetails(req, res);
    if (prompt.name === "login") {
      await provider.interactionFinished(req, res, { login: { accountId } }, { mergeWithLastSubmission: false });
    } else {
      const grant = new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
      grant.addOIDCScope(params.scope);
      const grantId = await grant.save();
      await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    }
  } catch (error) {
    res.statusCode = 500;
    res.end(String(error));
  }
});
server.listen(Number(port), "127.0.0.1", () => console.log(`listening on ${issuer}`));
