// The sessions page: every session with its state, and a form to create one.
import { ApiError, get, post } from "./api.js";
import { activityCard } from "./chart.js";
import { h, phone, replace, sessionBadges, timeTag, toast } from "./dom.js";

// The server's rule for a deviceId (wad.validation.DEVICE_ID_PATTERN).
export const DEVICE_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
const DEVICE_ID_HELP = "1 to 64 letters, digits, “_” or “-”, starting with a letter or digit.";

export function sessionsView(main) {
  const body = h("div", { class: "list-body" }, h("p", { class: "loading" }, "Loading…"));
  const count = h("span", { class: "count" });
  const activity = activityCard(null);
  replace(main,
    h("div", { class: "page-head" },
      h("div", {}, h("h1", {}, "Sessions ", count),
        h("p", { class: "muted" }, "Each session is one linked WhatsApp account."))),
    createForm(),
    h("section", { class: "card flush", "aria-labelledby": "list-title" },
      h("h2", { id: "list-title", class: "sr-only" }, "All sessions"), body),
    activity.el);

  let timer = null;
  async function load() {
    try {
      const { sessions } = await get("/api/sessions");
      count.textContent = sessions.length ? `(${sessions.length})` : "";
      replace(body, sessions.length ? table(sessions) : empty());
    } catch (err) {
      replace(body, h("p", { class: "field-error pad" }, err.message));
    }
  }
  load();
  return {
    refresh() { load(); activity.load(); },
    onEvent(event) {
      activity.onEvent(event);
      if (event.event === "session.deleted") activity.load(); // its messages went with it
      if (event.event !== "session.status" && event.event !== "session.deleted") return;
      clearTimeout(timer);
      timer = setTimeout(load, 100);
    },
    destroy() { clearTimeout(timer); activity.destroy(); },
  };
}

function createForm() {
  const error = h("p", { class: "field-error", id: "device-error", role: "alert" });
  const input = h("input", { id: "device-id", name: "deviceId", required: true,
    maxlength: 64, autocomplete: "off", spellcheck: "false", placeholder: "e.g. sales-phone",
    "aria-describedby": "device-help device-error" });
  const submit = h("button", { class: "btn primary", type: "submit" }, "Create session");
  const check = () => {
    const value = input.value;
    const problem = !value ? "Enter a device ID." :
      DEVICE_ID.test(value) ? "" : `Not a valid device ID: ${DEVICE_ID_HELP}`;
    error.textContent = problem;
    if (problem) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
    return !problem;
  };
  let tried = false;
  input.addEventListener("input", () => { if (tried) check(); });
  return h("form", { class: "card create", novalidate: true, onsubmit: async (e) => {
    e.preventDefault();
    tried = true;
    if (!check()) { input.focus(); return; }
    submit.disabled = true;
    try {
      await post("/api/sessions", { deviceId: input.value });
      toast(`Session ${input.value} created`);
      location.hash = `#/s/${encodeURIComponent(input.value)}`;
    } catch (err) {
      error.textContent = err instanceof ApiError ? err.message : String(err);
      input.setAttribute("aria-invalid", "true");
      input.focus();
    } finally {
      submit.disabled = false;
    }
  } },
    h("h2", {}, "New session"),
    h("div", { class: "inline-form" },
      h("div", { class: "field grow" },
        h("label", { for: "device-id", class: "label" }, "Device ID"), input,
        h("p", { class: "help", id: "device-help" }, DEVICE_ID_HELP), error),
      h("div", { class: "field" }, submit)));
}

// In a cluster every session the API lists carries ``node`` (null while it is handed
// over): the table then says which node runs each; one daemon's answers have none.
function table(sessions) {
  const clustered = sessions.some((s) => "node" in s);
  const rows = sessions.map((s) => h("tr", { dataset: { device: s.deviceId } },
    h("th", { scope: "row", "data-label": "Device" },
      h("a", { href: `#/s/${encodeURIComponent(s.deviceId)}`, class: "device-link" },
        s.deviceId)),
    h("td", { "data-label": "State" }, sessionBadges(s)),
    clustered ? h("td", { "data-label": "Node", class: "node-cell" }, nodeOf(s)) : null,
    h("td", { "data-label": "Phone" }, phone(s.phoneNumber) || h("span", { class: "muted" }, "—")),
    h("td", { "data-label": "API key" }, s.hasApiKey ? "Yes" : h("span", { class: "muted" }, "No")),
    h("td", { "data-label": "Created" }, timeTag(s.createdAt)),
    h("td", { "data-label": "Last error", class: "error-cell" },
      s.lastError ? h("span", { class: "error-text", title: s.lastError }, s.lastError)
        : h("span", { class: "muted" }, "—"))));
  const columns = ["Device", "State", clustered ? "Node" : null, "Phone", "API key", "Created",
    "Last error"].filter(Boolean);
  return h("table", { class: "sessions" },
    h("thead", {}, h("tr", {}, columns.map((name) => h("th", { scope: "col" }, name)))),
    h("tbody", {}, rows));
}

// A session's node, or a muted note while no node runs it (a handover, a failover).
export function nodeOf(session) {
  return session.node ? h("span", { class: "node" }, session.node)
    : h("span", { class: "muted" }, "handing over");
}

function empty() {
  return h("div", { class: "empty" },
    h("div", { class: "empty-icon", "aria-hidden": "true" }, "+"),
    h("h3", {}, "No sessions yet"),
    h("p", { class: "muted" }, "Create a session above, then scan its QR code with WhatsApp ",
      "on the phone you want to link."));
}
