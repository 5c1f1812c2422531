"""Shared helpers for ringway's black-box integration tests.

The tests start the real `ringway` (RINGWAY_BIN) in front of real `wsecho` backends (WSECHO_BIN)
and talk to them with raw sockets (where bytes must be exact) or with Debian's python3-websockets
10.4 (an independent WebSocket implementation). Run them with /usr/bin/python3.

Robustness rules on a shared, noisy machine:
- never a fixed port: free ports are found by binding 127.0.0.1:0, reserved against other test
  processes with a lock file, and startup is retried when the port was taken meanwhile;
- every process started is killed in tearDown (cleanups run even when setUp fails);
- timeouts are only failure guards, and generous; nothing asserts on how long something took;
- on failure, the stderr of ringway (and the output of every backend) is printed.
"""

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

import websockets

RINGWAY_BIN = os.environ.get("RINGWAY_BIN", "")
WSECHO_BIN = os.environ.get("WSECHO_BIN", "")

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

# Failure guards (seconds). Generous on purpose: they only bound a test that is going wrong.
START_TIMEOUT = 20.0
IO_TIMEOUT = 15.0

# Every wait in one test file is also clipped to a budget for the whole file, so that a file whose
# every step times out still ends in about two minutes.
FILE_BUDGET = float(os.environ.get("RINGWAY_TEST_FILE_BUDGET", "115"))
_FILE_DEADLINE = time.monotonic() + FILE_BUDGET


_sanitized = None


def ringway_is_sanitized():
    """Whether RINGWAY_BIN was built with AddressSanitizer or ThreadSanitizer (its memory figures
    mean little then: freed memory sits in ASan's quarantine instead of being reused, TSan keeps
    shadow memory and history per thread)."""
    global _sanitized
    if _sanitized is None:
        try:
            with open(RINGWAY_BIN, "rb") as f:
                data = f.read()
                _sanitized = b"__asan_init" in data or b"__tsan_init" in data
        except OSError:
            _sanitized = False
    return _sanitized


def budget(timeout):
    """`timeout`, clipped to what is left of the file's budget (at least a quarter second)."""
    return max(0.25, min(timeout, _FILE_DEADLINE - time.monotonic()))


# --------------------------------------------------------------------------------------------
# Free ports


_PORT_LOCK_DIR = os.path.join(tempfile.gettempdir(), "ringway-integ-ports")
_reserved_ports = set()


def _reserve(port):
    """Cross-process reservation so two test files running in parallel never pick the same port
    (ringway may bind with SO_REUSEPORT, which would let two instances share one port silently)."""
    os.makedirs(_PORT_LOCK_DIR, exist_ok=True)
    path = os.path.join(_PORT_LOCK_DIR, str(port))
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        try:
            # A reservation older than 10 minutes is from a dead run.
            if time.time() - os.stat(path).st_mtime > 600:
                os.unlink(path)
        except OSError:
            pass
        return False
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    _reserved_ports.add(port)
    return True


def release_port(port):
    if port in _reserved_ports:
        _reserved_ports.discard(port)
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(_PORT_LOCK_DIR, str(port)))


def free_port():
    """A port nobody listens on right now (bind 127.0.0.1:0, close), reserved for this process."""
    for _ in range(200):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        finally:
            s.close()
        if _reserve(port):
            return port
    raise RuntimeError("could not find a free port")


def release_all_ports():
    for port in list(_reserved_ports):
        release_port(port)


def _looks_like_addr_in_use(text):
    t = text.lower()
    return "in use" in t or "eaddrinuse" in t or "address already" in t


# --------------------------------------------------------------------------------------------
# YAML (a tiny emitter: block style, strings double-quoted)


def _yaml_scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    return json.dumps(str(v))  # a JSON string is a valid YAML double-quoted scalar


def to_yaml(obj, indent=0):
    pad = " " * indent
    lines = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, (dict, list)) and v:
                lines.append(f"{pad}{k}:")
                lines.append(to_yaml(v, indent + 2))
            elif isinstance(v, list):
                lines.append(f"{pad}{k}: []")
            elif isinstance(v, dict):
                lines.append(f"{pad}{k}: {{}}")
            else:
                lines.append(f"{pad}{k}: {_yaml_scalar(v)}")
    elif isinstance(obj, list):
        for item in obj:
            if isinstance(item, dict) and item:
                sub = to_yaml(item, indent + 2).split("\n")
                sub[0] = pad + "- " + sub[0][indent + 2:]
                lines.extend(sub)
            else:
                lines.append(f"{pad}- {_yaml_scalar(item)}")
    else:
        lines.append(pad + _yaml_scalar(obj))
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Processes


