"""mode: tcp and TLS. Without `tls` the listener passes TLS through untouched: the client talks TLS
with the backend itself and verifies the *backend's* certificate. With `tls` the listener terminates
TLS (ringway's certificate) and relays the plaintext to a plain backend, ending the client's side
with close_notify. A pool's backend_tls works the same way toward the backend behind a tcp listener."""

import socket
import ssl
import unittest

import harness as h
import tcp_helpers as t
import tls_helpers as th


def tls_client(port, server_hostname, cafile):
    ctx = ssl.create_default_context(cafile=cafile)
    raw = t.connect(port)
    # suppress_ragged_eofs=False: a FIN without close_notify raises, so a clean end is visible.
    return ctx.wrap_socket(raw, server_hostname=server_hostname, suppress_ragged_eofs=False)


def read_to_end(sock, limit=1 << 24):
    """Everything until the TLS peer closes: (bytes, 'close_notify' or the error's name)."""
    buf = b""
    while len(buf) < limit:
        try:
            chunk = sock.recv(65536)
        except ssl.SSLEOFError:
            return buf, "eof without close_notify"
        except OSError as e:
            return buf, type(e).__name__
        if not chunk:
            return buf, "close_notify"
        buf += chunk
    return buf, "too much"


class TcpTls(t.TcpCase):
    def setUp(self):
        super().setUp()
        self.pki = th.Pki.get()

    def test_tls_passes_through_and_the_client_verifies_the_backend_certificate(self):
        b = self.start_echo("tls1", tls=(self.pki.backend_crt, self.pki.backend_key))
        rw = self.start_tcp_ringway([h.pool("chat", [b])])
        payload = bytes(range(256)) * 800
        with tls_client(rw.port, th.BACKEND, self.pki.ca_crt) as s:
            der = s.getpeercert(binary_form=True)
            self.assertEqual(th.fingerprint_der(der), th.fingerprint_pem(self.pki.backend_crt))
            s.sendall(payload)
            got, rest = h.read_exact(s, len(payload))
            self.assertEqual(got, payload)

    def test_tls_termination_relays_plaintext_and_ends_with_close_notify(self):
        size = 300000
        b = self.start_echo("e1", close_after=size)
        rw = self.start_tcp_ringway([h.pool("chat", [b])],
                                    listener_extra={"tls": th.listener_tls((self.pki.alpha_crt, self.pki.alpha_key))})
        payload = bytes((i * 31) % 251 for i in range(size))
        with tls_client(rw.port, th.ALPHA, self.pki.ca_crt) as s:
            der = s.getpeercert(binary_form=True)
            self.assertEqual(th.fingerprint_der(der), th.fingerprint_pem(self.pki.alpha_crt))
            s.sendall(payload)  # right after the handshake: held until the backend is connected
            data, how = read_to_end(s)
        self.assertEqual(how, "close_notify")
        self.assertEqual(len(data), size + len(t.trailer("e1", size)))
        self.assertTrue(data[:size] == payload)
        self.assertEqual(data[size:], t.trailer("e1", size))

    def test_tls_termination_with_openssl_s_client(self):
        b = self.start_echo("e1", close_after=len(b"hello over tls\n"))
        rw = self.start_tcp_ringway([h.pool("chat", [b])],
                                    listener_extra={"tls": th.listener_tls((self.pki.alpha_crt, self.pki.alpha_key))})
        code, out = th.s_client(rw.port, "-CAfile", self.pki.ca_crt, "-verify_return_error", "-ign_eof",
                                servername=th.ALPHA, input_bytes=b"hello over tls\n")
        self.assertEqual(code, 0, out[-3000:])
        self.assertIn("Verify return code: 0 (ok)", out)
        self.assertIn("hello over tls\nBYE e1 15\n", out)

    def test_a_tls_handshake_that_never_ends_costs_no_backend_connection(self):
        b = self.start_echo("e1")
        rw = self.start_tcp_ringway([h.pool("chat", [b])],
                                    listener_extra={"tls": th.listener_tls((self.pki.alpha_crt, self.pki.alpha_key))},
                                    top={"timeouts": {"handshake": "500ms"}})
        with t.connect(rw.port) as s:
            data, how = h.read_until_eof(s, timeout=10)  # no ClientHello at all
        self.assertEqual((data, how), (b"", "eof"))
        self.assertIn("tls handshake timed out", rw.log())
        code, body = rw.admin_get("/metrics")
        self.assertIn('ringway_errors_total{kind="tls"} 1', body.decode())
        self.assertNotIn("BYE", b.output())

    # (asyncio's TLS server cannot half-close: after a close_notify it only closes. So these
    # backends end the connections themselves, after the bytes the test sends.)
    def test_backend_tls_behind_a_tcp_listener(self):
        payload = b"plain in front, TLS behind" * 1000
        b = self.start_echo("tls1", tls=(self.pki.backend_crt, self.pki.backend_key), close_after=len(payload))
        rw = self.start_tcp_ringway([h.pool("chat", [b], backend_tls={"ca": self.pki.ca_crt})])
        with t.connect(rw.port) as s:
            s.sendall(payload)  # before the backend's handshake is done: held, then sent
            data, how = h.read_until_eof(s)
        self.assertEqual(how, "eof")
        self.assertEqual(data, payload + t.trailer("tls1", len(payload)))

    def test_backend_tls_with_an_untrusted_certificate_is_a_failed_connect(self):
        bad = self.start_echo("rogue", tls=(self.pki.rogue_crt, self.pki.rogue_key), close_after=1)
        good = self.start_echo("good", tls=(self.pki.backend_crt, self.pki.backend_key), close_after=1)
        rw = self.start_tcp_ringway([h.pool("chat", [bad, good], backend_tls={"ca": self.pki.ca_crt},
                                            connect_retries=1)])
        # Whatever the hash picks first, the connection ends on the trusted backend.
        for source in t.sources(6):
            with t.connect(rw.port, source) as s:
                s.sendall(b"x")
                data, how = h.read_until_eof(s)
            self.assertEqual((data, how), (b"x" + t.trailer("good", 1), "eof"), source)
        self.assertIn("backend tls failed", rw.log())


if __name__ == "__main__":
    unittest.main()
