"""pools[].affinity_cookie: the first answer sets a cookie naming its backend, a valid cookie pins
the backend whatever the hash says, an unusable backend's cookie or a forged one is replaced, two
instances with the same secret accept each other's cookies, and ringway_affinity_total counts it all.

The WebSocket 101 carries the Set-Cookie here (raw sockets, so the head is seen byte for byte); the
Socket.IO test (test_socketio_affinity.py) covers plain HTTP polling followed by the upgrade."""

import re
import unittest

import harness as h

COOKIE = "RINGWAY_AFFINITY"
SECRET = "an-affinity-secret-shared-by-instances"
VALUE_RE = re.compile(r"^[A-Za-z0-9_-]{22}$")


def upgrade(rw, user=None, cookie=None, path="/ws"):
    """One raw upgrade: (backend from X-Backend, the Set-Cookie values of the 101)."""
    extra = []
    if user is not None:
        extra.append(("X-User", user))
    if cookie is not None:
        extra.append(("Cookie", cookie))
    s, head, _reader = h.raw_upgrade(rw.port, path=path, extra_headers=extra)
    s.close()
    return head.get("X-Backend"), head.get_all("Set-Cookie")


def cookie_value(set_cookie):
    """NAME=VALUE of a Set-Cookie line -> VALUE, checking the attributes."""
    first, *attrs = [p.strip() for p in set_cookie.split(";")]
    name, _, value = first.partition("=")
    assert name == COOKIE, set_cookie
    assert VALUE_RE.match(value), set_cookie
    return value, attrs


def metric(rw, result, pool="chat"):
    code, body = rw.admin_get("/metrics")
    assert code == 200, (code, body)
    series = f'ringway_affinity_total{{pool="{pool}",result="{result}"}} '
    for line in body.decode().splitlines():
        if line.startswith(series):
            return int(float(line[len(series):]))
    raise AssertionError(f"{series.strip()} not in /metrics:\n{body.decode()}")


