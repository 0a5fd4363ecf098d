// The pages behind authd's emails: forgot password and reset, email verification, sign-in by
// link or code, and email change. A page opened from a link never uses its token on load: mail
// scanners open links (and some run scripts), so the token is sent only when the person
// presses the page's button.
import { errorText, html, linkToken, onSubmit, show } from "./ui.js";

export function emailPages({ auth, app, go }) {
  function forgotPasswordPage() {
    app.innerHTML = `
      <h1>Forgot your password?</h1>
      <p>Enter your email address and we will send you a link to set a new password.</p>
      <form id="forgot">
        <label>Email <input name="email" type="email" autocomplete="username" required></label>
        <button>Send the link</button>
      </form>`;
    onSubmit("#forgot", async ({ email }, form) => {
      await auth.requestPasswordReset(email);
      form.reset();
      // authd answers the same whether or not the account exists; so does this page.
      show("If an account uses that address, a link to reset the password is on its way.", true);
    });
  }

  function resetPasswordPage() {
    app.innerHTML = `
      <h1>Set a new password</h1>
      <form id="reset">
        <label>New password <input name="newPassword" type="password" autocomplete="new-password" required></label>
        <button>Set password and sign in</button>
      </form>`;
    onSubmit("#reset", async ({ newPassword }) => {
      await auth.confirmPasswordReset(linkToken(), newPassword);
      go("/profile", "Your password was reset; your other sessions were ended.");
    });
  }

  function verifyEmailPage() {
    app.innerHTML = `
      <h1>Confirm your email address</h1>
      <form id="verify"><button>Confirm my email</button></form>`;
    onSubmit("#verify", async () => {
      const user = await auth.verifyEmail(linkToken());
      app.innerHTML = html`<h1>Email confirmed</h1><p id="verified">${user.email} is verified.</p>`;
      if (auth.isSignedIn()) app.innerHTML += `<p><a href="/profile" data-link>Back to your profile</a></p>`;
    });
  }

  function signInByEmailPage() {
    app.innerHTML = `
      <h1>Sign in with email</h1>
      <p>We will email you a link, and a code you can type here instead.</p>
      <form id="email-signin">
        <label>Email <input name="email" type="email" autocomplete="username" required></label>
        <button>Email me a link</button>
      </form>
      <form id="email-code" hidden>
        <input name="email" type="hidden">
        <label>Code from the email <input name="code" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}" required></label>
        <button>Sign in</button>
      </form>`;
    onSubmit("#email-signin", async ({ email }) => {
      await auth.requestSignInEmail(email);
      const codeForm = document.querySelector("#email-code");
      codeForm.email.value = email;
      codeForm.hidden = false;
      show("Check your inbox: open the link, or type the code below.", true);
    });
    onSubmit("#email-code", async ({ email, code }) => {
      await auth.confirmSignInEmail({ email, code });
      go("/profile");
    });
  }

  function signInLinkPage() {
    app.innerHTML = `
      <h1>Sign in</h1>
      <form id="link-signin"><button>Sign me in</button></form>`;
    onSubmit("#link-signin", async () => {
      await auth.confirmSignInEmail({ token: linkToken() });
      go("/profile");
    });
  }

  function confirmEmailChangePage() {
    app.innerHTML = `
      <h1>Confirm your new email address</h1>
      <form id="confirm-change"><button>Use this address</button></form>`;
    onSubmit("#confirm-change", async () => {
      const user = await auth.confirmEmailChange(linkToken());
      if (auth.isSignedIn()) return go("/profile", `Your email is now ${user.email}.`);
      app.innerHTML = html`<h1>Email changed</h1><p id="changed">Your email is now ${user.email}. Sign in with it.</p>`;
    });
  }

  // On the profile page: a banner while the address is unverified, and the change form.
  function profileSection(me) {
    const banner = me.emailVerified ? "" : `
      <p class="banner" id="verify-banner">Your email address is not verified yet.
        <button class="secondary" id="resend">Resend the email</button></p>`;
    const change = `
      <h2>Change email</h2>
      <form id="change-email">
        <label>New email <input name="newEmail" type="email" required></label>
        <label>Current password <input name="currentPassword" type="password" autocomplete="current-password" required></label>
        <button>Change email</button>
      </form>`;
    return { banner, change };
  }

  function wireProfileSection() {
    const resend = document.querySelector("#resend");
    if (resend) {
      resend.onclick = async () => {
        resend.disabled = true;
        try { await auth.sendVerification(); show("Sent: check your inbox.", true); } catch (error) { show(errorText(error)); } finally { resend.disabled = false; }
      };
    }
    onSubmit("#change-email", async ({ newEmail, currentPassword }, form) => {
      await auth.changeEmail(newEmail, currentPassword);
      form.reset();
      show(`Open the link we sent to ${newEmail} to finish the change.`, true);
    });
  }

  return {
    routes: {
      "/forgot-password": forgotPasswordPage,
      "/signin/email": signInByEmailPage,
      "/auth/reset-password": resetPasswordPage,
      "/auth/verify-email": verifyEmailPage,
      "/auth/email-signin": signInLinkPage,
      "/auth/confirm-email-change": confirmEmailChangePage,
    },
    profileSection,
    wireProfileSection,
  };
}
