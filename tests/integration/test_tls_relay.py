"""The relay over TLS works as over plain TCP: backpressure bounds ringway's memory both ways (a
client flooding a stalled backend, a backend flooding a stalled client, over wss://), bytes sent
with the upgrade head in the same TLS write are relayed after the 101, ringway's own answers and
Close frames (1002, 1009, 1001 at shutdown, its Ping) travel inside TLS, and a TLS peer gets
close_notify before the end of the connection."""

import asyncio
import os
import socket
import ssl
import struct
import sys
import threading
import time
import unittest

import websockets

import harness as h
import tls_helpers as t

MIB = 1024 * 1024
FLOOD_MIB = int(os.environ.get("TLS_FLOOD_MIB", "256"))
FRAME = MIB
STALL = 3.0
SLOW_MIB_PER_S = 64
RSS_LIMIT_KIB = 64 * 1024


def tls_socket(port, server_hostname=t.ALPHA, strict_eof=True):
    """A TLS client socket to ringway. strict_eof: an EOF without close_notify raises SSLEOFError
    instead of looking like a clean end."""
    ctx = t.client_context(t.Pki.get().ca_crt)
    raw = socket.create_connection(("127.0.0.1", port), timeout=h.IO_TIMEOUT)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return ctx.wrap_socket(raw, server_hostname=server_hostname,
                           suppress_ragged_eofs=not strict_eof)


def tls_upgrade(port, path="/", first_bytes=b"", extra_headers=()):
    """Upgrade over TLS; head and `first_bytes` in one TLS write. Returns (sock, head, reader)."""
    s = tls_socket(port)
    req, key = h.upgrade_request(path=path, extra_headers=extra_headers)
    s.sendall(req + first_bytes)
    head, rest = h.read_head(s)
    if head.status != 101:
        s.close()
        raise AssertionError(f"expected 101, got {head.raw!r}")
    assert head.get("Sec-WebSocket-Accept") == h.accept_for(key), head.raw
    return s, head, h.FrameReader(s, rest)


def read_to_end(s, timeout=h.IO_TIMEOUT):
    """Reads until the end; returns (bytes, how): how is 'close_notify' (clean TLS end),
    'no close_notify' (TCP FIN without it), 'reset' or 'timeout'."""
    buf = b""
    deadline = time.monotonic() + h.budget(timeout)
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return buf, "timeout"
        s.settimeout(left)
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            return buf, "timeout"
        except ssl.SSLEOFError:
            return buf, "no close_notify"
        except (ConnectionResetError, ssl.SSLError) as e:
            return buf, f"reset ({e})"
        if not chunk:
            return buf, "close_notify"
        buf += chunk


def flood_frame_header(n, masked):
    head = bytes([0x80 | h.OP_BINARY, (0x80 if masked else 0) | 127]) + struct.pack("!Q", n)
    return head + (b"\0\0\0\0" if masked else b"")  # all-zero mask: payload bytes unchanged


class RawWsBackend:
    """A one-connection-at-a-time WebSocket backend on raw sockets: answers the upgrade, then runs
    `script(sock, leftover)`."""

    def __init__(self, tc, script):
        def handler(conn):
            head, rest = h.read_head(conn)
            key = head.get("Sec-WebSocket-Key")
            conn.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                          "Connection: Upgrade\r\nSec-WebSocket-Accept: "
                          f"{h.accept_for(key)}\r\n\r\n").encode())
            script(conn, rest)
        self.port = tc.start_raw_backend(handler)

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"


def slow_read_frames(sock, count, header_size, buf=b"", stall=STALL):
    """Reads `count` flood frames: nothing for `stall` s, then about SLOW_MIB_PER_S. Returns the
    number of frames that arrived whole and in order (stops at the first bad one)."""
    time.sleep(stall)
    frame_size = header_size + FRAME
    buf = bytearray(buf)
    total, frames = len(buf), 0
    chunk = bytearray(256 * 1024)
    view = memoryview(chunk)
    started = time.monotonic()
    sock.settimeout(h.IO_TIMEOUT)
    while frames < count:
        ahead = total / (SLOW_MIB_PER_S * MIB) - (time.monotonic() - started)
        if ahead > 0:
            time.sleep(ahead)
        n = sock.recv_into(view)
        if n == 0:
            return frames
        total += n
        buf += view[:n]
        while len(buf) >= frame_size:
            first = int.from_bytes(buf[header_size:header_size + 8], "big")
            last = int.from_bytes(buf[frame_size - 8:frame_size], "big")
            if first != frames or last != frames:
                return frames
            del buf[:frame_size]
            frames += 1
    return frames


