"""mode: tcp — a plain L4 relay in front of raw TCP echo backends (tcpecho.py): 1 MiB each way byte
for byte, a half-close carried end to end, many connections at once, hashing by source address
(sticky, and the same in two instances whatever the order of the backends), a WebSocket passing
through untouched, max_connections, /metrics and the access log, and --check."""

import asyncio
import contextlib
import json
import os
import re
import socket
import subprocess
import threading
import time
import unittest

import harness as h
import tcp_helpers as t

MIB = 1 << 20


class TcpRelay(t.TcpCase):
    def test_one_mib_each_way_byte_exact_then_half_close(self):
        b = self.start_echo("e1")
        rw = self.start_tcp_ringway([h.pool("chat", [b])])
        payload = os.urandom(MIB)
        with t.connect(rw.port) as s:
            def send():
                # Written in uneven pieces while the main thread reads (the echo comes back meanwhile).
                view, i, n = memoryview(payload), 0, 1
                while i < len(view):
                    step = min(len(view) - i, 1 + (n * 7919) % 65536)
                    s.sendall(view[i:i + step])
                    i += step
                    n += 1
                # Half-close: the backend sees EOF and only then sends its trailer, which must still
                # reach us through ringway.
                s.shutdown(socket.SHUT_WR)
            sender = threading.Thread(target=send)
            sender.start()
            data, how = h.read_until_eof(s, timeout=60)
            sender.join(10)
        self.assertEqual(how, "eof")
        self.assertEqual(len(data), MIB + len(t.trailer("e1", MIB)))
        self.assertTrue(data[:MIB] == payload, "the echo differs from what was sent")
        self.assertEqual(data[MIB:], t.trailer("e1", MIB))

    def test_backpressure_a_client_that_does_not_read_is_held_back(self):
        b = self.start_echo("e1")
        rw = self.start_tcp_ringway([h.pool("chat", [b])])
        payload = os.urandom(MIB) * 64
        rss0 = rw.rss_kib()
        with t.connect(rw.port, timeout=60) as s:
            sent = [0]

            def send():
                view = memoryview(payload)
                for i in range(0, len(view), 1 << 16):
                    s.sendall(view[i:i + (1 << 16)])
                    sent[0] = i + (1 << 16)
                s.shutdown(socket.SHUT_WR)
            sender = threading.Thread(target=send, daemon=True)
            sender.start()
            time.sleep(2.0)
            # Nobody reads the echo: every buffer on the way fills and the sender is held back
            # (ringway stops reading a side while the other has not taken what it read).
            self.assertLess(sent[0], len(payload), "all 64 MiB were taken without a reader")
            if not h.ringway_is_sanitized():
                self.assertLess(rw.rss_kib() - rss0, 8 * 1024, "ringway buffered what the peer did not take")
            data = bytearray()  # (h.read_until_eof's bytes += would copy 64 MiB a thousand times)
            s.settimeout(h.budget(60))
            while chunk := s.recv(1 << 20):
                data += chunk
            sender.join(10)
        self.assertEqual(len(data), len(payload) + len(t.trailer("e1", len(payload))))
        self.assertTrue(data[:len(payload)] == payload)

    def test_backend_bytes_after_the_client_fin_still_arrive(self):
        # The client sends, half-closes at once, and reads only afterwards: everything the backend
        # sends after seeing the FIN comes through.
        b = self.start_echo("e1")
        rw = self.start_tcp_ringway([h.pool("chat", [b])])
        with t.connect(rw.port) as s:
            s.sendall(b"x" * 1000)
            s.shutdown(socket.SHUT_WR)
            time.sleep(0.3)
            data, how = h.read_until_eof(s)
        self.assertEqual((data, how), (b"x" * 1000 + t.trailer("e1", 1000), "eof"))

    def test_bytes_sent_before_the_backend_connect_are_not_lost(self):
        b = self.start_echo("e1")
        rw = self.start_tcp_ringway([h.pool("chat", [b])])
        for _ in range(20):
            with t.connect(rw.port) as s:
                s.sendall(b"first bytes, in the SYN's wake")  # before ringway has connected
                s.shutdown(socket.SHUT_WR)
                data, how = h.read_until_eof(s)
            self.assertEqual((data, how), (b"first bytes, in the SYN's wake" + t.trailer("e1", 30), "eof"))

    def test_200_concurrent_connections(self):
        backends = [self.start_echo(f"e{i}") for i in range(1, 4)]
        rw = self.start_tcp_ringway([h.pool("chat", backends)])

        async def one(i):
            source = f"127.0.{1 + i // 200}.{2 + i % 200}"
            reader, writer = await asyncio.open_connection("127.0.0.1", rw.port, local_addr=(source, 0))
            payload = os.urandom(32 * 1024 + i)
            writer.write(payload)
            await writer.drain()
            echoed = await reader.readexactly(len(payload))
            writer.write_eof()
            rest = await reader.read()
            writer.close()
            return echoed == payload, rest

        async def go():
            return await asyncio.gather(*(one(i) for i in range(200)))

        results = h.run(go(), timeout=90)
        self.assertTrue(all(ok for ok, _ in results))
        names = set()
        for ok, rest in results:
            m = re.fullmatch(rb"BYE (e\d) \d+\n", rest)
            self.assertIsNotNone(m, rest)
            names.add(m.group(1))
        self.assertEqual(len(names), 3, f"200 source addresses used only {names}")

    def test_a_websocket_passes_through_unchanged(self):
        ws_backend = self.start_backend("w1")
        rw = self.start_tcp_ringway([h.pool("chat", [ws_backend])])

        async def go():
            async with h.ws_connect(rw, "/chat") as ws:
                # ringway parses nothing: no X-Forwarded-For was added to the request.
                await ws.send("__headers__")
                headers = await asyncio.wait_for(ws.recv(), h.IO_TIMEOUT)
                who = await h.whoami(ws)
                await ws.send(b"\x00" * 100000)
                echoed = await asyncio.wait_for(ws.recv(), h.IO_TIMEOUT)
                return headers, who, echoed

        headers, who, echoed = h.run(go())
        self.assertEqual(who, "w1")
        self.assertEqual(echoed, b"\x00" * 100000)
        self.assertIn("sec-websocket-key", headers.lower())  # wsecho's view of the request head
        self.assertNotIn("x-forwarded-for", headers.lower())


