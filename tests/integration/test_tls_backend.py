"""TLS from ringway to backends (pools[].backend_tls): a python3-websockets backend with its own
certificate (signed by the test CA, names backend.test and IP 127.0.0.1). The right CA works (ws://
and wss:// clients; SNI = server_name, ALPN http/1.1); a wrong CA or a wrong server name gives the
client 502 with a log line that says why; verify: false works with the wrong CA; a plain backend
behind backend_tls gives 502; a reload changes the CA for new connections only.

With several backends: a backend whose TLS fails (a "rogue" certificate from another CA) is handled
like one whose connect fails (connect_retries tries another backend; passive ejection counts it),
and http/websocket health checks of a backend_tls pool speak TLS."""

import asyncio
import os
import time
import unittest

import websockets

import harness as h
import tls_helpers as t


class BackendTls(h.IntegrationTestCase):
    def setUp(self):
        super().setUp()
        self.pki = t.Pki.get()
        self.backend = t.TlsBackend(self.pki.backend_crt, self.pki.backend_key)
        self._threads_to_stop.append(self.backend.stop)

    def start(self, backend_tls, client_tls=False, backends=None, top=None):
        entries = backends or [{"name": "tb", "address": self.backend.address}]
        extra = None
        if client_tls:
            extra = {"tls": t.listener_tls((self.pki.alpha_crt, self.pki.alpha_key))}
        return self.start_ringway([h.pool("secure", entries, backend_tls=backend_tls)],
                                  listener_extra=extra, top=top)

    def assert_echoes(self, rw, wss=False):
        async def go():
            conn = (t.wss_connect(rw.port, "/ws") if wss else h.ws_connect(rw, "/ws"))
            async with conn as ws:
                for msg in ("over tls", b"\x00\xffbinary", os.urandom(1 << 20), "y" * 200000):
                    await ws.send(msg)
                    self.assertTrue(await asyncio.wait_for(ws.recv(), h.IO_TIMEOUT) == msg)
                await ws.send("__headers__")
                seen = await asyncio.wait_for(ws.recv(), h.IO_TIMEOUT)
                await ws.close(4000, "done")
                self.assertEqual(ws.close_code, 4000)
                return seen
        return h.run(go())

    def assert_502(self, rw, log_pattern):
        req, _key = h.upgrade_request("/ws")
        head, body, _trailing, _how = h.http_exchange(rw.port, req)
        self.assertEqual(head.status, 502, f"{head.raw!r} {body!r}\n{rw.log()[-3000:]}")
        deadline = time.monotonic() + h.budget(h.IO_TIMEOUT)
        while "backend tls failed" not in rw.log() and time.monotonic() < deadline:
            time.sleep(0.02)
        lines = [l for l in rw.log().splitlines() if "backend tls failed" in l]
        self.assertTrue(lines, f"no 'backend tls failed' log line:\n{rw.log()[-3000:]}")
        self.assertRegex(lines[-1], log_pattern)
        return lines[-1]

    def test_right_ca_and_server_name(self):
        rw = self.start({"ca": self.pki.ca_crt, "server_name": t.BACKEND})
        seen = self.assert_echoes(rw)
        self.assertIn("X-Forwarded-Proto: http\r\n", seen)
        self.assertIn("X-Forwarded-For: 127.0.0.1\r\n", seen)
        self.assertNotIn("backend tls failed", rw.log())
        # SNI is the server_name; ALPN http/1.1 offered and chosen; TLS 1.3.
        self.assertEqual(self.backend.server_names, [t.BACKEND])
        self.assertEqual(self.backend.sessions, [("TLSv1.3", "http/1.1", False)])

    def test_tls_on_both_sides(self):
        rw = self.start({"ca": self.pki.ca_crt, "server_name": t.BACKEND}, client_tls=True)
        seen = self.assert_echoes(rw, wss=True)
        self.assertIn("X-Forwarded-Proto: https\r\n", seen)

    def test_default_server_name_is_the_address_ip(self):
        # No server_name: the address's host (127.0.0.1) is checked against the IP SAN (and no
        # SNI is sent for an IP address).
        rw = self.start({"ca": self.pki.ca_crt})
        self.assert_echoes(rw)
        self.assertEqual(self.backend.server_names, [None])

    def test_reload_changes_backend_ca_for_new_connections(self):
        rw = self.start({"ca": self.pki.wrong_ca_crt, "server_name": t.BACKEND})
        self.assert_502(rw, r"certificate verify failed")
        self.assertTrue(rw.reload(rw.config.replace(self.pki.wrong_ca_crt, self.pki.ca_crt)),
                        rw.log()[-3000:])

        async def go():
            async with h.ws_connect(rw, "/ws") as before:
                await before.send("opened with the right CA")
                self.assertEqual(await asyncio.wait_for(before.recv(), h.IO_TIMEOUT),
                                 "opened with the right CA")
                # Back to the wrong CA: new connections refused, the open one unaffected.
                loop = asyncio.get_running_loop()
                applied = await loop.run_in_executor(
                    None, rw.reload, rw.config.replace(self.pki.ca_crt, self.pki.wrong_ca_crt))
                self.assertTrue(applied)
                req, _key = h.upgrade_request("/ws")
                head, _body, _t, _how = await loop.run_in_executor(None, h.http_exchange,
                                                                   rw.port, req)
                self.assertEqual(head.status, 502)
                await before.send("still relayed")
                self.assertEqual(await asyncio.wait_for(before.recv(), h.IO_TIMEOUT),
                                 "still relayed")
        h.run(go())

    def test_wrong_ca_gives_502_and_says_why(self):
        rw = self.start({"ca": self.pki.wrong_ca_crt, "server_name": t.BACKEND})
        line = self.assert_502(rw, r"certificate verify failed")
        self.assertIn("backend=tb", line)
        self.assertIn("pool=secure", line)
        # Refused every time, never relayed.
        self.assert_502(rw, r"certificate verify failed")
        self.assertEqual(self.backend.connections, 0)

    def test_wrong_server_name_gives_502(self):
        rw = self.start({"ca": self.pki.ca_crt, "server_name": "other.test"})
        self.assert_502(rw, r"certificate verify failed.*(hostname|mismatch)")
        self.assertEqual(self.backend.connections, 0)

    def test_verify_false_accepts_wrong_ca(self):
        rw = self.start({"ca": self.pki.wrong_ca_crt, "server_name": "other.test",
                         "verify": False})
        self.assert_echoes(rw)
        self.assertNotIn("backend tls failed", rw.log())

    def test_plain_http_backend_behind_backend_tls_gives_502(self):
        # A plain HTTP server answers the ClientHello with a 400, as web servers do.
        def handler(conn):
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                         b"Connection: close\r\n\r\n")
        port = self.start_raw_backend(handler)
        rw = self.start({"ca": self.pki.ca_crt, "server_name": t.BACKEND},
                        backends=[{"name": "plain", "address": f"127.0.0.1:{port}"}])
        self.assert_502(rw, r"backend=plain")

    def test_silent_plain_backend_behind_backend_tls_times_out(self):
        # wsecho waits for an HTTP head that never comes (it got a ClientHello): 504 at
        # timeouts.handshake, nothing relayed.
        plain = self.start_backend("plain")
        rw = self.start({"ca": self.pki.ca_crt, "server_name": t.BACKEND},
                        backends=[{"name": "plain", "address": plain.address}],
                        top={"timeouts": {"handshake": "1s"}})
        req, _key = h.upgrade_request("/ws")
        head, body, _trailing, _how = h.http_exchange(rw.port, req)
        self.assertEqual(head.status, 504, f"{head.raw!r} {body!r}\n{rw.log()[-3000:]}")

    def test_backend_close_and_backend_gone(self):
        rw = self.start({"ca": self.pki.ca_crt, "server_name": t.BACKEND})

        async def go():
            async with h.ws_connect(rw, "/ws") as ws:
                await ws.send("before")
                self.assertEqual(await asyncio.wait_for(ws.recv(), h.IO_TIMEOUT), "before")
            # Several connections at once over backend TLS.
            async def one(i):
                async with h.ws_connect(rw, "/ws") as ws:
                    for j in range(3):
                        m = os.urandom(5000 * (j + 1))
                        await ws.send(m)
                        self.assertTrue(await asyncio.wait_for(ws.recv(), h.IO_TIMEOUT) == m)
            await asyncio.gather(*(one(i) for i in range(20)))
            # The backend stops: an open connection ends (1012 or a close), no hang.
            ws = await h.ws_connect(rw, "/ws")
            try:
                await ws.send("x")
                self.assertEqual(await asyncio.wait_for(ws.recv(), h.IO_TIMEOUT), "x")
                loop = asyncio.get_running_loop()
                await loop.run_in_executor(None, self.backend.stop)
                with self.assertRaises(websockets.ConnectionClosed):
                    await asyncio.wait_for(ws.recv(), h.IO_TIMEOUT)
            finally:
                await ws.close()
        h.run(go())



