"""The PROXY protocol: listeners[].proxy_protocol (a balancer's v1/v2 header names the client, before
TLS and HTTP) and pools[].send_proxy_protocol (ringway's own header toward backends and their
health checks). HAProxy from Debian plays the balancer; raw sockets send hand-written headers with
fake sources; python backends read what ringway sends them."""

import asyncio
import json
import os
import re
import socket
import ssl
import struct
import subprocess
import time
import unittest

import websockets

import harness as h
import tls_helpers as t

HAPROXY = "/usr/sbin/haproxy"
V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"
FAKE = "203.0.113.7"


def v1(src=FAKE, dst="198.51.100.1", sport=51000, dport=443, proto="TCP4"):
    return f"PROXY {proto} {src} {dst} {sport} {dport}\r\n".encode()


def v2(src=FAKE, dst="198.51.100.1", sport=51000, dport=443, tlvs=b"", command=0x21):
    family = socket.AF_INET6 if ":" in src else socket.AF_INET
    block = (socket.inet_pton(family, src) + socket.inet_pton(family, dst)
             + struct.pack("!HH", sport, dport) + tlvs)
    fam = 0x21 if family == socket.AF_INET6 else 0x11
    return V2_SIG + bytes([command, fam]) + struct.pack("!H", len(block)) + block


V2_LOCAL = V2_SIG + b"\x20\x00\x00\x00"


def metric(rw, name, **labels):
    """One sample of /metrics (0 when absent)."""
    code, body = rw.admin_get("/metrics")
    assert code == 200, (code, body)
    for line in body.decode().splitlines():
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)", line)
        if not m or m.group(1) != name:
            continue
        found = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"', m.group(2) or ""))
        if all(found.get(k) == str(v) for k, v in labels.items()):
            return float(m.group(3))
    return 0.0


def log_lines(rw):
    out = []
    for line in rw.log().splitlines():
        with_json = line.strip()
        if with_json.startswith("{"):
            out.append(json.loads(with_json))
    return out


def wait_for(predicate, what, timeout=h.IO_TIMEOUT):
    deadline = time.monotonic() + h.budget(timeout)
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def upgrade_after(port, first, path="/", split=False):
    """Connects, sends `first` (a PROXY header) and a valid upgrade, reads the answer head. With
    `split`, the header arrives in pieces, its end with the request. Returns (sock, head, bytes
    read after the head)."""
    s = h.raw_connect(port)
    req, key = h.upgrade_request(path=path)
    if split:
        # A few bytes at a time, then the header's last bytes and the request in one write.
        for i in range(0, len(first) - 3, 5):
            s.sendall(first[i:min(i + 5, len(first) - 3)])
            time.sleep(0.01)
        s.sendall(first[-3:] + req)
    else:
        s.sendall(first + req)  # one write: the request follows the header in the same read
    head, rest = h.read_head(s)
    if head.status == 101:
        assert head.get("Sec-WebSocket-Accept") == h.accept_for(key), head
    return s, head, rest


def expect_dropped(test, sock):
    """Nothing is answered and the connection ends."""
    data, how = h.read_until_eof(sock)
    test.assertEqual(data, b"")
    test.assertIn(how, ("eof", "reset"))


