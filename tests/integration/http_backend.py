"""A plain HTTP/1.1 backend for the HTTP proxying tests (python's ThreadingHTTPServer, keep-alive).

Every answer carries X-Backend (its name) and X-Conn (a number per TCP connection it accepted), so
that tests see which backend and which backend connection served each request. Paths:
  GET|HEAD /headers        200, JSON body: {"method", "path", "headers": [[name, value], ...]}
  POST|PUT /echo           200, the request body back (Content-Length or chunked request bodies)
  POST /sink               200, JSON {"length", "sha256"} of the body (big uploads)
  GET|HEAD /big?n=N        200, N bytes ("0123456789" repeated), Content-Length
  GET /chunked             200, Transfer-Encoding: chunked, body "alpha", "beta", "gamma" joined
  GET /nocontent           204 (a lying Content-Length: 5 and no body)
  GET /notmodified         304 (Content-Length: 100 of the representation, no body)
  GET /eof                 200 without Content-Length: the body ends when the connection closes
  GET /hop                 200 with hop-by-hop fields (Keep-Alive, X-Private named in Connection)
  GET /slow?s=S            answers after S seconds
  GET /cut                 200 promising 1000 bytes, sends 10, closes
  GET /garbage             not HTTP at all
  GET /early               a 413 before reading the request body, then closes
"""

import contextlib
import hashlib
import http.server
import itertools
import json
import socketserver
import threading
import time
import urllib.parse


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "testbackend"

    def setup(self):
        super().setup()
        self.conn_id = next(self.server.conn_ids)

    def log_message(self, fmt, *args):  # quiet
        pass

    def _send(self, status, body=b"", headers=(), head_only=False, length=True):
        self.send_response(status)
        self.send_header("X-Backend", self.server.name)
        self.send_header("X-Conn", str(self.conn_id))
        for k, v in headers:
            self.send_header(k, v)
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head_only and body:
            self.wfile.write(body)

    def _read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = bytearray()
            while True:
                line = self.rfile.readline()
                size = int(line.split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length", "0"))
        return self.rfile.read(n) if n else b""

    def _route(self, head_only=False):
        url = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(url.query))
        p = url.path
        self.server.requests.append((self.command, self.path, self.conn_id))
        if p == "/headers":
            body = json.dumps({"method": self.command, "path": self.path,
                               "headers": [[k, v] for k, v in self.headers.items()]}).encode()
            self._send(200, body, [("Content-Type", "application/json")], head_only)
        elif p == "/echo":
            self._send(200, self._read_body(), [("Content-Type", "application/octet-stream")])
        elif p == "/sink":
            body = self._read_body()
            out = json.dumps({"length": len(body), "sha256": hashlib.sha256(body).hexdigest()}).encode()
            self._send(200, out)
        elif p == "/big":
            n = int(q.get("n", "0"))
            self.send_response(200)
            self.send_header("X-Backend", self.server.name)
            self.send_header("Content-Length", str(n))
            self.end_headers()
            if not head_only:
                block = b"0123456789" * 6554
                left = n
                while left > 0:
                    piece = block[:min(left, len(block))]
                    self.wfile.write(piece)
                    left -= len(piece)
        elif p == "/chunked":
            self.send_response(200)
            self.send_header("X-Backend", self.server.name)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b"alpha", b"beta", b"gamma"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                self.wfile.flush()
                time.sleep(0.02)
            self.wfile.write(b"0\r\n\r\n")
        elif p == "/nocontent":
            self._send(204, headers=[("Content-Length", "5")], length=False)
        elif p == "/notmodified":
            self._send(304, headers=[("Content-Length", "100"), ("ETag", '"x"')], length=False)
        elif p == "/eof":
            self.send_response(200)
            self.send_header("X-Backend", self.server.name)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"until the end")
            self.close_connection = True
        elif p == "/hop":
            self._send(200, b"hop", [("Keep-Alive", "timeout=99"), ("Connection", "X-Private"),
                                     ("X-Private", "secret"), ("X-Public", "yes")])
        elif p == "/slow":
            time.sleep(float(q.get("s", "1")))
            self._send(200, b"slow")
        elif p == "/cut":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"x" * 10)
            self.wfile.flush()
            self.close_connection = True
        elif p == "/garbage":
            self.wfile.write(b"this is not HTTP\r\n\r\n")
            self.close_connection = True
        elif p == "/early":
            self._send(413, b"too big", [("Connection", "close")])
            self.close_connection = True
        else:
            self._send(404, b"no such path")

    def do_GET(self):
        self._route()

    def do_HEAD(self):
        self._route(head_only=True)

    def do_POST(self):
        self._route()

    def do_PUT(self):
        self._route()


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass  # peers cut short on purpose (bad bodies, timeouts): the tests look at the client side


class HttpBackend:
    def __init__(self, name, tls_context=None):
        self.server = _Server(("127.0.0.1", 0), _Handler)
        if tls_context is not None:  # an https backend (pools[].backend_tls)
            self.server.socket = tls_context.wrap_socket(self.server.socket, server_side=True)
        self.server.name = name
        self.server.conn_ids = itertools.count(1)
        self.server.requests = []
        self.name = name
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1},
                                       daemon=True)
        self.thread.start()

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    @property
    def requests(self):
        return list(self.server.requests)

    def stop(self):
        with contextlib.suppress(Exception):
            self.server.shutdown()
            self.server.server_close()


def start(test, name, tls_context=None):
    """An HttpBackend stopped at the test's cleanup."""
    b = HttpBackend(name, tls_context)
    test.addCleanup(b.stop)
    return b