class Hashing(t.TcpCase):
    def test_each_source_address_sticks_to_one_backend_and_instances_agree(self):
        backends = [self.start_echo(f"e{i}") for i in range(1, 5)]
        rw1 = self.start_tcp_ringway([h.pool("chat", backends)])
        # Another instance with the backends in another order (and a hash_key that tcp mode ignores).
        rw2 = self.start_tcp_ringway([h.pool("chat", list(reversed(backends)), hash_key="header:X-User")])
        first = {}
        for source in t.sources(16):
            first[source] = t.which_backend(rw1.port, source)
        for _ in range(2):
            for source in t.sources(16):
                self.assertEqual(t.which_backend(rw1.port, source), first[source], source)
                self.assertEqual(t.which_backend(rw2.port, source), first[source], source)
        self.assertGreaterEqual(len(set(first.values())), 3, first)


class Limits(t.TcpCase):
    def test_max_connections_closes_the_extra_connection(self):
        b = self.start_echo("e1")
        rw = self.start_tcp_ringway([h.pool("chat", [b])], top={"limits": {"max_connections": 2}},
                                    extra_args=["--log-format", "json"])
        self.wait_until(lambda: t.metric(rw, "ringway_connections_active", listener="public") == 0, "probe gone")
        held = [t.connect(rw.port) for _ in range(2)]
        try:
            for s in held:
                t.echo_roundtrip(s)
            with t.connect(rw.port) as extra:
                with contextlib.suppress(OSError):
                    extra.sendall(b"hello")
                data, how = h.read_until_eof(extra)
            self.assertEqual(data, b"")  # no HTTP answer in tcp mode: just the end
            self.assertIn(how, ("eof", "reset"))
            for s in held:
                t.echo_roundtrip(s)  # the others are untouched
        finally:
            for s in held:
                s.close()
        self.wait_until(lambda: t.metric(rw, "ringway_connections_closed_total", reason="overloaded") == 1,
                        "the refused connection counted")
        self.assertIn('"reason":"too many connections"', rw.log())
        # A place is free again.
        self.wait_until(lambda: t.metric(rw, "ringway_connections_active", listener="public") == 0, "all closed")
        with t.connect(rw.port) as s:
            self.assertTrue(t.connected_to(s, "e1"))


