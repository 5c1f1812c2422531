"""GET /metrics on a live ringway: promtool accepts the exposition, counters and histograms move by
exactly what the traffic was, every error kind that can be provoked moves its own label, and every
metric the Grafana dashboard queries exists."""

import json
import os
import re
import shutil
import subprocess
import time
import unittest

import harness as h

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DASHBOARD = os.path.join(ROOT, "tools", "grafana", "ringway.json")

ERROR_KINDS = ["bad_request", "handshake_timeout", "no_backend", "connect_failed", "protocol",
               "too_big", "rate_limited", "tls"]

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


class Scrape:
    """A parsed exposition: samples by (name, sorted labels), and each family's TYPE."""

    def __init__(self, text):
        self.text = text
        self.samples = {}
        self.types = {}
        for line in text.splitlines():
            if line.startswith("# TYPE "):
                _, _, name, kind = line.split(" ", 3)
                self.types[name] = kind
                continue
            if not line or line.startswith("#"):
                continue
            m = _SAMPLE.match(line)
            if not m:
                raise AssertionError(f"unparsable sample line: {line!r}")
            labels = tuple(sorted(_LABEL.findall(m.group(2) or "")))
            self.samples[(m.group(1), labels)] = float(m.group(3))

    def get(self, name, **labels):
        """The sample's value; 0 when the series does not exist."""
        return self.samples.get((name, tuple(sorted(labels.items()))), 0.0)

    def total(self, name, **labels):
        """Sum over every series of `name` whose labels include `labels`."""
        want = set(labels.items())
        return sum(v for (n, ls), v in self.samples.items() if n == name and want <= set(ls))

    def errors(self):
        return {k: self.get("ringway_errors_total", kind=k) for k in ERROR_KINDS}


def scrape(rw):
    code, body = rw.admin_get("/metrics")
    if code != 200:
        raise AssertionError(f"/metrics answered {code}: {body!r}")
    return Scrape(body.decode())


def wait_for(rw, predicate, what, timeout=h.IO_TIMEOUT):
    """Scrapes until `predicate(scrape)` holds (counters move when a connection has finished,
    which may be a moment after the client saw its end); returns that scrape."""
    deadline = time.monotonic() + h.budget(timeout)
    while True:
        s = scrape(rw)
        if predicate(s):
            return s
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last scrape:\n{s.text}")
        time.sleep(0.02)


def frame_size(n, masked):
    ext = 0 if n < 126 else (2 if n < 65536 else 8)
    return 2 + ext + (4 if masked else 0) + n


class Exposition(h.IntegrationTestCase):
    def test_live_scrape_passes_promtool(self):
        promtool = shutil.which("promtool")
        if promtool is None:
            self.skipTest("promtool not installed (Debian package 'prometheus'; tools/deps installs it)")
        backends = self.start_backends(2)
        rw = self.start_ringway([h.pool("chat", backends)])
        s, _head, reader = h.raw_upgrade(rw.port, "/ws")
        with s:
            s.sendall(h.encode_frame(h.OP_TEXT, "hi"))
            self.assertEqual(reader.read_frame().payload, b"hi")
            code, body = rw.admin_get("/metrics")
        self.assertEqual(code, 200)
        result = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True,
                                timeout=h.budget(60))
        self.assertEqual(result.returncode, 0,
                         f"promtool: {result.stdout.decode()}{result.stderr.decode()}\n{body.decode()}")

    def test_content_type_is_the_text_format(self):
        rw = self.start_ringway([h.pool("chat", self.start_backends(1))])
        url = f"http://127.0.0.1:{rw.admin_port}/metrics"
        import urllib.request
        with urllib.request.urlopen(url, timeout=h.IO_TIMEOUT) as r:
            self.assertEqual(r.headers.get("Content-Type"), "text/plain; version=0.0.4; charset=utf-8")

    def test_every_metric_the_dashboard_queries_exists(self):
        with open(DASHBOARD) as f:
            dashboard = json.load(f)
        exprs = []

        def walk(node):
            if isinstance(node, dict):
                for k, v in node.items():
                    if k in ("expr", "query") and isinstance(v, str):
                        exprs.append(v)
                    walk(v)
            elif isinstance(node, list):
                for v in node:
                    walk(v)

        walk(dashboard)
        self.assertTrue(exprs, "the dashboard has no queries")
        names = set()
        for e in exprs:
            names.update(re.findall(r"\bringway_[a-z0-9_]+", e))
        rw = self.start_ringway([h.pool("chat", self.start_backends(1))])
        s = scrape(rw)
        for name in sorted(names):
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            exposed = name in s.types or (base in s.types and s.types[base] == "histogram")
            self.assertTrue(exposed, f"the dashboard queries {name}, which /metrics does not expose")


