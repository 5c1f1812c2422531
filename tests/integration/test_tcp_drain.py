"""mode: tcp when backends fail or go away: a backend that health checks find down is skipped; a
backend killed mid-connection gives its clients a FIN (a reset gives them a reset), the other
connections go on; a drained backend's connections keep relaying until the pool's drain_timeout and
then get a FIN (no Close frames in tcp mode), new connections avoid it, and undrain keeps them;
SIGTERM gives every connection its FIN at shutdown.drain_timeout, and ringway exits 0."""

import signal
import socket
import struct
import threading
import time
import unittest

import harness as h
import tcp_helpers as t
from test_health_helpers import find_backend

FAST_CHECK = {"type": "tcp", "interval": "300ms", "timeout": "250ms", "rise": 1, "fall": 1}


def time_to_eof(sock, start, timeout):
    """Seconds from `start` until the peer's FIN (or reset), and how it ended."""
    data, how = h.read_until_eof(sock, timeout=timeout)
    return time.monotonic() - start, how, data


class Failures(t.TcpCase):
    def test_a_backend_found_down_by_health_checks_is_skipped(self):
        e1, e2 = self.start_echo("e1"), self.start_echo("e2")
        gone = h.free_port()  # nothing listens there
        rw = self.start_tcp_ringway([h.pool("chat", [e1, e2, ("d3", f"127.0.0.1:{gone}")],
                                            health_check=FAST_CHECK, connect_retries=0)])

        def health(name):
            return find_backend(rw.status_json(), "chat", name).get("health")
        self.wait_until(lambda: (health("e1"), health("e2"), health("d3")) == ("up", "up", "down"),
                        "e1, e2 up and d3 down")
        failures = t.metric(rw, "ringway_backend_connect_failures_total", backend="d3")
        seen = {t.which_backend(rw.port, source) for source in t.sources(24)}
        self.assertEqual(seen, {"e1", "e2"})  # none failed (connect_retries: 0), none went to d3
        self.assertEqual(t.metric(rw, "ringway_backend_connect_failures_total", backend="d3"), failures)

    def test_a_backend_killed_mid_connection_gives_its_clients_a_fin(self):
        e1, e2 = self.start_echo("e1"), self.start_echo("e2")
        rw = self.start_tcp_ringway([h.pool("chat", [e1, e2])])
        on = {"e1": [], "e2": []}
        for source in t.sources(20):
            on[t.which_backend(rw.port, source)].append(source)
        self.assertTrue(on["e1"] and on["e2"], on)
        doomed = [t.connect(rw.port, s) for s in on["e1"][:3]]
        spared = [t.connect(rw.port, s) for s in on["e2"][:3]]
        try:
            for s in doomed + spared:
                t.echo_roundtrip(s)
            e1.kill()
            for s in doomed:
                data, how = h.read_until_eof(s)
                self.assertEqual((data, how), (b"", "eof"))
            for s in spared:
                t.echo_roundtrip(s, b"unaffected")
        finally:
            for s in doomed + spared:
                s.close()
        # New connections from e1's addresses: the refused connect is retried on e2.
        self.assertEqual(t.which_backend(rw.port, on["e1"][0]), "e2")
        self.assertIn("backend connect failed", rw.log())

    def test_a_backend_reset_resets_the_client(self):
        def resetting(conn):
            conn.recv(100)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()  # SO_LINGER 0: a reset

        port = self.start_raw_backend(resetting)
        rw = self.start_tcp_ringway([h.pool("chat", [("r1", f"127.0.0.1:{port}")])])
        with t.connect(rw.port) as s:
            s.sendall(b"boom")
            data, how = h.read_until_eof(s)
        self.assertEqual((data, how), (b"", "reset"))
        self.assertIn("backend reset the connection", rw.log())


class HalfClose(t.TcpCase):
    def test_a_half_closed_connection_lives_while_bytes_flow(self):
        # The client sends its request and half-closes at once; the backend then answers slowly,
        # longer than the 5 s close grace: as long as bytes keep flowing, nothing is cut.
        def slow_answer(conn):
            h.read_until_eof(conn)
            for i in range(7):
                conn.sendall(str(i).encode())
                time.sleep(1.0)

        port = self.start_raw_backend(slow_answer)
        rw = self.start_tcp_ringway([h.pool("chat", [("s1", f"127.0.0.1:{port}")])])
        with t.connect(rw.port) as s:
            s.sendall(b"request")
            s.shutdown(socket.SHUT_WR)
            data, how = h.read_until_eof(s, timeout=20)
        self.assertEqual((data, how), (b"0123456", "eof"))


