#!/usr/bin/env python3
"""A fake Hubject for tests and benchmarks: a real HTTPS server on loopback that demands a
client certificate signed by the given CA, and answers POST .../charging-notifications per
scenario.

    fake_hubject.py --cert server.pem --key server.key --client-ca ca.pem \
                    [--port 0] [--scenario-file scenario.json] [--log requests.jsonl]

Prints `port <n>` once listening (and writes <n> to --port-file, if given). The scenario file is read on every request (so a test can
change it between requests); absent, every request succeeds. Its JSON:

    {"mode": "success" | "result_false" | "error500" | "rate429" | "slow" | "reset" | "garbage",
     "retry_after": 2, "delay": 5.0, "code": "102"}

- success:      200, Result true, 000, the request's SessionID echoed
- result_false: 200, Result false, `code` (default 102: an EMP refusal)
- error500:     500 with an OICP body, code `code` (default 001)
- rate429:      429 with Retry-After: `retry_after`, no body
- slow:         waits `delay` seconds, then succeeds
- reset:        closes the connection without answering (TCP reset)
- garbage:      200 with an HTML body
Every request is appended to the log as {"time", "path", "session_id", "type", "mode", "body"}.
"""
import argparse
import json
import os
import signal
import socket
import ssl
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

args = None
log_lock = threading.Lock()


def scenario():
    if not args.scenario_file:
        return {"mode": "success"}
    try:
        with open(args.scenario_file) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {"mode": "success"}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *_):
        pass

    def answer(self, status, body, headers=()):
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=UTF-8" if isinstance(body, dict) else "text/html")
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        try:
            notification = json.loads(raw)
        except ValueError:
            notification = {}
        plan = scenario()
        mode = plan.get("mode", "success")
        if args.log:
            entry = {"time": time.time(), "path": self.path, "session_id": notification.get("SessionID"),
                     "type": notification.get("Type"), "mode": mode, "body": raw.decode("utf-8", "replace")}
            with log_lock, open(args.log, "a") as f:
                f.write(json.dumps(entry) + "\n")
        if not self.path.endswith("/notificationmgmt/v11/charging-notifications"):
            return self.answer(404, {"StatusCode": {"Code": "300", "Description": "Partner not found"}, "message": "no such path"})
        session = notification.get("SessionID")
        if mode == "slow":
            time.sleep(float(plan.get("delay", 5)))
            mode = "success"
        if mode == "success":
            return self.answer(200, {"Result": True, "StatusCode": {"Code": "000", "Description": "Success"}, "SessionID": session})
        if mode == "result_false":
            code = plan.get("code", "102")
            return self.answer(200, {"Result": False, "StatusCode": {"Code": code, "Description": "refused"}, "SessionID": session})
        if mode == "error500":
            code = plan.get("code", "001")
            return self.answer(500, {"StatusCode": {"Code": code, "Description": "Hubject system error"}})
        if mode == "rate429":
            return self.answer(429, b"", [("Retry-After", str(plan.get("retry_after", 2)))])
        if mode == "garbage":
            return self.answer(200, b"<html><body>502 Bad Gateway</body></html>")
        if mode == "reset":
            # SO_LINGER 0: close() sends RST instead of FIN.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return
        return self.answer(500, {"StatusCode": {"Code": "021", "Description": f"unknown fake mode {mode}"}})


def main():
    global args
    # A parent may have started us with signals blocked (Foundation's Process does): unblock
    # them, so SIGTERM and SIGINT stop the fake.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--client-ca", required=True)
    parser.add_argument("--scenario-file")
    parser.add_argument("--log")
    parser.add_argument("--port-file")
    args = parser.parse_args()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(args.cert, args.key)
    context.load_verify_locations(args.client_ca)
    context.verify_mode = ssl.CERT_REQUIRED
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.socket = context.wrap_socket(server.socket, server_side=True)
    print(f"port {server.server_address[1]}", flush=True)
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write(str(server.server_address[1]))
        os.rename(args.port_file + ".tmp", args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