class ProxyProtocolIn(h.IntegrationTestCase):
    """listeners[].proxy_protocol: true, plain TCP."""

    def start(self, n=3, hash_key="source_ip", top=None, **pool_extra):
        self.backends = self.start_backends(n)
        return self.start_ringway([h.pool("chat", self.backends, hash_key=hash_key, **pool_extra)],
                                  listener_extra={"proxy_protocol": True}, top=top,
                                  extra_args=["--log-format", "json"])

    def test_v1_and_v2_headers_name_the_client(self):
        rw = self.start()
        cases = [
            ("v1 tcp4", v1(), FAKE),
            ("v1 tcp6", v1(src="2001:db8::7", dst="2001:db8::1", proto="TCP6"), "2001:db8::7"),
            ("v2 ipv4", v2(), FAKE),
            ("v2 ipv6", v2(src="2001:db8::9", dst="::1"), "2001:db8::9"),
            ("v2 tlvs", v2(tlvs=b"\xea\x00\x05\x01vpce" + b"\x04\x00\x03\x00\x00\x00"), FAKE),
            ("v2 local", V2_LOCAL, "127.0.0.1"),
            ("v1 unknown", b"PROXY UNKNOWN\r\n", "127.0.0.1"),
        ]
        for name, header, client in cases:
            for split in (False, True):
                with self.subTest(case=name, split=split):
                    s, head, rest = upgrade_after(rw.port, header, path=f"/{name.replace(' ', '-')}-{split}",
                                                  split=split)
                    with s:
                        self.assertEqual(head.status, 101, head)
                        self.assertEqual(head.get("X-Seen-Forwarded-For"), client)
                        s.sendall(h.encode_frame(h.OP_TEXT, "hello"))
                        frame = h.FrameReader(s, rest).read_frame()
                        self.assertEqual(frame.payload, b"hello")
        # The access log names the client the header named.
        line = wait_for(lambda: [l for l in log_lines(rw) if l.get("msg") == "connection closed"
                                 and l.get("path") == "/v2-ipv6-False"], "the access line")
        self.assertEqual(line[0]["client"], "2001:db8::9")

    def test_hashing_follows_the_named_source(self):
        rw = self.start(n=3)
        seen = {}
        for i in range(12):
            src = f"198.18.{i}.{i + 1}"
            backends = set()
            for _ in range(3):
                s, head, _ = upgrade_after(rw.port, v2(src=src))
                with s:
                    self.assertEqual(head.status, 101, head)
                    backends.add(head.get("X-Backend"))
            self.assertEqual(len(backends), 1, f"{src} landed on {backends}")
            seen[src] = backends.pop()
        # All from 127.0.0.1 really, yet spread as twelve clients.
        self.assertGreater(len(set(seen.values())), 1, seen)

    def test_per_ip_limit_counts_the_named_client(self):
        rw = self.start(n=1, top={"limits": {"max_connections_per_ip": 1}})
        a, head_a, _ = upgrade_after(rw.port, v1(src="198.18.0.1"))
        b, head_b, _ = upgrade_after(rw.port, v1(src="198.18.0.2"))
        with a, b:
            self.assertEqual((head_a.status, head_b.status), (101, 101))
            c, head_c, _ = upgrade_after(rw.port, v1(src="198.18.0.1"))
            with c:
                self.assertEqual(head_c.status, 429, head_c)

    def test_missing_or_malformed_header_is_dropped_and_counted(self):
        rw = self.start(n=1, top={"timeouts": {"handshake": "500ms"}})
        before_err = metric(rw, "ringway_errors_total", kind="bad_request")
        before_closed = metric(rw, "ringway_connections_closed_total", reason="proxy_protocol")
        req, _ = h.upgrade_request()
        bad = [
            ("no header", req),
            ("bad v1", b"PROXY TCP4 203.0.113.999 198.51.100.1 1 2\r\n" + req),
            ("v1 too long", b"PROXY TCP4 " + b"1" * 120),
            ("bad v2 signature", V2_SIG[:8] + b"XXXX" + b"\x21\x11\x00\x0c" + bytes(12)),
            ("v2 too long", V2_SIG + b"\x21\x11\xff\xff"),
            ("tls without header", b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03"),
            ("cut header", b"PROXY TCP4 203.0"),   # then EOF
            ("timeout", b"PROXY TCP4 "),         # then nothing
        ]
        for name, data in bad:
            with self.subTest(case=name):
                with h.raw_connect(rw.port) as s:
                    s.sendall(data)
                    if name == "cut header":
                        s.shutdown(socket.SHUT_WR)
                    expect_dropped(self, s)
        wait_for(lambda: metric(rw, "ringway_connections_closed_total", reason="proxy_protocol")
                 - before_closed >= len(bad), "every bad header counted")
        self.assertEqual(metric(rw, "ringway_connections_closed_total", reason="proxy_protocol") - before_closed,
                         len(bad))
        self.assertEqual(metric(rw, "ringway_errors_total", kind="bad_request") - before_err, len(bad))
        warnings = [l for l in log_lines(rw) if l.get("msg") == "bad PROXY protocol header"]
        self.assertEqual(len(warnings), len(bad), warnings)
        for w in warnings:
            self.assertRegex(w["client"], r"^127\.0\.0\.1:\d+$")
            self.assertTrue(w["reason"], w)
        reasons = {w["reason"] for w in warnings}
        self.assertIn("PROXY header not received in time", reasons)
        self.assertIn("PROXY v1: header longer than 107 bytes", reasons)
        # A bare connect and close (a balancer's TCP check) is no error.
        with h.raw_connect(rw.port):
            pass
        # And the next good client is served.
        s, head, _ = upgrade_after(rw.port, v1())
        with s:
            self.assertEqual(head.status, 101)
            self.assertEqual(head.get("X-Seen-Forwarded-For"), FAKE)
        self.assertEqual(metric(rw, "ringway_connections_closed_total", reason="proxy_protocol") - before_closed,
                         len(bad))


class ProxyProtocolTls(h.IntegrationTestCase):
    """A TLS listener behind a balancer: the header, then TLS (in the same segment as the
    ClientHello, the way a balancer forwards it)."""

    def test_header_then_tls(self):
        pki = t.Pki.get()
        backends = self.start_backends(1)
        rw = self.start_ringway([h.pool("chat", backends)],
                                listener_extra={"proxy_protocol": True,
                                                "tls": t.listener_tls((pki.alpha_crt, pki.alpha_key))})
        ctx = t.client_context(cafile=pki.ca_crt)
        for header in (v1(), v2(src="2001:db8::5", dst="::1")):
            with self.subTest(header=header[:12]), h.raw_connect(rw.port) as s:
                incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
                tls = ctx.wrap_bio(incoming, outgoing, server_hostname=t.ALPHA)

                def pump(first=b""):
                    data = first + outgoing.read()
                    if data:
                        s.sendall(data)

                def step(fn):
                    while True:
                        try:
                            return fn()
                        except ssl.SSLWantReadError:
                            pump()
                            chunk = s.recv(65536)
                            if not chunk:
                                raise AssertionError("closed during TLS")
                            incoming.write(chunk)

                try:
                    tls.do_handshake()
                except ssl.SSLWantReadError:
                    pass
                pump(header)  # the header and the ClientHello in one write
                step(tls.do_handshake)
                req, key = h.upgrade_request()
                tls.write(req)
                pump()
                buf = b""
                while b"\r\n\r\n" not in buf:
                    buf += step(lambda: tls.read(65536))
                head = h.HttpHead(buf[:buf.index(b"\r\n\r\n") + 4])
                self.assertEqual(head.status, 101, head)
                self.assertEqual(head.get("Sec-WebSocket-Accept"), h.accept_for(key))
                self.assertEqual(head.get("X-Seen-Forwarded-Proto"), "https")
                self.assertEqual(head.get("X-Seen-Forwarded-For"),
                                 FAKE if header.startswith(b"PROXY") else "2001:db8::5")


class BehindHaproxy(h.IntegrationTestCase):
    """HAProxy (mode tcp, send-proxy / send-proxy-v2) in front of ringway; the client connects from
    127.0.0.2, so the address that reaches the backend is the client's and not HAProxy's."""

    def start_haproxy(self, backend_port, option):
        for _ in range(6):
            port = h.free_port()
            cfg = os.path.join(self.tmpdir, f"haproxy-{port}.cfg")
            with open(cfg, "w") as f:
                f.write(f"""global
    maxconn 200
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend fe
    bind 127.0.0.1:{port}
    default_backend be
backend be
    server s 127.0.0.1:{backend_port} {option}
""")
            log_path = os.path.join(self.tmpdir, f"haproxy-{port}.log")
            with open(log_path, "wb") as log:
                proc = subprocess.Popen([HAPROXY, "-f", cfg, "-db"], stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)
            self.addCleanup(self._stop, proc)
            deadline = time.monotonic() + h.budget(h.START_TIMEOUT)
            while time.monotonic() < deadline and proc.poll() is None:
                if h.can_connect(port):
                    return port
                time.sleep(0.05)
            with open(log_path, "rb") as f:
                out = f.read().decode("utf-8", "replace")
            if proc.poll() is None or not h._looks_like_addr_in_use(out):
                self.fail(f"haproxy did not start: {out}")
        self.fail("haproxy did not start")

    @staticmethod
    def _stop(proc):
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)

    def test_websocket_client_through_haproxy(self):
        if not os.access(HAPROXY, os.X_OK):
            self.skipTest("no /usr/sbin/haproxy")
        backends = self.start_backends(1)
        rw = self.start_ringway([h.pool("chat", backends)], listener_extra={"proxy_protocol": True},
                                extra_args=["--log-format", "json"])
        for option in ("send-proxy-v2", "send-proxy"):
            with self.subTest(option=option):
                port = self.start_haproxy(rw.port, option)

                async def go():
                    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    sock.bind(("127.0.0.2", 0))
                    sock.setblocking(False)
                    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
                    async with websockets.connect(f"ws://127.0.0.1:{port}/via-{option}", sock=sock,
                                                  ping_interval=None, compression=None,
                                                  open_timeout=h.IO_TIMEOUT) as ws:
                        self.assertEqual(ws.response_headers.get("X-Seen-Forwarded-For"), "127.0.0.2")
                        for msg in ("hello", b"\x00\x01binary", "x" * 70000):
                            await ws.send(msg)
                            self.assertEqual(await asyncio.wait_for(ws.recv(), h.IO_TIMEOUT), msg)
                h.run(go())
                line = wait_for(lambda: [l for l in log_lines(rw) if l.get("msg") == "connection closed"
                                         and l.get("path") == f"/via-{option}"], "the access line")
                self.assertEqual(line[0]["client"], "127.0.0.2")


