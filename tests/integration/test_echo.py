"""Messages, control frames, close handshakes and request forwarding through ringway, with three
wsecho backends behind it and python3-websockets as the client."""

import asyncio
import os
import socket
import unittest

import websockets

import harness as h


class EchoThroughProxy(h.IntegrationTestCase):
    def setUp(self):
        super().setUp()
        self.backends = self.start_backends(3)
        self.rw = self.start_ringway([h.pool("chat", self.backends, hash_key="header:X-User")])

    def test_text_binary_empty_and_large_messages_echo_intact(self):
        async def go():
            async with h.ws_connect(self.rw, "/ws", {"X-User": "alice"}) as ws:
                cases = [
                    "hello",
                    "unicode: h\u00e9llo \u2603 \U0001F600",
                    b"\x00\x01\x02\xff binary",
                    "",
                    b"",
                    os.urandom(125),
                    os.urandom(126),
                    os.urandom(65535),
                    os.urandom(65536),
                    "x" * 65536,
                    os.urandom(1 << 20),
                    ("0123456789abcdef" * (1 << 16)),  # 1 MiB of text
                ]
                for i, msg in enumerate(cases):
                    await ws.send(msg)
                    got = await asyncio.wait_for(ws.recv(), h.IO_TIMEOUT)
                    self.assertEqual(type(got), type(msg), f"case {i}: type changed")
                    self.assertEqual(len(got), len(msg), f"case {i}: length changed")
                    self.assertTrue(got == msg, f"case {i}: content changed")
                # Pipelined: several sent before any is read, order kept.
                msgs = [os.urandom(n) for n in (1, 1000, 70000, 0, 300000, 5)]
                for m in msgs:
                    await ws.send(m)
                for i, m in enumerate(msgs):
                    got = await asyncio.wait_for(ws.recv(), h.IO_TIMEOUT)
                    self.assertTrue(got == m, f"pipelined message {i} changed")
        h.run(go())

    def test_frames_and_a_half_close_sent_before_the_101_arrive_in_order(self):
        # The client does not wait for the 101: its frames (more than ringway holds while the
        # upgrade is in progress) and its FIN follow the head at once. Every frame reaches the
        # backend in order after the 101, the FIN after them, and the connection then ends.
        frames = [os.urandom(1500 + i) for i in range(100)]
        s = h.raw_connect(self.rw.port)
        self.addCleanup(s.close)
        req, key = h.upgrade_request(path="/ws", extra_headers=[("X-User", "early")])
        s.sendall(req + b"".join(h.encode_frame(h.OP_BINARY, f) for f in frames))
        s.shutdown(socket.SHUT_WR)
        head, rest = h.read_head(s)
        self.assertEqual(head.status, 101)
        self.assertEqual(head.get("Sec-WebSocket-Accept"), h.accept_for(key))
        reader = h.FrameReader(s, rest)
        for i, f in enumerate(frames):
            got = reader.read_frame()
            self.assertEqual((got.opcode, got.payload), (h.OP_BINARY, f), f"frame {i}")
        _, how = h.read_until_eof(s, reader.buf)
        self.assertIn(how, ("eof", "reset"))

    def test_fragmented_message_echoes_reassembled(self):
        async def fragments(parts):
            for p in parts:
                yield p
                await asyncio.sleep(0)

        async def go():
            async with h.ws_connect(self.rw, "/ws", {"X-User": "frag"}) as ws:
                parts = ["frag-one ", "frag-two ", "", "frag-three " * 1000, "end"]
                await ws.send(fragments(parts))
                got = await asyncio.wait_for(ws.recv(), h.IO_TIMEOUT)
                self.assertEqual(got, "".join(parts))
                bparts = [os.urandom(10), os.urandom(70000), os.urandom(3)]
                await ws.send(fragments(bparts))
                got = await asyncio.wait_for(ws.recv(), h.IO_TIMEOUT)
                self.assertTrue(got == b"".join(bparts), "fragmented binary message changed")
                # A normal message afterwards is still fine.
                await ws.send("after")
                self.assertEqual(await asyncio.wait_for(ws.recv(), h.IO_TIMEOUT), "after")
        h.run(go())

    def test_ping_gets_pong(self):
        async def go():
            async with h.ws_connect(self.rw, "/ws", {"X-User": "pinger"}) as ws:
                for data in (b"", b"ping-data", os.urandom(125)):
                    waiter = await ws.ping(data)
                    await asyncio.wait_for(waiter, h.IO_TIMEOUT)
                # A ping between messages does not disturb them.
                await ws.send("a")
                waiter = await ws.ping(b"p")
                await ws.send("b")
                self.assertEqual(await asyncio.wait_for(ws.recv(), h.IO_TIMEOUT), "a")
                self.assertEqual(await asyncio.wait_for(ws.recv(), h.IO_TIMEOUT), "b")
                await asyncio.wait_for(waiter, h.IO_TIMEOUT)
        h.run(go())

    def test_client_close_code_and_reason_come_back(self):
        async def go():
            ws = await h.ws_connect(self.rw, "/ws", {"X-User": "closer"})
            try:
                await ws.send("before close")
                self.assertEqual(await asyncio.wait_for(ws.recv(), h.IO_TIMEOUT), "before close")
                await ws.close(4000, "bye")
                self.assertEqual(ws.close_code, 4000)
                self.assertEqual(ws.close_reason, "bye")
            finally:
                await ws.close()
        h.run(go())

    def test_backend_initiated_close_reaches_client(self):
        async def go():
            async with h.ws_connect(self.rw, "/ws", {"X-User": "closed-by-backend"}) as ws:
                await ws.send("__close__ 4001 later")
                with self.assertRaises(websockets.ConnectionClosed) as cm:
                    await asyncio.wait_for(ws.recv(), h.IO_TIMEOUT)
                self.assertIsNotNone(cm.exception.rcvd, f"no close frame received: {cm.exception}")
                self.assertEqual(cm.exception.rcvd.code, 4001)
                self.assertEqual(cm.exception.rcvd.reason, "later")
        h.run(go())

    def test_subprotocol_negotiated_through_proxy(self):
        async def go():
            async with h.ws_connect(self.rw, "/ws", {"X-User": "sub"},
                                    subprotocols=["chat.v2", "chat.v1"]) as ws:
                self.assertEqual(ws.subprotocol, "chat.v2")
                self.assertEqual(ws.response_headers.get("Sec-WebSocket-Protocol"), "chat.v2")
                await ws.send("with subprotocol")
                self.assertEqual(await asyncio.wait_for(ws.recv(), h.IO_TIMEOUT),
                                 "with subprotocol")
        h.run(go())

    def test_forwarded_headers_seen_by_backend(self):
        async def go():
            async with h.ws_connect(self.rw, "/ws", {"X-User": "xff"}) as ws:
                self.assertEqual(ws.response_headers.get("X-Seen-Forwarded-For"), "127.0.0.1")
                self.assertEqual(ws.response_headers.get("X-Seen-Forwarded-Proto"), "http")
                self.assertIn(ws.response_headers.get("X-Backend"), {"b1", "b2", "b3"})
            async with h.ws_connect(self.rw, "/ws", {"X-User": "xff",
                                                     "X-Forwarded-For": "10.1.2.3"}) as ws:
                seen = ws.response_headers.get("X-Seen-Forwarded-For")
                self.assertIsNotNone(seen)
                self.assertEqual([p.strip() for p in seen.split(",")], ["10.1.2.3", "127.0.0.1"],
                                 f"X-Forwarded-For not appended: {seen!r}")
                self.assertEqual(ws.response_headers.get("X-Seen-Forwarded-Proto"), "http")
        h.run(go())

    def test_request_target_and_other_headers_forwarded_unchanged(self):
        async def go():
            target = "/ws/a%2Fb?x=1&y=%20z"
            async with h.ws_connect(self.rw, target,
                                    {"X-User": "target", "X-Custom-Thing": "Some  Value;q=1",
                                     "Sec-WebSocket-Extensions": "x-test-ext; a=1"}) as ws:
                self.assertEqual(ws.response_headers.get("X-Seen-Target"), target)
                await ws.send("__headers__")
                head = await asyncio.wait_for(ws.recv(), h.IO_TIMEOUT)
                if isinstance(head, bytes):
                    head = head.decode("latin-1")
                first = head.split("\r\n", 1)[0]
                self.assertEqual(first, f"GET {target} HTTP/1.1")
                self.assertIn("X-Custom-Thing: Some  Value;q=1\r\n", head)
                self.assertIn("Sec-WebSocket-Extensions: x-test-ext; a=1\r\n", head)
                self.assertIn("X-User: target\r\n", head)
        h.run(go())

    def test_many_sequential_connections(self):
        async def go():
            for i in range(20):
                async with h.ws_connect(self.rw, "/ws", {"X-User": f"seq-{i}"}) as ws:
                    await ws.send(f"m{i}")
                    self.assertEqual(await asyncio.wait_for(ws.recv(), h.IO_TIMEOUT), f"m{i}")
        h.run(go())


if __name__ == "__main__":
    unittest.main()
