"""What is not a TLS handshake, on a TLS listener: plain HTTP, random bytes, a broken record, a
ClientHello that stalls, a handshake that never finishes. Each connection is closed with a log line
and ringway_errors_total{kind="tls"}; a wss:// connection open meanwhile keeps echoing and a new one
works right after."""

import asyncio
import os
import random
import socket
import ssl
import time
import unittest

import harness as h
import tls_helpers as t

HANDSHAKE_TIMEOUT = 1.0


def client_hello(server_hostname=t.ALPHA):
    """The bytes of a real ClientHello (python's ssl over memory BIOs)."""
    ctx = t.client_context(t.Pki.get().ca_crt)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname=server_hostname)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


class TlsErrors(h.IntegrationTestCase):
    def setUp(self):
        super().setUp()
        self.pki = t.Pki.get()
        self.backends = self.start_backends(1)
        self.rw = self.start_ringway(
            [h.pool("chat", self.backends)],
            listener_extra={"tls": t.listener_tls((self.pki.alpha_crt, self.pki.alpha_key))},
            top={"timeouts": {"handshake": "1s"}})

    def tls_errors(self):
        return t.metric_value(self.rw, "ringway_errors_total", kind="tls")

    def wait_tls_errors(self, at_least):
        deadline = time.monotonic() + h.budget(h.IO_TIMEOUT)
        while True:
            v = self.tls_errors()
            if v >= at_least or time.monotonic() > deadline:
                return v
            time.sleep(0.02)

    def wait_log_count(self, text, at_least):
        deadline = time.monotonic() + h.budget(h.IO_TIMEOUT)
        while True:
            n = self.rw.log().count(text)
            if n >= at_least or time.monotonic() > deadline:
                return n
            time.sleep(0.02)

    def assert_wss_works(self, tag):
        reply, _der = h.run(t.echo_once(self.rw.port, f"still fine after {tag}"))
        self.assertEqual(reply, f"still fine after {tag}")

    def send_and_expect_close(self, data):
        """Sends `data`, then expects the connection to end; returns (bytes read, how)."""
        with h.raw_connect(self.rw.port) as s:
            s.sendall(data)
            got, how = h.read_until_eof(s, timeout=h.IO_TIMEOUT)
        self.assertIn(how, ("eof", "reset"), f"connection not closed; read {got[:200]!r}")
        return got, how

    def bad_input_case(self, name, data, log_detail):
        before = self.tls_errors()
        failed0 = self.rw.log().count("tls handshake failed")
        got, _how = self.send_and_expect_close(data)
        # Nothing in plaintext comes back (no HTTP answer outside TLS); at most a TLS alert.
        self.assertFalse(got.startswith(b"HTTP/"), f"{name}: plaintext answer {got[:200]!r}")
        if got:
            self.assertEqual(got[0], 0x15, f"{name}: not a TLS alert: {got[:50]!r}")
        self.assertGreaterEqual(self.wait_tls_errors(before + 1), before + 1,
                                f"{name}: ringway_errors_total{{kind=\"tls\"}} did not move")
        self.assertGreaterEqual(self.wait_log_count("tls handshake failed", failed0 + 1),
                                failed0 + 1, f"{name}: no log line:\n{self.rw.log()[-3000:]}")
        if log_detail:
            self.assertIn(log_detail, self.rw.log(), f"{name}:\n{self.rw.log()[-3000:]}")
        self.assertEqual(self.tls_errors(), before + 1, f"{name}: counted more than once")
        self.assert_wss_works(name)

    def test_plain_http_to_tls_port(self):
        req, _key = h.upgrade_request("/ws")
        self.bad_input_case("plain HTTP upgrade", req, "plain HTTP sent to a TLS port")
        self.bad_input_case("plain HTTP GET", b"GET /metrics HTTP/1.0\r\n\r\n",
                            "plain HTTP sent to a TLS port")

    def test_random_bytes_to_tls_port(self):
        rnd = random.Random(6)
        for i in range(3):
            data = bytes(rnd.randrange(256) for _ in range(512))
            if data[0] == 0x16:  # would look like the start of a handshake record
                data = b"\x00" + data[1:]
            self.bad_input_case(f"random bytes #{i}", data, "not a TLS handshake")

    def test_broken_handshake_record(self):
        # A handshake record header announcing 64 bytes, then 64 bytes that are no ClientHello.
        rnd = random.Random(7)
        data = b"\x16\x03\x01\x00\x40" + bytes(rnd.randrange(256) for _ in range(64))
        self.bad_input_case("broken ClientHello", data, None)
        # A whole ClientHello with its body corrupted from the session id length on (record and
        # handshake headers, version and random intact).
        hello = bytearray(client_hello())
        for i in range(43, len(hello)):
            hello[i] ^= 0x5A
        self.bad_input_case("corrupted ClientHello", bytes(hello), None)

    def test_established_connection_undisturbed_by_garbage(self):
        async def go():
            async with t.wss_connect(self.rw.port, "/ws") as ws:
                for i in range(5):
                    loop = asyncio.get_running_loop()
                    await loop.run_in_executor(None, self.send_and_expect_close,
                                               os.urandom(300).replace(b"\x16", b"\x17", 1))
                    msg = os.urandom(70000)
                    await ws.send(msg)
                    self.assertTrue(await asyncio.wait_for(ws.recv(), h.IO_TIMEOUT) == msg)
        h.run(go())

    def stall_case(self, name, first_bytes, finish_hello=False):
        before = self.tls_errors()
        timed0 = self.rw.log().count("tls handshake timed out")
        s = h.raw_connect(self.rw.port)
        try:
            start = time.monotonic()
            if first_bytes:
                s.sendall(first_bytes)
            got, how = h.read_until_eof(s, timeout=h.IO_TIMEOUT)
            elapsed = time.monotonic() - start
        finally:
            s.close()
        self.assertIn(how, ("eof", "reset"), f"{name}: not dropped: {how}")
        self.assertFalse(b"HTTP/" in got, f"{name}: plaintext answer {got[:200]!r}")
        if finish_hello:
            self.assertTrue(got.startswith(b"\x16\x03"), f"{name}: no ServerHello: {got[:20]!r}")
        # Dropped by timeouts.handshake (1s), not by anything shorter, nor the 10s default.
        self.assertGreaterEqual(elapsed, HANDSHAKE_TIMEOUT * 0.9, f"{name}: dropped too early")
        self.assertLess(elapsed, 8.0, f"{name}: dropped after {elapsed:.1f}s, not at 1s")
        self.assertGreaterEqual(self.wait_log_count("tls handshake timed out", timed0 + 1),
                                timed0 + 1, f"{name}: no log line:\n{self.rw.log()[-3000:]}")
        self.assertEqual(self.wait_tls_errors(before + 1), before + 1, f"{name}: not counted once")
        return elapsed

    def test_partial_client_hello_dropped_at_handshake_timeout(self):
        hello = client_hello()
        self.stall_case("half a ClientHello", hello[: len(hello) // 2])
        self.stall_case("five bytes of record header", hello[:5])
        self.stall_case("nothing at all", b"")
        self.assert_wss_works("stalled handshakes")

    def test_client_that_never_finishes_handshake_dropped(self):
        # A whole ClientHello: ringway answers with its flight, then the client goes silent.
        self.stall_case("no client Finished", client_hello(), finish_hello=True)
        self.assert_wss_works("a silent client")

    def test_tls_done_but_no_request_gets_408_over_tls(self):
        before = self.tls_errors()
        ctx = t.client_context(self.pki.ca_crt)
        with socket.create_connection(("127.0.0.1", self.rw.port), timeout=h.IO_TIMEOUT) as raw:
            with ctx.wrap_socket(raw, server_hostname=t.ALPHA) as s:
                head, _rest = h.read_head(s)
        self.assertEqual(head.status, 408, head.raw)
        # A completed TLS handshake is not a TLS error (it is a handshake_timeout).
        self.assertEqual(self.tls_errors(), before)
        # Counted when the connection ends, on its worker's thread: a moment after the client left.
        deadline = time.monotonic() + h.budget(h.IO_TIMEOUT)
        while (t.metric_value(self.rw, "ringway_errors_total", kind="handshake_timeout") < 1 and
               time.monotonic() < deadline):
            time.sleep(0.02)
        self.assertGreaterEqual(
            t.metric_value(self.rw, "ringway_errors_total", kind="handshake_timeout"), 1)
        self.assert_wss_works("a 408")

    def test_concurrent_stalls_do_not_block_others(self):
        hello = client_hello()
        socks = []
        try:
            for _ in range(20):
                s = h.raw_connect(self.rw.port)
                s.sendall(hello[:30])
                socks.append(s)
            # While 20 handshakes stall, a normal client is served.
            self.assert_wss_works("20 stalled handshakes")
            for s in socks:
                _got, how = h.read_until_eof(s, timeout=h.IO_TIMEOUT)
                self.assertIn(how, ("eof", "reset"))
        finally:
            for s in socks:
                s.close()


if __name__ == "__main__":
    unittest.main()
