"""TLS handshakes against ringway with `openssl s_client`: the certificate picked by SNI (two exact
names, a wildcard, the default for an unknown name and for no name), minimum versions (TLS 1.1
refused by the default "1.2", TLS 1.2 refused by "1.3"), session resumption (TLS 1.3 tickets and
TLS 1.2) and ALPN; after the upgrade, TLS 1.3 KeyUpdate is followed and TLS 1.2 renegotiation
refused."""

import os
import re
import subprocess
import time
import unittest

import harness as h
import tls_helpers as t

# A request that gets a quick answer (a plain GET, proxied: wsecho answers 400 with Connection:
# close) and then the end of the connection, so that s_client -ign_eof reads the session tickets
# and exits without waiting.
QUICK_REQUEST = b"GET / HTTP/1.1\r\nHost: alpha.test\r\n\r\n"


def protocol_of(output):
    m = re.search(r"^\s*Protocol\s*:\s*(\S+)", output, re.M)
    return m.group(1) if m else None


class TlsHandshakes(h.IntegrationTestCase):
    def setUp(self):
        super().setUp()
        self.pki = t.Pki.get()
        self.backends = self.start_backends(1)

    def start(self, min_version=None):
        p = self.pki
        return self.start_ringway(
            [h.pool("chat", self.backends)],
            listener_extra={"tls": t.listener_tls((p.alpha_crt, p.alpha_key),
                                                  (p.beta_crt, p.beta_key),
                                                  (p.wild_crt, p.wild_key),
                                                  min_version=min_version)})

    def handshake_ok(self, rw, *args, servername=None, input_bytes=QUICK_REQUEST):
        code, out = t.s_client(rw.port, "-CAfile", self.pki.ca_crt, "-ign_eof", *args,
                               servername=servername, input_bytes=input_bytes)
        self.assertEqual(code, 0, f"s_client failed:\n{out[-3000:]}")
        self.assertIn("Verification: OK", out, out[-3000:])
        return out

    def test_certificate_by_sni(self):
        rw = self.start()
        p = self.pki
        cases = [(t.ALPHA, p.alpha_crt), (t.BETA, p.beta_crt), ("BETA.test", p.beta_crt),
                 ("chat.wild.test", p.wild_crt), ("a.wild.test", p.wild_crt),
                 ("unknown.example", p.alpha_crt),  # unknown name: the default (first)
                 ("x.y.wild.test", p.alpha_crt),    # a wildcard covers one label only
                 ("wild.test", p.alpha_crt)]
        for name, want in cases:
            with self.subTest(servername=name):
                code, out = t.s_client(rw.port, "-CAfile", p.ca_crt, "-ign_eof",
                                       servername=name, input_bytes=QUICK_REQUEST)
                self.assertEqual(code, 0, out[-3000:])
                self.assertEqual(t.s_client_leaf_fingerprint(out), t.fingerprint_pem(want),
                                 f"wrong certificate for {name}:\n{out[:1500]}")
        with self.subTest(servername=None):
            code, out = t.s_client(rw.port, "-CAfile", p.ca_crt, "-ign_eof", "-noservername",
                                   input_bytes=QUICK_REQUEST)
            self.assertEqual(code, 0, out[-3000:])
            self.assertEqual(t.s_client_leaf_fingerprint(out), t.fingerprint_pem(p.alpha_crt))
        # RSA and ECDSA both really negotiated (the key type of the certificate served).
        out = self.handshake_ok(rw, servername=t.ALPHA)
        self.assertRegex(out, r"Server public key is 2048 bit")
        out = self.handshake_ok(rw, servername=t.BETA)
        self.assertRegex(out, r"Server public key is 256 bit")

    def test_tls11_refused_by_default_tls12_and_13_accepted(self):
        rw = self.start()
        # SECLEVEL=0 so that the client really offers TLS 1.1 (OpenSSL 3's default would not).
        code, out = t.s_client(rw.port, "-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0",
                               servername=t.ALPHA, input_bytes=QUICK_REQUEST)
        self.assertNotEqual(code, 0, f"TLS 1.1 accepted:\n{out[-3000:]}")
        self.assertRegex(out, r"protocol version|alert number 70", out[-3000:])
        self.assertNotIn("BEGIN CERTIFICATE", out)
        self.assertEqual(protocol_of(self.handshake_ok(rw, "-tls1_2", servername=t.ALPHA)),
                         "TLSv1.2")
        self.assertEqual(protocol_of(self.handshake_ok(rw, "-tls1_3", servername=t.ALPHA)),
                         "TLSv1.3")
        self.wait_log(rw, "unsupported protocol")

    def test_min_version_13_refuses_tls12(self):
        rw = self.start(min_version="1.3")
        code, out = t.s_client(rw.port, "-tls1_2", servername=t.BETA, input_bytes=QUICK_REQUEST)
        self.assertNotEqual(code, 0, f"TLS 1.2 accepted with min_version 1.3:\n{out[-3000:]}")
        self.assertRegex(out, r"protocol version|alert number 70", out[-3000:])
        # Also with the other certificates (the SNI switch keeps the minimum).
        for name in (t.ALPHA, "x.wild.test", "unknown.example"):
            code, out = t.s_client(rw.port, "-tls1_2", servername=name, input_bytes=QUICK_REQUEST)
            self.assertNotEqual(code, 0, f"TLS 1.2 accepted for {name}:\n{out[-3000:]}")
        self.assertEqual(protocol_of(self.handshake_ok(rw, "-tls1_3", servername=t.BETA)),
                         "TLSv1.3")
        self.wait_log(rw, "unsupported protocol")

    def resumption(self, rw, version_flag, servername):
        sess = os.path.join(self.tmpdir, f"sess-{version_flag}-{servername}.pem")
        first = self.handshake_ok(rw, version_flag, "-sess_out", sess, servername=servername)
        self.assertIn("New,", first, first[-3000:])
        self.assertTrue(os.path.exists(sess) and os.path.getsize(sess) > 0,
                        f"no session saved:\n{first[-3000:]}")
        second = self.handshake_ok(rw, version_flag, "-sess_in", sess, servername=servername)
        return first, second

    def test_tls13_resumption_reused(self):
        rw = self.start()
        for name in (t.ALPHA, t.BETA):
            with self.subTest(servername=name):
                _first, second = self.resumption(rw, "-tls1_3", name)
                self.assertIn("Reused, TLSv1.3", second, second[-3000:])

    def test_tls12_resumption_reused(self):
        rw = self.start()
        _first, second = self.resumption(rw, "-tls1_2", t.BETA)
        self.assertIn("Reused, TLSv1.2", second, second[-3000:])
        # And with the session cache rather than a ticket.
        sess = os.path.join(self.tmpdir, "sess-noticket.pem")
        self.handshake_ok(rw, "-tls1_2", "-no_ticket", "-sess_out", sess, servername=t.ALPHA)
        second = self.handshake_ok(rw, "-tls1_2", "-no_ticket", "-sess_in", sess,
                                   servername=t.ALPHA)
        self.assertIn("Reused, TLSv1.2", second, second[-3000:])

    def test_alpn_http11(self):
        rw = self.start()
        for offer in ("http/1.1", "h2,http/1.1"):
            with self.subTest(alpn=offer):
                out = self.handshake_ok(rw, "-alpn", offer, servername=t.ALPHA)
                self.assertIn("ALPN protocol: http/1.1", out, out[-3000:])
        # Only h2 offered: no ALPN, but the handshake still succeeds.
        out = self.handshake_ok(rw, "-alpn", "h2", servername=t.ALPHA)
        self.assertIn("No ALPN negotiated", out, out[-3000:])

    def test_http_request_answered_over_tls(self):
        rw = self.start()
        out = self.handshake_ok(rw, servername=t.ALPHA)
        self.assertRegex(out, r"HTTP/1\.1 400", out[-3000:])

    def interactive(self, rw, version_flag, command):
        """s_client (-crlf): an upgrade typed as lines, then `command` (an s_client command line:
        k/K key update, R renegotiation), then the line "hello" (which is not a WebSocket frame).
        Each step is its own read for s_client, hence the pauses. Returns s_client's output."""
        p = subprocess.Popen([t.OPENSSL, "s_client", "-connect", f"127.0.0.1:{rw.port}",
                              "-servername", t.ALPHA, version_flag, "-crlf", "-CAfile",
                              self.pki.ca_crt], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)
        try:
            steps = [f"GET /ws HTTP/1.1\nHost: {t.ALPHA}\nUpgrade: websocket\nConnection: Upgrade\n"
                     f"Sec-WebSocket-Key: {h.make_key()}\nSec-WebSocket-Version: 13\n\n",
                     f"{command}\n", "hello\n"]
            for step in steps:
                time.sleep(0.5)
                try:
                    p.stdin.write(step.encode())
                    p.stdin.flush()
                except BrokenPipeError:
                    break
            out, _ = p.communicate(timeout=h.budget(20))
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        return out.decode("utf-8", "replace")

    def test_tls13_key_update_after_the_upgrade(self):
        rw = self.start()
        for command in ("k", "K"):  # KeyUpdate, and KeyUpdate asking ringway to update too
            with self.subTest(command=command):
                before = rw.log().count('error="reserved bits set"')
                out = self.interactive(rw, "-tls1_3", command)
                self.assertIn("HTTP/1.1 101", out, out[-2000:])
                # "hello\r\n" was decrypted with the new keys and read as a (bad) frame: 1002.
                deadline = time.monotonic() + h.budget(h.IO_TIMEOUT)
                while (rw.log().count('error="reserved bits set"') <= before
                       and time.monotonic() < deadline):
                    time.sleep(0.02)
                self.assertGreater(rw.log().count('error="reserved bits set"'), before,
                                   f"data after KeyUpdate not read:\n{rw.log()[-2000:]}")
        self.assertNotIn("tls handshake failed", rw.log())

    def test_tls12_renegotiation_refused_and_nothing_else_disturbed(self):
        rw = self.start()
        out = self.interactive(rw, "-tls1_2", "R")
        self.assertIn("HTTP/1.1 101", out, out[-2000:])
        self.assertNotIn("reserved bits set", rw.log(), "renegotiation went through")
        self.wait_log(rw, "tls handshake failed")
        # The process is fine and serves the next client.
        self.assertIsNone(rw.proc.poll())
        self.assertEqual(protocol_of(self.handshake_ok(rw, "-tls1_2", servername=t.ALPHA)),
                         "TLSv1.2")

    def wait_log(self, rw, text, timeout=h.IO_TIMEOUT):
        import time
        deadline = time.monotonic() + h.budget(timeout)
        while time.monotonic() < deadline:
            if text in rw.log():
                return
            time.sleep(0.02)
        self.fail(f"{text!r} not in ringway's log:\n{rw.log()[-3000:]}")


if __name__ == "__main__":
    unittest.main()
