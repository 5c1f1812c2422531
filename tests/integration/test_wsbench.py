"""tools/wsbench tests itself: it must pass against correct echo servers (wsecho directly, wsecho
through ringway, and a small Python echo server) and must catch, with the right error kind and exit
status 3, a backend that corrupts a message, one that swaps two messages, and one that answers a
connection with another connection's messages.

The broken backends are this same file run as `test_wsbench.py --serve MODE`: a raw asyncio
WebSocket server (RFC 6455 by hand, independent of wsecho, ringway and wsbench), in its own process.
"""

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import re
import struct
import subprocess
import sys
import time
import unittest

SERVING = __name__ == "__main__" and "--serve" in sys.argv
if not SERVING:
    import harness as h  # the server needs nothing from the harness (nor python3-websockets)

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


# --------------------------------------------------------------------------------------------
# The deliberately broken echo server


def server_frame(opcode, payload):
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    return head + payload


def unmask(mask, data):
    if not mask or not data:
        return data
    reps = (len(data) + 3) // 4
    key = int.from_bytes((mask * reps)[:len(data)], "big")
    return (int.from_bytes(data, "big") ^ key).to_bytes(len(data), "big")


async def serve(mode):
    """MODE: good (a correct echo), flip (every 10th message of a connection gets one byte of its
    body inverted), swap (messages 2k and 2k+1 of a connection are echoed in the other order),
    misroute (a message of connection k is sent to the next live connection instead)."""
    live = []  # writers of upgraded connections, in accept order

    async def handle(reader, writer):
        peer = writer.get_extra_info("peername")
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            m = re.search(rb"(?im)^sec-websocket-key:[ \t]*(\S+)", head)
            if m is None:
                writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                return
            accept = base64.b64encode(hashlib.sha1(m.group(1) + GUID).digest())
            writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                         b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
            print("peer %s" % peer[0], flush=True)
            live.append(writer)
            count = 0
            held = None
            while True:
                b0, b1 = await reader.readexactly(2)
                opcode, n = b0 & 0x0F, b1 & 0x7F
                if n == 126:
                    n = struct.unpack("!H", await reader.readexactly(2))[0]
                elif n == 127:
                    n = struct.unpack("!Q", await reader.readexactly(8))[0]
                mask = await reader.readexactly(4) if b1 & 0x80 else b""
                payload = unmask(mask, await reader.readexactly(n))
                if opcode == 0x8:
                    writer.write(server_frame(0x8, payload[:2]))
                    await writer.drain()
                    return
                if opcode == 0x9:
                    writer.write(server_frame(0xA, payload))
                    continue
                if opcode not in (0x1, 0x2):
                    continue
                count += 1
                if mode == "flip" and count % 10 == 3 and payload:
                    i = len(payload) // 2 if len(payload) > 1 else 0
                    payload = payload[:i] + bytes([payload[i] ^ 0xFF]) + payload[i + 1:]
                if mode == "swap":
                    if held is None:
                        held = (opcode, payload)
                        continue
                    writer.write(server_frame(opcode, payload))
                    writer.write(server_frame(*held))
                    held = None
                elif mode == "misroute" and len(live) > 1:
                    target = live[(live.index(writer) + 1) % len(live)]
                    target.write(server_frame(opcode, payload))
                else:
                    writer.write(server_frame(opcode, payload))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError, OSError):
            pass
        finally:
            if writer in live:
                live.remove(writer)
            with contextlib.suppress(Exception):
                writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=512)
    print("listening %d" % server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


if SERVING:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(sys.argv[sys.argv.index("--serve") + 1]))
    sys.exit(0)


# --------------------------------------------------------------------------------------------
# The tests


def wsbench_bin():
    path = os.environ.get("WSBENCH_BIN", "")
    if not path and h.RINGWAY_BIN:
        # build/proxy/ringway -> build/tools/wsbench/wsbench
        build = os.path.dirname(os.path.dirname(os.path.abspath(h.RINGWAY_BIN)))
        path = os.path.join(build, "tools", "wsbench", "wsbench")
    return path


VERIFICATION_KINDS = ("echo_corrupted", "echo_reordered", "echo_misrouted", "unexpected_message")


