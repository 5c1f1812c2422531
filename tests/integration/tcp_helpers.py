"""Helpers for the `mode: tcp` integration tests (test_tcp_*.py): TcpCase starts tcpecho backends
(tcpecho.py: echo, then a "BYE NAME COUNT" trailer after the client's EOF) and ringway with a tcp
listener; clients are blocking sockets bound to a chosen source address (127.0.0.X: loopback is a
/8), so that hashing by source IP can be checked from one machine."""

import os
import re
import socket
import subprocess
import time

import harness as h

HERE = os.path.dirname(os.path.abspath(__file__))


class TcpCase(h.IntegrationTestCase):
    def start_echo(self, name, tls=None, close_after=None):
        """Starts a tcpecho backend (an h.Backend); tls: (cert, key) to serve TLS itself;
        close_after: it ends each connection itself after echoing that many bytes."""
        out_path = os.path.join(self.tmpdir, f"tcpecho-{name}-{self._next()}.log")
        args = ["/usr/bin/python3", os.path.join(HERE, "tcpecho.py"), "--name", name]
        if tls:
            args += ["--tls", tls[0], tls[1]]
        if close_after is not None:
            args += ["--close-after", str(close_after)]
        out = open(out_path, "wb")
        try:
            proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        finally:
            out.close()
        b = h.Backend(name, 0, proc, out_path)
        self._backends.append(b)
        ready = re.compile(r"tcpecho " + re.escape(name) + r" listening on 127\.0\.0\.1:(\d+)\n")
        deadline = time.monotonic() + h.budget(h.START_TIMEOUT)
        while time.monotonic() < deadline:
            m = ready.search(b.output())
            if m:
                b.port = int(m.group(1))
                return b
            if proc.poll() is not None:
                break
            time.sleep(0.02)
        b.kill()
        self.fail(f"tcpecho {name} did not start: {b.output()!r}")

    def start_tcp_ringway(self, pools, listener_extra=None, top=None, extra_args=()):
        extra = {"mode": "tcp"}
        extra.update(listener_extra or {})
        return self.start_ringway(pools, listener_extra=extra, top=top, extra_args=extra_args)

    def wait_until(self, pred, what, timeout=h.IO_TIMEOUT):
        deadline = time.monotonic() + h.budget(timeout)
        while time.monotonic() < deadline:
            if pred():
                return
            time.sleep(0.02)
        self.fail(f"not {what} within {timeout}s")


def connect(port, source="127.0.0.1", timeout=h.IO_TIMEOUT):
    """A TCP connection to ringway from `source` (any 127.0.0.X)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def trailer(name, count):
    return f"BYE {name} {count}\n".encode()


def which_backend(port, source="127.0.0.1"):
    """The backend a connection from `source` lands on: it sends nothing and half-closes; the
    backend's trailer names it."""
    with connect(port, source) as s:
        s.shutdown(socket.SHUT_WR)
        data, how = h.read_until_eof(s)
    m = re.fullmatch(rb"BYE (\S+) 0\n", data)
    assert m and how == "eof", (data, how)
    return m.group(1).decode()


def echo_roundtrip(sock, payload=b"ping"):
    """Sends `payload` and reads exactly as much back (the connection stays open)."""
    sock.sendall(payload)
    got, rest = h.read_exact(sock, len(payload))
    assert rest == b"" and got == payload, (len(got), len(payload))


def echoes(sock):
    """Whether the connection still relays both ways."""
    try:
        echo_roundtrip(sock, b"still-there?")
        return True
    except (AssertionError, OSError):
        return False


def connected_to(sock, name, sent=0):
    """Half-closes and checks the trailer: the connection reached backend `name`."""
    sock.shutdown(socket.SHUT_WR)
    data, how = h.read_until_eof(sock)
    return data == trailer(name, sent) and how == "eof"


def sources(n, start=2):
    """n distinct client addresses 127.0.0.start, ..."""
    return [f"127.0.0.{i}" for i in range(start, start + n)]


def metric(rw, name, **labels):
    """The sum of the samples of `name` in /metrics whose labels include `labels`."""
    code, body = rw.admin_get("/metrics")
    assert code == 200, (code, body)
    total = 0.0
    for line in body.decode().splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        series, _, value = line.rpartition(" ")
        got = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', series))
        if series.split("{")[0] != name or any(got.get(k) != v for k, v in labels.items()):
            continue
        total += float(value)
    return total
