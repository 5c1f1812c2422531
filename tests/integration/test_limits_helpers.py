"""Helpers shared by the limits / keepalive / backpressure / hostile-input tests (imported by name
from the other test_limits*, test_keepalive*, test_backpressure*, test_hostile* files), and a
self-test of those helpers against wsecho directly (no ringway), so that a failure elsewhere is
ringway's and not the test tools'.

- RecordingBackend: a python raw WebSocket backend that answers the upgrade, records every frame
  ringway relays to it (and whether the connection ended), echoes data frames, answers a Close, and
  lets a test script what it sends (too-big frames, masked frames, floods) or how slowly it reads.
- Alongside: 50 well-behaved python-websockets clients echoing through ringway in a thread of their
  own while a test misbehaves next to them; at the end they must have seen no error at all.
- two_pool_config: ringway in front of wsecho ("/", the well-behaved traffic) and of a recording
  backend (path prefix "/rec", the offender's traffic).
"""

import asyncio
import contextlib
import re
import socket
import threading
import time
import unittest

import harness as h

ALONGSIDE = 50  # well-behaved connections running next to every misbehaving one


# --------------------------------------------------------------------------------------------
# A raw backend that records what ringway sends it


class BackendConn:
    """One connection accepted by a RecordingBackend (used from the handler's thread; the test reads
    `frames`, `ended` and the events from its own)."""

    def __init__(self, sock):
        self.sock = sock
        self.head = None
        self.reader = None
        self.frames = []          # every frame received after the 101 (payloads unmasked)
        self.ended = threading.Event()   # EOF / reset seen from ringway
        self.how_ended = None
        self.got_close = threading.Event()
        self.upgraded = threading.Event()
        self.lock = threading.Lock()

    # -- handshake -------------------------------------------------------------------------

    def accept_upgrade(self, first_bytes=b""):
        head, rest = h.read_head(self.sock, timeout=h.IO_TIMEOUT)
        self.head = head
        key = None
        for line in head.raw.decode("latin-1").split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "sec-websocket-key":
                key = value.strip()
        self.sock.sendall(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + f"Sec-WebSocket-Accept: {h.accept_for(key)}\r\nX-Backend: rec\r\n\r\n".encode()
            + first_bytes)
        self.reader = h.FrameReader(self.sock, rest)
        self.upgraded.set()

    @property
    def path(self):
        """The request target of the upgrade ringway forwarded."""
        parts = self.head.status_line.split(" ") if self.head else []
        return parts[1] if len(parts) > 1 else None

    # -- reading ---------------------------------------------------------------------------

    def read_frame(self, timeout=h.IO_TIMEOUT):
        """The next frame, recorded; None once the connection ended (EOF, reset, or timeout)."""
        try:
            f = self.reader.read_frame(timeout=timeout)
        except AssertionError as e:  # harness read helpers raise AssertionError on EOF / timeout
            self._end("timeout" if "timed out" in str(e) else "eof")
            return None
        except (ConnectionResetError, OSError):
            self._end("reset")
            return None
        with self.lock:
            self.frames.append(f)
        if f.opcode == h.OP_CLOSE:
            self.got_close.set()
        return f

    def _end(self, how):
        if self.how_ended is None:
            self.how_ended = how
        self.ended.set()

    def send(self, data):
        with contextlib.suppress(OSError):
            self.sock.sendall(data)

    def shutdown_write(self):
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)

    def serve(self, echo=True, answer_close=True, timeout=h.IO_TIMEOUT * 6):
        """Reads frames until the connection ends: echoes data frames (unmasked, as a server must),
        answers a Close with the same code, then waits for ringway to end the TCP connection."""
        closing = False
        while True:
            f = self.read_frame(timeout=timeout)
            if f is None:
                return
            if f.opcode == h.OP_CLOSE and not closing:
                closing = True
                if answer_close:
                    self.send(h.encode_frame(h.OP_CLOSE, f.payload[:2], mask=False))
                    # A server closes the TCP connection first (RFC 6455 7.1.1); then reads to EOF.
                    self.shutdown_write()
            elif echo and not closing and f.opcode in (h.OP_TEXT, h.OP_BINARY, h.OP_CONT):
                self.send(h.encode_frame(f.opcode, f.payload, fin=f.fin, mask=False))

    # -- what the test looks at ------------------------------------------------------------

    def snapshot(self):
        with self.lock:
            return list(self.frames)

    def close_codes(self):
        return [f.close_code for f in self.snapshot() if f.opcode == h.OP_CLOSE]

    def opcodes(self):
        return [f.opcode for f in self.snapshot()]


