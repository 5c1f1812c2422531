"""TLS helpers for ringway's integration tests (test_tls*.py).

Certificates are made at test time with the `openssl` CLI into a temporary directory: a test CA
(ECDSA P-256) signs leaf certificates for two names (alpha.test: RSA 2048, beta.test: ECDSA P-256),
a wildcard (*.wild.test), a second alpha.test certificate (for the SIGHUP swap), and a backend
certificate (backend.test + IP 127.0.0.1). A second, unrelated CA ("wrong CA") signs a "rogue"
backend certificate with the same names. Everything is made once per test file (Pki.get()) and removed at exit.

Also: wss:// clients with python3-websockets, `openssl s_client` runs, and a python3-websockets
TLS backend running in its own thread.
"""

import asyncio
import atexit
import contextlib
import hashlib
import os
import re
import shutil
import ssl
import subprocess
import tempfile
import threading

import websockets

import harness as h

OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"

ALPHA = "alpha.test"   # RSA 2048, the default certificate (first in the list)
BETA = "beta.test"     # ECDSA P-256
WILD = "*.wild.test"   # ECDSA P-256 wildcard
BACKEND = "backend.test"


def _openssl(*args, cwd=None, input_bytes=None, timeout=60):
    p = subprocess.run([OPENSSL, *args], cwd=cwd, input=input_bytes, capture_output=True,
                       timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed ({p.returncode}): "
                           f"{p.stderr.decode('utf-8', 'replace')}")
    return p.stdout


def _keyargs(kind):
    if kind == "rsa":
        return ["-newkey", "rsa:2048"]
    if kind == "ec":
        return ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
    raise ValueError(kind)


class Pki:
    """Paths of the generated CA and leaf certificates (attributes *_crt / *_key)."""

    _instance = None

    @classmethod
    def get(cls):
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="ringway-tls-pki-")
        atexit.register(shutil.rmtree, self.dir, True)
        self.ca_crt, self.ca_key = self._ca("ca", "ringway test CA")
        self.wrong_ca_crt, self.wrong_ca_key = self._ca("wrong-ca", "ringway wrong CA")
        self.alpha_crt, self.alpha_key = self._leaf("alpha", "rsa", [f"DNS:{ALPHA}"])
        self.beta_crt, self.beta_key = self._leaf("beta", "ec", [f"DNS:{BETA}"])
        self.wild_crt, self.wild_key = self._leaf("wild", "ec", [f"DNS:{WILD}"])
        self.alpha2_crt, self.alpha2_key = self._leaf("alpha2", "ec", [f"DNS:{ALPHA}"])
        self.backend_crt, self.backend_key = self._leaf(
            "backend", "ec", [f"DNS:{BACKEND}", "IP:127.0.0.1"])
        # Same names, signed by the wrong CA: a backend ringway must not trust.
        self.rogue_crt, self.rogue_key = self._leaf(
            "rogue", "ec", [f"DNS:{BACKEND}", "IP:127.0.0.1"],
            ca=(self.wrong_ca_crt, self.wrong_ca_key))

    def path(self, name):
        return os.path.join(self.dir, name)

    def _ca(self, name, cn):
        crt, key = self.path(f"{name}.crt"), self.path(f"{name}.key")
        _openssl("req", "-x509", *_keyargs("ec"), "-nodes", "-days", "2", "-keyout", key,
                 "-out", crt, "-subj", f"/CN={cn}",
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        return crt, key

    def _leaf(self, name, kind, sans, ca=None):
        ca_crt, ca_key = ca or (self.ca_crt, self.ca_key)
        crt, key, csr = (self.path(f"{name}.crt"), self.path(f"{name}.key"),
                         self.path(f"{name}.csr"))
        ext = self.path(f"{name}.ext")
        with open(ext, "w") as f:
            f.write("basicConstraints=critical,CA:FALSE\n"
                    "keyUsage=critical,digitalSignature,keyEncipherment\n"
                    "extendedKeyUsage=serverAuth\n"
                    "subjectKeyIdentifier=hash\n"
                    "authorityKeyIdentifier=keyid\n"
                    f"subjectAltName={','.join(sans)}\n")
        cn = sans[0].split(":", 1)[1]
        _openssl("req", "-new", *_keyargs(kind), "-nodes", "-keyout", key, "-out", csr,
                 "-subj", f"/CN={cn}")
        _openssl("x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
                 "-CAcreateserial", "-days", "2", "-out", crt, "-extfile", ext)
        return crt, key

    def make_leaf(self, name, kind, sans):
        """One more leaf, signed by the test CA (for benchmarks and one-off tests)."""
        return self._leaf(name, kind, sans)


def fingerprint_pem(path):
    """SHA-256 of the DER of the first certificate in a PEM file."""
    with open(path) as f:
        pem = f.read()
    m = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", pem, re.S)
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(m.group(0))).hexdigest()


def fingerprint_der(der):
    return hashlib.sha256(der).hexdigest()


