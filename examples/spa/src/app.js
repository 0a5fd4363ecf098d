// The example SPA: sign up, sign in (password, provider or emailed link), profile, password,
// email, sign out.
import { createAuthClient } from "./auth-client.js";
import { emailPages } from "./email-pages.js";
import { sessionsSection } from "./sessions-section.js";
import { errorText, formData, html, show } from "./ui.js";

const AUTHD = window.AUTHD_URL ?? "http://localhost:8000";
const CALLBACK = `${location.origin}/auth/callback`;
const auth = createAuthClient({ baseUrl: AUTHD, onSignedOut: () => go("/signin", "Your session ended; sign in again.") });
const app = document.querySelector("#app");
const email = emailPages({ auth, app, go: (path, message) => go(path, message, true) });

function go(path, message, ok = false) {
  history.pushState({}, "", path);
  render().then(() => message && show(message, ok));
}

function nav() {
  document.querySelector("#nav").innerHTML = auth.isSignedIn()
    ? `<a href="/profile" data-link>Profile</a>`
    : `<a href="/signin" data-link>Sign in</a><a href="/signup" data-link>Sign up</a>`;
}

async function signInPage() {
  app.innerHTML = `
    <h1>Sign in</h1>
    <form id="signin">
      <label>Email <input name="email" type="email" autocomplete="username" required></label>
      <label>Password <input name="password" type="password" autocomplete="current-password" required></label>
      <button>Sign in</button>
    </form>
    <p><a href="/forgot-password" data-link>Forgot your password?</a> · <a href="/signin/email" data-link>Email me a sign-in link</a></p>
    <h2>Or continue with</h2>
    <div class="providers" id="providers">Loading…</div>`;
  document.querySelector("#signin").onsubmit = async (event) => {
    event.preventDefault();
    const { email, password } = formData(event.target);
    try { await auth.signIn(email, password); go("/profile"); } catch (error) { show(errorText(error)); }
  };
  const box = document.querySelector("#providers");
  try {
    const providers = await auth.providers();
    box.innerHTML = providers.length ? "" : "No identity providers are configured.";
    for (const provider of providers) {
      const button = document.createElement("button");
      button.className = "secondary";
      button.textContent = provider.displayName;
      button.dataset.provider = provider.id;
      button.onclick = () => auth.startProviderSignIn(provider.id, CALLBACK).catch((error) => show(errorText(error)));
      box.append(button);
    }
  } catch {
    box.textContent = "authd cannot be reached.";
  }
}

function signUpPage() {
  app.innerHTML = `
    <h1>Create an account</h1>
    <form id="signup">
      <label>Email <input name="email" type="email" autocomplete="username" required></label>
      <label>Password <input name="password" type="password" autocomplete="new-password" required></label>
      <label>First name <input name="firstName" autocomplete="given-name"></label>
      <label>Last name <input name="lastName" autocomplete="family-name"></label>
      <button>Sign up</button>
    </form>`;
  document.querySelector("#signup").onsubmit = async (event) => {
    event.preventDefault();
    try { await auth.signUp(formData(event.target)); go("/profile"); } catch (error) { show(errorText(error)); }
  };
}

async function callbackPage() {
  app.innerHTML = `<p>Finishing sign-in…</p>`;
  try {
    const body = await auth.finishProviderSignIn();
    go("/profile", body.isNewUser ? "Welcome! Your account was created." : "");
  } catch (error) {
    go("/signin", errorText(error));
  }
}

async function profilePage() {
  if (!auth.isSignedIn()) return go("/signin");
  app.innerHTML = `<p>Loading…</p>`;
  let me;
  try { me = await auth.me(); } catch (error) { if (error.status !== 401) show(errorText(error)); return; }
  const { banner, change } = email.profileSection(me);
  app.innerHTML = banner + html`
    <h1>Profile</h1>
    <dl>
      <dt>Email</dt><dd id="email">${me.email}</dd>
      <dt>Name</dt><dd id="name">${me.firstName} ${me.lastName}</dd>
      <dt>Phone</dt><dd id="phone">${me.phone}</dd>
    </dl>
    <button class="secondary" id="reload">Reload profile</button>
    <h2>Edit</h2>
    <form id="edit">
      <label>First name <input name="firstName" value="${me.firstName}"></label>
      <label>Last name <input name="lastName" value="${me.lastName}"></label>
      <label>Phone <input name="phone" value="${me.phone}"></label>
      <button>Save</button>
    </form>
    <h2>Change password</h2>
    <form id="password">
      <label>Current password <input name="currentPassword" type="password" autocomplete="current-password" required></label>
      <label>New password <input name="newPassword" type="password" autocomplete="new-password" required></label>
      <button>Change password</button>
    </form>` + change + `
    <h2>Your sessions</h2>
    <div id="sessions">Loading…</div>
    <p><button class="secondary" id="logout">Log out</button> <button class="secondary" id="logout-all">Log out everywhere</button></p>`;
  email.wireProfileSection();
  const box = document.querySelector("#sessions");
  const loadSessions = () => sessionsSection(auth, box, loadSessions);
  loadSessions();
  document.querySelector("#reload").onclick = () => profilePage().then(() => show("Profile reloaded.", true));
  document.querySelector("#edit").onsubmit = async (event) => {
    event.preventDefault();
    try { await auth.updateMe(formData(event.target)); await profilePage(); show("Saved.", true); } catch (error) { show(errorText(error)); }
  };
  document.querySelector("#password").onsubmit = async (event) => {
    event.preventDefault();
    const { currentPassword, newPassword } = formData(event.target);
    try { await auth.changePassword(currentPassword, newPassword); event.target.reset(); show("Password changed; your other sessions were ended.", true); } catch (error) { show(errorText(error)); }
  };
  document.querySelector("#logout").onclick = async () => { await auth.signOut(); go("/signin", "Signed out."); };
  document.querySelector("#logout-all").onclick = async () => { await auth.signOut({ everywhere: true }); go("/signin", "Signed out everywhere."); };
}

const routes = {
  "/signin": signInPage,
  "/signup": signUpPage,
  "/auth/callback": callbackPage,
  "/profile": profilePage,
  ...email.routes,
};

async function render() {
  show("");
  nav();
  const path = location.pathname === "/" ? (auth.isSignedIn() ? "/profile" : "/signin") : location.pathname;
  await (routes[path] ?? signInPage)();
  nav();
}

document.addEventListener("click", (event) => {
  const link = event.target.closest("a[data-link]");
  if (link) { event.preventDefault(); go(link.getAttribute("href")); }
});
addEventListener("popstate", render);
render();
