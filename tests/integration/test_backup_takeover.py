"""Backup takeover and give-back: a `backup: true` backend takes no connection while a primary is
up, takes every new connection once the health checks see all primaries down, and gives them back
when a primary is up again."""

import asyncio
import unittest

import harness as h
from test_health_helpers import FAST_CHECK, HealthCase

KEYS = [f"user-{i}" for i in range(20)]


class BackupTakeover(HealthCase):
    def landings(self, rw):
        async def go():
            names = []
            for k in KEYS:
                async with h.ws_connect(rw, "/ws", {"X-User": k}) as ws:
                    names.append(ws.response_headers.get("X-Backend"))
            return names
        return h.run(go())

    def test_backup_takes_over_when_every_primary_is_down_and_gives_back(self):
        p1, p2, spare = self.start_backend("p1"), self.start_backend("p2"), self.start_backend("spare")
        rw = self.start_ringway([self.health_pool(
            [p1, p2, {"name": "spare", "address": spare.address, "backup": True}],
            dict(FAST_CHECK, type="tcp"))])
        for name in ("p1", "p2", "spare"):
            self.wait_health(rw, name, "up")
        self.assertEqual(set(self.landings(rw)), {"p1", "p2"})

        # One primary down: the other takes everything, the backup still nothing.
        p1.kill()
        self.wait_health(rw, "p1", "down")
        self.assertEqual(set(self.landings(rw)), {"p2"})

        # Every primary down: the backup takes over.
        p2.kill()
        self.wait_health(rw, "p2", "down")
        self.assertEqual(set(self.landings(rw)), {"spare"})

        # A primary is back (after `rise` checks): it takes the new connections again.
        self.start_backend_on("p1", p1.port)
        self.wait_health(rw, "p1", "up")
        self.assertEqual(set(self.landings(rw)), {"p1"})
        self.start_backend_on("p2", p2.port)
        self.wait_health(rw, "p2", "up")
        self.assertEqual(set(self.landings(rw)), {"p1", "p2"})


if __name__ == "__main__":
    unittest.main()
