#!/usr/bin/env python3
"""Fault injection for the ledger (issue #11 §3): real processes, real faults, bounded in time.

    faults.py --binary .build/release/error-ledger --work DIR [--only NAME ...] [--list]

Each scenario starts a PostgreSQL cluster of its own (as the `postgres` user when run as root,
on a port of its own), migrates it, runs the release `error-ledger serve` against it (projector
on, forwarding to the fake Hubject where the scenario needs it), drives it with HTTP clients
that behave as a CPO backend should (an Idempotency-Key per notification, the same body sent
again after a 503 or a timeout, Retry-After honoured), injects its fault, and then checks the
promises:

- every acknowledged notification (HTTP 200, Code 000) is stored exactly once, and one whose
  request failed is stored at most once; in the end every notification is acknowledged;
- no request takes longer than the bound (the configured timeouts plus a margin): during a
  fault the ledger answers 503 with Retry-After instead of hanging;
- the ledger recovers by itself once the fault is gone (the time to the first 000 is reported);
- the read models equal a rebuild from the store (`error-ledger projections rebuild`);
- the fake Hubject got every stored notification, and per session never out of order
  (a notification may arrive twice: at least once, never reordered).

One summary line per scenario goes to standard output:

    fault <name>: load <n> clients, acknowledged <n>, lost 0, duplicated 0, in-flight-failed <n>, recover <s> s; ...

and the exit status is 1 when any promise is broken (each broken one is named on standard error).
Scenarios: pg-restart, partition, hubject, wal-full, disk-full, kill (`--list` says what each
does). Standard library only. Everything it starts it stops, and what it creates (network
namespaces, a veth pair, tmpfs mounts) it removes, also from `DIR/cleanup.sh`, which
deploy/faults runs on exit as a backstop.
"""
import argparse
import ctypes
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OPERATOR = "DE*FLT"
INGEST_PATH = "/api/oicp/notificationmgmt/v11/charging-notifications"
EVENT_KIND = {"ChargingStarted": "Start", "ChargingErrorReported": "Error", "ChargingEnded": "End", "ChargingProgressed": "Progress"}

ARGS = None
IS_ROOT = os.geteuid() == 0


def log(message):
    print(f"[faults] {message}", file=sys.stderr, flush=True)


class ScenarioSkipped(Exception):
    """The machine cannot run the scenario (no root, a mount refused); said loudly, not failed."""


class Broken(Exception):
    """The scenario could not be carried out (a process did not start, a wait ran out)."""


# ---------------------------------------------------------------------------------------------
# Processes, clean-up, namespaces


class Cleanup:
    """What to undo, newest first; each step also written to DIR/cleanup.sh for the shell's trap."""

    def __init__(self, work):
        self.steps = []
        self.script = os.path.join(work, "cleanup.sh")

    def add(self, description, function, shell=None):
        self.steps.append((description, function))
        if shell:
            with open(self.script, "a") as f:
                f.write(shell + " >/dev/null 2>&1 || true\n")
        return len(self.steps) - 1

    def run(self, keep=0):
        while len(self.steps) > keep:
            description, function = self.steps.pop()
            try:
                function()
            except Exception as error:  # clean-up goes on whatever one step says
                log(f"clean-up: {description}: {error}")


CLEANUP = None


def spawn(command, log_path=None, env=None, netns=None, stdout=None):
    """Starts a process of ours; it is killed (by its pid) at clean-up if still running."""
    full = (["ip", "netns", "exec", netns] if netns else []) + command
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL
    process = subprocess.Popen(full, stdout=stdout if stdout is not None else out, stderr=out, env=env, cwd=ROOT,
                               start_new_session=True)
    CLEANUP.add(f"stop {command[0]} ({process.pid})", lambda: stop_process(process, 5), f"kill -9 {process.pid}")
    return process


def stop_process(process, grace):
    """SIGTERM, then SIGKILL after `grace` seconds. Returns the exit status (None if killed)."""
    if process.poll() is not None:
        return process.returncode
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)
        return None


def run(command, netns=None, as_owner=False, timeout=120, check=True, env=None, input=None):
    full = list(command)
    if as_owner and IS_ROOT:
        full = ["runuser", "-u", "postgres", "--"] + full
    if netns:
        full = ["ip", "netns", "exec", netns] + full
    result = subprocess.run(full, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT, input=input)
    if check and result.returncode != 0:
        raise Broken(f"{' '.join(command[:3])} … exited {result.returncode}: {(result.stderr or result.stdout).strip()[-800:]}")
    return result


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_bin():
    versions = sorted((d for d in os.listdir("/usr/lib/postgresql") if os.path.isdir(f"/usr/lib/postgresql/{d}/bin")), key=lambda v: [int(p) for p in v.split(".") if p.isdigit()])
    if not versions:
        raise Broken("no PostgreSQL server under /usr/lib/postgresql")
    return f"/usr/lib/postgresql/{versions[-1]}/bin"


CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def enter_netns(name):
    """Moves the calling thread (only it) into network namespace `name`: its sockets live there."""
    fd = os.open(f"/var/run/netns/{name}", os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {name}")
    finally:
        os.close(fd)


class Partitionable:
    """Two network namespaces of our own joined by a veth pair on a private /30: `app` (the
    ledger and its clients) and `db` (PostgreSQL). Nothing is added to the host's namespace.
    Neighbour entries are permanent, so with the link cut even a new connection's SYN vanishes
    silently, as beyond a dead switch, instead of failing fast on ARP."""

    def __init__(self, tag):
        self.app, self.db = f"lf{tag}a", f"lf{tag}d"
        self.app_if, self.db_if = f"lf{tag}a0", f"lf{tag}d0"
        octet = random.randint(16, 250)
        self.app_ip, self.db_ip = f"10.251.{octet}.1", f"10.251.{octet}.2"

    def create(self):
        refused = run(["ip", "netns", "add", self.app], check=False)
        if refused.returncode != 0:
            raise ScenarioSkipped(f"this machine refuses network namespaces (ip netns add: {refused.stderr.strip()})")
        for ns in (self.app, self.db):
            if ns != self.app:
                run(["ip", "netns", "add", ns])
            CLEANUP.add(f"delete netns {ns}", lambda ns=ns: run(["ip", "netns", "del", ns], check=False), f"ip netns del {ns}")
            run(["ip", "-n", ns, "link", "set", "lo", "up"])
        run(["ip", "link", "add", self.app_if, "netns", self.app, "type", "veth", "peer", "name", self.db_if, "netns", self.db])
        run(["ip", "-n", self.app, "addr", "add", f"{self.app_ip}/30", "dev", self.app_if])
        run(["ip", "-n", self.db, "addr", "add", f"{self.db_ip}/30", "dev", self.db_if])
        run(["ip", "-n", self.app, "link", "set", self.app_if, "up"])
        run(["ip", "-n", self.db, "link", "set", self.db_if, "up"])
        mac = lambda ns, dev: run(["ip", "-n", ns, "-br", "link", "show", dev]).stdout.split()[2]
        run(["ip", "-n", self.app, "neigh", "replace", self.db_ip, "lladdr", mac(self.db, self.db_if), "dev", self.app_if, "nud", "permanent"])
        run(["ip", "-n", self.db, "neigh", "replace", self.app_ip, "lladdr", mac(self.app, self.app_if), "dev", self.db_if, "nud", "permanent"])

    def cut(self):
        run(["ip", "-n", self.db, "link", "set", self.db_if, "down"])

    def restore(self):
        run(["ip", "-n", self.db, "link", "set", self.db_if, "up"])
        # Carrier loss may flush neighbour entries on the app side; put them back.
        mac = run(["ip", "-n", self.db, "-br", "link", "show", self.db_if]).stdout.split()[2]
        run(["ip", "-n", self.app, "neigh", "replace", self.db_ip, "lladdr", mac, "dev", self.app_if, "nud", "permanent"])


# ---------------------------------------------------------------------------------------------
# PostgreSQL


class Cluster:
    """A throwaway cluster: initdb, start/stop/restart as its owner, on `listen`:`port`."""

    def __init__(self, name, port, listen="127.0.0.1", netns=None, client_netns=None, data=None, wal_segsize=None, waldir=None, settings=(),
                 trust=None):
        # The server runs in `netns`; psql, pg_isready and the ledger reach it from `client_netns`.
        self.name, self.port, self.listen, self.netns, self.client_netns = name, port, listen, netns, client_netns
        self.data = data or os.path.join(ARGS.work, f"pg-{name}")
        self.log = os.path.join(ARGS.work, f"pg-{name}.log")
        self.wal_segsize, self.waldir = wal_segsize, waldir
        self.settings = list(settings)
        self.trust = trust  # another client address to trust (initdb trusts loopback only)
        self.bin = pg_bin()

    def url(self, database="ledger"):
        return f"postgres://postgres@{self.listen}:{self.port}/{database}"

    def pg_ctl(self, *arguments, timeout=90, check=True):
        return run([f"{self.bin}/pg_ctl", "-D", self.data, *arguments], netns=self.netns, as_owner=True, timeout=timeout, check=check)

    def create(self):
        os.makedirs(self.data, exist_ok=True)
        open(self.log, "a").close()
        if IS_ROOT:
            shutil.chown(self.data, "postgres", "postgres")
            shutil.chown(self.log, "postgres", "postgres")
        os.chmod(self.data, 0o700)
        initdb = [f"{self.bin}/initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8"]
        if self.wal_segsize:
            initdb.append(f"--wal-segsize={self.wal_segsize}")
        if self.waldir:
            initdb.append(f"--waldir={self.waldir}")
        run(initdb, as_owner=True)
        options = [f"listen_addresses={self.listen}", f"port={self.port}", f"unix_socket_directories={self.data}", "max_connections=200",
                   "shared_buffers=256MB", "fsync=on", "synchronous_commit=on"] + self.settings
        if self.trust:
            with open(os.path.join(self.data, "pg_hba.conf"), "a") as f:
                f.write(f"host all all {self.trust}/32 trust\n")
        # postgresql.auto.conf keeps them for every start, `pg_ctl restart` included.
        with open(os.path.join(self.data, "postgresql.auto.conf"), "a") as f:
            for option in options:
                key, value = option.split("=", 1)
                f.write(f"{key} = '{value}'\n")
        CLEANUP.add(f"stop cluster {self.name}", lambda: self.pg_ctl("-m", "immediate", "-w", "stop", check=False, timeout=30),
                    f"{'ip netns exec ' + self.netns + ' ' if self.netns else ''}{'runuser -u postgres -- ' if IS_ROOT else ''}"
                    f"{self.bin}/pg_ctl -D {self.data} -m immediate -w stop")

    def start(self):
        self.pg_ctl("-l", self.log, "-w", "-t", "60", "start")

    def running(self):
        return self.pg_ctl("status", check=False, timeout=20).returncode == 0

    def ready(self):
        return run([f"{self.bin}/pg_isready", "-q", "-h", self.listen, "-p", str(self.port), "-t", "1"], netns=self.client_netns, check=False,
                   timeout=10).returncode == 0

    def psql(self, sql, database="ledger", timeout=60):
        """Rows of `sql` as lists of strings (tab-separated, unaligned)."""
        result = run(["psql", "-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1", self.url(database), "-c", sql], netns=self.client_netns,
                     timeout=timeout)
        return [line.split("\t") for line in result.stdout.splitlines() if line != ""]

    def tail(self, lines=8):
        try:
            return "".join(open(self.log, errors="replace").readlines()[-lines:])
        except OSError:
            return ""


def prepare_database(cluster):
    """CREATE DATABASE ledger; migrate; a token with read and ingest. Returns the token."""
    cluster.psql("CREATE DATABASE ledger", database="postgres")
    run([ARGS.binary, "migrate", "--database-url", cluster.url(), "--migrations-dir", os.path.join(ROOT, "db")], netns=cluster_client_ns(cluster))
    token = run([ARGS.binary, "token", "create", "--name", "faults", "--scopes", "read,ingest"], netns=cluster_client_ns(cluster),
                env=cli_env(cluster)).stdout.strip()
    if not token.startswith("led_"):
        raise Broken(f"token create printed {token!r}")
    return token


def cluster_client_ns(cluster):
    """The namespace the ledger reaches `cluster` from (the app side when PostgreSQL is in one)."""
    return cluster.client_netns


def cli_env(cluster, **extra):
    env = dict(os.environ)
    env["LEDGER_DATABASE_URL"] = cluster.url()
    env.pop("LEDGER_HUBJECT_URL", None)
    env.update({k: str(v) for k, v in extra.items()})
    return env


# ---------------------------------------------------------------------------------------------
# The fake Hubject and the ledger


class FakeHubject:
    def __init__(self, name, netns=None):
        self.dir = os.path.join(ARGS.work, f"hubject-{name}")
        run(["bash", os.path.join(ROOT, "Tests/fakes/make-test-pki.sh"), self.dir])
        self.log = os.path.join(self.dir, "requests.jsonl")
        self.scenario_file = os.path.join(self.dir, "scenario.json")
        port_file = os.path.join(self.dir, "port")
        self.answer({"mode": "success"})
        self.process = spawn(["python3", os.path.join(ROOT, "Tests/fakes/fake_hubject.py"), "--port", "0", "--port-file", port_file,
                              "--cert", f"{self.dir}/server.pem", "--key", f"{self.dir}/server.key", "--client-ca", f"{self.dir}/ca.pem",
                              "--log", self.log, "--scenario-file", self.scenario_file], log_path=os.path.join(self.dir, "fake.log"), netns=netns)
        deadline = time.monotonic() + 20
        while not os.path.exists(port_file):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise Broken("the fake Hubject did not start")
            time.sleep(0.05)
        self.port = int(open(port_file).read())

    def answer(self, scenario):
        with open(self.scenario_file + ".tmp", "w") as f:
            json.dump(scenario, f)
        os.rename(self.scenario_file + ".tmp", self.scenario_file)

    def env(self):
        return {"LEDGER_HUBJECT_URL": f"https://localhost:{self.port}/api/oicp", "LEDGER_HUBJECT_CA_BUNDLE": f"{self.dir}/ca.pem",
                "LEDGER_HUBJECT_CLIENT_CERT": f"{self.dir}/client.pem", "LEDGER_HUBJECT_CLIENT_KEY": f"{self.dir}/client.key"}

    def requests(self):
        try:
            lines = open(self.log).read().splitlines()
        except OSError:
            return []
        return [json.loads(line) for line in lines if line.strip()]


class Serve:
    """`error-ledger serve` on a port of its own; (re)started and killed at will."""

    def __init__(self, name, cluster, netns=None, fake=None, port=None, **settings):
        self.name, self.cluster, self.netns = name, cluster, netns
        self.port = port or (free_port() if not netns else 8080)
        self.log = os.path.join(ARGS.work, f"serve-{name}.log")
        self.env = cli_env(cluster, **settings)
        if fake:
            self.env.update(fake.env())
        self.process = None
        self.starts = 0

    def start(self):
        self.process = spawn([ARGS.binary, "serve", "--address", f"127.0.0.1:{self.port}"], log_path=self.log, env=self.env, netns=self.netns)
        self.starts += 1
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise Broken(f"serve exited {self.process.returncode} at start: {self.tail()}")
            if self.healthy():
                return
            time.sleep(0.05)
        raise Broken(f"serve did not answer /healthz within 30 s: {self.tail()}")

    def healthy(self):
        result = run(["curl", "-sf", "-m", "1", f"http://127.0.0.1:{self.port}/healthz"], netns=self.netns, check=False, timeout=10)
        return result.returncode == 0

    def kill(self):
        self.process.kill()
        self.process.wait(10)

    def stop(self):
        """SIGTERM; it must exit 0 within its shutdown grace."""
        status = stop_process(self.process, 20)
        if status != 0:
            raise Broken(f"serve exited {status} on SIGTERM: {self.tail()}")

    def alive(self):
        return self.process is not None and self.process.poll() is None

    def rss_kb(self):
        try:
            for line in open(f"/proc/{self.process.pid}/status"):
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        except OSError:
            pass
        return 0

    def tail(self, lines=6):
        try:
            return "".join(open(self.log, errors="replace").readlines()[-lines:])
        except OSError:
            return ""


# ---------------------------------------------------------------------------------------------
# Load: HTTP clients that behave as a CPO backend should


class Note:
    """One notification: its identity, its body, and every attempt to get it acknowledged."""

    __slots__ = ("key", "session", "kind", "info", "body", "attempts", "acked_at")

    def __init__(self, session, kind, info, body):
        self.key = f"flt-{session}-{kind}-{info}"
        self.session, self.kind, self.info, self.body = session, kind, info, body
        self.attempts = []  # (started, ended, status or None, code or None, retry_after or None, error or None)
        self.acked_at = None

    @property
    def identity(self):
        return (self.session, self.kind, self.info)


def session_notes(session, evse, errors, prefix):
    start = {"Type": "Start", "SessionID": session, "EvseID": evse, "ChargingStart": "2026-11-20T10:00:00+01:00", "OperatorID": OPERATOR}
    notes = [Note(session, "Start", "", json.dumps(start))]
    for k in range(errors):
        info = f"{prefix}-e{k}"
        error = {"Type": "Error", "SessionID": session, "EvseID": evse, "ErrorType": "ConnectorError", "ErrorAdditionalInfo": info,
                 "OperatorID": OPERATOR}
        notes.append(Note(session, "Error", info, json.dumps(error)))
    end = dict(start, Type="End", ChargingEnd="2026-11-20T10:30:00+01:00")
    notes.append(Note(session, "End", "", json.dumps(end)))
    return notes


class Load:
    """`clients` threads, each sending sessions (Start, `errors` Errors, End) one notification at
    a time until `stop()`, plus a probe that sends an Error every 100 ms and retries at once (it
    measures recovery; the clients honour Retry-After). A notification is sent until it is
    acknowledged, with its Idempotency-Key and the same body, up to the hard deadline."""

    def __init__(self, port, token, clients, errors=2, pause=0.02, netns=None, probe=True, client_timeout=30.0, max_sessions=400):
        self.port, self.token, self.clients, self.errors, self.pause = port, token, clients, errors, pause
        self.netns, self.probe, self.client_timeout, self.max_sessions = netns, probe, client_timeout, max_sessions
        self.notes = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.hard_deadline = None
        self.threads = []
        self.unexpected = []
        self.events = []  # what the scenario did and when, for the report of a broken bound

    def mark(self, what):
        self.events.append(f"{what} at +{time.monotonic() - self.started_at:.1f} s")

    def start(self, hard_limit):
        """Starts the clients; nothing is sent after `hard_limit` seconds from now."""
        self.started_at = time.monotonic()
        self.hard_deadline = self.started_at + hard_limit
        for index in range(self.clients):
            self.threads.append(threading.Thread(target=self.client, args=(index,), daemon=True))
        if self.probe:
            self.threads.append(threading.Thread(target=self.prober, daemon=True))
        for thread in self.threads:
            thread.start()

    def stop(self, timeout=90, now=True):
        """No new sessions (unless `now` is false: then each client ends after `max_sessions`);
        waits (bounded) for the clients to finish the sessions they are in."""
        if now:
            self.stopping.set()
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(0.1, deadline - time.monotonic()))
        if any(thread.is_alive() for thread in self.threads):
            raise Broken("load clients still running after the hard deadline")

    def connection(self):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.client_timeout)

    def send(self, connection, note, probe=False):
        """One attempt; returns (connection to use next, acknowledged, pause before the next attempt)."""
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json", "Idempotency-Key": note.key}
        started = time.monotonic()
        status = code = retry_after = error = None
        try:
            if connection is None:
                connection = self.connection()
            connection.request("POST", INGEST_PATH, body=note.body.encode(), headers=headers)
            response = connection.getresponse()
            raw = response.read()
            status, retry_after = response.status, response.getheader("Retry-After")
            try:
                code = json.loads(raw).get("StatusCode", {}).get("Code")
            except ValueError:
                code = None
            if response.getheader("Connection", "").lower() == "close":
                connection.close()
                connection = None
        except socket.timeout:
            error = "client timeout"
        except (OSError, http.client.HTTPException) as failure:
            error = f"{type(failure).__name__}: {failure}"
        ended = time.monotonic()
        if error and connection is not None:
            connection.close()
            connection = None
        note.attempts.append((started, ended, status, code, retry_after, error))
        if status == 200 and code == "000":
            note.acked_at = ended
            return connection, True, 0
        if status is not None and status != 503:
            with self.lock:
                self.unexpected.append(f"{note.kind} {note.info or note.session}: HTTP {status} code {code}")
        if probe:
            return connection, False, 0.1
        if status == 503:
            try:
                wait = float(retry_after)
            except (TypeError, ValueError):
                wait = 1.0
            return connection, False, min(max(wait, 0.05), 1.0)
        return connection, False, 0.2

    def deliver(self, connection, note, probe=False):
        with self.lock:
            self.notes.append(note)
        while time.monotonic() < self.hard_deadline:
            connection, acked, wait = self.send(connection, note, probe)
            if acked:
                return connection
            time.sleep(wait)
        return connection

    def in_namespace(self):
        if self.netns:
            enter_netns(self.netns)

    def client(self, index):
        self.in_namespace()
        connection = None
        sessions = 0
        while not self.stopping.is_set() and sessions < self.max_sessions and time.monotonic() < self.hard_deadline:
            session = str(uuid.uuid4())
            for note in session_notes(session, f"{OPERATOR}*E{index}*1", self.errors, f"c{index}-s{sessions}"):
                connection = self.deliver(connection, note)
                time.sleep(self.pause)
            sessions += 1

    def prober(self):
        self.in_namespace()
        connection = None
        count = 0
        session = str(uuid.uuid4())
        while not self.stopping.is_set() and time.monotonic() < self.hard_deadline:
            if count % 100 == 0:
                session = str(uuid.uuid4())
            info = f"probe-{count}"
            body = json.dumps({"Type": "Error", "SessionID": session, "EvseID": f"{OPERATOR}*EP*1", "ErrorType": "CriticalError",
                               "ErrorAdditionalInfo": info, "OperatorID": OPERATOR})
            connection = self.deliver(connection, Note(session, "Error", info, body), probe=True)
            count += 1
            time.sleep(0.1)

    # Figures

    def acked_after(self, instant):
        """Seconds from `instant` to the first acknowledgement after it, or None."""
        with self.lock:
            times = [note.acked_at for note in self.notes if note.acked_at and note.acked_at > instant]
        return min(times) - instant if times else None

    def first_acked_after(self, instant):
        with self.lock:
            acked = [note for note in self.notes if note.acked_at and note.acked_at > instant]
        return min(acked, key=lambda note: note.acked_at) if acked else None

    def wait_for_ack_after(self, instant, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            seconds = self.acked_after(instant)
            if seconds is not None:
                return seconds
            time.sleep(0.02)
        return None

    def attempts(self):
        with self.lock:
            return [a for note in self.notes for a in note.attempts]


# ---------------------------------------------------------------------------------------------
# Checks


class Report:
    def __init__(self, name, clients):
        self.name, self.clients = name, clients
        self.problems = []
        self.notes = []
        self.figures = {}
        self.recover = []

    def problem(self, text):
        self.problems.append(text)
        log(f"{self.name}: BROKEN: {text}")

    def line(self):
        f = self.figures
        recover = f"{max(self.recover):.2f}" if self.recover else "n/a"
        if len(self.recover) > 1:
            ordered = sorted(self.recover)
            recover += f" (max of {len(ordered)}; median {ordered[len(ordered) // 2]:.2f})"
        text = (f"fault {self.name}: load {self.clients} clients, acknowledged {f.get('acknowledged', 0)}, lost {f.get('lost', 0)}, "
                f"duplicated {f.get('duplicated', 0)}, in-flight-failed {f.get('in_flight_failed', 0)}, recover {recover} s")
        extra = [f"{k.replace('_', ' ')} {v}" for k, v in f.items() if k not in ("acknowledged", "lost", "duplicated", "in_flight_failed")]
        if extra:
            text += "; " + ", ".join(extra)
        text += "; " + (f"BROKEN: {len(self.problems)} promise(s)" if self.problems else "ok")
        return text


def check_load(report, load, bound):
    """Acknowledgements, failed attempts and their durations, from the clients' side."""
    attempts = load.attempts()
    failed = [a for a in attempts if not (a[2] == 200 and a[3] == "000")]
    report.figures["in_flight_failed"] = len(failed)
    report.figures["503s"] = sum(1 for a in failed if a[2] == 503)
    report.figures["client_errors"] = sum(1 for a in failed if a[5])
    slowest_failed = max((a[1] - a[0] for a in failed), default=0.0)
    slowest = max((a[1] - a[0] for a in attempts), default=0.0)
    report.figures["slowest_failed_request"] = f"{slowest_failed:.2f} s (bound {bound:.0f} s)"
    over = [a for a in attempts if a[1] - a[0] > bound]
    if over:
        origin = load.started_at
        examples = "; ".join(
            f"sent at +{a[0] - origin:.1f} s, answered after {a[1] - a[0]:.1f} s: {a[5] or f'HTTP {a[2]} code {a[3]}'}" for a in sorted(over)[:4])
        report.problem(f"{len(over)} requests took longer than the {bound:.0f} s bound (longest {slowest:.1f} s), "
                       f"instead of a prompt 503 (load started at +0; {load.events}): {examples}")
    timeouts = sum(1 for a in failed if a[5] == "client timeout")
    if timeouts:
        report.problem(f"{timeouts} requests got no answer within the client's {load.client_timeout:.0f} s")
    no_retry_after = sum(1 for a in failed if a[2] == 503 and not a[4])
    if no_retry_after:
        report.problem(f"{no_retry_after} 503 answers without Retry-After")
    if load.unexpected:
        report.problem(f"{len(load.unexpected)} answers other than 200/000 or 503, e.g. {load.unexpected[:3]}")
    unacked = [note for note in load.notes if note.acked_at is None]
    if unacked:
        report.problem(f"{len(unacked)} notifications never acknowledged (e.g. {unacked[0].kind} {unacked[0].info or unacked[0].session})")
    report.figures["acknowledged"] = sum(1 for note in load.notes if note.acked_at is not None)


def diagnose(cluster, name, when):
    """Appends what PostgreSQL's backends are doing to DIR/<name>-diagnostics.txt (kept on failure)."""
    try:
        rows = cluster.psql("SELECT pid, application_name, state, backend_xid, round(extract(epoch FROM now() - xact_start)::numeric, 1), "
                            "round(extract(epoch FROM now() - state_change)::numeric, 1), wait_event_type, wait_event, left(query, 70) "
                            "FROM pg_stat_activity WHERE datname = 'ledger' AND pid <> pg_backend_pid() ORDER BY 1", timeout=20)
    except (Broken, subprocess.TimeoutExpired) as error:
        rows = [[f"pg_stat_activity not readable: {error}"]]
    with open(os.path.join(ARGS.work, f"{name}-diagnostics.txt"), "a") as f:
        f.write(f"# {when} (pid, application, state, xid, xact age s, state age s, wait type, wait, query)\n")
        for row in rows:
            f.write(" | ".join(row) + "\n")


def wait_downstream(cluster, fake, note, since, timeout):
    """Seconds from `since` until `note` is in the session read model, and until the fake Hubject
    got it (None for what did not happen within `timeout`)."""
    sql = (f"SELECT count(*) FROM projection_sessions.session_events WHERE session_id = '{note.session}' "
           f"AND notification_type = '{note.kind}' AND coalesce(error_additional_info, '') = '{note.info}'")
    projected = forwarded = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and (projected is None or forwarded is None):
        if projected is None and cluster.psql(sql)[0][0] != "0":
            projected = time.monotonic() - since
        if forwarded is None:
            for request in fake.requests():
                try:
                    body = json.loads(request.get("body") or "{}")
                except ValueError:
                    continue
                if (body.get("SessionID"), body.get("Type"), body.get("ErrorAdditionalInfo", "")) == note.identity:
                    forwarded = time.monotonic() - since
                    break
        time.sleep(0.1)
    return projected, forwarded


def stored_notifications(cluster):
    """Our stored notifications: (session, kind, info) → [stream_version, …]."""
    rows = cluster.psql(
        "SELECT data->>'session_id', event_type, coalesce(data->'notification'->>'ErrorAdditionalInfo', ''), stream_version "
        f"FROM ledger.events WHERE stream_id LIKE 'session-%' AND data->>'operator_id' = '{OPERATOR}' ORDER BY global_position", timeout=120)
    stored = {}
    for session, event_type, info, version in rows:
        stored.setdefault((session, EVENT_KIND.get(event_type, event_type), info), []).append(int(version))
    return stored


def check_stored(report, notes, cluster):
    """Every acknowledged notification stored exactly once, every other at most once, nothing else."""
    stored = stored_notifications(cluster)
    remaining = dict(stored)
    lost = duplicated = 0
    for note in notes:
        count = len(remaining.pop(note.identity, []))
        if note.acked_at is not None and count == 0:
            lost += 1
        if count > 1:
            duplicated += 1
    report.figures["lost"] = lost
    report.figures["duplicated"] = duplicated
    if lost:
        report.problem(f"{lost} acknowledged notifications are not stored")
    if duplicated:
        report.problem(f"{duplicated} notifications are stored more than once")
    if remaining:
        report.problem(f"{len(remaining)} stored notifications nobody sent, e.g. {list(remaining)[:2]}")
    return stored


def dump_models(cluster):
    models = {}
    for schema in ("projection_sessions", "projection_evse_errors"):
        for (table,) in cluster.psql(f"SELECT tablename FROM pg_tables WHERE schemaname = '{schema}' ORDER BY 1"):
            if table == "checkpoint":
                sql = f"SELECT projection, transaction_id, position, events_applied FROM {schema}.checkpoint ORDER BY 1"
            elif table.endswith(("error_hours", "error_days")):
                # A count the projector moved to abrupt_end stays as a row of 0; a rebuild writes
                # none. The sums are what must agree (ProjectionsTests compares them the same way).
                sql = f"SELECT t::text FROM {schema}.{table} t WHERE errors <> 0 ORDER BY 1"
            else:
                sql = f"SELECT t::text FROM {schema}.{table} t ORDER BY 1"
            models[f"{schema}.{table}"] = ["\t".join(row) for row in cluster.psql(sql, timeout=300)]
    return models


def wait_projections_caught_up(cluster, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = run([ARGS.binary, "projections", "status", "--format", "json"], netns=cluster_client_ns(cluster), env=cli_env(cluster),
                     check=False, timeout=60)
        if result.returncode == 0:
            lags = json.loads(result.stdout) if result.stdout.strip().startswith("[") else [json.loads(line) for line in result.stdout.splitlines()]
            if all(lag["pending_events"] == 0 for lag in lags):
                return True
        time.sleep(0.2)
    return False


def check_models(report, cluster):
    """The live read models (the projector's) equal a rebuild of the whole store."""
    live = dump_models(cluster)
    started = time.monotonic()
    result = run([ARGS.binary, "projections", "rebuild"], netns=cluster_client_ns(cluster), env=cli_env(cluster), check=False, timeout=300)
    if result.returncode != 0:
        report.problem(f"projections rebuild failed: {result.stderr.strip()[-400:]}")
        return
    rebuilt = dump_models(cluster)
    rows = sum(len(v) for v in live.values())
    report.figures["models"] = f"{rows} rows equal a rebuild" if live == rebuilt else f"{rows} rows DIFFER from a rebuild"
    report.figures["rebuild"] = f"{time.monotonic() - started:.1f} s"
    if live != rebuilt:
        for table in sorted(set(live) | set(rebuilt)):
            a, b = live.get(table, []), rebuilt.get(table, [])
            if a != b:
                only_live = sorted(set(a) - set(b))[:2]
                only_rebuilt = sorted(set(b) - set(a))[:2]
                report.problem(f"read model {table}: {len(a)} live rows vs {len(b)} rebuilt; only live {only_live}; only rebuilt {only_rebuilt}")


def wait_forwarded(cluster, timeout):
    """Until every stored notification of ours is taken in and delivered (bounded)."""
    deadline = time.monotonic() + timeout
    sql = ("SELECT (SELECT count(*) FROM ledger.events WHERE stream_id LIKE 'session-%' AND data->>'operator_id' = "
           f"'{OPERATOR}'), count(*) FILTER (WHERE d.state = 'delivered'), count(*) FILTER (WHERE d.state NOT IN ('delivered')) "
           f"FROM forwarding.deliveries d JOIN ledger.events e ON e.global_position = d.position WHERE e.data->>'operator_id' = '{OPERATOR}'")
    last = None
    while time.monotonic() < deadline:
        try:
            stored, delivered, other = (int(x) for x in cluster.psql(sql)[0])
            last = (stored, delivered, other)
            if delivered == stored and other == 0:
                return last
        except Broken:
            pass
        time.sleep(0.25)
    return last


def check_forwarded(report, cluster, fake, stored, timeout=120, in_flight_bound=None):
    """The fake Hubject got every stored notification; per session never out of store order."""
    started = time.monotonic()
    status = wait_forwarded(cluster, timeout)
    if status is None or status[1] != status[0] or status[2] != 0:
        report.problem(f"forwarding did not complete within {timeout} s: (stored, delivered, open) = {status}")
    else:
        report.figures["forward_drain"] = f"{time.monotonic() - started:.1f} s"
    version = {identity: versions[0] for identity, versions in stored.items()}
    received = {}
    sequence = {}
    for request in fake.requests():
        if not request.get("session_id") or request.get("mode") in ("tls_unknown_ca", "tls_close"):
            continue
        try:
            body = json.loads(request.get("body", "{}"))
        except ValueError:
            continue
        if body.get("OperatorID") != OPERATOR:
            continue
        identity = (body.get("SessionID"), body.get("Type"), body.get("ErrorAdditionalInfo", ""))
        if identity not in version:
            report.problem(f"Hubject got a notification that is not stored: {identity}")
            continue
        if request.get("mode") in ("success", "slow"):
            received[identity] = received.get(identity, 0) + 1
        sequence.setdefault(identity[0], []).append(version[identity])
    missing = [identity for identity in version if identity not in received]
    if missing:
        report.problem(f"{len(missing)} stored notifications never reached Hubject with success, e.g. {missing[:2]}")
    reordered = [session for session, versions in sequence.items() if any(b < a for a, b in zip(versions, versions[1:]))]
    if reordered:
        report.problem(f"{len(reordered)} sessions reached Hubject out of order, e.g. {reordered[0]}: {sequence[reordered[0]]}")
    resent = sum(len(v) for v in sequence.values()) - len(set(i for i in version if i[0] in sequence))
    report.figures["forwarded"] = f"{len(received)}/{len(version)} in order, {resent} sent again"
    if in_flight_bound is not None and resent > in_flight_bound:
        report.problem(f"{resent} notifications sent again, more than the {in_flight_bound} in flight at the kills")


# ---------------------------------------------------------------------------------------------
# Scenarios

# serve's deadlines in every scenario, and the longest a request may take. A request's calls that
# can stall are the token check (a pooled connection; a silent database fails it after the
# network timeout) and the commit (answered 503 at the commit timeout), and a failed token check
# is answered at once, so one timeout plus a margin bounds it. (A token check that first waits
# for a pooled connection stuck in a call, then opens one, could in principle take two network
# timeouts; no run has come near it.)
COMMIT_TIMEOUT = 5
NETWORK_TIMEOUT = 5
MARGIN = 3
BOUND = max(COMMIT_TIMEOUT, NETWORK_TIMEOUT) + MARGIN
# The projector's and the forwarder's own connections keep the default 20 s network timeout
# (serve passes LEDGER_DB_NETWORK_TIMEOUT_SECONDS to the request pool and commit lanes only), so
# after a cut they may need that long, plus their reconnect pause, to be active again.
RESUME_BOUND = 25
SERVE_TIMEOUTS = {"LEDGER_COMMIT_TIMEOUT_SECONDS": COMMIT_TIMEOUT, "LEDGER_DB_NETWORK_TIMEOUT_SECONDS": NETWORK_TIMEOUT,
                  "LEDGER_DB_STATEMENT_TIMEOUT_SECONDS": 5}


def settle(report, load, cluster, serve, fake=None, catch_up=60, in_flight_bound=None):
    """After the fault, every scenario's checks: the load's answers within bounds, every
    acknowledged notification stored once, forwarded in order (when a fake Hubject runs), and
    the read models caught up and equal to a rebuild."""
    check_load(report, load, BOUND)
    stored = check_stored(report, load.notes, cluster)
    if fake is not None:
        check_forwarded(report, cluster, fake, stored, in_flight_bound=in_flight_bound)
    if not wait_projections_caught_up(cluster, catch_up):
        report.problem(f"the projector did not catch up within {catch_up} s")
    serve.stop()
    check_models(report, cluster)


def scenario_pg_restart(report):
    """PostgreSQL restarted with `pg_ctl restart -m immediate` ten times under 16 ingesting clients,
    serve's projector and forwarder running; recovery timed from accepting connections to the first 000."""
    cluster = Cluster("restart", free_port())
    cluster.create()
    cluster.start()
    token = prepare_database(cluster)
    fake = FakeHubject("restart")
    serve = Serve("restart", cluster, fake=fake, LEDGER_FORWARD_PER_MINUTE=0, **SERVE_TIMEOUTS)
    serve.start()
    load = Load(serve.port, token, clients=16, pause=0.03)
    load.start(hard_limit=150)
    time.sleep(3)
    downtimes = []
    for number in range(10):
        stopped = time.monotonic()
        cluster.pg_ctl("-m", "immediate", "-W", "-l", cluster.log, "restart")
        deadline = time.monotonic() + 60
        while not cluster.ready():
            if time.monotonic() > deadline:
                raise Broken(f"PostgreSQL did not accept connections 60 s after restart {number + 1}: {cluster.tail()}")
            time.sleep(0.02)
        ready = time.monotonic()
        downtimes.append(ready - stopped)
        seconds = load.wait_for_ack_after(ready, 30)
        if seconds is None:
            report.problem(f"no 000 within 30 s after restart {number + 1} (PostgreSQL accepting connections)")
        else:
            report.recover.append(seconds)
        time.sleep(1.5 + random.random())
        if not serve.alive():
            raise Broken(f"serve died: {serve.tail()}")
    load.stop()
    report.notes = load.notes
    report.figures["restarts"] = f"10 (down {min(downtimes):.1f}–{max(downtimes):.1f} s)"
    settle(report, load, cluster, serve, fake)


def scenario_partition(report):
    """The link between the ledger and PostgreSQL cut for 30 s under load (network namespaces)."""
    if not IS_ROOT:
        raise ScenarioSkipped("needs root for network namespaces")
    net = Partitionable(f"{os.getpid() % 100000}")
    net.create()
    # PostgreSQL in the db namespace; psql, the CLI, serve and the clients on the app side.
    cluster = Cluster("partition", 5432, listen=net.db_ip, netns=net.db, client_netns=net.app, trust=net.app_ip)
    cluster.create()
    cluster.start()
    token = prepare_database(cluster)
    fake = FakeHubject("partition", netns=net.app)
    # A request pool smaller than the clients, as in production: when the token cache runs out
    # during the cut, most token checks wait for a pooled connection, none of which can be opened.
    serve = Serve("partition", cluster, netns=net.app, fake=fake, LEDGER_FORWARD_PER_MINUTE=0, LEDGER_DB_POOL_SIZE=4, **SERVE_TIMEOUTS)
    serve.start()
    load = Load(serve.port, token, clients=16, pause=0.03, netns=net.app)
    load.start(hard_limit=150)
    time.sleep(4)
    net.cut()
    cut = time.monotonic()
    load.mark("cut")
    log("partition: link cut for 30 s")
    time.sleep(30)
    # A commit answered in the instant of the cut may still arrive; after a second nothing can.
    acked_during = sum(1 for note in list(load.notes) if note.acked_at and cut + 1 < note.acked_at < time.monotonic())
    net.restore()
    restored = time.monotonic()
    load.mark("restored")
    diagnose(cluster, "partition", "right after the link came back")
    log("partition: link restored")
    seconds = load.wait_for_ack_after(restored, 60)
    if seconds is None:
        report.problem("no 000 within 60 s after the link came back")
    else:
        report.recover.append(seconds)
    if acked_during:
        report.problem(f"{acked_during} notifications acknowledged while PostgreSQL was unreachable")
    # The projector and the forwarder resume too: a notification acknowledged after the link came
    # back reaches the read model and Hubject. (Their replacements must not stand by behind a
    # backend of the old connection that the server has not noticed is gone.)
    first = load.first_acked_after(restored)
    if first is not None:
        projected, forwarded = wait_downstream(cluster, fake, first, restored, 60)
        report.figures["read_models_resume"] = f"{projected:.1f} s" if projected is not None else "never"
        report.figures["forwarding_resumes"] = f"{forwarded:.1f} s" if forwarded is not None else "never"
        for what, seconds in (("the read models", projected), ("forwarding", forwarded)):
            if seconds is None or seconds > RESUME_BOUND:
                report.problem(f"{what} resumed {'never' if seconds is None else f'{seconds:.1f} s'} after the link came back (bound {RESUME_BOUND} s)")
    time.sleep(6)
    load.stop()
    report.figures["cut"] = "30 s"
    settle(report, load, cluster, serve, fake)


def scenario_hubject(report):
    """Hubject misbehaving: an unknown CA, a handshake cut short, an answer that drips, an answer
    that never ends. Each is a recorded retryable failure; serve neither crashes nor grows."""
    cluster = Cluster("hubject", free_port())
    cluster.create()
    cluster.start()
    token = prepare_database(cluster)
    fake = FakeHubject("hubject")
    serve = Serve("hubject", cluster, fake=fake, LEDGER_FORWARD_PER_MINUTE=0, LEDGER_FORWARD_TIMEOUT_SECONDS=3,
                  LEDGER_FORWARD_RETRY_CAP_SECONDS=1, LEDGER_FORWARD_MAX_IN_FLIGHT=8, **SERVE_TIMEOUTS)
    serve.start()
    modes = [({"mode": "tls_unknown_ca"}, ("tls",)), ({"mode": "tls_close"}, ("tls", "connection")), ({"mode": "drip", "interval": 1.0}, ("timeout",)),
             ({"mode": "oversized", "chunked": True}, ("oversized",)), ({"mode": "oversized", "size": 50 << 20}, ("oversized",))]
    notes = []
    rss = [serve.rss_kb()]
    reasons = {}
    for scenario, expected in modes:
        fake.answer(scenario)
        load = Load(serve.port, token, clients=4, pause=0.0, probe=False, max_sessions=2)
        load.start(hard_limit=60)
        load.stop(now=False)
        notes += load.notes
        check_load(report, load, BOUND)
        # The attempts fail, are recorded with their reason, and wait for their retry.
        deadline = time.monotonic() + 30
        found = []
        while time.monotonic() < deadline:
            found = cluster.psql("SELECT DISTINCT split_part(reason, ':', 1) FROM forwarding.deliveries WHERE state = 'retrying'")
            if found:
                break
            time.sleep(0.2)
        time.sleep(2)  # a few more attempts in this mode
        rss.append(serve.rss_kb())
        got = {row[0] for row in found}
        reasons[scenario["mode"] + (" chunked" if scenario.get("chunked") else "")] = ",".join(sorted(got)) or "none"
        if not got or not got <= set(expected):
            report.problem(f"{scenario}: failed attempts recorded as {sorted(got)}, expected {expected}")
        fake.answer({"mode": "success"})
        switched = time.monotonic()
        status = wait_forwarded(cluster, 60)
        if not status or status[2] != 0:
            report.problem(f"{scenario}: not all delivered within 60 s once Hubject behaved: {status}")
        else:
            report.recover.append(time.monotonic() - switched)
        if not serve.alive():
            raise Broken(f"serve died in {scenario}: {serve.tail()}")
    report.notes = notes
    report.figures["acknowledged"] = sum(1 for note in notes if note.acked_at)
    attempts = cluster.psql("SELECT count(*) FROM ledger.events WHERE event_type = 'ForwardingAttemptFailed'")[0][0]
    # Here in-flight-failed counts forwarding attempts that failed (each retried), not ingest.
    for key in ("503s", "client_errors", "slowest_failed_request"):
        report.figures.pop(key, None)
    report.figures["in_flight_failed"] = int(attempts)
    report.figures["reasons"] = " ".join(f"{mode}={reason}" for mode, reason in reasons.items())
    report.figures["serve_rss"] = f"{min(rss) // 1024}–{max(rss) // 1024} MB"
    if max(rss) - rss[0] > 100 * 1024:
        report.problem(f"serve's memory grew by {(max(rss) - rss[0]) // 1024} MB under oversized answers")
    stored = check_stored(report, notes, cluster)
    check_forwarded(report, cluster, fake, stored)
    serve.stop()


def fill_volume(report, name, wal_only):
    """PostgreSQL's WAL (`wal_only`) or its whole data directory on a small tmpfs, filled up
    under ingest for 20 s, then freed."""
    if not IS_ROOT:
        raise ScenarioSkipped("needs root to mount a tmpfs")
    mount = os.path.join(ARGS.work, f"{name}-fs")
    os.makedirs(mount, exist_ok=True)
    # The whole data directory needs room for the database and a few seconds of ingest before the
    # filler fills the rest: at 64 MB it sometimes filled up by itself first, and then there was
    # nothing to free.
    size = "64m" if wal_only else "128m"
    result = run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", mount], check=False)
    if result.returncode != 0:
        raise ScenarioSkipped(f"mount -t tmpfs refused ({result.stderr.strip()}); the full-volume scenario needs it")
    CLEANUP.add(f"unmount {mount}", lambda: run(["umount", "-l", mount], check=False), f"umount -l {mount}")
    if IS_ROOT:
        shutil.chown(mount, "postgres", "postgres")
    # Made now, empty: creating it later, on a full volume, could itself fail.
    open(os.path.join(mount, "filler"), "wb").close()
    # 1 MB WAL segments, so that a new one is needed every few seconds of ingest; no checkpoint
    # comes to recycle old ones during the scenario.
    settings = ["max_wal_size=48MB", "min_wal_size=2MB", "shared_buffers=64MB", "checkpoint_timeout=30min"]
    if wal_only:
        cluster = Cluster(name, free_port(), waldir=os.path.join(mount, "pg_wal"), wal_segsize=1, settings=settings)
    else:
        cluster = Cluster(name, free_port(), data=os.path.join(mount, "data"), wal_segsize=1, settings=settings)
    cluster.create()
    cluster.start()
    token = prepare_database(cluster)
    serve = Serve(name, cluster, **SERVE_TIMEOUTS)
    serve.start()
    load = Load(serve.port, token, clients=8, pause=0.02)
    load.start(hard_limit=150)
    time.sleep(3)
    filler = os.path.join(mount, "filler")
    written = 0
    block = b"\0" * (1 << 16)
    # Opening the filler has failed with ENOSPC on a volume that was not full (seen twice, in a
    # CI rehearsal and by hand, with PostgreSQL reporting no shortage): try again for a while.
    opened_by = time.monotonic() + 10
    while True:
        try:
            f = open(filler, "ab")
        except OSError:
            if time.monotonic() > opened_by:
                raise
            time.sleep(0.2)
            continue
        try:
            while True:
                f.write(block)
                f.flush()
                written += len(block)
        except OSError:
            pass
        try:
            f.close()
        except OSError:
            pass
        break
    full = time.monotonic()
    load.mark("volume full")
    log(f"{name}: volume filled ({written >> 20} MB of filler)")
    deadline = full + 20
    crashed = False
    while time.monotonic() < deadline:
        if not cluster.running():
            crashed = True
        time.sleep(0.5)
    during = [a for note in list(load.notes) for a in note.attempts if full + 1 < a[0] and a[1] < deadline]
    answered = sum(1 for a in during if a[2] == 200)
    refused = sum(1 for a in during if a[2] == 503)
    os.unlink(filler)
    freed = time.monotonic()
    load.mark("space freed")
    log(f"{name}: filler removed; while full, {refused} answers 503 and {answered} 000")
    restarted = False
    if not cluster.running():
        crashed = True
        log(f"{name}: PostgreSQL is down after the full volume; restarting it as an operator would")
        cluster.start()
        restarted = True
    seconds = load.wait_for_ack_after(freed, 60)
    if seconds is None:
        report.problem(f"no 000 within 60 s after space was freed: {serve.tail(3)} {cluster.tail(3)}")
    else:
        report.recover.append(seconds)
    time.sleep(4)
    load.stop()
    report.notes = load.notes
    panics = sum(1 for line in open(cluster.log, errors="replace") if "PANIC" in line)
    enospc = sum(1 for line in open(cluster.log, errors="replace") if "No space left on device" in line)
    report.figures["full_for"] = f"20 s, {refused} answered 503, {answered} answered 000 (each checked stored below)"
    report.figures["postgresql"] = ("crashed, restarted by the scenario (operator)" if restarted else
                                    "crashed and came back by itself" if crashed else "stayed up") + \
        f", {panics} PANIC and {enospc} 'No space left on device' lines in its log"
    settle(report, load, cluster, serve)


def scenario_wal_full(report):
    """pg_wal on a 64 MB tmpfs of its own, filled up under ingest (PostgreSQL PANICs when it
    cannot write WAL)."""
    fill_volume(report, "wal-full", wal_only=True)


def scenario_disk_full(report):
    """The whole data directory on a 128 MB tmpfs, filled up under ingest (tables cannot grow)."""
    fill_volume(report, "disk-full", wal_only=False)


def scenario_kill(report):
    """SIGKILL of `projections rebuild` mid-way, then of serve (three times) while its projector
    folds a 60,000-event backlog and its forwarder delivers, under ingest."""
    cluster = Cluster("kill", free_port())
    cluster.create()
    cluster.start()
    token = prepare_database(cluster)
    env = cli_env(cluster)
    archive = os.path.join(ARGS.work, "kill-archive.ndjson")
    with open(archive, "w") as out:
        subprocess.run([ARGS.binary + "-bench", "generate", "--count", "60000"], stdout=out, check=True, env=env, cwd=ROOT, timeout=120)
    run([ARGS.binary, "import", "--quiet", archive], env=env, timeout=300)
    # Forward only what comes next (the archive would take minutes to forward).
    run([ARGS.binary, "deliveries", "skip-to-head"], env=env)

    # 1. A rebuild killed mid-way: the live models are untouched and the next rebuild works.
    before = dump_models(cluster)
    rebuild = spawn([ARGS.binary, "projections", "rebuild"], log_path=os.path.join(ARGS.work, "kill-rebuild.log"), env=env)
    # Killed once the replay is writing rows into the build tables: it takes about a second on
    # this store, less than the interval of its progress lines (waiting for one let a faster
    # rebuild finish first).
    replaying = ("SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                 "WHERE n.nspname = 'projection_evse_errors_build' AND c.relname = 'evse_errors' AND c.relpages + "
                 "pg_relation_size(c.oid) > 0)")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and rebuild.poll() is None:
        if cluster.psql(replaying) == [["t"]]:
            break
        time.sleep(0.02)
    if rebuild.poll() is not None:
        report.problem("the rebuild finished before it could be killed mid-way (store too small)")
    rebuild.kill()
    rebuild.wait(10)
    left = cluster.psql("SELECT string_agg(nspname, ',' ORDER BY nspname) FROM pg_namespace WHERE nspname LIKE 'projection_%_build'")
    left = left[0][0] if left and left[0] else ""
    if dump_models(cluster) != before:
        report.problem("a killed rebuild changed the live read models")
    report.figures["rebuild_killed"] = f"mid-replay, left {left or 'nothing'} behind"

    # 2. serve killed three times while projecting the backlog and forwarding, under ingest.
    fake = FakeHubject("kill")
    fake.answer({"mode": "slow", "delay": 0.02})  # so that deliveries are in flight at each kill
    in_flight = 8
    serve = Serve("kill", cluster, fake=fake, LEDGER_FORWARD_PER_MINUTE=0, LEDGER_FORWARD_MAX_IN_FLIGHT=in_flight, **SERVE_TIMEOUTS)
    serve.start()
    load = Load(serve.port, token, clients=8, pause=0.02, probe=False, client_timeout=30)
    load.start(hard_limit=150)
    kills = []
    for number in range(3):
        time.sleep(1.5 + random.random())
        pending = cluster.psql("SELECT count(*) FROM ledger.events e, projection_evse_errors.checkpoint c WHERE e.global_position > c.position")
        serve.kill()
        kills.append(int(pending[0][0]))
        time.sleep(0.5)
        restarting = time.monotonic()
        serve.start()
        seconds = load.wait_for_ack_after(restarting, 30)
        if seconds is None:
            report.problem(f"no 000 within 30 s after serve was restarted ({number + 1})")
        else:
            report.recover.append(seconds)
    time.sleep(2)
    load.stop()
    report.notes = load.notes
    report.figures["serve_killed"] = f"3 times, projector {', '.join(str(k) for k in kills)} events behind at the kills"
    settle(report, load, cluster, serve, fake, catch_up=120, in_flight_bound=3 * in_flight)
    left = cluster.psql("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'projection_%_build'")[0][0]
    if left != "0":
        report.problem("the rebuild after the killed one left its build schemas behind")
    if not any(k > 0 for k in kills):
        report.problem("no kill hit the projector with a backlog")


class Segment:
    """Hosts as network namespaces of our own on one Ethernet segment: a bridge in the first
    host's namespace, and a veth pair from it to each other host. Nothing touches the host's
    own namespace."""

    def __init__(self, tag, hosts):
        self.hosts = hosts
        self.ns = {host: f"ha{tag}{host}" for host in hosts}
        octet = random.randint(16, 250)
        self.ip = {host: f"10.252.{octet}.{index + 1}" for index, host in enumerate(hosts)}
        self.subnet = f"10.252.{octet}.0/24"
        self.tag = tag

    def create(self):
        for host in self.hosts:
            ns = self.ns[host]
            refused = run(["ip", "netns", "add", ns], check=False)
            if refused.returncode != 0:
                raise ScenarioSkipped(f"this machine refuses network namespaces (ip netns add: {refused.stderr.strip()})")
            CLEANUP.add(f"delete netns {ns}", lambda ns=ns: run(["ip", "netns", "del", ns], check=False), f"ip netns del {ns}")
            run(["ip", "-n", ns, "link", "set", "lo", "up"])
        hub = self.ns[self.hosts[0]]
        run(["ip", "-n", hub, "link", "add", "br0", "type", "bridge"])
        run(["ip", "-n", hub, "link", "set", "br0", "up"])
        run(["ip", "-n", hub, "addr", "add", f"{self.ip[self.hosts[0]]}/24", "dev", "br0"])
        for host in self.hosts[1:]:
            port = f"v{self.tag}{host}"
            run(["ip", "link", "add", port, "netns", hub, "type", "veth", "peer", "name", "eth0", "netns", self.ns[host]])
            run(["ip", "-n", hub, "link", "set", port, "master", "br0"])
            run(["ip", "-n", hub, "link", "set", port, "up"])
            run(["ip", "-n", self.ns[host], "addr", "add", f"{self.ip[host]}/24", "dev", "eth0"])
            run(["ip", "-n", self.ns[host], "link", "set", "eth0", "up"])


class DatabasePair:
    """The ledger's view of a primary and a standby: one URL naming both hosts, which connects
    to whichever accepts writes (libpq's target_session_attrs=read-write)."""

    def __init__(self, primary, standby, client_netns):
        self.primary, self.standby, self.client_netns = primary, standby, client_netns

    def url(self, database="ledger"):
        return (f"postgres://postgres@{self.primary.listen}:{self.primary.port},{self.standby.listen}:{self.standby.port}/{database}"
                "?target_session_attrs=read-write&connect_timeout=3")

    def psql(self, sql, database="ledger", timeout=60):
        result = run(["psql", "-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1", self.url(database), "-c", sql], netns=self.client_netns,
                     timeout=timeout)
        return [line.split("\t") for line in result.stdout.splitlines() if line != ""]


def active_roles(serve):
    """Which of the projector and the forwarder `serve` runs now, from its /metrics."""
    result = run(["curl", "-sf", "-m", "2", f"http://127.0.0.1:{serve.port}/metrics"], netns=serve.netns, check=False, timeout=10)
    lines = result.stdout.splitlines() if result.returncode == 0 else []
    return {"projector": "ledger_projector_active 1" in lines, "forwarder": "ledger_forwarding_active 1" in lines}


def scenario_failover(report):
    """A PostgreSQL primary with a synchronous streaming standby (pg_basebackup) and two serve
    instances, each host a network namespace: the primary stopped hard and the standby promoted
    under HTTP ingest, then the instance running the projector and the forwarder killed."""
    if not IS_ROOT:
        raise ScenarioSkipped("needs root for network namespaces")
    net = Segment(f"{os.getpid() % 10000}", ["app", "pg1", "pg2"])
    net.create()
    app = net.ns["app"]
    hba = [f"host all all {net.subnet} trust", f"host replication all {net.subnet} trust"]
    # Synchronous replication: a commit (and so an acknowledgement) waits until the standby has
    # the WAL, so nothing acknowledged is lost when the primary goes.
    primary = Cluster("ha-primary", 5432, listen=net.ip["pg1"], netns=net.ns["pg1"], client_netns=app, settings=["wal_keep_size=256MB"])
    primary.create()
    with open(os.path.join(primary.data, "pg_hba.conf"), "a") as f:
        f.write("\n".join(hba) + "\n")
    primary.start()
    token = prepare_database(primary)

    standby = Cluster("ha-standby", 5432, listen=net.ip["pg2"], netns=net.ns["pg2"], client_netns=app)
    os.makedirs(standby.data, exist_ok=True)
    open(standby.log, "a").close()
    shutil.chown(standby.data, "postgres", "postgres")
    shutil.chown(standby.log, "postgres", "postgres")
    os.chmod(standby.data, 0o700)
    run([f"{standby.bin}/pg_basebackup", "-h", net.ip["pg1"], "-p", "5432", "-U", "postgres", "-D", standby.data, "-X", "stream", "-R",
         "-c", "fast"], netns=net.ns["pg2"], as_owner=True, timeout=120)
    for name in os.listdir(standby.data):
        if name.startswith(".s.PGSQL."):
            # The primary's socket lock (its socket directory is its data directory), copied along.
            os.remove(os.path.join(standby.data, name))
    with open(os.path.join(standby.data, "postgresql.auto.conf"), "a") as f:
        # The copy is the primary's: its own address, socket directory and name to the primary.
        # Once promoted it has no standby of its own: without clearing this, every commit would
        # wait for one that never comes.
        f.write(f"listen_addresses = '{net.ip['pg2']}'\nunix_socket_directories = '{standby.data}'\n"
                f"primary_conninfo = 'host={net.ip['pg1']} port=5432 user=postgres application_name=standby1'\n"
                "synchronous_standby_names = ''\n")
    CLEANUP.add("stop cluster ha-standby", lambda: standby.pg_ctl("-m", "immediate", "-w", "stop", check=False, timeout=30),
                f"ip netns exec {net.ns['pg2']} runuser -u postgres -- {standby.bin}/pg_ctl -D {standby.data} -m immediate -w stop")
    standby.start()
    # Synchronous from now on (set once the standby streams: before, every commit would wait).
    primary.psql("ALTER SYSTEM SET synchronous_standby_names = 'standby1'", database="postgres")
    primary.psql("SELECT pg_reload_conf()", database="postgres")
    deadline = time.monotonic() + 30
    while primary.psql("SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby1'", database="postgres") != [["sync"]]:
        if time.monotonic() > deadline:
            raise Broken("the standby did not become a synchronous standby within 30 s")
        time.sleep(0.2)

    pair = DatabasePair(primary, standby, app)
    fake = FakeHubject("failover", netns=app)
    settings = dict(SERVE_TIMEOUTS, LEDGER_FORWARD_PER_MINUTE=0, LEDGER_FORWARD_MAX_IN_FLIGHT=4)
    instances = [Serve("ha-a", pair, netns=app, fake=fake, port=8080, **settings), Serve("ha-b", pair, netns=app, fake=fake, port=8081, **settings)]
    for serve in instances:
        serve.start()
    loads = [Load(instances[0].port, token, clients=6, pause=0.03, netns=app),
             Load(instances[1].port, token, clients=6, pause=0.03, netns=app, probe=False)]
    for load in loads:
        load.start(hard_limit=150)
    time.sleep(5)

    # 1. The primary stops hard; the standby is promoted (as an operator or a failover manager would).
    primary.pg_ctl("-m", "immediate", "-w", "stop", timeout=30)
    stopped = time.monotonic()
    loads[0].mark("primary stopped")
    log("failover: primary stopped hard; promoting the standby")
    standby.pg_ctl("promote", "-w", "-t", "30", timeout=60)
    promoted = time.monotonic()
    loads[0].mark("standby promoted")
    seconds = loads[0].wait_for_ack_after(promoted, 60)
    if seconds is None:
        report.problem("no 000 within 60 s after the standby was promoted")
    else:
        report.recover.append(seconds)
        report.figures["failover"] = (f"promote took {promoted - stopped:.1f} s, first 000 {seconds:.2f} s after it "
                                      f"({promoted - stopped + seconds:.1f} s from the primary's loss)")
    time.sleep(5)

    # 2. The instance running the projector and the forwarder is killed; the other takes both over.
    deadline = time.monotonic() + 30
    roles = [active_roles(serve) for serve in instances]
    while not any(r["projector"] for r in roles) or not any(r["forwarder"] for r in roles):
        if time.monotonic() > deadline:
            raise Broken(f"after the failover, no instance runs the projector and the forwarder: {roles}")
        time.sleep(0.5)
        roles = [active_roles(serve) for serve in instances]
    victim = next(i for i, r in enumerate(roles) if r["forwarder"])
    survivor = 1 - victim
    # Its clients finish their sessions first: a client of a dead instance would only time out.
    loads[victim].stop()
    instances[victim].kill()
    killed = time.monotonic()
    loads[survivor].mark(f"{instances[victim].name} killed")
    log(f"failover: {instances[victim].name} (forwarder{', projector' if roles[victim]['projector'] else ''}) killed")
    took = {}
    while time.monotonic() < killed + 60 and len(took) < 2:
        now_roles = active_roles(instances[survivor])
        for role in ("projector", "forwarder"):
            if now_roles[role] and role not in took:
                took[role] = time.monotonic() - killed
        time.sleep(0.1)
    for role in ("projector", "forwarder"):
        if role not in took:
            report.problem(f"{instances[survivor].name} did not take over the {role} within 60 s")
    report.figures["takeover"] = ", ".join(f"{role} {took[role]:.1f} s" for role in sorted(took)) + f" (bound {TAKEOVER_BOUND} s)"
    if any(seconds > TAKEOVER_BOUND for seconds in took.values()):
        report.problem(f"takeover slower than {TAKEOVER_BOUND} s: {took}")
    time.sleep(6)
    loads[survivor].stop()

    for load in loads:
        check_load(report, load, BOUND)
    notes = loads[0].notes + loads[1].notes
    report.figures["acknowledged"] = sum(1 for note in notes if note.acked_at is not None)
    stored = check_stored(report, notes, pair)
    check_forwarded(report, pair, fake, stored, in_flight_bound=2 * settings["LEDGER_FORWARD_MAX_IN_FLIGHT"])
    if not wait_projections_caught_up(pair, 60):
        report.problem("the projector did not catch up within 60 s")
    instances[survivor].stop()
    check_models(report, pair)


# A standby stands by: it retries the locks every second (standbyRetry); the killed instance's
# locks go when PostgreSQL notices its connections are gone, which a kill makes immediate (RST).
TAKEOVER_BOUND = 10


SCENARIOS = {
    "pg-restart": scenario_pg_restart,
    "partition": scenario_partition,
    "hubject": scenario_hubject,
    "wal-full": scenario_wal_full,
    "disk-full": scenario_disk_full,
    "kill": scenario_kill,
    "failover": scenario_failover,
}
CLIENTS = {"pg-restart": "16 (+1 probe)", "partition": "16 (+1 probe)", "hubject": "4", "wal-full": "8 (+1 probe)", "disk-full": "8 (+1 probe)", "kill": "8", "failover": "12 (+1 probe) on two instances"}


def main():
    global ARGS, CLEANUP
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--binary", required=True, help="the error-ledger executable (release)")
    parser.add_argument("--work", required=True, help="a directory for clusters, logs and the clean-up script")
    parser.add_argument("--only", action="append", choices=sorted(SCENARIOS), help="run only these scenarios")
    parser.add_argument("--list", action="store_true")
    ARGS = parser.parse_args()
    if ARGS.list:
        for name, function in SCENARIOS.items():
            print(f"{name}: {' '.join(function.__doc__.split())}")
        return 0
    ARGS.binary = os.path.abspath(ARGS.binary)
    os.makedirs(ARGS.work, exist_ok=True)
    os.chmod(ARGS.work, 0o755)
    CLEANUP = Cleanup(ARGS.work)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    random.seed(os.getpid())
    started = time.monotonic()
    failed = []
    try:
        for name in ARGS.only or list(SCENARIOS):
            report = Report(name, CLIENTS[name])
            began = time.monotonic()
            mark = len(CLEANUP.steps)
            log(f"{name}: {' '.join(SCENARIOS[name].__doc__.split())}")
            try:
                SCENARIOS[name](report)
            except ScenarioSkipped as why:
                print(f"fault {name}: SKIPPED: {why}", flush=True)
                continue
            except Broken as why:
                report.problem(f"could not be carried out: {why}")
            finally:
                CLEANUP.run(keep=mark)
            report.figures["took"] = f"{time.monotonic() - began:.0f} s"
            print(report.line(), flush=True)
            if report.problems:
                failed.append(name)
    finally:
        CLEANUP.run()
    log(f"total {time.monotonic() - started:.0f} s")
    if failed:
        log(f"promises broken in: {', '.join(failed)} (details above; logs in {ARGS.work})")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
