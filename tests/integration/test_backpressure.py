"""Backpressure, proven on ringway's memory: a client that sends 1 GiB as fast as it can to a
backend that stops reading for a while and then reads slowly keeps ringway's RSS below 64 MiB
(VmRSS sampled throughout), and so does a backend flooding a client that reads slowly. Every byte
arrives, in order. 50 well-behaved connections alongside see no error at all.

The pace of the slow side is chosen so that 1 GiB takes well under the file's two minutes; the
time each flood took is printed (FLOOD_MIB overrides the size, e.g. for a slow machine).

Under ASan (a sanitizer build), the allocator's quarantine and shadow memory are not ringway's, so
the bound applies to the growth of RSS during the flood instead of its absolute value."""

import os
import struct
import subprocess
import sys
import threading
import time
import unittest

import harness as h
from test_limits_helpers import Alongside, RecordingBackend, two_pool_config

MIB = 1024 * 1024
FLOOD_MIB = int(os.environ.get("FLOOD_MIB", "1024"))
FRAME = 1 * MIB                 # payload per frame
RSS_LIMIT_KIB = 64 * 1024
STALL = 3.0                     # the slow side reads nothing at all for this long first
SLOW_MIB_PER_S = 48             # then reads at about this pace
RECV_CHUNK = 256 * 1024


def ringway_is_asan():
    try:
        out = subprocess.run(["ldd", h.RINGWAY_BIN], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return "libasan" in out


def frame_header(opcode, n, masked):
    # 64-bit length, then (client frames) an all-zero mask: the payload on the wire is the payload
    # itself, so python need not XOR a gigabyte, and the frame is still a properly masked frame.
    head = bytes([0x80 | opcode, (0x80 if masked else 0) | 127]) + struct.pack("!Q", n)
    return head + (b"\0\0\0\0" if masked else b"")


def pattern_frame(index, masked):
    """Frame `index` of the flood: its payload starts with the index, so order can be checked."""
    payload = bytearray(FRAME)
    payload[:8] = index.to_bytes(8, "big")
    payload[-8:] = index.to_bytes(8, "big")
    return frame_header(h.OP_BINARY, FRAME, masked) + bytes(payload)


class SlowReader:
    """Reads a socket: nothing for STALL seconds, then about SLOW_MIB_PER_S; parses the flood's
    frames just enough to check that every one arrived whole and in order."""

    def __init__(self, sock, expect_frames, header_size, buf=b""):
        self.sock, self.expect, self.header_size = sock, expect_frames, header_size
        self.buf = bytearray(buf)
        self.total = len(buf)
        self.frames = 0
        self.error = None

    def run(self):
        time.sleep(STALL)
        frame_size = self.header_size + FRAME
        started = time.monotonic()
        chunk = bytearray(RECV_CHUNK)
        view = memoryview(chunk)
        self.sock.settimeout(h.IO_TIMEOUT)
        while self.frames < self.expect:
            # Pace: never ahead of SLOW_MIB_PER_S since we started reading.
            ahead = self.total / (SLOW_MIB_PER_S * MIB) - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)
            n = self.sock.recv_into(view)
            if n == 0:
                self.error = f"EOF after {self.frames} frames"
                return
            self.total += n
            self.buf += view[:n]
            while len(self.buf) >= frame_size:
                index = int.from_bytes(self.buf[self.header_size:self.header_size + 8], "big")
                tail = int.from_bytes(self.buf[frame_size - 8:frame_size], "big")
                if index != self.frames or tail != self.frames:
                    self.error = f"frame {self.frames} arrived as {index}/{tail}"
                    return
                del self.buf[:frame_size]
                self.frames += 1


class RssSampler:
    def __init__(self, rw):
        self.rw = rw
        self.samples = []
        self.stop = threading.Event()
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


