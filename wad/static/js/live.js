// The live event stream. EventSource reconnects by itself and sends Last-Event-ID,
// so the server replays what was missed; "stream.open" with resumed=false means
// the page must load its data again.
import { get } from "./api.js";

export class Live {
  constructor(indicator) {
    this.indicator = indicator;
    this.listeners = new Set();
    this.source = null;
  }

  on(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  start() {
    if (this.source) return;
    this.source = new EventSource("/api/events");
    this.source.onmessage = (message) => this.dispatch(JSON.parse(message.data));
    this.source.onerror = () => this.lost();
    this.show("connecting", "Connecting…");
  }

  stop() {
    if (this.source) this.source.close();
    this.source = null;
    this.indicator.hidden = true;
  }

  dispatch(event) {
    if (event.event === "stream.open") this.show("on", "Live");
    for (const listener of this.listeners) listener(event);
  }

  async lost() {
    if (!this.source) return;
    if (this.source.readyState === EventSource.CLOSED) {
      // The server refused the stream (signed out?) rather than dropping it.
      this.source = null;
      this.show("off", "Offline");
      try {
        await get("/api/dashboard/info");
        setTimeout(() => this.start(), 2000);
      } catch {
        /* api() announced the sign-out */
      }
      return;
    }
    this.show("off", "Reconnecting…");
  }

  show(state, text) {
    this.indicator.hidden = false;
    this.indicator.dataset.state = state;
    this.indicator.textContent = text;
  }
}
