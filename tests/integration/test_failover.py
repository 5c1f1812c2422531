"""A backend that vanishes without a Close: its clients get Close 1012 from ringway, the other
clients carry on, and new connections with the same keys reach the live backends."""

import asyncio
import unittest

import websockets

import harness as h

KEYS = [f"user-{i}" for i in range(30)]


class Failover(h.IntegrationTestCase):
    def setUp(self):
        super().setUp()
        self.backends = self.start_backends(3)
        self.by_name = {b.name: b for b in self.backends}
        self.rw = self.start_ringway([h.pool("chat", self.backends, hash_key="header:X-User",
                                             connect_retries=2)])

    async def expect_1012(self, ws, what):
        try:
            while True:
                await asyncio.wait_for(ws.recv(), h.IO_TIMEOUT)
        except websockets.ConnectionClosed as e:
            self.assertIsNotNone(e.rcvd, f"{what}: connection ended without a Close frame ({e})")
            self.assertEqual(e.rcvd.code, 1012, f"{what}: {e}")
        except asyncio.TimeoutError:
            self.fail(f"{what}: still open {h.IO_TIMEOUT}s after its backend died")

    def test_killed_backend_gives_1012_others_unaffected_keys_move(self):
        async def go():
            conns = {}
            try:
                for k in KEYS:
                    ws = await h.ws_connect(self.rw, "/ws", {"X-User": k})
                    conns[k] = ws
                groups = {}
                for k, ws in conns.items():
                    groups.setdefault(ws.response_headers.get("X-Backend"), []).append(k)
                self.assertEqual(set(groups), {"b1", "b2", "b3"}, groups)
                victim = max(groups, key=lambda n: len(groups[n]))
                victim_keys = groups[victim]

                self.by_name[victim].kill()

                await asyncio.gather(*(self.expect_1012(conns[k], f"client {k} of {victim}")
                                       for k in victim_keys))

                # Clients of the other backends keep echoing.
                for k, ws in conns.items():
                    if k in victim_keys:
                        continue
                    await ws.send(f"still here {k}")
                    self.assertEqual(await asyncio.wait_for(ws.recv(), h.IO_TIMEOUT),
                                     f"still here {k}")

                # The victim's keys reconnect and land on a live backend (connect retry).
                for k in victim_keys:
                    async with h.ws_connect(self.rw, "/ws", {"X-User": k}) as ws:
                        name = ws.response_headers.get("X-Backend")
                        self.assertIn(name, set(groups) - {victim})
                        await ws.send("reconnected")
                        self.assertEqual(await asyncio.wait_for(ws.recv(), h.IO_TIMEOUT),
                                         "reconnected")
            finally:
                for ws in conns.values():
                    await ws.close()
        h.run(go())

    def test_abrupt_backend_close_gives_1012(self):
        async def go():
            async with h.ws_connect(self.rw, "/ws", {"X-User": "dropper"}) as victim, \
                       h.ws_connect(self.rw, "/ws", {"X-User": "dropper"}) as neighbour:
                self.assertEqual(victim.response_headers.get("X-Backend"),
                                 neighbour.response_headers.get("X-Backend"))
                await victim.send("__drop__")
                await self.expect_1012(victim, "client whose backend connection dropped")
                # Only that one backend connection went away: its neighbour still echoes.
                await neighbour.send("neighbour ok")
                self.assertEqual(await asyncio.wait_for(neighbour.recv(), h.IO_TIMEOUT),
                                 "neighbour ok")
            # And the backend still takes new connections through ringway.
            async with h.ws_connect(self.rw, "/ws", {"X-User": "dropper"}) as ws:
                await ws.send("again")
                self.assertEqual(await asyncio.wait_for(ws.recv(), h.IO_TIMEOUT), "again")
        h.run(go())


if __name__ == "__main__":
    unittest.main()