class Backend:
    """One running wsecho."""

    def __init__(self, name, port, proc, out_path):
        self.name = name
        self.port = port
        self.proc = proc
        self.out_path = out_path

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def kill(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=10)

    def output(self):
        with contextlib.suppress(OSError), open(self.out_path, "rb") as f:
            return f.read().decode("utf-8", "replace")
        return ""


class Ringway:
    """One running ringway."""

    def __init__(self, proc, port, admin_port, config_path, log_path, config):
        self.proc = proc
        self.port = port
        self.admin_port = admin_port
        self.config_path = config_path
        self.log_path = log_path
        self.config = config

    def ws_url(self, path="/"):
        return f"ws://127.0.0.1:{self.port}{path}"

    def log(self):
        with contextlib.suppress(OSError), open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")
        return ""

    def admin_get(self, path, timeout=IO_TIMEOUT):
        """(status, body bytes) of GET http://admin{path}; HTTP errors are returned, not raised."""
        url = f"http://127.0.0.1:{self.admin_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def status_json(self):
        code, body = self.admin_get("/status")
        if code != 200:
            raise AssertionError(f"/status answered {code}: {body!r}")
        return json.loads(body)

    def admin_post(self, path, timeout=IO_TIMEOUT):
        """(status, body bytes) of an empty POST http://admin{path}."""
        url = f"http://127.0.0.1:{self.admin_port}{path}"
        req = urllib.request.Request(url, data=b"", method="POST")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    # -- reloads (SIGHUP) -------------------------------------------------------------------

    RELOAD_OK_LINE = "configuration reloaded"
    RELOAD_FAILED_LINE = "reload failed"

    def write_config(self, text):
        """Replaces the configuration file atomically (a SIGHUP never reads half a file)."""
        if isinstance(text, dict):
            text = to_yaml(text) + "\n"
        tmp = self.config_path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.config_path)
        self.config = text

    def reload_outcomes(self):
        """(applied, failed): how many reloads ringway has logged so far."""
        text = self.log()
        return text.count(self.RELOAD_OK_LINE), text.count(self.RELOAD_FAILED_LINE)

    def reload(self, text=None, timeout=IO_TIMEOUT):
        """Optionally rewrites the configuration, sends SIGHUP and waits until ringway has logged
        the outcome. Returns True when the new configuration was applied, False when refused."""
        if text is not None:
            self.write_config(text)
        ok0, failed0 = self.reload_outcomes()
        self.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + budget(timeout)
        while time.monotonic() < deadline:
            ok, failed = self.reload_outcomes()
            if ok > ok0:
                return True
            if failed > failed0:
                return False
            if self.proc.poll() is not None:
                raise AssertionError(f"ringway exited ({self.proc.returncode}) on SIGHUP")
            time.sleep(0.005)
        raise AssertionError(f"no reload outcome logged {timeout}s after SIGHUP")

    def rss_kib(self):
        """The process's resident set size (VmRSS, KiB)."""
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise AssertionError("no VmRSS in /proc/PID/status")

    def wait_exit(self, timeout):
        """The exit status, or None if still running after `timeout` seconds."""
        try:
            return self.proc.wait(timeout=budget(timeout))
        except subprocess.TimeoutExpired:
            return None

    def kill(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=10)


def pool(name, backends, hash_key="source_ip", **extra):
    """A pool entry for a config. `backends`: Backend objects, or (name, address) pairs."""
    entries = []
    for b in backends:
        if isinstance(b, Backend):
            entries.append({"name": b.name, "address": b.address})
        elif isinstance(b, dict):
            entries.append(b)
        else:
            entries.append({"name": b[0], "address": b[1]})
    d = {"name": name, "hash_key": hash_key}
    d.update(extra)
    d["backends"] = entries
    return d


def _wait_probe_counted(r, timeout=2.0):
    """With several workers, the worker thread that accepted the readiness probe may count it a
    moment after /healthz answers (another thread): wait until /metrics shows it accepted and
    closed, so that a test's first scrape is a clean baseline. Best effort: gives up quietly."""
    deadline = time.monotonic() + budget(timeout)
    while time.monotonic() < deadline:
        try:
            code, body = r.admin_get("/metrics", timeout=2)
        except OSError:
            return
        if code != 200:
            return
        text = body.decode("utf-8", "replace")
        total = sum(float(v) for v in re.findall(r"^ringway_connections_total\{[^}]*\} (\S+)$", text, re.M))
        active = sum(float(v) for v in re.findall(r"^ringway_connections_active\{[^}]*\} (\S+)$", text, re.M))
        if total >= 1 and active == 0:
            return
        time.sleep(0.01)