def listener_tls(*pairs, min_version=None):
    """A listener's `tls` mapping from (cert, key) path pairs."""
    d = {"certificates": [{"cert": c, "key": k} for c, k in pairs]}
    if min_version is not None:
        d["min_version"] = min_version
    return d


def client_context(cafile=None, verify=True):
    ctx = ssl.create_default_context(cafile=cafile)
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def wss_connect(port, path="/", headers=None, ctx=None, server_hostname=ALPHA, **kw):
    """websockets.connect over wss:// to 127.0.0.1:port with SNI `server_hostname`, same options
    as harness.ws_connect (no size limit, no keepalive, no compression)."""
    if ctx is None:
        ctx = client_context(Pki.get().ca_crt)
    opts = dict(extra_headers=headers or {}, max_size=None, ping_interval=None,
                open_timeout=h.IO_TIMEOUT * 2, close_timeout=h.IO_TIMEOUT, compression=None,
                max_queue=None, ssl=ctx, server_hostname=server_hostname)
    opts.update(kw)
    return websockets.connect(f"wss://127.0.0.1:{port}{path}", **opts)


async def echo_once(port, text="ping", **kw):
    """Opens a wss:// connection, echoes one message, returns (reply, peer cert DER)."""
    async with wss_connect(port, **kw) as ws:
        der = ws.transport.get_extra_info("ssl_object").getpeercert(binary_form=True)
        await ws.send(text)
        reply = await asyncio.wait_for(ws.recv(), h.IO_TIMEOUT)
        return reply, der


def s_client(port, *args, servername=None, input_bytes=b"", timeout=20):
    """Runs `openssl s_client -connect 127.0.0.1:PORT ...` with stdin `input_bytes` (closed
    after). Returns (exit code, stdout+stderr text)."""
    cmd = [OPENSSL, "s_client", "-connect", f"127.0.0.1:{port}"]
    if servername is not None:
        cmd += ["-servername", servername]
    cmd += list(args)
    try:
        p = subprocess.run(cmd, input=input_bytes, capture_output=True,
                           timeout=h.budget(timeout))
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"") + (e.stderr or b"")
        return None, out.decode("utf-8", "replace")
    return p.returncode, (p.stdout + p.stderr).decode("utf-8", "replace")


def s_client_leaf_fingerprint(output):
    """SHA-256 of the server certificate printed by s_client (its PEM block)."""
    m = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", output, re.S)
    if not m:
        raise AssertionError(f"no server certificate in s_client output:\n{output[-3000:]}")
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(m.group(0))).hexdigest()


class TlsBackend:
    """A python3-websockets echo server with its own certificate, in a thread with its own event
    loop. Messages are echoed; "__headers__" answers the request headers it saw."""

    def __init__(self, certfile, keyfile):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(certfile, keyfile)
        self.ctx.set_alpn_protocols(["http/1.1"])
        self.server_names = []  # the SNI of every handshake (None: no SNI)
        self.ctx.sni_callback = lambda _obj, name, _ctx: self.server_names.append(name)
        self.port = None
        self.connections = 0
        self.sessions = []  # per upgraded connection: (TLS version, ALPN, session reused)
        self.handshake_errors = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._ready.wait(h.budget(h.START_TIMEOUT)) or self.port is None:
            raise AssertionError("the TLS backend did not start")

    async def _handler(self, ws, _path=None):
        self.connections += 1
        obj = ws.transport.get_extra_info("ssl_object")
        self.sessions.append((obj.version(), obj.selected_alpn_protocol(), obj.session_reused))
        with contextlib.suppress(websockets.ConnectionClosed):
            async for msg in ws:
                if msg == "__headers__":
                    await ws.send("".join(f"{k}: {v}\r\n"
                                          for k, v in ws.request_headers.raw_items()))
                else:
                    await ws.send(msg)

    def _run(self):
        asyncio.set_event_loop(self._loop)

        def on_error(loop, context):
            self.handshake_errors.append(str(context.get("exception") or context.get("message")))

        self._loop.set_exception_handler(on_error)

        async def main():
            self._stop = asyncio.Event()
            async with websockets.serve(self._handler, "127.0.0.1", 0, ssl=self.ctx,
                                        max_size=None, ping_interval=None,
                                        compression=None) as server:
                self.port = server.sockets[0].getsockname()[1]
                self._ready.set()
                await self._stop.wait()

        try:
            self._loop.run_until_complete(main())
        finally:
            self._ready.set()
            with contextlib.suppress(Exception):
                self._loop.close()

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def stop(self):
        if self._stop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(5)


def metric_value(rw, name, **labels):
    """One sample of ringway's /metrics (0 when the series does not exist)."""
    code, body = rw.admin_get("/metrics")
    if code != 200:
        raise AssertionError(f"/metrics answered {code}: {body!r}")
    total = 0.0
    for line in body.decode().splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        series, _, value = line.rpartition(" ")
        if labels:
            if not series.startswith(name + "{"):
                continue
            got = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', series))
            if any(got.get(k) != v for k, v in labels.items()):
                continue
        elif series != name:
            continue
        total += float(value)
    return total