class RecordingBackend:
    """Accepts connections (each in its own thread), answers the upgrade and runs `script(conn)`
    (default: conn.serve()). The test finds the connections in `conns`, in accept order."""

    def __init__(self, tc, script=None, first_bytes=b""):
        self.conns = []
        self.cond = threading.Condition()
        script = script or (lambda c: c.serve())

        def handler(sock):
            conn = BackendConn(sock)
            with self.cond:
                self.conns.append(conn)
                self.cond.notify_all()
            try:
                conn.accept_upgrade(first_bytes)
                script(conn)
            finally:
                conn._end(conn.how_ended or "handler-done")

        self.port = tc.start_raw_backend(handler)

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def wait_conn(self, index=0, timeout=h.IO_TIMEOUT):
        deadline = time.monotonic() + h.budget(timeout)
        with self.cond:
            while len(self.conns) <= index:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"the backend did not get connection #{index + 1}")
                self.cond.wait(left)
            conn = self.conns[index]
        if not conn.upgraded.wait(h.budget(timeout)):
            raise AssertionError("the backend connection was not upgraded")
        return conn

    def wait_path(self, path, timeout=h.IO_TIMEOUT):
        """The (upgraded) connection whose request target is `path`."""
        deadline = time.monotonic() + h.budget(timeout)
        while time.monotonic() < deadline:
            with self.cond:
                for conn in self.conns:
                    if conn.upgraded.is_set() and conn.path == path:
                        return conn
                self.cond.wait(0.05)
        raise AssertionError(f"the backend got no upgrade for {path}")


# How long a Close that ringway owes a peer may take to arrive: a failure guard, not a measure (it
# comes in milliseconds; past ringway's 5 s close grace the connection is simply cut).
CLOSE_GUARD = 8.0


def assert_backend_closed_1001(tc, conn, timeout=CLOSE_GUARD):
    """The backend leg was closed cleanly: a Close 1001 from ringway, then the end of the TCP."""
    # The Close comes before the end of the connection: wait for the end (so that a missing Close
    # fails as soon as ringway cut the leg), then look at what came.
    ended = conn.ended.wait(h.budget(timeout))
    tc.assertTrue(conn.got_close.is_set(),
                  f"the backend got no Close frame (leg {'ended: ' + str(conn.how_ended) if ended else 'still open'}); "
                  f"frames: {conn.snapshot()[-5:]!r}")
    tc.assertTrue(ended, "the backend leg was not closed after the Close")
    codes = conn.close_codes()
    tc.assertEqual(codes[:1], [1001], f"the backend got Close codes {codes}; frames: {conn.snapshot()!r}")
    tc.assertIn(conn.how_ended, ("eof", "reset"), "the backend leg did not end")


# --------------------------------------------------------------------------------------------
# The offender's side, with raw sockets


def read_close_then_eof(tc, sock, reader, want_code, timeout=h.IO_TIMEOUT):
    """Reads frames until a Close: it must carry want_code; then the connection must end. Data
    frames before the Close are allowed (returned)."""
    before = []
    deadline = time.monotonic() + h.budget(timeout)
    while True:
        left = deadline - time.monotonic()
        tc.assertGreater(left, 0, f"no Close {want_code} within {timeout}s; frames so far {before!r}")
        try:
            f = reader.read_frame(timeout=left)
        except AssertionError as e:
            tc.fail(f"connection ended without a Close {want_code}: {e}; frames before: {before[-5:]!r}")
        except ConnectionResetError:
            tc.fail(f"connection reset without a Close {want_code}; frames before: {before[-5:]!r}")
        if f.opcode == h.OP_CLOSE:
            tc.assertEqual(f.close_code, want_code, f"Close with {f.close_code} {f.close_reason!r}")
            tc.assertFalse(f.masked, "a server frame must not be masked")
            _, how = h.read_until_eof(sock, reader.buf, timeout=max(0.25, deadline - time.monotonic()))
            tc.assertNotEqual(how, "timeout", "the connection stayed open after the Close")
            return before, f
        before.append(f)


