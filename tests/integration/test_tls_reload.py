"""Certificates re-read on SIGHUP (a new connection gets the new certificate while one opened before
keeps echoing; a broken certificate refuses the reload and the old one keeps serving), and `--check`
errors for TLS files (missing, not matching, not PEM, encrypted) at the YAML line of the entry."""

import asyncio
import os
import re
import shutil
import subprocess
import unittest

import harness as h
import tls_helpers as t

ERROR_LINE = re.compile(r"^(?P<path>.+):(?P<line>\d+):(?P<col>\d+): error: (?P<msg>.+)$", re.M)


def run_check(path):
    p = subprocess.run([h.RINGWAY_BIN, "-c", path, "--check"], capture_output=True, timeout=30,
                       stdin=subprocess.DEVNULL)
    return p.returncode, (p.stdout + p.stderr).decode("utf-8", "replace")


class CertificateReload(h.IntegrationTestCase):
    def setUp(self):
        super().setUp()
        self.pki = t.Pki.get()
        self.backends = self.start_backends(1)
        self.cert = os.path.join(self.tmpdir, "served.crt")
        self.key = os.path.join(self.tmpdir, "served.key")
        self.install(self.pki.alpha_crt, self.pki.alpha_key)
        self.rw = self.start_ringway(
            [h.pool("chat", self.backends)],
            listener_extra={"tls": t.listener_tls((self.cert, self.key))})

    def install(self, crt, key):
        """Replaces the served files (each atomically)."""
        for src, dst in ((crt, self.cert), (key, self.key)):
            shutil.copyfile(src, dst + ".new")
            os.replace(dst + ".new", dst)

    def fp_of_new_connection(self, text="hello"):
        reply, der = h.run(t.echo_once(self.rw.port, text))
        self.assertEqual(reply, text)
        return t.fingerprint_der(der)

    def test_sighup_swaps_certificate_for_new_connections_only(self):
        old_fp, new_fp = t.fingerprint_pem(self.pki.alpha_crt), t.fingerprint_pem(self.pki.alpha2_crt)
        self.assertNotEqual(old_fp, new_fp)

        async def go():
            async with t.wss_connect(self.rw.port, "/ws") as before:
                der = before.transport.get_extra_info("ssl_object").getpeercert(binary_form=True)
                self.assertEqual(t.fingerprint_der(der), old_fp)
                await before.send("before the reload")
                self.assertEqual(await asyncio.wait_for(before.recv(), h.IO_TIMEOUT),
                                 "before the reload")

                self.install(self.pki.alpha2_crt, self.pki.alpha2_key)
                loop = asyncio.get_running_loop()
                applied = await loop.run_in_executor(None, self.rw.reload)
                self.assertTrue(applied, f"reload refused:\n{self.rw.log()[-3000:]}")

                # A new connection sees the new certificate (an ECDSA one now).
                reply, der = await t.echo_once(self.rw.port, "after")
                self.assertEqual(reply, "after")
                self.assertEqual(t.fingerprint_der(der), new_fp)

                # The one opened before keeps echoing, big messages too.
                for msg in ("still here", os.urandom(1 << 20), "x" * 100000):
                    await before.send(msg)
                    self.assertTrue(await asyncio.wait_for(before.recv(), h.IO_TIMEOUT) == msg)
                await before.close(4000, "done")
                self.assertEqual(before.close_code, 4000)
        h.run(go())

    def test_broken_certificate_refuses_reload_and_old_one_keeps_serving(self):
        old_fp = t.fingerprint_pem(self.pki.alpha_crt)
        # A key that does not match the certificate.
        self.install(self.pki.alpha2_crt, self.pki.beta_key)
        self.assertFalse(self.rw.reload(), "reload with a mismatched key applied")
        self.assertIn("does not match", self.rw.log())
        self.assertEqual(self.fp_of_new_connection(), old_fp)
        # A missing key file.
        os.unlink(self.key)
        self.assertFalse(self.rw.reload(), "reload with a missing key applied")
        self.assertEqual(self.fp_of_new_connection(), old_fp)
        # Fixed: the next reload applies.
        self.install(self.pki.alpha2_crt, self.pki.alpha2_key)
        self.assertTrue(self.rw.reload())
        self.assertEqual(self.fp_of_new_connection(), t.fingerprint_pem(self.pki.alpha2_crt))

    def test_reload_adds_a_certificate(self):
        p = self.pki
        cfg = self.rw.config.replace(
            f'key: "{self.key}"\n',
            f'key: "{self.key}"\n        - cert: "{p.beta_crt}"\n          key: "{p.beta_key}"\n')
        self.assertNotEqual(cfg, self.rw.config)
        self.assertTrue(self.rw.reload(cfg), self.rw.log()[-3000:])
        reply, der = h.run(t.echo_once(self.rw.port, "b", server_hostname=t.BETA))
        self.assertEqual(t.fingerprint_der(der), t.fingerprint_pem(p.beta_crt))
        self.assertEqual(self.fp_of_new_connection(), t.fingerprint_pem(p.alpha_crt))


