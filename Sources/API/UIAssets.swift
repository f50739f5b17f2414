/// The fault-history page at `/ui` (issue #14): one HTML page, its style sheet and its script,
/// embedded here as they are served (no build step, no external assets). The page reads the
/// same REST API with the same tokens as any client; see `Endpoints+UI.swift` for the headers
/// that fence it in. Edit them here; `Tests/browser/ui_test.py` drives them in Chromium.
enum UIAssets {
    static let page = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Fault history · Session Error Ledger</title>
<link rel="stylesheet" href="/ui/app.css">
<script src="/ui/app.js" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to the content</a>
<header>
  <a class="brand" href="#/fleet">Session Error Ledger</a>
  <nav aria-label="Views"><a href="#/fleet">Fleet</a></nav>
  <form id="token-form" hidden>
    <label for="token">API token (read scope)</label>
    <input id="token" name="token" type="password" autocomplete="off" spellcheck="false" required>
    <button type="submit">Open</button>
  </form>
  <button id="sign-out" type="button" hidden>Forget the token</button>
</header>
<p id="status" class="status" role="status" aria-live="polite"></p>
<main id="main" tabindex="-1">
  <noscript><p>This page needs JavaScript; the same figures are in the REST API (/v1/statistics) and the CLI.</p></noscript>
</main>
<footer>Read-only. The token stays in this browser tab and is sent only in the Authorization header.</footer>
</body>
</html>
"""#

    static let styleSheet = #"""
:root { color-scheme: light; --ink: #1b1b1b; --muted: #4a4a4a; --line: #c8c8c8; --accent: #0b4f8a; --bg: #ffffff; --band: #f3f5f8; }
* { box-sizing: border-box; }
[hidden] { display: none !important; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: var(--ink); background: var(--bg); }
a { color: var(--accent); }
a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible, summary:focus-visible, .table-wrap:focus-visible {
  outline: 3px solid #e07b00; outline-offset: 2px; }
main:focus { outline: none; }
.skip { position: absolute; left: -999px; top: 0; background: var(--bg); padding: .5rem; }
.skip:focus { left: .5rem; }
header { display: flex; flex-wrap: wrap; gap: .75rem 1.5rem; align-items: center; padding: .75rem 1rem; background: var(--band); border-bottom: 1px solid var(--line); }
.brand { font-weight: 700; color: var(--ink); text-decoration: none; }
nav a { margin-right: 1rem; }
form#token-form { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; }
input, select, button { font: inherit; min-height: 44px; padding: .35rem .6rem; border: 1px solid #767676; border-radius: 4px; background: #fff; color: var(--ink); }
button { background: var(--accent); color: #fff; border-color: var(--accent); cursor: pointer; }
main { padding: 1rem; max-width: 72rem; margin: 0 auto; }
h1 { font-size: 1.6rem; margin: .5rem 0 1rem; overflow-wrap: anywhere; }
h2 { font-size: 1.2rem; margin: 1.75rem 0 .5rem; }
.id { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-weight: 600; }
.status { margin: 0; padding: .25rem 1rem; min-height: 1.5rem; color: var(--muted); }
.status.error { color: #8c1d18; font-weight: 600; }
.hint { color: var(--muted); margin: 0 0 .5rem; }
.controls { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: center; }
.controls input[type=number] { width: 7rem; }
.chart { width: 100%; height: auto; max-height: 260px; background: #fff; }
.chart .tick { font-size: 12px; fill: var(--muted); }
.legend { list-style: none; display: flex; flex-wrap: wrap; gap: 1rem; padding: 0; margin: .25rem 0; }
.swatch { display: inline-block; width: .9rem; height: .9rem; margin-right: .35rem; vertical-align: -2px; background: #5b3e96; }
.swatch-ConnectorError { background: #1f5fa8; }
.swatch-CriticalError { background: #b3261e; }
.table-wrap { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
caption { text-align: left; font-weight: 600; padding: .25rem 0; }
th, td { text-align: left; padding: .4rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
thead th { background: var(--band); }
td, th { overflow-wrap: anywhere; }
.figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(12rem, 1fr)); gap: .5rem 1rem; margin: 0; }
.figures div { background: var(--band); padding: .5rem .75rem; border-radius: 4px; }
.figures dt { color: var(--muted); font-size: .9rem; }
.figures dd { margin: 0; font-size: 1.2rem; font-weight: 600; overflow-wrap: anywhere; }
.feed { padding-left: 1.25rem; }
.feed li { padding: .25rem 0; border-bottom: 1px solid var(--line); overflow-wrap: anywhere; }
.feed .info { color: var(--muted); }
details { margin: .5rem 0; }
summary { cursor: pointer; padding: .6rem 0; }
footer { padding: 1rem; color: var(--muted); border-top: 1px solid var(--line); font-size: .9rem; }
@media (max-width: 40rem) {
  header { padding: .5rem; }
  main { padding: .5rem; }
  h1 { font-size: 1.3rem; }
  th, td { padding: .3rem .4rem; }
}
"""#

    static let script = #"""
// The ledger's fault-history page: read-only, over the same REST API and tokens as any client.
// The token lives in this tab's sessionStorage and travels only in the Authorization header,
// never in a URL; views are addressed by the fragment (#/evse/…), which browsers do not send.
"use strict";

const TOKEN_KEY = "ledger-token";
const main = document.getElementById("main");
const status = document.getElementById("status");
const form = document.getElementById("token-form");
const tokenInput = document.getElementById("token");
const signOut = document.getElementById("sign-out");
let token = sessionStorage.getItem(TOKEN_KEY);
let live = null; // the AbortController of the live feed, while the fleet view shows it

// ---------------------------------------------------------------- small helpers

/** An element with attributes and children (strings become text: nothing is parsed as HTML). */
function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function svg(tag, attributes, ...children) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, String(value));
  for (const child of children.flat()) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

const numberFormat = new Intl.NumberFormat("en");
const fmt = (n) => (n === null || n === undefined ? "–" : numberFormat.format(n));
const ratio = (n) => (n === null || n === undefined ? "–" : Number(n).toFixed(3));
const when = (iso) => (iso ? iso.replace("T", " ").replace(/\.\d{3}Z$/, " UTC") : "–");
const day = (iso) => iso.slice(0, 10);
const evseLink = (id) => el("a", { href: "#/evse/" + encodeURIComponent(id) }, id);
const sessionLink = (id) => el("a", { href: "#/session/" + encodeURIComponent(id) }, id);

function say(message, isError) {
  status.textContent = message;
  status.className = isError ? "status error" : "status";
}

class Unauthorized extends Error {}

/** GETs an API path as JSON with the token; 401 forgets the token, other errors say why. */
async function api(path) {
  const response = await fetch(path, {
    headers: { Authorization: "Bearer " + token, Accept: "application/json" },
    cache: "no-store",
    referrerPolicy: "no-referrer",
  });
  if (response.status === 401) throw new Unauthorized("the token was not accepted");
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const message = body && body.error ? body.error.message : "HTTP " + response.status;
    const error = new Error(message);
    error.status = response.status;
    throw error;
  }
  return body;
}

function table(caption, columns, rows, attributes) {
  return el("div", { class: "table-wrap", tabindex: 0, role: "region", "aria-label": caption },
    el("table", attributes || {},
      el("caption", {}, caption),
      el("thead", {}, el("tr", {}, columns.map((c) => el("th", { scope: "col" }, c)))),
      el("tbody", {}, rows)));
}

function figures(label, pairs) {
  return el("dl", { class: "figures", "aria-label": label },
    pairs.map(([name, value, key]) => el("div", {}, el("dt", {}, name), el("dd", { "data-figure": key }, value))));
}

/** The last `days` days up to the end of today (UTC), as the API takes them. */
function windowOf(days) {
  const to = new Date();
  const from = new Date(to.getTime() - days * 86400000);
  return "from=" + encodeURIComponent(from.toISOString()) + "&to=" + encodeURIComponent(to.toISOString());
}

/** The browser's zone if the ledger can cut days in it (a whole number of hours from UTC). */
function localZone() {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  return zone && new Date().getTimezoneOffset() % 60 === 0 ? zone : "UTC";
}

// ---------------------------------------------------------------- the chart

const palette = { ConnectorError: "#1f5fa8", CriticalError: "#b3261e" };
const fallback = ["#5b3e96", "#1d6b3a", "#8a5300"];

/** Errors per day by type as stacked bars, with the numbers in a table beside it. */
function dailyChart(title, series) {
  const days = [...new Set(series.points.map((p) => p.bucket_start))];
  const types = [...new Set(series.points.map((p) => p.group).filter((g) => g !== null))].sort();
  const count = (d, t) => series.points.filter((p) => p.bucket_start === d && p.group === t).reduce((s, p) => s + p.errors, 0);
  const sessions = (d) => (series.points.find((p) => p.bucket_start === d) || { sessions: 0 }).sessions;
  const totals = days.map((d) => types.reduce((s, t) => s + count(d, t), 0));
  const max = Math.max(1, ...totals);
  const width = 720, height = 220, left = 44, bottom = 28, barWidth = Math.max(2, (width - left - 8) / Math.max(days.length, 1) - 2);
  const scale = (n) => (n / max) * (height - bottom - 10);
  const bars = [];
  days.forEach((d, i) => {
    let y = height - bottom;
    types.forEach((t, k) => {
      const n = count(d, t);
      if (!n) return;
      const h = scale(n);
      y -= h;
      bars.push(svg("rect", { x: left + i * (barWidth + 2), y: y, width: barWidth, height: h, fill: palette[t] || fallback[k % fallback.length] },
        svg("title", {}, `${day(d)}: ${n} ${t}`)));
    });
  });
  const axis = [
    svg("line", { x1: left, y1: height - bottom, x2: width, y2: height - bottom, stroke: "#444" }),
    svg("text", { x: left - 6, y: 16, "text-anchor": "end", class: "tick" }, fmt(max)),
    svg("text", { x: left - 6, y: height - bottom, "text-anchor": "end", class: "tick" }, "0"),
  ];
  if (days.length) {
    axis.push(svg("text", { x: left, y: height - 8, class: "tick" }, day(days[0])));
    axis.push(svg("text", { x: width, y: height - 8, "text-anchor": "end", class: "tick" }, day(days[days.length - 1])));
  }
  const total = totals.reduce((a, b) => a + b, 0);
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", class: "chart",
    "aria-label": `${title}: ${total} errors over ${days.length} days; the table below has every number` }, axis, bars);
  const legend = el("ul", { class: "legend" }, types.map((t, k) =>
    el("li", {}, el("span", { class: "swatch", "data-type": t, "aria-hidden": "true" }), t)));
  legend.querySelectorAll(".swatch").forEach((s, k) => s.classList.add("swatch-" + (palette[s.dataset.type] ? s.dataset.type : "other" + k)));
  const rows = days.map((d, i) => el("tr", { "data-day": day(d) },
    el("th", { scope: "row" }, day(d)),
    types.map((t) => el("td", { "data-type": t }, fmt(count(d, t)))),
    el("td", { "data-total": "" }, fmt(totals[i])),
    el("td", { "data-sessions": "" }, fmt(sessions(d)))));
  return el("section", { "aria-labelledby": "chart-title" },
    el("h2", { id: "chart-title" }, title),
    chart, legend,
    el("details", {}, el("summary", {}, "The numbers, day by day"),
      table(title, ["Day", ...types, "Errors", "Sessions"], rows, { "data-series": "" })));
}

// ---------------------------------------------------------------- views

async function fleetView() {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const days = Number(params.get("days")) || 30;
  const zone = params.get("zone") || localZone();
  const metric = params.get("by") || "errors_per_session";
  const minSessions = Number(params.get("min")) || 5;
  const controls = el("form", { class: "controls", "aria-label": "Window and ranking", onsubmit: (e) => {
      e.preventDefault();
      const data = new FormData(e.target);
      location.hash = "#/fleet?" + new URLSearchParams(data).toString();
    } },
    el("label", {}, "Days ", el("select", { name: "days" }, [7, 30, 90, 365].map((d) => el("option", { value: d, selected: d === days }, d)))),
    el("label", {}, "Time zone ", el("select", { name: "zone" }, [...new Set(["UTC", localZone()])].map((z) => el("option", { value: z, selected: z === zone }, z)))),
    el("label", {}, "Rank by ", el("select", { name: "by" },
      [["errors_per_session", "errors per session"], ["error_session_share", "share of sessions with an error"], ["abrupt_end_share", "share of abrupt ends"]]
        .map(([v, t]) => el("option", { value: v, selected: v === metric }, t)))),
    el("label", {}, "At least ", el("input", { name: "min", type: "number", min: 1, max: 1000000, value: minSessions, inputmode: "numeric" }), " sessions"),
    el("button", { type: "submit" }, "Show"));
  const range = windowOf(days);
  const [series, ranking] = await Promise.all([
    api(`/v1/statistics/series?${range}&bucket=day&group_by=error_type&time_zone=${encodeURIComponent(zone)}`),
    api(`/v1/statistics/rankings?${range}&by=${metric}&min_sessions=${minSessions}&limit=20`),
  ]);
  const ranked = ranking.items.map((r, i) => el("tr", { "data-evse": r.evse_id },
    el("td", {}, i + 1), el("th", { scope: "row" }, evseLink(r.evse_id)), el("td", {}, fmt(r.sessions)), el("td", {}, fmt(r.errors)),
    el("td", {}, ratio(r.errors_per_session)), el("td", {}, ratio(r.error_session_share)), el("td", {}, ratio(r.abrupt_end_share))));
  const feed = el("ol", { id: "live-feed", class: "feed", "aria-live": "polite", "aria-relevant": "additions" });
  main.replaceChildren(
    el("h1", {}, "Fleet"),
    controls,
    dailyChart(`Errors per day by type, last ${days} days (${series.time_zone})`, series),
    el("section", { "aria-labelledby": "ranking-title" },
      el("h2", { id: "ranking-title" }, "EVSEs by " + metric.replaceAll("_", " ")),
      el("p", { class: "hint" }, `EVSEs with at least ${minSessions} sessions in the window, so that a busy EVSE does not rank first for being busy.`),
      ranked.length ? table("Fair ranking", ["#", "EVSE", "Sessions", "Errors", "Errors per session", "Sessions with an error", "Abrupt ends"], ranked, { "data-ranking": "" })
        : el("p", {}, "No EVSE has that many sessions in the window.")),
    el("section", { "aria-labelledby": "live-title" },
      el("h2", { id: "live-title" }, "Live errors"),
      el("p", { class: "hint", id: "live-state" }, "Connecting…"),
      feed));
  follow(feed);
}

/** Follows the live feed with fetch (an EventSource cannot send the token), resuming by id. */
async function follow(feed) {
  if (live) live.abort();
  const controller = new AbortController();
  live = controller;
  const state = document.getElementById("live-state");
  let last = null;
  while (!controller.signal.aborted) {
    try {
      const headers = { Authorization: "Bearer " + token, Accept: "text/event-stream" };
      if (last) headers["Last-Event-ID"] = last;
      const response = await fetch("/v1/errors/stream", { headers, signal: controller.signal, cache: "no-store" });
      if (response.status === 401) throw new Unauthorized("the token was not accepted");
      if (!response.ok) throw new Error("HTTP " + response.status);
      state.textContent = "Following new errors as they are recorded.";
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let id = null, name = null, data = "";
          for (const line of block.split("\n")) {
            if (line.startsWith("id: ")) id = line.slice(4);
            else if (line.startsWith("event: ")) name = line.slice(7);
            else if (line.startsWith("data: ")) data += line.slice(6);
          }
          if (id) last = id;
          if (name === "charging_error" && data) show(feed, JSON.parse(data));
        }
      }
    } catch (error) {
      if (controller.signal.aborted) return;
      if (error instanceof Unauthorized) return forget(error.message);
      state.textContent = "The live feed was interrupted; reconnecting…";
    }
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

function show(feed, error) {
  feed.prepend(el("li", { "data-session": error.session_id },
    el("time", { datetime: error.received_at }, when(error.received_at)), " ",
    el("strong", {}, error.error_type), " at ", evseLink(error.evse_id), " · session ", sessionLink(error.session_id),
    error.error_additional_info ? el("span", { class: "info" }, " — " + error.error_additional_info) : null));
  while (feed.children.length > 50) feed.lastChild.remove();
}

async function evseView(evseID) {
  const path = "/v1/evses/" + encodeURIComponent(evseID);
  const [reliability, series, errors] = await Promise.all([
    api(`${path}/reliability?${windowOf(30)}`),
    api(`/v1/statistics/series?${windowOf(30)}&bucket=day&group_by=error_type&evse=${encodeURIComponent(evseID)}&time_zone=${encodeURIComponent(localZone())}`),
    api(`${path}/errors?limit=100`),
  ]);
  const r = reliability;
  const rows = (items) => items.map((e) => el("tr", { "data-position": e.position },
    el("td", {}, el("time", { datetime: e.received_at }, when(e.received_at))), el("td", {}, e.error_type),
    el("td", {}, e.phase.replaceAll("_", " ")), el("td", {}, e.error_additional_info || "–"), el("td", {}, sessionLink(e.session_id))));
  const body = rows(errors.items);
  const timeline = table("Errors, newest first", ["Received", "Type", "Phase", "Message", "Session"], body, { "data-errors": "" });
  const more = el("button", { type: "button", hidden: !errors.next_cursor, onclick: async () => {
      const page = await api(`${path}/errors?limit=100&cursor=${encodeURIComponent(more.dataset.cursor)}`);
      timeline.querySelector("tbody").append(...rows(page.items));
      more.dataset.cursor = page.next_cursor || "";
      more.hidden = !page.next_cursor;
    } }, "More errors");
  more.dataset.cursor = errors.next_cursor || "";
  main.replaceChildren(
    el("h1", {}, "EVSE ", el("span", { class: "id" }, evseID)),
    el("p", {}, "Operator ", r.operator_id, ". Figures over ", when(r.from), " – ", when(r.to), "."),
    figures("Reliability, last 30 days", [
      ["Sessions", fmt(r.sessions), "sessions"], ["Errors", fmt(r.errors), "errors"],
      ["Sessions with an error", fmt(r.sessions_with_errors), "sessions_with_errors"], ["Abrupt ends", fmt(r.abrupt_ends), "abrupt_ends"],
      ["Errors per session", ratio(r.errors_per_session), "errors_per_session"],
      ["Mean sessions between errors", ratio(r.mean_sessions_between_errors), "mean_sessions_between_errors"],
      ["First error in the window", when(r.first_error_at), "first_error_at"], ["Last error in the window", when(r.last_error_at), "last_error_at"],
      ["Sessions since the last error", fmt(r.sessions_since_last_error), "sessions_since_last_error"],
    ]),
    dailyChart(`Errors per day by type, last 30 days (${series.time_zone})`, series),
    el("section", { "aria-labelledby": "timeline-title" }, el("h2", { id: "timeline-title" }, "Error timeline"), timeline, more));
}

async function sessionView(sessionID) {
  const path = "/v1/sessions/" + encodeURIComponent(sessionID);
  const [summary, timeline, deliveries] = await Promise.all([
    api(path), api(path + "/timeline?limit=1000"), api("/v1/deliveries?session=" + encodeURIComponent(sessionID)),
  ]);
  const entries = timeline.items.map((t) => el("tr", { "data-seq": t.seq },
    el("td", {}, t.seq), el("td", {}, el("time", { datetime: t.received_at }, when(t.received_at))), el("td", {}, t.notification_type),
    el("td", {}, t.event_type), el("td", {}, t.error_type || "–"), el("td", {}, t.phase ? t.phase.replaceAll("_", " ") : "–"),
    el("td", {}, t.error_additional_info || "–")));
  const sent = deliveries.items.map((d) => el("tr", { "data-delivery": d.state },
    el("td", {}, d.notification_type), el("td", {}, d.state), el("td", {}, fmt(d.attempts)),
    el("td", {}, d.status_code || "–"), el("td", {}, d.reason || "–"), el("td", {}, when(d.finished_at))));
  main.replaceChildren(
    el("h1", {}, "Session ", el("span", { class: "id" }, sessionID)),
    figures("Session", [
      ["EVSE", evseLink(summary.evse_id), "evse_id"], ["Status", summary.status, "status"], ["Errors", fmt(summary.error_count), "error_count"],
      ["First seen", when(summary.first_received_at), "first_received_at"], ["Last seen", when(summary.last_received_at), "last_received_at"],
    ]),
    el("section", { "aria-labelledby": "entries-title" }, el("h2", { id: "entries-title" }, "Timeline"),
      table("Timeline, in the order the ledger recorded it", ["#", "Received", "Notification", "Event", "Error type", "Phase", "Message"], entries, { "data-timeline": "" })),
    el("section", { "aria-labelledby": "deliveries-title" }, el("h2", { id: "deliveries-title" }, "Delivery to Hubject"),
      sent.length ? table("Deliveries", ["Notification", "State", "Attempts", "Hubject's code", "Reason", "Finished"], sent, { "data-deliveries": "" })
        : el("p", {}, "Nothing of this session is forwarded (forwarding is off, or nothing was sent yet).")));
}

// ---------------------------------------------------------------- routing and the token

async function route() {
  if (live && !location.hash.startsWith("#/fleet")) { live.abort(); live = null; }
  if (!token) {
    form.hidden = false;
    signOut.hidden = true;
    main.replaceChildren(el("h1", {}, "Fault history"), el("p", {}, "Enter an API token with the read scope to see the fleet's errors."));
    tokenInput.focus();
    return;
  }
  form.hidden = true;
  signOut.hidden = false;
  const [view, ...rest] = location.hash.replace(/^#\//, "").split("?")[0].split("/");
  const id = decodeURIComponent(rest.join("/"));
  say("Loading…");
  try {
    if (view === "evse" && id) await evseView(id);
    else if (view === "session" && id) await sessionView(id);
    else await fleetView();
    say("");
    main.focus();
  } catch (error) {
    if (error instanceof Unauthorized) return forget(error.message);
    main.replaceChildren(el("h1", {}, "Not shown"), el("p", {}, error.status === 404 ? "The ledger has nothing under that name that this token may see." : error.message));
    say(error.message, true);
  }
}

function forget(message) {
  token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  say(message ? message + ": enter another token." : "", Boolean(message));
  route();
}

// The skip link moves the focus to the content; it must not change the fragment, which names the view.
document.querySelector(".skip").addEventListener("click", (event) => {
  event.preventDefault();
  main.focus();
});
form.addEventListener("submit", (event) => {
  event.preventDefault();
  token = tokenInput.value.trim();
  tokenInput.value = "";
  if (!token) return;
  sessionStorage.setItem(TOKEN_KEY, token);
  route();
});
signOut.addEventListener("click", () => forget());
window.addEventListener("hashchange", route);
route();
"""#
}