def drain_until_close(sock, reader, timeout=h.IO_TIMEOUT):
    """Like read_close_then_eof without assertions: (close frame or None, how it ended)."""
    deadline = time.monotonic() + h.budget(timeout)
    close = None
    while time.monotonic() < deadline:
        try:
            f = reader.read_frame(timeout=max(0.1, deadline - time.monotonic()))
        except (AssertionError, OSError):
            break
        if f.opcode == h.OP_CLOSE:
            close = f
            break
    _, how = h.read_until_eof(sock, reader.buf, timeout=max(0.25, deadline - time.monotonic()))
    return close, how


# --------------------------------------------------------------------------------------------
# ringway configurations


def two_pool_config(echo_backend, rec_backend, websocket=None, limits=None, timeouts=None,
                    admin=True):
    """build(port, admin_port) for start_ringway_config: "/" goes to wsecho, "/rec" to the
    recording backend."""
    def build(port, admin_port):
        cfg = {
            "listeners": [{
                "name": "public", "bind": f"127.0.0.1:{port}", "pool": "echo",
                "routes": [{"path_prefix": "/rec", "pool": "rec"}],
            }],
            "pools": [
                h.pool("echo", [echo_backend]),
                h.pool("rec", [("rec", rec_backend.address)]),
            ],
        }
        if websocket:
            cfg["websocket"] = websocket
        if limits:
            cfg["limits"] = limits
        if timeouts:
            cfg["timeouts"] = timeouts
        if admin:
            cfg["admin"] = {"bind": f"127.0.0.1:{admin_port}"}
        return cfg
    return build


def metric(rw, name, **labels):
    """The value of one sample of /metrics (0 when absent)."""
    code, body = rw.admin_get("/metrics")
    if code != 200:
        raise AssertionError(f"/metrics answered {code}")
    for line in body.decode().splitlines():
        if not line.startswith(name):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)", line)
        if not m or m.group(1) != name:
            continue
        found = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"', m.group(2) or ""))
        if all(found.get(k) == str(v) for k, v in labels.items()):
            return float(m.group(3))
    return 0.0


def wait_log(tc, rw, pattern, timeout=h.IO_TIMEOUT):
    """Waits until ringway's log has a line matching `pattern` (a regex); returns that line."""
    rx = re.compile(pattern)
    deadline = time.monotonic() + h.budget(timeout)
    while True:
        for line in rw.log().splitlines():
            if rx.search(line):
                return line
        if time.monotonic() > deadline:
            tc.fail(f"no log line matching {pattern!r}; log tail:\n{rw.log()[-3000:]}")
        time.sleep(0.05)


# --------------------------------------------------------------------------------------------
# 50 well-behaved connections alongside


