// The dashboard: sign-in, a hash router over two pages, and the live stream.
import { get, post } from "./api.js";
import { h, replace, toast } from "./dom.js";
import { Live } from "./live.js";
import { renderLogin } from "./login.js";
import { sessionView } from "./session.js";
import { sessionsView } from "./sessions.js";
import { pageKeys } from "./keys.js";

const main = document.getElementById("main");
const nav = document.getElementById("topnav");
const live = new Live(document.getElementById("live"));
let info = null;
let view = null;

live.on((event) => {
  if (!view) return;
  if (event.event === "stream.open") {
    if (!event.resumed) view.refresh();
  } else {
    view.onEvent(event);
  }
});

function route() {
  if (!info) return;
  if (view) view.destroy();
  const match = location.hash.match(/^#\/s\/([^/]+)$/);
  view = match ? sessionView(main, decodeURIComponent(match[1]), info) : sessionsView(main);
  document.title = match ? `${decodeURIComponent(match[1])} · wad` : "Sessions · wad";
  main.focus({ preventScroll: true });
}

async function start() {
  try {
    const { signedIn } = await get("/api/dashboard/login");
    if (!signedIn) { signedOut(); return; }
    info = await get("/api/dashboard/info");
  } catch (err) {
    if (err.status === 401) signedOut();
    else replace(main, h("p", { class: "field-error" }, err.message));
    return;
  }
  nav.hidden = false;
  document.getElementById("version").textContent = `v${info.version} · ${info.engine}`;
  route();
  live.start();
}

function signedOut() {
  info = null;
  if (view) view.destroy();
  view = null;
  live.stop();
  pageKeys.clear();
  nav.hidden = true;
  document.title = "Sign in · wad";
  renderLogin(main, start);
}

window.addEventListener("hashchange", route);
window.addEventListener("wad:signedout", () => { if (info) signedOut(); });
document.getElementById("signout").addEventListener("click", async () => {
  try { await post("/api/dashboard/logout"); } catch (err) { toast(err.message, "bad"); }
  signedOut();
});
start();
