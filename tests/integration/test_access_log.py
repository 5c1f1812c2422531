"""The access log: one "connection closed" line per finished connection, parsed as JSON
(--log-format json), for a normal, a refused, an erroneous, a failed-over and a drained connection."""

import json
import time
import unittest
import urllib.request

import harness as h

FIELDS = {"time", "level", "msg", "client", "listener", "mode", "pool", "backend", "path", "status",
          "handshake_ms", "duration_ms", "bytes_in", "bytes_out", "messages_in", "messages_out",
          "close_code", "closed_by", "ringway_reason", "reason"}


def access_line(rw, path, timeout=h.IO_TIMEOUT):
    """The one access-log line of the connection to `path` (each test uses distinct paths)."""
    deadline = time.monotonic() + h.budget(timeout)
    while True:
        found = []
        for line in rw.log().splitlines():
            try:
                obj = json.loads(line)
            except ValueError:
                raise AssertionError(f"a log line that is not JSON: {line!r}")
            if obj.get("msg") == "connection closed" and obj.get("path") == path:
                found.append(obj)
        if len(found) > 1:
            raise AssertionError(f"{len(found)} access lines for {path}: {found}")
        if found:
            return found[0]
        if time.monotonic() > deadline:
            raise AssertionError(f"no access line for {path}; log:\n{rw.log()}")
        time.sleep(0.02)


def metric(rw, series):
    """The value of one exact series (name and labels as exposed) in /metrics."""
    code, body = rw.admin_get("/metrics")
    assert code == 200, (code, body)
    for line in body.decode().splitlines():
        if line.startswith(series + " "):
            return float(line.split(" ")[1])
    raise AssertionError(f"{series} not in /metrics:\n{body.decode()}")


def admin_post(rw, path):
    req = urllib.request.Request(f"http://127.0.0.1:{rw.admin_port}{path}", data=b"", method="POST")
    with urllib.request.urlopen(req, timeout=h.IO_TIMEOUT) as r:
        return r.status