class Drain(t.TcpCase):
    def two_backends(self, drain_timeout):
        e1, e2 = self.start_echo("e1"), self.start_echo("e2")
        rw = self.start_tcp_ringway([h.pool("chat", [e1, e2], drain_timeout=drain_timeout)],
                                    extra_args=["--log-format", "json"])
        on = {"e1": [], "e2": []}
        for source in t.sources(20):
            on[t.which_backend(rw.port, source)].append(source)
        self.assertTrue(len(on["e1"]) >= 2 and on["e2"], on)
        return rw, on

    def test_drained_backend_connections_get_a_fin_at_the_drain_timeout(self):
        window = 3.0
        rw, on = self.two_backends(f"{int(window)}s")
        drained = [t.connect(rw.port, s) for s in on["e1"][:3]]
        other = t.connect(rw.port, on["e2"][0])
        try:
            for s in drained + [other]:
                t.echo_roundtrip(s)
            began = time.monotonic()
            code, body = rw.admin_post("/pools/chat/backends/e1/drain")
            self.assertEqual(code, 200, body)
            # New connections avoid e1 at once...
            for source in on["e1"]:
                self.assertEqual(t.which_backend(rw.port, source), "e2")
            # ...while the drained ones still relay at half the window.
            time.sleep(max(0.0, began + window / 2 - time.monotonic()))
            for s in drained:
                self.assertTrue(t.echoes(s), "a drained connection ended before its deadline")
            ends = [time_to_eof(s, began, window + 10) for s in drained]
            for elapsed, how, data in ends:
                self.assertEqual((data, how), (b"", "eof"))
                self.assertGreaterEqual(elapsed, window - 0.25, f"FIN {elapsed:.2f}s after the drain")
                self.assertLessEqual(elapsed, window + 3.0, f"FIN {elapsed:.2f}s after the drain")
            self.assertTrue(t.echoes(other), "a connection to another backend was touched")
        finally:
            for s in drained + [other]:
                s.close()
        self.wait_until(lambda: find_backend(rw.status_json(), "chat", "e1")["active_connections"] == 0,
                        "e1's connections gone")
        self.assertRegex(rw.log(), r'"ringway_reason":"drain","reason":"shutdown"')

    def test_undrain_before_the_deadline_keeps_the_connections(self):
        rw, on = self.two_backends("2s")
        s = t.connect(rw.port, on["e1"][0])
        with s:
            t.echo_roundtrip(s)
            self.assertEqual(rw.admin_post("/pools/chat/backends/e1/drain")[0], 200)
            time.sleep(0.5)
            self.assertEqual(rw.admin_post("/pools/chat/backends/e1/undrain")[0], 200)
            time.sleep(2.5)  # past the deadline the drain had
            self.assertTrue(t.echoes(s))
            self.assertTrue(t.connected_to(s, "e1", len(b"ping") + len(b"still-there?")))


class Reload(t.TcpCase):
    def test_a_backend_removed_by_a_reload_drains_with_a_fin_at_its_deadline(self):
        window = 2.0
        e1, e2 = self.start_echo("e1"), self.start_echo("e2")
        pools = [h.pool("chat", [e1, e2], drain_timeout=f"{int(window)}s")]
        rw = self.start_tcp_ringway(pools)
        on_e1 = [src for src in t.sources(20) if t.which_backend(rw.port, src) == "e1"]
        self.assertTrue(on_e1)
        with t.connect(rw.port, on_e1[0]) as s:
            t.echo_roundtrip(s)
            began = time.monotonic()
            self.assertTrue(rw.reload(self.make_config([h.pool("chat", [e2], drain_timeout=f"{int(window)}s")],
                                                       rw.port, rw.admin_port, {"mode": "tcp"})))
            time.sleep(window / 2)
            self.assertTrue(t.echoes(s), "ended before the drain deadline")
            elapsed, how, data = time_to_eof(s, began, window + 10)
        self.assertEqual((data, how), (b"", "eof"))
        self.assertGreaterEqual(elapsed, window - 0.25)
        self.assertEqual(t.which_backend(rw.port, on_e1[0]), "e2")


class Shutdown(t.TcpCase):
    def test_sigterm_gives_every_connection_a_fin_at_the_deadline_then_exit_0(self):
        window = 3.0
        backends = [self.start_echo("e1"), self.start_echo("e2")]
        rw = self.start_tcp_ringway([h.pool("chat", backends)],
                                    top={"shutdown": {"delay": "0s", "drain_timeout": f"{int(window)}s"}})
        conns = [t.connect(rw.port, source) for source in t.sources(8)]
        try:
            for s in conns:
                t.echo_roundtrip(s)
            began = time.monotonic()
            rw.proc.send_signal(signal.SIGTERM)
            time.sleep(window / 2)
            for s in conns:
                self.assertTrue(t.echoes(s), "a connection ended before the shutdown deadline")
            self.assertFalse(h.can_connect(rw.port, timeout=1), "still accepting after shutdown began")
            results = [None] * len(conns)

            def wait(i):
                results[i] = time_to_eof(conns[i], began, window + 10)
                conns[i].close()  # the client closes on the FIN, as a client would
            threads = [threading.Thread(target=wait, args=(i,)) for i in range(len(conns))]
            for th in threads:
                th.start()
            for th in threads:
                th.join(window + 15)
        finally:
            for s in conns:
                s.close()
        for elapsed, how, data in results:
            self.assertEqual((data, how), (b"", "eof"))
            self.assertGreaterEqual(elapsed, window - 0.25, f"FIN {elapsed:.2f}s after SIGTERM")
            self.assertLessEqual(elapsed, window + 3.0, f"FIN {elapsed:.2f}s after SIGTERM")
        self.assertEqual(rw.wait_exit(10), 0)
        self.assertLess(time.monotonic() - began, window + 4.0, "the exit waited for the close grace")


if __name__ == "__main__":
    unittest.main()