class ExactAccounting(h.IntegrationTestCase):
    SIZES = [1, 64, 65, 1000, 70000]  # 7-bit, 16-bit and 64-bit length forms; several size buckets
    CONNECTIONS = 10

    def test_ten_connections_of_five_messages_move_the_counters_by_exactly_that(self):
        backends = self.start_backends(2)
        rw = self.start_ringway([h.pool("chat", backends)])
        before = scrape(rw)
        sent = received = 0
        for i in range(self.CONNECTIONS):
            s, _head, reader = h.raw_upgrade(rw.port, f"/acct/{i}")
            with s:
                for n in self.SIZES:
                    payload = os.urandom(n)
                    s.sendall(h.encode_frame(h.OP_BINARY, payload))
                    sent += frame_size(n, masked=True)
                    f = reader.read_frame()
                    self.assertEqual((f.opcode, f.masked, f.payload), (h.OP_BINARY, False, payload))
                    received += frame_size(n, masked=False)
                s.sendall(h.encode_frame(h.OP_CLOSE, h.close_payload(1000, "bye")))
                sent += frame_size(5, masked=True)
                f = reader.read_frame()
                self.assertEqual((f.opcode, f.close_code), (h.OP_CLOSE, 1000))
                received += frame_size(len(f.payload), masked=False)
                rest, how = h.read_until_eof(s, reader.buf)
                self.assertEqual((rest, how), (b"", "eof"))

        n = self.CONNECTIONS
        after = wait_for(rw, lambda s: s.get("ringway_connections_active", listener="public") == 0 and
                         s.get("ringway_connections_closed_total", reason="client_closed")
                         - before.get("ringway_connections_closed_total", reason="client_closed") >= n,
                         "every connection to finish")

        def delta(name, **labels):
            return after.total(name, **labels) - before.total(name, **labels)

        c2b, b2c = {"direction": "client_to_backend"}, {"direction": "backend_to_client"}
        self.assertEqual(delta("ringway_connections_total", listener="public"), n)
        self.assertEqual(delta("ringway_connections_closed_total", reason="client_closed"), n)
        self.assertEqual(delta("ringway_connections_closed_total"), n)
        self.assertEqual(delta("ringway_upgrades_total", pool="chat", result="ok"), n)
        self.assertEqual(delta("ringway_upgrades_total", pool="chat"), n)
        self.assertEqual(after.total("ringway_backend_connections_active", pool="chat"), 0)
        self.assertEqual(delta("ringway_handshake_duration_seconds_count", pool="chat"), n)
        self.assertEqual(delta("ringway_handshake_duration_seconds_bucket", pool="chat", le="+Inf"), n)
        self.assertGreater(delta("ringway_handshake_duration_seconds_sum", pool="chat"), 0)

        self.assertEqual(delta("ringway_messages_total", **c2b), n * len(self.SIZES))
        self.assertEqual(delta("ringway_messages_total", **b2c), n * len(self.SIZES))
        self.assertEqual(delta("ringway_bytes_total", **c2b), sent)
        self.assertEqual(delta("ringway_bytes_total", **b2c), received)
        for d in (c2b, b2c):
            cumulative = {"64": 2, "256": 3, "1024": 4, "4096": 4, "16384": 4, "65536": 4,
                          "262144": 5, "+Inf": 5}
            for le, per_connection in cumulative.items():
                self.assertEqual(delta("ringway_message_size_bytes_bucket", le=le, **d), n * per_connection,
                                 f"{d} le={le}")
            self.assertEqual(delta("ringway_message_size_bytes_count", **d), n * len(self.SIZES))
            self.assertEqual(delta("ringway_message_size_bytes_sum", **d), n * sum(self.SIZES))

        self.assertEqual(delta("ringway_closes_total", side="client", code="1000"), n)
        self.assertEqual(delta("ringway_closes_total", side="backend", code="1000"), n)
        self.assertEqual(delta("ringway_closes_total"), 2 * n)
        self.assertEqual(delta("ringway_errors_total"), 0)
        self.assertEqual(delta("ringway_failovers_total"), 0)


