// A session's webhooks (the webhooks plugin's routes): each with its health, added
// (the signing secret shown once), enabled or disabled, deleted, and its failed
// deliveries redelivered. Kept current while deliveries are pending, and after the
// session's events (each may queue deliveries). Updated in place, so that a refresh
// never takes the keyboard focus away.
import { ApiError, del, get, patch, post, sessionPath } from "./api.js";
import { confirmAction, copyText } from "./dialog.js";
import { h, replace, timeTag, toast } from "./dom.js";

const EVENTS = [
  ["message", "Messages received"],
  ["message.sent", "Messages sent"],
  ["message.ack", "Receipts (delivered, read)"],
  ["session.status", "Session state changes"],
  ["session.qr", "QR and pairing codes"],
  ["history.batch", "History batches"],
  ["presence", "Presence of subscribed contacts"],
  ["group.participants", "Group members"],
  ["group.update", "Group changes"],
  ["poll.vote", "Poll votes"],
  ["status", "Statuses received"],
  ["call.offer", "Incoming calls"],
  ["call.ended", "Calls ended"],
];
const EVENT_LABEL = Object.fromEntries(EVENTS);
const HEALTH = [["delivered", "Delivered"], ["failed", "Failed"], ["pending", "Pending"]];
const POLL_FIRST = 2000;
const POLL_MAX = 30000;

export function webhooksCard(deviceId) {
  const base = `${sessionPath(deviceId)}/webhooks`;
  const secretSlot = h("div", { class: "secret-slot" });
  const list = h("ul", { class: "hook-list" });
  const empty = h("p", { class: "muted small hooks-empty" }, "No webhooks yet.");
  const form = addForm(base, created);
  const el = h("section", { class: "card hooks", "aria-labelledby": "hooks-title", hidden: true },
    h("h2", { id: "hooks-title" }, "Webhooks"),
    h("p", { class: "muted" }, "wad POSTs this session's events to each URL as JSON, signed ",
      "with the webhook's secret."),
    secretSlot, empty, list, form.el);
  const rows = new Map();  // webhook id -> its row
  const opened = new Set();  // webhooks whose failed deliveries are shown
  let poll = null;
  let pollEvery = POLL_FIRST;
  let soon = null;
  let gone = false;
  let lastFigures = "";

  async function load() {
    clearTimeout(poll);
    let webhooks;
    let stats;
    try {
      [{ webhooks }, { stats }] = await Promise.all([get(base), get(`${base}/stats`)]);
    } catch (err) {
      if (!gone) toast(err.message, "bad");
      return;
    }
    if (gone) return;
    const health = new Map(stats.map((s) => [s.id, s]));
    const order = [];
    let refocus = null;  // a rebuilt row's control that had the focus: its twin gets it
    for (const hook of webhooks) {
      let row = rows.get(hook.id);
      if (!row || row.signature !== signature(hook)) {
        const focused = row && row.el.contains(document.activeElement)
          ? document.activeElement.dataset.focus : null;
        row = hookRow(hook, actions, opened);
        rows.set(hook.id, row);
        if (focused) refocus = row.el.querySelector(`[data-focus="${focused}"]`);
      }
      row.show(health.get(hook.id));
      order.push(row.el);
    }
    for (const id of [...rows.keys()]) {
      if (!webhooks.some((w) => w.id === id)) { rows.delete(id); opened.delete(id); }
    }
    const same = order.length === list.children.length
      && order.every((node, i) => list.children[i] === node);
    if (!same) list.replaceChildren(...order);  // only then: moving nodes drops the focus
    if (refocus) refocus.focus();
    empty.hidden = webhooks.length > 0;
    form.setFull(webhooks.length);
    // Poll while deliveries are pending, less often while nothing changes.
    const figures = JSON.stringify(stats);
    pollEvery = figures === lastFigures ? Math.min(POLL_MAX, pollEvery * 1.5) : POLL_FIRST;
    lastFigures = figures;
    if (stats.some((s) => s.pending > 0)) poll = setTimeout(load, pollEvery);
  }

  function created(webhook) {
    replace(secretSlot, secretBox(webhook, () => {
      replace(secretSlot);
      form.focus();
    }));
    load();
  }

  const actions = {
    async toggle(hook) {
      try {
        await patch(`${base}/${encodeURIComponent(hook.id)}`, { enabled: !hook.enabled });
        toast(hook.enabled ? "Webhook disabled" : "Webhook enabled");
      } catch (err) { toast(err.message, "bad"); }
      load();
    },
    async remove(hook) {
      if (!(await confirmAction({ title: "Delete this webhook?", danger: true,
        text: `Deliveries to ${hook.url} stop, and its delivery log is removed. It cannot be undone.`,
        action: "Delete webhook" }))) return;
      try {
        await del(`${base}/${encodeURIComponent(hook.id)}`);
        toast("Webhook deleted");
      } catch (err) { toast(err.message, "bad"); }
      await load();
      // Its Delete button is gone with it: the focus goes to the next webhook, or the form.
      if (!el.contains(document.activeElement)) {
        const next = list.querySelector('[data-focus="toggle"]');
        if (next) next.focus(); else form.focus();
      }
    },
    deliveries: (hook) => get(`${base}/${encodeURIComponent(hook.id)}/deliveries?limit=100`),
    async redeliver(hook, delivery) {
      try {
        await post(`${base}/${encodeURIComponent(hook.id)}/deliveries/${delivery.id}/redeliver`);
        toast("Redelivery queued");
      } catch (err) { toast(err.message, "bad"); }
      load();
    },
  };

  return {
    el,
    async start() {
      try {
        const { plugins } = await get("/api/plugins");
        if (gone || !plugins.some((p) => p.name === "webhooks")) return;
      } catch {
        return;  // signed out or unreachable: the page says so elsewhere
      }
      el.hidden = false;
      load();
    },
    refresh() { if (!el.hidden) load(); },
    onEvent() {
      if (el.hidden || !rows.size) return;
      clearTimeout(soon);
      soon = setTimeout(load, 300);
    },
    destroy() { gone = true; clearTimeout(poll); clearTimeout(soon); },
  };
}

