"""websocket.ping_interval and websocket.idle_timeout.

- An idle but alive client (python-websockets answers pings by itself; a raw client that answers
  them) stays open over several intervals; ringway's Pings carry 8 bytes of its own, and their
  Pongs are absorbed: the backend never sees one.
- A client that stops reading and never answers (a vanished client) is detected: after about two
  intervals the backend gets Close 1001 and the client's socket is cut.
- idle_timeout: no bytes either way closes with 1001 to both sides; traffic in either direction
  keeps the connection open.
50 well-behaved connections alongside see no error at all."""

import asyncio
import threading
import time
import unittest

import harness as h
from test_limits_helpers import (CLOSE_GUARD, Alongside, RecordingBackend, assert_backend_closed_1001,
                                 drain_until_close, two_pool_config, wait_log)

INTERVAL = 1.0  # seconds; ping_interval and idle_timeout in these tests


class Base(h.IntegrationTestCase):
    def setup_ringway(self, websocket, script=None):
        self.rec = RecordingBackend(self, script=script)
        echo = self.start_backend("e1")
        self.rw = self.start_ringway_config(two_pool_config(echo, self.rec, websocket=websocket))
        self.load = Alongside(self.rw.port).start()
        return self.rw

    def finish_alongside(self):
        self.assertEqual(self.load.stop(), [], "the well-behaved connections saw errors")