class ErrorKinds(h.IntegrationTestCase):
    def test_each_error_kind_moves_its_own_label_and_no_other(self):
        good = self.start_backends(1)
        refusing = self.start_backend("no", reject=403)
        dead_port = h.free_port()  # reserved for this test, nobody listens on it
        pools = [
            h.pool("chat", good),
            h.pool("empty", [{"name": "drained", "address": good[0].address, "drain": True}]),
            h.pool("dead", [("gone", f"127.0.0.1:{dead_port}")], connect_retries=0),
            h.pool("refuse", [refusing]),
        ]
        routes = [{"path_prefix": "/empty", "pool": "empty"},
                  {"path_prefix": "/dead", "pool": "dead"},
                  {"path_prefix": "/refuse", "pool": "refuse"}]
        rw = self.start_ringway(pools, listener_extra={"routes": routes},
                                top={"timeouts": {"handshake": "1s"},
                                     "websocket": {"max_message_size": "1KiB"}})

        def provoke(kind, action):
            before = scrape(rw)
            action()
            want = before.errors()
            want[kind] += 1
            after = wait_for(rw, lambda s: s.errors()[kind] >= want[kind], f"errors_total{{kind={kind}}}")
            self.assertEqual(after.errors(), want, f"provoking {kind}")
            return before, after

        def status_of(request, expected):
            head, body, _trailing, _how = h.http_exchange(rw.port, request)
            self.assertEqual(head.status, expected, body)

        def bad_request():
            req, _ = h.upgrade_request("/", omit=("sec-websocket-key",))
            status_of(req, 400)

        def handshake_timeout():
            with h.raw_connect(rw.port) as s:
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # never finished
                data, _ = h.read_until_eof(s)
            self.assertTrue(data.startswith(b"HTTP/1.1 408"), data)

        def violation(frame, code):
            def act():
                s, _head, reader = h.raw_upgrade(rw.port, "/ws")
                with s:
                    s.sendall(frame)
                    f = reader.read_frame()
                    self.assertEqual((f.opcode, f.close_code), (h.OP_CLOSE, code))
            return act

        provoke("bad_request", bad_request)
        provoke("handshake_timeout", handshake_timeout)
        provoke("no_backend", lambda: status_of(h.upgrade_request("/empty")[0], 503))
        before, after = provoke("connect_failed", lambda: status_of(h.upgrade_request("/dead")[0], 502))
        self.assertEqual(after.get("ringway_backend_connect_failures_total", pool="dead", backend="gone")
                         - before.get("ringway_backend_connect_failures_total", pool="dead", backend="gone"), 1)
        provoke("protocol", violation(h.encode_frame(h.OP_TEXT, "unmasked", mask=False), 1002))
        provoke("too_big", violation(h.encode_frame(h.OP_BINARY, b"x" * 2000), 1009))

        # A refusal relayed from the backend is not an error of ringway's: it is a refused upgrade.
        before = scrape(rw)
        status_of(h.upgrade_request("/refuse")[0], 403)
        after = wait_for(rw, lambda s: s.get("ringway_upgrades_total", pool="refuse", backend="no",
                                             result="rejected") == 1, "the refused upgrade")
        self.assertEqual(after.errors(), before.errors())
        # ringway's own Close frames toward the offending clients (those toward the backends are
        # counted once written, at the backend stream's next frame boundary).
        self.assertEqual(after.get("ringway_closes_total", side="ringway", code="1002"), 1)
        self.assertEqual(after.get("ringway_closes_total", side="ringway", code="1009"), 1)


class Reloads(h.IntegrationTestCase):
    def test_kept_backends_keep_their_counts_removed_ones_leave_and_reloads_are_counted(self):
        b1, b2 = self.start_backends(2)
        rw = self.start_ringway([h.pool("chat", [b1, b2])])
        for i in range(8):  # source_ip hashing: all land on one backend; count where they went
            s, _head, reader = h.raw_upgrade(rw.port, f"/r{i}")
            with s:
                s.sendall(h.encode_frame(h.OP_CLOSE, h.close_payload(1000)))
                reader.read_frame()
                h.read_until_eof(s, reader.buf)
        before = wait_for(rw, lambda s: s.get("ringway_connections_active", listener="public") == 0, "idle")
        ok = {b: before.get("ringway_upgrades_total", pool="chat", backend=b, result="ok") for b in ("b1", "b2")}
        self.assertEqual(sum(ok.values()), 8)
        handshakes = before.get("ringway_handshake_duration_seconds_count", pool="chat")
        self.assertEqual(handshakes, 8)

        def reload(pools):
            text = self.make_config(pools, rw.port, rw.admin_port)
            tmp = rw.config_path + ".tmp"
            with open(tmp, "w") as f:
                f.write(text)
            os.replace(tmp, rw.config_path)
            rw.proc.send_signal(h.signal.SIGHUP)

        keep = "b1" if ok["b1"] else "b2"
        gone = "b2" if keep == "b1" else "b1"
        reload([h.pool("chat", [b1 if keep == "b1" else b2])])
        after = wait_for(rw, lambda s: s.get("ringway_config_generation") == 2, "generation 2")
        self.assertEqual(after.get("ringway_config_reloads_total", result="success"), 1)
        self.assertEqual(after.get("ringway_upgrades_total", pool="chat", backend=keep, result="ok"), ok[keep])
        self.assertNotIn(gone, {dict(ls).get("backend") for (_n, ls) in after.samples})
        self.assertEqual(after.get("ringway_handshake_duration_seconds_count", pool="chat"), handshakes)

        with open(rw.config_path, "w") as f:
            f.write("listeners: [oops\n")
        rw.proc.send_signal(h.signal.SIGHUP)
        after = wait_for(rw, lambda s: s.get("ringway_config_reloads_total", result="failure") == 1, "a failed reload")
        self.assertEqual(after.get("ringway_config_generation"), 2)


if __name__ == "__main__":
    unittest.main()
