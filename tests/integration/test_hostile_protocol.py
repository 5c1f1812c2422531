"""Hostile input after the 101: frames that break RFC 6455. From the client (unmasked, reserved
opcode, RSV without an extension, control frame over 125 bytes, fragmented control frame,
continuation without a start, 64-bit length with the top bit set, ...) each gets Close 1002, the
backend Close 1001, and the bad frame never reaches the backend; a masked frame from the backend
gets the backend 1002 and the client 1001. 50 well-behaved connections alongside see no error."""

import struct
import unittest

import harness as h
from test_limits_helpers import (CLOSE_GUARD, Alongside, RecordingBackend, assert_backend_closed_1001,
                                 drain_until_close, metric, two_pool_config, wait_log)


def len64_top_bit():
    # Binary, masked, 127 = 64-bit length, with the most significant bit set.
    return bytes([0x82, 0x80 | 127]) + struct.pack("!Q", (1 << 63) | 5) + b"\0\0\0\0" + b"hello"


# name -> the offending bytes (sent after one good message)
CLIENT_VIOLATIONS = {
    "unmasked": h.encode_frame(h.OP_TEXT, "no mask", mask=False),
    "reserved-opcode-3": h.encode_frame(0x3, "op 3"),
    "reserved-opcode-b": h.encode_frame(0xB, "op B"),
    "rsv1-no-extension": h.encode_frame(h.OP_TEXT, "rsv1", rsv=4),
    "rsv3-no-extension": h.encode_frame(h.OP_BINARY, "rsv3", rsv=1),
    "control-over-125": h.encode_frame(h.OP_PING, bytes(126)),
    "fragmented-control": h.encode_frame(h.OP_PING, "frag", fin=False),
    "continuation-without-start": h.encode_frame(h.OP_CONT, "cont"),
    "len64-top-bit": len64_top_bit(),
    "new-message-inside-fragmented": (h.encode_frame(h.OP_TEXT, "part 1", fin=False)
                                      + h.encode_frame(h.OP_TEXT, "not a continuation")),
}


class ClientViolations(h.IntegrationTestCase):
    def test_each_client_violation_gets_1002_and_the_backend_1001(self):
        rec = RecordingBackend(self)
        echo = self.start_backend("e1")
        rw = self.start_ringway_config(two_pool_config(echo, rec))
        load = Alongside(rw.port).start()
        protocol_before = metric(rw, "ringway_errors_total", kind="protocol")

        # All offenders at once (so that their waits overlap), then each checked.
        clients = {}
        for name, bad in CLIENT_VIOLATIONS.items():
            s, _, reader = h.raw_upgrade(rw.port, f"/rec/{name}")
            self.addCleanup(s.close)
            s.sendall(h.encode_frame(h.OP_TEXT, f"good {name}"))
            f = reader.read_frame()
            self.assertEqual((f.opcode, f.payload), (h.OP_TEXT, f"good {name}".encode()))
            s.sendall(bad)
            clients[name] = (s, reader)

        for name, (s, reader) in clients.items():
            with self.subTest(offender=name, side="client"):
                close, how = drain_until_close(s, reader, timeout=CLOSE_GUARD)
                self.assertIsNotNone(close, f"{name}: no Close frame (connection {how})")
                self.assertEqual(close.close_code, 1002, f"{name}: Close {close.close_code} {close.close_reason!r}")
                self.assertNotEqual(how, "timeout", f"{name}: connection still open after the Close")

        for name in CLIENT_VIOLATIONS:
            with self.subTest(offender=name, side="backend"):
                conn = rec.wait_path(f"/rec/{name}")
                assert_backend_closed_1001(self, conn)
                data = [f for f in conn.snapshot() if f.opcode != h.OP_CLOSE]
                expected = [(h.OP_TEXT, f"good {name}".encode())]
                if name == "new-message-inside-fragmented":
                    expected.append((h.OP_TEXT, b"part 1"))  # valid on its own, passed before the bad one
                self.assertEqual([(f.opcode, f.payload) for f in data], expected,
                                 f"{name}: the backend got {conn.snapshot()!r}")

        log = rw.log()
        self.assertGreaterEqual(log.count("websocket protocol violation from=client"), len(CLIENT_VIOLATIONS),
                                log[-3000:])
        wait_log(self, rw, r"connection closed.*path=/rec/unmasked .*reason=protocol")
        self.assertGreaterEqual(metric(rw, "ringway_errors_total", kind="protocol") - protocol_before,
                                len(CLIENT_VIOLATIONS))
        self.assertEqual(load.stop(), [], "the well-behaved connections saw errors")

    def test_violation_split_across_reads_still_gets_1002(self):
        # The bad header arrives a byte at a time, after a good frame in the same first write.
        rec = RecordingBackend(self)
        echo = self.start_backend("e1")
        rw = self.start_ringway_config(two_pool_config(echo, rec))
        s, _, reader = h.raw_upgrade(rw.port, "/rec/split")
        with s:
            bad = len64_top_bit()
            s.sendall(h.encode_frame(h.OP_TEXT, "fine") + bad[:1])
            f = reader.read_frame()
            self.assertEqual(f.payload, b"fine")
            for i in range(1, 10):
                s.sendall(bad[i:i + 1])
            close, how = drain_until_close(s, reader, timeout=CLOSE_GUARD)
            self.assertIsNotNone(close, f"no Close (connection {how})")
            self.assertEqual(close.close_code, 1002)
        conn = rec.wait_path("/rec/split")
        # The first byte of the bad header went on before it was known to be bad: the backend's
        # stream is cut inside a header, so it cannot carry a Close; its leg must still end.
        self.assertTrue(conn.ended.wait(h.budget(CLOSE_GUARD)), "the backend leg was not closed")
        self.assertEqual([f.payload for f in conn.snapshot() if f.opcode == h.OP_TEXT], [b"fine"])


