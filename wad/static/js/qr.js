// Linking a phone: the QR code (replaced as it rotates, with a countdown), or a
// pairing code typed on the phone; otherwise what the session is doing.
import { post, sessionPath } from "./api.js";
import { h, phone, replace, seconds } from "./dom.js";

export function linkPanel(deviceId, info) {
  const el = h("section", { class: "card link", "aria-labelledby": "link-title" });
  let timer = null;
  let expiresAt = 0;
  let lifetime = info.qrInterval * 1000;
  let waitingSeq = null;
  let shownCode = null;
  let pairCode = null;

  const img = h("img", { class: "qr", alt: "QR code to scan with WhatsApp", width: 264,
    height: 264 });
  const countdown = h("p", { class: "countdown", "aria-live": "off" });
  const bar = h("div", { class: "bar" }, h("span"));

  function tick() {
    const left = expiresAt - Date.now();
    countdown.textContent = left > 0 ? `New code in ${seconds(left)}` : "A new code is on its way…";
    bar.firstChild.style.width = `${Math.max(0, Math.min(1, left / lifetime)) * 100}%`;
  }

  // The code comes with its session.qr event (or the latest one in the history),
  // so drawing it never races with the session moving on.
  async function draw(code) {
    if (!code || code === shownCode) return;
    shownCode = code;
    try {
      const { qrImage } = await post("/api/dashboard/qr-image", { code });
      if (shownCode === code) img.src = qrImage;
    } catch {
      shownCode = null; // signed out or unreachable: the page says so elsewhere
    }
  }

  function expiry(timestampMs, first) {
    lifetime = (first ? info.qrFirstInterval : info.qrInterval) * 1000;
    expiresAt = Math.min(timestampMs, Date.now()) + lifetime;
    tick();
  }

  function waiting() {
    // Drawn again when the page reloads its data (the live stream opening): what the
    // user had opened, typed or focused in the pairing form stays as it was.
    const before = el.querySelector("details.pair");
    const kept = before && { open: before.open, phone: before.querySelector("input").value,
      focus: before.contains(document.activeElement) ? document.activeElement.tagName : null };
    const code = h("p", { class: "pair-code", "aria-live": "polite" },
      pairCode ? [h("span", { class: "muted" }, "Type this code on the phone: "),
        h("strong", { class: "mono" }, pairCode)] : null);
    replace(el,
      h("h2", { id: "link-title" }, "Link a phone"),
      h("div", { class: "qr-wrap" },
        h("div", { class: "qr-box" }, img, bar, countdown),
        h("ol", { class: "steps" },
          h("li", {}, "Open WhatsApp on the phone."),
          h("li", {}, "Go to ", h("b", {}, "Settings → Linked devices → Link a device"), "."),
          h("li", {}, "Point the phone at this code. It changes every ",
            `${info.qrInterval} s`, " for your safety."))),
      pairForm(code), code);
    if (kept) {
      const details = el.querySelector("details.pair");
      details.open = kept.open;
      details.querySelector("input").value = kept.phone;
      const target = { SUMMARY: "summary", INPUT: "input", BUTTON: "button" }[kept.focus];
      if (target) details.querySelector(target).focus();
    }
    clearInterval(timer);
    timer = setInterval(tick, 1000);
    tick();
  }

  function pairForm(output) {
    const error = h("p", { class: "field-error", id: "pair-error", role: "alert" });
    const input = h("input", { id: "pair-phone", name: "phoneNumber", inputmode: "tel",
      autocomplete: "off", placeholder: "15550001111", "aria-describedby": "pair-help pair-error" });
    return h("details", { class: "pair" },
      h("summary", {}, "Link with a phone number instead"),
      h("form", { novalidate: true, onsubmit: async (e) => {
        e.preventDefault();
        error.textContent = "";
        const digits = input.value.replace(/[+\s-]/g, "");
        if (!/^[0-9]{6,15}$/.test(digits)) {
          error.textContent = "Enter the phone's number: 6 to 15 digits, country code first.";
          input.focus();
          return;
        }
        try {
          const result = await post(`${sessionPath(deviceId)}/pair-code`, { phoneNumber: digits });
          pairCode = result.code;
          replace(output, h("span", { class: "muted" }, "Type this code on the phone: "),
            h("strong", { class: "mono" }, pairCode));
        } catch (err) {
          error.textContent = err.message;
        }
      } },
        h("div", { class: "inline-form" },
          h("div", { class: "field grow" },
            h("label", { for: "pair-phone", class: "label" }, "Phone number"), input,
            h("p", { class: "help", id: "pair-help" },
              "On the phone: Link a device → Link with phone number instead."), error),
          h("div", { class: "field" },
            h("button", { class: "btn", type: "submit" }, "Get pairing code")))));
  }

  function resting(session) {
    clearInterval(timer);
    shownCode = null;
    pairCode = null;
    const state = session.connectionState;
    const text = {
      connected: ["Linked", `This session is linked to ${phone(session.phoneNumber) || "a phone"}.`],
      connecting: ["Connecting", "Connecting to WhatsApp…"],
      disconnected: ["Disconnected", "The connection dropped; wad reconnects by itself."],
      failed: ["Connection failed", "wad retries with growing delays (see below)."],
      logged_out: ["Not linked", "The phone unlinked this device. Restart to show a new QR code."],
      stopped: ["Not linked", "No phone was linked in time. Restart to show a new QR code."],
    }[state] || [state, ""];
    const icon = { connected: "✓", connecting: "…", disconnected: "↻", failed: "!" }[state] || "–";
    replace(el, h("div", { class: "linked" },
      h("span", { class: `linked-icon ${state}`, "aria-hidden": "true" }, icon),
      h("div", {}, h("h2", { id: "link-title" }, text[0]), h("p", { class: "muted" }, text[1]))));
  }

  return {
    el,
    show(session, history) {
      if (session.connectionState !== "waiting_qr") { resting(session); return; }
      const lastWaiting = history.find((e) => e.event === "session.status"
        && e.payload.state === "waiting_qr");
      if (lastWaiting) waitingSeq = lastWaiting.seq;
      const lastQr = history.find((e) => e.event === "session.qr" && e.payload.qrCode);
      waiting();
      if (lastQr) {
        expiry(Date.parse(lastQr.timestamp), lastQr.seq === waitingSeq + 1);
        draw(lastQr.payload.qrCode);
      }
    },
    onStatus(event) {
      if (event.payload.state === "waiting_qr") waitingSeq = event.seq;
    },
    onQr(event) {
      if (event.payload.pairCode) {
        pairCode = event.payload.pairCode;
        return;
      }
      expiry(Date.now(), event.seq === waitingSeq + 1);
      draw(event.payload.qrCode);
    },
    destroy() { clearInterval(timer); },
  };
}
