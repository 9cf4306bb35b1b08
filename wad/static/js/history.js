// A session's recent state changes, newest first.
import { badge, h, replace, timeTag } from "./dom.js";

export function historyCard() {
  const list = h("ol", { class: "timeline" });
  const el = h("section", { class: "card hist", "aria-labelledby": "history-title" },
    h("h2", { id: "history-title" }, "State history"), list);
  let items = [];

  function render() {
    replace(list, items.slice(0, 15).map((e) => h("li", {},
      badge(e.payload.state), timeTag(e.timestamp),
      e.payload.lastError ? h("p", { class: "error-text small" }, e.payload.lastError) : null)));
  }

  return {
    el,
    show(events) {
      // Merged with what the live stream added meanwhile: an event can arrive while
      // the page's request for the recent ones is on its way (and be missing from it).
      const byId = new Map([...items, ...events.filter((e) => e.event === "session.status")]
        .map((e) => [e.id, e]));
      items = [...byId.values()].sort((a, b) => b.seq - a.seq);
      render();
    },
    add(event) {
      items.unshift(event);
      render();
    },
  };
}
