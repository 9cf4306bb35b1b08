// Messages received and sent per hour, the last 24 hours, as bars in an inline SVG
// drawn here (no chart library). One session's, or every session's (deviceId null).
// Loaded once from /api/stats/messages, then kept current from the live stream:
// each "message" (received) or "message.sent" event adds one to its hour, and the
// window moves on by itself when an hour ends.
import { get } from "./api.js";
import { h, replace } from "./dom.js";

const HOUR = 3600 * 1000;
const SVG = "http://www.w3.org/2000/svg";
const KINDS = [["received", "Received"], ["sent", "Sent"]];
const ACTIONS = new Set(["reaction", "edit", "revoke"]);
const clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, value);
  for (const child of children) el.append(child);
  return el;
}

export function activityCard(deviceId) {
  const body = h("div", { class: "chart" }, h("p", { class: "loading small" }, "Loading…"));
  const totals = h("p", { class: "chart-legend" });
  const el = h("section", { class: "card activity", "aria-labelledby": "activity-title" },
    h("div", { class: "card-head" },
      h("h2", { id: "activity-title" }, "Messages, last 24 hours"), totals),
    body);
  let buckets = null;  // [{hour, start (ms), received, sent}], oldest first
  let loading = false;
  let missed = false;  // events came while loading: the answer may predate them
  let hourTimer = null;
  let drawTimer = null;

  async function load() {
    if (loading) { missed = true; return; }
    loading = true;
    missed = false;
    const query = deviceId ? `&session=${encodeURIComponent(deviceId)}` : "";
    try {
      const data = await get(`/api/stats/messages?hours=24${query}`);
      buckets = data.buckets.map((b) => ({ ...b, start: Date.parse(b.hour) }));
      render();
    } catch (err) {
      buckets = null;
      replace(body, h("p", { class: "field-error" }, err.message));
    } finally {
      loading = false;
    }
    if (missed) load();
  }

  // Move the window on until its last hour holds `time`.
  function roll(time) {
    let moved = false;
    while (buckets && time >= buckets[buckets.length - 1].start + HOUR) {
      const start = buckets[buckets.length - 1].start + HOUR;
      buckets.shift();
      const hour = new Date(start).toISOString().replace(".000Z", "Z");  // as the API writes it
      buckets.push({ hour, start, received: 0, sent: 0 });
      moved = true;
    }
    return moved;
  }

  function count(kind, iso) {
    if (loading) { missed = true; return; }
    if (!buckets) return;
    const time = Date.parse(iso) || Date.now();
    roll(time);
    const bucket = buckets.find((b) => b.start <= time && time < b.start + HOUR);
    if (bucket) bucket[kind] += 1;
    // Drawn at most five times a second however fast messages come (a busy server
    // streams hundreds a second to the sessions page).
    if (!drawTimer) drawTimer = setTimeout(() => { drawTimer = null; if (buckets) render(); }, 200);
  }

  function scheduleRoll() {
    clearTimeout(hourTimer);
    if (!buckets) return;
    const next = buckets[buckets.length - 1].start + HOUR;
    hourTimer = setTimeout(() => { if (roll(Date.now())) render(); else scheduleRoll(); },
      Math.max(1000, next - Date.now() + 500));
  }

  function render() {
    const sum = { received: 0, sent: 0 };
    for (const b of buckets) { sum.received += b.received; sum.sent += b.sent; }
    el.dataset.received = sum.received;
    el.dataset.sent = sum.sent;
    replace(totals, KINDS.map(([kind, label]) => h("span", { class: `legend-item ${kind}` },
      h("span", { class: "swatch", "aria-hidden": "true" }), `${label} `,
      h("strong", { dataset: { total: kind } }, sum[kind]))));
    replace(body, plot(buckets), table(buckets));
    scheduleRoll();
  }

  load();
  return {
    el,
    load,
    onEvent(event) {
      if (deviceId && event.session !== deviceId) return;
      // A received reaction, edit or revoke acts on a message: it is not one (the API
      // leaves them out too).
      if (event.event === "message" && !ACTIONS.has(event.payload && event.payload.type)) {
        count("received", event.timestamp);
      }
      else if (event.event === "message.sent") count("sent", event.timestamp);
    },
    destroy() { clearTimeout(hourTimer); clearTimeout(drawTimer); },
  };
}

// The bars: the SVG stretches to the card's width (its text lives in HTML around it,
// so nothing in it is distorted); two bars an hour, scaled to the busiest hour.
function plot(buckets) {
  const slot = 10;
  const height = 100;
  const busiest = Math.max(...buckets.map((b) => Math.max(b.received, b.sent)));
  const top = Math.max(1, busiest);
  const bars = svg("g");
  buckets.forEach((b, i) => {
    const span = `${clock.format(b.start)}–${clock.format(b.start + HOUR)}`;
    KINDS.forEach(([kind, label], k) => {
      const tall = (b[kind] / top) * (height - 4);
      bars.append(svg("rect", {
        class: `bar-${kind}`, x: i * slot + 0.8 + k * 4.4, width: 4,
        y: height - tall, height: tall, rx: 0.8,
        "data-hour": b.hour, "data-direction": kind, "data-count": b[kind],
      }, svg("title", {}, `${span}: ${b[kind]} ${label.toLowerCase()}`)));
    });
  });
  const grid = svg("g", { class: "grid-lines" },
    ...[0, height / 2, height].map((y) => svg("line", { x1: 0, x2: buckets.length * slot,
      y1: y, y2: y, "vector-effect": "non-scaling-stroke" })));
  const labels = buckets.map((b, i) => {
    const fromEnd = buckets.length - 1 - i;
    if (fromEnd % 6) return h("span");
    return h("span", { class: fromEnd ? "" : "now" }, fromEnd ? clock.format(b.start) : "now");
  });
  const axis = h("div", { class: "chart-x" }, labels);
  axis.style.gridTemplateColumns = `repeat(${buckets.length}, minmax(0, 1fr))`;
  return h("div", { class: "chart-plot", "aria-hidden": "true" },
    h("div", { class: "chart-y" }, h("span", {}, busiest || ""),
      h("span", {}, busiest > 1 && busiest % 2 === 0 ? busiest / 2 : ""), h("span", {}, "0")),
    h("div", { class: "chart-area" },
      busiest ? null
        : h("p", { class: "chart-empty" }, h("span", {}, "No messages in the last 24 hours")),
      svg("svg", { viewBox: `0 0 ${buckets.length * slot} ${height}`,
        preserveAspectRatio: "none", focusable: "false" }, grid, bars),
      axis));
}

// The same figures for screen readers, as a table.
function table(buckets) {
  return h("table", { class: "sr-only" },
    h("caption", {}, "Messages per hour, oldest first"),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Hour"),
      KINDS.map(([, label]) => h("th", { scope: "col" }, label)))),
    h("tbody", {}, buckets.map((b) => h("tr", {},
      h("th", { scope: "row" }, clock.format(b.start)),
      KINDS.map(([kind]) => h("td", {}, b[kind]))))));
}
