// The session's groups: subject and how many participants, reloaded on group events.
import { get, sessionPath } from "./api.js";
import { h, replace } from "./dom.js";

export function groupsCard(deviceId) {
  const body = h("div", { class: "groups-body" });
  const el = h("section", { class: "card groups", "aria-labelledby": "groups-title" },
    h("h2", { id: "groups-title" }, "Groups"), body);
  let timer = null;

  async function load(connected) {
    if (!connected) {
      replace(body, h("p", { class: "empty small" }, "Groups show here once the session is connected."));
      return;
    }
    try {
      const { groups } = await get(`${sessionPath(deviceId)}/groups`);
      replace(body, groups.length ? table(groups)
        : h("p", { class: "empty small" }, "This account is in no group yet."));
    } catch (err) {
      replace(body, h("p", { class: "field-error" }, err.message));
    }
  }

  return {
    el,
    load,
    changed() {
      clearTimeout(timer);
      timer = setTimeout(() => load(true), 100);
    },
    destroy() { clearTimeout(timer); },
  };
}

function table(groups) {
  const sorted = [...groups].sort((a, b) => String(a.name).localeCompare(String(b.name)));
  return h("table", { class: "group-list" },
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Subject"),
      h("th", { scope: "col", class: "num" }, "Participants"))),
    h("tbody", {}, sorted.map((g) => h("tr", { dataset: { group: g.id } },
      h("th", { scope: "row", title: g.id }, g.name || g.id),
      h("td", { class: "num" }, String((g.participants || []).length))))));
}