class MetricsAndLog(t.TcpCase):
    def test_bytes_gauges_and_access_log_line(self):
        b = self.start_echo("e1")
        rw = self.start_tcp_ringway([h.pool("chat", [b])], extra_args=["--log-format", "json"])
        # The harness's readiness probe was a connection too (relayed like any other): counted from
        # here, once it has ended.
        self.wait_until(lambda: t.metric(rw, "ringway_connections_active", listener="public") == 0, "probe gone")
        base = {k: t.metric(rw, "ringway_bytes_total", direction=k) for k in ("client_to_backend", "backend_to_client")}
        base_total = t.metric(rw, "ringway_connections_total", listener="public")
        base_closed = t.metric(rw, "ringway_connections_closed_total", reason="client_closed")
        log_from = len(rw.log().splitlines())
        sizes = [10, 70000, 123]
        for n in sizes:
            with t.connect(rw.port) as s:
                t.echo_roundtrip(s, b"a" * n)
                if n == 70000:
                    # While open: one client connection, one backend connection.
                    self.assertEqual(t.metric(rw, "ringway_connections_active", listener="public"), 1)
                    self.assertEqual(t.metric(rw, "ringway_backend_connections_active", backend="e1"), 1)
                self.assertTrue(t.connected_to(s, "e1", n))
        self.wait_until(lambda: t.metric(rw, "ringway_connections_active", listener="public") == 0,
                        "connections_active back to 0")
        self.assertEqual(t.metric(rw, "ringway_backend_connections_active", backend="e1"), 0)
        sent = sum(sizes)
        received = sum(n + len(t.trailer("e1", n)) for n in sizes)
        self.assertEqual(t.metric(rw, "ringway_bytes_total", direction="client_to_backend") - base["client_to_backend"],
                         sent)
        self.assertEqual(t.metric(rw, "ringway_bytes_total", direction="backend_to_client") - base["backend_to_client"],
                         received)
        self.assertEqual(t.metric(rw, "ringway_connections_total", listener="public") - base_total, 3)
        self.assertEqual(t.metric(rw, "ringway_upgrades_total"), 0)
        self.assertEqual(t.metric(rw, "ringway_messages_total"), 0)
        self.assertEqual(t.metric(rw, "ringway_connections_closed_total", reason="client_closed") - base_closed, 3)

        lines = []
        for line in rw.log().splitlines()[log_from:]:
            obj = json.loads(line)
            if obj.get("msg") == "connection closed":
                lines.append(obj)
        self.assertEqual(len(lines), 3, lines)
        for obj, n in zip(lines, sizes):
            self.assertEqual(obj["mode"], "tcp")
            self.assertEqual(obj["backend"], "e1")
            self.assertEqual(obj["pool"], "chat")
            self.assertEqual(obj["bytes_in"], str(n))
            self.assertEqual(obj["bytes_out"], str(n + len(t.trailer("e1", n))))
            self.assertEqual(obj["reason"], "client_closed")
            self.assertEqual(obj["closed_by"], "client")
            self.assertEqual(obj["messages_in"], "0")
            self.assertEqual(obj["path"], "")
            self.assertGreater(float(obj["duration_ms"]), 0.0)

    def test_no_backend_up_closes_the_client(self):
        dead = h.free_port()  # nothing listens there
        rw = self.start_tcp_ringway([h.pool("chat", [("d1", f"127.0.0.1:{dead}")], connect_retries=0)],
                                    extra_args=["--log-format", "json"])
        # (The harness's readiness probe already failed that way once.)
        self.wait_until(lambda: t.metric(rw, "ringway_errors_total", kind="connect_failed") == 1, "probe counted")
        with t.connect(rw.port) as s:
            data, how = h.read_until_eof(s)
        self.assertEqual(data, b"")
        self.assertIn(how, ("eof", "reset"))
        self.wait_until(lambda: t.metric(rw, "ringway_errors_total", kind="connect_failed") == 2, "counted")
        self.assertEqual(t.metric(rw, "ringway_backend_connect_failures_total", backend="d1"), 2)
        self.assertIn('"reason":"every backend connect failed"', rw.log())


