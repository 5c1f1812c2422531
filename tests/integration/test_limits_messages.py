"""Message-level limits on an established WebSocket: websocket.max_message_size (1009 to the sender,
1001 to the other side, both directions), websocket.messages_per_second + burst (1008 to the
client, 1001 to the backend; Ping/Pong in a bucket of their own, a Close never refused), and a
client sending at the rate is never cut. Every test runs 50 well-behaved connections alongside,
which must see no error at all."""

import time
import unittest

import harness as h
from test_limits_helpers import (Alongside, RecordingBackend, assert_backend_closed_1001, metric,
                                 read_close_then_eof, two_pool_config, wait_log)

KIB = 1024


class Base(h.IntegrationTestCase):
    def setup_ringway(self, websocket, script=None):
        self.rec = RecordingBackend(self, script=script)
        echo = self.start_backend("e1")
        self.rw = self.start_ringway_config(two_pool_config(echo, self.rec, websocket=websocket))
        self.load = Alongside(self.rw.port).start()
        return self.rw

    def finish_alongside(self):
        errors = self.load.stop()
        self.assertEqual(errors, [], "the well-behaved connections saw errors")
        self.assertGreater(self.load.echoes, 0)

    def echo_once(self, s, reader, text):
        s.sendall(h.encode_frame(h.OP_TEXT, text))
        f = reader.read_frame()
        self.assertEqual((f.opcode, f.payload), (h.OP_TEXT, text.encode()))


class MaxMessageSize(Base):
    def test_client_message_over_limit_gets_1009_backend_1001(self):
        rw = self.setup_ringway({"max_message_size": "64KiB"})
        s, _, reader = h.raw_upgrade(rw.port, "/rec/big")
        with s:
            self.echo_once(s, reader, "small first")
            # A message at the limit passes whole.
            at_limit = bytes(64 * KIB)
            s.sendall(h.encode_frame(h.OP_BINARY, at_limit))
            f = reader.read_frame()
            self.assertEqual((f.opcode, len(f.payload)), (h.OP_BINARY, 64 * KIB))
            # One byte over: refused from its header; the payload never reaches the backend.
            frame = h.encode_frame(h.OP_BINARY, bytes(64 * KIB + 1))
            s.sendall(frame[:4096])
            read_close_then_eof(self, s, reader, 1009)
        conn = self.rec.wait_conn()
        assert_backend_closed_1001(self, conn)
        self.assertEqual(conn.opcodes(), [h.OP_TEXT, h.OP_BINARY, h.OP_CLOSE],
                         f"the backend got {conn.snapshot()!r}")
        line = wait_log(self, rw, r"message too big")
        self.assertIn("from=client", line)
        wait_log(self, rw, r"connection closed.*reason=too_big")
        self.assertGreaterEqual(metric(rw, "ringway_errors_total", kind="too_big"), 1)
        self.finish_alongside()

    def test_fragmented_client_message_over_limit_counts_the_sum(self):
        rw = self.setup_ringway({"max_message_size": "64KiB"})
        s, _, reader = h.raw_upgrade(rw.port, "/rec/frag")
        with s:
            # 40 KiB + 40 KiB: each fragment is under the limit, the message is not.
            s.sendall(h.encode_frame(h.OP_BINARY, bytes(40 * KIB), fin=False))
            s.sendall(h.encode_frame(h.OP_CONT, bytes(40 * KIB), fin=True))
            before, _ = read_close_then_eof(self, s, reader, 1009)
            # The backend's echo of the first fragment may or may not have come back before.
            self.assertTrue(all(f.opcode == h.OP_BINARY and not f.fin for f in before), before)
        conn = self.rec.wait_conn()
        assert_backend_closed_1001(self, conn)
        frames = conn.snapshot()
        self.assertEqual([(f.opcode, f.fin, len(f.payload)) for f in frames[:-1]],
                         [(h.OP_BINARY, False, 40 * KIB)], f"the backend got {frames!r}")
        wait_log(self, rw, r"message too big.*from=client")
        self.finish_alongside()

    def test_backend_message_over_limit_gets_1009_client_1001(self):
        def script(conn):
            while True:
                f = conn.read_frame()
                if f is None:
                    return
                if f.opcode == h.OP_TEXT and f.payload == b"send big":
                    conn.send(h.encode_frame(h.OP_BINARY, bytes(64 * KIB + 1), mask=False))
                elif f.opcode == h.OP_TEXT:
                    conn.send(h.encode_frame(h.OP_TEXT, f.payload, mask=False))
                elif f.opcode == h.OP_CLOSE:
                    conn.send(h.encode_frame(h.OP_CLOSE, f.payload[:2], mask=False))
                    conn.shutdown_write()
                    conn.serve(echo=False)  # then wait for the end
                    return

        rw = self.setup_ringway({"max_message_size": "64KiB"}, script=script)
        s, _, reader = h.raw_upgrade(rw.port, "/rec/big-from-backend")
        with s:
            self.echo_once(s, reader, "hello")
            s.sendall(h.encode_frame(h.OP_TEXT, "send big"))
            before, _ = read_close_then_eof(self, s, reader, 1001)
            self.assertEqual(before, [], "bytes of the too-big message reached the client")
        conn = self.rec.wait_conn()
        self.assertTrue(conn.got_close.wait(h.budget(h.IO_TIMEOUT)), conn.snapshot())
        self.assertTrue(conn.ended.wait(h.budget(h.IO_TIMEOUT)), "the backend leg was not closed")
        self.assertEqual(conn.close_codes()[:1], [1009], conn.snapshot())
        line = wait_log(self, rw, r"message too big")
        self.assertIn("from=backend", line)
        # Counted when the connection ends, on its worker's thread: its log line comes after.
        wait_log(self, rw, r"connection closed.*reason=too_big")
        self.assertGreaterEqual(metric(rw, "ringway_errors_total", kind="too_big"), 1)
        self.finish_alongside()


