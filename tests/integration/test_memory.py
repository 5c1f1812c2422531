"""Memory per idle proxied WebSocket: a regression bound, generous on purpose (issue 11's target is
1 KiB; this test only catches a regression well past it).

2,000 WebSockets are held through ringway to one wsecho by tools/wsbench (hold mode, every
connection echoes once at the end so none is silently lost). ringway's RSS with them held, minus its
RSS before the first connection, over 2,000 must be at most 2 KiB (about 1.1 KiB measured: the bound
is about twice that, for allocator and platform noise); once they have all closed, its RSS must be
back within 2 MiB of the fresh process (ringway trims its heap about 1 s after a burst of closes:
proxy/heap_trim.h; without that the closed sessions' pages stayed, +2.5 MiB here). The figures are
printed either way.
Skipped for a sanitized build (ASan's shadow memory and quarantine make RSS meaningless).
"""

import json
import os
import subprocess
import sys
import time
import unittest

import harness as h

CONNECTIONS = 2000
MAX_KIB_PER_CONNECTION = 2.0
MAX_GROWTH_AFTER_CLOSE_KIB = 2 * 1024


def wsbench_bin():
    path = os.environ.get("WSBENCH_BIN", "")
    if not path and h.RINGWAY_BIN:
        build = os.path.dirname(os.path.dirname(os.path.abspath(h.RINGWAY_BIN)))
        path = os.path.join(build, "tools", "wsbench", "wsbench")
    return path


class MemoryPerIdleConnection(h.IntegrationTestCase):
    def test_idle_websockets_cost_at_most_2_kib_each_and_memory_comes_back(self):
        if h.ringway_is_sanitized():
            self.skipTest("sanitized build: RSS figures mean nothing")
        wsbench = wsbench_bin()
        if not os.access(wsbench, os.X_OK):
            self.fail(f"wsbench not found at {wsbench!r} (set WSBENCH_BIN)")
        backend = self.start_backend("e1")
        rw = self.start_ringway([h.pool("echo", [backend], hash_key="header:X-User")])
        time.sleep(0.3)  # let the fresh process settle (admin probe of the harness, first log lines)
        fresh = rw.rss_kib()

        argv = [wsbench, "--url", f"ws://127.0.0.1:{rw.port}/mem", "--mode", "hold",
                "--connections", str(CONNECTIONS), "--duration", "1", "--size", "64", "--verify-end",
                "--header", "X-User: user-{i}", "--pid", str(rw.proc.pid), "--setup-concurrency", "128",
                "--setup-timeout", "60", "--json"]
        res = subprocess.run(argv, capture_output=True, text=True, timeout=h.budget(100))
        text = f"$ {' '.join(argv)}\nexit {res.returncode}\n{res.stdout}{res.stderr}"
        self.assertEqual(res.returncode, 0, text)
        report = json.loads([line for line in res.stdout.splitlines() if line.startswith("{")][-1])
        self.assertEqual(report["open_at_start"], CONNECTIONS, text)
        self.assertEqual(report["probe_ok"], CONNECTIONS, text)
        self.assertEqual(report["errors"], {}, text)
        pid = report["pids"][0]
        before, held = pid["rss_before_kib"], pid["rss_start_kib"]
        per_connection = (held - before) / CONNECTIONS

        # Every connection is closed by now on the client side; give ringway a moment to see the
        # last closes and trim its heap, then take the lowest RSS over a short while.
        after = rw.rss_kib()
        deadline = time.monotonic() + h.budget(5)
        while time.monotonic() < deadline:
            time.sleep(0.25)
            after = min(after, rw.rss_kib())
            if after <= fresh + 1024:
                break
        self.assertIsNone(rw.proc.poll(), "ringway exited")

        sys.stderr.write(
            f"\nmemory: ringway RSS fresh {fresh} KiB, before {before} KiB, with {CONNECTIONS} idle "
            f"WebSockets {held} KiB ({per_connection:.2f} KiB per connection), after they closed "
            f"{after} KiB ({(after - fresh) / 1024:+.1f} MiB vs fresh)\n")
        self.assertLessEqual(per_connection, MAX_KIB_PER_CONNECTION,
                             f"{per_connection:.2f} KiB per idle connection\n{text}")
        self.assertLessEqual(after, fresh + MAX_GROWTH_AFTER_CLOSE_KIB,
                             f"RSS {after} KiB after the closes, fresh {fresh} KiB")


if __name__ == "__main__":
    unittest.main(verbosity=2)