class WsbenchTestCase(h.IntegrationTestCase):
    def setUp(self):
        super().setUp()
        self.wsbench = wsbench_bin()
        if not os.access(self.wsbench, os.X_OK):
            self.fail(f"wsbench not found at {self.wsbench!r} (set WSBENCH_BIN)")

    def start_python_server(self, mode):
        out_path = os.path.join(self.tmpdir, f"pyecho-{mode}-{self._next()}.log")
        out = open(out_path, "wb")
        try:
            proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--serve", mode],
                                    stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        finally:
            out.close()

        def stop():
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        self.addCleanup(stop)

        def output():
            with open(out_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        deadline = time.monotonic() + h.budget(h.START_TIMEOUT)
        while time.monotonic() < deadline:
            m = re.search(r"listening (\d+)", output())
            if m:
                return int(m.group(1)), output
            if proc.poll() is not None:
                break
            time.sleep(0.02)
        self.fail(f"python echo server ({mode}) did not start: {output()!r}")

    def run_wsbench(self, port, mode, connections, *extra, duration="1"):
        argv = [self.wsbench, "--url", f"ws://127.0.0.1:{port}/bench", "--mode", mode,
                "--connections", str(connections), "--duration", duration, "--json",
                "--setup-timeout", "30", *extra]
        if mode in ("pingpong", "stream") and "--warmup" not in extra:
            argv += ["--warmup", "0.2"]
        res = subprocess.run(argv, capture_output=True, text=True, timeout=h.budget(90))
        lines = [line for line in res.stdout.splitlines() if line.startswith("{")]
        report = json.loads(lines[-1]) if lines else {}
        return res.returncode, report, f"$ {' '.join(argv)}\nexit {res.returncode}\n{res.stdout}{res.stderr}"

    def assert_clean(self, port, mode, connections, *extra, work=True):
        code, report, text = self.run_wsbench(port, mode, connections, *extra)
        self.assertEqual(code, 0, text)
        self.assertEqual(report["errors"], {}, text)
        self.assertEqual(report["closes"], {}, text)
        if mode == "hold":
            self.assertEqual(report["open_at_start"], connections, text)
            self.assertEqual(report["probe_ok"], connections, text)
        elif work:
            key = "cycles" if mode == "connect" else "messages"
            self.assertGreater(report[key], 0, text)
        return report

    def assert_caught(self, port, mode, connections, kind, *extra):
        code, report, text = self.run_wsbench(port, mode, connections, *extra)
        self.assertEqual(code, 3, text)
        self.assertGreater(report["errors"].get(kind, 0), 0, text)
        for other in VERIFICATION_KINDS:
            if other != kind and other != "unexpected_message":
                self.assertEqual(report["errors"].get(other, 0), 0, f"{other} reported too:\n{text}")
        self.assertIn(kind, text)


class PassesAgainstCorrectServers(WsbenchTestCase):
    MODES = [
        ("pingpong", 8, ["--size", "64", "--threads", "2"]),
        ("stream", 8, ["--size", "4096", "--inflight", "8", "--threads", "2", "--sources", "3"]),
        ("stream", 4, ["--size", "100000", "--inflight", "2"]),
        ("stream", 4, ["--size", "5", "--inflight", "4"]),
        ("connect", 8, ["--size", "64", "--threads", "2", "--sources", "4"]),
        ("hold", 300, ["--size", "64", "--verify-end", "--threads", "2", "--sources", "2"]),
    ]

    def test_wsecho_directly(self):
        backend = self.start_backend("e1")
        for mode, conns, extra in self.MODES:
            with self.subTest(mode=mode, extra=extra):
                self.assert_clean(backend.port, mode, conns, *extra)

    def test_wsecho_through_ringway(self):
        backends = self.start_backends(2)
        rw = self.start_ringway([h.pool("echo", backends, hash_key="header:X-User")])
        for mode, conns, extra in self.MODES:
            with self.subTest(mode=mode, extra=extra):
                self.assert_clean(rw.port, mode, conns, "--header", "X-User: user-{i}", *extra)
        self.assertIsNone(rw.proc.poll(), "ringway exited")

    def test_python_echo_server_and_sources(self):
        """The broken servers' common part is a correct echo; --sources binds 127.0.0.1..N."""
        port, output = self.start_python_server("good")
        self.assert_clean(port, "stream", 6, "--inflight", "4", "--sources", "3", "--threads", "2")
        self.assert_clean(port, "pingpong", 4, "--size", "300")
        peers = set(re.findall(r"peer (\S+)", output()))
        self.assertTrue({"127.0.0.1", "127.0.0.2", "127.0.0.3"} <= peers, peers)


class CatchesBrokenEchoes(WsbenchTestCase):
    def test_corrupted_byte(self):
        port, _ = self.start_python_server("flip")
        self.assert_caught(port, "pingpong", 4, "echo_corrupted", "--size", "64")
        self.assert_caught(port, "stream", 4, "echo_corrupted", "--size", "1000", "--inflight", "4")
        self.assert_caught(port, "stream", 2, "echo_corrupted", "--size", "8", "--inflight", "4")

    def test_reordered_messages(self):
        port, _ = self.start_python_server("swap")
        self.assert_caught(port, "stream", 4, "echo_reordered", "--size", "64", "--inflight", "4")

    def test_misrouted_messages(self):
        port, _ = self.start_python_server("misroute")
        self.assert_caught(port, "pingpong", 4, "echo_misrouted", "--size", "64", "--threads", "2")

    def test_hold_verification_catches_a_misroute(self):
        port, _ = self.start_python_server("misroute")
        code, report, text = self.run_wsbench(port, "hold", 6, "--size", "64", "--verify-end")
        self.assertEqual(code, 3, text)
        self.assertGreater(report["errors"].get("echo_misrouted", 0), 0, text)
        self.assertLess(report["probe_ok"], report["probed"], text)

    def test_corrupted_byte_behind_ringway(self):
        port, _ = self.start_python_server("flip")
        rw = self.start_ringway([h.pool("broken", [("flip", f"127.0.0.1:{port}")])])
        self.assert_caught(rw.port, "pingpong", 4, "echo_corrupted", "--size", "64")


if __name__ == "__main__":
    unittest.main(verbosity=2)