class RssSampler:
    def __init__(self, rw):
        self.rw, self.samples, self.stop = rw, [], threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.is_set():
            try:
                self.samples.append(self.rw.rss_kib())
            except (OSError, AssertionError):
                return
            self.stop.wait(0.05)

    def __enter__(self):
        self.t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.t.join(5)


class RelayOverTls(h.IntegrationTestCase):
    def setUp(self):
        super().setUp()
        self.pki = t.Pki.get()

    def start(self, pools, **kw):
        if h.ringway_is_sanitized():
            # ASan keeps freed blocks in a 256 MiB quarantine by default, and TLS with released
            # record buffers frees and allocates per record: the RSS bound would measure the
            # quarantine, not backpressure. A small quarantine keeps the bound meaningful.
            opts = os.environ.get("ASAN_OPTIONS", "")
            if "quarantine_size_mb" not in opts:
                os.environ["ASAN_OPTIONS"] = (opts + ":" if opts else "") + "quarantine_size_mb=4"
        kw.setdefault("listener_extra", {})
        kw["listener_extra"]["tls"] = t.listener_tls((self.pki.alpha_crt, self.pki.alpha_key))
        return self.start_ringway(pools, **kw)

    def check_rss(self, rw, baseline, sampler, label, took):
        peak = max(sampler.samples)
        sys.stderr.write(f"\n{label}: {FLOOD_MIB} MiB over TLS in {took:.1f}s; ringway RSS "
                         f"{baseline} KiB before, peak {peak} KiB\n")
        if h.ringway_is_sanitized():
            self.assertLess(peak - baseline, RSS_LIMIT_KIB, f"{label}: RSS grew {peak - baseline} KiB")
        else:
            self.assertLess(peak, RSS_LIMIT_KIB, f"{label}: ringway's RSS reached {peak} KiB")

    def test_client_flood_to_a_stalled_backend_over_tls(self):
        result = {}

        def script(conn, rest):
            result["frames"] = slow_read_frames(conn, FLOOD_MIB, 14, rest)
            reply = f"got {result['frames']}".encode()
            conn.sendall(bytes([0x81, len(reply)]) + reply)
            time.sleep(1)

        backend = RawWsBackend(self, script)
        rw = self.start([h.pool("p", [("raw", backend.address)])])
        baseline = rw.rss_kib()
        s, _head, reader = tls_upgrade(rw.port, "/flood-up")
        with s, RssSampler(rw) as sampler:
            started = time.monotonic()
            s.settimeout(h.budget(100))
            frame = bytearray(flood_frame_header(FRAME, True) + bytes(FRAME))
            for i in range(FLOOD_MIB):
                frame[14:22] = i.to_bytes(8, "big")
                frame[-8:] = i.to_bytes(8, "big")
                s.sendall(frame)
            f = reader.read_frame(timeout=h.budget(100))
            took = time.monotonic() - started
        self.assertEqual(result.get("frames"), FLOOD_MIB)
        self.assertEqual((f.opcode, f.payload), (h.OP_TEXT, f"got {FLOOD_MIB}".encode()))
        self.check_rss(rw, baseline, sampler, "client flood", took)

    def test_backend_flood_to_a_stalled_client_over_tls(self):
        def script(conn, rest):
            reader = h.FrameReader(conn, rest)
            f = reader.read_frame()
            if f.payload != b"flood me":
                return
            frame = bytearray(flood_frame_header(FRAME, False) + bytes(FRAME))
            conn.settimeout(h.budget(100))
            for i in range(FLOOD_MIB):
                frame[10:18] = i.to_bytes(8, "big")
                frame[-8:] = i.to_bytes(8, "big")
                conn.sendall(frame)
            f = reader.read_frame(timeout=h.budget(60))  # the client's Close
            conn.sendall(bytes([0x88, 2]) + struct.pack("!H", f.close_code or 1000))

        backend = RawWsBackend(self, script)
        rw = self.start([h.pool("p", [("raw", backend.address)])])
        baseline = rw.rss_kib()
        s, _head, reader = tls_upgrade(rw.port, "/flood-down")
        with s, RssSampler(rw) as sampler:
            started = time.monotonic()
            s.sendall(h.encode_frame(h.OP_TEXT, "flood me"))
            frames = slow_read_frames(s, FLOOD_MIB, 10, reader.buf)
            took = time.monotonic() - started
            self.assertEqual(frames, FLOOD_MIB)
            s.sendall(h.encode_frame(h.OP_CLOSE, h.close_payload(1000)))
            reader.buf = b""
            f = reader.read_frame()
            self.assertEqual((f.opcode, f.close_code), (h.OP_CLOSE, 1000))
            _rest, how = read_to_end(s)
            self.assertEqual(how, "close_notify", "the relay's end came without close_notify")
        self.check_rss(rw, baseline, sampler, "backend flood", took)

    def test_bytes_with_the_head_in_one_tls_write_are_relayed(self):
        backends = self.start_backends(1)
        rw = self.start([h.pool("p", backends)])
        early = h.encode_frame(h.OP_TEXT, "sent with the head") + h.encode_frame(h.OP_BINARY, b"\x01" * 70000)
        s, _head, reader = tls_upgrade(rw.port, "/early", first_bytes=early)
        with s:
            f = reader.read_frame()
            self.assertEqual((f.opcode, f.payload), (h.OP_TEXT, b"sent with the head"))
            f = reader.read_frame()
            self.assertEqual((f.opcode, f.payload), (h.OP_BINARY, b"\x01" * 70000))
            self.assertFalse(f.masked)

    def test_ringway_close_frames_travel_inside_tls(self):
        backends = self.start_backends(1)
        rw = self.start([h.pool("p", backends)], top={"websocket": {"max_message_size": "64KiB"}})
        # An unmasked client frame: Close 1002 inside TLS, then close_notify.
        s, _head, reader = tls_upgrade(rw.port, "/violate")
        with s:
            s.sendall(h.encode_frame(h.OP_TEXT, "unmasked", mask=False))
            f = reader.read_frame()
            self.assertEqual((f.opcode, f.close_code), (h.OP_CLOSE, 1002), f)
            s.sendall(h.encode_frame(h.OP_CLOSE, h.close_payload(1002)))
            _rest, how = read_to_end(s)
            self.assertIn(how, ("close_notify",), "ringway's close came without close_notify")

        # A message over max_message_size: 1009 (python-websockets sees it).
        async def too_big():
            async with t.wss_connect(rw.port, "/big") as ws:
                await ws.send(b"x" * 70000)
                with self.assertRaises(websockets.ConnectionClosed) as cm:
                    await asyncio.wait_for(ws.recv(), h.IO_TIMEOUT)
                self.assertEqual(cm.exception.rcvd.code if cm.exception.rcvd else None, 1009)
        h.run(too_big())

    def test_ringway_ping_inside_tls(self):
        backends = self.start_backends(1)
        rw = self.start([h.pool("p", backends)], top={"websocket": {"ping_interval": "1s"}})
        s, _head, reader = tls_upgrade(rw.port, "/quiet")
        with s:
            f = reader.read_frame(timeout=h.budget(10))
            self.assertEqual(f.opcode, h.OP_PING, f)
            s.sendall(h.encode_frame(h.OP_PONG, f.payload))
            s.sendall(h.encode_frame(h.OP_TEXT, "after pong"))
            f = reader.read_frame()
            while f.opcode == h.OP_PING:
                s.sendall(h.encode_frame(h.OP_PONG, f.payload))
                f = reader.read_frame()
            self.assertEqual((f.opcode, f.payload), (h.OP_TEXT, b"after pong"))

    def test_answers_over_tls_end_with_close_notify(self):
        dead = h.free_port()  # nothing listens there: 502
        rw = self.start([h.pool("p", [("dead", f"127.0.0.1:{dead}")], connect_retries=0)],
                        top={"limits": {"max_header_size": "4KiB"}})
        cases = [
            (h.upgrade_request("/ws")[0], 502),
            (h.upgrade_request("/ws", omit=("sec-websocket-key",))[0], 400),  # a plain GET is proxied
            (h.upgrade_request("/ws", extra_headers=[("X-Big", "y" * 8000)])[0], 431),
        ]
        for req, status in cases:
            with self.subTest(status=status):
                with tls_socket(rw.port) as s:
                    s.sendall(req)
                    head, rest = h.read_head(s)
                    self.assertEqual(head.status, status, head.raw)
                    _body, how = read_to_end(s)
                    self.assertEqual(how, "close_notify", f"{status}: the end after the answer")

    def test_sigterm_sends_1001_inside_tls(self):
        backends = self.start_backends(1)
        rw = self.start([h.pool("p", backends)], top={"shutdown": {"drain_timeout": "1s"}})
        socks = [tls_upgrade(rw.port, f"/s{i}") for i in range(5)]
        try:
            rw.proc.terminate()
            for s, _head, reader in socks:
                f = reader.read_frame(timeout=h.budget(10))
                self.assertEqual((f.opcode, f.close_code), (h.OP_CLOSE, 1001), f)
                s.sendall(h.encode_frame(h.OP_CLOSE, h.close_payload(1001)))
            self.assertEqual(rw.wait_exit(15), 0, rw.log()[-3000:])
        finally:
            for s, _head, _reader in socks:
                s.close()


if __name__ == "__main__":
    unittest.main()