class ProxyProtocolOut(h.IntegrationTestCase):
    """pools[].send_proxy_protocol: v1 | v2, toward a python backend that reads the header first."""

    def recording_backend(self):
        """A backend that reads a PROXY header (v1 or v2), then answers a WebSocket upgrade with
        101 or a health check GET with 200. Returns (port, headers seen as (kind, raw bytes))."""
        seen = []

        def read_header(sock):
            buf = b""
            while True:
                chunk = sock.recv(1)
                if not chunk:
                    raise EOFError
                buf += chunk
                if buf.startswith(b"PROXY") and buf.endswith(b"\r\n"):
                    return buf, b""
                if len(buf) == 16 and buf.startswith(V2_SIG):
                    n = struct.unpack("!H", buf[14:16])[0]
                    rest, more = h.read_exact(sock, n)
                    return buf + rest, more
                if len(buf) > 300:
                    raise ValueError(buf)

        def handler(conn):
            header, more = read_header(conn)
            head, _rest = h.read_head(conn, more)
            if head.status_line.startswith("GET /health"):
                seen.append(("check", header))
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                return
            seen.append(("client", header))
            key = None
            for line in head.header_lines:
                name, _, value = line.partition(":")
                if name.strip().lower() == "sec-websocket-key":
                    key = value.strip()
            conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                         b"Connection: Upgrade\r\nSec-WebSocket-Accept: "
                         + h.accept_for(key).encode() + b"\r\n\r\n")
            h.read_until_eof(conn)

        return self.start_raw_backend(handler), seen

    def start(self, version, port, proxy_in=False):
        check = {"type": "http", "path": "/health", "interval": "200ms", "timeout": "150ms", "rise": 1, "fall": 1}
        p = h.pool("chat", [("rec", f"127.0.0.1:{port}")], send_proxy_protocol=version, health_check=check)
        return self.start_ringway([p], listener_extra={"proxy_protocol": True} if proxy_in else None)

    def wait_up(self, rw):
        def up():
            backends = [b for p in rw.status_json()["pools"] for b in p["backends"]]
            return all(b["state"] == "up" for b in backends)
        wait_for(up, "the backend up")

    def client_headers(self, seen, n):
        return wait_for(lambda: [raw for kind, raw in seen if kind == "client"][n - 1:n], "the backend's header")[0]

    def test_v1_carries_the_client_and_ringways_address(self):
        port, seen = self.recording_backend()
        rw = self.start("v1", port)
        wait_for(lambda: any(kind == "check" for kind, _ in seen), "a health check")
        self.wait_up(rw)
        self.assertIn(("check", b"PROXY UNKNOWN\r\n"), seen)
        s, head, _ = upgrade_after(rw.port, b"")
        with s:
            self.assertEqual(head.status, 101, head)
            sport = s.getsockname()[1]
            self.assertEqual(self.client_headers(seen, 1),
                             f"PROXY TCP4 127.0.0.1 127.0.0.1 {sport} {rw.port}\r\n".encode())

    def test_v2_carries_the_address_a_received_header_named(self):
        port, seen = self.recording_backend()
        rw = self.start("v2", port, proxy_in=True)
        wait_for(lambda: any(kind == "check" for kind, _ in seen), "a health check")
        self.wait_up(rw)
        self.assertIn(("check", V2_LOCAL), seen)
        s, head, _ = upgrade_after(rw.port, v1(src=FAKE, sport=40000))
        with s:
            self.assertEqual(head.status, 101, head)
            self.assertEqual(self.client_headers(seen, 1),
                             v2(src=FAKE, dst="127.0.0.1", sport=40000, dport=rw.port))

    def test_v2_without_a_received_header(self):
        port, seen = self.recording_backend()
        rw = self.start("v2", port)
        self.wait_up(rw)
        s, head, _ = upgrade_after(rw.port, b"")
        with s:
            self.assertEqual(head.status, 101, head)
            sport = s.getsockname()[1]
            self.assertEqual(self.client_headers(seen, 1),
                             v2(src="127.0.0.1", dst="127.0.0.1", sport=sport, dport=rw.port))


