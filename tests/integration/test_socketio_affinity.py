"""Socket.IO through ringway: the proof that pools[].affinity_cookie keeps sessions together.

A Socket.IO client starts with HTTP long-polling (a handshake GET, then POSTs and GETs that carry
the session id the backend made up) and then upgrades to a WebSocket with that id. Every one of
those requests must reach the backend that holds the session, or the backend answers 400 "Session
ID unknown". Here engine.io's own per-request `t` query parameter is the hash key, so the hash
sends each request somewhere else: without the cookie most sessions break (the negative control),
with it none may.

Three real Socket.IO 4 servers (node, tests/integration/socketio/server.js) sit behind ringway; 100
real socket.io-client 4 clients (client.js) with the default transports each connect, wait for the
upgrade to WebSocket and exchange 5 events with acks. The npm packages (package-lock.json) are
installed once per build directory into RINGWAY_NODE_DIR with `npm ci`."""

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
import unittest

import harness as h

NODE = shutil.which("node") or "/usr/bin/node"
NPM = shutil.which("npm") or "/usr/bin/npm"
SCRIPTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "socketio")
CLIENTS = 100
EMITS = 5


def node_dir():
    """Where the npm packages live: RINGWAY_NODE_DIR (set by CMake), else beside the build's
    ringway binary (BUILD/proxy/ringway -> BUILD/socketio-node)."""
    explicit = os.environ.get("RINGWAY_NODE_DIR")
    if explicit:
        return explicit
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(h.RINGWAY_BIN))), "socketio-node")


