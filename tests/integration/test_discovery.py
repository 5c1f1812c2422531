"""DNS discovery with changing answers (`discover: dns`), against a resolver the test controls (a hosts
file seen only by ringway: test_discovery_helpers.py).

One ringway in front of a name that resolves to 2, then 3, then 2 other addresses, then to nothing:
- 2 addresses: both get traffic; the backends are named by their address and say where they came from;
- 3: the new one joins once its health check passes and takes new keys (only keys that move to it
  move); every connection already open is untouched;
- one removed: its connections get Close 1001 within the pool's drain_timeout, the others are
  untouched, and its keys go to the remaining backends;
- the name stops resolving: the previous addresses are kept (no rebuild, no drain);
- a SIGHUP reload uses the latest answers and drains nothing.
"""

import asyncio
import time
import unittest

import websockets

import harness as h
from test_discovery_helpers import DISCOVERY_NAME, DnsCase, backends_of

IPS = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
IDS = ["d2", "d3", "d4"]
DRAIN = 3.0   # the pool's drain_timeout (closes are paced over 80% of it)
MARGIN = 5.0  # failure guard on top of it
KEYS = [f"user-{i}" for i in range(60)]


async def wait_close(ws):
    try:
        while True:
            await ws.recv()
    except websockets.ConnectionClosed as e:
        return time.monotonic(), (e.rcvd.code if e.rcvd else None)


class Discovery(DnsCase):
    def test_backends_follow_the_answers(self):
        port = self.start_backends_at(IPS, IDS)
        hosts = self.new_hosts({DISCOVERY_NAME: IPS[:2]})
        entry = {"name": "chat-backends", "address": f"{DISCOVERY_NAME}:{port}", "discover": "dns",
                 "interval": "200ms"}
        check = {"type": "tcp", "interval": "200ms", "timeout": "150ms", "rise": 1, "fall": 2}
        rw = self.start_ringway_ns(hosts, lambda p, a: self.discovery_config(
            p, a, [entry], drain_timeout=f"{int(DRAIN)}s", health_check=check))

        def name(ip):
            return f"chat-backends@{ip}:{port}"

        def up(b):
            return b["state"] == "up"

        async def go():
            # -- two addresses ----------------------------------------------------------------
            seen = await asyncio.to_thread(self.wait_backends, rw, [name(ip) for ip in IPS[:2]], up)
            for ip in IPS[:2]:
                self.assertEqual(seen[name(ip)]["address"], f"{ip}:{port}")
                self.assertEqual(seen[name(ip)]["discovered_from"], "chat-backends")
            first = await backends_of(rw, KEYS)
            self.assertEqual(set(first.values()), {"d2", "d3"}, first)

            held = {}
            for k in KEYS:
                ws = await h.ws_connect(rw, "/ws", {"X-User": k})
                self.assertEqual(ws.response_headers.get("X-Backend"), first[k])
                held[k] = ws

            # -- three: the new one takes only keys that move to it -----------------------------
            generation = await asyncio.to_thread(self.generation, rw)
            await asyncio.to_thread(self.set_hosts, hosts, {DISCOVERY_NAME: IPS})
            await asyncio.to_thread(self.wait_backends, rw, [name(ip) for ip in IPS], up)
            self.assertGreater(await asyncio.to_thread(self.generation, rw), generation)
            second = await backends_of(rw, KEYS)
            moved = [k for k in KEYS if second[k] != first[k]]
            self.assertTrue(moved, "no key moved to the new backend")
            self.assertEqual({second[k] for k in moved}, {"d4"}, second)
            for k, ws in held.items():  # every open connection untouched, on its backend
                self.assertEqual(await h.whoami(ws), first[k])

            # -- one removed: its connections drain with 1001, the others stay ----------------
            on_d2 = {k: ws for k, ws in held.items() if first[k] == "d2"}
            others = {k: ws for k, ws in held.items() if first[k] != "d2"}
            self.assertTrue(on_d2 and others)
            waiters = [asyncio.create_task(wait_close(ws)) for ws in on_d2.values()]
            began = time.monotonic()
            await asyncio.to_thread(self.set_hosts, hosts, {DISCOVERY_NAME: IPS[1:]})
            await asyncio.to_thread(self.wait_backends, rw, [name(ip) for ip in IPS[1:]])
            closes = await asyncio.wait_for(asyncio.gather(*waiters), h.budget(DRAIN + MARGIN + 5))
            self.assertEqual({code for _t, code in closes}, {1001}, closes)
            self.assertLess(max(t for t, _c in closes) - began, DRAIN + MARGIN)
            for k, ws in others.items():
                self.assertEqual(await h.whoami(ws), first[k])
            third = await backends_of(rw, KEYS)
            for k in KEYS:
                if second[k] != "d2":
                    self.assertEqual(third[k], second[k], k)  # keys of kept backends stay
                else:
                    self.assertIn(third[k], {"d3", "d4"}, k)
            self.assertEqual(set(third.values()), {"d3", "d4"})

            # -- the name stops resolving: the previous addresses are kept --------------------
            generation = await asyncio.to_thread(self.generation, rw)
            await asyncio.to_thread(self.set_hosts, hosts, {})
            await asyncio.to_thread(self.wait_log, rw, "name does not resolve; keeping its previous addresses")
            await asyncio.sleep(1.0)  # five more failed lookups
            await asyncio.to_thread(self.wait_backends, rw, [name(ip) for ip in IPS[1:]], up)
            self.assertEqual(await asyncio.to_thread(self.generation, rw), generation)
            self.assertEqual(await backends_of(rw, KEYS), third)
            await asyncio.to_thread(self.set_hosts, hosts, {DISCOVERY_NAME: list(reversed(IPS[1:]))})
            await asyncio.to_thread(self.wait_log, rw, "name resolves again")
            self.assertEqual(await asyncio.to_thread(self.generation, rw), generation)  # same answer

            # -- a SIGHUP reload uses the latest answers and drains nothing -------------------
            self.assertTrue(await asyncio.to_thread(rw.reload))
            kept = await asyncio.to_thread(self.wait_backends, rw, [name(ip) for ip in IPS[1:]], up)
            self.assertEqual(sum(b["active_connections"] for b in kept.values()), len(others))
            self.assertEqual(await backends_of(rw, KEYS), third)
            for k, ws in others.items():
                self.assertEqual(await h.whoami(ws), first[k])
                await ws.close()

        h.run(go(), timeout=100)
        self.assertNotIn("reload failed", rw.log())


if __name__ == "__main__":
    unittest.main()