def can_connect(port, timeout=1.0):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


class IntegrationTestCase(unittest.TestCase):
    """Base class: owns a temp dir and every process a test starts."""

    def setUp(self):
        if not RINGWAY_BIN or not WSECHO_BIN:
            self.fail("RINGWAY_BIN and WSECHO_BIN must be set")
        self._tmp = tempfile.TemporaryDirectory(prefix="ringway-integ-")
        self.tmpdir = self._tmp.name
        self._backends = []
        self._ringways = []
        self._threads_to_stop = []
        self._seq = 0
        # Registered first, so it runs last (after tearDown and the other cleanups).
        self.addCleanup(self._cleanup_all)

    def _failed(self):
        """Whether this test (or one of its subtests) has failed so far. (Inside a cleanup,
        unittest's own `_outcome.success` is reset, so the result's lists are searched.)"""
        result = getattr(getattr(self, "_outcome", None), "result", None)
        if result is None:
            return True
        for test, _ in list(getattr(result, "errors", [])) + list(getattr(result, "failures", [])):
            if test is self or getattr(test, "test_case", None) is self:
                return True
        return False

    def _cleanup_all(self):
        failed = self._failed()
        for stop in self._threads_to_stop:
            with contextlib.suppress(Exception):
                stop()
        for r in self._ringways:
            r.kill()
        for b in self._backends:
            b.kill()
        if failed:
            for r in self._ringways:
                sys.stderr.write(f"\n----- ringway stderr ({r.config_path}, port {r.port}) -----\n")
                sys.stderr.write(r.log()[-20000:])
                sys.stderr.write("\n----- ringway config -----\n" + r.config + "\n")
            for b in self._backends:
                sys.stderr.write(f"----- wsecho {b.name} output (port {b.port}) -----\n")
                sys.stderr.write(b.output()[-4000:])
            sys.stderr.write("\n----- end -----\n")
        release_all_ports()
        self._tmp.cleanup()

    def _next(self):
        self._seq += 1
        return self._seq

    # -- backends ---------------------------------------------------------------------------

    def start_backend(self, name, hello=False, reject=None, extra_args=()):
        """Starts wsecho on a kernel-chosen port (it prints the real one in its ready line)."""
        out_path = os.path.join(self.tmpdir, f"wsecho-{name}-{self._next()}.log")
        args = [WSECHO_BIN, "--listen", "127.0.0.1:0", "--id", name]
        if hello:
            args.append("--hello")
        if reject is not None:
            args += ["--reject", str(reject)]
        args += list(extra_args)
        out = open(out_path, "wb")
        try:
            proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL)
        finally:
            out.close()
        b = Backend(name, 0, proc, out_path)
        self._backends.append(b)
        ready = re.compile(r"wsecho " + re.escape(name) + r" listening on 127\.0\.0\.1:(\d+)\r?\n")
        deadline = time.monotonic() + budget(START_TIMEOUT)
        while time.monotonic() < deadline:
            m = ready.search(b.output())
            if m and int(m.group(1)) != 0:
                b.port = int(m.group(1))
                return b
            if proc.poll() is not None:
                break
            time.sleep(0.02)
        b.kill()
        self.fail(f"wsecho {name} did not start: {b.output()!r}")

    def start_backends(self, n, prefix="b", **kw):
        return [self.start_backend(f"{prefix}{i + 1}", **kw) for i in range(n)]

    # -- ringway ----------------------------------------------------------------------------

    def make_config(self, pools, port, admin_port=None, listener_extra=None, top=None):
        listener = {"name": "public", "bind": f"127.0.0.1:{port}", "pool": pools[0]["name"]}
        if listener_extra:
            listener.update(listener_extra)
        cfg = {"listeners": [listener], "pools": pools}
        if top:
            cfg.update(top)
        if admin_port:
            cfg["admin"] = {"bind": f"127.0.0.1:{admin_port}"}
        return to_yaml(cfg) + "\n"

    def start_ringway(self, pools, admin=True, listener_extra=None, top=None, extra_args=()):
        """Writes a config (listener on a free port, admin on another), starts ringway and waits
        until the listener accepts and /healthz answers. Retries with new ports on EADDRINUSE."""
        last_log = ""
        for _attempt in range(6):
            port = free_port()
            admin_port = free_port() if admin else None
            text = self.make_config(pools, port, admin_port, listener_extra, top)
            n = self._next()
            config_path = os.path.join(self.tmpdir, f"ringway-{n}.yaml")
            log_path = os.path.join(self.tmpdir, f"ringway-{n}.log")
            with open(config_path, "w") as f:
                f.write(text)
            log = open(log_path, "wb")
            try:
                proc = subprocess.Popen([RINGWAY_BIN, "-c", config_path, *extra_args],
                                        stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)
            finally:
                log.close()
            r = Ringway(proc, port, admin_port, config_path, log_path, text)
            self._ringways.append(r)
            if self._wait_ringway_ready(r):
                return r
            last_log = r.log()
            r.kill()
            if not _looks_like_addr_in_use(last_log):
                break
        self.fail(f"ringway did not start; its output:\n{last_log}")

    def _wait_ringway_ready(self, r):
        deadline = time.monotonic() + budget(START_TIMEOUT)
        listening = False
        while time.monotonic() < deadline:
            if r.proc.poll() is not None:
                return False
            if not listening:
                listening = can_connect(r.port)
            if listening:
                if r.admin_port is None:
                    # Make sure it did not exit right after (e.g. the port belonged to someone else).
                    time.sleep(0.05)
                    return r.proc.poll() is None
                try:
                    code, _ = r.admin_get("/healthz", timeout=2)
                    if code == 200:
                        _wait_probe_counted(r)
                        return r.proc.poll() is None
                except OSError:
                    pass
            time.sleep(0.02)
        return False

    def start_ringway_config(self, build, extra_args=()):
        """Like start_ringway, for a configuration the test composes itself: `build(port,
        admin_port)` returns it (a dict, or YAML text) for a free listener port and a free admin
        port. Retries with new ports on EADDRINUSE."""
        last_log = ""
        for _attempt in range(6):
            port = free_port()
            admin_port = free_port()
            text = build(port, admin_port)
            if isinstance(text, dict):
                text = to_yaml(text) + "\n"
            n = self._next()
            config_path = os.path.join(self.tmpdir, f"ringway-{n}.yaml")
            log_path = os.path.join(self.tmpdir, f"ringway-{n}.log")
            with open(config_path, "w") as f:
                f.write(text)
            log = open(log_path, "wb")
            try:
                proc = subprocess.Popen([RINGWAY_BIN, "-c", config_path, *extra_args],
                                        stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)
            finally:
                log.close()
            r = Ringway(proc, port, admin_port, config_path, log_path, text)
            self._ringways.append(r)
            if self._wait_ringway_ready(r):
                return r
            last_log = r.log()
            r.kill()
            if not _looks_like_addr_in_use(last_log):
                break
        self.fail(f"ringway did not start; its output:\n{last_log}")

    # -- a python raw backend ---------------------------------------------------------------

    def start_raw_backend(self, handler):
        """A one-thread TCP server on a kernel-chosen port; `handler(conn)` serves each connection
        (in its own thread). Returns the port. Stopped at cleanup."""
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", 0))
        srv.listen(64)
        srv.settimeout(0.2)
        stop = threading.Event()
        conns = []

        def serve_one(conn):
            try:
                conn.settimeout(IO_TIMEOUT)
                handler(conn)
            except Exception:  # noqa: BLE001 - the test sees the effect on the client side
                pass
            finally:
                with contextlib.suppress(OSError):
                    conn.close()

        def loop():
            while not stop.is_set():
                try:
                    conn, _ = srv.accept()
                except socket.timeout:
                    continue
                except OSError:
                    return
                conns.append(conn)
                threading.Thread(target=serve_one, args=(conn,), daemon=True).start()

        t = threading.Thread(target=loop, daemon=True)
        t.start()

        def stopper():
            stop.set()
            t.join(5)
            srv.close()
            for c in conns:
                with contextlib.suppress(OSError):
                    c.close()

        self._threads_to_stop.append(stopper)
        return srv.getsockname()[1]