class AccessLog(h.IntegrationTestCase):
    def start(self, backends, **kw):
        return self.start_ringway([h.pool("chat", backends, drain_timeout="1s")],
                                  extra_args=["--log-format", "json"], **kw)

    def assert_common(self, line, rw):
        self.assertEqual(set(line), FIELDS, line)
        self.assertEqual(line["level"], "info")
        self.assertEqual(line["client"], "127.0.0.1")
        self.assertEqual(line["listener"], "public")
        self.assertEqual(line["mode"], "http")
        self.assertGreaterEqual(float(line["duration_ms"]), 0.0)

    def test_normal_connection_closed_by_the_client(self):
        backends = self.start_backends(1)
        rw = self.start(backends)
        s, _head, reader = h.raw_upgrade(rw.port, "/normal?x=1")
        with s:
            sent = 0
            for text in ("one", "two"):
                frame = h.encode_frame(h.OP_TEXT, text)
                s.sendall(frame)
                sent += len(frame)
                self.assertEqual(reader.read_frame().payload, text.encode())
            close = h.encode_frame(h.OP_CLOSE, h.close_payload(1000, "done"))
            s.sendall(close)
            sent += len(close)
            self.assertEqual(reader.read_frame().close_code, 1000)
            h.read_until_eof(s, reader.buf)
        line = access_line(rw, "/normal?x=1")
        self.assert_common(line, rw)
        self.assertEqual((line["pool"], line["backend"], line["status"]), ("chat", "b1", "101"))
        self.assertGreater(float(line["handshake_ms"]), 0.0)
        self.assertGreaterEqual(float(line["duration_ms"]), float(line["handshake_ms"]))
        self.assertEqual(int(line["bytes_in"]), sent)
        self.assertEqual(int(line["bytes_out"]), 2 * (2 + 3) + (2 + 6))  # two echoes and the Close reply
        self.assertEqual((line["messages_in"], line["messages_out"]), ("2", "2"))
        self.assertEqual((line["close_code"], line["closed_by"]), ("1000", "client"))
        self.assertEqual((line["ringway_reason"], line["reason"]), ("", "client_closed"))

    def test_after_the_close_handshake_the_line_is_written_before_the_client_sees_the_end(self):
        # Once both Close frames crossed, ringway closes the client's socket itself (a server closes
        # first, RFC 6455 7.1.1) without waiting for the client's FIN, and the connection's line is
        # in the log before that end reaches the client. The client here never closes its side.
        backends = self.start_backends(1)
        rw = self.start(backends)
        for started_by in ("client", "backend"):
            path = f"/handshake-over-{started_by}"
            s, _head, reader = h.raw_upgrade(rw.port, path)
            with s:
                if started_by == "client":
                    s.sendall(h.encode_frame(h.OP_CLOSE, h.close_payload(4000, "bye")))
                    self.assertEqual(reader.read_frame().close_code, 4000)
                else:
                    s.sendall(h.encode_frame(h.OP_TEXT, "__close__ 4001 later"))
                    self.assertEqual(reader.read_frame().close_code, 4001)
                    s.sendall(h.encode_frame(h.OP_CLOSE, h.close_payload(4001, "")))
                _, how = h.read_until_eof(s, reader.buf)
                self.assertEqual(how, "eof", started_by)
                lines = [json.loads(l) for l in rw.log().splitlines()]  # read at once: no waiting
                found = [l for l in lines if l.get("msg") == "connection closed" and l.get("path") == path]
                self.assertEqual(len(found), 1, f"{started_by}: no line before the end:\n{rw.log()}")
                line = found[0]
                self.assertEqual((line["closed_by"], line["reason"]),
                                 (started_by, f"{started_by}_closed"), line)
                self.assertEqual(line["close_code"], "4000" if started_by == "client" else "4001")
        # And the connections are gone, although neither client closed its socket.
        deadline = time.monotonic() + h.budget(h.IO_TIMEOUT)
        while metric(rw, 'ringway_connections_active{listener="public"}') != 0:
            self.assertLess(time.monotonic(), deadline, "connections still active")
            time.sleep(0.02)

    def test_refused_upgrade_has_the_backends_status(self):
        rw = self.start([self.start_backend("no", reject=403)])
        req, _ = h.upgrade_request("/refused")
        head, _body, _trailing, _how = h.http_exchange(rw.port, req)
        self.assertEqual(head.status, 403)
        line = access_line(rw, "/refused")
        self.assert_common(line, rw)
        self.assertEqual((line["backend"], line["status"], line["reason"]), ("no", "403", "rejected"))
        self.assertEqual((line["closed_by"], line["close_code"], line["handshake_ms"]), ("backend", "", ""))
        self.assertEqual((line["bytes_in"], line["messages_in"]), ("0", "0"))

    def test_bad_request_is_ringways_answer(self):
        rw = self.start(self.start_backends(1))
        req, _ = h.upgrade_request("/bad", version="8")
        head, _body, _trailing, _how = h.http_exchange(rw.port, req)
        self.assertEqual(head.status, 426)
        line = access_line(rw, "/bad")
        self.assert_common(line, rw)
        self.assertEqual((line["status"], line["reason"], line["closed_by"]), ("426", "bad_request", "ringway"))
        self.assertEqual((line["pool"], line["backend"]), ("", ""))

    def test_failed_over_connection_says_failover_and_1012(self):
        rw = self.start(self.start_backends(1))
        s, _head, reader = h.raw_upgrade(rw.port, "/failover")
        with s:
            s.sendall(h.encode_frame(h.OP_TEXT, "__drop__"))  # the backend vanishes without a Close
            f = reader.read_frame()
            self.assertEqual((f.opcode, f.close_code), (h.OP_CLOSE, 1012))
            s.sendall(h.encode_frame(h.OP_CLOSE, h.close_payload(1012)))
            h.read_until_eof(s, reader.buf)
        line = access_line(rw, "/failover")
        self.assert_common(line, rw)
        self.assertEqual((line["status"], line["close_code"], line["closed_by"]), ("101", "1012", "ringway"))
        self.assertEqual((line["ringway_reason"], line["reason"]), ("failover", "backend_vanished"))
        self.assertEqual(line["messages_in"], "1")
        self.assertEqual(metric(rw, "ringway_failovers_total"), 1)
        self.assertEqual(metric(rw, 'ringway_closes_total{side="ringway",code="1012"}'), 1)
        self.assertEqual(metric(rw, 'ringway_connections_closed_total{reason="backend_vanished"}'), 1)

    def test_drained_connection_says_drain_and_1001(self):
        rw = self.start(self.start_backends(1))
        s, _head, reader = h.raw_upgrade(rw.port, "/drain")
        with s:
            self.assertEqual(admin_post(rw, "/pools/chat/backends/b1/drain"), 200)
            f = reader.read_frame()
            self.assertEqual((f.opcode, f.close_code), (h.OP_CLOSE, 1001))
            s.sendall(h.encode_frame(h.OP_CLOSE, h.close_payload(1001)))
            h.read_until_eof(s, reader.buf)
        line = access_line(rw, "/drain")
        self.assert_common(line, rw)
        self.assertEqual((line["close_code"], line["closed_by"], line["ringway_reason"]), ("1001", "ringway", "drain"))
        self.assertEqual(metric(rw, 'ringway_go_away_total{cause="drain"}'), 1)
        self.assertEqual(metric(rw, 'ringway_go_away_total{cause="shutdown"}'), 0)
        self.assertEqual(metric(rw, 'ringway_backend_draining{pool="chat",backend="b1"}'), 1)


if __name__ == "__main__":
    unittest.main()