class PingInterval(Base):
    WS = {"ping_interval": "1s"}

    def test_idle_python_client_stays_open_and_its_pongs_never_reach_the_backend(self):
        rw = self.setup_ringway(self.WS)

        async def idle_client():
            async with h.ws_connect(rw.port, "/rec/python-idle") as ws:
                await ws.send("before")
                self.assertEqual(await ws.recv(), "before")
                await asyncio.sleep(4.5 * INTERVAL)  # silent: ringway pings, websockets answers
                await ws.send("after")
                self.assertEqual(await asyncio.wait_for(ws.recv(), h.IO_TIMEOUT), "after")
                await ws.close(1000)
                self.assertEqual(ws.close_code, 1000)

        h.run(idle_client())
        conn = self.rec.wait_path("/rec/python-idle")
        self.assertTrue(conn.ended.wait(h.budget(CLOSE_GUARD)))
        self.assertEqual([(f.opcode, f.payload) for f in conn.snapshot()],
                         [(h.OP_TEXT, b"before"), (h.OP_TEXT, b"after"), (h.OP_CLOSE, h.close_payload(1000))],
                         "the backend must see exactly the client's messages: no Ping, no Pong")
        self.assertNotIn("client did not answer ping", rw.log())
        self.finish_alongside()

    def test_raw_client_answering_pings_sees_8_byte_pings_every_interval(self):
        rw = self.setup_ringway(self.WS)
        s, _, reader = h.raw_upgrade(rw.port, "/rec/raw-alive")
        with s:
            s.sendall(h.encode_frame(h.OP_TEXT, "hello"))
            self.assertEqual(reader.read_frame().payload, b"hello")
            # An unsolicited Pong of the client's own is not ringway's: it goes on to the backend.
            s.sendall(h.encode_frame(h.OP_PONG, "mine"))
            pings = []
            deadline = time.monotonic() + 4.5 * INTERVAL
            while time.monotonic() < deadline:
                try:
                    f = reader.read_frame(timeout=max(0.1, deadline - time.monotonic()))
                except AssertionError as e:
                    if "timed out" in str(e):
                        break
                    raise
                self.assertEqual(f.opcode, h.OP_PING, f"unexpected {f!r} (close code {f.close_code})")
                self.assertEqual(len(f.payload), 8, f"ringway's Ping carries 8 bytes: {f!r}")
                self.assertFalse(f.masked)
                pings.append(f.payload)
                s.sendall(h.encode_frame(h.OP_PONG, f.payload))
            self.assertGreaterEqual(len(pings), 2, "ringway did not ping a silent client every interval")
            self.assertEqual(len(set(pings)), len(pings), "each Ping should carry a payload of its own")
            # Still open and relaying.
            s.sendall(h.encode_frame(h.OP_TEXT, "still here"))
            f = reader.read_frame()
            while f.opcode == h.OP_PING:
                s.sendall(h.encode_frame(h.OP_PONG, f.payload))
                f = reader.read_frame()
            self.assertEqual(f.payload, b"still here")
            s.sendall(h.encode_frame(h.OP_CLOSE, h.close_payload(1000)))
            f = reader.read_frame()
            while f.opcode == h.OP_PING:
                f = reader.read_frame()
            self.assertEqual((f.opcode, f.close_code), (h.OP_CLOSE, 1000))
        conn = self.rec.wait_path("/rec/raw-alive")
        self.assertTrue(conn.ended.wait(h.budget(CLOSE_GUARD)))
        self.assertEqual([(f.opcode, f.payload) for f in conn.snapshot()],
                         [(h.OP_TEXT, b"hello"), (h.OP_PONG, b"mine"), (h.OP_TEXT, b"still here"),
                          (h.OP_CLOSE, h.close_payload(1000))],
                         "only the client's own Pong may reach the backend")
        self.finish_alongside()

    def test_client_that_never_answers_is_cut_and_the_backend_gets_1001(self):
        rw = self.setup_ringway(self.WS)
        s, _, reader = h.raw_upgrade(rw.port, "/rec/dead")
        with s:
            s.sendall(h.encode_frame(h.OP_TEXT, "last words"))
            self.assertEqual(reader.read_frame().payload, b"last words")
            started = time.monotonic()
            # From here the client neither reads nor answers: a vanished peer.
            conn = self.rec.wait_path("/rec/dead")
            assert_backend_closed_1001(self, conn, timeout=2 * INTERVAL + CLOSE_GUARD)
            took = time.monotonic() - started
            # Failure guard only: not before the first interval has passed (it is not instant).
            self.assertGreater(took, INTERVAL * 0.9, f"cut after {took:.2f}s")
            # The client's socket was cut: after ringway's Ping, the connection ends.
            frames = []
            while True:
                try:
                    frames.append(reader.read_frame(timeout=CLOSE_GUARD))
                except AssertionError as e:
                    self.assertIn("closed", str(e), "the client's socket was not cut")
                    break
                except ConnectionResetError:
                    break
            self.assertTrue(frames and frames[0].opcode == h.OP_PING, frames)
        wait_log(self, rw, r"client did not answer ping")
        wait_log(self, rw, r"connection closed.*path=/rec/dead .*reason=ping_timeout")
        self.assertEqual([f.opcode for f in conn.snapshot()], [h.OP_TEXT, h.OP_CLOSE],
                         "the backend saw something besides the message and the Close")
        self.finish_alongside()

    def test_client_answering_with_a_wrong_pong_is_cut(self):
        rw = self.setup_ringway(self.WS)
        s, _, reader = h.raw_upgrade(rw.port, "/rec/wrong-pong")
        with s:
            f = reader.read_frame(timeout=INTERVAL + CLOSE_GUARD)
            self.assertEqual(f.opcode, h.OP_PING)
            wrong = bytes(b ^ 0xFF for b in f.payload)
            s.sendall(h.encode_frame(h.OP_PONG, wrong))
            conn = self.rec.wait_path("/rec/wrong-pong")
            assert_backend_closed_1001(self, conn, timeout=2 * INTERVAL + CLOSE_GUARD)
            # The wrong Pong was not ringway's, so it went on to the backend.
            self.assertEqual([(f.opcode, f.payload) for f in conn.snapshot()][:1], [(h.OP_PONG, wrong)])
        wait_log(self, rw, r"client did not answer ping")
        self.finish_alongside()


