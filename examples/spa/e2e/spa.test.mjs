// End-to-end: the example SPA (http://localhost:5173) against a real authd on another origin,
// in headless Chromium driven by playwright-core. Also starts the certified OpenID provider of
// tests/interop for provider sign-in, and the SMTP server of the Rust tests (tests/smtp, PyPI
// aiosmtpd) for the emailed links; without aiosmtpd authd's development mail folder stands in
// (AUTHD_TEST_REQUIRE_SMTP=1 makes that an error). Skipped with a message where Chromium is
// missing.
//
// Every test saves a screenshot in e2e/artifacts/; a failing test also keeps its trace there
// (open with `npx playwright show-trace FILE`).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));
const repo = resolve(here, "../../..");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const AUTHD_BIN = process.env.AUTHD_BIN ?? join(repo, "target/debug/authd");
const ARTIFACTS = join(here, "artifacts");
const SPA = "http://localhost:5173";
const FOREIGN_SPA = "http://localhost:5174";
const CLIENT_ID = "authd-e2e-client";
const CLIENT_SECRET = "authd-e2e-secret";
const PROVIDER_EMAIL = `sso-${Date.now()}@example.com`;
const PASSWORD = "violet-Tractor-42";
const ACCESS_TTL_SECS = 4;
const SMTP_PYTHON = process.env.AUTHD_TEST_SMTP_PYTHON
  ?? [join(repo, "target/smtp-venv/bin/python")].find((python) => existsSync(python));
if (!SMTP_PYTHON && process.env.AUTHD_TEST_REQUIRE_SMTP === "1") {
  throw new Error("AUTHD_TEST_REQUIRE_SMTP=1 but no AUTHD_TEST_SMTP_PYTHON (a Python with aiosmtpd)");
}

const missing = !existsSync(CHROMIUM)
  ? `no Chromium at ${CHROMIUM} (apt-get install chromium)`
  : !existsSync(AUTHD_BIN)
    ? `no authd binary at ${AUTHD_BIN} (cargo build)`
    : null;
const skip = missing ? `SKIPPING the browser tests: ${missing}` : false;
if (skip) {
  if (process.env.AUTHD_TEST_REQUIRE_BROWSER === "1") throw new Error(`AUTHD_TEST_REQUIRE_BROWSER=1 but ${missing}`);
  console.log(skip);
}

const children = [];
let stopping = false;
let browser;
let authd;
let mailDir;

