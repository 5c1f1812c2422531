"""Passive ejection: a backend that refuses connections is ejected after `failures` consecutive
connect failures (its keys go elsewhere without even trying it), gets traffic again after
`eject_for` and is ejected again at once if it still fails, and takes its keys back once it works."""

import asyncio
import unittest

import websockets

import harness as h
from test_health_helpers import HealthCase, ModalWsBackend

FAILURES = 2
EJECT_FOR = "1500ms"


class PassiveEjection(HealthCase):
    def test_refusing_backend_is_ejected_comes_back_and_is_ejected_again(self):
        b1 = self.start_backend("b1")
        bad_port = h.free_port()  # reserved, nobody listens: connects are refused
        rw = self.start_ringway([self.health_pool(
            [b1, {"name": "bad", "address": f"127.0.0.1:{bad_port}"}],
            connect_retries=1, passive={"failures": FAILURES, "eject_for": EJECT_FOR})])

        def failures():
            return self.backend_status(rw, "bad")["connect_failures"]

        async def land(key):
            async with h.ws_connect(rw, "/ws", {"X-User": key}) as ws:
                await ws.send("hi")
                self.assertEqual(await asyncio.wait_for(ws.recv(), h.IO_TIMEOUT), "hi")
                return ws.response_headers.get("X-Backend")

        # Keys of "bad" fail over to b1 (connect retry) until "bad" is ejected.
        bad_keys = []
        for i in range(200):
            before = failures()
            self.assertEqual(h.run(land(f"user-{i}")), "b1")
            if failures() > before:
                bad_keys.append(f"user-{i}")
            if len(bad_keys) == FAILURES:
                break
        self.assertEqual(len(bad_keys), FAILURES, "no key of the refusing backend found")
        entry = self.backend_status(rw, "bad")
        self.assertEqual(entry["state"], "down")
        self.assertTrue(entry["passive"]["ejected"], entry)
        self.assertEqual(entry["passive"]["ejections"], 1)
        self.assertEqual(entry["health"], "up")  # no active checks: ejection alone keeps it out
        self.wait_log(rw, r"backend ejected pool=chat backend=bad .*consecutive_failures=2")

        # While ejected, its keys go straight to b1: "bad" is not even tried.
        self.assertEqual(h.run(land(bad_keys[0])), "b1")
        self.assertEqual(failures(), FAILURES)

        # After eject_for it gets traffic again; still refusing, one failure ejects it again.
        self.wait_backend(rw, "bad", lambda b: not b["passive"]["ejected"], "back from ejection")
        self.assertEqual(h.run(land(bad_keys[0])), "b1")
        self.assertEqual(failures(), FAILURES + 1)
        entry = self.backend_status(rw, "bad")
        self.assertTrue(entry["passive"]["ejected"], entry)
        self.assertEqual(entry["passive"]["ejections"], 2)

        # It starts answering: after eject_for its keys land on it.
        self.start_backend_on("bad", bad_port)
        self.wait_backend(rw, "bad", lambda b: not b["passive"]["ejected"], "back from ejection")
        self.assertEqual(h.run(land(bad_keys[0])), "bad")
        self.assertEqual(h.run(land(bad_keys[1])), "bad")
        entry = self.backend_status(rw, "bad")
        self.assertEqual(entry["passive"]["consecutive_failures"], 0)
        self.assertEqual(entry["state"], "up")

    def test_resets_during_relay_count_as_failures(self):
        b1 = self.start_backend("b1")
        crashy = ModalWsBackend(self, "crashy")
        crashy.mode = "reset"
        rw = self.start_ringway([self.health_pool(
            [b1, crashy.entry()], passive={"failures": 3, "eject_for": "1h"})])

        async def go():
            # Three connections on "crashy"; then each one's message makes the backend reset it
            # (a crash as the relay sees it): three resets in a row eject it, the clients get 1012.
            held = []
            try:
                for i in range(200):
                    ws = await h.ws_connect(rw, "/ws", {"X-User": f"user-{i}"})
                    if ws.response_headers.get("X-Backend") == "crashy":
                        held.append(ws)
                    else:
                        await ws.close()
                    if len(held) == 3:
                        break
                self.assertEqual(len(held), 3, "no key of the resetting backend found")

                async def boom(ws):
                    await ws.send("boom")
                    with self.assertRaises(websockets.ConnectionClosed) as caught:
                        await asyncio.wait_for(ws.recv(), h.IO_TIMEOUT)
                    return caught.exception.rcvd.code if caught.exception.rcvd else None
                self.assertEqual(await asyncio.gather(*(boom(ws) for ws in held)), [1012] * 3)
            finally:
                for ws in held:
                    await ws.close()
        h.run(go())
        self.wait_log(rw, r"backend ejected pool=chat backend=crashy reason=.*reset")
        entry = self.backend_status(rw, "crashy")
        self.assertTrue(entry["passive"]["ejected"], entry)
        self.assertEqual(entry["connect_failures"], 0)  # the connects themselves all worked

        async def after():
            names = set()
            for i in range(30):
                async with h.ws_connect(rw, "/ws", {"X-User": f"user-{i}"}) as ws:
                    names.add(ws.response_headers.get("X-Backend"))
            return names
        self.assertEqual(h.run(after()), {"b1"})


if __name__ == "__main__":
    unittest.main()
