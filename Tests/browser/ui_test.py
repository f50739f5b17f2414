#!/usr/bin/env python3
"""The fault-history page (/ui) in a real browser: Debian's headless Chromium, driven through
chromedriver's W3C WebDriver protocol (a few HTTP calls; no Selenium, no browser download).

Usage:
    python3 Tests/browser/ui_test.py BASE_URL INGEST_TOKEN PAGE_TOKEN SERVER_LOG SCREENSHOT_DIR

BASE_URL is a running `error-ledger serve` (with its projector, and forwarding to a fake Hubject),
INGEST_TOKEN may ingest and read everything, PAGE_TOKEN is a read token limited to DE*UIT: the
page is used as an operator's person would use it. The test

* ingests a known fleet (DE*UIT: two EVSEs, four sessions, three errors, one abrupt end; DE*UIX,
  another operator: one error the page must never show);
* signs in with the keyboard, and checks the fleet view's daily numbers and its fair ranking
  against the API's answers to the same questions;
* sends a new error and waits for it in the live feed (fetch streaming: an EventSource cannot
  send the token);
* opens an EVSE (reliability figures and error timeline against the API) and a session (timeline
  and its delivery state to Hubject against the API);
* checks the token is in no URL and no server log line, that every form control has a label, the
  skip link is the first stop and works by keyboard, and that a phone's width (390 px) needs no
  sideways scrolling;
* saves screenshots of each view (desktop and phone) to SCREENSHOT_DIR.
"""

import base64
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

BASE, INGEST_TOKEN, PAGE_TOKEN, SERVER_LOG, SHOTS = sys.argv[1:6]
OWN, OTHER = "DE*UIT", "DE*UIX"
INGEST_PATH = "/api/oicp/notificationmgmt/v11/charging-notifications"
checks = 0


def check(condition, message):
    global checks
    checks += 1
    if not condition:
        raise AssertionError(message)


# ---------------------------------------------------------------- the ledger's API


def http(method, path, token, body=None):
    request = urllib.request.Request(BASE + path, method=method, data=json.dumps(body).encode() if body else None)
    request.add_header("Authorization", "Bearer " + token)
    if body:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def ingest(body):
    answer = http("POST", INGEST_PATH, INGEST_TOKEN, body)
    assert answer["StatusCode"]["Code"] == "000", answer


def notification(kind, session, evse, operator, **fields):
    body = {"Type": kind, "SessionID": session, "EvseID": evse, "OperatorID": operator}
    if kind in ("Start", "End"):
        body["ChargingStart"] = "2026-12-01T10:00:00+01:00"
    if kind == "End":
        body["ChargingEnd"] = "2026-12-01T10:40:00+01:00"
    body.update(fields)
    return body


def error(session, evse, operator, kind, info):
    return notification("Error", session, evse, operator, ErrorType=kind, ErrorAdditionalInfo=info)


# ---------------------------------------------------------------- WebDriver


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Browser:
    def __init__(self):
        self.port = free_port()
        self.driver = subprocess.Popen(["chromedriver", f"--port={self.port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                self.call("GET", "/status")
                break
            except OSError:
                time.sleep(0.1)
        arguments = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000",
                     "--no-first-run", "--disable-extensions", "--force-color-profile=srgb"]
        capabilities = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome", "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": arguments}}}}
        self.session = self.call("POST", "/session", capabilities)["sessionId"]

    def call(self, method, path, body=None):
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method,
                                         data=json.dumps(body).encode() if body is not None else None)
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.loads(response.read())["value"]
        except urllib.error.HTTPError as failure:
            raise RuntimeError(f"WebDriver {method} {path}: {failure.read()[:500]!r}") from None

    def do(self, method, path, body=None):
        return self.call(method, f"/session/{self.session}{path}", body)

    def open(self, url):
        self.do("POST", "/url", {"url": url})

    def js(self, script, *args):
        return self.do("POST", "/execute/sync", {"script": script, "args": list(args)})

    def wait(self, script, what, timeout=20, *args):
        deadline = time.time() + timeout
        while time.time() < deadline:
            value = self.js(script, *args)
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}; page says: {self.js('return document.body.innerText')[:800]}")

    def keys(self, text):
        element = self.do("GET", "/element/active")
        element_id = next(iter(element.values()))
        self.do("POST", f"/element/{element_id}/value", {"text": text})

    def press(self, key):
        """Presses and releases one key where the focus is (WebDriver actions)."""
        self.do("POST", "/actions", {"actions": [{"type": "key", "id": "keyboard", "actions": [
            {"type": "keyDown", "value": key}, {"type": "keyUp", "value": key}]}]})

    def screenshot(self, name):
        os.makedirs(SHOTS, exist_ok=True)
        with open(os.path.join(SHOTS, name), "wb") as f:
            f.write(base64.b64decode(self.do("GET", "/screenshot")))

    def size(self, width, height):
        self.do("POST", "/window/rect", {"width": width, "height": height})

    def quit(self):
        try:
            self.do("DELETE", "")
        finally:
            self.driver.terminate()


