// The session's API key: generate, rotate, set or revoke. A new key is shown once
// and kept in this page's memory (never in storage) for the test-message form.
import { del, put, sessionPath } from "./api.js";
import { askCustomKey, confirmAction, showKeyOnce } from "./dialog.js";
import { h, replace, toast } from "./dom.js";

export const pageKeys = new Map(); // deviceId -> the key set from this page

export function keyCard(deviceId, changed) {
  const el = h("section", { class: "card key", "aria-labelledby": "key-title" });

  async function generate(hasKey) {
    if (hasKey && !(await confirmAction({ title: "Rotate the API key?",
      text: "The current key stops working at once. Programs using it need the new one.",
      action: "Rotate key" }))) return;
    await setKey(undefined);
  }

  async function setKey(custom) {
    try {
      const { apiKey } = await put(`${sessionPath(deviceId)}/api-key`,
        custom === undefined ? {} : { apiKey: custom });
      pageKeys.set(deviceId, apiKey);
      changed();
      if (custom === undefined) await showKeyOnce(deviceId, apiKey);
      else toast("Custom API key set");
    } catch (err) {
      toast(err.message, "bad");
    }
  }

  async function revoke() {
    if (!(await confirmAction({ title: "Revoke the API key?", danger: true,
      text: "Sending with this session stops working until a new key is set.",
      action: "Revoke key" }))) return;
    try {
      await del(`${sessionPath(deviceId)}/api-key`);
      pageKeys.delete(deviceId);
      toast("API key revoked");
      changed();
    } catch (err) {
      toast(err.message, "bad");
    }
  }

  return {
    el,
    show(session) {
      const has = Boolean(session.apiKeyMasked);
      replace(el,
        h("h2", { id: "key-title" }, "API key"),
        h("p", { class: "muted" }, "Programs send messages through this session with its key."),
        h("p", { class: "key-now" }, has
          ? [h("span", { class: "mono" }, session.apiKeyMasked), " ",
            h("span", { class: "muted small" }, "(only the start is ever shown again)")]
          : h("span", { class: "muted" }, "No key yet: nothing can send through this session.")),
        h("div", { class: "button-row" },
          h("button", { type: "button", class: "btn primary", onclick: () => generate(has) },
            has ? "Rotate key" : "Generate key"),
          h("button", { type: "button", class: "btn", onclick: async () => {
            const custom = await askCustomKey(deviceId);
            if (custom) await setKey(custom);
          } }, "Set custom key"),
          has ? h("button", { type: "button", class: "btn ghost danger-text", onclick: revoke },
            "Revoke") : null));
    },
  };
}