class Alongside:
    """N python-websockets clients, connected through ringway to wsecho ("/" by default), each
    sending a text message every `period` seconds and checking its echo, in a thread of their own.
    `source_ips`: bind client i to source_ips[i % len] (the whole of 127/8 is loopback), e.g. to
    stay under a per-IP limit. Use: start(); ...; errors = stop() (also closes them with 1000)."""

    def __init__(self, port, n=ALONGSIDE, path="/", period=0.2, source_ips=None, payload_size=32):
        self.port, self.n, self.path, self.period = port, n, path, period
        self.source_ips = source_ips
        self.payload_size = payload_size
        self.errors = []
        self.echoes = 0
        self.connected = threading.Event()
        self._stop = None
        self._loop = None
        self._thread = None
        self._n_connected = 0

    def start(self, timeout=h.IO_TIMEOUT * 2):
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self.connected.wait(h.budget(timeout)):
            raise AssertionError(f"only {self._n_connected} of {self.n} well-behaved clients connected; "
                                 f"errors: {self.errors[:5]}")
        if self.errors:
            raise AssertionError(f"well-behaved clients failed to connect: {self.errors[:5]}")
        return self

    def stop(self, timeout=h.IO_TIMEOUT * 2):
        """Stops the clients (each closes with 1000 and must get 1000 back); returns the errors."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(h.budget(timeout))
        if self._thread.is_alive():
            self.errors.append("the well-behaved clients did not finish")
        return list(self.errors)

    def _run(self):
        asyncio.run(self._main())

    async def _main(self):
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        await asyncio.gather(*(self._client(i) for i in range(self.n)))

    async def _client(self, i):
        kw = {}
        if self.source_ips:
            kw["local_addr"] = (self.source_ips[i % len(self.source_ips)], 0)
        try:
            async with h.ws_connect(self.port, self.path, **kw) as ws:
                self._n_connected += 1
                if self._n_connected == self.n:
                    self.connected.set()
                k = 0
                filler = "x" * self.payload_size
                while not self._stop.is_set():
                    msg = f"well-behaved {i} #{k} {filler}"
                    await ws.send(msg)
                    reply = await asyncio.wait_for(ws.recv(), h.IO_TIMEOUT)
                    if reply != msg:
                        self.errors.append(f"client {i}: echo {reply!r} for {msg!r}")
                        return
                    self.echoes += 1
                    k += 1
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(self._stop.wait(), self.period)
                await ws.close(1000, "bye")
                if ws.close_code != 1000:
                    self.errors.append(f"client {i}: closed with {ws.close_code} {ws.close_reason!r}")
        except Exception as e:  # noqa: BLE001 - every failure is an error of the well-behaved side
            self.errors.append(f"client {i}: {type(e).__name__}: {e}")
            self.connected.set()  # do not make start() wait for a client that will never connect


# --------------------------------------------------------------------------------------------
# Self-test of the helpers (no ringway)


class HelpersSelfTest(h.IntegrationTestCase):
    def test_recording_backend_echoes_records_and_answers_close(self):
        rec = RecordingBackend(self)
        s, head, reader = h.raw_upgrade(rec.port, "/rec")
        with s:
            self.assertEqual(head.get("X-Backend"), "rec")
            s.sendall(h.encode_frame(h.OP_TEXT, "hi") + h.encode_frame(h.OP_PING, b"p"))
            f = reader.read_frame()
            self.assertEqual((f.opcode, f.payload, f.masked), (h.OP_TEXT, b"hi", False))
            s.sendall(h.encode_frame(h.OP_CLOSE, h.close_payload(1001, "x")))
            f = reader.read_frame()
            self.assertEqual((f.opcode, f.close_code), (h.OP_CLOSE, 1001))
        conn = rec.wait_conn()
        assert_backend_closed_1001(self, conn)
        self.assertEqual(conn.opcodes(), [h.OP_TEXT, h.OP_PING, h.OP_CLOSE])

    def test_alongside_clients_echo_without_errors_on_wsecho(self):
        b = self.start_backend("e1")
        load = Alongside(b.port, n=10, source_ips=["127.0.1.1", "127.0.1.2"]).start()
        time.sleep(0.5)
        self.assertEqual(load.stop(), [])
        self.assertGreater(load.echoes, 10)

    def test_metric_parser(self):
        # A tiny fake /metrics body through the same regexes.
        class Fake:
            def admin_get(self, path):
                return 200, (b'# TYPE x counter\nringway_errors_total{kind="too_big"} 3\n'
                             b'ringway_errors_total{kind="protocol"} 1\nringway_config_generation 2\n')
        self.assertEqual(metric(Fake(), "ringway_errors_total", kind="too_big"), 3.0)
        self.assertEqual(metric(Fake(), "ringway_errors_total", kind="rate_limited"), 0.0)
        self.assertEqual(metric(Fake(), "ringway_config_generation"), 2.0)


if __name__ == "__main__":
    unittest.main()
