"""A reload (SIGHUP) with a broken file changes nothing: ringway keeps serving the old
configuration (new connections work and reach the same backends, established ones keep echoing),
the log names PATH:LINE:COL for every error, /status counts the failure and keeps its generation.
A file that becomes valid again reloads fine."""

import asyncio
import os
import re
import unittest

import harness as h

KEYS = [f"user-{i}" for i in range(40)]


def insert_after(text, anchor, new_line):
    """`text` with `new_line` inserted after the first line containing `anchor`; returns (text,
    1-based line number of the new line)."""
    lines = text.split("\n")
    i = next(n for n, l in enumerate(lines) if anchor in l)
    lines.insert(i + 1, new_line)
    return "\n".join(lines), i + 2


def replace_line(text, anchor, new_line):
    lines = text.split("\n")
    i = next(n for n, l in enumerate(lines) if anchor in l)
    lines[i] = new_line
    return "\n".join(lines), i + 1


class InvalidReload(h.IntegrationTestCase):
    def test_broken_files_change_nothing_and_a_fixed_file_reloads(self):
        b = self.start_backends(3)
        rw = self.start_ringway([h.pool("chat", b, hash_key="header:X-User")])
        good = rw.config
        path = rw.config_path
        b2_address = f'        address: "{b[1].address}"'

        def cases():
            """(name, text or None for 'file missing', [expected error lines])"""
            t, line = insert_after(good, 'hash_key: "header:X-User"', "    oops: [1, 2")
            yield "bad YAML (unclosed flow sequence)", t, [("yaml", line)]
            t, line = replace_line(good, 'hash_key: "header:X-User"', '    hash_key: "header:X-User')
            yield "bad YAML (unterminated quote)", t, [("yaml", line)]
            t, line = insert_after(good, b2_address, "        wieght: 2")
            yield "unknown key", t, [(line, 9)]
            t, line = replace_line(good, 'pool: "chat"', '    pool: "chatt"')
            yield "missing pool", t, [(line, None)]
            t, line = insert_after(good, b2_address, "        weight: 0")
            yield "weight out of range", t, [(line, None)]
            t1, line1 = replace_line(good, 'pool: "chat"', '    pool: "chatt"')
            t2, line2 = insert_after(t1, b2_address, "        wieght: 2")
            yield "two errors, both reported", t2, [(line1, None), (line2, 9)]
            yield "file missing", None, []

        async def go():
            held = {k: await h.ws_connect(rw, "/ws", {"X-User": k}) for k in KEYS[:10]}
            try:
                mapping = await asyncio.gather(*(h.backend_for(rw.port, "/ws", {"X-User": k})
                                                 for k in KEYS))
                failures = 0
                for name, text, expected in cases():
                    with self.subTest(case=name):
                        log_before = len(rw.log())
                        if text is None:
                            os.rename(path, path + ".away")
                            applied = await asyncio.to_thread(rw.reload)
                            os.rename(path + ".away", path)
                        else:
                            applied = await asyncio.to_thread(rw.reload, text)
                        self.assertFalse(applied, f"{name}: a broken file was applied")
                        failures += 1
                        new_log = rw.log()[log_before:]
                        # Every error is named PATH:LINE:COL.
                        located = [(int(m.group(1)), int(m.group(2))) for m in
                                   re.finditer(re.escape(path) + r":(\d+):(\d+): error: ", new_log)]
                        if text is None:
                            self.assertIn(path, new_log, f"{name}: the log does not name the file")
                        else:
                            self.assertTrue(located, f"{name}: no PATH:LINE:COL in\n{new_log}")
                        for line, col in expected:
                            if line == "yaml":
                                continue  # where a parser notices the damage varies; any located line
                            self.assertIn(line, [l for l, _ in located],
                                          f"{name}: line {line} not named in\n{new_log}")
                            if col is not None:
                                self.assertIn((line, col), located, f"{name}:\n{new_log}")
                        for exp in expected:
                            if exp[0] == "yaml":
                                self.assertTrue(any(l >= exp[1] - 1 for l, _ in located),
                                                f"{name}: located {located}, broken line {exp[1]}")

                        st = rw.status_json()
                        self.assertEqual(st["generation"], 1, f"{name}: generation changed")
                        self.assertEqual(st["reloads"], {"success": 0, "failure": failures})
                        self.assertEqual([bk["name"] for bk in st["pools"][0]["backends"]],
                                         ["b1", "b2", "b3"])
                        code, body = rw.admin_get("/metrics")
                        if code == 200:  # once metrics exist
                            self.assertRegex(body.decode(), r'ringway_config_reloads_total\{result="failure"\} '
                                             + str(failures) + r"\b")
                        # The old configuration keeps serving: same backends for the same keys.
                        again = await asyncio.gather(*(h.backend_for(rw.port, "/ws", {"X-User": k})
                                                       for k in KEYS))
                        self.assertEqual(again, mapping, f"{name}: mapping changed")
                        for k, ws in held.items():
                            self.assertEqual(await h.whoami(ws), mapping[KEYS.index(k)])

                # Fixed (and different: b2 gets weight 3): applied.
                text, _ = insert_after(good, b2_address, "        weight: 3")
                applied = await asyncio.to_thread(rw.reload, text)
                self.assertTrue(applied, rw.log()[-2000:])
                st = rw.status_json()
                self.assertEqual(st["generation"], 2)
                self.assertEqual(st["reloads"], {"success": 1, "failure": failures})
                self.assertEqual([bk["weight"] for bk in st["pools"][0]["backends"]], [1, 3, 1])
                for k, ws in held.items():
                    self.assertEqual(await h.whoami(ws), mapping[KEYS.index(k)])
            finally:
                for ws in held.values():
                    await ws.close()
            self.assertIsNone(rw.proc.poll(), "ringway exited")
        h.run(go())


if __name__ == "__main__":
    unittest.main()
