"""`wakeup_coalescing`: while traffic flows, a worker that runs out of work sleeps instead of being
woken by each arriving segment (proxy/worker_loop.h).

Streams of messages on many connections at once (tools/wsbench, which checks every echo byte for
byte and in order) with a python3-websockets client beside them: with the default (50us) every echo
is intact and the workers did sleep (ringway_wakeup_coalescing_sleeps_total grows); with
`wakeup_coalescing: 0` the same load never sleeps; a reload turns it on again for the running
process. Whether a given iteration sleeps depends on timing, so only "some" and "none" are checked.
"""

import asyncio
import json
import os
import subprocess
import unittest

import harness as h
from test_limits_helpers import metric
from test_wsbench import WsbenchTestCase

SLEEPS = "ringway_wakeup_coalescing_sleeps_total"


class WakeupCoalescing(WsbenchTestCase):  # its setUp finds self.wsbench
    def setUp(self):
        super().setUp()
        self.backend = self.start_backend("e1")

    def start(self, coalescing=None):
        top = {"workers": 1}
        if coalescing is not None:
            top["wakeup_coalescing"] = coalescing
        return self.start_ringway([h.pool("echo", [self.backend], hash_key="header:X-User")], top=top)

    def stream(self, rw):
        """1.5 s of 30 connections streaming 512-byte messages, 8 in flight each, with a
        python3-websockets client echoing messages of every size beside them."""
        argv = [self.wsbench, "--url", f"ws://127.0.0.1:{rw.port}/stream", "--mode", "stream",
                "--connections", "30", "--inflight", "8", "--size", "512", "--duration", "1.5",
                "--warmup", "0.2", "--header", "X-User: user-{i}", "--json"]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

        async def independent_client():
            sent = 0
            async with h.ws_connect(rw, "/py", {"X-User": "python"}) as ws:
                while proc.poll() is None and sent < 2000:
                    msg = os.urandom(sent % 3000)
                    await ws.send(msg)
                    got = await asyncio.wait_for(ws.recv(), h.IO_TIMEOUT)
                    self.assertTrue(got == msg, f"python message {sent} changed")
                    sent += 1
            return sent

        echoed = h.run(independent_client())
        out, err = proc.communicate(timeout=h.budget(60))
        text = f"$ {' '.join(argv)}\nexit {proc.returncode}\n{out}{err}"
        self.assertEqual(proc.returncode, 0, text)
        report = json.loads([line for line in out.splitlines() if line.startswith("{")][-1])
        self.assertEqual(report["errors"], {}, text)
        self.assertGreater(report["messages"], 1000, text)
        self.assertGreater(echoed, 10)
        return report

    def test_streams_echo_intact_and_workers_sleep_instead_of_being_woken(self):
        rw = self.start()  # the default: 50us
        self.assertEqual(metric(rw, SLEEPS), 0)
        self.stream(rw)
        self.assertGreater(metric(rw, SLEEPS), 0, "no worker slept while 30 connections streamed")
        self.assertIsNone(rw.proc.poll())

    def test_zero_turns_it_off_and_a_reload_turns_it_on(self):
        rw = self.start("0")
        self.stream(rw)
        self.assertEqual(metric(rw, SLEEPS), 0, "wakeup_coalescing: 0 still slept")
        self.assertIn('wakeup_coalescing: "0"', rw.config)
        self.assertTrue(rw.reload(rw.config.replace('wakeup_coalescing: "0"', "wakeup_coalescing: 200us")))
        self.stream(rw)
        self.assertGreater(metric(rw, SLEEPS), 0, "the reload to 200us did not turn it on")
        self.assertIsNone(rw.proc.poll())


if __name__ == "__main__":
    unittest.main()
