// Modal dialogs on <dialog>: focus stays inside, Escape closes, focus returns after.
import { h } from "./dom.js";

function open(dialog) {
  const before = document.activeElement;
  document.body.append(dialog);
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      dialog.remove();
      if (before && before.isConnected) before.focus();
      resolve(dialog.returnValue);
    });
  });
}

export async function confirmAction({ title, text, action, danger = false }) {
  const dialog = h("dialog", { class: "dialog", "aria-labelledby": "dialog-title" },
    h("form", { method: "dialog" },
      h("h2", { id: "dialog-title" }, title),
      h("p", {}, text),
      h("div", { class: "actions" },
        h("button", { class: "btn", value: "cancel", autofocus: true }, "Cancel"),
        h("button", { class: danger ? "btn danger" : "btn primary", value: "yes" }, action))));
  return (await open(dialog)) === "yes";
}

export async function copyText(text, input) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // Clipboard API refused (no permission): select the text for Ctrl+C.
    if (input) {
      input.focus();
      input.select();
    }
    return false;
  }
}

export async function showKeyOnce(deviceId, key) {
  const field = h("input", { id: "new-key", class: "mono", readonly: true, value: key,
    "aria-describedby": "new-key-note", spellcheck: "false" });
  const status = h("span", { class: "copy-status", role: "status" });
  const copy = h("button", { type: "button", class: "btn primary", onclick: async () => {
    const done = await copyText(key, field);
    status.textContent = done ? "Copied" : "Press Ctrl+C to copy";
  } }, "Copy");
  const dialog = h("dialog", { class: "dialog", "aria-labelledby": "dialog-title" },
    h("form", { method: "dialog" },
      h("h2", { id: "dialog-title" }, "API key for ", deviceId),
      h("p", { id: "new-key-note" }, "Copy it now: this is the only time the full key is shown. ",
        "wad keeps only a hash of it. This page keeps it until you leave, for test messages."),
      h("label", { for: "new-key", class: "label" }, "API key"),
      h("div", { class: "copy-row" }, field, copy),
      status,
      h("div", { class: "actions" },
        h("button", { class: "btn", value: "done" }, "Done"))));
  field.addEventListener("focus", () => field.select());
  await open(dialog);
}

export async function askCustomKey(deviceId) {
  const field = h("input", { id: "custom-key", name: "key", class: "mono", required: true,
    minlength: 16, maxlength: 256, autocomplete: "off", spellcheck: "false" });
  const dialog = h("dialog", { class: "dialog", "aria-labelledby": "dialog-title" },
    h("form", { method: "dialog" },
      h("h2", { id: "dialog-title" }, "Set a custom key for ", deviceId),
      h("label", { for: "custom-key", class: "label" }, "API key (16 to 256 characters)"),
      field,
      h("div", { class: "actions" },
        h("button", { class: "btn", value: "cancel", formnovalidate: true }, "Cancel"),
        h("button", { class: "btn primary", value: "set" }, "Set key"))));
  return (await open(dialog)) === "set" ? field.value : null;
}
