"""Sticky balancing: the same key always reaches the same backend, distinct keys spread over all
backends, and two ringway processes agree whatever the order of the backends in their files."""

import asyncio
import unittest

import harness as h


async def landings(port, requests, parallel=20):
    """requests: list of (path, headers). Returns the backend name for each, in order."""
    sem = asyncio.Semaphore(parallel)

    async def one(path, headers):
        async with sem:
            return await h.backend_for(port, path, headers)

    return await asyncio.gather(*(one(p, hd) for p, hd in requests))


class StickyHeader(h.IntegrationTestCase):
    def setUp(self):
        super().setUp()
        self.backends = self.start_backends(3)

    def test_same_header_key_same_backend_and_distinct_keys_reach_all(self):
        rw = self.start_ringway([h.pool("chat", self.backends, hash_key="header:X-User")])

        async def go():
            # 50 connections with one key, half of them open at the same time.
            same = await landings(rw.port, [("/ws", {"X-User": "alice"})] * 50)
            self.assertEqual(len(set(same)), 1, f"one key, several backends: {same}")
            held = []
            try:
                for i in range(10):
                    ws = await h.ws_connect(rw, f"/other/{i}", {"X-User": "alice"})
                    held.append(ws)
                    self.assertEqual(ws.response_headers.get("X-Backend"), same[0])
            finally:
                for ws in held:
                    await ws.close()
            # Header names are case-insensitive.
            self.assertEqual(await h.backend_for(rw.port, "/ws", {"x-user": "alice"}), same[0])

            spread = await landings(rw.port, [("/ws", {"X-User": f"user-{i}"}) for i in range(300)])
            counts = {b: spread.count(b) for b in set(spread)}
            self.assertEqual(set(counts), {"b1", "b2", "b3"}, counts)
            # Asking again gives the same answers (the mapping is stable).
            again = await landings(rw.port, [("/ws", {"X-User": f"user-{i}"}) for i in range(0, 300, 7)])
            self.assertEqual(again, spread[0::7])
        h.run(go())

    def test_query_cookie_and_path_keys(self):
        variants = {
            "query:room": lambda k: (f"/ws?user=x&room={k}&z=1", {}),
            "cookie:sid": lambda k: ("/ws", {"Cookie": f"theme=dark; sid={k}; lang=en"}),
            "path": lambda k: (f"/rooms/{k}", {}),
        }
        for hash_key, make in variants.items():
            with self.subTest(hash_key=hash_key):
                rw = self.start_ringway([h.pool("chat", self.backends, hash_key=hash_key)])

                async def go():
                    same = await landings(rw.port, [make("key-42")] * 10)
                    self.assertEqual(len(set(same)), 1, f"{hash_key}: one key, several backends {same}")
                    spread = await landings(rw.port, [make(f"key-{i}") for i in range(60)])
                    self.assertGreater(len(set(spread)), 1, f"{hash_key}: 60 keys all on one backend")
                    again = await landings(rw.port, [make(f"key-{i}") for i in range(0, 60, 3)])
                    self.assertEqual(again, spread[0::3], f"{hash_key}: mapping not stable")
                    return spread
                spread = h.run(go())
                if hash_key == "query:room":
                    # Other parameters do not matter, only `room`.
                    async def other_params():
                        return await landings(rw.port, [(f"/elsewhere?room=key-{i}", {})
                                                        for i in range(0, 60, 6)])
                    self.assertEqual(h.run(other_params()), spread[0::6])
                if hash_key == "cookie:sid":
                    async def other_cookies():
                        return await landings(rw.port, [("/ws", {"Cookie": f"sid=key-{i}"})
                                                        for i in range(0, 60, 6)])
                    self.assertEqual(h.run(other_cookies()), spread[0::6])

    def test_missing_key_falls_back_to_source_ip(self):
        rw = self.start_ringway([h.pool("chat", self.backends, hash_key="header:X-User")])

        async def go():
            # Every connection comes from 127.0.0.1: without the header they all land together.
            got = await landings(rw.port, [("/ws", {})] * 15)
            self.assertEqual(len(set(got)), 1, got)
        h.run(go())


class StickyAcrossInstances(h.IntegrationTestCase):
    def test_same_key_same_backend_in_two_processes_with_reordered_backends(self):
        b = self.start_backends(3)
        rw1 = self.start_ringway([h.pool("chat", [b[0], b[1], b[2]], hash_key="header:X-User")])
        rw2 = self.start_ringway([h.pool("chat", [b[2], b[0], b[1]], hash_key="header:X-User")])

        async def go():
            reqs = [("/ws", {"X-User": f"user-{i}"}) for i in range(300)]
            first = await landings(rw1.port, reqs)
            second = await landings(rw2.port, reqs)
            self.assertEqual(set(first), {"b1", "b2", "b3"})
            diffs = [(i, x, y) for i, (x, y) in enumerate(zip(first, second)) if x != y]
            self.assertEqual(diffs, [], "the two instances disagree (key index, rw1, rw2)")
        h.run(go())


if __name__ == "__main__":
    unittest.main()