class AffinityCookie(h.IntegrationTestCase):
    def setUp(self):
        super().setUp()
        self.backends = self.start_backends(3)

    def start(self, affinity=None, backends=None):
        affinity = {"max_age": "1h", "secret": SECRET} if affinity is None else affinity
        return self.start_ringway([h.pool("chat", backends or self.backends, hash_key="header:X-User",
                                          affinity_cookie=affinity, connect_retries=2)])

    def cookies_per_backend(self, rw):
        """A cookie value for every backend, and for each backend a user key the hash sends there."""
        values, users = {}, {}
        for i in range(200):
            backend, set_cookies = upgrade(rw, user=f"user-{i}")
            self.assertEqual(len(set_cookies), 1, f"no cookie yet: one Set-Cookie expected, {set_cookies}")
            value, _ = cookie_value(set_cookies[0])
            self.assertEqual(values.setdefault(backend, value), value, "one value per backend")
            users.setdefault(backend, f"user-{i}")
            if len(values) == 3 and len(users) == 3:
                return values, users
        self.fail(f"200 keys did not reach every backend: {values}")

    def test_first_answer_sets_the_cookie_and_a_valid_one_is_not_sent_again(self):
        rw = self.start()
        backend, set_cookies = upgrade(rw, user="alice")
        self.assertEqual(len(set_cookies), 1, set_cookies)
        value, attrs = cookie_value(set_cookies[0])
        self.assertEqual(attrs, ["Path=/", "Max-Age=3600", "HttpOnly", "SameSite=Lax"])
        self.assertNotIn(backend, value, "the cookie must not show the backend's name")
        # With the cookie, among others and in a second Cookie header: no Set-Cookie, same backend.
        for cookie in (f"{COOKIE}={value}", f"theme=dark; {COOKIE}={value}; io=x"):
            again, set_again = upgrade(rw, user="alice", cookie=cookie)
            self.assertEqual(again, backend)
            self.assertEqual(set_again, [], "a valid cookie for the backend that served is not set again")
        self.assertEqual(metric(rw, "miss"), 1)
        self.assertEqual(metric(rw, "hit"), 2)
        self.assertEqual(metric(rw, "invalid"), 0)
        self.assertEqual(metric(rw, "renewed"), 0)

    def test_a_valid_cookie_pins_its_backend_whatever_the_hash_says(self):
        rw = self.start()
        values, users = self.cookies_per_backend(rw)
        for target, value in values.items():
            for hashed_to, user in users.items():
                backend, set_cookies = upgrade(rw, user=user, cookie=f"{COOKIE}={value}")
                self.assertEqual(backend, target, f"cookie for {target}, hash says {hashed_to}")
                self.assertEqual(set_cookies, [])
        # The WebSocket itself works through the pinned backend (the relay after the 101 with a
        # Set-Cookie inserted is intact).
        target = next(iter(values))

        async def go():
            async with h.ws_connect(rw, "/ws", {"X-User": users[target], "Cookie": f"{COOKIE}={values[target]}"}) as ws:
                self.assertEqual(await h.whoami(ws), target)
                await ws.send("hello")
                self.assertEqual(await ws.recv(), "hello")
        h.run(go())

    def test_a_drained_or_dead_backends_cookie_is_renewed_by_the_hash(self):
        rw = self.start()
        values, users = self.cookies_per_backend(rw)
        names = sorted(values)
        drained, dead = names[0], names[1]
        renewed_before = metric(rw, "renewed")

        code, _ = rw.admin_post(f"/pools/chat/backends/{drained}/drain")
        self.assertEqual(code, 200)
        backend, set_cookies = upgrade(rw, user=users[drained], cookie=f"{COOKIE}={values[drained]}")
        self.assertNotEqual(backend, drained)
        self.assertEqual(len(set_cookies), 1, set_cookies)
        self.assertEqual(cookie_value(set_cookies[0])[0], values[backend], "renewed for the backend that served")
        self.assertEqual(metric(rw, "renewed"), renewed_before + 1)
        # Undrained: the old cookie is honoured again.
        code, _ = rw.admin_post(f"/pools/chat/backends/{drained}/undrain")
        self.assertEqual(code, 200)
        backend, set_cookies = upgrade(rw, user=users[dead], cookie=f"{COOKIE}={values[drained]}")
        self.assertEqual((backend, set_cookies), (drained, []))

        # A backend that died: its connect fails, the next candidate serves, the cookie follows.
        next(b for b in self.backends if b.name == dead).kill()
        backend, set_cookies = upgrade(rw, user=users[dead], cookie=f"{COOKIE}={values[dead]}")
        self.assertNotEqual(backend, dead)
        self.assertEqual(len(set_cookies), 1, set_cookies)
        self.assertEqual(cookie_value(set_cookies[0])[0], values[backend])
        self.assertEqual(metric(rw, "renewed"), renewed_before + 2)

    def test_a_forged_or_garbled_cookie_is_ignored_renewed_and_counted(self):
        rw = self.start()
        values, users = self.cookies_per_backend(rw)
        target = sorted(values)[0]
        other_user = next(u for b, u in users.items() if b != target)
        good = values[target]
        forged = [good[:-1] + ("A" if good[-1] != "A" else "B"),  # one character changed
                  good + "x", "garbage", target, "A" * 22]
        invalid_before = metric(rw, "invalid")
        for value in forged:
            backend, set_cookies = upgrade(rw, user=other_user, cookie=f"{COOKIE}={value}")
            self.assertNotEqual(backend, target, f"forged {value!r} must not pin")
            self.assertEqual(len(set_cookies), 1, set_cookies)
            self.assertEqual(cookie_value(set_cookies[0])[0], values[backend])
        self.assertEqual(metric(rw, "invalid"), invalid_before + len(forged))

    def test_two_instances_with_the_same_secret_accept_each_others_cookies(self):
        a = self.start()
        # The second lists the backends in another order: names, not positions, are in the cookie.
        b = self.start(backends=list(reversed(self.backends)))
        values, users = self.cookies_per_backend(a)
        for target, value in values.items():
            other_user = next(u for n, u in users.items() if n != target)
            backend, set_cookies = upgrade(b, user=other_user, cookie=f"{COOKIE}={value}")
            self.assertEqual((backend, set_cookies), (target, []))
        # Without a secret each process has its own random key: the other's cookies are invalid.
        c = self.start(affinity={})
        d = self.start(affinity={})
        _, set_cookies = upgrade(c, user="bob")
        value, attrs = cookie_value(set_cookies[0])
        self.assertEqual(attrs, ["Path=/", "HttpOnly", "SameSite=Lax"], "a session cookie by default")
        _, set_on_d = upgrade(d, user="bob", cookie=f"{COOKIE}={value}")
        self.assertEqual(len(set_on_d), 1)
        self.assertEqual(metric(d, "invalid"), 1)

    def test_plain_http_answers_set_and_honour_the_cookie_too(self):
        rw = self.start(affinity={})  # a random per-process key, a session cookie

        def get(user, cookie=None):
            lines = [f"GET /poll?t={user} HTTP/1.1", "Host: 127.0.0.1", f"X-User: {user}", "Connection: close"]
            if cookie is not None:
                lines.append(f"Cookie: {cookie}")
            head, _body, _trailing, _how = h.http_exchange(rw.port, ("\r\n".join(lines) + "\r\n\r\n").encode())
            return head.get("X-Backend"), head.get_all("Set-Cookie")

        backend, set_cookies = get("dave")
        self.assertEqual(len(set_cookies), 1, set_cookies)
        value, attrs = cookie_value(set_cookies[0])
        self.assertEqual(attrs, ["Path=/", "HttpOnly", "SameSite=Lax"])
        for i in range(10):  # whatever the hash says, the cookie decides, and is not set again
            self.assertEqual(get(f"other-{i}", f"{COOKIE}={value}"), (backend, []))
        # The upgrade that follows polling (Socket.IO's order) lands on the same backend.
        self.assertEqual(upgrade(rw, user="someone-else", cookie=f"{COOKIE}={value}"), (backend, []))

    def test_cookies_stay_valid_across_a_reload(self):
        rw = self.start(affinity={})  # the random key is the process's: a reload keeps it
        values, users = self.cookies_per_backend(rw)
        extra = self.start_backend("b4")
        self.assertTrue(rw.reload(self.make_config(
            [h.pool("chat", self.backends + [extra], hash_key="header:X-User", affinity_cookie={})],
            rw.port, rw.admin_port)))
        for target, value in values.items():
            other_user = next(u for n, u in users.items() if n != target)
            self.assertEqual(upgrade(rw, user=other_user, cookie=f"{COOKIE}={value}"), (target, []))

    def test_over_tls_the_cookie_is_secure_and_honoured(self):
        import tls_helpers as t  # only this test needs the test PKI
        pki = t.Pki.get()
        rw = self.start_ringway([h.pool("chat", self.backends, hash_key="header:X-User",
                                        affinity_cookie={"secret": SECRET})],
                                listener_extra={"tls": t.listener_tls((pki.alpha_crt, pki.alpha_key))})

        async def go():
            async with t.wss_connect(rw.port, "/ws", {"X-User": "erin"}) as ws:
                backend = ws.response_headers.get("X-Backend")
                set_cookie = ws.response_headers.get("Set-Cookie")
            value, attrs = cookie_value(set_cookie)
            self.assertEqual(attrs, ["Path=/", "HttpOnly", "SameSite=Lax", "Secure"])
            for i in range(5):
                async with t.wss_connect(rw.port, "/ws", {"X-User": f"x-{i}", "Cookie": f"{COOKIE}={value}"}) as ws:
                    self.assertEqual(ws.response_headers.get("X-Backend"), backend)
                    self.assertIsNone(ws.response_headers.get("Set-Cookie"))
                    self.assertEqual(await h.whoami(ws), backend)
        h.run(go())

    def test_a_pool_without_affinity_cookie_sets_none(self):
        rw = self.start_ringway([h.pool("chat", self.backends, hash_key="header:X-User")])
        _, set_cookies = upgrade(rw, user="carol")
        self.assertEqual(set_cookies, [])
        code, body = rw.admin_get("/metrics")
        self.assertNotIn(b"ringway_affinity_total{", body)


if __name__ == "__main__":
    unittest.main()
