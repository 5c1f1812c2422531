"""`workers: N`: N event-loop threads, each with its own SO_REUSEPORT socket per listener.

Connections spread over the workers (ringway_worker_connections_active{worker}); 200 concurrent
echo clients all work; the backend a key reaches is the same as with one worker; reloads under load
drop nothing; an admin drain and SIGTERM reach the connections of every worker; /metrics totals
are the sums over the workers; limits.max_connections counts the whole process; `--check` refuses
bad values with file:line:column."""

import asyncio
import os
import re
import signal
import socket
import subprocess
import time
import unittest

import harness as h
from test_limits_helpers import metric

CLIENTS = 200


def worker_counts(rw, name="ringway_worker_connections_active"):
    """{worker index: value} of a per-worker metric."""
    code, body = rw.admin_get("/metrics")
    assert code == 200, code
    out = {}
    for m in re.finditer(name + r'\{worker="(\d+)"\} (\d+)', body.decode()):
        out[int(m.group(1))] = int(m.group(2))
    return out


def wait_for(predicate, timeout=h.IO_TIMEOUT, what="condition"):
    deadline = time.monotonic() + h.budget(timeout)
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def status_of(port, timeout=10.0):
    """The status code ringway answers an upgrade with; a 101's socket stays open (returned)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(h.upgrade_request("/")[0])
    head, rest = h.read_head(s, timeout=timeout)
    if head.status == 101:
        return 101, s
    h.read_until_eof(s, rest, timeout)
    s.close()
    return head.status, None


class Workers(h.IntegrationTestCase):
    def start(self, workers, backends=1, pool_extra=None, top=None):
        self.backends = self.start_backends(backends)
        settings = {"workers": workers}
        settings.update(top or {})
        return self.start_ringway([h.pool("echo", self.backends, **(pool_extra or {}))], top=settings)

    async def hold_clients(self, rw, n, path="/ws"):
        """n open, echoing WebSocket clients (each echo checked)."""
        sem = asyncio.Semaphore(50)

        async def one(i):
            async with sem:
                ws = await h.ws_connect(rw, f"{path}/{i}")
                await ws.send(f"hello {i}")
                self.assertEqual(await asyncio.wait_for(ws.recv(), h.IO_TIMEOUT), f"hello {i}")
                return ws
        return await asyncio.gather(*(one(i) for i in range(n)))

    def test_connections_spread_over_workers_and_metrics_are_sums(self):
        for workers in (2, 4):
            with self.subTest(workers=workers):
                rw = self.start(workers)
                self.assertEqual(metric(rw, "ringway_workers"), workers)
                total_before = metric(rw, "ringway_connections_total", listener="public")
                messages_before = metric(rw, "ringway_messages_total", direction="client_to_backend")

                async def go():
                    clients = await self.hold_clients(rw, CLIENTS)
                    try:
                        # Every client echoes a second time, all at once.
                        for i, ws in enumerate(clients):
                            await ws.send(f"again {i}")
                        for i, ws in enumerate(clients):
                            self.assertEqual(await asyncio.wait_for(ws.recv(), h.IO_TIMEOUT), f"again {i}")
                        active = worker_counts(rw)
                        self.assertEqual(sorted(active), list(range(workers)), active)
                        self.assertEqual(sum(active.values()), CLIENTS, active)
                        # 200 connections hashed over N sockets: every worker has some.
                        self.assertTrue(all(v > 0 for v in active.values()), active)
                        self.assertEqual(metric(rw, "ringway_connections_active", listener="public"), CLIENTS)
                        st = rw.status_json()
                        self.assertEqual([w["worker"] for w in st["workers"]], list(range(workers)))
                        self.assertEqual(sum(w["connections_active"] for w in st["workers"]), CLIENTS)
                        self.assertEqual(st["listeners"][0]["connections_active"], CLIENTS)
                    finally:
                        await asyncio.gather(*(ws.close() for ws in clients))
                h.run(go())
                wait_for(lambda: metric(rw, "ringway_connections_active", listener="public") == 0,
                         what="connections to close")
                self.assertEqual(metric(rw, "ringway_connections_total", listener="public") - total_before, CLIENTS)
                self.assertEqual(sum(worker_counts(rw, "ringway_worker_connections_total").values()),
                                 metric(rw, "ringway_connections_total", listener="public"))
                self.assertEqual(
                    metric(rw, "ringway_messages_total", direction="client_to_backend") - messages_before,
                    2 * CLIENTS)
                self.assertEqual(metric(rw, "ringway_upgrades_total", pool="echo", backend="b1", result="ok"),
                                 CLIENTS)
                rw.proc.send_signal(signal.SIGTERM)
                self.assertEqual(rw.wait_exit(15), 0)

    def test_stickiness_is_the_same_with_one_and_with_two_workers(self):
        backends = self.start_backends(3)
        landed = {}
        for workers in (1, 2):
            rw = self.start_ringway([h.pool("chat", backends, hash_key="header:X-User")],
                                    top={"workers": workers})

            async def go():
                sem = asyncio.Semaphore(20)

                async def one(i):
                    async with sem:
                        return await h.backend_for(rw.port, "/ws", {"X-User": f"user-{i}"})
                return await asyncio.gather(*(one(i) for i in range(150)))
            landed[workers] = h.run(go())
            rw.kill()
        self.assertEqual(set(landed[1]), {"b1", "b2", "b3"})
        self.assertEqual(landed[1], landed[2])

    def test_reloads_under_load_on_two_workers_drop_nothing(self):
        rw = self.start(2, backends=2)
        configs = []
        for weight in (1, 3):
            backends = [{"name": b.name, "address": b.address} for b in self.backends]
            backends[1]["weight"] = weight
            configs.append(self.make_config([h.pool("echo", backends)], rw.port, rw.admin_port))
        problems = []
        counts = {"echoed": 0, "churned": 0}

        async def echoer(ws, stop):
            seq = 0
            while not stop.is_set():
                try:
                    await ws.send(f"m{seq}")
                    reply = await asyncio.wait_for(ws.recv(), h.IO_TIMEOUT)
                except Exception as e:  # noqa: BLE001
                    problems.append(f"echo: {e!r}")
                    return
                if reply != f"m{seq}":
                    problems.append(f"echo: sent m{seq}, got {reply!r}")
                    return
                seq += 1
                counts["echoed"] += 1
                await asyncio.sleep(0.005)

        async def churn(stop):
            while not stop.is_set():
                try:
                    async with h.ws_connect(rw, "/churn") as ws:
                        await ws.send("x")
                        if await asyncio.wait_for(ws.recv(), h.IO_TIMEOUT) != "x":
                            problems.append("churn: wrong echo")
                    counts["churned"] += 1
                except Exception as e:  # noqa: BLE001
                    problems.append(f"churn: {e!r}")
                await asyncio.sleep(0.01)

        async def go():
            clients = await self.hold_clients(rw, 40)
            stop = asyncio.Event()
            tasks = [asyncio.create_task(echoer(ws, stop)) for ws in clients]
            tasks += [asyncio.create_task(churn(stop)) for _ in range(4)]
            loop = asyncio.get_running_loop()
            for i in range(20):
                applied = await loop.run_in_executor(None, rw.reload, configs[(i + 1) % 2])
                if not applied:
                    problems.append(f"reload {i} refused")
                await asyncio.sleep(0.05)
            stop.set()
            await asyncio.gather(*tasks)
            await asyncio.gather(*(ws.close() for ws in clients))
        h.run(go(), timeout=120)
        self.assertEqual(problems, [])
        self.assertGreater(counts["echoed"], 200)
        self.assertGreater(counts["churned"], 20)
        self.assertEqual(rw.status_json()["generation"], 21)

    def test_admin_drain_sends_1001_on_every_worker(self):
        rw = self.start(2, pool_extra={"drain_timeout": "1s"})

        async def go():
            clients = await self.hold_clients(rw, 40)
            active = worker_counts(rw)
            self.assertTrue(all(v > 0 for v in active.values()), f"not spread over both workers: {active}")
            code, _ = rw.admin_post("/pools/echo/backends/b1/drain")
            self.assertEqual(code, 200)
            for ws in clients:
                with self.assertRaises(h.websockets.ConnectionClosed) as caught:
                    await asyncio.wait_for(ws.recv(), h.IO_TIMEOUT)
                self.assertEqual(caught.exception.code, 1001)
        h.run(go())
        wait_for(lambda: sum(worker_counts(rw).values()) == 0, what="drained connections to close")
        self.assertEqual(metric(rw, "ringway_go_away_total", cause="drain"), 40)

    def test_sigterm_drains_every_worker_and_exits_0(self):
        rw = self.start(2, top={"shutdown": {"drain_timeout": "2s"}})

        async def go():
            clients = await self.hold_clients(rw, 40)
            active = worker_counts(rw)
            self.assertTrue(all(v > 0 for v in active.values()), f"not spread over both workers: {active}")
            rw.proc.send_signal(signal.SIGTERM)
            for ws in clients:
                with self.assertRaises(h.websockets.ConnectionClosed) as caught:
                    await asyncio.wait_for(ws.recv(), h.IO_TIMEOUT)
                self.assertEqual(caught.exception.code, 1001)
        h.run(go())
        self.assertEqual(rw.wait_exit(15), 0)
        self.assertIn("shutdown complete", rw.log())

    def test_max_connections_counts_every_worker(self):
        rw = self.start(2, top={"limits": {"max_connections": 10}})
        held = []
        try:
            for _ in range(10):
                code, s = status_of(rw.port)
                self.assertEqual(code, 101)
                held.append(s)
            active = worker_counts(rw)
            self.assertEqual(sum(active.values()), 10, active)
            # Several attempts: the kernel hands them to either worker; every one is refused.
            for _ in range(8):
                code, s = status_of(rw.port)
                self.assertEqual(code, 503)
            held.pop().close()
            wait_for(lambda: sum(worker_counts(rw).values()) == 9, what="a connection to close")
            code, s = status_of(rw.port)
            self.assertEqual(code, 101)
            held.append(s)
        finally:
            for s in held:
                s.close()

    def test_check_refuses_bad_worker_counts(self):
        base = self.make_config([h.pool("echo", [{"name": "b1", "address": "127.0.0.1:9"}])], 8080)
        for value, ok in (("auto", True), ("1", True), ("64", True), ("0", False), ("-1", False),
                          ("65", False), ("lots", False), ("1.5", False)):
            with self.subTest(value=value):
                path = os.path.join(self.tmpdir, f"check-{value}.yaml")
                text = base + f"workers: {value}\n"
                with open(path, "w") as f:
                    f.write(text)
                line = text.splitlines().index(f"workers: {value}") + 1
                p = subprocess.run([h.RINGWAY_BIN, "-c", path, "--check"], capture_output=True, text=True,
                                   timeout=30)
                if ok:
                    self.assertEqual(p.returncode, 0, p.stderr)
                    self.assertIn("configuration OK", p.stdout)
                else:
                    self.assertEqual(p.returncode, 1)
                    self.assertEqual(p.stderr, f'{path}:{line}:10: error: workers: expected "auto" or an integer '
                                               f'from 1 to 64, found "{value}"\n')


if __name__ == "__main__":
    unittest.main()
