"""Connection-level limits: limits.max_connections (503), limits.max_connections_per_ip (429),
limits.max_header_size (431), timeouts.handshake (408), and 1,000 slow-loris connections at once
that do not stop a normal client from connecting and echoing. 50 well-behaved connections run
alongside each test and must see no error at all."""

import contextlib
import resource
import selectors
import socket
import time
import unittest

import harness as h
from test_limits_helpers import ALONGSIDE, Alongside, metric, wait_log

ERROR_GUARD = 10.0  # a failure guard for an error answer from ringway


def raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def request_status(port, source_ip=None, request=None, timeout=ERROR_GUARD):
    """Sends an upgrade (or `request`) and returns (status, socket or None, how it ended). A 101's
    socket is left open (the caller closes it); an error answer must be followed by the end."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    if source_ip:
        s.bind((source_ip, 0))
    s.connect(("127.0.0.1", port))
    req = request if request is not None else h.upgrade_request("/")[0]
    s.sendall(req)
    head, rest = h.read_head(s, timeout=timeout)
    if head.status == 101:
        return head, s, None
    body, how = h.read_until_eof(s, rest, timeout)
    s.close()
    return head, None, how


class Base(h.IntegrationTestCase):
    def start(self, limits=None, timeouts=None, alongside_ips=None):
        self.echo = self.start_backend("e1")
        top = {}
        if limits:
            top["limits"] = limits
        if timeouts:
            top["timeouts"] = timeouts
        self.rw = self.start_ringway([h.pool("echo", [self.echo])], top=top)
        self.load = Alongside(self.rw.port, source_ips=alongside_ips).start()
        return self.rw

    def finish_alongside(self):
        self.assertEqual(self.load.stop(), [], "the well-behaved connections saw errors")
        self.assertGreater(self.load.echoes, 0)

    def assert_echoes(self, sock):
        sock.sendall(h.encode_frame(h.OP_TEXT, "echo?"))
        f = h.FrameReader(sock).read_frame()
        self.assertEqual((f.opcode, f.payload), (h.OP_TEXT, b"echo?"))


class MaxConnections(Base):
    def test_past_max_connections_new_connections_get_503(self):
        extra = 5
        rw = self.start(limits={"max_connections": ALONGSIDE + extra})
        held = []
        try:
            for _ in range(extra):
                head, s, _ = request_status(rw.port)
                self.assertEqual(head.status, 101, head.raw)
                held.append(s)
            for _ in range(3):
                head, s, how = request_status(rw.port)
                self.assertEqual(head.status, 503, head.raw)
                self.assertIsNone(s)
                self.assertNotEqual(how, "timeout", "the connection stayed open after the 503")
            wait_log(self, rw, r"request rejected.*status=503")
            self.assert_echoes(held[0])
            # One leaves: a new one gets in (once ringway has seen it go).
            held.pop().close()
            deadline = time.monotonic() + h.budget(ERROR_GUARD)
            while True:
                head, s, _ = request_status(rw.port)
                if head.status == 101:
                    held.append(s)
                    break
                self.assertEqual(head.status, 503)
                self.assertLess(time.monotonic(), deadline, "a freed slot was never given to a new connection")
                time.sleep(0.1)
            self.assert_echoes(held[-1])
        finally:
            for s in held:
                s.close()
        self.finish_alongside()


class MaxConnectionsPerIp(Base):
    def test_past_the_per_ip_limit_a_source_gets_429_others_do_not(self):
        # The well-behaved clients come from 127.0.1.1 .. 127.0.1.50, one each; the offender from
        # 127.0.0.1 (all of 127/8 is loopback).
        ips = [f"127.0.1.{i + 1}" for i in range(ALONGSIDE)]
        rw = self.start(limits={"max_connections_per_ip": 5}, alongside_ips=ips)
        held = []
        try:
            for _ in range(5):
                head, s, _ = request_status(rw.port, "127.0.0.1")
                self.assertEqual(head.status, 101, head.raw)
                held.append(s)
            for _ in range(3):
                head, s, how = request_status(rw.port, "127.0.0.1")
                self.assertEqual(head.status, 429, head.raw)
                self.assertNotEqual(how, "timeout", "the connection stayed open after the 429")
            line = wait_log(self, rw, r"request rejected.*status=429")
            self.assertIn("client=127.0.0.1", line)
            # Another source address is not affected.
            head, s, _ = request_status(rw.port, "127.0.0.2")
            self.assertEqual(head.status, 101, head.raw)
            held.append(s)
            self.assert_echoes(s)
            self.assert_echoes(held[0])
            # One of 127.0.0.1's connections leaves: it may open one again.
            held.pop(0).close()
            deadline = time.monotonic() + h.budget(ERROR_GUARD)
            while True:
                head, s, _ = request_status(rw.port, "127.0.0.1")
                if head.status == 101:
                    held.append(s)
                    break
                self.assertEqual(head.status, 429)
                self.assertLess(time.monotonic(), deadline, "the per-IP count was not released")
                time.sleep(0.1)
        finally:
            for s in held:
                s.close()
        self.finish_alongside()


class MaxHeaderSize(Base):
    def test_head_over_max_header_size_gets_431(self):
        rw = self.start(limits={"max_header_size": "2KiB"})
        bad_before = metric(rw, "ringway_errors_total", kind="bad_request")
        # Under the limit: upgraded.
        req, _ = h.upgrade_request("/", extra_headers=[("X-Pad", "a" * 1500)])
        self.assertLess(len(req), 2048)
        head, s, _ = request_status(rw.port, request=req)
        self.assertEqual(head.status, 101, head.raw)
        self.assert_echoes(s)
        s.close()
        # Over it, whole: 431.
        req, _ = h.upgrade_request("/", extra_headers=[("X-Pad", "a" * 3000)])
        head, s, how = request_status(rw.port, request=req)
        self.assertEqual(head.status, 431, head.raw)
        self.assertNotEqual(how, "timeout")
        # Over it and never finished (no blank line): 431 too, without waiting for the end.
        endless = b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: " + b"b" * 4000
        head, s, how = request_status(rw.port, request=endless)
        self.assertEqual(head.status, 431, head.raw)
        self.assertNotEqual(how, "timeout")
        wait_log(self, rw, r"request rejected.*status=431")
        # Counted when each connection ends, on the worker thread that has it: poll for both.
        deadline = time.monotonic() + h.budget(h.IO_TIMEOUT)
        while (metric(rw, "ringway_errors_total", kind="bad_request") - bad_before < 2 and
               time.monotonic() < deadline):
            time.sleep(0.02)
        self.assertGreaterEqual(metric(rw, "ringway_errors_total", kind="bad_request") - bad_before, 2)
        self.finish_alongside()


class HandshakeTimeout(Base):
    def test_head_not_finished_in_time_gets_408(self):
        rw = self.start(timeouts={"handshake": "1s"})
        before = metric(rw, "ringway_errors_total", kind="handshake_timeout")
        # Stalls after a partial head.
        s = h.raw_connect(rw.port)
        s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n")
        head, rest = h.read_head(s, timeout=ERROR_GUARD)
        self.assertEqual(head.status, 408, head.raw)
        _, how = h.read_until_eof(s, rest, ERROR_GUARD)
        self.assertNotEqual(how, "timeout")
        s.close()
        # Trickles a byte every 200 ms: the limit is on the whole head, not between reads.
        s = h.raw_connect(rw.port)
        req, _ = h.upgrade_request("/")
        got = b""
        deadline = time.monotonic() + ERROR_GUARD
        for b in req:
            if time.monotonic() > deadline:
                break
            try:
                s.sendall(bytes([b]))
            except OSError:
                break
            s.settimeout(0.2)
            try:
                chunk = s.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                break
            got += chunk
            if b"\r\n\r\n" in got or not chunk:
                break
        if b"\r\n\r\n" not in got:
            with contextlib.suppress(AssertionError):
                head, _ = h.read_head(s, got, timeout=2)
                got = head.raw
        s.close()
        self.assertTrue(got.startswith(b"HTTP/1.1 408"), f"a trickled head got {got[:100]!r}")
        wait_log(self, rw, r"request rejected.*status=408")
        self.assertGreaterEqual(metric(rw, "ringway_errors_total", kind="handshake_timeout") - before, 2)
        self.finish_alongside()


class SlowLoris(Base):
    N = 1000

    def test_1000_slow_loris_connections_do_not_stop_a_normal_client(self):
        limit = raise_fd_limit()
        self.assertGreater(limit, self.N + 500, "not enough file descriptors for this test")
        rw = self.start(timeouts={"handshake": "8s"})
        sel = selectors.DefaultSelector()
        lorises = []
        try:
            partial = b"GET /slow HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websock"
            for i in range(self.N):
                s = socket.create_connection(("127.0.0.1", rw.port), timeout=h.IO_TIMEOUT)
                s.sendall(partial)
                s.setblocking(False)
                lorises.append(s)
                sel.register(s, selectors.EVENT_READ, i)

            # With every loris holding its socket: a normal client connects and echoes.
            async def normal():
                async with h.ws_connect(rw.port, "/normal") as ws:
                    for i in range(10):
                        await ws.send(f"normal {i}")
                        self.assertEqual(await ws.recv(), f"normal {i}")
                    await ws.close(1000)
                    return ws.close_code

            self.assertEqual(h.run(normal(), timeout=30), 1000)
            # (The test is only meaningful if every loris was still held meanwhile.)
            early = [key.data for key, _ in sel.select(timeout=0)]
            self.assertEqual(early, [], "slow-loris connections were answered before the normal client was done")

            # And the lorises themselves are answered 408 and let go once the handshake time is up.
            answers = {}
            ended = set()
            deadline = time.monotonic() + h.budget(8 + 20)
            while len(ended) < self.N and time.monotonic() < deadline:
                for key, _ in sel.select(timeout=0.5):
                    s, i = key.fileobj, key.data
                    try:
                        chunk = s.recv(4096)
                    except (BlockingIOError, InterruptedError):
                        continue
                    except OSError:
                        chunk = b""
                    if chunk:
                        answers[i] = answers.get(i, b"") + chunk
                    else:
                        ended.add(i)
                        sel.unregister(s)
            self.assertEqual(len(ended), self.N, f"only {len(ended)} of {self.N} slow-loris connections ended")
            statuses = {a[:12] for a in answers.values()}
            self.assertEqual(statuses, {b"HTTP/1.1 408"}, f"answers: {list(answers.values())[:3]!r}")
            self.assertEqual(len(answers), self.N)
        finally:
            for s in lorises:
                with contextlib.suppress(Exception):
                    sel.unregister(s)
                s.close()
            sel.close()
        wait_log(self, rw, r"request rejected.*status=408")
        self.finish_alongside()


if __name__ == "__main__":
    unittest.main()