class BackendTlsFailover(h.IntegrationTestCase):
    """A pool of a good TLS backend and a rogue one (certificate from another CA)."""

    KEYS = [f"key-{i}" for i in range(16)]

    def setUp(self):
        super().setUp()
        self.pki = t.Pki.get()
        self.good = t.TlsBackend(self.pki.backend_crt, self.pki.backend_key)
        self._threads_to_stop.append(self.good.stop)
        self.rogue = t.TlsBackend(self.pki.rogue_crt, self.pki.rogue_key)
        self._threads_to_stop.append(self.rogue.stop)

    def start(self, **pool_extra):
        entries = [{"name": "rogue", "address": self.rogue.address},
                   {"name": "good", "address": self.good.address}]
        return self.start_ringway([h.pool("secure", entries, hash_key="header:X-User",
                                          backend_tls={"ca": self.pki.ca_crt,
                                                       "server_name": t.BACKEND},
                                          **pool_extra)])

    def statuses(self, rw):
        out = {}
        for key in self.KEYS:
            req, _ = h.upgrade_request("/ws", extra_headers=[("X-User", key)])
            with h.raw_connect(rw.port) as s:
                s.sendall(req)
                head, _rest = h.read_head(s)
            out[key] = (head.status, head.get("X-Backend"))
        return out

    def test_tls_failure_is_retried_on_another_backend(self):
        # connect_retries (default 2): "further backends tried when a connect fails". A backend
        # whose TLS handshake fails cannot take the connection either, and another one can.
        rw = self.start(connect_retries=2)
        got = self.statuses(rw)
        self.assertIn("backend tls failed", rw.log(), "no key hashed to the rogue backend")
        refused = {k: v for k, v in got.items() if v[0] != 101}
        self.assertEqual(refused, {}, "keys refused although the good backend was there "
                         f"(connect_retries: 2):\n{rw.log()[-2500:]}")

    def test_tls_failures_count_for_passive_ejection(self):
        rw = self.start(connect_retries=0, passive={"failures": 2, "eject_for": "60s"})
        self.statuses(rw)  # several keys fail on the rogue backend
        failures = rw.log().count("backend tls failed")
        self.assertGreaterEqual(failures, 2, "fewer than 2 keys hashed to the rogue backend")
        got = self.statuses(rw)
        refused = {k: v for k, v in got.items() if v[0] != 101}
        self.assertEqual(refused, {}, f"after {failures} TLS failures the rogue backend still "
                         f"takes connections (passive failures: 2):\n{rw.log()[-2500:]}")

    def health_check_case(self, kind):
        check = {"type": kind, "interval": "300ms", "timeout": "250ms", "rise": 1, "fall": 1}
        if kind != "tcp":
            check["path"] = "/health"
        rw = self.start_ringway([h.pool(
            "secure", [{"name": "good", "address": self.good.address}],
            backend_tls={"ca": self.pki.ca_crt, "server_name": t.BACKEND}, health_check=check)])
        deadline = time.monotonic() + h.budget(3)
        while time.monotonic() < deadline:
            time.sleep(0.1)
        states = {b.get("name"): b for p in rw.status_json().get("pools", [])
                  for b in p.get("backends", [])}
        req, _key = h.upgrade_request("/ws")
        with h.raw_connect(rw.port) as s:
            s.sendall(req)
            head, _rest = h.read_head(s)
        checks = [l for l in rw.log().splitlines() if "backend down" in l or "backend up" in l]
        self.assertEqual(head.status, 101,
                         f"{kind} health check of a TLS backend: upgrade got {head.status}; "
                         f"backend {states.get('good')}; log: {checks[:3]}")

    def refused_check_case(self, kind):
        """http and websocket probes speak plain HTTP: with backend_tls they are refused by
        --check (with the line of health_check) rather than marking every TLS backend down."""
        import subprocess
        check = {"type": kind, "path": "/health"}
        text = self.make_config([h.pool(
            "secure", [{"name": "good", "address": self.good.address}],
            backend_tls={"ca": self.pki.ca_crt, "server_name": t.BACKEND}, health_check=check)],
            h.free_port(), h.free_port(), None, None)
        path = os.path.join(self.tmpdir, f"refused-{kind}.yaml")
        with open(path, "w") as f:
            f.write(text)
        run = subprocess.run([h.RINGWAY_BIN, "-c", path, "--check"], capture_output=True, text=True,
                             timeout=30)
        self.assertEqual(run.returncode, 1, run.stdout + run.stderr)
        self.assertIn("health_check: http and websocket checks of a pool with backend_tls are not "
                      "supported yet (use type: tcp)", run.stderr)
        self.assertRegex(run.stderr, rf"{path}:\d+:\d+: error: ")

    def test_http_health_check_with_backend_tls_is_refused(self):
        self.refused_check_case("http")

    def test_websocket_health_check_with_backend_tls_is_refused(self):
        self.refused_check_case("websocket")

    def test_tcp_health_check_with_backend_tls(self):
        self.health_check_case("tcp")


if __name__ == "__main__":
    unittest.main()
