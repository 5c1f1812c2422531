"""The foundation's echo cases over wss:// (TLS terminated by ringway, wsecho behind it in plain
TCP), with python3-websockets trusting the test CA; X-Forwarded-Proto is https."""

import asyncio
import os
import unittest

import websockets

import harness as h
import tls_helpers as t


class EchoOverTls(h.IntegrationTestCase):
    def setUp(self):
        super().setUp()
        self.pki = t.Pki.get()
        self.backends = self.start_backends(2)
        self.rw = self.start_ringway(
            [h.pool("chat", self.backends, hash_key="header:X-User")],
            listener_extra={"tls": t.listener_tls((self.pki.alpha_crt, self.pki.alpha_key),
                                                  (self.pki.beta_crt, self.pki.beta_key))})

    def connect(self, user, headers=None, **kw):
        return t.wss_connect(self.rw.port, "/ws", headers or {"X-User": user}, **kw)

    def test_text_binary_and_large_messages(self):
        async def go():
            async with self.connect("alice") as ws:
                cases = ["hello", "unicode: h\u00e9llo \u2603 \U0001F600", b"\x00\x01\xff bin",
                         "", b"", os.urandom(125), os.urandom(126), os.urandom(65535),
                         os.urandom(65536), "x" * 70000, os.urandom(1 << 20),
                         "0123456789abcdef" * (1 << 16)]
                for i, msg in enumerate(cases):
                    await ws.send(msg)
                    got = await asyncio.wait_for(ws.recv(), h.IO_TIMEOUT)
                    self.assertEqual(type(got), type(msg), f"case {i}: type changed")
                    self.assertTrue(got == msg, f"case {i}: content changed ({len(got)} bytes)")
                # Pipelined, several MiB in flight at once over TLS: order and bytes kept.
                msgs = [os.urandom(n) for n in (1, 1000, 70000, 0, 1 << 20, 300000, 5)]
                for m in msgs:
                    await ws.send(m)
                for i, m in enumerate(msgs):
                    got = await asyncio.wait_for(ws.recv(), h.IO_TIMEOUT)
                    self.assertTrue(got == m, f"pipelined message {i} changed")
        h.run(go())

    def test_fragmented_messages(self):
        async def fragments(parts):
            for p in parts:
                yield p
                await asyncio.sleep(0)

        async def go():
            async with self.connect("frag") as ws:
                parts = ["frag-one ", "frag-two ", "", "frag-three " * 1000, "end"]
                await ws.send(fragments(parts))
                self.assertEqual(await asyncio.wait_for(ws.recv(), h.IO_TIMEOUT), "".join(parts))
                bparts = [os.urandom(10), os.urandom(70000), os.urandom(3)]
                await ws.send(fragments(bparts))
                got = await asyncio.wait_for(ws.recv(), h.IO_TIMEOUT)
                self.assertTrue(got == b"".join(bparts), "fragmented binary message changed")
                await ws.send("after")
                self.assertEqual(await asyncio.wait_for(ws.recv(), h.IO_TIMEOUT), "after")
        h.run(go())

    def test_ping_gets_pong(self):
        async def go():
            async with self.connect("pinger") as ws:
                for data in (b"", b"ping-data", os.urandom(125)):
                    await asyncio.wait_for(await ws.ping(data), h.IO_TIMEOUT)
                await ws.send("a")
                waiter = await ws.ping(b"p")
                await ws.send("b")
                self.assertEqual(await asyncio.wait_for(ws.recv(), h.IO_TIMEOUT), "a")
                self.assertEqual(await asyncio.wait_for(ws.recv(), h.IO_TIMEOUT), "b")
                await asyncio.wait_for(waiter, h.IO_TIMEOUT)
        h.run(go())

    def test_close_with_code_both_ways(self):
        async def go():
            ws = await self.connect("closer")
            try:
                await ws.send("before close")
                self.assertEqual(await asyncio.wait_for(ws.recv(), h.IO_TIMEOUT), "before close")
                await ws.close(4000, "bye")
                self.assertEqual(ws.close_code, 4000)
                self.assertEqual(ws.close_reason, "bye")
            finally:
                await ws.close()
            async with self.connect("closed-by-backend") as ws:
                await ws.send("__close__ 4001 later")
                with self.assertRaises(websockets.ConnectionClosed) as cm:
                    await asyncio.wait_for(ws.recv(), h.IO_TIMEOUT)
                self.assertIsNotNone(cm.exception.rcvd, f"no close frame: {cm.exception}")
                self.assertEqual(cm.exception.rcvd.code, 4001)
                self.assertEqual(cm.exception.rcvd.reason, "later")
        h.run(go())

    def test_forwarded_proto_is_https(self):
        async def go():
            async with self.connect("xfp") as ws:
                self.assertEqual(ws.response_headers.get("X-Seen-Forwarded-Proto"), "https")
                self.assertEqual(ws.response_headers.get("X-Seen-Forwarded-For"), "127.0.0.1")
                await ws.send("__headers__")
                head = await asyncio.wait_for(ws.recv(), h.IO_TIMEOUT)
                if isinstance(head, bytes):
                    head = head.decode("latin-1")
                protos = [l.split(":", 1)[1].strip() for l in head.split("\r\n")
                          if l.lower().startswith("x-forwarded-proto:")]
                self.assertEqual(protos, ["https"], f"head seen by the backend:\n{head}")
            # A client's own X-Forwarded-Proto does not survive: ringway sets it.
            async with self.connect("xfp2", headers={"X-User": "xfp2",
                                                     "X-Forwarded-Proto": "http"}) as ws:
                await ws.send("__headers__")
                head = await asyncio.wait_for(ws.recv(), h.IO_TIMEOUT)
                if isinstance(head, bytes):
                    head = head.decode("latin-1")
                protos = [l.split(":", 1)[1].strip() for l in head.split("\r\n")
                          if l.lower().startswith("x-forwarded-proto:")]
                self.assertEqual(protos, ["https"], f"head seen by the backend:\n{head}")
        h.run(go())

    def test_second_certificate_by_sni_and_many_connections(self):
        async def go():
            for i in range(20):
                name = t.BETA if i % 2 else t.ALPHA
                reply, der = await t.echo_once(self.rw.port, f"m{i}", server_hostname=name)
                self.assertEqual(reply, f"m{i}")
                want = self.pki.beta_crt if i % 2 else self.pki.alpha_crt
                self.assertEqual(t.fingerprint_der(der), t.fingerprint_pem(want))
        h.run(go())

    def test_concurrent_connections(self):
        async def one(i):
            async with self.connect(f"c{i}") as ws:
                for j in range(5):
                    msg = os.urandom(1000 * (j + 1))
                    await ws.send(msg)
                    self.assertTrue(await asyncio.wait_for(ws.recv(), h.IO_TIMEOUT) == msg)

        async def go():
            await asyncio.gather(*(one(i) for i in range(40)))
        h.run(go())


if __name__ == "__main__":
    unittest.main()
