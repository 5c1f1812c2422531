"""Exact bytes on the wire: early data both ways, relayed refusals, and every error status of the
contract, spoken over raw sockets."""

import base64
import os
import socket
import threading
import time
import unittest

import harness as h

# Guard for a local error answer (400, 426, ...): generous, but short enough that a file full of
# unanswered requests still ends in time.
ERROR_TIMEOUT = 6.0


def expect_status_then_close(tc, head, body, how, status):
    tc.assertEqual(head.status, status, f"expected {status}, got {head.raw!r} body {body!r}")
    tc.assertTrue(head.status_line.startswith("HTTP/1.1 "), head.status_line)
    tc.assertNotEqual(how, "timeout", "the connection was not closed after the error response")


class EarlyData(h.IntegrationTestCase):
    def test_request_and_first_frame_in_one_write_are_echoed(self):
        backends = self.start_backends(3)
        rw = self.start_ringway([h.pool("chat", backends)])
        frames = (h.encode_frame(h.OP_TEXT, "early bird")
                  + h.encode_frame(h.OP_BINARY, bytes(range(256)))
                  + h.encode_frame(h.OP_TEXT, "third"))
        s, head, reader = h.raw_upgrade(rw.port, "/ws", first_bytes=frames)
        with s:
            self.assertIn(head.get("X-Backend"), {"b1", "b2", "b3"})
            f = reader.read_frame()
            self.assertEqual((f.opcode, f.payload, f.fin, f.masked), (h.OP_TEXT, b"early bird", True, False))
            f = reader.read_frame()
            self.assertEqual((f.opcode, f.payload), (h.OP_BINARY, bytes(range(256))))
            f = reader.read_frame()
            self.assertEqual((f.opcode, f.payload), (h.OP_TEXT, b"third"))
            # And a clean close handshake afterwards.
            s.sendall(h.encode_frame(h.OP_CLOSE, h.close_payload(1000, "done")))
            f = reader.read_frame()
            self.assertEqual(f.opcode, h.OP_CLOSE)
            self.assertEqual(f.close_code, 1000)
            _, how = h.read_until_eof(s, reader.buf)
            self.assertNotEqual(how, "timeout")

    def test_backend_101_and_first_frame_in_one_write_both_reach_client(self):
        backends = [self.start_backend("hello1", hello=True)]
        rw = self.start_ringway([h.pool("chat", backends)])
        s, head, reader = h.raw_upgrade(rw.port, "/ws")
        with s:
            self.assertEqual(head.get("X-Backend"), "hello1")
            f = reader.read_frame()
            self.assertEqual((f.opcode, f.payload, f.masked), (h.OP_TEXT, b"backend=hello1", False))
            s.sendall(h.encode_frame(h.OP_TEXT, "then echo"))
            f = reader.read_frame()
            self.assertEqual((f.opcode, f.payload), (h.OP_TEXT, b"then echo"))

    def test_backend_refusal_relayed_exactly_then_eof(self):
        backends = [self.start_backend("nope", reject=403)]
        rw = self.start_ringway([h.pool("chat", backends)])

        def exchange(port, early=b""):
            req, _ = h.upgrade_request("/ws/x?y=1")
            with h.raw_connect(port) as s:
                s.sendall(req + early)
                data, how = h.read_until_eof(s)
            return data, how

        direct, _ = exchange(backends[0].port)
        proxied, how = exchange(rw.port, h.encode_frame(h.OP_TEXT, "must not reach backend"))
        self.assertEqual(how, "eof", f"connection not closed cleanly after the refusal: {proxied!r}")

        def split(raw):
            i = raw.index(b"\r\n\r\n") + 4
            lines = raw[:i].split(b"\r\n")
            # A Date header, if any, may differ by a second between the two answers.
            return lines[0], [l for l in lines[1:] if not l.lower().startswith(b"date:")], raw[i:]

        d_status, d_headers, d_body = split(direct)
        p_status, p_headers, p_body = split(proxied)
        self.assertTrue(p_status.startswith(b"HTTP/1.1 403"), proxied)
        self.assertEqual(p_body, b"rejected by nope\n")
        self.assertEqual(p_status, d_status)
        self.assertEqual(p_headers, d_headers)
        self.assertEqual(p_body, d_body)

    def test_early_client_bytes_never_sent_to_refusing_backend(self):
        received = []
        done = threading.Event()

        def refuse(conn):
            head, rest = h.read_head(conn)
            # Anything arriving now (or already with the head) would be the client's early frame.
            extra = rest
            conn.settimeout(0.5)
            try:
                extra += conn.recv(65536)
            except socket.timeout:
                pass
            received.append(extra)
            body = b"go away\n"
            conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\n"
                         b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
            done.set()

        port = self.start_raw_backend(refuse)
        rw = self.start_ringway([h.pool("chat", [("raw", f"127.0.0.1:{port}")])])
        req, _ = h.upgrade_request("/ws")
        with h.raw_connect(rw.port) as s:
            s.sendall(req + h.encode_frame(h.OP_TEXT, "early"))
            head, body, _ = h.read_response(s)
            self.assertEqual(head.status, 403)
            self.assertEqual(body, b"go away\n")
        self.assertTrue(done.wait(h.IO_TIMEOUT))
        self.assertEqual(received, [b""], "client bytes were sent to a backend that refused")


