"""Listeners changed by reloads (SIGHUP): added (accepts at once), removed (refuses new connections,
its established WebSockets stay and keep echoing), re-bound (old port refused, new port accepts,
connections on the old port stay); a listener kept across reloads (even renamed or moved in the
list) never refuses a connection, checked by a client connecting every few ms during 40 reloads;
a reload whose new listener cannot bind is refused as a whole (nothing changes); admin.bind moved."""

import socket
import threading
import time
import unittest

import harness as h


def refused(port):
    """True when a TCP connect to 127.0.0.1:port is refused (nobody listens)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            return False
    except ConnectionRefusedError:
        return True


def ws_echo(sock, frames, text):
    sock.sendall(h.encode_frame(h.OP_TEXT, text))
    f = frames.read_frame()
    return f.payload.decode() if f.opcode == h.OP_TEXT else f"opcode {f.opcode}: {f.payload!r}"


class ListenerReloads(h.IntegrationTestCase):
    def setUp(self):
        super().setUp()
        self.b = self.start_backends(2)
        self.pools = [h.pool("chat", self.b)]

    def config(self, listeners, admin_port):
        """listeners: list of (name, port)."""
        return {"listeners": [{"name": n, "bind": f"127.0.0.1:{p}", "pool": "chat"} for n, p in listeners],
                "pools": self.pools,
                "admin": {"bind": f"127.0.0.1:{admin_port}"}}

    def start(self):
        return self.start_ringway_config(lambda port, admin: self.config([("public", port)], admin))

    def reload_ok(self, rw, cfg, generation):
        self.assertTrue(rw.reload(cfg), f"reload refused; log:\n{rw.log()[-3000:]}")
        self.assertEqual(rw.status_json()["generation"], generation)

    def listeners(self, rw):
        return {(l["name"], l["bind"]) for l in rw.status_json()["listeners"]}

    def test_added_removed_and_rebound(self):
        rw = self.start()
        p = rw.port
        q = h.free_port()
        r = h.free_port()
        held = []
        try:
            # Added: accepts at once (no retry).
            self.reload_ok(rw, self.config([("public", p), ("second", q)], rw.admin_port), 2)
            for _ in range(3):
                s, _, fr = h.raw_upgrade(q, "/ws")
                held.append(("second", s, fr))
            for _ in range(3):
                s, _, fr = h.raw_upgrade(p, "/ws")
                held.append(("public", s, fr))
            self.assertEqual(self.listeners(rw), {("public", f"127.0.0.1:{p}"), ("second", f"127.0.0.1:{q}")})

            # Removed: refuses, its connections stay.
            self.reload_ok(rw, self.config([("public", p)], rw.admin_port), 3)
            self.assertTrue(refused(q), "removed listener still accepts")
            self.assertEqual(self.listeners(rw), {("public", f"127.0.0.1:{p}")})
            for i, (name, s, fr) in enumerate(held):
                self.assertEqual(ws_echo(s, fr, f"after removal {i}"), f"after removal {i}",
                                 f"connection on {name}")

            # Re-bound: the old port refuses, the new one accepts, connections on the old stay.
            self.reload_ok(rw, self.config([("public", r)], rw.admin_port), 4)
            self.assertTrue(refused(p), "old bind of a re-bound listener still accepts")
            s, _, fr = h.raw_upgrade(r, "/ws")
            held.append(("public@new", s, fr))
            self.assertEqual(self.listeners(rw), {("public", f"127.0.0.1:{r}")})
            for i, (name, s, fr) in enumerate(held):
                self.assertEqual(ws_echo(s, fr, f"after rebind {i}"), f"after rebind {i}",
                                 f"connection on {name}")

            # A removed listener's port can be listened on again by a later reload.
            self.reload_ok(rw, self.config([("public", r), ("second", q)], rw.admin_port), 5)
            s, _, fr = h.raw_upgrade(q, "/ws")
            held.append(("second again", s, fr))
            for i, (name, s, fr) in enumerate(held):
                self.assertEqual(ws_echo(s, fr, f"end {i}"), f"end {i}", f"connection on {name}")
            self.assertIsNone(rw.proc.poll())
        finally:
            for _, s, _ in held:
                s.close()

    def test_kept_listener_never_refuses_during_reloads(self):
        rw = self.start()
        p = rw.port
        x, y = h.free_port(), h.free_port()
        variants = [
            [("public", p)],
            [("extra", x), ("public", p)],            # added before it in the list
            [("front", p)],                            # renamed, same bind
            [("front", p), ("other", y)],
            [("public", p), ("extra", x), ("other", y)],
        ]
        stop = threading.Event()
        stats = {"ok": 0, "refused": 0, "other": []}

        def hammer():
            while not stop.is_set():
                try:
                    s, _, fr = h.raw_upgrade(p, "/ws", timeout=10)
                    try:
                        if ws_echo(s, fr, "x") != "x":
                            stats["other"].append("wrong echo")
                    finally:
                        s.close()
                    stats["ok"] += 1
                except ConnectionRefusedError:
                    stats["refused"] += 1
                except Exception as e:  # noqa: BLE001
                    stats["other"].append(repr(e))
                time.sleep(0.003)

        t = threading.Thread(target=hammer, daemon=True)
        t.start()
        self._threads_to_stop.append(lambda: (stop.set(), t.join(10)))
        try:
            time.sleep(0.2)
            for i in range(40):
                self.reload_ok(rw, self.config(variants[(i + 1) % len(variants)], rw.admin_port), i + 2)
                time.sleep(0.02)
            time.sleep(0.2)
        finally:
            stop.set()
            t.join(15)
        self.assertEqual(stats["refused"], 0, f"connections refused during reloads: {stats}")
        self.assertEqual(stats["other"][:10], [], stats)
        self.assertGreater(stats["ok"], 50, stats)
        print(f"\nhammer during 40 reloads: {stats['ok']} upgrades, none refused", flush=True)
        st = rw.status_json()
        self.assertEqual(st["reloads"], {"success": 40, "failure": 0})
        # The last variant applied: variants[40 % 5] == variants[0].
        self.assertEqual(self.listeners(rw), {("public", f"127.0.0.1:{p}")})
        self.assertTrue(refused(x) and refused(y))

    def test_reload_with_unbindable_listener_changes_nothing(self):
        rw = self.start()
        p = rw.port
        side, new, blocked = h.free_port(), h.free_port(), h.free_port()
        self.reload_ok(rw, self.config([("public", p), ("side", side)], rw.admin_port), 2)
        s, _, fr = h.raw_upgrade(side, "/ws")
        blocker = socket.socket()
        try:
            blocker.bind(("127.0.0.1", blocked))
            blocker.listen(1)
            # A new listener first (opened, then closed again), the kept one, then one that fails.
            cfg = self.config([("new", new), ("public", p), ("blocked", blocked)], rw.admin_port)
            self.assertFalse(rw.reload(cfg), "a reload whose listener cannot bind was applied")
            self.assertIn("reload failed", rw.log())
            st = rw.status_json()
            self.assertEqual(st["generation"], 2)
            self.assertEqual(st["reloads"], {"success": 1, "failure": 1})
            self.assertEqual({(l["name"], l["bind"], l["accepting"]) for l in st["listeners"]},
                             {("public", f"127.0.0.1:{p}", True), ("side", f"127.0.0.1:{side}", True)})
            self.assertTrue(refused(new), "listener opened by a refused reload still accepts")
            for port in (p, side):
                c, _, cf = h.raw_upgrade(port, "/ws")
                self.assertEqual(ws_echo(c, cf, "ok"), "ok")
                c.close()
            self.assertEqual(ws_echo(s, fr, "held"), "held")
        finally:
            blocker.close()
        # Once the port is free the same file applies.
        self.reload_ok(rw, cfg, 3)
        for port in (new, p, blocked):
            c, _, cf = h.raw_upgrade(port, "/ws")
            self.assertEqual(ws_echo(c, cf, "ok"), "ok")
            c.close()
        self.assertTrue(refused(side))
        self.assertEqual(ws_echo(s, fr, "held"), "held")
        s.close()

    def test_admin_bind_moved(self):
        rw = self.start()
        old_admin = rw.admin_port
        new_admin = h.free_port()
        s, _, fr = h.raw_upgrade(rw.port, "/ws")
        try:
            self.assertTrue(rw.reload(self.config([("public", rw.port)], new_admin)), rw.log()[-2000:])
            rw.admin_port = new_admin
            time.sleep(0.2)
            self.assertIsNone(rw.proc.poll(), f"ringway exited ({rw.proc.returncode}) after admin.bind "
                              f"moved; log tail:\n{rw.log()[-600:]}")
            st = rw.status_json()
            self.assertEqual(st["generation"], 2)
            self.assertTrue(refused(old_admin), "old admin address still accepts")
            code, _ = rw.admin_get("/ready")
            self.assertEqual(code, 200)
            self.assertEqual(ws_echo(s, fr, "held"), "held")
            # And back again.
            self.assertTrue(rw.reload(self.config([("public", rw.port)], old_admin)))
            rw.admin_port = old_admin
            time.sleep(0.2)
            self.assertIsNone(rw.proc.poll(), f"ringway exited ({rw.proc.returncode})")
            self.assertEqual(rw.status_json()["generation"], 3)
            self.assertTrue(refused(new_admin))
        finally:
            s.close()

    def test_admin_bind_moved_to_a_taken_port_keeps_the_old_admin(self):
        # ringway's own words for this case: "reload: admin listener kept on its old address".
        rw = self.start()
        taken = h.free_port()
        blocker = socket.socket()
        s, _, fr = h.raw_upgrade(rw.port, "/ws")
        try:
            blocker.bind(("127.0.0.1", taken))
            blocker.listen(1)
            rw.reload(self.config([("public", rw.port)], taken))
            time.sleep(0.2)
            self.assertIsNone(rw.proc.poll(), f"ringway exited ({rw.proc.returncode}) after a reload "
                              f"moving admin.bind to a taken port; log tail:\n{rw.log()[-600:]}")
            code, _ = rw.admin_get("/healthz", timeout=5)
            self.assertEqual(code, 200, "the old admin listener is gone")
            self.assertEqual(ws_echo(s, fr, "held"), "held")
        finally:
            blocker.close()
            s.close()


if __name__ == "__main__":
    unittest.main()
