// One session: linking, state and history, key, test message, messages, activity,
// webhooks, actions.
import { del, get, post, sessionPath } from "./api.js";
import { activityCard } from "./chart.js";
import { contactsCard } from "./contacts.js";
import { confirmAction } from "./dialog.js";
import { h, phone, replace, seconds, sessionBadges, timeTag, toast, when } from "./dom.js";
import { groupsCard } from "./groups.js";
import { historyCard } from "./history.js";
import { keyCard } from "./keys.js";
import { messagesCard } from "./messages.js";
import { linkPanel } from "./qr.js";
import { sendCard } from "./send.js";
import { nodeOf } from "./sessions.js";
import { webhooksCard } from "./webhooks.js";

export function sessionView(main, deviceId, info) {
  const title = h("div", { class: "title-row" });
  const meta = h("dl", { class: "meta" });
  const alert = h("div", { class: "alert-slot", "aria-live": "polite" });
  const link = linkPanel(deviceId, info);
  const history = historyCard();
  const send = sendCard(deviceId);
  const messages = messagesCard(deviceId);
  const contacts = contactsCard(deviceId);
  const activity = activityCard(deviceId);
  const hooks = webhooksCard(deviceId);
  const groups = groupsCard(deviceId);
  const key = keyCard(deviceId, () => { loadSession(); send.keyChanged(); });
  const actions = h("section", { class: "card acts", "aria-labelledby": "actions-title" });
  let session = null;
  let retryTimer = null;
  let statusTimer = null;
  let deleting = false;  // this page asked for the deletion: it says so itself

  replace(main,
    h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: "#/" }, "← All sessions")),
    h("div", { class: "page-head" }, title), meta, alert,
    h("div", { class: "grid" },
      h("div", { class: "col" }, link.el, send.el, messages.el, hooks.el, contacts.el),
      h("div", { class: "col side" }, actions, key.el, groups.el, activity.el, history.el)));

  function renderHead() {
    replace(title, h("h1", {}, deviceId), ...sessionBadges(session));
    replace(meta,
      h("div", {}, h("dt", {}, "Phone"), h("dd", {}, phone(session.phoneNumber) || "not linked")),
      h("div", {}, h("dt", {}, "Created"), h("dd", {}, timeTag(session.createdAt))),
      h("div", {}, h("dt", {}, "Updated"), h("dd", {}, timeTag(session.updatedAt))),
      // Shown masked by the daemon (socks5://user:***@host:port): never the password.
      h("div", {}, h("dt", {}, "Proxy"), h("dd", { class: "proxy" }, session.proxy || "none")),
      h("div", {}, h("dt", {}, "History"), h("dd", { class: "history-mode" },
        session.history || "none")),
      "node" in session ? h("div", {}, h("dt", {}, "Node"), h("dd", {}, nodeOf(session))) : null);
    renderAlert();
  }

  function renderAlert() {
    clearInterval(retryTimer);
    if (!session.lastError && !session.nextRetryAt) { replace(alert); return; }
    const retry = h("span", { class: "retry" });
    const banned = session.connectionState === "banned";
    const tick = () => {
      const left = Date.parse(session.nextRetryAt) - Date.now();
      const what = banned ? "The ban ends" : "Next retry";
      retry.textContent = left > 0 ? `${what} in ${seconds(left)} (${when(session.nextRetryAt)}).`
        : "Retrying now…";
    };
    const bad = ["failed", "conflict", "banned"].includes(session.connectionState);
    const tone = bad ? "alert" : "alert warn";
    replace(alert, h("div", { class: tone },
      h("strong", {}, "Last error: "), session.lastError || "none",
      session.nextRetryAt ? [" · ", retry] : null));
    if (session.nextRetryAt) { tick(); retryTimer = setInterval(tick, 1000); }
  }

  function renderActions() {
    const state = session.connectionState;
    replace(actions, h("h2", { id: "actions-title" }, "Actions"),
      h("div", { class: "button-row" },
        h("button", { type: "button", class: "btn", onclick: restart }, "Restart"),
        h("button", { type: "button", class: "btn", onclick: logout,
          disabled: state !== "connected" }, "Log out"),
        h("button", { type: "button", class: "btn danger", onclick: remove }, "Delete")),
      h("p", { class: "help" }, "Restart reconnects now (and shows a new QR code when not linked). ",
        "Log out unlinks the phone and keeps the session."));
  }

  async function restart() {
    try { await post(`${sessionPath(deviceId)}/restart`); toast("Restarting"); }
    catch (err) { toast(err.message, "bad"); }
  }

  async function logout() {
    if (!(await confirmAction({ title: `Log ${deviceId} out?`, action: "Log out",
      text: "The phone's link to this server is removed. The session stays; restart it to link again." }))) return;
    try { await post(`${sessionPath(deviceId)}/logout`); toast("Logged out"); }
    catch (err) { toast(err.message, "bad"); }
  }

  async function remove() {
    if (!(await confirmAction({ title: `Delete ${deviceId}?`, action: "Delete session", danger: true,
      text: "This stops the session and removes all its data: messages, key and WhatsApp link. It cannot be undone." }))) return;
    try {
      deleting = true;
      await del(sessionPath(deviceId));
      toast(`Session ${deviceId} deleted`);
      location.hash = "#/";
    } catch (err) { deleting = false; toast(err.message, "bad"); }
  }

  async function loadSession() {
    try {
      ({ session } = await get(sessionPath(deviceId)));
      renderHead();
      renderActions();
      key.show(session);
      return true;
    } catch (err) {
      replace(main, h("div", { class: "card empty" }, h("h1", {}, "Session not available"),
        h("p", {}, err.message), h("p", {}, h("a", { href: "#/" }, "Back to all sessions"))));
      return false;
    }
  }

  async function load() {
    if (!(await loadSession())) return;
    let events = [];
    try {
      ({ events } = await get(`${sessionPath(deviceId)}/events?types=session.status,session.qr&limit=50`));
    } catch (err) {
      toast(err.message, "bad");
    }
    history.show(events);
    link.show(session, events);
    messages.load();
    contacts.show(session.connectionState);
    groups.load(session.connectionState === "connected");
  }
  load();
  hooks.start();

  return {
    refresh() { load(); activity.load(); hooks.refresh(); },
    onEvent(event) {
      if (event.session !== deviceId) return;
      activity.onEvent(event);
      hooks.onEvent(event);
      switch (event.event) {
        case "session.status":
          history.add(event);
          link.onStatus(event);
          clearTimeout(statusTimer);
          statusTimer = setTimeout(async () => {
            const before = session && session.connectionState;
            if (await loadSession() && session.connectionState !== before) {
              link.show(session, []);
              contacts.show(session.connectionState);
              groups.load(session.connectionState === "connected");
            }
          }, 50);
          break;
        case "session.qr":
          link.onQr(event);
          break;
        case "group.participants":
        case "group.update":
          groups.changed();
          break;
        case "session.deleted":
          if (!deleting) {
            toast(`Session ${deviceId} was deleted`);
            location.hash = "#/";
          }
          break;
        default:
          messages.changed();
      }
    },
    destroy() {
      clearInterval(retryTimer);
      clearTimeout(statusTimer);
      link.destroy();
      messages.destroy();
      contacts.destroy();
      groups.destroy();
      activity.destroy();
      hooks.destroy();
    },
  };
}