CHECK_CONFIG = """\
listeners:
  - name: public
    bind: "127.0.0.1:18443"
    pool: chat
    tls:
      certificates:
        - cert: "{cert1}"
          key: "{key1}"
        - cert: "{cert2}"
          key: "{key2}"
pools:
  - name: chat
    backends:
      - name: a
        address: "127.0.0.1:19001"
    backend_tls:
      ca: "{ca}"
"""
CERT1_LINE, KEY1_LINE, CERT2_LINE, KEY2_LINE, CA_LINE = 7, 8, 9, 10, 17


class CheckTlsFiles(h.IntegrationTestCase):
    def setUp(self):
        super().setUp()
        self.pki = t.Pki.get()
        p = self.pki
        self.good = dict(cert1=p.alpha_crt, key1=p.alpha_key, cert2=p.beta_crt, key2=p.beta_key,
                         ca=p.ca_crt)

    def check(self, **changes):
        values = dict(self.good, **changes)
        path = os.path.join(self.tmpdir, f"check-{self._next()}.yaml")
        with open(path, "w") as f:
            f.write(CHECK_CONFIG.format(**values))
        code, out = run_check(path)
        errors = [(int(m.group("line")), m.group("msg")) for m in ERROR_LINE.finditer(out)]
        return code, out, errors

    def assert_error_at(self, line, pattern, **changes):
        code, out, errors = self.check(**changes)
        self.assertEqual(code, 1, f"--check exit {code}:\n{out}")
        self.assertEqual([l for l, _ in errors], [line], f"errors not at line {line}:\n{out}")
        self.assertRegex(errors[0][1], pattern, out)
        return out

    def test_good_files_pass(self):
        code, out, errors = self.check()
        self.assertEqual(code, 0, out)
        self.assertEqual(errors, [])

    def test_missing_cert_file(self):
        missing = os.path.join(self.tmpdir, "nope.crt")
        out = self.assert_error_at(CERT2_LINE, r"cannot read .*nope\.crt.*No such file",
                                   cert2=missing)
        self.assertIn("nope.crt", out)

    def test_missing_key_file(self):
        self.assert_error_at(KEY1_LINE, r"cannot read .*nope\.key",
                             key1=os.path.join(self.tmpdir, "nope.key"))

    def test_key_not_matching(self):
        self.assert_error_at(KEY2_LINE, r"does not match the certificate", key2=self.pki.alpha_key)
        self.assert_error_at(KEY1_LINE, r"does not match the certificate", key1=self.pki.alpha2_key)

    def test_not_pem_and_encrypted_and_unreadable(self):
        junk = os.path.join(self.tmpdir, "junk.pem")
        with open(junk, "w") as f:
            f.write("this is not PEM\n")
        self.assert_error_at(CERT1_LINE, r"no PEM certificate", cert1=junk)
        self.assert_error_at(KEY1_LINE, r"no PEM private key", key1=junk)
        self.assert_error_at(CERT1_LINE, r"cannot read", cert1=self.tmpdir)  # a directory
        enc = os.path.join(self.tmpdir, "enc.key")
        subprocess.run([t.OPENSSL, "pkey", "-in", self.pki.alpha_key, "-aes256", "-passout",
                        "pass:secret", "-out", enc], check=True, capture_output=True)
        self.assert_error_at(KEY1_LINE, r"encrypted", key1=enc)

    def test_backend_ca_missing_or_not_pem(self):
        self.assert_error_at(CA_LINE, r"cannot read", ca=os.path.join(self.tmpdir, "no-ca.crt"))
        self.assert_error_at(CA_LINE, r"no PEM certificate", ca=self.pki.alpha_key)

    def test_ringway_does_not_start_with_a_bad_key(self):
        path = os.path.join(self.tmpdir, "start.yaml")
        with open(path, "w") as f:
            f.write(CHECK_CONFIG.format(**dict(self.good, key2=self.pki.alpha_key)))
        p = subprocess.run([h.RINGWAY_BIN, "-c", path], capture_output=True, timeout=30,
                           stdin=subprocess.DEVNULL)
        out = (p.stdout + p.stderr).decode("utf-8", "replace")
        self.assertNotEqual(p.returncode, 0, out)
        self.assertRegex(out, rf":{KEY2_LINE}:\d+: error: .*does not match", out)


if __name__ == "__main__":
    unittest.main()