class ProxyProtocolOutTls(h.IntegrationTestCase):
    """With backend_tls, the header goes first, in clear, and the ClientHello after it."""

    def test_header_before_the_client_hello(self):
        pki = t.Pki.get()
        server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_ctx.load_cert_chain(pki.backend_crt, pki.backend_key)
        seen = []

        def handler(conn):
            header = b""
            while not header.endswith(b"\r\n"):  # byte by byte: the ClientHello stays unread
                chunk = conn.recv(1)
                if not chunk:
                    return
                header += chunk
            seen.append(header)
            with server_ctx.wrap_socket(conn, server_side=True) as tls:
                head, _rest = h.read_head(tls)
                key = head.get("Sec-WebSocket-Key")
                tls.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                            b"Sec-WebSocket-Accept: " + h.accept_for(key).encode() + b"\r\n\r\n")
                h.read_until_eof(tls)

        port = self.start_raw_backend(handler)
        p = h.pool("chat", [("tls", f"127.0.0.1:{port}")], send_proxy_protocol="v1",
                   backend_tls={"ca": pki.ca_crt})
        rw = self.start_ringway([p], listener_extra={"proxy_protocol": True})
        s, head, _ = upgrade_after(rw.port, v2(src=FAKE, sport=40001))
        with s:
            self.assertEqual(head.status, 101, head)
            self.assertEqual(seen, [f"PROXY TCP4 {FAKE} 127.0.0.1 40001 {rw.port}\r\n".encode()])


