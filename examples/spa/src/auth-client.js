// authd client for single-page apps. Lift this file as it is.
//
// - Keeps the access and refresh tokens in localStorage (shared by every tab of the origin).
// - Sends `Authorization: Bearer <access>` with each request made through `request()`.
// - Refreshes shortly before the access token expires, and once after a 401; then retries the
//   request once.
// - A refresh is single-flight: within a tab, concurrent callers share one promise; across
//   tabs, the Web Locks API lets one tab refresh while the others wait and then pick up its
//   tokens (with a localStorage lock and `storage` events where Web Locks are missing). This
//   matters because authd rotates refresh tokens: a token used twice ends the session.
// - When a refresh fails, the tokens are cleared and `onSignedOut` runs (e.g. go to sign-in).

const KEYS = {
  access: "authd.access",
  refresh: "authd.refresh",
  expiresAt: "authd.expiresAt", // access expiry, ms since the epoch
  lifetime: "authd.lifetime", // access lifetime, ms
  lock: "authd.refreshLock", // fallback cross-tab lock
};
const LOCK_NAME = "authd-refresh";
const FALLBACK_LOCK_MS = 10_000;

export class AuthError extends Error {
  constructor(status, body) {
    super(body?.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = body?.code;
    this.details = body?.details ?? {};
  }
}

export function createAuthClient({ baseUrl, onSignedOut = () => {}, storage = globalThis.localStorage }) {
  let inFlight = null;

  const tokens = () => ({
    access: storage.getItem(KEYS.access),
    refresh: storage.getItem(KEYS.refresh),
    expiresAt: Number(storage.getItem(KEYS.expiresAt) ?? 0),
    lifetime: Number(storage.getItem(KEYS.lifetime) ?? 0),
  });

  function save(pair) {
    storage.setItem(KEYS.access, pair.access);
    storage.setItem(KEYS.refresh, pair.refresh);
    storage.setItem(KEYS.expiresAt, String(pair.expiresAt * 1000));
    storage.setItem(KEYS.lifetime, String(pair.expiresIn * 1000));
  }

  function clear() {
    for (const key of [KEYS.access, KEYS.refresh, KEYS.expiresAt, KEYS.lifetime]) storage.removeItem(key);
  }

  async function post(path, body, headers = {}) {
    const res = await fetch(`${baseUrl}${path}`, {
      method: "POST",
      headers: { "Content-Type": "application/json", ...headers },
      body: JSON.stringify(body),
    });
    const data = res.status === 204 ? null : await res.json().catch(() => null);
    if (!res.ok) throw new AuthError(res.status, data);
    return data;
  }

  // Refreshes unless another tab already replaced `seen` (the refresh token this tab used).
  async function refreshUnlessDone(seen) {
    const current = storage.getItem(KEYS.refresh);
    if (!current) throw new AuthError(401, { code: "not_authenticated", message: "Signed out." });
    if (seen && current !== seen) return; // another tab refreshed while we waited
    try {
      save(await post("/api/auth/refresh", { refresh: current }));
    } catch (error) {
      if (error.status === 401) clear();
      throw error;
    }
  }

  async function withFallbackLock(work) {
    const me = Math.random().toString(36).slice(2);
    for (;;) {
      const held = JSON.parse(storage.getItem(KEYS.lock) ?? "null");
      if (!held || held.until < Date.now()) break;
      await new Promise((resolve) => {
        const done = () => { removeEventListener("storage", onStorage); clearTimeout(timer); resolve(); };
        const onStorage = (event) => { if (event.key === KEYS.lock || event.key === KEYS.refresh) done(); };
        const timer = setTimeout(done, 250);
        addEventListener("storage", onStorage);
      });
    }
    storage.setItem(KEYS.lock, JSON.stringify({ owner: me, until: Date.now() + FALLBACK_LOCK_MS }));
    try {
      return await work();
    } finally {
      if (JSON.parse(storage.getItem(KEYS.lock) ?? "null")?.owner === me) storage.removeItem(KEYS.lock);
    }
  }

  // Resolves once this tab's localStorage shows a refresh token other than `used`.
  function waitForNewToken(used) {
    return new Promise((resolve, reject) => {
      const started = Date.now();
      const check = () => {
        const current = storage.getItem(KEYS.refresh);
        if (current !== used) return resolve(current);
        if (Date.now() - started > FALLBACK_LOCK_MS) return reject(new AuthError(401, { message: "Refresh timed out." }));
        setTimeout(check, 25);
      };
      check();
    });
  }

  // Web Locks serialize the refreshes of all tabs, but another tab's localStorage write can
  // reach this tab after the lock does (Chromium propagates it between processes
  // asynchronously). So a tab that rotated token X also holds the lock "done:X" for a while;
  // a tab about to send X sees that lock and waits for the new token instead.
  const doneLock = (token) => `${LOCK_NAME}:done:${token.slice(-24)}`;

  async function refreshWithWebLocks(seen) {
    await navigator.locks.request(LOCK_NAME, async () => {
      const current = storage.getItem(KEYS.refresh);
      const { held = [] } = await navigator.locks.query();
      if (current && held.some((lock) => lock.name === doneLock(current))) {
        await waitForNewToken(current);
        return;
      }
      await refreshUnlessDone(seen);
      if (!current) return;
      await new Promise((granted) => {
        navigator.locks.request(doneLock(current), () => {
          granted();
          return new Promise((release) => setTimeout(release, FALLBACK_LOCK_MS));
        });
      });
    });
  }

  function refresh(seen) {
    inFlight ??= (globalThis.navigator?.locks
      ? refreshWithWebLocks(seen)
      : withFallbackLock(() => refreshUnlessDone(seen))
    ).finally(() => { inFlight = null; });
    return inFlight;
  }

  function signedOut(error) {
    clear();
    onSignedOut(error);
    return error;
  }

  // The provider's URL for a sign-in or link bound to this tab: a random secret stays in
  // sessionStorage, authd gets its SHA-256 (code_challenge), and the callback must show the
  // secret. An attacker's code and state are useless in this tab, which lacks their secret.
  async function providerUrl(provider, redirectUri, kind) {
    const verifier = base64url(crypto.getRandomValues(new Uint8Array(32)));
    const challenge = base64url(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier))));
    sessionStorage.setItem("authd.flow", JSON.stringify({ provider, kind, verifier }));
    const query = new URLSearchParams({ redirect_uri: redirectUri, code_challenge: challenge, code_challenge_method: "S256" });
    const path = `/api/auth/oidc/${encodeURIComponent(provider)}/authorize?${query}`;
    // A link is started with the bearer token, so only this user can finish it.
    const res = kind === "link"
      ? await request(path, { headers: { Accept: "application/json" } })
      : await fetch(`${baseUrl}${path}`, { headers: { Accept: "application/json" } });
    const data = await res.json().catch(() => null);
    if (!res.ok) throw new AuthError(res.status, data);
    return data.url;
  }

  function base64url(bytes) {
    return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  // fetch() for authd's protected routes (or any API that accepts authd's access tokens).
  async function request(path, options = {}, retried = false) {
    let t = tokens();
    const margin = Math.min(30_000, t.lifetime / 5);
    if (t.refresh && t.expiresAt - Date.now() < margin) {
      try { await refresh(t.refresh); } catch (error) { throw signedOut(error); }
      t = tokens();
    }
    const headers = { ...options.headers };
    if (t.access) headers.Authorization = `Bearer ${t.access}`;
    if (options.body && !headers["Content-Type"]) headers["Content-Type"] = "application/json";
    const res = await fetch(`${baseUrl}${path}`, { ...options, headers });
    if (res.status !== 401 || retried || !t.refresh) return res;
    try { await refresh(t.refresh); } catch (error) { throw signedOut(error); }
    return request(path, options, true);
  }

  async function json(path, options) {
    const res = await request(path, options);
    const data = res.status === 204 ? null : await res.json().catch(() => null);
    if (!res.ok) throw new AuthError(res.status, data);
    return data;
  }

  return {
    request,
    json,
    isSignedIn: () => Boolean(tokens().refresh),
    tokens,
    async signUp(fields) { const body = await post("/api/auth/register", fields); save(body); return body.user; },
    async signIn(email, password) { const body = await post("/api/auth/login", { email, password }); save(body); return body.user; },
    providers: () => fetch(`${baseUrl}/api/auth/oidc/providers`).then((r) => r.json()),
    // Sends the browser to the provider; `redirectUri` must be in authd's oidc.allowed_redirect_uris.
    // The sign-in is bound to this tab: only it holds the secret the callback must show.
    async startProviderSignIn(provider, redirectUri) {
      location.assign(await providerUrl(provider, redirectUri, "signin"));
    },
    // Signed in: links another provider to this account (finished by finishProviderFlow too).
    async startProviderLink(provider, redirectUri) {
      location.assign(await providerUrl(provider, redirectUri, "link"));
    },
    // On the callback page: finishes the sign-in (or link) with the code and state in the URL.
    async finishProviderSignIn(search = location.search) {
      const params = new URLSearchParams(search);
      const flow = JSON.parse(sessionStorage.getItem("authd.flow") ?? "{}");
      sessionStorage.removeItem("authd.flow");
      if (params.has("error")) throw new AuthError(400, { message: params.get("error_description") ?? params.get("error") });
      const body = { code: params.get("code"), state: params.get("state"), code_verifier: flow.verifier };
      const path = `/api/auth/oidc/${encodeURIComponent(flow.provider)}`;
      if (flow.kind === "link") return json(`${path}/link`, { method: "POST", body: JSON.stringify(body) });
      const signedIn = await post(`${path}/callback`, body);
      save(signedIn);
      return signedIn;
    },
    me: () => json("/api/auth/me"),
    updateMe: (fields) => json("/api/auth/me", { method: "PATCH", body: JSON.stringify(fields) }),
    changePassword: (currentPassword, newPassword) =>
      json("/api/auth/password", { method: "POST", body: JSON.stringify({ currentPassword, newPassword }) }),
    // Email: every link authd sends opens a page of the SPA with `?token=`; the page POSTs the
    // token only when the person presses its button, so a mail scanner opening the link uses
    // nothing up.
    requestPasswordReset: (email) => post("/api/auth/password/reset", { email }),
    async confirmPasswordReset(token, newPassword) {
      const body = await post("/api/auth/password/reset/confirm", { token, newPassword });
      save(body);
      return body.user;
    },
    sendVerification: () => json("/api/auth/email/verify/send", { method: "POST" }),
    verifyEmail: (token) => post("/api/auth/email/verify", { token }),
    requestSignInEmail: (email) => post("/api/auth/email/signin", { email }),
    // `{ token }` from the link, or `{ email, code }` typed from the same email.
    async confirmSignInEmail(proof) {
      const body = await post("/api/auth/email/signin/confirm", proof);
      save(body);
      return body.user;
    },
    changeEmail: (newEmail, currentPassword) =>
      json("/api/auth/email/change", { method: "POST", body: JSON.stringify({ newEmail, currentPassword }) }),
    // Signed in, the bearer token goes along so this session survives the change; every other
    // session of the account ends.
    confirmEmailChange: (token) =>
      tokens().refresh
        ? json("/api/auth/email/change/confirm", { method: "POST", body: JSON.stringify({ token }) })
        : post("/api/auth/email/change/confirm", { token }),
    // The signed-in user's sessions (`current` marks this one), and ending one of them.
    sessions: () => json("/api/auth/sessions"),
    endSession: (id) => json(`/api/auth/sessions/${encodeURIComponent(id)}`, { method: "DELETE" }),
    // Ends every session but this one; this tab stays signed in.
    signOutOthers: () => json("/api/auth/logout", { method: "POST", body: JSON.stringify({ scope: "others" }) }),
    // Ends this session; with `everywhere`, every session of the user (needs the bearer token).
    async signOut({ everywhere = false } = {}) {
      const { refresh } = tokens();
      try {
        if (everywhere) await json("/api/auth/logout", { method: "POST", body: JSON.stringify({ refresh, all: true }) });
        else if (refresh) await post("/api/auth/logout", { refresh });
      } finally {
        clear();
      }
    },
  };
}