class BackendViolations(h.IntegrationTestCase):
    def test_masked_backend_frame_gets_1002_and_the_client_1001(self):
        def script(conn):
            while True:
                f = conn.read_frame()
                if f is None:
                    return
                if f.opcode == h.OP_TEXT and f.payload == b"mask please":
                    conn.send(h.encode_frame(h.OP_TEXT, "masked by a server", mask=True))
                elif f.opcode == h.OP_TEXT:
                    conn.send(h.encode_frame(h.OP_TEXT, f.payload, mask=False))
                elif f.opcode == h.OP_CLOSE:
                    conn.send(h.encode_frame(h.OP_CLOSE, f.payload[:2], mask=False))
                    conn.shutdown_write()
                    conn.serve(echo=False)
                    return

        rec = RecordingBackend(self, script=script)
        echo = self.start_backend("e1")
        rw = self.start_ringway_config(two_pool_config(echo, rec))
        load = Alongside(rw.port).start()
        s, _, reader = h.raw_upgrade(rw.port, "/rec/masked-backend")
        with s:
            s.sendall(h.encode_frame(h.OP_TEXT, "hi"))
            self.assertEqual(reader.read_frame().payload, b"hi")
            s.sendall(h.encode_frame(h.OP_TEXT, "mask please"))
            close, how = drain_until_close(s, reader, timeout=CLOSE_GUARD)
            self.assertIsNotNone(close, f"the client got no Close (connection {how})")
            self.assertEqual(close.close_code, 1001)
            self.assertNotEqual(how, "timeout")
        conn = rec.wait_path("/rec/masked-backend")
        self.assertTrue(conn.got_close.wait(h.budget(CLOSE_GUARD)), f"no Close to the backend: {conn.snapshot()!r}")
        self.assertTrue(conn.ended.wait(h.budget(CLOSE_GUARD)), "the backend leg was not closed")
        self.assertEqual(conn.close_codes()[:1], [1002])
        line = wait_log(self, rw, r"websocket protocol violation")
        self.assertIn("from=backend", line)
        self.assertEqual(load.stop(), [], "the well-behaved connections saw errors")


if __name__ == "__main__":
    unittest.main()
