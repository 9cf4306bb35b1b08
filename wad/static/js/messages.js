// The session's recent messages in and out, with their status; reloaded live.
import { get, sessionPath } from "./api.js";
import { h, replace, timeTag } from "./dom.js";

const STATUS = { pending: "Sending", sent: "Sent", delivered: "Delivered", read: "Read",
  played: "Played", failed: "Failed", received: "Received" };

export function messagesCard(deviceId) {
  const list = h("div", { class: "messages" });
  const el = h("section", { class: "card msgs", "aria-labelledby": "messages-title" },
    h("h2", { id: "messages-title" }, "Recent messages"), list);
  let timer = null;

  async function load() {
    try {
      const { messages } = await get(`${sessionPath(deviceId)}/messages?limit=20`);
      replace(list, messages.length ? h("ul", { class: "message-list" }, messages.map(item))
        : h("p", { class: "empty small" }, "No messages yet. Sent and received messages show up here."));
    } catch (err) {
      replace(list, h("p", { class: "field-error" }, err.message));
    }
  }

  return {
    el,
    load,
    changed() {
      clearTimeout(timer);
      timer = setTimeout(load, 100);
    },
    destroy() { clearTimeout(timer); },
  };
}

function item(m) {
  const out = m.direction === "out";
  const peer = String(m.peer || "").replace(/@s\.whatsapp\.net$/, "");
  const body = m.body || (m.type !== "text" ? `[${m.type}]` : "");
  return h("li", { class: `message ${out ? "out" : "in"}`, dataset: { id: m.id } },
    h("span", { class: "direction", title: out ? "Sent" : "Received" },
      h("span", { "aria-hidden": "true" }, out ? "↗" : "↙"),
      h("span", { class: "sr-only" }, out ? "Sent to" : "Received from")),
    h("div", { class: "message-main" },
      h("div", { class: "message-top" }, h("span", { class: "peer" }, out ? `To ${peer}` : `From ${peer}`),
        timeTag(m.createdAt)),
      h("p", { class: "message-body" }, body),
      m.error ? h("p", { class: "field-error small" }, m.error) : null),
    h("span", { class: `chip ${m.status}` }, STATUS[m.status] || m.status));
}