class RateLimit(Base):
    RATE = {"messages_per_second": 10, "burst": 20}

    def test_messages_over_burst_get_1008_backend_1001(self):
        rw = self.setup_ringway(self.RATE)
        s, _, reader = h.raw_upgrade(rw.port, "/rec/flood")
        with s:
            s.sendall(b"".join(h.encode_frame(h.OP_TEXT, f"m{i}") for i in range(40)))
            before, close = read_close_then_eof(self, s, reader, 1008)
        conn = self.rec.wait_conn()
        assert_backend_closed_1001(self, conn)
        data = [f for f in conn.snapshot() if f.opcode == h.OP_TEXT]
        # The burst (20) passes, plus at most a token or two refilled while the write was read.
        self.assertGreaterEqual(len(data), 20)
        self.assertLessEqual(len(data), 22, f"{len(data)} messages passed a burst of 20")
        self.assertEqual([f.payload for f in data], [f"m{i}".encode() for i in range(len(data))])
        self.assertLessEqual(len(before), len(data))
        line = wait_log(self, rw, r"message rate limit exceeded")
        self.assertIn("from=client", line)
        wait_log(self, rw, r"connection closed.*reason=rate_limited")
        self.assertGreaterEqual(metric(rw, "ringway_errors_total", kind="rate_limited"), 1)
        self.finish_alongside()

    def test_fragments_count_once_per_message(self):
        rw = self.setup_ringway(self.RATE)
        s, _, reader = h.raw_upgrade(rw.port, "/rec/fragments")
        with s:
            # 15 messages of 4 fragments each: 60 frames but 15 messages, under the burst of 20.
            out = b""
            for i in range(15):
                out += h.encode_frame(h.OP_TEXT, f"a{i}", fin=False)
                out += h.encode_frame(h.OP_CONT, "b", fin=False)
                out += h.encode_frame(h.OP_CONT, "c", fin=False)
                out += h.encode_frame(h.OP_CONT, "d", fin=True)
            s.sendall(out)
            for i in range(60):
                f = reader.read_frame()
                self.assertNotEqual(f.opcode, h.OP_CLOSE, f"closed after {i} fragments: {f.close_code}")
            s.sendall(h.encode_frame(h.OP_CLOSE, h.close_payload(1000)))
            f = reader.read_frame()
            self.assertEqual((f.opcode, f.close_code), (h.OP_CLOSE, 1000))
        self.finish_alongside()

    def test_ping_flood_gets_1008_and_pings_do_not_eat_the_message_budget(self):
        rw = self.setup_ringway(self.RATE)
        # Pings and messages have a bucket each: 18 of each at once pass.
        s, _, reader = h.raw_upgrade(rw.port, "/rec/mixed")
        with s:
            out = b""
            for i in range(18):
                out += h.encode_frame(h.OP_PING, f"p{i}") + h.encode_frame(h.OP_TEXT, f"m{i}")
            s.sendall(out)
            got = 0
            while got < 18:
                f = reader.read_frame()
                self.assertNotEqual(f.opcode, h.OP_CLOSE, f"closed: {f.close_code} {f.close_reason!r}")
                if f.opcode == h.OP_TEXT:
                    got += 1
            s.sendall(h.encode_frame(h.OP_CLOSE, h.close_payload(1000)))
            f = reader.read_frame()
            self.assertEqual((f.opcode, f.close_code), (h.OP_CLOSE, 1000))

        # A flood of Pings alone: 1008.
        s, _, reader = h.raw_upgrade(rw.port, "/rec/pings")
        with s:
            s.sendall(b"".join(h.encode_frame(h.OP_PING, f"p{i}") for i in range(60)))
            read_close_then_eof(self, s, reader, 1008)
        conn = self.rec.wait_conn(1)
        assert_backend_closed_1001(self, conn)
        pings = [f for f in conn.snapshot() if f.opcode == h.OP_PING]
        self.assertGreaterEqual(len(pings), 20)
        self.assertLessEqual(len(pings), 22, f"{len(pings)} pings passed a burst of 20")
        wait_log(self, rw, r"message rate limit exceeded.*from=client")
        self.finish_alongside()

    def test_pong_flood_gets_1008(self):
        rw = self.setup_ringway({"messages_per_second": 5})  # burst 0: one second's worth (5)
        s, _, reader = h.raw_upgrade(rw.port, "/rec/pongs")
        with s:
            s.sendall(b"".join(h.encode_frame(h.OP_PONG, f"q{i}") for i in range(30)))
            read_close_then_eof(self, s, reader, 1008)
        conn = self.rec.wait_conn()
        assert_backend_closed_1001(self, conn)
        pongs = [f for f in conn.snapshot() if f.opcode == h.OP_PONG]
        self.assertGreaterEqual(len(pongs), 5)
        self.assertLessEqual(len(pongs), 7, f"{len(pongs)} pongs passed a burst of 5")
        self.finish_alongside()

    def test_burst_zero_is_one_seconds_worth_and_close_is_never_refused(self):
        rw = self.setup_ringway({"messages_per_second": 10})
        s, _, reader = h.raw_upgrade(rw.port, "/rec/burst0")
        with s:
            # Ten at once: exactly the bucket.
            s.sendall(b"".join(h.encode_frame(h.OP_TEXT, f"m{i}") for i in range(10)))
            for i in range(10):
                f = reader.read_frame()
                self.assertEqual((f.opcode, f.payload), (h.OP_TEXT, f"m{i}".encode()))
            # The bucket is (nearly) empty now; a Close still passes and the backend answers it.
            s.sendall(h.encode_frame(h.OP_CLOSE, h.close_payload(1000, "bye")))
            f = reader.read_frame()
            self.assertEqual((f.opcode, f.close_code), (h.OP_CLOSE, 1000))
            _, how = h.read_until_eof(s, reader.buf)
            self.assertNotEqual(how, "timeout")
        conn = self.rec.wait_conn()
        self.assertTrue(conn.ended.wait(h.budget(h.IO_TIMEOUT)))
        self.assertEqual(conn.close_codes(), [1000])

        s, _, reader = h.raw_upgrade(rw.port, "/rec/burst0-over")
        with s:
            s.sendall(b"".join(h.encode_frame(h.OP_TEXT, f"m{i}") for i in range(25)))
            read_close_then_eof(self, s, reader, 1008)
        conn = self.rec.wait_conn(1)
        assert_backend_closed_1001(self, conn)
        n = len([f for f in conn.snapshot() if f.opcode == h.OP_TEXT])
        self.assertTrue(10 <= n <= 12, f"{n} messages passed a bucket of 10")
        self.finish_alongside()

    def test_client_at_the_rate_is_never_cut(self):
        rw = self.setup_ringway({"messages_per_second": 10, "burst": 2})
        s, _, reader = h.raw_upgrade(rw.port, "/rec/steady")
        with s:
            # 10 messages and 10 pings a second (each exactly at its bucket's rate) for 3 s.
            # (Never faster: after a hiccup the next one waits its full 100 ms, no catching up.)
            last = 0.0
            for i in range(30):
                time.sleep(max(0.0, last + 0.1 - time.monotonic()))
                last = time.monotonic()
                s.sendall(h.encode_frame(h.OP_TEXT, f"steady {i}") + h.encode_frame(h.OP_PING, f"{i}"))
                f = reader.read_frame()
                self.assertEqual((f.opcode, f.payload), (h.OP_TEXT, f"steady {i}".encode()),
                                 f"message {i}: {f!r} (close code {f.close_code})")
            s.sendall(h.encode_frame(h.OP_CLOSE, h.close_payload(1000)))
            f = reader.read_frame()
            self.assertEqual((f.opcode, f.close_code), (h.OP_CLOSE, 1000))
        self.assertNotIn("message rate limit exceeded", rw.log())
        self.finish_alongside()


if __name__ == "__main__":
    unittest.main()
