"""What a reload (SIGHUP) changes, one test per kind of change: a backend removed (its WebSockets
get Close 1001 within the pool's drain_timeout, the others carry on), added (it takes its share of
new keys), re-weighted, marked `drain` and unmarked; the hash key; a pool and a route; timeouts and
limits (for new connections only); run-time backend state (an admin drain, live counts) kept across
a reload that does not touch it. Every applied reload adds one to /status generation."""

import asyncio
import time
import unittest

import websockets

import harness as h

DRAIN = 3.0                # pools[].drain_timeout used below
DRAIN_GUARD = DRAIN + 3.0  # failure guard only: scheduling on a loaded machine


def bcfg(backends, **extra_by_name):
    """Backend entries; extra_by_name: name -> dict of extra keys (weight, drain)."""
    out = []
    for b in backends:
        e = {"name": b.name, "address": b.address}
        e.update(extra_by_name.get(b.name, {}))
        out.append(e)
    return out


async def landings(rw, requests, parallel=20):
    """requests: list of (path, headers). The backend name each lands on, in order."""
    sem = asyncio.Semaphore(parallel)

    async def one(path, headers):
        async with sem:
            return await h.backend_for(rw.port, path, headers)

    return await asyncio.gather(*(one(p, hd) for p, hd in requests))


def user_requests(keys):
    return [("/ws", {"X-User": k}) for k in keys]


async def open_keyed(rw, keys):
    """One held WebSocket per key (X-User). Returns {key: ws}."""
    conns = {}
    for k in keys:
        conns[k] = await h.ws_connect(rw, "/ws", {"X-User": k})
    return conns


def by_backend(conns):
    groups = {}
    for k, ws in conns.items():
        groups.setdefault(ws.response_headers.get("X-Backend"), []).append(k)
    return groups


