// The sign-in form: the admin token buys an HttpOnly cookie; the token is not kept.
import { get, post } from "./api.js";
import { h, replace } from "./dom.js";

export function renderLogin(main, onSignedIn) {
  const error = h("p", { class: "field-error", id: "token-error", role: "alert" });
  const token = h("input", { id: "token", name: "token", type: "password", required: true,
    autocomplete: "current-password", spellcheck: "false", "aria-describedby": "token-help" });
  const help = h("p", { class: "help", id: "token-help" }, "It is in the daemon's state folder, ",
    h("code", {}, "admin.token"), ", or in ", h("code", {}, "WAD_ADMIN_TOKEN"), ".");
  // The daemon says where its token file is (the path only, never the token).
  get("/api/dashboard/login").then(({ tokenFile }) => {
    replace(help, tokenFile
      ? ["It is in the file ", h("code", { id: "token-file" }, tokenFile),
        " on the server (cat it there)."]
      : ["It is the value of ", h("code", {}, "WAD_ADMIN_TOKEN"), " the daemon was started with."]);
  }, () => {});
  const submit = h("button", { class: "btn primary wide", type: "submit" }, "Sign in");
  const form = h("form", { class: "card login", novalidate: true, onsubmit: async (e) => {
    e.preventDefault();
    error.textContent = "";
    token.removeAttribute("aria-invalid");
    if (!token.value.trim()) {
      error.textContent = "Enter the admin token.";
      token.setAttribute("aria-invalid", "true");
      token.focus();
      return;
    }
    submit.disabled = true;
    try {
      await post("/api/dashboard/login", { token: token.value.trim() });
      token.value = "";
      onSignedIn();
    } catch (err) {
      error.textContent = err.status === 401 ? "Wrong admin token. Check it and try again."
        : err.message;
      token.setAttribute("aria-invalid", "true");
      token.select();
    } finally {
      submit.disabled = false;
    }
  } },
    h("h1", {}, "Sign in"),
    h("p", { class: "muted" }, "Manage the WhatsApp sessions of this server."),
    h("label", { for: "token", class: "label" }, "Admin token"),
    token,
    help,
    error,
    submit);
  replace(main, h("div", { class: "center" }, form));
  token.focus();
}
