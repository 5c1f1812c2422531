"""Active health checks: each type (tcp, http, websocket) marks a backend down when it stops
answering, with the reason in /status and in the log, and up again after `rise` good checks; a new
backend takes no traffic before its first good check; a reload keeps the probes of kept backends."""

import asyncio
import re
import unittest

import websockets

import harness as h
from test_health_helpers import FAST_CHECK, HealthCase, ModalHttpBackend, ModalWsBackend


class ActiveChecks(HealthCase):
    def check_kill_and_restart(self, check):
        """wsecho behind `check`: up; killed -> down ("connect refused"); restarted -> up."""
        b1 = self.start_backend("b1")
        rw = self.start_ringway([self.health_pool([b1], dict(check, **FAST_CHECK))])
        up = self.wait_health(rw, "b1", "up")
        self.assertEqual(up["state"], "up")
        self.assertEqual(up["check"]["type"], check["type"])
        self.assertEqual(up["check"]["last"], "ok")
        self.wait_log(rw, r"backend up pool=chat backend=b1 check=" + check["type"])

        b1.kill()
        down = self.wait_health(rw, "b1", "down")
        self.assertEqual(down["state"], "down")
        self.assertEqual(down["check"]["last"], "connect refused")
        self.wait_log(rw, r'backend down pool=chat backend=b1 check=\S+ reason="connect refused"')
        # No backend up: a client gets 503.
        head, _body, _t, _how = h.http_exchange(rw.port, h.upgrade_request("/ws")[0])
        self.assertEqual(head.status, 503)

        self.start_backend_on("b1", b1.port)
        again = self.wait_health(rw, "b1", "up")
        self.assertEqual(again["check"]["last"], "ok")
        self.assertGreaterEqual(len(re.findall(r"backend up pool=chat backend=b1", rw.log())), 2)

        async def through():
            async with h.ws_connect(rw, "/ws", {"X-User": "u"}) as ws:
                await ws.send("after restart")
                self.assertEqual(await asyncio.wait_for(ws.recv(), h.IO_TIMEOUT), "after restart")
        h.run(through())

    def test_tcp_check_follows_a_killed_and_restarted_backend(self):
        self.check_kill_and_restart({"type": "tcp"})

    def test_http_check_follows_a_killed_and_restarted_backend(self):
        self.check_kill_and_restart({"type": "http", "path": "/health"})

    def test_websocket_check_follows_a_killed_and_restarted_backend(self):
        self.check_kill_and_restart({"type": "websocket", "path": "/health"})

    def test_http_check_judges_the_status_and_a_silent_backend(self):
        b = ModalHttpBackend(self, "web")
        rw = self.start_ringway([self.health_pool([{"name": "web", "address": b.address}],
                                                  dict(FAST_CHECK, type="http", path="/ready?deep=1"))])
        self.wait_health(rw, "web", "up")
        self.assertTrue(b.requests[0].startswith("GET /ready?deep=1 HTTP/1.1\r\n"), b.requests[0])
        self.assertIn(f"\r\nHost: {b.address}\r\n", b.requests[0])

        for mode, reason in (("503", "status 503"), ("silent", "timeout"), ("404", "status 404")):
            with self.subTest(mode=mode):
                b.mode = mode
                self.wait_backend(rw, "web", lambda x: x["health"] == "down" and x["check"]["last"] == reason,
                                  f"down ({reason})")
                self.wait_log(rw, f'backend down pool=chat backend=web check=http reason="?{reason}"?')
                b.mode = "302"  # 3xx counts as up
                self.assertEqual(self.wait_health(rw, "web", "up")["check"]["last"], "ok")

    def test_websocket_check_needs_an_upgrade_and_a_pong(self):
        b = ModalWsBackend(self, "ws1")
        rw = self.start_ringway([self.health_pool([b.entry()], dict(FAST_CHECK, type="websocket", path="/health"))])
        self.wait_health(rw, "ws1", "up")

        # Accepts TCP but never answers the upgrade.
        b.mode = "no_answer"
        self.wait_backend(rw, "ws1", lambda x: x["health"] == "down" and x["check"]["last"] == "timeout",
                          "down (timeout)")
        b.mode = "ok"
        self.wait_health(rw, "ws1", "up")

        # Upgrades but never answers a Ping.
        b.mode = "no_pong"
        self.wait_backend(rw, "ws1", lambda x: x["health"] == "down" and x["check"]["last"] == "no pong",
                          "down (no pong)")
        self.wait_log(rw, r'backend down pool=chat backend=ws1 check=websocket reason="no pong"')
        b.mode = "ok"
        self.wait_health(rw, "ws1", "up")

        # The good checks were real client-side WebSocket sessions: masked Pings, clean Closes.
        self.assertGreater(b.pings, 0)
        self.assertEqual(b.masked_pings, b.pings)
        self.assertGreater(b.clean_closes, 0)

    def test_a_backend_takes_no_traffic_before_its_first_good_check(self):
        b = ModalWsBackend(self, "late")
        b.mode = "no_answer"
        rw = self.start_ringway([self.health_pool([b.entry()], dict(FAST_CHECK, type="websocket"))])
        # Checks run and fail; no client reaches the backend meanwhile.
        self.wait_backend(rw, "late", lambda x: x["check"]["checks"] >= 2, "checked twice")
        for _ in range(3):
            head, _body, _t, _how = h.http_exchange(rw.port, h.upgrade_request("/ws")[0])
            self.assertEqual(head.status, 503)
        self.assertEqual(b.upgrades, 0)
        code, _ = rw.admin_get("/ready")
        self.assertEqual(code, 503)

        b.mode = "ok"
        self.wait_health(rw, "late", "up")
        s, head, _reader = h.raw_upgrade(rw.port, "/ws")
        s.close()
        self.assertEqual(head.get("X-Backend"), "late")
        code, _ = rw.admin_get("/ready")
        self.assertEqual(code, 200)

    def test_reload_keeps_probes_of_kept_backends_and_checks_new_ones_first(self):
        b1 = self.start_backend("b1")
        late = ModalWsBackend(self, "late")
        late.mode = "no_answer"
        check = dict(FAST_CHECK, type="websocket", path="/ws")
        rw = self.start_ringway([self.health_pool([b1], check)])
        before = self.wait_backend(rw, "b1", lambda x: x["health"] == "up" and x["check"]["checks"] >= 3,
                                   "up and checked")

        # Reload adds "late" (not answering yet): b1's probe goes on (its count keeps growing, no
        # new "backend up" line), and "late" gets no traffic.
        cfg = self.make_config([self.health_pool([b1, late.entry()], check)], rw.port, rw.admin_port)
        with open(rw.config_path, "w") as f:
            f.write(cfg)
        rw.proc.send_signal(1)  # SIGHUP
        self.wait_log(rw, r"configuration reloaded")
        self.wait_backend(rw, "late", lambda x: x["check"]["checks"] >= 2, "checked twice")
        after = self.backend_status(rw, "b1")
        self.assertEqual(after["health"], "up")
        self.assertGreater(after["check"]["checks"], before["check"]["checks"])
        self.assertEqual(after["check"]["since"], before["check"]["since"])
        self.assertEqual(len(re.findall(r"backend up pool=chat backend=b1 ", rw.log())), 1)

        async def landings():
            seen = set()
            for i in range(30):
                async with h.ws_connect(rw, "/ws", {"X-User": f"k{i}"}) as ws:
                    seen.add(ws.response_headers.get("X-Backend"))
            return seen
        self.assertEqual(h.run(landings()), {"b1"})
        self.assertEqual(late.upgrades, 0)

        # Once it answers, it takes its share.
        late.mode = "ok"
        self.wait_health(rw, "late", "up")
        self.assertEqual(h.run(landings()), {"b1", "late"})


if __name__ == "__main__":
    unittest.main()
