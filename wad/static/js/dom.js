// Tiny DOM helpers: element building, formatting, state badges.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "class") el.className = value;
    else if (name === "dataset") Object.assign(el.dataset, value);
    else el.setAttribute(name, value === true ? "" : value);
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

const STATES = {
  connected: ["Connected", "ok"],
  waiting_qr: ["Waiting for scan", "wait"],
  connecting: ["Connecting", "info"],
  disconnected: ["Disconnected", "muted"],
  failed: ["Failed", "bad"],
  logged_out: ["Logged out", "muted"],
  stopped: ["Stopped", "muted"],
  conflict: ["Replaced by another client", "bad"],
  banned: ["Banned by WhatsApp", "bad"],
};

export function stateLabel(state) {
  return (STATES[state] || [state])[0];
}

export function badge(state) {
  const [label, tone] = STATES[state] || [state, "muted"];
  return h("span", { class: `badge ${tone}`, dataset: { state } },
    h("span", { class: "dot", "aria-hidden": "true" }), label);
}

// A session's state with what qualifies it: keep-alives failing, a ban's end.
export function sessionBadges(session) {
  const out = [badge(session.connectionState)];
  if (session.degraded) {
    out.push(h("span", { class: "badge wait", dataset: { flag: "degraded" },
      title: "WhatsApp's keep-alives are failing; wad reconnects if it lasts" },
    h("span", { class: "dot", "aria-hidden": "true" }), "Degraded"));
  }
  if (session.connectionState === "banned" && session.bannedUntil) {
    out.push(h("span", { class: "chip banned-until", dataset: { bannedUntil: session.bannedUntil } },
      `until ${when(session.bannedUntil)}`));
  }
  return out;
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const timeOnly = new Intl.DateTimeFormat(undefined, { timeStyle: "medium" });

export function when(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  const today = new Date().toDateString() === date.toDateString();
  return today ? `today ${timeOnly.format(date)}` : dateTime.format(date);
}

export function timeTag(iso) {
  return iso ? h("time", { datetime: iso, title: new Date(iso).toLocaleString() }, when(iso))
    : "—";
}

export function phone(number) {
  return number ? `+${String(number).replace(/^\+/, "")}` : null;
}

export function seconds(ms) {
  const s = Math.max(0, Math.ceil(ms / 1000));
  return s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s} s`;
}

export function toast(text, tone = "ok") {
  const box = document.getElementById("toasts");
  const item = h("div", { class: `toast ${tone}` }, text);
  box.append(item);
  setTimeout(() => item.remove(), 4000);
}
