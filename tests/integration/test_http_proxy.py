"""Plain HTTP/1.1 proxying in http mode (not upgrades): keep-alive, bodies (Content-Length and
chunked) both ways, 100-continue, HEAD/204/304, pipelining, hop-by-hop fields, X-Forwarded-*,
responses read until EOF, backend connection reuse, an upgrade after plain requests, and memory
bounded while 10 MiB go each way. Real peers: curl, http.client, raw sockets, python's http.server
(http_backend.py) and wsecho."""

import hashlib
import http.client
import json
import os
import re
import subprocess
import time
import unittest

import harness as h
import http_backend


def curl(*args, timeout=30):
    """Runs curl; returns (exit status, stdout bytes, stderr text)."""
    p = subprocess.run(["curl", "-sS", "--http1.1", *args], capture_output=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def head_and_body(sock, buf=b""):
    """One response with a Content-Length or chunked body: (HttpHead, body, leftover)."""
    head, rest = h.read_head(sock, buf)
    if head.get("Transfer-Encoding", "").lower() == "chunked":
        body = b""
        while True:
            while b"\r\n" not in rest:
                more = sock.recv(65536)
                if not more:
                    raise AssertionError("EOF inside a chunked body")
                rest += more
            line, _, rest = rest.partition(b"\r\n")
            size = int(line.split(b";")[0], 16)
            chunk, rest = h.read_exact(sock, size + 2, rest)
            if size == 0:
                return head, body, rest
            body += chunk[:-2]
    n = int(head.get("Content-Length", "0"))
    if head.status in (204, 304):
        n = 0
    body, rest = h.read_exact(sock, n, rest)
    return head, body, rest


class HttpProxy(h.IntegrationTestCase):
    def start(self, backends=None, top=None, listener_extra=None, extra_args=(), **pool_kw):
        if backends is None:
            backends = [http_backend.start(self, "h1")]
        self.http_backends = backends
        entries = [{"name": b.name, "address": b.address} for b in backends]
        return self.start_ringway([h.pool("web", entries, **pool_kw)], top=top,
                                  listener_extra=listener_extra, extra_args=extra_args)

    def conn(self, rw):
        return http.client.HTTPConnection("127.0.0.1", rw.port, timeout=h.IO_TIMEOUT)

    # -- keep-alive and framing --------------------------------------------------------------

    def test_curl_reuses_the_connection_for_several_urls(self):
        rw = self.start()
        base = f"http://127.0.0.1:{rw.port}"
        out = [os.path.join(self.tmpdir, f"o{i}") for i in range(3)]
        rc, _, err = curl("-v", f"{base}/headers?a", "-o", out[0], f"{base}/chunked", "-o", out[1],
                          f"{base}/big?n=70000", "-o", out[2])
        self.assertEqual(rc, 0, err)
        self.assertIn("Re-using existing connection", err)
        self.assertEqual(err.count("Connected to"), 1, err)
        with open(out[0], "rb") as f:
            self.assertEqual(json.loads(f.read())["path"], "/headers?a")
        with open(out[1], "rb") as f:
            self.assertEqual(f.read(), b"alphabetagamma")
        with open(out[2], "rb") as f:
            self.assertEqual(len(f.read()), 70000)
        # One backend connection carried all three (same backend picked each time).
        conns = {c for _, _, c in self.http_backends[0].requests}
        self.assertEqual(len(conns), 1, self.http_backends[0].requests)

    def test_forwarded_headers_and_hop_by_hop_fields(self):
        rw = self.start()
        with h.raw_connect(rw.port) as s:
            s.sendall(b"GET /headers HTTP/1.1\r\nHost: example.test\r\n"
                      b"X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: gopher\r\n"
                      b"Connection: keep-alive, X-Secret\r\nX-Secret: 1\r\nKeep-Alive: timeout=5\r\n"
                      b"TE: trailers\r\nProxy-Connection: keep-alive\r\nUpgrade: h2c\r\n"
                      b"Trailer: X-T\r\nX-Kept: yes\r\n\r\n")
            head, body, rest = head_and_body(s)
            self.assertEqual(head.status, 200, head.raw)
            got = {k.lower(): v for k, v in json.loads(body)["headers"]}
            self.assertEqual(got["x-forwarded-for"], "192.0.2.7, 127.0.0.1")
            self.assertEqual(got["x-forwarded-proto"], "http")
            self.assertEqual(got["connection"], "keep-alive")
            self.assertEqual(got["x-kept"], "yes")
            self.assertEqual(got["host"], "example.test")
            for hop in ("x-secret", "keep-alive", "te", "proxy-connection", "upgrade", "trailer"):
                self.assertNotIn(hop, got, got)
            # Response side: the backend's hop-by-hop fields are dropped, ringway's Connection set.
            s.sendall(b"GET /hop HTTP/1.1\r\nHost: x\r\n\r\n")
            head, body, rest = head_and_body(s, rest)
            self.assertEqual((head.status, body), (200, b"hop"))
            self.assertIsNone(head.get("Keep-Alive"), head.raw)
            self.assertIsNone(head.get("X-Private"), head.raw)
            self.assertEqual(head.get("X-Public"), "yes")
            self.assertEqual(head.get_all("Connection"), ["keep-alive"], head.raw)

    def test_head_204_304_keep_the_connection_in_step(self):
        rw = self.start()
        c = self.conn(rw)
        c.request("HEAD", "/big?n=1000")
        r = c.getresponse()
        self.assertEqual((r.status, r.getheader("Content-Length"), r.read()), (200, "1000", b""))
        c.request("GET", "/nocontent")
        r = c.getresponse()
        self.assertEqual((r.status, r.read()), (204, b""))
        c.request("GET", "/notmodified")
        r = c.getresponse()
        self.assertEqual((r.status, r.read()), (304, b""))
        c.request("GET", "/headers")
        r = c.getresponse()
        self.assertEqual(r.status, 200)
        self.assertEqual(json.loads(r.read())["method"], "GET")
        c.close()
        conns = {cid for _, _, cid in self.http_backends[0].requests}
        self.assertEqual(len(conns), 1, "one client connection, one backend connection")

    def test_pipelined_requests_are_answered_in_order(self):
        rw = self.start()
        with h.raw_connect(rw.port) as s:
            s.sendall(b"GET /headers?1 HTTP/1.1\r\nHost: x\r\n\r\n"
                      b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
                      b"GET /headers?3 HTTP/1.1\r\nHost: x\r\n\r\n")
            head, body, rest = head_and_body(s)
            self.assertEqual(json.loads(body)["path"], "/headers?1")
            head, body, rest = head_and_body(s, rest)
            self.assertEqual(body, b"hello")
            head, body, rest = head_and_body(s, rest)
            self.assertEqual(json.loads(body)["path"], "/headers?3")
            self.assertEqual(rest, b"")

    def test_chunked_bodies_both_ways_pass_unchanged(self):
        rw = self.start()
        with h.raw_connect(rw.port) as s:
            s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                      b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n")
            head, body, rest = head_and_body(s)
            self.assertEqual((head.status, body), (200, b"hello world"))
            s.sendall(b"GET /chunked HTTP/1.1\r\nHost: x\r\n\r\n")
            head, _ = h.read_head(s, rest)
            self.assertEqual(head.get("Transfer-Encoding"), "chunked")
        # With curl: a chunked upload from a file.
        data = os.urandom(300000)
        path = os.path.join(self.tmpdir, "up.bin")
        with open(path, "wb") as f:
            f.write(data)
        rc, out, err = curl(f"http://127.0.0.1:{rw.port}/sink", "-H", "Transfer-Encoding: chunked",
                            "--data-binary", f"@{path}")
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out), {"length": len(data), "sha256": hashlib.sha256(data).hexdigest()})

    def test_expect_100_continue(self):
        rw = self.start()
        data = os.urandom(200000)
        path = os.path.join(self.tmpdir, "up.bin")
        with open(path, "wb") as f:
            f.write(data)
        rc, out, err = curl("-v", f"http://127.0.0.1:{rw.port}/echo", "-H", "Expect: 100-continue",
                            "--data-binary", f"@{path}")
        self.assertEqual(rc, 0, err)
        self.assertRegex(err, r"< HTTP/1\.1 100 Continue")
        self.assertEqual(out, data)
        # By hand: the 100 arrives before the body is sent, then the final answer.
        with h.raw_connect(rw.port) as s:
            s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
            head, rest = h.read_head(s)
            self.assertEqual(head.status, 100, head.raw)
            s.sendall(b"hello")
            head, body, rest = head_and_body(s, rest)
            self.assertEqual((head.status, body), (200, b"hello"))

    def test_response_without_length_ends_at_eof_and_so_does_the_connection(self):
        rw = self.start()
        with h.raw_connect(rw.port) as s:
            s.sendall(b"GET /eof HTTP/1.1\r\nHost: x\r\n\r\n")
            head, rest = h.read_head(s)
            self.assertEqual(head.status, 200)
            self.assertEqual(head.get("Connection"), "close")
            body, how = h.read_until_eof(s, rest)
            self.assertEqual((body, how), (b"until the end", "eof"))

    def test_connection_close_and_http10_end_the_connection(self):
        rw = self.start()
        for req in (b"GET /headers HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                    b"GET /headers HTTP/1.0\r\nHost: x\r\n\r\n"):
            with self.subTest(req=req):
                with h.raw_connect(rw.port) as s:
                    s.sendall(req)
                    head, body, rest = head_and_body(s)
                    self.assertEqual(head.status, 200)
                    self.assertEqual(head.get("Connection"), "close")
                    got = {k.lower(): v for k, v in json.loads(body)["headers"]}
                    self.assertEqual(got["connection"], "close")  # and the backend was told so
                    trailing, how = h.read_until_eof(s, rest)
                    self.assertEqual((trailing, how), (b"", "eof"))
        # HTTP/1.0 with keep-alive stays open.
        with h.raw_connect(rw.port) as s:
            s.sendall(b"GET /headers HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n")
            head, body, rest = head_and_body(s)
            self.assertEqual(head.get("Connection"), "keep-alive")
            s.sendall(b"GET /headers?again HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n")
            head, body, rest = head_and_body(s, rest)
            self.assertEqual(json.loads(body)["path"], "/headers?again")

    def test_hash_key_picks_the_backend_per_request(self):
        backends = [http_backend.start(self, f"h{i}") for i in range(1, 4)]
        rw = self.start(backends, hash_key="header:X-User")
        seen = {}
        c = self.conn(rw)
        for user in ["u1", "u2", "u3", "u4", "u5", "u6", "u1", "u2", "u3"]:
            c.request("GET", "/headers", headers={"X-User": user})
            r = c.getresponse()
            r.read()
            seen.setdefault(user, set()).add(r.getheader("X-Backend"))
        c.close()
        for user, names in seen.items():
            self.assertEqual(len(names), 1, f"{user} went to {names}")
        self.assertGreater(len(set().union(*seen.values())), 1, "the users spread over backends")

    def test_requests_routed_to_other_pools_on_one_connection(self):
        a = http_backend.start(self, "a1")
        b = http_backend.start(self, "b1")

        def build(port, admin_port):
            return {"listeners": [{"name": "public", "bind": f"127.0.0.1:{port}", "pool": "pa",
                                   "routes": [{"path_prefix": "/b/", "pool": "pb"}]}],
                    "pools": [h.pool("pa", [("a1", a.address)]), h.pool("pb", [("b1", b.address)])],
                    "admin": {"bind": f"127.0.0.1:{admin_port}"}}

        rw = self.start_ringway_config(build)
        c = self.conn(rw)
        got = []
        for path in ("/headers", "/b/headers", "/b/headers", "/headers", "/b/headers"):
            c.request("GET", path)
            r = c.getresponse()
            r.read()
            got.append(r.getheader("X-Backend"))
        c.close()
        self.assertEqual(got, ["a1", "b1", "b1", "a1", "b1"])
        # Each switch closed the kept backend connection and the counts came back to 0.
        deadline = time.monotonic() + h.budget(h.IO_TIMEOUT)
        while True:
            _, body = rw.admin_get("/metrics")
            active = re.findall(r'^ringway_backend_connections_active\{[^}]*\} (\d+)$', body.decode(), re.M)
            if active and all(v == "0" for v in active):
                break
            self.assertLess(time.monotonic(), deadline, body.decode())
            time.sleep(0.05)

    def test_backend_closing_a_kept_connection_is_not_the_clients_problem(self):
        # A backend that answers one request with keep-alive, then closes its connection while idle.
        def serve(conn):
            head, _ = h.read_head(conn)
            path = head.status_line.split(" ")[1]
            body = path.encode()
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            time.sleep(0.1)

        port = self.start_raw_backend(serve)
        rw = self.start_ringway([h.pool("web", [("r1", f"127.0.0.1:{port}")])])
        with h.raw_connect(rw.port) as s:
            for i in range(3):
                s.sendall(b"GET /n%d HTTP/1.1\r\nHost: x\r\n\r\n" % i)
                head, body, rest = head_and_body(s)
                self.assertEqual((head.status, body), (200, b"/n%d" % i))
                self.assertEqual(head.get("Connection"), "keep-alive")
                time.sleep(0.4)  # the backend has closed the kept connection meanwhile

    def test_sigterm_closes_idle_keep_alive_connections(self):
        rw = self.start(top={"shutdown": {"drain_timeout": "1s"}})
        with h.raw_connect(rw.port) as s:
            s.sendall(b"GET /headers HTTP/1.1\r\nHost: x\r\n\r\n")
            head, body, rest = head_and_body(s)
            self.assertEqual(head.status, 200)
            rw.proc.terminate()
            data, how = h.read_until_eof(s, rest)
            self.assertEqual((data, how), (b"", "eof"))
        self.assertEqual(rw.wait_exit(h.IO_TIMEOUT), 0)

    def test_plain_http_over_a_tls_listener(self):
        import tls_helpers as t  # noqa: PLC0415 - only this test needs the PKI
        pki = t.Pki.get()
        rw = self.start(listener_extra={"tls": t.listener_tls((pki.alpha_crt, pki.alpha_key))})
        ctx = t.client_context(pki.ca_crt)
        # The certificate's name, on the listener's address: a connection made by hand.
        c = http.client.HTTPSConnection(t.ALPHA, rw.port, timeout=h.IO_TIMEOUT, context=ctx)
        c.sock = ctx.wrap_socket(h.raw_connect(rw.port), server_hostname=t.ALPHA)
        c.request("GET", "/headers")
        r = c.getresponse()
        got = {k.lower(): v for k, v in json.loads(r.read())["headers"]}
        self.assertEqual(got["x-forwarded-proto"], "https")
        data = os.urandom(500000)
        c.request("POST", "/echo", body=data)
        r = c.getresponse()
        self.assertEqual(r.read(), data)
        c.request("GET", "/chunked")
        self.assertEqual(c.getresponse().read(), b"alphabetagamma")
        c.close()

    def test_plain_http_to_a_tls_backend(self):
        import ssl

        import tls_helpers as t  # noqa: PLC0415 - only this test needs the PKI
        pki = t.Pki.get()
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(pki.backend_crt, pki.backend_key)
        b = http_backend.start(self, "s1", tls_context=ctx)
        rw = self.start([b], backend_tls={"ca": pki.ca_crt, "server_name": t.BACKEND})
        c = self.conn(rw)
        for _ in range(2):
            c.request("GET", "/headers")
            r = c.getresponse()
            self.assertEqual(r.status, 200)
            self.assertEqual(json.loads(r.read())["method"], "GET")
        data = os.urandom(300000)
        c.request("POST", "/echo", body=data)
        self.assertEqual(c.getresponse().read(), data)
        c.close()
        self.assertEqual(len({cid for _, _, cid in b.requests}), 1, "one TLS backend connection, reused")

    # -- memory ----------------------------------------------------------------------------------

    def test_ten_mib_each_way_with_bounded_memory(self):
        rw = self.start()
        size = 10 * 1024 * 1024
        before = rw.rss_kib()
        data = os.urandom(size)
        c = self.conn(rw)
        c.request("POST", "/sink", body=data)
        r = c.getresponse()
        self.assertEqual(json.loads(r.read()), {"length": size, "sha256": hashlib.sha256(data).hexdigest()})
        c.request("GET", f"/big?n={size}")
        r = c.getresponse()
        got = 0
        while True:
            piece = r.read(65536)
            if not piece:
                break
            got += len(piece)
            time.sleep(0.0005)  # a slower reader than the backend: backpressure
        self.assertEqual(got, size)
        c.request("POST", "/echo", body=data)
        r = c.getresponse()
        self.assertEqual(r.read(), data)
        c.close()
        grown = rw.rss_kib() - before
        if not h.ringway_is_sanitized():
            self.assertLess(grown, 6 * 1024, f"RSS grew by {grown} KiB for 10 MiB bodies")

    # -- an upgrade after plain requests ---------------------------------------------------------

    def test_websocket_upgrade_after_plain_requests_on_one_connection(self):
        web = http_backend.start(self, "h1")
        ws = self.start_backend("ws1")

        def build(port, admin_port):
            return {"listeners": [{"name": "public", "bind": f"127.0.0.1:{port}", "pool": "web",
                                   "routes": [{"path_prefix": "/ws", "pool": "ws"}]}],
                    "pools": [h.pool("web", [("h1", web.address)]), h.pool("ws", [ws])],
                    "admin": {"bind": f"127.0.0.1:{admin_port}"}}

        rw = self.start_ringway_config(build)
        with h.raw_connect(rw.port) as s:
            s.sendall(b"GET /headers?first HTTP/1.1\r\nHost: x\r\n\r\n")
            head, body, rest = head_and_body(s)
            self.assertEqual(json.loads(body)["path"], "/headers?first")
            s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
            head, body, rest = head_and_body(s, rest)
            self.assertEqual(body, b"abc")
            req, key = h.upgrade_request("/ws/chat")
            s.sendall(req)
            head, rest = h.read_head(s, rest)
            self.assertEqual(head.status, 101, head.raw)
            self.assertEqual(head.get("Sec-WebSocket-Accept"), h.accept_for(key))
            s.sendall(h.encode_frame(h.OP_TEXT, "after plain http"))
            f = h.FrameReader(s, rest).read_frame()
            self.assertEqual((f.opcode, f.payload), (h.OP_TEXT, b"after plain http"))

    # -- errors ----------------------------------------------------------------------------------

    def test_error_statuses(self):
        dead = h.free_port()
        web = http_backend.start(self, "h1")

        def build(port, admin_port):
            return {"listeners": [{"name": "public", "bind": f"127.0.0.1:{port}", "pool": "web",
                                   "routes": [{"path_prefix": "/dead", "pool": "dead"},
                                              {"path_prefix": "/drained", "pool": "drained"}]}],
                    "pools": [h.pool("web", [("h1", web.address)]),
                              h.pool("dead", [("d1", f"127.0.0.1:{dead}")], connect_retries=0),
                              h.pool("drained", [{"name": "x1", "address": web.address, "drain": True}])],
                    "limits": {"max_header_size": "2KiB"},
                    "timeouts": {"handshake": "1s", "response": "3s"},
                    "admin": {"bind": f"127.0.0.1:{admin_port}"}}

        rw = self.start_ringway_config(build)
        cases = [
            ("502 connect failed", b"GET /dead HTTP/1.1\r\nHost: x\r\n\r\n", 502),
            ("503 no backend", b"GET /drained HTTP/1.1\r\nHost: x\r\n\r\n", 503),
            ("504 slow backend", b"GET /slow?s=5 HTTP/1.1\r\nHost: x\r\n\r\n", 504),
            # A long poll: slower than timeouts.handshake, within timeouts.response.
            ("200 long poll", b"GET /slow?s=1.5 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 200),
            ("502 garbage", b"GET /garbage HTTP/1.1\r\nHost: x\r\n\r\n", 502),
            ("431", b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"y" * 3000 + b"\r\n\r\n", 431),
            ("400 bad chunk", b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
            ("400 CL and TE", b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                              b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
            ("400 malformed", b"GET / HTTP/1.1\r\nHost x\r\n\r\n", 400),
        ]
        for name, req, status in cases:
            with self.subTest(case=name):
                head, body, trailing, how = h.http_exchange(rw.port, req)
                self.assertEqual(head.status, status, body)
                self.assertIn(how, ("eof", "reset"))
        # 408: a request body that stops coming.
        with h.raw_connect(rw.port) as s:
            s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
            data, _ = h.read_until_eof(s)
            self.assertTrue(data.startswith(b"HTTP/1.1 408"), data)
        # 408: the first request's head never finished.
        with h.raw_connect(rw.port) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
            data, _ = h.read_until_eof(s)
            self.assertTrue(data.startswith(b"HTTP/1.1 408"), data)
        # A later request on a keep-alive connection: an idle client is just closed.
        with h.raw_connect(rw.port) as s:
            s.sendall(b"GET /headers HTTP/1.1\r\nHost: x\r\n\r\n")
            head, body, rest = head_and_body(s)
            self.assertEqual(head.status, 200)
            data, how = h.read_until_eof(s, rest)
            self.assertEqual((data, how), (b"", "eof"))

    def test_backend_dying_mid_body_ends_the_client_connection(self):
        rw = self.start()
        with h.raw_connect(rw.port) as s:
            s.sendall(b"GET /cut HTTP/1.1\r\nHost: x\r\n\r\n")
            head, rest = h.read_head(s)
            self.assertEqual(head.get("Content-Length"), "1000")
            body, how = h.read_until_eof(s, rest)
            self.assertEqual(body, b"x" * 10)
            self.assertIn(how, ("eof", "reset"))

    def test_early_answer_before_the_body_ends(self):
        rw = self.start()
        with h.raw_connect(rw.port) as s:
            s.sendall(b"POST /early HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + b"z" * 1000)
            head, body, rest = head_and_body(s)
            self.assertEqual((head.status, body), (413, b"too big"))
            self.assertEqual(head.get("Connection"), "close")

    # -- metrics and the access log --------------------------------------------------------------

    def test_metrics_and_access_log_lines(self):
        rw = self.start(extra_args=["--log-format", "json"])
        c = self.conn(rw)
        for path in ("/headers", "/nocontent", "/nope"):
            c.request("GET", path)
            c.getresponse().read()
        c.request("POST", "/echo", body=b"12345")
        c.getresponse().read()
        c.close()
        deadline = time.monotonic() + h.budget(h.IO_TIMEOUT)
        while True:
            lines = [json.loads(l) for l in rw.log().splitlines() if '"http request"' in l]
            if len(lines) >= 4 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual([(l["method"], l["path"], l["status"]) for l in lines],
                         [("GET", "/headers", "200"), ("GET", "/nocontent", "204"),
                          ("GET", "/nope", "404"), ("POST", "/echo", "200")])
        self.assertEqual(lines[3]["bytes_in"], "5")
        self.assertEqual({l["backend"] for l in lines}, {"h1"})
        self.assertEqual({l["pool"] for l in lines}, {"web"})
        _, body = rw.admin_get("/metrics")
        text = body.decode()

        def value(series):
            m = re.search("^" + re.escape(series) + r" (\S+)$", text, re.M)
            self.assertIsNotNone(m, f"{series} in\n{text}")
            return float(m.group(1))

        self.assertEqual(value('ringway_http_requests_total{pool="web",backend="h1",code_class="2xx"}'), 3)
        self.assertEqual(value('ringway_http_requests_total{pool="web",backend="h1",code_class="4xx"}'), 1)
        self.assertEqual(value('ringway_upgrades_total{pool="web",backend="h1",result="rejected"}'), 0)


if __name__ == "__main__":
    unittest.main()
