"""Helpers shared by the health, failover, drain, passive-ejection and backup tests (imported by name
from test_health*, test_drain*, test_passive*, test_backup*), and a self-test of the python raw
backends against a plain client (no ringway), so that a failure elsewhere is ringway's and not the
test tools'.

- HealthCase: IntegrationTestCase plus /status polling, admin POST, and restarting a wsecho on the
  port it had (so that ringway, which knows the address, finds it again).
- ModalWsBackend: a raw WebSocket backend whose behaviour a test switches at run time: "ok" (a real
  upgrade, Pong for every Ping, Close answered, data echoed), "no_answer" (accepts TCP, reads the
  request, never answers), "no_pong" (upgrades, then ignores Pings) or "reset" (like "ok", but a
  data message makes it reset the TCP connection: a crash as the relay sees it).
- ModalHttpBackend: answers every request with a status ("200", "503") or never ("silent").
"""

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import re
import socket
import struct
import subprocess
import threading
import time
import unittest
import urllib.request

import harness as h

# Fast checks so that the tests move quickly; rise and fall of 2 so that "after rise" means
# something. Each check must finish within `timeout`.
FAST_CHECK = {"interval": "300ms", "timeout": "250ms", "rise": 2, "fall": 2}
STATE_TIMEOUT = 20.0  # failure guard for a state change seen in /status


def find_backend(status, pool, name):
    for p in status["pools"]:
        if p["name"] != pool:
            continue
        for b in p["backends"]:
            if b["name"] == name:
                return b
    raise AssertionError(f"no backend {pool}/{name} in /status: {json.dumps(status)[:2000]}")


class HealthCase(h.IntegrationTestCase):
    def admin_post(self, rw, path):
        req = urllib.request.Request(f"http://127.0.0.1:{rw.admin_port}{path}", data=b"", method="POST")
        try:
            with urllib.request.urlopen(req, timeout=h.IO_TIMEOUT) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def backend_status(self, rw, name, pool="chat"):
        return find_backend(rw.status_json(), pool, name)

    def wait_backend(self, rw, name, pred, what, pool="chat", timeout=STATE_TIMEOUT):
        """Polls /status until pred(backend json) holds; returns that json. Fails (showing the last
        json) after `timeout`."""
        deadline = time.monotonic() + h.budget(timeout)
        last = None
        while time.monotonic() < deadline:
            last = self.backend_status(rw, name, pool)
            if pred(last):
                return last
            time.sleep(0.05)
        self.fail(f"{pool}/{name}: not {what} within {timeout}s; last /status entry: {last}")

    def wait_health(self, rw, name, health, pool="chat", timeout=STATE_TIMEOUT):
        return self.wait_backend(rw, name, lambda b: b.get("health") == health, f"health {health}",
                                 pool, timeout)

    def wait_log(self, rw, pattern, timeout=STATE_TIMEOUT):
        """Waits until ringway's log matches `pattern` (a regex); returns the match."""
        deadline = time.monotonic() + h.budget(timeout)
        rx = re.compile(pattern)
        while time.monotonic() < deadline:
            m = rx.search(rw.log())
            if m:
                return m
            time.sleep(0.05)
        self.fail(f"no log line matching {pattern!r} within {timeout}s")

    def start_backend_on(self, name, port):
        """Starts wsecho on a given port (a backend restarted where ringway expects it). Retries for
        a while if the port is still held (a killed process's socket)."""
        deadline = time.monotonic() + h.budget(h.START_TIMEOUT)
        while True:
            out_path = os.path.join(self.tmpdir, f"wsecho-{name}-{self._next()}.log")
            out = open(out_path, "wb")
            try:
                proc = subprocess.Popen([h.WSECHO_BIN, "--listen", f"127.0.0.1:{port}", "--id", name],
                                        stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            finally:
                out.close()
            b = h.Backend(name, port, proc, out_path)
            self._backends.append(b)
            ready = f"wsecho {name} listening on 127.0.0.1:{port}"
            while time.monotonic() < deadline:
                if ready in b.output():
                    return b
                if proc.poll() is not None:
                    break
                time.sleep(0.02)
            b.kill()
            if time.monotonic() >= deadline:
                self.fail(f"wsecho {name} did not start on port {port}: {b.output()!r}")
            time.sleep(0.2)

    def health_pool(self, backends, check=None, **extra):
        """A pool "chat" keyed by the X-User header, with `check` (a dict) as its health_check."""
        d = h.pool("chat", backends, hash_key="header:X-User", **extra)
        if check is not None:
            d["health_check"] = check
        return d


# --------------------------------------------------------------------------------------------
# Raw backends whose behaviour changes at run time


def _read_head(conn):
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = conn.recv(4096)
        if not chunk:
            return None, b""
        buf += chunk
        if len(buf) > 65536:
            return None, b""
    i = buf.index(b"\r\n\r\n") + 4
    return buf[:i].decode("latin-1"), buf[i:]


def _wait_eof(conn):
    """Reads and drops until the peer closes (or the socket times out)."""
    with contextlib.suppress(OSError):
        while conn.recv(4096):
            pass


def _header(head, name):
    for line in head.split("\r\n")[1:]:
        k, _, v = line.partition(":")
        if k.strip().lower() == name.lower():
            return v.strip()
    return None


class ModalWsBackend:
    """See the module docstring. `mode` is read when a connection arrives."""

    def __init__(self, tc, name):
        self.name = name
        self.mode = "ok"
        self.lock = threading.Lock()
        self.pings = 0          # Pings received
        self.masked_pings = 0   # ...of which masked, as a client must
        self.clean_closes = 0   # Close frames with code 1000 after a Pong
        self.upgrades = 0
        self.port = tc.start_raw_backend(self._serve)

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def entry(self, **extra):
        d = {"name": self.name, "address": self.address}
        d.update(extra)
        return d

    def _count(self, attr):
        with self.lock:
            setattr(self, attr, getattr(self, attr) + 1)

    def _serve(self, conn):
        mode = self.mode
        conn.settimeout(30)
        head, rest = _read_head(conn)
        if head is None:
            return
        if mode == "no_answer":
            _wait_eof(conn)
            return
        key = _header(head, "Sec-WebSocket-Key") or ""
        conn.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      f"Sec-WebSocket-Accept: {h.accept_for(key)}\r\nX-Backend: {self.name}\r\n\r\n").encode())
        self._count("upgrades")
        reader = h.FrameReader(conn, rest)
        ponged = False
        while True:
            f = reader.read_frame(timeout=30)
            if f.opcode == h.OP_PING:
                self._count("pings")
                if f.masked:
                    self._count("masked_pings")
                if mode != "no_pong":
                    conn.sendall(h.encode_frame(h.OP_PONG, f.payload, mask=False))
                    ponged = True
            elif f.opcode == h.OP_CLOSE:
                if ponged and f.close_code == 1000:
                    self._count("clean_closes")
                conn.sendall(h.encode_frame(h.OP_CLOSE, f.payload[:2], mask=False))
                conn.shutdown(socket.SHUT_WR)  # the server closes the TCP connection first (RFC 6455 7.1.1)
                _wait_eof(conn)
                return
            elif f.opcode in (h.OP_TEXT, h.OP_BINARY):
                if mode == "reset":
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    conn.close()  # RST
                    return
                if f.payload == b"__whoami__":
                    conn.sendall(h.encode_frame(h.OP_TEXT, f"backend={self.name}", mask=False))
                else:
                    conn.sendall(h.encode_frame(f.opcode, f.payload, mask=False))


