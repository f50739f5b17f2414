#!/usr/bin/env python3
"""A fake Hubject for tests and benchmarks: a real HTTPS server on loopback that demands a
client certificate signed by the given CA, and answers POST .../charging-notifications per
scenario.

    fake_hubject.py --cert server.pem --key server.key --client-ca ca.pem \
                    [--port 0] [--scenario-file scenario.json] [--log requests.jsonl]

Prints `port <n>` once listening (and writes <n> to --port-file, if given). The scenario file is read on every request (so a test can
change it between requests); absent, every request succeeds. Its JSON:

    {"mode": "success" | "result_false" | "error500" | "rate429" | "slow" | "reset" | "garbage"
             | "drip" | "oversized" | "tls_unknown_ca" | "tls_close",
     "retry_after": 2, "delay": 5.0, "code": "102", "interval": 1.0, "size": 10485760}

- success:      200, Result true, 000, the request's SessionID echoed
- result_false: 200, Result false, `code` (default 102: an EMP refusal)
- error500:     500 with an OICP body, code `code` (default 001)
- rate429:      429 with Retry-After: `retry_after`, no body
- slow:         waits `delay` seconds, then succeeds
- reset:        closes the connection without answering (TCP reset)
- garbage:      200 with an HTML body
- drip:         200 with a success acknowledgement, its headers at once and then its body one
                byte every `interval` seconds (default 1.0)
- oversized:    200 with a body of `size` bytes (default 10 MiB) that is not an acknowledgement;
                with "chunked": true, a chunked body that never ends
- tls_unknown_ca: the handshake presents rogue-server.pem (localhost, signed by a CA the client
                does not trust), so it fails before any request (make-test-pki.sh makes it)
- tls_close:    the connection closes during the handshake, after the ClientHello
The TLS modes act on new connections (the scenario is read when a connection is accepted); a
request on a connection opened before is closed unanswered, so the next needs a new one. Each
handshake they fail is logged as {"time", "mode", "session_id": null, "type": null,
"handshake": "failed"}, and no request follows.
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
contexts = {}


def scenario():
    if not args.scenario_file:
        return {"mode": "success"}
    try:
        with open(args.scenario_file) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {"mode": "success"}


def log(entry):
    if args.log:
        with log_lock, open(args.log, "a") as f:
            f.write(json.dumps(entry) + "\n")


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
        log({"time": time.time(), "path": self.path, "session_id": notification.get("SessionID"),
             "type": notification.get("Type"), "mode": mode, "body": raw.decode("utf-8", "replace")})
        if not self.path.endswith("/notificationmgmt/v11/charging-notifications"):
            return self.answer(404, {"StatusCode": {"Code": "300", "Description": "Partner not found"}, "message": "no such path"})
        session = notification.get("SessionID")
        if mode in ("tls_unknown_ca", "tls_close"):
            # A connection from before the switch: close it unanswered, so the client's next
            # attempt needs a new connection, and with it the handshake that fails.
            self.close_connection = True
            return
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
        if mode == "drip":
            body = json.dumps({"Result": True, "StatusCode": {"Code": "000", "Description": "Success"}, "SessionID": session}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json;charset=UTF-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.flush()
            try:
                for index in range(len(body)):
                    time.sleep(float(plan.get("interval", 1.0)))
                    self.wfile.write(body[index:index + 1])
                    self.wfile.flush()
            except OSError:
                pass  # the client gave up: what this mode is for
            self.close_connection = True
            return
        if mode == "oversized":
            return self.oversized(int(plan.get("size", 10 << 20)), bool(plan.get("chunked", False)))
        if mode == "reset":
            # SO_LINGER 0: close() sends RST instead of FIN.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return
        return self.answer(500, {"StatusCode": {"Code": "021", "Description": f"unknown fake mode {mode}"}})

    def oversized(self, size, chunked):
        """A body far larger than any acknowledgement, written until done or the client leaves."""
        block = b"x" * 65536
        self.send_response(200)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(size))
        self.end_headers()
        self.close_connection = True
        sent = 0
        deadline = time.monotonic() + 120  # bounded even if a client reads forever
        try:
            while (chunked or sent < size) and time.monotonic() < deadline:
                part = block if chunked else block[: min(len(block), size - sent)]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part) if chunked else part)
                sent += len(part)
        except OSError:
            pass  # the client stopped reading and closed: what this mode is for


class Server(ThreadingHTTPServer):
    """Wraps each accepted connection in TLS in the connection's own thread, choosing the
    certificate by the scenario then in force, so a slow or failing handshake holds up nobody."""

    daemon_threads = True

    def finish_request(self, request, client_address):
        mode = scenario().get("mode", "success")
        if mode == "tls_close":
            # Read the ClientHello, then close without a word of TLS.
            try:
                request.settimeout(5)
                request.recv(4096)
            except OSError:
                pass
            request.close()
            log({"time": time.time(), "mode": mode, "session_id": None, "type": None, "handshake": "failed"})
            return
        context = contexts["rogue" if mode == "tls_unknown_ca" else "server"]
        if context is None:
            print("tls_unknown_ca: rogue-server.pem is missing beside --cert (make-test-pki.sh makes it)", file=sys.stderr, flush=True)
            request.close()
            log({"time": time.time(), "mode": mode, "session_id": None, "type": None, "handshake": "failed"})
            return
        try:
            request.settimeout(30)
            connection = context.wrap_socket(request, server_side=True)
            connection.settimeout(None)
        except (OSError, ssl.SSLError):
            request.close()
            if mode == "tls_unknown_ca":
                log({"time": time.time(), "mode": mode, "session_id": None, "type": None, "handshake": "failed"})
            return
        try:
            super().finish_request(connection, client_address)
        finally:
            try:
                connection.close()
            except OSError:
                pass

    def shutdown_request(self, request):
        try:
            request.close()
        except OSError:
            pass


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
    def context(cert, key):
        made = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        made.minimum_version = ssl.TLSVersion.TLSv1_2
        made.load_cert_chain(cert, key)
        made.load_verify_locations(args.client_ca)
        made.verify_mode = ssl.CERT_REQUIRED
        return made

    contexts["server"] = context(args.cert, args.key)
    # A server certificate from a CA the ledger does not trust, beside the real one (tls_unknown_ca).
    rogue = os.path.join(os.path.dirname(os.path.abspath(args.cert)), "rogue-server")
    if os.path.exists(rogue + ".pem"):
        contexts["rogue"] = context(rogue + ".pem", rogue + ".key")
    else:
        contexts["rogue"] = None
    server = Server(("127.0.0.1", args.port), Handler)
    print(f"port {server.server_address[1]}", flush=True)
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write(str(server.server_address[1]))
        os.rename(args.port_file + ".tmp", args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
