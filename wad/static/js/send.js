// Send a test message. Sending needs the session's own API key (the admin cannot
// send): the key generated on this page is used, or the one typed here.
import { post, sessionPath } from "./api.js";
import { h, phone, replace } from "./dom.js";
import { pageKeys } from "./keys.js";

export function sendCard(deviceId) {
  const result = h("div", { class: "result", role: "status", "aria-live": "polite" });
  const keyInput = h("input", { id: "send-key", type: "password", autocomplete: "off",
    spellcheck: "false", "aria-describedby": "send-key-help" });
  const keyHelp = h("p", { class: "help", id: "send-key-help" });
  const to = h("input", { id: "send-to", inputmode: "tel", autocomplete: "off",
    placeholder: "15550002222", required: true });
  const text = h("textarea", { id: "send-text", rows: 3, maxlength: 4096, required: true },
    "Hello from wad");
  const submit = h("button", { class: "btn primary", type: "submit" }, "Send test message");

  function syncKey() {
    const known = pageKeys.get(deviceId);
    if (known && !keyInput.value) keyInput.value = known;
    keyHelp.textContent = known && keyInput.value === known
      ? "Using the key set on this page (kept in memory only)."
      : "Paste the session's API key; it is not stored by this page.";
  }
  keyInput.addEventListener("input", syncKey);

  async function send(e) {
    e.preventDefault();
    const number = to.value.replace(/[+\s-]/g, "");
    const problems = [];
    if (!keyInput.value.trim()) problems.push("the session's API key");
    if (!/^[0-9]{6,15}$/.test(number)) problems.push("a phone number of 6 to 15 digits");
    if (!text.value.trim()) problems.push("a message");
    if (problems.length) {
      replace(result, h("p", { class: "field-error" }, `Enter ${problems.join(", ")}.`));
      return;
    }
    submit.disabled = true;
    replace(result, h("p", { class: "muted" }, "Sending…"));
    try {
      const sent = await post(`${sessionPath(deviceId)}/messages`,
        { type: "text", to: number, text: text.value }, { key: keyInput.value.trim() });
      const at = new Date(sent.timestamp * 1000).toLocaleTimeString();
      replace(result, h("p", { class: "ok-text" }, `✓ Sent to ${phone(number)} at ${at}`),
        h("p", { class: "muted small" }, "Message id ", h("code", { class: "msg-id" }, sent.id)));
    } catch (err) {
      replace(result, h("p", { class: "field-error" }, `✗ Not sent: ${err.message}`));
    } finally {
      submit.disabled = false;
    }
  }

  const el = h("section", { class: "card send", "aria-labelledby": "send-title" },
    h("h2", { id: "send-title" }, "Send a test message"),
    h("form", { novalidate: true, onsubmit: send },
      h("div", { class: "field" }, h("label", { for: "send-key", class: "label" }, "API key"),
        keyInput, keyHelp),
      h("div", { class: "field" }, h("label", { for: "send-to", class: "label" }, "To (phone number)"),
        to),
      h("div", { class: "field" }, h("label", { for: "send-text", class: "label" }, "Message"),
        text),
      h("div", { class: "button-row" }, submit), result));
  syncKey();
  return { el, keyChanged: syncKey };
}
