"""Draining a backend with 300 live connections (drain_timeout 6s): every connection gets Close 1001,
none before the drain began and all within the window plus a margin, spread out (closes per second
never above twice the mean over the window: no reconnect storm); no new connection lands on the
backend while it drains; undrain puts it back in rotation."""

import asyncio
import resource
import time
import unittest

import websockets

import harness as h
from test_health_helpers import HealthCase

CONNECTIONS = 300
WINDOW = 6.0        # the pool's drain_timeout
MARGIN = 5.0        # failure guard on top of the window
BUCKET = 1.0        # seconds per bucket when counting closes


class PacedDrain(HealthCase):
    def setUp(self):
        super().setUp()
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4096)), hard))

    def test_drain_300_connections_paced_then_undrain(self):
        b1, b2 = self.start_backend("b1"), self.start_backend("b2")
        # b1 takes nearly every key, so that 300 connections on it come quickly.
        rw = self.start_ringway([h.pool("chat", [{"name": "b1", "address": b1.address, "weight": 100},
                                                 {"name": "b2", "address": b2.address}],
                                        hash_key="header:X-User", drain_timeout=f"{int(WINDOW)}s")])

        async def go():
            held = []
            i = 0
            while len(held) < CONNECTIONS:
                self.assertLess(i, 3 * CONNECTIONS)
                batch = [f"user-{n}" for n in range(i, i + 50)]
                i += 50
                conns = await asyncio.gather(*(h.ws_connect(rw, "/ws", {"X-User": k}) for k in batch))
                for ws in conns:
                    if ws.response_headers.get("X-Backend") == "b1" and len(held) < CONNECTIONS:
                        held.append(ws)
                    else:
                        await ws.close()
            self.assertEqual(self.backend_status(rw, "b1")["active_connections"], CONNECTIONS)

            async def wait_close(ws):
                try:
                    while True:
                        await ws.recv()
                except websockets.ConnectionClosed as e:
                    return (time.monotonic(), e.rcvd.code if e.rcvd else None)

            waiters = [asyncio.create_task(wait_close(ws)) for ws in held]
            await asyncio.sleep(0.5)
            early = [w.result() for w in waiters if w.done()]
            self.assertEqual(early, [], "connections closed before the drain began")

            loop = asyncio.get_running_loop()
            began = time.monotonic()
            code, body = await loop.run_in_executor(None, self.admin_post, rw, "/pools/chat/backends/b1/drain")
            self.assertEqual(code, 200, body)

            # While it drains: state "draining", and new connections go elsewhere.
            await asyncio.sleep(1.0)
            self.assertEqual((await loop.run_in_executor(None, self.backend_status, rw, "b1"))["state"],
                             "draining")
            for n in range(20):
                async with h.ws_connect(rw, "/ws", {"X-User": f"new-{n}"}) as ws:
                    self.assertEqual(ws.response_headers.get("X-Backend"), "b2")

            closes = await asyncio.wait_for(asyncio.gather(*waiters), h.budget(WINDOW + MARGIN + 5))
            return began, closes

        began, closes = h.run(go(), timeout=100)
        offsets = sorted(t - began for t, _code in closes)
        codes = {code for _t, code in closes}
        self.assertEqual(codes, {1001}, f"close codes seen: {codes}")
        self.assertGreaterEqual(offsets[0], 0.0)
        self.assertLessEqual(offsets[-1], WINDOW + MARGIN, f"last close {offsets[-1]:.2f}s after the drain")

        buckets = [0] * int(WINDOW / BUCKET)
        for t in offsets:
            buckets[min(int(t / BUCKET), len(buckets) - 1)] += 1
        mean = CONNECTIONS / WINDOW
        print(f"\ncloses per {BUCKET:g}s after the drain: {buckets} (mean {mean:.0f}/s, "
              f"first {offsets[0]:.2f}s, last {offsets[-1]:.2f}s)")
        self.assertLessEqual(max(buckets), 2 * mean * BUCKET, f"a burst of closes: {buckets}")

        self.assertEqual(self.backend_status(rw, "b1")["active_connections"], 0)
        self.assertRegex(rw.log(), r"draining backend connections backend=chat/b1 sessions=300")

        # Undrain: back in rotation.
        code, body = self.admin_post(rw, "/pools/chat/backends/b1/undrain")
        self.assertEqual(code, 200, body)
        self.assertEqual(self.backend_status(rw, "b1")["state"], "up")

        async def after():
            names = []
            for n in range(10):
                async with h.ws_connect(rw, "/ws", {"X-User": f"after-{n}"}) as ws:
                    names.append(ws.response_headers.get("X-Backend"))
            return names
        self.assertIn("b1", h.run(after()))


if __name__ == "__main__":
    unittest.main()