class Backpressure(h.IntegrationTestCase):
    def check_rss(self, baseline, sampler, label, took):
        peak = max(sampler.samples)
        sys.stderr.write(f"\n{label}: {FLOOD_MIB} MiB in {took:.1f}s; ringway RSS {baseline} KiB before, "
                         f"peak {peak} KiB ({len(sampler.samples)} samples)\n")
        if ringway_is_asan():
            self.assertLess(peak - baseline, RSS_LIMIT_KIB,
                            f"{label}: ringway's RSS grew by {peak - baseline} KiB (ASan build)")
        else:
            self.assertLess(peak, RSS_LIMIT_KIB, f"{label}: ringway's RSS reached {peak} KiB")

    def start_all(self, script):
        rec = RecordingBackend(self, script=script)
        echo = self.start_backend("e1")
        rw = self.start_ringway_config(two_pool_config(echo, rec))
        load = Alongside(rw.port, period=0.25).start()
        return rec, rw, load

    def test_client_flood_to_a_slow_backend(self):
        result = {}

        def script(conn):
            reader = SlowReader(conn.sock, FLOOD_MIB, 14, conn.reader.buf)
            reader.run()
            result["reader"] = reader
            conn.send(h.encode_frame(h.OP_TEXT, f"got {reader.frames}", mask=False))
            conn.reader.buf = bytes(reader.buf)
            conn.serve()

        rec, rw, load = self.start_all(script)
        baseline = rw.rss_kib()
        s, _, reader = h.raw_upgrade(rw.port, "/rec/flood-up")
        with s, RssSampler(rw) as sampler:
            started = time.monotonic()
            s.settimeout(h.budget(100))
            # Frames differ only in their first and last 8 payload bytes: build one, patch it.
            frame = bytearray(pattern_frame(0, masked=True))
            view = memoryview(frame)
            for i in range(FLOOD_MIB):
                frame[14:22] = i.to_bytes(8, "big")
                frame[-8:] = i.to_bytes(8, "big")
                s.sendall(view)
            f = reader.read_frame(timeout=h.budget(100))
            took = time.monotonic() - started
        self.assertIn("reader", result, "the backend did not finish reading")
        self.assertIsNone(result["reader"].error)
        self.assertEqual((f.opcode, f.payload), (h.OP_TEXT, f"got {FLOOD_MIB}".encode()))
        s.close()
        self.check_rss(baseline, sampler, "client flood", took)
        self.assertEqual(load.stop(), [], "the well-behaved connections saw errors")

    def test_backend_flood_to_a_slow_client(self):
        def script(conn):
            f = conn.read_frame()
            if f is None or f.payload != b"flood me":
                return
            frame = bytearray(pattern_frame(0, masked=False))
            view = memoryview(frame)
            try:
                for i in range(FLOOD_MIB):
                    frame[10:18] = i.to_bytes(8, "big")
                    frame[-8:] = i.to_bytes(8, "big")
                    conn.sock.sendall(view)
            except OSError:
                return
            conn.serve()

        rec, rw, load = self.start_all(script)
        baseline = rw.rss_kib()
        s, _, reader = h.raw_upgrade(rw.port, "/rec/flood-down")
        with s, RssSampler(rw) as sampler:
            started = time.monotonic()
            s.sendall(h.encode_frame(h.OP_TEXT, "flood me"))
            slow = SlowReader(s, FLOOD_MIB, 10, reader.buf)
            slow.run()
            took = time.monotonic() - started
            self.assertIsNone(slow.error)
            self.assertEqual(slow.frames, FLOOD_MIB)
            s.sendall(h.encode_frame(h.OP_CLOSE, h.close_payload(1000)))
            reader.buf = bytes(slow.buf)
            f = reader.read_frame()
            self.assertEqual((f.opcode, f.close_code), (h.OP_CLOSE, 1000))
        self.check_rss(baseline, sampler, "backend flood", took)
        self.assertEqual(load.stop(), [], "the well-behaved connections saw errors")


if __name__ == "__main__":
    unittest.main()