class ModalHttpBackend:
    """Answers every request with `mode` as the status ("200", "503", ...), or never ("silent")."""

    def __init__(self, tc, name):
        self.name = name
        self.mode = "200"
        self.requests = []  # request heads seen
        self.port = tc.start_raw_backend(self._serve)

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def _serve(self, conn):
        mode = self.mode
        conn.settimeout(30)
        head, _ = _read_head(conn)
        if head is None:
            return
        self.requests.append(head)
        if mode == "silent":
            _wait_eof(conn)
            return
        conn.sendall(f"HTTP/1.1 {mode} Whatever\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok".encode())
        conn.shutdown(socket.SHUT_WR)
        _wait_eof(conn)


# --------------------------------------------------------------------------------------------
# Self-test of the raw backends (no ringway)


class RawBackendsSelfTest(h.IntegrationTestCase):
    def test_modal_ws_backend_modes(self):
        b = ModalWsBackend(self, "m")
        # ok: upgrade, pong with the same payload, clean close.
        s, head, reader = h.raw_upgrade(b.port, "/health")
        with s:
            self.assertEqual(head.get("X-Backend"), "m")
            s.sendall(h.encode_frame(h.OP_PING, b"abc"))
            f = reader.read_frame()
            self.assertEqual((f.opcode, f.payload, f.masked), (h.OP_PONG, b"abc", False))
            s.sendall(h.encode_frame(h.OP_CLOSE, h.close_payload(1000)))
            self.assertEqual(reader.read_frame().close_code, 1000)
        deadline = time.monotonic() + 5
        while b.clean_closes < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertEqual((b.pings, b.masked_pings, b.clean_closes), (1, 1, 1))
        # no_pong: upgraded, ping ignored.
        b.mode = "no_pong"
        s, head, reader = h.raw_upgrade(b.port, "/health")
        with s:
            s.sendall(h.encode_frame(h.OP_PING, b"x"))
            with self.assertRaises(AssertionError):
                reader.read_frame(timeout=0.5)
        # no_answer: the request gets nothing back.
        b.mode = "no_answer"
        with h.raw_connect(b.port) as s:
            req, _ = h.upgrade_request("/health")
            s.sendall(req)
            data, how = h.read_until_eof(s, timeout=0.5)
            self.assertEqual((data, how), (b"", "timeout"))

    def test_modal_http_backend_modes(self):
        b = ModalHttpBackend(self, "x")
        for mode, expected in (("200", 200), ("503", 503)):
            b.mode = mode
            head, body, _trailing, _how = h.http_exchange(b.port, b"GET /h HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertEqual((head.status, body), (expected, b"ok"))
        b.mode = "silent"
        with h.raw_connect(b.port) as s:
            s.sendall(b"GET /h HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertEqual(h.read_until_eof(s, timeout=0.5), (b"", "timeout"))


if __name__ == "__main__":
    unittest.main()