class ErrorStatuses(h.IntegrationTestCase):
    def setUp(self):
        super().setUp()
        self.backends = self.start_backends(2)
        self.rw = self.start_ringway([h.pool("chat", self.backends)],
                                     top={"limits": {"max_header_size": "1KiB"}})

    def status_of(self, request_bytes):
        return h.http_exchange(self.rw.port, request_bytes, timeout=ERROR_TIMEOUT)

    def test_malformed_request_gets_400(self):
        for raw in (b"GARBAGE\r\n\r\n",
                    b"GET / HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n",
                    b"GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n",
                    b"\x16\x03\x01\x00\x05hello\r\n\r\n"):
            with self.subTest(raw=raw):
                head, body, _, how = self.status_of(raw)
                expect_status_then_close(self, head, body, how, 400)

    def test_missing_or_invalid_key_gets_400(self):
        cases = {
            "missing": h.upgrade_request(omit=("sec-websocket-key",))[0],
            "not base64": h.upgrade_request(key="not base64 at all!!")[0],
            "8 bytes": h.upgrade_request(key=base64.b64encode(b"12345678").decode())[0],
            "17 bytes": h.upgrade_request(key=base64.b64encode(b"x" * 17).decode())[0],
        }
        for name, raw in cases.items():
            with self.subTest(case=name):
                head, body, _, how = self.status_of(raw)
                expect_status_then_close(self, head, body, how, 400)

    def test_not_an_upgrade_gets_400(self):
        # Requests that ask for a WebSocket (Upgrade: websocket or a Sec-WebSocket-Key) but are not a
        # valid upgrade. A request asking for no WebSocket at all is plain HTTP, proxied (below).
        cases = {
            "no Upgrade header": h.upgrade_request(omit=("upgrade",))[0],
            "no Connection header": h.upgrade_request(omit=("connection",))[0],
            "Upgrade: h2c": h.upgrade_request(omit=("upgrade",), extra_headers=[("Upgrade", "h2c")])[0],
            "HTTP/1.0": h.upgrade_request(http_version="HTTP/1.0")[0],
        }
        for name, raw in cases.items():
            with self.subTest(case=name):
                head, body, _, how = self.status_of(raw)
                expect_status_then_close(self, head, body, how, 400)

    def test_plain_request_is_proxied_to_the_backend(self):
        # wsecho answers a plain GET itself (400, X-Backend, Connection: close): the answer came
        # from the backend, and the connection ends after it as the backend asked.
        for raw in (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
                    b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n"):
            with self.subTest(raw=raw):
                head, body, _, how = self.status_of(raw)
                self.assertEqual(head.status, 400, body)
                self.assertIn(head.get("X-Backend"), ("b1", "b2"), head.raw)
                self.assertIn(b"expected a WebSocket upgrade", body)
                self.assertEqual(head.get("Connection"), "close")
                self.assertIn(how, ("eof", "reset"))

    def test_post_with_upgrade_headers_gets_400(self):
        raw, _ = h.upgrade_request(method="POST", extra_headers=[("Content-Length", "0")])
        head, body, _, how = self.status_of(raw)
        expect_status_then_close(self, head, body, how, 400)

    def test_connection_header_with_several_tokens_is_accepted(self):
        raw, key = h.upgrade_request(omit=("connection",),
                                     extra_headers=[("Connection", "keep-alive, Upgrade")])
        with h.raw_connect(self.rw.port) as s:
            s.sendall(raw)
            head, _ = h.read_head(s)
            self.assertEqual(head.status, 101, head.raw)
            self.assertEqual(head.get("Sec-WebSocket-Accept"), h.accept_for(key))

    def test_wrong_version_gets_426_with_version_13(self):
        for version in ("8", "12", "14"):
            with self.subTest(version=version):
                raw, _ = h.upgrade_request(version=version)
                head, body, _, how = self.status_of(raw)
                expect_status_then_close(self, head, body, how, 426)
                self.assertEqual(head.get("Sec-WebSocket-Version"), "13", head.raw)

    def test_oversized_head_gets_431(self):
        raw, _ = h.upgrade_request(extra_headers=[("X-Padding", "p" * 2000)])
        head, body, _, how = self.status_of(raw)
        expect_status_then_close(self, head, body, how, 431)

    def test_head_just_under_the_limit_is_accepted(self):
        base, _ = h.upgrade_request(extra_headers=[("X-Padding", "")])
        pad = 1024 - len(base) - 64
        raw, key = h.upgrade_request(extra_headers=[("X-Padding", "p" * pad)])
        self.assertLess(len(raw), 1024)
        with h.raw_connect(self.rw.port) as s:
            s.sendall(raw)
            head, _ = h.read_head(s)
            self.assertEqual(head.status, 101, head.raw)

    def test_unmasked_client_frame_gets_close_1002(self):
        s, head, reader = h.raw_upgrade(self.rw.port, "/ws")
        with s:
            s.sendall(h.encode_frame(h.OP_TEXT, "unmasked", mask=False))
            f = reader.read_frame()
            self.assertEqual(f.opcode, h.OP_CLOSE, f"expected a Close frame, got {f!r}")
            self.assertEqual(f.close_code, 1002, f)
            self.assertFalse(f.masked)
            with_eof = h.read_until_eof(s, reader.buf)[1]
            self.assertNotEqual(with_eof, "timeout", "connection not closed after Close 1002")

    def test_bad_opcode_gets_close_1002(self):
        s, head, reader = h.raw_upgrade(self.rw.port, "/ws")
        with s:
            s.sendall(h.encode_frame(h.OP_TEXT, "fine"))
            f = reader.read_frame()
            self.assertEqual((f.opcode, f.payload), (h.OP_TEXT, b"fine"))
            s.sendall(h.encode_frame(0x3, "reserved opcode"))
            f = reader.read_frame()
            self.assertEqual(f.opcode, h.OP_CLOSE, f"expected a Close frame, got {f!r}")
            self.assertEqual(f.close_code, 1002, f)


class HandshakeTimeout(h.IntegrationTestCase):
    def test_unfinished_head_gets_408_and_close(self):
        backends = self.start_backends(1)
        rw = self.start_ringway([h.pool("chat", backends)],
                                top={"timeouts": {"handshake": "500ms"}})
        with h.raw_connect(rw.port) as s:
            s.sendall(b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n")
            head, body, _ = h.read_response(s)
            self.assertEqual(head.status, 408, head.raw)
            _, how = h.read_until_eof(s)
            self.assertNotEqual(how, "timeout", "connection not closed after 408")
        # Nothing sent at all: closed too (408 or a bare close).
        with h.raw_connect(rw.port) as s:
            data, how = h.read_until_eof(s)
            self.assertNotEqual(how, "timeout", "idle connection never closed")
            if data:
                self.assertTrue(data.startswith(b"HTTP/1.1 408"), data)


class BackendFailures(h.IntegrationTestCase):
    def test_no_backend_reachable_gets_502(self):
        dead = [("d1", f"127.0.0.1:{h.free_port()}"), ("d2", f"127.0.0.1:{h.free_port()}"),
                ("d3", f"127.0.0.1:{h.free_port()}")]
        rw = self.start_ringway([h.pool("chat", dead, connect_retries=2)])
        raw, _ = h.upgrade_request("/ws")
        head, body, _, how = h.http_exchange(rw.port, raw, timeout=ERROR_TIMEOUT)
        expect_status_then_close(self, head, body, how, 502)

    def test_101_with_wrong_accept_gets_502(self):
        seen = []

        def bad_accept(conn):
            head, _ = h.read_head(conn)
            seen.append(head)
            wrong = base64.b64encode(b"\0" * 20).decode()
            conn.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                          f"Connection: Upgrade\r\nSec-WebSocket-Accept: {wrong}\r\n\r\n").encode())
            h.read_until_eof(conn, timeout=h.IO_TIMEOUT)

        def no_accept(conn):
            h.read_head(conn)
            conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                         b"Connection: Upgrade\r\n\r\n")
            h.read_until_eof(conn, timeout=h.IO_TIMEOUT)

        for name, handler in (("wrong accept", bad_accept), ("no accept", no_accept)):
            with self.subTest(case=name):
                port = self.start_raw_backend(handler)
                rw = self.start_ringway([h.pool("chat", [("raw", f"127.0.0.1:{port}")])])
                raw, _ = h.upgrade_request("/ws")
                head, body, _, how = h.http_exchange(rw.port, raw, timeout=ERROR_TIMEOUT)
                expect_status_then_close(self, head, body, how, 502)
        self.assertEqual(len(seen), 1)

    def test_connect_retry_reaches_the_live_backend(self):
        live = self.start_backend("live")
        entries = [("dead1", f"127.0.0.1:{h.free_port()}"), ("dead2", f"127.0.0.1:{h.free_port()}"),
                   ("live", live.address)]
        rw = self.start_ringway([h.pool("chat", entries, hash_key="header:X-User",
                                        connect_retries=2)])
        for i in range(12):
            s, head, reader = h.raw_upgrade(rw.port, "/ws",
                                            extra_headers=[("X-User", f"user-{i}")])
            with s:
                self.assertEqual(head.get("X-Backend"), "live")


if __name__ == "__main__":
    unittest.main()
