// The profile's "Your sessions": where the account is signed in, ending one of them, and
// logging out of all the others.
import { errorText, html, show } from "./ui.js";

const METHODS = { password: "password", "email-link": "emailed link", "email-code": "emailed code", "password-reset": "password reset" };

function describe(session) {
  const method = session.method.startsWith("oidc:") ? session.method.slice(5) : (METHODS[session.method] ?? session.method);
  const when = new Date(session.lastUsedAt).toLocaleString();
  return html`<span class="what">${session.userAgent || "unknown browser"}</span>
    <span class="detail">${session.ip} · signed in with ${method} · last active ${when}</span>`;
}

export async function sessionsSection(auth, box, refresh) {
  let sessions;
  try { sessions = await auth.sessions(); } catch (error) { box.textContent = errorText(error); return; }
  box.innerHTML = `<ul class="sessions"></ul>
    <p><button class="secondary" id="logout-others">Log out other sessions</button></p>`;
  const list = box.querySelector("ul");
  for (const session of sessions) {
    const item = document.createElement("li");
    item.dataset.session = session.id;
    item.innerHTML = describe(session);
    if (session.current) {
      item.insertAdjacentHTML("beforeend", `<span class="current">this browser</span>`);
    } else {
      const end = document.createElement("button");
      end.className = "secondary end-session";
      end.textContent = "End";
      end.onclick = async () => {
        try { await auth.endSession(session.id); await refresh(); show("That session was ended.", true); } catch (error) { show(errorText(error)); }
      };
      item.append(end);
    }
    list.append(item);
  }
  box.querySelector("#logout-others").onclick = async () => {
    try { await auth.signOutOthers(); await refresh(); show("Your other sessions were ended.", true); } catch (error) { show(errorText(error)); }
  };
}
