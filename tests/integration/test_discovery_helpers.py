"""Helpers for the DNS discovery tests (test_discovery*.py), and a self-test of the resolver the tests
control.

How the tests control what a name resolves to, without touching the machine's /etc/hosts: ringway
runs in a private mount namespace (`unshare --mount --propagation private`, we are root) in which a
temp file of the test is bind-mounted over /etc/hosts, and another over /etc/resolv.conf
(`nameserver 127.0.0.1`, where nothing listens: a name missing from the hosts file fails at once and
no query leaves the machine). glibc's `files` backend re-reads /etc/hosts on every getaddrinfo, so
rewriting the temp file changes the answers. It is rewritten in place (a bind mount pins the inode,
so a rename would not be seen), with a single write of less than a page: a lookup sees the old
content, an empty file (no answer: ringway keeps the previous addresses) or the new content.

The backends are wsecho on several loopback addresses (all of 127/8 is local on Linux) and one port,
since a discovered name gives addresses and the entry gives the port.
"""

import asyncio
import contextlib
import json
import os
import re
import subprocess
import time
import unittest

import harness as h

DISCOVERY_NAME = "chat-backends.test"
STATE_TIMEOUT = 20.0  # failure guard for a change to show in /status or the log


_namespace_ok = None


def namespace_available():
    """Whether this process may run a command in a private mount namespace with a bind mount."""
    global _namespace_ok
    if _namespace_ok is None:
        try:
            r = subprocess.run(["unshare", "--mount", "--propagation", "private",
                                "mount", "--bind", "/etc/hosts", "/etc/hosts"],
                               capture_output=True, timeout=20)
            _namespace_ok = r.returncode == 0
        except (OSError, subprocess.SubprocessError):
            _namespace_ok = False
    return _namespace_ok


def hosts_text(mapping):
    """/etc/hosts content: `mapping` is {name: [ip, ...]}, one line per address, in the given order."""
    lines = ["127.0.0.1 localhost"]
    for name, ips in mapping.items():
        lines += [f"{ip} {name}" for ip in ips]
    return "\n".join(lines) + "\n"