class ProxyProtocol(t.TcpCase):
    def test_a_proxy_header_names_the_address_that_is_hashed(self):
        backends = [self.start_echo(f"e{i}") for i in range(1, 5)]
        direct = self.start_tcp_ringway([h.pool("chat", backends)])
        behind = self.start_tcp_ringway([h.pool("chat", backends)], listener_extra={"proxy_protocol": True},
                                        extra_args=["--log-format", "json"])
        for source in t.sources(12):
            expected = t.which_backend(direct.port, source)
            with t.connect(behind.port) as s:
                # The header and the first bytes in one segment: both reach the right places.
                s.sendall(f"PROXY TCP4 {source} 127.0.0.1 40000 443\r\n".encode() + b"after the header")
                s.shutdown(socket.SHUT_WR)
                data, how = h.read_until_eof(s)
            self.assertEqual((data, how), (b"after the header" + t.trailer(expected, 16), "eof"), source)
        self.assertIn('"client":"127.0.0.13","listener":"public","mode":"tcp"', behind.log())

    def test_send_proxy_protocol_goes_first_on_the_backend_connection(self):
        b = self.start_echo("e1")
        rw = self.start_tcp_ringway([h.pool("chat", [b], send_proxy_protocol="v1")])
        with t.connect(rw.port, "127.0.0.9") as s:
            s.sendall(b"payload")
            s.shutdown(socket.SHUT_WR)
            data, how = h.read_until_eof(s)
        # tcpecho echoes what it received: the header ringway sent, then the client's bytes.
        m = re.fullmatch(rb"PROXY TCP4 127\.0\.0\.9 127\.0\.0\.1 \d+ \d+\r\npayloadBYE e1 (\d+)\n", data)
        self.assertIsNotNone(m, data)
        self.assertEqual(how, "eof")


class Check(h.IntegrationTestCase):
    def check(self, text):
        path = os.path.join(self.tmpdir, "c.yaml")
        with open(path, "w") as f:
            f.write(text)
        p = subprocess.run([h.RINGWAY_BIN, "-c", path, "--check"], capture_output=True, text=True, timeout=30)
        return p.returncode, p.stdout, p.stderr, path

    def test_tcp_mode_is_accepted_and_routes_on_it_are_refused_with_line_and_column(self):
        ok = ('listeners:\n  - name: l4\n    bind: "127.0.0.1:17000"\n    mode: tcp\n    pool: chat\n'
              'pools:\n  - name: chat\n    backends:\n      - {name: a, address: "127.0.0.1:19001"}\n')
        code, out, err, _ = self.check(ok)
        self.assertEqual((code, out.strip()), (0, "configuration OK"), err)
        bad = ('listeners:\n  - name: l4\n    bind: "127.0.0.1:17000"\n    mode: tcp\n    pool: chat\n'
               '    routes:\n      - {path_prefix: /ws, pool: chat}\n'
               'pools:\n  - name: chat\n    backends:\n      - {name: a, address: "127.0.0.1:19001"}\n')
        code, _out, err, path = self.check(bad)
        self.assertEqual(code, 1)
        self.assertIn(f'{path}:7:7: error: listeners[0].routes: routes need HTTP', err)


if __name__ == "__main__":
    unittest.main()