class IdleTimeout(Base):
    WS = {"idle_timeout": "1s"}

    def test_no_bytes_either_way_closes_both_sides_with_1001(self):
        rw = self.setup_ringway(self.WS)
        s, _, reader = h.raw_upgrade(rw.port, "/rec/idle")
        with s:
            s.sendall(h.encode_frame(h.OP_TEXT, "only message"))
            self.assertEqual(reader.read_frame().payload, b"only message")
            close, how = drain_until_close(s, reader, timeout=INTERVAL + CLOSE_GUARD)
            self.assertIsNotNone(close, f"no Close to the idle client (connection {how})")
            self.assertEqual(close.close_code, 1001)
            # The client answers the Close, as a client does, and the connection ends.
            s.sendall(h.encode_frame(h.OP_CLOSE, h.close_payload(1001)))
        conn = self.rec.wait_path("/rec/idle")
        assert_backend_closed_1001(self, conn)
        line = wait_log(self, rw, r"closing websocket.*reason=idle_timeout")
        self.assertIn("backend=rec", line)
        wait_log(self, rw, r"connection closed.*path=/rec/idle .*reason=idle_timeout")
        self.finish_alongside()

    def test_python_client_idle_gets_1001(self):
        rw = self.setup_ringway(self.WS)

        async def idle():
            async with h.ws_connect(rw.port, "/rec/idle-python") as ws:
                await ws.send("x")
                await ws.recv()
                try:
                    await asyncio.wait_for(ws.recv(), INTERVAL + CLOSE_GUARD)
                    self.fail("a message instead of a Close")
                except asyncio.TimeoutError:
                    self.fail("the idle connection was not closed")
                except Exception:  # ConnectionClosed
                    pass
                await ws.wait_closed()
                return ws.close_code

        self.assertEqual(h.run(idle()), 1001)
        assert_backend_closed_1001(self, self.rec.wait_path("/rec/idle-python"))
        self.finish_alongside()

    def test_traffic_either_way_keeps_it_open(self):
        # The backend talks every 300 ms on its own, on request; the client never sends meanwhile.
        def script(conn):
            ticker_stop = threading.Event()

            def ticker():
                i = 0
                while not ticker_stop.wait(0.3):
                    conn.send(h.encode_frame(h.OP_TEXT, f"tick {i}", mask=False))
                    i += 1

            t = None
            try:
                while True:
                    f = conn.read_frame(timeout=60)
                    if f is None:
                        return
                    if f.opcode == h.OP_TEXT and f.payload == b"start ticking" and t is None:
                        t = threading.Thread(target=ticker, daemon=True)
                        t.start()
                    elif f.opcode == h.OP_TEXT and f.payload == b"stop ticking":
                        ticker_stop.set()
                        if t:
                            t.join()
                        conn.send(h.encode_frame(h.OP_TEXT, "stopped", mask=False))
                    elif f.opcode == h.OP_TEXT:
                        conn.send(h.encode_frame(h.OP_TEXT, f.payload, mask=False))
                    elif f.opcode == h.OP_CLOSE:
                        ticker_stop.set()
                        conn.send(h.encode_frame(h.OP_CLOSE, f.payload[:2], mask=False))
                        conn.shutdown_write()
                        conn.serve(echo=False)
                        return
            finally:
                ticker_stop.set()

        rw = self.setup_ringway(self.WS, script=script)
        s, _, reader = h.raw_upgrade(rw.port, "/rec/busy")
        with s:
            # Client to backend: a message every 300 ms for 3 intervals.
            for i in range(10):
                s.sendall(h.encode_frame(h.OP_TEXT, f"c{i}"))
                f = reader.read_frame()
                self.assertEqual((f.opcode, f.payload), (h.OP_TEXT, f"c{i}".encode()), f.close_code)
                time.sleep(0.3)
            # Backend to client only, for 3 intervals.
            s.sendall(h.encode_frame(h.OP_TEXT, "start ticking"))
            end = time.monotonic() + 3 * INTERVAL
            ticks = 0
            while time.monotonic() < end:
                f = reader.read_frame()
                self.assertEqual(f.opcode, h.OP_TEXT, f"closed with {f.close_code} despite traffic")
                ticks += f.payload.startswith(b"tick")
            s.sendall(h.encode_frame(h.OP_TEXT, "stop ticking"))
            while True:
                f = reader.read_frame()
                self.assertEqual(f.opcode, h.OP_TEXT, f"closed with {f.close_code}")
                if f.payload == b"stopped":
                    break
            self.assertGreater(ticks, 3)
            s.sendall(h.encode_frame(h.OP_CLOSE, h.close_payload(1000)))
            f = reader.read_frame()
            self.assertEqual((f.opcode, f.close_code), (h.OP_CLOSE, 1000))
        self.assertNotIn("reason=idle_timeout", rw.log())
        self.finish_alongside()


if __name__ == "__main__":
    unittest.main()