# --------------------------------------------------------------------------------------------
# Raw HTTP


def make_key(raw16=None):
    return base64.b64encode(raw16 if raw16 is not None else os.urandom(16)).decode()


def accept_for(key):
    return base64.b64encode(hashlib.sha1(key.encode() + WS_GUID).digest()).decode()


def upgrade_request(path="/", host="127.0.0.1", key=None, version="13", method="GET",
                    extra_headers=(), omit=(), http_version="HTTP/1.1"):
    """A valid RFC 6455 upgrade request head (bytes). `omit`: header names (lower case) to leave
    out; `extra_headers`: (name, value) pairs appended. Returns (bytes, key)."""
    if key is None:
        key = make_key()
    headers = [("Host", host), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
               ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", version)]
    headers = [h for h in headers if h[0].lower() not in omit]
    headers += list(extra_headers)
    head = f"{method} {path} {http_version}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers)
    head += "\r\n"
    return head.encode("latin-1"), key


def raw_connect(port, timeout=IO_TIMEOUT):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


class HttpHead:
    def __init__(self, raw):
        self.raw = raw  # the head's bytes, CRLFCRLF included
        text = raw.decode("latin-1")
        lines = text.split("\r\n")
        self.status_line = lines[0]
        parts = self.status_line.split(" ", 2)
        self.version = parts[0]
        self.status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else -1
        self.reason = parts[2] if len(parts) > 2 else ""
        self.header_lines = [l for l in lines[1:] if l]
        self.headers = []
        for l in self.header_lines:
            k, _, v = l.partition(":")
            self.headers.append((k.strip(), v.strip()))

    def get(self, name, default=None):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return default

    def get_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def __repr__(self):
        return f"HttpHead({self.raw!r})"


def read_head(sock, buf=b"", timeout=IO_TIMEOUT, limit=1 << 20):
    """Reads until CRLFCRLF. Returns (HttpHead, leftover bytes). Raises AssertionError on EOF."""
    deadline = time.monotonic() + budget(timeout)
    while b"\r\n\r\n" not in buf:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"timed out waiting for a response head; got {buf!r}")
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            raise AssertionError(f"timed out waiting for a response head; got {buf!r}")
        if not chunk:
            raise AssertionError(f"connection closed before a full response head; got {buf!r}")
        buf += chunk
        if len(buf) > limit:
            raise AssertionError("response head too large")
    i = buf.index(b"\r\n\r\n") + 4
    return HttpHead(buf[:i]), buf[i:]