class DnsCase(h.IntegrationTestCase):
    """IntegrationTestCase plus a hosts file per ringway, backends on loopback addresses, /status
    polling."""

    def setUp(self):
        super().setUp()
        if not namespace_available():
            self.skipTest("needs `unshare --mount` and `mount --bind` (root)")
        self.resolv_path = os.path.join(self.tmpdir, "resolv.conf")
        with open(self.resolv_path, "w") as f:
            f.write("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")

    # -- the resolver -----------------------------------------------------------------------

    def new_hosts(self, mapping):
        path = os.path.join(self.tmpdir, f"hosts-{self._next()}")
        self.set_hosts(path, mapping)
        return path

    def set_hosts(self, path, mapping):
        data = hosts_text(mapping).encode()
        assert len(data) < 4096
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)

    def ns_command(self, hosts_path, argv):
        """`argv` run in a private mount namespace that sees `hosts_path` as /etc/hosts. The
        command keeps the process id (unshare and sh exec it)."""
        script = ('mount --bind "$1" /etc/hosts && mount --bind "$2" /etc/resolv.conf && '
                  'shift 2 && exec "$@"')
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
                hosts_path, self.resolv_path, *argv]

    # -- backends on loopback addresses -----------------------------------------------------

    def start_backends_at(self, ips, ids):
        """wsecho `ids[i]` on `ips[i]`, every one on the same port. Returns the port."""
        for _attempt in range(5):
            port = h.free_port()
            started = []
            ok = True
            for ip, name in zip(ips, ids):
                b = self._start_wsecho(ip, port, name)
                if b is None:
                    ok = False
                    break
                started.append(b)
            if ok:
                return port
            for b in started:
                b.kill()
        self.fail("could not start the backends on one port")

    def _start_wsecho(self, ip, port, name):
        out_path = os.path.join(self.tmpdir, f"wsecho-{name}-{self._next()}.log")
        out = open(out_path, "wb")
        try:
            proc = subprocess.Popen([h.WSECHO_BIN, "--listen", f"{ip}:{port}", "--id", name],
                                    stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        finally:
            out.close()
        b = h.Backend(name, port, proc, out_path)
        self._backends.append(b)
        ready = f"wsecho {name} listening on {ip}:{port}"
        deadline = time.monotonic() + h.budget(h.START_TIMEOUT)
        while time.monotonic() < deadline:
            if ready in b.output():
                return b
            if proc.poll() is not None:
                return None
            time.sleep(0.02)
        b.kill()
        return None

    # -- ringway ----------------------------------------------------------------------------

    def discovery_config(self, port, admin_port, backends, **pool_extra):
        pool = {"name": "chat", "hash_key": "header:X-User", **pool_extra, "backends": backends}
        return {"listeners": [{"name": "public", "bind": f"127.0.0.1:{port}", "pool": "chat"}],
                "pools": [pool],
                "admin": {"bind": f"127.0.0.1:{admin_port}"}}

    def start_ringway_ns(self, hosts_path, build):
        """Like IntegrationTestCase.start_ringway_config, with ringway in its own mount namespace
        (see the module's docstring)."""
        last_log = ""
        for _attempt in range(6):
            port, admin_port = h.free_port(), h.free_port()
            text = h.to_yaml(build(port, admin_port)) + "\n"
            n = self._next()
            config_path = os.path.join(self.tmpdir, f"ringway-{n}.yaml")
            log_path = os.path.join(self.tmpdir, f"ringway-{n}.log")
            with open(config_path, "w") as f:
                f.write(text)
            log = open(log_path, "wb")
            try:
                proc = subprocess.Popen(self.ns_command(hosts_path, [h.RINGWAY_BIN, "-c", config_path]),
                                        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            finally:
                log.close()
            r = h.Ringway(proc, port, admin_port, config_path, log_path, text)
            self._ringways.append(r)
            if self._wait_ringway_ready(r):
                return r
            last_log = r.log()
            r.kill()
            if not h._looks_like_addr_in_use(last_log):
                break
        self.fail(f"ringway did not start; its output:\n{last_log}")

    # -- observing --------------------------------------------------------------------------

    def pool_backends(self, rw, pool="chat"):
        for p in rw.status_json()["pools"]:
            if p["name"] == pool:
                return p["backends"]
        raise AssertionError(f"no pool {pool} in /status")

    def wait_backends(self, rw, names, pred=None, pool="chat", timeout=STATE_TIMEOUT):
        """Waits until the pool's backends are exactly `names` (and pred(backend) holds for every
        one); returns them by name."""
        deadline = time.monotonic() + h.budget(timeout)
        last = None
        while time.monotonic() < deadline:
            last = self.pool_backends(rw, pool)
            if sorted(b["name"] for b in last) == sorted(names) and (pred is None or all(map(pred, last))):
                return {b["name"]: b for b in last}
            time.sleep(0.05)
        self.fail(f"pool {pool}: backends not {sorted(names)} within {timeout}s; last: "
                  f"{json.dumps(last)[:3000]}")

    def wait_log(self, rw, pattern, count=1, timeout=STATE_TIMEOUT):
        """Waits until ringway's log has `count` lines matching `pattern` (a regex)."""
        deadline = time.monotonic() + h.budget(timeout)
        rx = re.compile(pattern)
        while time.monotonic() < deadline:
            if len(rx.findall(rw.log())) >= count:
                return
            time.sleep(0.05)
        self.fail(f"fewer than {count} log lines matching {pattern!r} within {timeout}s")

    def generation(self, rw):
        return rw.status_json()["generation"]


async def backend_of(rw, key):
    """The backend (wsecho id) a new connection with X-User: key lands on."""
    return await h.backend_for(rw.port, "/ws", {"X-User": key})


async def backends_of(rw, keys):
    return dict(zip(keys, await asyncio.gather(*(backend_of(rw, k) for k in keys))))


class ResolverSelfTest(DnsCase):
    """The mechanism itself, without ringway: a process in the namespace sees the test's hosts file,
    and a rewrite, and nothing of it leaks to the machine's /etc/hosts."""

    def lookup(self, hosts_path):
        r = subprocess.run(self.ns_command(hosts_path, ["getent", "ahostsv4", DISCOVERY_NAME]),
                           capture_output=True, text=True, timeout=20)
        return sorted({line.split()[0] for line in r.stdout.splitlines() if line.strip()})

    def test_rewritten_hosts_file_changes_the_answer(self):
        path = self.new_hosts({DISCOVERY_NAME: ["127.0.0.2", "127.0.0.3"]})
        self.assertEqual(self.lookup(path), ["127.0.0.2", "127.0.0.3"])
        self.set_hosts(path, {DISCOVERY_NAME: ["127.0.0.4"]})
        self.assertEqual(self.lookup(path), ["127.0.0.4"])
        self.set_hosts(path, {})
        self.assertEqual(self.lookup(path), [])  # not in the file, and no DNS server to ask
        with open("/etc/hosts") as f:
            self.assertNotIn(DISCOVERY_NAME, f.read())


if __name__ == "__main__":
    unittest.main()
