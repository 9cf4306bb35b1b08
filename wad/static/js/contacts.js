// The session's contacts, searched by name or number, a page at a time.
import { get, sessionPath } from "./api.js";
import { h, replace } from "./dom.js";

const PAGE = 25;

export function contactsCard(deviceId) {
  const list = h("div", { class: "contacts", "aria-live": "polite" });
  const more = h("button", { type: "button", class: "btn", hidden: true, onclick: () => load(true) },
    "More contacts");
  const search = h("input", { type: "search", id: "contacts-q", name: "q", autocomplete: "off",
    placeholder: "Name or number", oninput: () => { clearTimeout(timer); timer = setTimeout(() => load(false), 250); } });
  const el = h("section", { class: "card people", "aria-labelledby": "contacts-title" },
    h("div", { class: "card-head" }, h("h2", { id: "contacts-title" }, "Contacts")),
    h("form", { class: "contact-search", role: "search", onsubmit: (e) => { e.preventDefault(); load(false); } },
      h("label", { for: "contacts-q" }, "Search contacts"), search),
    list, more);
  let timer = null;
  let cursor = null;
  let shown = [];
  let asked = 0;  // the latest request wins: an older answer arriving late is dropped

  async function load(next) {
    const mine = ++asked;
    const params = new URLSearchParams({ limit: String(PAGE) });
    if (search.value.trim()) params.set("q", search.value.trim());
    if (next && cursor) params.set("cursor", cursor);
    try {
      const page = await get(`${sessionPath(deviceId)}/contacts?${params}`);
      if (mine !== asked) return;
      shown = next ? shown.concat(page.contacts) : page.contacts;
      cursor = page.nextCursor;
      more.hidden = !cursor;
      replace(list, shown.length ? h("ul", { class: "contact-list" }, shown.map(item))
        : h("p", { class: "empty small" }, search.value.trim() ? "No contact matches."
          : "No contacts yet. People the account knows, and those who write, show up here."));
    } catch (err) {
      if (mine !== asked) return;
      more.hidden = true;
      replace(list, h("p", { class: "field-error" }, err.message));
    }
  }

  // Contacts come from WhatsApp through the live connection: asked only while connected.
  function show(state) {
    search.disabled = state !== "connected";
    if (state === "connected") { load(false); return; }
    asked++;
    more.hidden = true;
    replace(list, h("p", { class: "empty small" }, "Contacts show while the session is connected."));
  }

  return { el, show, destroy() { clearTimeout(timer); } };
}

function item(c) {
  const name = c.name || c.pushName || c.businessName || c.phoneNumber || c.jid;
  const also = [c.name && c.pushName && c.pushName !== c.name ? `~${c.pushName}` : null,
    c.phoneNumber ? `+${c.phoneNumber}` : c.jid].filter(Boolean).join(" · ");
  return h("li", { class: "contact", dataset: { jid: c.jid } },
    h("span", { class: "contact-name" }, name),
    c.isBusiness ? h("span", { class: "chip business", title: c.businessName || "" }, "Business") : null,
    h("span", { class: "contact-meta" }, also));
}
