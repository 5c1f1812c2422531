"""The command line (--version, --check, usage errors, refused keys) and the admin endpoints."""

import asyncio
import json
import os
import re
import subprocess
import time
import unittest

import harness as h

ERROR_LINE = re.compile(r"^(?P<path>.+):(?P<line>\d+):(?P<col>\d+): error: (?P<msg>.+)$")


def run_ringway(*args, timeout=30):
    p = subprocess.run([h.RINGWAY_BIN, *args], capture_output=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


GOOD = """\
listeners:
  - name: public
    bind: "127.0.0.1:18080"
    pool: chat
    routes:
      - host: "*.example.com"
        path_prefix: "/ws"
        pool: chat
pools:
  - name: chat
    hash_key: header:X-User
    connect_retries: 2
    backends:
      - name: chat-1
        address: "127.0.0.1:19001"
      - name: chat-2
        address: "127.0.0.1:19002"
        weight: 2
      - name: chat-3
        address: "127.0.0.1:19003"
        backup: true
websocket:
  max_message_size: 16MiB
limits:
  max_connections: 0
  max_header_size: 16KiB
timeouts:
  connect: 5s
  handshake: 250ms
shutdown:
  delay: 0s
  drain_timeout: 2m
admin:
  bind: "127.0.0.1:19901"
"""

# Every error below is on a known line (1-based).
BAD = """\
listeners:
  - name: public
    bind: "127.0.0.1:PORT"
    pool: nosuchpool
    colour: blue
pools:
  - name: chat
    hash_key: source_ip
    backends:
      - name: chat-1
        address: "127.0.0.1:19001"
      - name: chat-1
        address: "127.0.0.1:19002"
timeouts:
  connect: 5 parsecs
"""
BAD_LINES = {
    4: "missing pool",
    5: "unknown key",
    12: "duplicate backend name",
    15: "bad duration",
}

# TLS files are read by --check: a missing one is an error at the line that names it.
TLS_MISSING_FILES = """\
listeners:
  - name: public
    bind: "127.0.0.1:18080"
    pool: chat
    tls:
      certificates:
        - cert: /nonexistent/a.crt
          key: /nonexistent/a.key
pools:
  - name: chat
    backends:
      - name: a
        address: "127.0.0.1:19001"
"""

REFUSED = {
}

# Keys that used to be refused and are implemented now: they must pass --check.
ACCEPTED = {
    "listeners[].mode: tcp": ("""\
listeners:
  - name: public
    bind: "127.0.0.1:18080"
    mode: tcp
    pool: chat
pools:
  - name: chat
    backends:
      - name: a
        address: "127.0.0.1:19001"
""", 4),
    "listeners[].proxy_protocol": ("""\
listeners:
  - name: public
    bind: "127.0.0.1:18080"
    pool: chat
    proxy_protocol: true
pools:
  - name: chat
    send_proxy_protocol: v2
    backends:
      - name: a
        address: "127.0.0.1:19001"
""", 5),
    "websocket.ping_interval": ("""\
listeners:
  - name: public
    bind: "127.0.0.1:18080"
    pool: chat
pools:
  - name: chat
    backends:
      - name: a
        address: "127.0.0.1:19001"
websocket:
  ping_interval: 30s
""", 11),
    "websocket.idle_timeout": ("""\
listeners:
  - name: public
    bind: "127.0.0.1:18080"
    pool: chat
pools:
  - name: chat
    backends:
      - name: a
        address: "127.0.0.1:19001"
websocket:
  idle_timeout: 5m
""", 11),
    "websocket.messages_per_second": ("""\
listeners:
  - name: public
    bind: "127.0.0.1:18080"
    pool: chat
pools:
  - name: chat
    backends:
      - name: a
        address: "127.0.0.1:19001"
websocket:
  max_message_size: 1MiB
  messages_per_second: 10
  burst: 20
""", 12),
}


class CommandLine(h.IntegrationTestCase):
    def write(self, name, text):
        path = os.path.join(self.tmpdir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_version(self):
        code, out, err = run_ringway("--version")
        self.assertEqual(code, 0, err)
        self.assertRegex(out.strip(), r"^ringway \d+\.\d+\.\d+$")

    def test_check_good_file(self):
        path = self.write("good.yaml", GOOD)
        code, out, err = run_ringway("-c", path, "--check")
        self.assertEqual(code, 0, f"stdout {out!r} stderr {err!r}")
        self.assertIn("configuration OK", out)
        # Same with the flags the other way round.
        code, out, err = run_ringway("--check", "-c", path)
        self.assertEqual(code, 0, f"stdout {out!r} stderr {err!r}")
        self.assertIn("configuration OK", out)

    def bad_file(self):
        # Never run on a fixed port, even if ringway wrongly accepted the file.
        return self.write("bad.yaml", BAD.replace("PORT", str(h.free_port())))

    def test_check_bad_file_reports_every_error_with_line_and_column(self):
        path = self.bad_file()
        code, out, err = run_ringway("-c", path, "--check")
        self.assertEqual(code, 1, f"stdout {out!r} stderr {err!r}")
        self.assertNotIn("configuration OK", out)
        lines = [l for l in err.splitlines() if l.strip()]
        found = {}
        for l in lines:
            m = ERROR_LINE.match(l)
            self.assertIsNotNone(m, f"stderr line not in PATH:LINE:COL: error: form: {l!r}\n{err}")
            self.assertEqual(m.group("path"), path, l)
            self.assertGreaterEqual(int(m.group("col")), 1, l)
            found.setdefault(int(m.group("line")), []).append(l)
        for line, what in BAD_LINES.items():
            self.assertIn(line, found, f"no error on line {line} ({what}); stderr:\n{err}")
        # (Consequential errors elsewhere, e.g. "pool chat is not used", are allowed.)
        # The unknown key's column points at the key itself.
        self.assertTrue(any(":5:5: error:" in l for l in found[5]), found[5])
        self.assertTrue(any("colour" in l for l in found[5]), found[5])
        self.assertTrue(any("nosuchpool" in l for l in found[4]), found[4])
        self.assertTrue(any("chat-1" in l for l in found[12]), found[12])

    def test_running_with_a_bad_file_fails_with_the_same_errors(self):
        path = self.bad_file()
        try:
            code, out, err = run_ringway("-c", path, timeout=15)
        except subprocess.TimeoutExpired:
            self.fail("ringway kept running with an invalid configuration")
        self.assertEqual(code, 1, f"stdout {out!r} stderr {err!r}")
        for line in BAD_LINES:
            self.assertIn(f"{path}:{line}:", err)

    def test_missing_file_and_yaml_syntax_error(self):
        code, out, err = run_ringway("-c", os.path.join(self.tmpdir, "nope.yaml"), "--check")
        self.assertEqual(code, 1, f"stdout {out!r} stderr {err!r}")
        self.assertIn("nope.yaml", err)
        path = self.write("syntax.yaml", "listeners:\n  - name: [unclosed\n")
        code, out, err = run_ringway("-c", path, "--check")
        self.assertEqual(code, 1, f"stdout {out!r} stderr {err!r}")
        self.assertRegex(err, re.escape(path) + r":\d+:\d+: error: ")

    def test_usage_errors_exit_2(self):
        for args in ([], ["--bogus"], ["-c"], ["--check"], ["-c", "a.yaml", "extra-arg"]):
            with self.subTest(args=args):
                code, out, err = run_ringway(*args)
                self.assertEqual(code, 2, f"stdout {out!r} stderr {err!r}")

    def test_refused_keys_are_not_supported_yet(self):
        for name, (text, line) in REFUSED.items():
            with self.subTest(key=name):
                path = self.write(f"refused-{len(name)}.yaml", text)
                code, out, err = run_ringway("-c", path, "--check")
                self.assertEqual(code, 1, f"stdout {out!r} stderr {err!r}")
                self.assertIn("not supported yet", err)
                self.assertIn(f"{path}:{line}:", err)

    def test_tls_files_that_cannot_be_read_are_errors_at_their_lines(self):
        path = self.write("tls-missing.yaml", TLS_MISSING_FILES)
        code, _out, err = run_ringway("-c", path, "--check")
        self.assertEqual(code, 1, err)
        self.assertIn(f'{path}:7:17: error: listeners[0].tls.certificates[0].cert: cannot read '
                      f'"/nonexistent/a.crt": No such file or directory', err)
        self.assertIn(f"{path}:8:16: error: listeners[0].tls.certificates[0].key: cannot read", err)

    def test_implemented_websocket_keys_are_accepted(self):
        for name, (text, _line) in ACCEPTED.items():
            with self.subTest(key=name):
                path = self.write(f"accepted-{len(name)}.yaml", text)
                code, out, err = run_ringway("-c", path, "--check")
                self.assertEqual(code, 0, f"stdout {out!r} stderr {err!r}")
                self.assertIn("configuration OK", out)


def find_named(container, name):
    """`container` is a list of objects with "name" or a dict keyed by name."""
    if isinstance(container, dict):
        return container.get(name)
    for item in container:
        if isinstance(item, dict) and item.get("name") == name:
            return item
    return None


def active_of(backend):
    for key in ("active", "active_connections", "connections"):
        if key in backend:
            return backend[key]
    raise AssertionError(f"no active connection count in {backend}")


class Admin(h.IntegrationTestCase):
    def test_healthz_ready_and_status(self):
        backends = self.start_backends(3)
        rw = self.start_ringway([h.pool("chat", backends, hash_key="header:X-User")])
        self.assertEqual(rw.admin_get("/healthz")[0], 200)
        self.assertEqual(rw.admin_get("/ready")[0], 200)

        st = rw.status_json()
        self.assertIn("generation", st)
        self.assertIsInstance(st["generation"], int)
        self.assertIn("listeners", st)
        self.assertIn("pools", st)
        p = find_named(st["pools"], "chat")
        self.assertIsNotNone(p, st)
        self.assertIn("backends", p)
        for b in backends:
            e = find_named(p["backends"], b.name)
            self.assertIsNotNone(e, f"backend {b.name} missing from {p}")
            self.assertEqual(e.get("address"), b.address, e)
            self.assertEqual(e.get("state"), "up", e)
            self.assertEqual(e.get("weight"), 1, e)
            self.assertEqual(active_of(e), 0, e)

        def counts():
            pool_ = find_named(rw.status_json()["pools"], "chat")
            return {b.name: active_of(find_named(pool_["backends"], b.name)) for b in backends}

        def wait_counts(expected):
            deadline = time.monotonic() + h.IO_TIMEOUT
            got = None
            while time.monotonic() < deadline:
                got = counts()
                if got == expected:
                    return
                time.sleep(0.05)
            self.assertEqual(got, expected, "active connections in /status")

        async def go():
            conns = []
            try:
                for i in range(12):
                    conns.append(await h.ws_connect(rw, "/ws", {"X-User": f"u{i}"}))
                expected = {b.name: 0 for b in backends}
                for ws in conns:
                    expected[ws.response_headers.get("X-Backend")] += 1
                await asyncio.get_running_loop().run_in_executor(None, wait_counts, expected)
                for ws in conns[:5]:
                    expected[ws.response_headers.get("X-Backend")] -= 1
                    await ws.close()
                await asyncio.get_running_loop().run_in_executor(None, wait_counts, expected)
            finally:
                for ws in conns:
                    await ws.close()
            await asyncio.get_running_loop().run_in_executor(
                None, wait_counts, {b.name: 0 for b in backends})
        h.run(go())


if __name__ == "__main__":
    unittest.main()
