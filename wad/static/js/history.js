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
      items = events.filter((e) => e.event === "session.status");
      render();
    },
    add(event) {
      items.unshift(event);
      render();
    },
  };
}