def install_node_packages():
    """`npm ci` from the committed lock, once: a stamp holds the lock's hash, so a changed lock
    installs again. A file lock keeps two test runs from installing into one directory at once."""
    target = node_dir()
    os.makedirs(target, exist_ok=True)
    with open(os.path.join(SCRIPTS, "package-lock.json"), "rb") as f:
        lock_hash = hashlib.sha256(f.read()).hexdigest()
    stamp = os.path.join(target, ".installed")
    with open(os.path.join(target, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with contextlib.suppress(OSError), open(stamp) as f:
            if f.read().strip() == lock_hash:
                return os.path.join(target, "node_modules")
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(os.path.join(SCRIPTS, name), os.path.join(target, name))
        done = subprocess.run([NPM, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=target,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=240)
        if done.returncode != 0:
            raise AssertionError(f"npm ci failed in {target}:\n{done.stdout.decode(errors='replace')}")
        with open(stamp, "w") as f:
            f.write(lock_hash)
    return os.path.join(target, "node_modules")


class SocketIoServer:
    def __init__(self, name, proc, out_path):
        self.name = name
        self.proc = proc
        self.out_path = out_path
        self.port = 0

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def output(self):
        with contextlib.suppress(OSError), open(self.out_path, "rb") as f:
            return f.read().decode("utf-8", "replace")
        return ""

    def session_unknown(self):
        """How many requests this server refused for a session it does not hold."""
        return self.output().count("Session ID unknown")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=10)


@unittest.skipUnless(os.path.exists(NODE) and os.path.exists(NPM), "node and npm are needed (tools/deps installs them)")
class SocketIoAffinity(h.IntegrationTestCase):
    node_modules = None

    @classmethod
    def setUpClass(cls):
        cls.node_modules = install_node_packages()

    def setUp(self):
        super().setUp()
        self.env = dict(os.environ, NODE_PATH=self.node_modules)
        self.servers = []
        self.addCleanup(self._stop_servers)
        for i in range(3):
            self.servers.append(self.start_server(f"sio{i + 1}"))

    def _stop_servers(self):
        failed = self._failed()
        for s in self.servers:
            s.kill()
            if failed:
                print(f"----- {s.name} (port {s.port}) -----\n{s.output()[-3000:]}")

    def start_server(self, name):
        out_path = os.path.join(self.tmpdir, f"{name}.log")
        with open(out_path, "wb") as out:
            proc = subprocess.Popen([NODE, os.path.join(SCRIPTS, "server.js"), name], stdout=out,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self.env)
        server = SocketIoServer(name, proc, out_path)
        ready = re.compile(rf"socketio {name} listening on 127\.0\.0\.1:(\d+)\n")
        deadline = time.monotonic() + h.budget(h.START_TIMEOUT)
        while time.monotonic() < deadline and proc.poll() is None:
            m = ready.search(server.output())
            if m:
                server.port = int(m.group(1))
                return server
            time.sleep(0.05)
        server.kill()
        self.fail(f"socket.io server {name} did not start: {server.output()!r}")

    def start(self, **pool_extra):
        # engine.io puts a fresh `t` in every polling request: hashed, each request goes elsewhere.
        backends = [(s.name, s.address) for s in self.servers]
        return self.start_ringway([h.pool("sio", backends, hash_key="query:t", **pool_extra)])

    def run_clients(self, rw):
        """(client summary, "Session ID unknown" answers of the servers during the run)."""
        unknown_before = sum(s.session_unknown() for s in self.servers)
        done = subprocess.run([NODE, os.path.join(SCRIPTS, "client.js"), f"http://127.0.0.1:{rw.port}",
                               str(CLIENTS), str(EMITS)], env=self.env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=h.budget(120) + 30)
        self.assertEqual(done.returncode, 0, done.stderr.decode(errors="replace"))
        summary = json.loads(done.stdout.decode().strip().splitlines()[-1])
        unknown = sum(s.session_unknown() for s in self.servers) - unknown_before
        print(f"\n{rw.config_path}: {CLIENTS} clients: ok {summary['ok']}, connected {summary['connected']}, "
              f"upgraded {summary['upgraded']}, acks {summary['acks']}, connect_error "
              f"{summary['connect_errors']}, Session ID unknown {unknown}, servers {summary['servers']}")
        return summary, unknown

    def test_without_the_affinity_cookie_hashing_on_t_breaks_sessions(self):
        rw = self.start()
        summary, unknown = self.run_clients(rw)
        # The negative control: if this passed, the test below would prove nothing.
        self.assertLessEqual(summary["ok"], CLIENTS // 2, summary)
        self.assertGreaterEqual(unknown, CLIENTS // 5, summary)
        self.assertGreaterEqual(summary["connect_errors"] + (CLIENTS - summary["upgraded"]), CLIENTS // 2, summary)

    def test_with_the_affinity_cookie_every_session_polls_upgrades_and_acks_on_one_backend(self):
        rw = self.start(affinity_cookie={"max_age": "1h"})
        summary, unknown = self.run_clients(rw)
        self.assertEqual(summary["connect_errors"], 0, summary)
        self.assertEqual(unknown, 0, "a request reached a backend that does not hold its session")
        self.assertEqual(summary["connected"], CLIENTS, summary)
        self.assertEqual(summary["upgraded"], CLIENTS, "every client must end on the WebSocket transport")
        self.assertEqual(summary["acks"], CLIENTS * EMITS, summary)
        self.assertEqual(summary["ok"], CLIENTS, summary)
        self.assertEqual(len(summary["servers"]), 3, f"the sessions spread over every server: {summary}")
        # Each session's first request had no cookie (miss); the rest carried it (hits).
        code, body = rw.admin_get("/metrics")
        self.assertEqual(code, 200)
        counts = {m.group(1): int(float(m.group(2))) for m in re.finditer(
            r'^ringway_affinity_total\{pool="sio",result="(\w+)"\} (\S+)$', body.decode(), re.M)}
        self.assertGreaterEqual(counts.get("miss", 0), CLIENTS, counts)
        self.assertGreaterEqual(counts.get("hit", 0), CLIENTS * 2, counts)  # polls and the upgrade
        self.assertEqual(counts.get("invalid", -1), 0, counts)


if __name__ == "__main__":
    unittest.main()
