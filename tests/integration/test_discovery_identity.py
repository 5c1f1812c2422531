"""DNS discovery: identity, startup and reloads (resolver controlled by the test:
test_discovery_helpers.py).

- Two ringways whose files list the entries in a different order, and whose resolvers give the
  addresses in a different order, send every key to the same address.
- A name with no answer at startup: ringway starts, the pool has no backend from that entry (503,
  /ready 503, logged), and the backends join as soon as the name resolves.
- A reload that adds a `discover: dns` entry resolves its name at once; one that removes the entry
  drains its backends; `interval` changes apply.
"""

import asyncio
import os
import unittest

import harness as h
from test_discovery_helpers import DISCOVERY_NAME, DnsCase, backends_of

IPS = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"]
IDS = ["d2", "d3", "d4", "d5"]
KEYS = [f"user-{i}" for i in range(80)]


class DiscoveryIdentity(DnsCase):
    def test_same_key_same_address_in_every_instance(self):
        port = self.start_backends_at(IPS, IDS)
        solo = self.start_backend("solo")
        fleet = {"name": "fleet", "address": f"{DISCOVERY_NAME}:{port}", "discover": "dns",
                 "interval": "200ms"}
        static = {"name": "solo", "address": solo.address}
        hosts_a = self.new_hosts({DISCOVERY_NAME: IPS})
        hosts_b = self.new_hosts({DISCOVERY_NAME: [IPS[2], IPS[0], IPS[3], IPS[1]]})
        a = self.start_ringway_ns(hosts_a, lambda p, ad: self.discovery_config(p, ad, [fleet, static]))
        b = self.start_ringway_ns(hosts_b, lambda p, ad: self.discovery_config(p, ad, [static, fleet]))
        names = ["solo"] + [f"fleet@{ip}:{port}" for ip in IPS]
        for rw in (a, b):
            self.wait_backends(rw, names)

        async def go():
            return await backends_of(a, KEYS), await backends_of(b, KEYS)

        via_a, via_b = h.run(go())
        self.assertEqual(via_a, via_b)
        self.assertEqual(set(via_a.values()), set(IDS) | {"solo"}, via_a)

    def test_no_answer_at_startup_then_the_backends_join(self):
        port = self.start_backends_at(IPS[:2], IDS[:2])
        hosts = self.new_hosts({})
        entry = {"name": "fleet", "address": f"{DISCOVERY_NAME}:{port}", "discover": "dns",
                 "interval": "200ms"}
        rw = self.start_ringway_ns(hosts, lambda p, a: self.discovery_config(p, a, [entry]))
        self.wait_log(rw, "name does not resolve; its entries have no backends yet")
        self.assertEqual(self.pool_backends(rw), [])
        self.assertEqual(rw.admin_get("/ready")[0], 503)
        with h.raw_connect(rw.port) as s:
            req, _key = h.upgrade_request("/ws")
            s.sendall(req)
            head, _rest = h.read_head(s)
        self.assertTrue(head.status_line.startswith("HTTP/1.1 503"), head.status_line)

        self.set_hosts(hosts, {DISCOVERY_NAME: IPS[:2]})
        self.wait_backends(rw, [f"fleet@{ip}:{port}" for ip in IPS[:2]])
        self.assertEqual(rw.admin_get("/ready")[0], 200)
        self.assertEqual(set(h.run(backends_of(rw, KEYS[:40])).values()), set(IDS[:2]))

    def test_reload_adds_and_removes_discovered_entries(self):
        port = self.start_backends_at(IPS, IDS)
        other_name = "other-" + DISCOVERY_NAME
        hosts = self.new_hosts({DISCOVERY_NAME: IPS[:2], other_name: IPS[2:]})
        first = {"name": "first", "address": f"{DISCOVERY_NAME}:{port}", "discover": "dns"}
        second = {"name": "second", "address": f"{other_name}:{port}", "discover": "dns",
                  "interval": "200ms"}
        rw = self.start_ringway_ns(hosts, lambda p, a: self.discovery_config(p, a, [first],
                                                                             drain_timeout="1s"))
        first_names = [f"first@{ip}:{port}" for ip in IPS[:2]]
        second_names = [f"second@{ip}:{port}" for ip in IPS[2:]]
        self.wait_backends(rw, first_names)

        async def scenario():
            ws = await h.ws_connect(rw, "/ws", {"X-User": "held"})
            holder = ws.response_headers.get("X-Backend")
            self.assertIn(holder, IDS[:2])

            # Add the second entry and shorten the first one's interval.
            cfg = self.discovery_config(rw.port, rw.admin_port, [dict(first, interval="200ms"), second],
                                        drain_timeout="1s")
            self.assertTrue(await asyncio.to_thread(rw.reload, h.to_yaml(cfg) + "\n"))
            await asyncio.to_thread(self.wait_backends, rw, first_names + second_names)
            self.assertEqual(await h.whoami(ws), holder)  # a kept backend keeps its connections

            # 200ms now applies to the first name too: a change is seen quickly.
            await asyncio.to_thread(self.set_hosts, hosts, {DISCOVERY_NAME: IPS[:1] + IPS[:2],
                                                            other_name: IPS[2:]})
            # (the same two addresses, one listed twice: no change, no rebuild)
            generation = await asyncio.to_thread(self.generation, rw)
            await asyncio.sleep(0.6)
            self.assertEqual(await asyncio.to_thread(self.generation, rw), generation)

            # Remove the first entry: its backends drain (1001) and leave.
            cfg = self.discovery_config(rw.port, rw.admin_port, [second], drain_timeout="1s")
            self.assertTrue(await asyncio.to_thread(rw.reload, h.to_yaml(cfg) + "\n"))
            await asyncio.to_thread(self.wait_backends, rw, second_names)
            try:
                while True:
                    await asyncio.wait_for(ws.recv(), h.budget(15))
            except Exception as e:  # noqa: BLE001 - ConnectionClosed expected
                code = getattr(getattr(e, "rcvd", None), "code", None)
            self.assertEqual(code, 1001)
            self.assertEqual(set((await backends_of(rw, KEYS[:40])).values()), set(IDS[2:]))
            self.assertIn("discovery: name no longer used", rw.log())

        h.run(scenario())


if __name__ == "__main__":
    unittest.main()