def read_until_eof(sock, buf=b"", timeout=IO_TIMEOUT):
    """Reads until the peer closes. Returns (bytes, how) with how in 'eof', 'reset', 'timeout'."""
    deadline = time.monotonic() + budget(timeout)
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return buf, "timeout"
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return buf, "timeout"
        except ConnectionResetError:
            return buf, "reset"
        if not chunk:
            return buf, "eof"
        buf += chunk


def read_exact(sock, n, buf=b"", timeout=IO_TIMEOUT):
    """Returns (first n bytes, leftover)."""
    deadline = time.monotonic() + budget(timeout)
    while len(buf) < n:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"timed out waiting for {n} bytes; got {len(buf)}: {buf[:200]!r}")
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            raise AssertionError(f"timed out waiting for {n} bytes; got {len(buf)}: {buf[:200]!r}")
        if not chunk:
            raise AssertionError(f"connection closed after {len(buf)} of {n} bytes: {buf[:200]!r}")
        buf += chunk
    return buf[:n], buf[n:]


def read_response(sock, buf=b"", timeout=IO_TIMEOUT):
    """A whole HTTP response: (HttpHead, body, leftover). The body is Content-Length bytes, or
    everything until EOF when there is no Content-Length."""
    head, rest = read_head(sock, buf, timeout)
    cl = head.get("Content-Length")
    if cl is not None:
        body, rest = read_exact(sock, int(cl), rest, timeout)
        return head, body, rest
    body, _how = read_until_eof(sock, rest, timeout)
    return head, body, b""


def http_exchange(port, request_bytes, timeout=IO_TIMEOUT):
    """Sends `request_bytes` in one write and reads the response (head, body, then whether the
    connection ended: 'eof', 'reset' or 'timeout')."""
    with raw_connect(port, timeout) as s:
        s.sendall(request_bytes)
        head, body, rest = read_response(s, timeout=timeout)
        trailing, how = read_until_eof(s, rest, timeout)
        return head, body, trailing, how


