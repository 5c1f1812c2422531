"""Many connections at once: every client gets exactly its own messages back, in order."""

import asyncio
import os
import unittest

import harness as h

CLIENTS = 200
MESSAGES = 20


class Concurrency(h.IntegrationTestCase):
    def test_200_concurrent_connections_no_cross_talk(self):
        backends = self.start_backends(3)
        rw = self.start_ringway([h.pool("chat", backends, hash_key="header:X-User")])

        async def go():
            handshakes = asyncio.Semaphore(50)  # at most 50 handshakes in flight; all stay open
            all_open = asyncio.Event()
            opened = 0
            landed = {}

            async def client(i):
                nonlocal opened
                async with handshakes:
                    ws = await h.ws_connect(rw, f"/ws?c={i}", {"X-User": f"user-{i}"})
                try:
                    landed[i] = ws.response_headers.get("X-Backend")
                    opened += 1
                    if opened == CLIENTS:
                        all_open.set()
                    await asyncio.wait_for(all_open.wait(), 120)
                    tag = os.urandom(4).hex()
                    msgs = []
                    for j in range(MESSAGES):
                        if j % 5 == 4:
                            msgs.append(os.urandom(1 + (i * 37 + j * 101) % 3000))
                        else:
                            msgs.append(f"client {i} message {j} {tag} " + "z" * ((i + j) % 200))
                    sender = asyncio.ensure_future(send_all(ws, msgs))
                    got = []
                    for _ in range(MESSAGES):
                        got.append(await asyncio.wait_for(ws.recv(), 60))
                    await sender
                    for j, (m, g) in enumerate(zip(msgs, got)):
                        if g != m:
                            raise AssertionError(f"client {i} message {j}: sent {m[:60]!r}, "
                                                 f"got {g[:60]!r}")
                    await ws.close()
                    return i
                finally:
                    await ws.close()

            async def send_all(ws, msgs):
                for m in msgs:
                    await ws.send(m)

            results = await asyncio.gather(*(client(i) for i in range(CLIENTS)))
            self.assertEqual(sorted(results), list(range(CLIENTS)))
            return landed

        landed = h.run(go(), timeout=110)
        self.assertEqual(set(landed.values()), {"b1", "b2", "b3"},
                         "200 distinct keys should spread over all three backends")


if __name__ == "__main__":
    unittest.main()