function freePort() {
  return new Promise((resolvePort) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

// `stdin: "pipe"` keeps the child's standard input open (the SMTP server runs until it closes).
function start(command, args, { stdin = "ignore", ...options }, readyLine) {
  const child = spawn(command, args, { ...options, stdio: [stdin, "pipe", "pipe"] });
  children.push(child);
  let output = "";
  return new Promise((resolveStart, reject) => {
    const onData = (data) => {
      output += data;
      if (readyLine.test(output)) resolveStart(child);
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", (code, signal) => {
      if (!stopping) reject(new Error(`${command} exited (${code ?? signal}):\n${output}`));
    });
  });
}

async function waitForHttp(url) {
  for (let i = 0; i < 200; i++) {
    try { if ((await fetch(url)).ok) return; } catch {}
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${url} never answered`);
}

before(async () => {
  if (skip) return;
  mkdirSync(ARTIFACTS, { recursive: true });
  const providerPort = await freePort();
  const issuer = `http://127.0.0.1:${providerPort}`;
  await start("node", ["provider.mjs", String(providerPort), CLIENT_ID, CLIENT_SECRET, `${SPA}/auth/callback`, PROVIDER_EMAIL],
    { cwd: join(repo, "tests/interop") }, /listening/);

  const authdPort = await freePort();
  authd = `http://127.0.0.1:${authdPort}`;
  const data = mkdtempSync(join(tmpdir(), "authd-e2e-"));
  mailDir = join(data, "mail");
  let mailEnv = { AUTHD__EMAIL__DEV_MAIL_DIR: mailDir };
  if (SMTP_PYTHON) {
    const smtpPort = await freePort();
    await start(SMTP_PYTHON, [join(repo, "tests/smtp/server.py"), String(smtpPort), mailDir], { stdin: "pipe" }, /listening/);
    mailEnv = { AUTHD__EMAIL__SMTP_URL: `smtp://127.0.0.1:${smtpPort}` };
  }
  const env = {
    PATH: process.env.PATH,
    RUST_LOG: "warn",
    AUTHD_CONFIG_DIR: join(repo, "config"),
    AUTHD__SERVER__PORT: String(authdPort),
    AUTHD__DATABASE__URL: `sqlite://${join(data, "authd.db")}`,
    AUTHD__PASSWORD__MEMORY_KIB: "4096",
    AUTHD__PASSWORD__ITERATIONS: "1",
    AUTHD__JWT__ACCESS_TTL_SECS: String(ACCESS_TTL_SECS),
    AUTHD__JWT__LEEWAY_SECS: "0",
    AUTHD__JWT__REFRESH_REUSE_GRACE_SECS: "0",
    AUTHD__CORS__ALLOWED_ORIGINS: SPA,
    AUTHD__OIDC__ALLOWED_REDIRECT_URIS: `${SPA}/auth/callback`,
    AUTHD__OIDC__PROVIDERS__CERTIFIED__ISSUER: issuer,
    AUTHD__OIDC__PROVIDERS__CERTIFIED__CLIENT_ID: CLIENT_ID,
    AUTHD__OIDC__PROVIDERS__CERTIFIED__CLIENT_SECRET: CLIENT_SECRET,
    AUTHD__OIDC__PROVIDERS__CERTIFIED__DISPLAY_NAME: "Certified OP",
    AUTHD__EMAIL__ENABLED: "true",
    AUTHD__EMAIL__LINK_BASE_URL: SPA,
    ...mailEnv,
  };
  start(AUTHD_BIN, [], { cwd: data, env }, /$^/).catch((error) => console.error(String(error)));
  await waitForHttp(`${authd}/readyz`);

  const spaEnv = { ...process.env, AUTHD_URL: authd };
  await start("node", ["server.mjs"], { cwd: join(here, ".."), env: { ...spaEnv, PORT: "5173" } }, /SPA on/);
  await start("node", ["server.mjs"], { cwd: join(here, ".."), env: { ...spaEnv, PORT: "5174" } }, /SPA on/);

  const { chromium } = await import("playwright-core");
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});

after(async () => {
  stopping = true;
  await browser?.close();
  for (const child of children) child.kill();
});

let counter = 0;
const uniqueEmail = () => `e2e-${Date.now()}-${++counter}@example.com`;

// A test with its own browser context, a screenshot at the end and a trace when it fails.
function e2e(name, body) {
  test(name, { skip }, async () => {
    const slug = name.replace(/[^a-z0-9]+/gi, "-").toLowerCase();
    const context = await browser.newContext();
    await context.tracing.start({ screenshots: true, snapshots: true });
    const page = await context.newPage();
    let failed = true;
    try {
      await body({ context, page });
      failed = false;
    } finally {
      for (const [i, p] of context.pages().entries()) {
        await p.screenshot({ path: join(ARTIFACTS, `${slug}${i ? `-tab${i + 1}` : ""}.png`), fullPage: true }).catch(() => {});
      }
      await context.tracing.stop(failed ? { path: join(ARTIFACTS, `${slug}-trace.zip`) } : {});
      await context.close();
    }
  });
}

async function signUp(page, email) {
  await page.goto(`${SPA}/signup`);
  await page.fill('input[name="email"]', email);
  await page.fill('input[name="password"]', PASSWORD);
  await page.fill('input[name="firstName"]', "Edith");
  await page.click("#signup button");
  await page.waitForSelector("#email");
  assert.equal(await page.textContent("#email"), email);
}

async function signIn(page, email) {
  await page.goto(`${SPA}/signin`);
  await page.fill('input[name="email"]', email);
  await page.fill('input[name="password"]', PASSWORD);
  await page.click("#signin button");
  await page.waitForSelector("#email");
}

// The `index`-th message (0 = first) to `to` whose link opens `path` of the SPA (or that
// matches a RegExp), with its link and, for a sign-in, its code. Quoted-printable soft breaks
// and escapes are undone first.
async function waitForMail(to, path, index = 0) {
  const linkPattern = path instanceof RegExp ? path : new RegExp(`${SPA}${path}\\?token=[A-Za-z0-9_-]+`);
  for (let i = 0; i < 400; i++) {
    const files = existsSync(mailDir) ? readdirSync(mailDir).filter((f) => f.endsWith(".eml") && !f.startsWith(".")) : [];
    const mails = files
      .map((f) => ({ f, at: statSync(join(mailDir, f)).mtimeMs }))
      .sort((a, b) => a.at - b.at || a.f.localeCompare(b.f))
      .map(({ f }) => readFileSync(join(mailDir, f), "utf8"))
      .map((raw) => raw.replace(/=\r?\n/g, "").replace(/=([0-9A-F]{2})/g, (_, hex) => String.fromCharCode(parseInt(hex, 16))))
      .filter((text) => {
        const headers = text.slice(0, text.search(/\r?\n\r?\n/));
        return new RegExp(`^To:.*${to.replace(/[.+]/g, "\\$&")}`, "mi").test(headers) && linkPattern.test(text);
      });
    if (mails.length > index) {
      const text = mails[index];
      return { text, link: text.match(linkPattern)[0], code: text.match(/code: (\d{6})/)?.[1] };
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no message ${index + 1} to ${to} with a link to ${path}`);
}

const stored = (page, key) => page.evaluate((k) => localStorage.getItem(k), key);
const expire = () => new Promise((r) => setTimeout(r, (ACCESS_TTL_SECS + 1) * 1000));

e2e("sign up, then sign in from another browser", async ({ page }) => {
  const email = uniqueEmail();
  await signUp(page, email);
  assert.ok(await stored(page, "authd.refresh"));
  const other = await browser.newContext();
  const second = await other.newPage();
  await signIn(second, email);
  assert.equal(await second.textContent("#email"), email);
  await other.close();
});

e2e("profile edit is saved", async ({ page }) => {
  await signUp(page, uniqueEmail());
  await page.fill('#edit input[name="firstName"]', "Ada");
  await page.fill('#edit input[name="phone"]', "+44 20 7946 0958");
  await page.click("#edit button");
  await page.waitForSelector("#message.ok");
  await page.reload();
  await page.waitForSelector("#name");
  assert.match(await page.textContent("#name"), /^Ada /);
  assert.equal(await page.textContent("#phone"), "+44 20 7946 0958");
});

e2e("an expired access token is refreshed silently", async ({ page }) => {
  await signUp(page, uniqueEmail());
  const before = await stored(page, "authd.refresh");
  await expire();
  await page.click("#reload");
  await page.waitForSelector("text=Profile reloaded.");
  assert.notEqual(await stored(page, "authd.refresh"), before, "no refresh happened");
  assert.ok(page.url().endsWith("/profile"));
});

e2e("two tabs refreshing at once both stay signed in (grace 0)", async ({ context, page }) => {
  await signUp(page, uniqueEmail());
  const tab2 = await context.newPage();
  await tab2.goto(`${SPA}/profile`);
  await tab2.waitForSelector("#email");
  await expire();
  await Promise.all([page.click("#reload"), tab2.click("#reload")]);
  for (const tab of [page, tab2]) {
    await tab.waitForSelector("text=Profile reloaded.");
    assert.ok(tab.url().endsWith("/profile"), `${tab.url()} is not the profile`);
  }
  // The session survived: with a double use of one refresh token authd would have ended it.
  await expire();
  await tab2.click("#reload");
  await tab2.waitForSelector("text=Profile reloaded.");
});

e2e("log out clears the tokens and ends the session", async ({ page }) => {
  await signUp(page, uniqueEmail());
  const refresh = await stored(page, "authd.refresh");
  await page.click("#logout");
  await page.waitForURL(`${SPA}/signin`);
  assert.equal(await stored(page, "authd.refresh"), null);
  const res = await fetch(`${authd}/api/auth/refresh`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ refresh }),
  });
  assert.equal(res.status, 401);
  assert.equal((await res.json()).code, "token_revoked");
});

e2e("log out everywhere from a second browser ends the first one's session", async ({ page }) => {
  const email = uniqueEmail();
  await signUp(page, email);
  const other = await browser.newContext();
  const second = await other.newPage();
  await signIn(second, email);
  await second.click("#logout-all");
  await second.waitForURL(`${SPA}/signin`);
  await other.close();
  await expire();
  await page.click("#reload");
  await page.waitForURL(`${SPA}/signin`);
  await page.waitForSelector("text=Your session ended");
  assert.equal(await stored(page, "authd.refresh"), null);
});

e2e("sign in through the OpenID provider", async ({ page }) => {
  await page.goto(`${SPA}/signin`);
  await page.click('button[data-provider="certified"]');
  await page.waitForURL(`${SPA}/profile`);
  await page.waitForSelector("#email");
  assert.equal(await page.textContent("#email"), PROVIDER_EMAIL);
  assert.match(await page.textContent("#name"), /Ada Lovelace/);
});

e2e("a page from an origin that is not allowed is refused by CORS", async ({ page }) => {
  const probe = (origin) => async () => {
    await page.goto(`${origin}/signin`);
    return page.evaluate(async (url) => {
      try {
        const res = await fetch(`${url}/api/auth/login`, {
          method: "POST", headers: { "Content-Type": "application/json" }, body: "{}",
        });
        return `answered ${res.status}`;
      } catch {
        return "refused";
      }
    }, authd);
  };
  assert.equal(await probe(SPA)(), "answered 400");
  assert.equal(await probe(FOREIGN_SPA)(), "refused");
});

const login = (email, password) => fetch(`${authd}/api/auth/login`, {
  method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ email, password }),
});

e2e("forgot password: the emailed link's page sets a new password and signs in", async ({ page }) => {
  const email = uniqueEmail();
  const other = await browser.newContext();
  const before = await other.newPage();
  await signUp(before, email);
  const oldRefresh = await stored(before, "authd.refresh");
  await other.close();

  await page.goto(`${SPA}/signin`);
  await page.click("text=Forgot your password?");
  await page.fill('#forgot input[name="email"]', email);
  await page.click("#forgot button");
  await page.waitForSelector("#message.ok");
  const mail = await waitForMail(email, "/auth/reset-password");
  await page.goto(mail.link);
  await page.fill('#reset input[name="newPassword"]', "Copper-Kettle-91");
  await page.click("#reset button");
  await page.waitForSelector("#email");
  assert.equal(await page.textContent("#email"), email);
  assert.ok(await stored(page, "authd.refresh"));
  assert.equal((await login(email, PASSWORD)).status, 401, "the old password still works");
  assert.equal((await login(email, "Copper-Kettle-91")).status, 200);
  const ended = await fetch(`${authd}/api/auth/refresh`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ refresh: oldRefresh }),
  });
  assert.equal(ended.status, 401, "the session from before the reset survived");
});

e2e("verify email: banner, resend, and a link that opening alone does not use up", async ({ page }) => {
  const email = uniqueEmail();
  await signUp(page, email);
  await page.waitForSelector("#verify-banner");
  await page.click("#resend");
  await page.waitForSelector("#message.ok");
  const mail = await waitForMail(email, "/auth/verify-email", 1);
  // A mail scanner opening the link, scripts and all, changes nothing.
  const scanner = await browser.newContext();
  await (await scanner.newPage()).goto(mail.link);
  await scanner.close();
  await page.goto(mail.link);
  await page.click("#verify button");
  await page.waitForSelector("#verified");
  assert.match(await page.textContent("#verified"), new RegExp(`${email} is verified`));
  await page.click("text=Back to your profile");
  await page.waitForSelector("#email");
  assert.equal(await page.$("#verify-banner"), null, "the banner is still shown");
});

e2e("sign in with an emailed link, and with the code", async ({ page }) => {
  const email = uniqueEmail();
  const other = await browser.newContext();
  await signUp(await other.newPage(), email);
  await other.close();

  await page.goto(`${SPA}/signin`);
  await page.click("text=Email me a sign-in link");
  await page.fill('#email-signin input[name="email"]', email);
  await page.click("#email-signin button");
  await page.waitForSelector("#email-code:not([hidden])");
  const byLink = await waitForMail(email, "/auth/email-signin");
  await page.goto(byLink.link);
  await page.click("#link-signin button");
  await page.waitForSelector("#email");
  assert.equal(await page.textContent("#email"), email);
  assert.equal(await page.$("#verify-banner"), null, "signing in by email did not verify it");

  const typing = await browser.newContext();
  const tab = await typing.newPage();
  await tab.goto(`${SPA}/signin/email`);
  await tab.fill('#email-signin input[name="email"]', email);
  await tab.click("#email-signin button");
  const byCode = await waitForMail(email, "/auth/email-signin", 1);
  assert.match(byCode.code ?? "", /^\d{6}$/);
  await tab.fill('#email-code input[name="code"]', byCode.code);
  await tab.click("#email-code button");
  await tab.waitForSelector("#email");
  assert.equal(await tab.textContent("#email"), email);
  await typing.close();
});

e2e("change email: confirmed from the new address, the old one told", async ({ page }) => {
  const email = uniqueEmail();
  const newEmail = uniqueEmail();
  await signUp(page, email);
  await page.fill('#change-email input[name="newEmail"]', newEmail);
  await page.fill('#change-email input[name="currentPassword"]', PASSWORD);
  await page.click("#change-email button");
  await page.waitForSelector("#message.ok");
  assert.equal(await page.textContent("#email"), email, "the email changed before it was confirmed");
  await waitForMail(email, new RegExp(`to ${newEmail.replace(/[.+]/g, "\\$&")}`));
  const mail = await waitForMail(newEmail, "/auth/confirm-email-change");
  await page.goto(mail.link);
  await page.click("#confirm-change button");
  await page.waitForSelector(`#email:has-text("${newEmail}")`);
  assert.match(await page.textContent("#message"), /Your email is now/);
  assert.equal((await login(newEmail, PASSWORD)).status, 200);
  assert.equal((await login(email, PASSWORD)).status, 401);
});

e2e("the session list ends another browser's session, then all the others", async ({ page }) => {
  const email = uniqueEmail();
  await signUp(page, email);
  const browsers = [];
  for (let i = 0; i < 2; i++) {
    const context = await browser.newContext({ userAgent: `Other browser ${i}` });
    const tab = await context.newPage();
    await signIn(tab, email);
    browsers.push({ context, tab });
  }
  await page.reload();
  await page.waitForSelector(".sessions li >> nth=2");
  assert.equal(await page.locator(".sessions li").count(), 3);
  assert.equal(await page.locator(".sessions .current").count(), 1);

  // End one from the list: that browser is signed out at its next request.
  const first = page.locator(".sessions li", { hasText: "Other browser 0" });
  await first.locator(".end-session").click();
  await page.waitForSelector("text=That session was ended.");
  assert.equal(await page.locator(".sessions li").count(), 2);
  await browsers[0].tab.click("#reload");
  await browsers[0].tab.waitForSelector("text=Your session ended");

  // Log out the others: the last one goes too, this one stays.
  await page.click("#logout-others");
  await page.waitForSelector("text=Your other sessions were ended.");
  assert.equal(await page.locator(".sessions li").count(), 1);
  await browsers[1].tab.click("#reload");
  await browsers[1].tab.waitForSelector("text=Your session ended");
  await page.click("#reload");
  await page.waitForSelector("text=Profile reloaded.");
  for (const { context } of browsers) await context.close();
});