# --------------------------------------------------------------------------------------------
# Raw WebSocket frames

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def encode_frame(opcode, payload=b"", fin=True, mask=True, mask_key=None, rsv=0):
    if isinstance(payload, str):
        payload = payload.encode()
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if mask:
        if mask_key is None:
            mask_key = os.urandom(4)
        head += mask_key
        payload = bytes(b ^ mask_key[i % 4] for i, b in enumerate(payload))
    return head + payload


def close_payload(code, reason=""):
    return struct.pack("!H", code) + reason.encode()


class Frame:
    def __init__(self, fin, rsv, opcode, masked, payload):
        self.fin, self.rsv, self.opcode, self.masked, self.payload = fin, rsv, opcode, masked, payload

    @property
    def close_code(self):
        return struct.unpack("!H", self.payload[:2])[0] if len(self.payload) >= 2 else None

    @property
    def close_reason(self):
        return self.payload[2:].decode("utf-8", "replace")

    def __repr__(self):
        return (f"Frame(fin={self.fin}, opcode={self.opcode:#x}, masked={self.masked}, "
                f"payload={self.payload[:80]!r}{'...' if len(self.payload) > 80 else ''})")


class FrameReader:
    """Decodes frames from a socket, starting with bytes already read (e.g. after the 101)."""

    def __init__(self, sock, buf=b""):
        self.sock = sock
        self.buf = buf

    def _need(self, n, timeout):
        data, self.buf = read_exact(self.sock, n, self.buf, timeout)
        return data

    def read_frame(self, timeout=IO_TIMEOUT):
        b0, b1 = self._need(2, timeout)
        fin = bool(b0 & 0x80)
        rsv = (b0 >> 4) & 0x7
        opcode = b0 & 0x0F
        masked = bool(b1 & 0x80)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._need(2, timeout))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._need(8, timeout))[0]
        key = self._need(4, timeout) if masked else None
        payload = self._need(n, timeout) if n else b""
        if masked:
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        return Frame(fin, rsv, opcode, masked, payload)


def raw_upgrade(port, path="/", extra_headers=(), first_bytes=b"", timeout=IO_TIMEOUT):
    """Connects, sends a valid upgrade (plus `first_bytes` in the same write), reads the 101.
    Returns (sock, HttpHead, FrameReader). The caller closes sock."""
    s = raw_connect(port, timeout)
    try:
        req, key = upgrade_request(path=path, extra_headers=extra_headers)
        s.sendall(req + first_bytes)
        head, rest = read_head(s, timeout=timeout)
        if head.status != 101:
            body, _ = read_until_eof(s, rest, 2)
            raise AssertionError(f"expected 101, got {head.raw!r} {body!r}")
        if head.get("Sec-WebSocket-Accept") != accept_for(key):
            raise AssertionError(f"bad Sec-WebSocket-Accept in {head.raw!r}")
        return s, head, FrameReader(s, rest)
    except BaseException:
        s.close()
        raise


# --------------------------------------------------------------------------------------------
# websockets (asyncio)


def ws_connect(port_or_ringway, path="/", headers=None, subprotocols=None, **kw):
    """websockets.connect with what the tests need: extra headers, no size limit, no keepalive
    pings of its own, no compression (so the bytes relayed are exactly what we send)."""
    port = port_or_ringway.port if isinstance(port_or_ringway, Ringway) else port_or_ringway
    opts = dict(extra_headers=headers or {}, subprotocols=subprotocols, max_size=None,
                ping_interval=None, open_timeout=IO_TIMEOUT * 2, close_timeout=IO_TIMEOUT,
                compression=None, max_queue=None)
    opts.update(kw)
    return websockets.connect(f"ws://127.0.0.1:{port}{path}", **opts)


def run(coro, timeout=90):
    """Runs a coroutine with an overall failure guard."""
    async def guarded():
        return await asyncio.wait_for(coro, budget(timeout))
    return asyncio.run(guarded())


async def whoami(ws):
    await ws.send("__whoami__")
    reply = await asyncio.wait_for(ws.recv(), IO_TIMEOUT)
    assert isinstance(reply, str) and reply.startswith("backend="), reply
    return reply[len("backend="):]


async def backend_for(port, path="/", headers=None):
    """Which backend a new connection with these headers lands on (the X-Backend 101 header,
    cross-checked with __whoami__)."""
    async with ws_connect(port, path, headers) as ws:
        name = ws.response_headers.get("X-Backend")
        who = await whoami(ws)
        assert name == who, f"X-Backend {name!r} but __whoami__ says {who!r}"
        return name