function signature(hook) {
  return JSON.stringify([hook.url, hook.events, hook.enabled, hook.disabledReason]);
}

function eventsText(events) {
  if (!events || events.length === EVENTS.length) return "All events";
  return events.map((e) => EVENT_LABEL[e] || e).join(", ");
}

function hookRow(hook, actions, opened) {
  const figures = Object.fromEntries(HEALTH.map(([kind]) => [kind, h("dd", {}, "0")]));
  const lastError = h("div", { class: "hook-error" });
  const failedButton = h("button", { type: "button", class: "btn", dataset: { focus: "failed" },
    "aria-expanded": String(opened.has(hook.id)), "aria-controls": `failed-${hook.id}` },
  "Failed deliveries");
  const panel = h("div", { class: "failed-panel", id: `failed-${hook.id}`,
    hidden: !opened.has(hook.id) });
  let health = null;
  let shownFailed = null;

  async function showFailed() {
    let deliveries;
    try {
      ({ deliveries } = await actions.deliveries(hook));
    } catch (err) {
      replace(panel, h("p", { class: "field-error" }, err.message));
      return;
    }
    const inside = panel.contains(document.activeElement) ? document.activeElement.dataset.focus
      : undefined;
    replace(panel, failedList(deliveries, (d) => actions.redeliver(hook, d)));
    // The control that had the focus is gone (a redelivery became "Redelivered"): its
    // twin takes it, or the button that opened the list.
    if (inside !== undefined) {
      (panel.querySelector(`[data-focus="${inside}"]`) || failedButton).focus();
    }
  }

  failedButton.addEventListener("click", () => {
    const open = panel.hidden;
    panel.hidden = !open;
    failedButton.setAttribute("aria-expanded", String(open));
    if (open) { opened.add(hook.id); showFailed(); } else opened.delete(hook.id);
  });

  const el = h("li", { class: "hook", dataset: { webhook: hook.id, enabled: hook.enabled } },
    h("div", { class: "hook-head" },
      h("p", { class: "hook-url mono" }, hook.url),
      h("span", { class: `badge ${hook.enabled ? "ok" : "muted"}` },
        h("span", { class: "dot", "aria-hidden": "true" }), hook.enabled ? "Enabled" : "Disabled")),
    h("p", { class: "muted small hook-events" }, eventsText(hook.events)),
    hook.enabled ? null : h("p", { class: "alert warn small" },
      h("strong", {}, "Paused"), hook.disabledReason ? `: ${hook.disabledReason}` : "", ". ",
      "New events are not sent to it; its pending deliveries wait until it is enabled."),
    h("dl", { class: "health" }, HEALTH.map(([kind, label]) =>
      h("div", { class: `figure ${kind}`, dataset: { health: kind } }, h("dt", {}, label),
        figures[kind]))),
    lastError,
    h("div", { class: "button-row" },
      h("button", { type: "button", class: "btn", dataset: { focus: "toggle" },
        onclick: () => actions.toggle(hook) }, hook.enabled ? "Disable" : "Enable"),
      failedButton,
      h("button", { type: "button", class: "btn ghost danger-text", dataset: { focus: "delete" },
        onclick: () => actions.remove(hook) }, "Delete")),
    panel);

  return {
    el,
    signature: signature(hook),
    show(stats) {
      health = stats || { delivered: 0, failed: 0, pending: 0, lastError: null };
      for (const [kind] of HEALTH) {
        figures[kind].textContent = health[kind];
        figures[kind].parentElement.dataset.count = health[kind];
      }
      failedButton.textContent = `Failed deliveries (${health.failed})`;
      replace(lastError, health.lastError ? h("p", { class: "error-text small" },
        h("strong", {}, "Last error"), " (", timeTag(health.lastErrorAt), "): ", health.lastError)
        : null);
      // An open list follows what changed (a redelivery went out, a delivery failed).
      const now = `${health.failed}/${health.delivered}/${health.pending}`;
      if (!panel.hidden && now !== shownFailed) showFailed();
      shownFailed = now;
    },
  };
}