class CheckKeys(h.IntegrationTestCase):
    def run_check(self, text):
        path = os.path.join(self.tmpdir, "pp.yaml")
        with open(path, "w") as f:
            f.write(text)
        p = subprocess.run([h.RINGWAY_BIN, "-c", path, "--check"], capture_output=True, text=True, timeout=30)
        return path, p.returncode, p.stdout, p.stderr

    CONFIG = """listeners:
  - name: public
    bind: "127.0.0.1:18080"
    pool: chat
    proxy_protocol: true
pools:
  - name: chat
    send_proxy_protocol: {value}
    backends:
      - name: a
        address: "127.0.0.1:19001"
"""

    def test_check_accepts_the_keys_and_names_a_bad_value(self):
        for value in ("v1", "v2"):
            _path, code, out, err = self.run_check(self.CONFIG.format(value=value))
            self.assertEqual(code, 0, err)
            self.assertIn("configuration OK", out)
        path, code, _out, err = self.run_check(self.CONFIG.format(value="v3"))
        self.assertEqual(code, 1)
        self.assertIn(f'{path}:8:26: error: pools[0].send_proxy_protocol: expected "v1" or "v2", found "v3"',
                      err)
        path, code, _out, err = self.run_check(self.CONFIG.format(value="v1").replace(
            "proxy_protocol: true", "proxy_protocol: yes"))
        self.assertEqual(code, 1)
        self.assertIn(f"{path}:5:21: error: listeners[0].proxy_protocol", err)


if __name__ == "__main__":
    unittest.main()