async def closed_with(ws, guard):
    """Waits until the connection ends. Returns (close code received or None, monotonic time), or
    ("still open", t) after `guard` seconds."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), h.budget(guard))
    except websockets.ConnectionClosed as e:
        return (e.rcvd.code if e.rcvd else None), time.monotonic()
    except asyncio.TimeoutError:
        return "still open", time.monotonic()


async def echo(ws, text):
    await ws.send(text)
    return await asyncio.wait_for(ws.recv(), h.IO_TIMEOUT)


async def keep_echoing(name, ws, stop, problems):
    """Echoes on `ws` until `stop`; any drop or wrong answer goes to `problems`."""
    n = 0
    try:
        while not stop.is_set():
            got = await echo(ws, f"{name} {n}")
            if got != f"{name} {n}":
                problems.append(f"{name}: sent {name} {n}, got {got!r}")
                return
            n += 1
            await asyncio.sleep(0.05)
    except Exception as e:  # noqa: BLE001
        problems.append(f"{name}: {e!r}")


class ReloadCase(h.IntegrationTestCase):
    def reload_ok(self, rw, text, generation):
        """Applies `text`; checks it was applied and /status generation and reload counts."""
        self.assertTrue(rw.reload(text), f"reload refused; log:\n{rw.log()[-3000:]}")
        st = rw.status_json()
        self.assertEqual(st["generation"], generation, "generation must go up by one per reload")
        self.assertEqual(st["reloads"], {"success": generation - 1, "failure": 0})
        return st

    def backend_status(self, rw, name, pool="chat"):
        for p in rw.status_json()["pools"]:
            if p["name"] == pool:
                for b in p["backends"]:
                    if b["name"] == name:
                        return b
        return None


class RemovedAndDrainedBackends(ReloadCase):
    def setUp(self):
        super().setUp()
        self.b = self.start_backends(3)

    def config(self, rw, backends, **extra):
        return self.make_config([h.pool("chat", backends, hash_key="header:X-User",
                                        drain_timeout=f"{DRAIN:g}s")],
                                rw.port, rw.admin_port, **extra)

    def start(self):
        return self.start_ringway([h.pool("chat", bcfg(self.b), hash_key="header:X-User",
                                          drain_timeout=f"{DRAIN:g}s")])

    async def drain_and_check_others(self, rw, conns, victim, new_text, generation):
        """Applies `new_text` while the clients of the other backends echo; checks that every
        client of `victim` gets Close 1001 within the drain window and that nobody else noticed."""
        groups = by_backend(conns)
        victims = groups.get(victim, [])
        self.assertTrue(victims, f"no connection landed on {victim}: {groups}")
        others = [k for k in conns if k not in victims]
        self.assertTrue(others, groups)

        stop = asyncio.Event()
        problems = []
        echoers = [asyncio.ensure_future(keep_echoing(k, conns[k], stop, problems)) for k in others]
        waits = [asyncio.ensure_future(closed_with(conns[k], DRAIN_GUARD)) for k in victims]
        t0 = time.monotonic()
        await asyncio.to_thread(self.reload_ok, rw, new_text, generation)
        ends = await asyncio.gather(*waits)
        await asyncio.sleep(0.3)  # the others keep echoing a little after the drain
        stop.set()
        await asyncio.gather(*echoers)

        codes = [code for code, _ in ends]
        self.assertEqual(codes, [1001] * len(victims),
                         f"clients of {victim}: close codes {codes} (expected 1001 each)")
        latest = max(t for _, t in ends) - t0
        print(f"\n{victim}: {len(victims)} clients told 1001, the last {latest:.2f}s after SIGHUP "
              f"(drain_timeout {DRAIN:g}s)", flush=True)
        self.assertLess(latest, DRAIN_GUARD)
        self.assertEqual(problems, [], "clients of other backends were disturbed")
        return victims, others

    def test_removed_backend_drains_with_1001_others_untouched(self):
        rw = self.start()
        keys = [f"user-{i}" for i in range(45)]
        victim = "b3"
        remaining = [b for b in self.b if b.name != victim]

        async def go():
            conns = await open_keyed(rw, keys)
            try:
                victims, others = await self.drain_and_check_others(
                    rw, conns, victim, self.config(rw, bcfg(remaining)), 2)
                self.assertIn("backend removed by reload", rw.log())
                st = rw.status_json()
                self.assertEqual([b["name"] for b in st["pools"][0]["backends"]], ["b1", "b2"])
                # The others still echo; the victim's keys land on the remaining backends.
                for k in others:
                    self.assertEqual(await echo(conns[k], f"after {k}"), f"after {k}")
                got = await landings(rw, user_requests(victims))
                self.assertNotIn(victim, got)
            finally:
                for ws in conns.values():
                    await ws.close()
            await asyncio.sleep(0.2)
            # The kept backends' live counts went back to zero.
            self.assertEqual(self.backend_status(rw, "b1")["active_connections"], 0)
            self.assertEqual(self.backend_status(rw, "b2")["active_connections"], 0)
        h.run(go())

    def test_drain_flag_by_reload_then_back_in_rotation(self):
        rw = self.start()
        keys = [f"user-{i}" for i in range(30)]
        probe = [f"probe-{i}" for i in range(90)]
        victim = "b2"

        async def go():
            conns = await open_keyed(rw, keys)
            try:
                mapping0 = await landings(rw, user_requests(probe))
                self.assertIn(victim, mapping0)
                await self.drain_and_check_others(
                    rw, conns, victim, self.config(rw, bcfg(self.b, b2={"drain": True})), 2)
                self.assertEqual(self.backend_status(rw, victim)["state"], "draining")
                during = await landings(rw, user_requests(probe))
                self.assertNotIn(victim, during, "a draining backend took new connections")
                # Keys of the other backends did not move.
                moved = [k for k, a, b in zip(probe, mapping0, during) if a != victim and a != b]
                self.assertEqual(moved, [], "keys of backends still in rotation moved")

                await asyncio.to_thread(
                    self.reload_ok, rw, self.config(rw, bcfg(self.b, b2={"drain": False})), 3)
                self.assertEqual(self.backend_status(rw, victim)["state"], "up")
                after = await landings(rw, user_requests(probe))
                self.assertEqual(after, mapping0, "after drain: false the mapping is not the original one")
            finally:
                for ws in conns.values():
                    await ws.close()
        h.run(go())


class AddedAndReweighted(ReloadCase):
    def test_added_backend_takes_keys_and_weight_grows_its_share(self):
        b = self.start_backends(3)
        rw = self.start_ringway([h.pool("chat", bcfg(b[:2]), hash_key="header:X-User")])
        keys = [f"user-{i}" for i in range(300)]

        def cfg(backends):
            return self.make_config([h.pool("chat", backends, hash_key="header:X-User")],
                                    rw.port, rw.admin_port)

        async def go():
            held = await h.ws_connect(rw, "/ws", {"X-User": "held"})
            try:
                l0 = await landings(rw, user_requests(keys))
                self.assertEqual(set(l0), {"b1", "b2"})

                await asyncio.to_thread(self.reload_ok, rw, cfg(bcfg(b)), 2)
                l1 = await landings(rw, user_requests(keys))
                n1 = l1.count("b3")
                self.assertGreaterEqual(n1, 30, f"the added backend got {n1} of 300 keys")
                # The keys the new backend did not take stay where they were (consistent hashing).
                moved_elsewhere = [k for k, x, y in zip(keys, l0, l1) if x != y and y != "b3"]
                self.assertLessEqual(len(moved_elsewhere), 15,
                                     f"keys moved between old backends: {moved_elsewhere[:10]}")

                await asyncio.to_thread(self.reload_ok, rw, cfg(bcfg(b, b3={"weight": 5})), 3)
                self.assertEqual(self.backend_status(rw, "b3")["weight"], 5)
                l2 = await landings(rw, user_requests(keys))
                n2 = l2.count("b3")
                print(f"\nb3: {n1}/300 keys at weight 1, {n2}/300 at weight 5", flush=True)
                self.assertGreater(n2, n1 + 30, f"weight 1 -> 5: share {n1} -> {n2} of 300")
                self.assertGreater(n2, 150, f"weight 5 of 7: only {n2} of 300 keys")

                # The connection opened before all this still echoes.
                self.assertEqual(await echo(held, "still"), "still")
            finally:
                await held.close()
        h.run(go())


class HashKeyPoolsRoutes(ReloadCase):
    def test_hash_key_changed_then_pool_and_route_added(self):
        b = self.start_backends(4)
        rw = self.start_ringway([h.pool("chat", bcfg(b[:3]), hash_key="header:X-User")])

        def rooms(user, names):
            return [(f"/ws?room={r}", {"X-User": user}) for r in names]

        async def go():
            held = await h.ws_connect(rw, "/ws?room=x", {"X-User": "held"})
            try:
                # header:X-User: one user, many rooms -> one backend.
                got = await landings(rw, rooms("alice", [f"r{i}" for i in range(30)]))
                self.assertEqual(len(set(got)), 1, got)

                text = self.make_config([h.pool("chat", bcfg(b[:3]), hash_key="query:room")],
                                        rw.port, rw.admin_port)
                await asyncio.to_thread(self.reload_ok, rw, text, 2)
                self.assertEqual(rw.status_json()["pools"][0]["hash_key"], "query:room")
                # query:room: one user, many rooms -> spread; one room, many users -> one backend.
                got = await landings(rw, rooms("alice", [f"r{i}" for i in range(30)]))
                self.assertGreater(len(set(got)), 1, f"hash key still the header: {got}")
                same_room = await landings(rw, [("/ws?room=r7", {"X-User": f"u{i}"}) for i in range(20)])
                self.assertEqual(len(set(same_room)), 1, same_room)

                # A new pool and a route to it.
                text = self.make_config(
                    [h.pool("chat", bcfg(b[:3]), hash_key="query:room"),
                     h.pool("side", bcfg(b[3:]), hash_key="query:room",
                            drain_timeout=f"{DRAIN:g}s")],
                    rw.port, rw.admin_port,
                    listener_extra={"routes": [{"path_prefix": "/side", "pool": "side"}]})
                await asyncio.to_thread(self.reload_ok, rw, text, 3)
                side = await landings(rw, [(f"/side?room=r{i}", {}) for i in range(10)])
                self.assertEqual(set(side), {"b4"}, side)
                main = await landings(rw, [(f"/ws?room=r{i}", {}) for i in range(30)])
                self.assertNotIn("b4", main)

                # The pool and its route removed again: its WebSockets drain (Close 1001 within
                # the removed pool's drain_timeout), the route is gone.
                side_ws = await h.ws_connect(rw, "/side?room=a")
                self.assertEqual(side_ws.response_headers.get("X-Backend"), "b4")
                text = self.make_config([h.pool("chat", bcfg(b[:3]), hash_key="query:room")],
                                        rw.port, rw.admin_port)
                t0 = time.monotonic()
                await asyncio.to_thread(self.reload_ok, rw, text, 4)
                code, t = await closed_with(side_ws, DRAIN_GUARD)
                self.assertEqual(code, 1001, "client of a removed pool")
                self.assertLess(t - t0, DRAIN_GUARD)
                side = await landings(rw, [(f"/side?room=r{i}", {}) for i in range(10)])
                self.assertNotIn("b4", side)
                self.assertEqual(await echo(held, "still"), "still")
            finally:
                await held.close()
        h.run(go())


class AddressChanged(ReloadCase):
    def test_same_identity_new_address_keeps_old_connections_new_ones_go_to_new_address(self):
        old = self.start_backend("b1")
        new = self.start_backend("b1-moved")  # reports itself as b1-moved in X-Backend
        rw = self.start_ringway([h.pool("chat", [{"name": "b1", "address": old.address}],
                                        drain_timeout="1s")])

        async def go():
            conns = [await h.ws_connect(rw, "/ws") for _ in range(5)]
            try:
                self.assertEqual({ws.response_headers.get("X-Backend") for ws in conns}, {"b1"})
                text = self.make_config([h.pool("chat", [{"name": "b1", "address": new.address}],
                                                drain_timeout="1s")], rw.port, rw.admin_port)
                await asyncio.to_thread(self.reload_ok, rw, text, 2)
                self.assertEqual(self.backend_status(rw, "b1")["address"], new.address)
                self.assertEqual(self.backend_status(rw, "b1")["active_connections"], 5,
                                 "live count of an unchanged identity lost")
                got = await landings(rw, [("/ws", {})] * 5)
                self.assertEqual(set(got), {"b1-moved"})
                # Same identity: not a removal, so nothing drains (wait past the 1 s window).
                await asyncio.sleep(1.5)
                for i, ws in enumerate(conns):
                    self.assertEqual(await echo(ws, f"old {i}"), f"old {i}",
                                     "connection to the old address was disturbed")
            finally:
                for ws in conns:
                    await ws.close()
        h.run(go())


class LimitsAndTimeouts(ReloadCase):
    def test_new_limits_and_timeouts_apply_to_new_connections_only(self):
        b = self.start_backends(1)
        pools = [h.pool("chat", b)]
        top0 = {"limits": {"max_header_size": "16KiB"}, "timeouts": {"handshake": "10s"}}
        top1 = {"limits": {"max_header_size": "1KiB"}, "timeouts": {"handshake": "1s"}}
        rw = self.start_ringway(pools, top=top0)
        pad = [("X-Pad", "p" * 2000)]
        partial = b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\n"

        # Under the old limits a 2000-byte header passes.
        s, _, _ = h.raw_upgrade(rw.port, "/ws", extra_headers=pad)
        s.close()

        # An established WebSocket, and a connection accepted before the reload, still sending
        # its head.
        ws, _, frames = h.raw_upgrade(rw.port, "/ws")
        early = h.raw_connect(rw.port)
        try:
            early.sendall(partial)
            time.sleep(0.1)

            self.reload_ok(rw, self.make_config(pools, rw.port, rw.admin_port, top=top1), 2)

            # New connections: the smaller head limit...
            req, _ = h.upgrade_request("/ws", extra_headers=pad)
            head, body, _, _ = h.http_exchange(rw.port, req)
            self.assertEqual(head.status, 431, f"{head.raw!r} {body!r}")
            # ...and the shorter handshake timeout.
            with h.raw_connect(rw.port) as late:
                late.sendall(partial)
                head, body, _ = h.read_response(late, timeout=8)
                self.assertEqual(head.status, 408, f"{head.raw!r} {body!r}")

            # The connection accepted before the reload keeps its snapshot: 10 s, 16 KiB.
            req, key = h.upgrade_request("/ws", extra_headers=pad)
            early.sendall(req[len(partial):])
            head, _ = h.read_head(early)
            self.assertEqual(head.status, 101, f"connection accepted before the reload: {head.raw!r}")

            ws.sendall(h.encode_frame(h.OP_TEXT, "still"))
            f = frames.read_frame()
            self.assertEqual((f.opcode, f.payload), (h.OP_TEXT, b"still"))
        finally:
            early.close()
            ws.close()


class StateKept(ReloadCase):
    def test_admin_drain_and_live_counts_survive_reloads(self):
        b = self.start_backends(3)
        pools = lambda **kw: [h.pool("chat", bcfg(b, **kw), hash_key="header:X-User",  # noqa: E731
                                     drain_timeout=f"{DRAIN:g}s")]
        rw = self.start_ringway(pools())
        keys = [f"user-{i}" for i in range(30)]
        probe = [f"probe-{i}" for i in range(60)]

        async def go():
            conns = await open_keyed(rw, keys)
            try:
                groups = by_backend(conns)
                self.assertTrue(groups.get("b1"), groups)
                code, _ = rw.admin_post("/pools/chat/backends/b1/drain")
                self.assertEqual(code, 200)
                ends = await asyncio.gather(*(closed_with(conns[k], DRAIN_GUARD) for k in groups["b1"]))
                self.assertEqual([c for c, _ in ends], [1001] * len(groups["b1"]))
                live = {n: len(groups.get(n, [])) for n in ("b2", "b3")}
                for n, count in live.items():
                    self.assertEqual(self.backend_status(rw, n)["active_connections"], count, n)

                # Reloads that do not touch b1's `drain` key: the admin drain stays, counts stay.
                text = self.make_config(pools(b3={"weight": 2}), rw.port, rw.admin_port,
                                        top={"timeouts": {"connect": "3s"}})
                await asyncio.to_thread(self.reload_ok, rw, text, 2)
                text = self.make_config(pools(b3={"weight": 3}), rw.port, rw.admin_port)
                await asyncio.to_thread(self.reload_ok, rw, text, 3)
                self.assertEqual(self.backend_status(rw, "b1")["state"], "draining")
                for n, count in live.items():
                    self.assertEqual(self.backend_status(rw, n)["active_connections"], count,
                                     f"{n}: live count lost across the reload")
                got = await landings(rw, user_requests(probe))
                self.assertNotIn("b1", got, "admin-drained backend back in rotation after a reload")

                # Undrained by the admin, it takes keys again.
                code, _ = rw.admin_post("/pools/chat/backends/b1/undrain")
                self.assertEqual(code, 200)
                got = await landings(rw, user_requests(probe))
                self.assertIn("b1", got)
                for k in keys:
                    if k not in groups["b1"]:
                        self.assertEqual(await echo(conns[k], k), k)
            finally:
                for ws in conns.values():
                    await ws.close()
            # Closing after the reloads decrements the same counters.
            for n in ("b1", "b2", "b3"):
                self.assertEqual(self.backend_status(rw, n)["active_connections"], 0, n)
        h.run(go())


if __name__ == "__main__":
    unittest.main()