// Each event that failed at least once: its newest failure, and what became of the
// event since (its newest delivery): failed still (redeliver it), being redelivered,
// or redelivered.
function failedList(deliveries, redeliver) {
  const newest = new Map();
  const failure = new Map();
  for (const d of deliveries) {  // newest first
    if (!newest.has(d.eventId)) newest.set(d.eventId, d);
    if (d.status === "failed" && !failure.has(d.eventId)) failure.set(d.eventId, d);
  }
  const items = [...failure.values()].slice(0, 20);
  if (!items.length) return h("p", { class: "muted small" }, "No failed deliveries in the log.");
  return h("ul", { class: "failed-list" }, items.map((d) => {
    const now = newest.get(d.eventId).status;
    const what = now === "failed"
      ? h("button", { type: "button", class: "btn", dataset: { focus: `redeliver-${d.eventId}` },
        onclick: (e) => {
          // aria-disabled, not disabled: a disabled button would drop the focus.
          if (e.currentTarget.getAttribute("aria-disabled")) return;
          e.currentTarget.setAttribute("aria-disabled", "true");
          redeliver(d);
        } }, "Redeliver")
      : h("span", { class: `chip ${now}` }, now === "delivered" ? "Redelivered" : "Redelivering…");
    return h("li", { class: "delivery", dataset: { delivery: d.id, event: d.eventId, status: now } },
      h("div", { class: "delivery-main" },
        h("div", { class: "message-top" },
          h("span", { class: "peer" }, EVENT_LABEL[d.eventType] || d.eventType),
          timeTag(d.updatedAt),
          h("span", {}, `${d.attempts} attempt${d.attempts === 1 ? "" : "s"}`)),
        d.lastError ? h("p", { class: "error-text small" }, d.lastError) : null),
      what);
  }));
}