def text_of(browser, selector):
    return browser.js("return [...document.querySelectorAll(arguments[0])].map(e => e.textContent.trim())", selector)


def number(text):
    return None if text in ("–", "") else float(text.replace(",", ""))


# ---------------------------------------------------------------- the test


def main():
    a, b, x = f"{OWN}*EUIA*1", f"{OWN}*EUIB*1", f"{OTHER}*EUIX*1"
    s = [str(uuid.uuid4()) for _ in range(5)]
    fleet = [
        notification("Start", s[0], a, OWN), error(s[0], a, OWN, "ConnectorError", "plug locked"), notification("End", s[0], a, OWN),
        notification("Start", s[1], a, OWN), notification("End", s[1], a, OWN),
        error(s[2], a, OWN, "CriticalError", "RCD tripped <script>alert(1)</script>"),
        notification("Start", s[3], b, OWN), error(s[3], b, OWN, "ConnectorError", "plug locked"),
        error(s[4], x, OTHER, "CriticalError", "another operator's error"),
    ]
    for body in fleet:
        ingest(body)
    # The projector is embedded in serve: wait until the limited token's statistics see all three.
    deadline = time.time() + 30
    while time.time() < deadline:
        series = http("GET", "/v1/statistics/series?bucket=day&group_by=error_type", PAGE_TOKEN)
        if sum(p["errors"] for p in series["points"]) >= 3 and http("GET", f"/v1/evses/{b}/errors", PAGE_TOKEN)["items"]:
            break
        time.sleep(0.2)

    browser = Browser()
    try:
        # Sign in with the keyboard: the first Tab reaches the skip link; the token field has focus.
        browser.open(BASE + "/ui")
        browser.wait("return document.activeElement && document.activeElement.id === 'token'", "the token field to take focus")
        browser.keys(PAGE_TOKEN + "\ue007")  # Enter submits
        browser.wait("return document.querySelector('table[data-series]')", "the fleet view")
        check(PAGE_TOKEN not in browser.do("GET", "/url"), "the token is in the page's URL")
        check(browser.js("return sessionStorage.getItem('ledger-token') !== null && localStorage.length === 0"),
              "the token is kept in the tab's sessionStorage only")

        # The fleet view at min 1 session, so both EVSEs rank; its numbers are the API's.
        browser.open(BASE + "/ui#/fleet?days=30&zone=UTC&by=errors_per_session&min=1")
        browser.wait("return document.querySelector('table[data-ranking] tbody tr')", "the ranking")
        api_series = http("GET", "/v1/statistics/series?bucket=day&group_by=error_type&time_zone=UTC", PAGE_TOKEN)
        api_types = {}
        for point in api_series["points"]:
            api_types[point["group"]] = api_types.get(point["group"], 0) + point["errors"]
        page_types = browser.js("""
            const sums = {};
            for (const cell of document.querySelectorAll('table[data-series] td[data-type]'))
              sums[cell.dataset.type] = (sums[cell.dataset.type] || 0) + Number(cell.textContent.replace(/,/g, ''));
            return sums;""")
        check(page_types == api_types and sum(api_types.values()) == 3, f"fleet errors by type: page {page_types}, API {api_types}")
        page_sessions = sum(number(t) for t in text_of(browser, "table[data-series] td[data-sessions]"))
        api_sessions = sum({p["bucket_start"]: p["sessions"] for p in api_series["points"]}.values())
        check(page_sessions == api_sessions == 4, f"fleet sessions: page {page_sessions}, API {api_sessions}")
        ranking = http("GET", "/v1/statistics/rankings?min_sessions=1", PAGE_TOKEN)["items"]
        page_ranking = browser.js("return [...document.querySelectorAll('table[data-ranking] tbody tr')].map(r => r.dataset.evse)")
        check(page_ranking == [r["evse_id"] for r in ranking] == [b, a], f"ranking: page {page_ranking}, API {ranking}")
        check(OTHER not in browser.js("return document.body.innerText"), "another operator's data on a limited token's page")
        browser.screenshot("fleet.png")

        # A new error appears in the live feed as it is recorded.
        browser.wait("return /Following/.test(document.getElementById('live-state').textContent)", "the live feed to connect")
        live = str(uuid.uuid4())
        ingest(error(live, a, OWN, "CriticalError", "live: contactor welded"))
        ingest(error(str(uuid.uuid4()), x, OTHER, "CriticalError", "live: not for this token"))
        browser.wait("return document.querySelector(`#live-feed li[data-session='${arguments[0]}']`)", "the live error", 20, live)
        feed = browser.js("return document.getElementById('live-feed').innerText")
        check("contactor welded" in feed and "not for this token" not in feed, f"live feed: {feed}")
        browser.screenshot("fleet-live.png")

        # The EVSE view: reliability and timeline as the API gives them.
        browser.js("location.hash = arguments[0]", "#/evse/" + a)
        browser.wait("return document.querySelector('table[data-errors]') && document.querySelector('dd[data-figure=sessions]')", "the EVSE view")
        reliability = http("GET", f"/v1/evses/{a}/reliability", PAGE_TOKEN)
        for key in ("sessions", "errors", "sessions_with_errors", "abrupt_ends", "sessions_since_last_error"):
            shown = number(browser.js(f"return document.querySelector('dd[data-figure={key}]').textContent"))
            check(shown == reliability[key], f"EVSE {key}: page {shown}, API {reliability[key]}")
        check(reliability["errors"] == 3 and reliability["abrupt_ends"] == 1, f"reliability of {a}: {reliability}")
        rows = browser.js("return document.querySelectorAll('table[data-errors] tbody tr').length")
        api_errors = http("GET", f"/v1/evses/{a}/errors", PAGE_TOKEN)["items"]
        check(rows == len(api_errors) == 3, f"EVSE timeline rows: page {rows}, API {len(api_errors)}")
        phases = text_of(browser, "table[data-errors] tbody td:nth-child(3)")
        check(phases == [e["phase"].replace("_", " ") for e in api_errors], f"phases: page {phases}")
        check(browser.js("return document.querySelector('table[data-errors]').innerText.includes('<script>alert(1)</script>')"),
              "an error message is shown as text, not markup")
        browser.screenshot("evse.png")

        # The session view: its timeline and the delivery state of each notification (once the
        # forwarder has delivered all three to the fake Hubject).
        deadline = time.time() + 30
        while time.time() < deadline:
            deliveries = http("GET", f"/v1/deliveries?session={s[0]}", PAGE_TOKEN)["items"]
            if len(deliveries) == 3 and all(d["state"] == "delivered" for d in deliveries):
                break
            time.sleep(0.3)
        browser.js("location.hash = arguments[0]", "#/session/" + s[0])
        browser.wait("return document.querySelectorAll('table[data-deliveries] tbody tr').length === 3", "the session view's deliveries")
        timeline = http("GET", f"/v1/sessions/{s[0]}/timeline", PAGE_TOKEN)["items"]
        page_types = text_of(browser, "table[data-timeline] tbody td:nth-child(3)")
        check(page_types == [t["notification_type"] for t in timeline], f"session timeline: page {page_types}")
        states = text_of(browser, "table[data-deliveries] tbody td:nth-child(2)")
        check(states == [d["state"] for d in deliveries] == ["delivered"] * 3, f"deliveries: page {states}, API {deliveries}")
        browser.screenshot("session.png")

        # Another operator's EVSE is not there for this token.
        browser.js("location.hash = arguments[0]", "#/evse/" + x)
        browser.wait("return /nothing under that name/.test(document.body.innerText)", "the refusal of another operator's EVSE")

        # Accessibility basics, then a phone's width.
        browser.open(BASE + "/ui#/fleet?days=30&zone=UTC&by=errors_per_session&min=1")
        browser.wait("return document.querySelector('table[data-ranking]')", "the fleet view again")
        unlabelled = browser.js("return [...document.querySelectorAll('input, select')].filter(e => !e.labels || !e.labels.length).map(e => e.name || e.id)")
        check(unlabelled == [], f"form controls without a label: {unlabelled}")
        check(browser.js("return [...document.querySelectorAll('svg')].every(s => s.getAttribute('role') === 'img' && s.getAttribute('aria-label'))"),
              "a chart without a text alternative")
        # By keyboard: the skip link is the first stop; Enter on it moves to the content (without
        # leaving the view), and Tab goes on to the view's first control.
        check(browser.js("return document.querySelector('a[href], button:not([hidden]), input, select, [tabindex]').classList.contains('skip')"),
              "the skip link is not the first thing Tab reaches")
        hash_before = browser.js("return location.hash")
        browser.js("document.querySelector('.skip').focus()")
        browser.press("\ue007")  # Enter
        check(browser.js("return document.activeElement.id") == "main" and browser.js("return location.hash") == hash_before,
              "Enter on the skip link did not move to the content")
        browser.press("\ue004")  # Tab
        check(browser.js("return document.activeElement.name") == "days", "Tab after the skip link did not reach the view's first control")
        browser.size(390, 844)
        browser.open(BASE + "/ui#/fleet?days=30&zone=UTC&by=errors_per_session&min=1")
        browser.wait("return document.querySelector('table[data-ranking]')", "the fleet view on a phone")
        overflow = browser.js("return document.documentElement.scrollWidth - window.innerWidth")
        check(overflow <= 0, f"the page is {overflow} px wider than a phone's screen")
        browser.screenshot("phone-fleet.png")
        browser.js("location.hash = arguments[0]", "#/evse/" + a)
        browser.wait("return document.querySelector('table[data-errors]')", "the EVSE view on a phone")
        check(browser.js("return document.documentElement.scrollWidth - window.innerWidth") <= 0, "the EVSE view scrolls sideways on a phone")
        browser.screenshot("phone-evse.png")
    finally:
        browser.quit()

    secret = PAGE_TOKEN.split("_")[-1]
    log = open(SERVER_LOG).read()
    check(secret not in log and PAGE_TOKEN not in log, "the page's token is in the server's log")
    print(f"fault-history page in Chromium: {checks} checks passed; screenshots in {SHOTS}")


if __name__ == "__main__":
    main()
