// Small helpers shared by the pages: the status line, error text, escaping, form values.

export function show(message, ok = false) {
  const el = document.querySelector("#message");
  el.textContent = message ?? "";
  el.className = ok ? "ok" : "";
}

export function errorText(error) {
  const fields = Object.entries(error.details ?? {})
    .filter(([key]) => key !== "reason" && key !== "retryAfter")
    .map(([field, problems]) => `${field}: ${[].concat(problems).join(" ")}`);
  const retry = error.details?.retryAfter;
  const wait = retry ? ` Try again in ${retry} s.` : "";
  return [error.message + wait, ...fields].join(" ");
}

// A template tag that escapes every interpolated value.
export function html(strings, ...values) {
  const escape = (v) => String(v ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  return strings.reduce((out, s, i) => out + s + (i < values.length ? escape(values[i]) : ""), "");
}

export function formData(form) {
  return Object.fromEntries(new FormData(form).entries());
}

// Runs `work` on submit, with the button disabled meanwhile so a double click sends once.
export function onSubmit(selector, work) {
  const form = document.querySelector(selector);
  form.onsubmit = async (event) => {
    event.preventDefault();
    const button = form.querySelector("button");
    button.disabled = true;
    try { await work(formData(form), form); } catch (error) { show(errorText(error)); } finally { button.disabled = false; }
  };
}

// The `?token=` of an emailed link.
export const linkToken = () => new URLSearchParams(location.search).get("token") ?? "";