function secretBox(webhook, dismiss) {
  const field = h("input", { id: "new-secret", class: "mono", readonly: true, value: webhook.secret,
    spellcheck: "false", "aria-describedby": "secret-note" });
  const status = h("span", { class: "copy-status", role: "status" });
  field.addEventListener("focus", () => field.select());
  const box = h("div", { class: "secret-box", role: "region", "aria-labelledby": "secret-title" },
    h("h3", { id: "secret-title" }, "Signing secret of the new webhook"),
    h("p", { id: "secret-note" }, "Copy it now: it is shown only this once. The receiver checks ",
      "each delivery's signature with it."),
    h("p", { class: "hook-url mono small" }, webhook.url),
    h("label", { for: "new-secret", class: "label" }, "Signing secret"),
    h("div", { class: "copy-row" }, field,
      h("button", { type: "button", class: "btn primary", onclick: async () => {
        status.textContent = (await copyText(webhook.secret, field)) ? "Copied"
          : "Press Ctrl+C to copy";
      } }, "Copy")),
    status,
    h("div", { class: "button-row end" },
      h("button", { type: "button", class: "btn", onclick: dismiss }, "Dismiss")));
  queueMicrotask(() => field.focus());
  return box;
}

function addForm(base, created) {
  const url = h("input", { id: "hook-url", name: "url", type: "url", required: true,
    maxlength: 2048, autocomplete: "off", spellcheck: "false",
    placeholder: "https://example.com/wad-hook", "aria-describedby": "hook-url-help hook-error" });
  const boxes = EVENTS.map(([value, label]) => {
    const box = h("input", { type: "checkbox", name: "events", value, checked: true,
      id: `hook-event-${value.replace(".", "-")}` });
    return [box, h("label", { class: "check", for: box.id }, box, h("span", {}, label))];
  });
  const error = h("p", { class: "field-error", id: "hook-error", role: "alert" });
  const submit = h("button", { class: "btn primary", type: "submit" }, "Add webhook");
  const full = h("p", { class: "help", hidden: true }, "A session has at most 10 webhooks.");

  async function add(e) {
    e.preventDefault();
    const chosen = boxes.filter(([box]) => box.checked).map(([box]) => box.value);
    const value = url.value.trim();
    const badUrl = !/^https?:\/\/\S+$/i.test(value);
    const problem = badUrl ? "Enter an http:// or https:// URL."
      : chosen.length ? "" : "Choose at least one event.";
    error.textContent = problem;
    if (badUrl) url.setAttribute("aria-invalid", "true");
    else url.removeAttribute("aria-invalid");
    if (problem) { (badUrl ? url : boxes[0][0]).focus(); return; }
    submit.disabled = true;
    try {
      const { webhook } = await post(base, { url: value,
        events: chosen.length === EVENTS.length ? undefined : chosen });
      url.value = "";
      url.removeAttribute("aria-invalid");
      for (const [box] of boxes) box.checked = true;
      toast("Webhook added");
      created(webhook);
    } catch (err) {
      error.textContent = err instanceof ApiError ? err.message : String(err);
      url.setAttribute("aria-invalid", "true");
      url.focus();
    } finally {
      submit.disabled = false;
    }
  }

  const el = h("form", { class: "hook-add", novalidate: true, onsubmit: add },
    h("h3", {}, "Add a webhook"),
    h("div", { class: "field" },
      h("label", { for: "hook-url", class: "label" }, "Webhook URL"), url,
      h("p", { class: "help", id: "hook-url-help" }, "Private and loopback addresses are refused ",
        "unless the daemon allows them (WAD_WEBHOOK_ALLOW_NETWORKS).")),
    h("fieldset", { class: "field events" }, h("legend", { class: "label" }, "Events"),
      h("div", { class: "checks" }, boxes.map(([, label]) => label))),
    error,
    h("div", { class: "button-row" }, submit), full);

  return {
    el,
    focus() { url.focus(); },
    setFull(count) {
      full.hidden = count < 10;
      submit.disabled = count >= 10;
    },
  };
}
