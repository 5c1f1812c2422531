// listeners[].tls and pools[].backend_tls: the files are read and checked at load, and every
// problem is reported at the YAML entry that names the file (certificates made by the test PKI).
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "../tls/test_pki.h"
#include "conf/config.h"
#include "conf_test_util.h"

using namespace ringway::conf;
using ringway::conf::test::errors_of;
using ringway::conf::test::load_ok;
using ringway::tls::test::TestPki;

namespace {

std::string file(const std::string& name) { return TestPki::get().path(name); }

// A listener with one certificate entry: "cert:" is on line 7 (value at column 17), "key:" on line
// 8 (column 16), `tls_extra` from line 9 on.
std::string with_certificate(const std::string& cert, const std::string& key,
                             const std::string& tls_extra = "") {
  return R"(
listeners:
  - name: public
    bind: "127.0.0.1:8443"
    pool: chat
    tls:
      certificates:
        - cert: )" +
         cert + R"(
          key: )" +
         key + "\n" + tls_extra + R"(pools:
  - name: chat
    backends:
      - {name: b, address: "h:1"}
)";
}

// A pool with `backend_tls` written from line 7 on (its keys on line 8, at column 7).
std::string with_backend_tls(const std::string& block) {
  return R"(
listeners:
  - name: public
    bind: "127.0.0.1:8080"
    pool: chat
pools:
  - name: chat
)" + block +
         R"(    backends:
      - {name: b, address: "backend.internal:9443"}
)";
}

std::string q(const std::string& path) { return "\"" + path + "\""; }

}  // namespace

TEST_CASE("a tls block loads every certificate with its PEM text, min_version 1.2 by default") {
  const Config config = load_ok(
      with_certificate(file("a.crt"), file("a.key"),
                       "        - {cert: " + file("b.crt") + ", key: " + file("b.key") + "}\n"));
  REQUIRE(config.listeners[0].tls.has_value());
  const ListenerTls& tls = *config.listeners[0].tls;
  REQUIRE(tls.certificates.size() == 2);
  CHECK(tls.certificates[0].cert_path == file("a.crt"));
  CHECK(tls.certificates[0].key_path == file("a.key"));
  CHECK(tls.certificates[0].cert_pem == TestPki::get().read("a.crt"));
  CHECK(tls.certificates[0].key_pem == TestPki::get().read("a.key"));
  CHECK(tls.certificates[1].cert_pem == TestPki::get().read("b.crt"));
  CHECK(tls.min_version == TlsVersion::Tls12);
}

TEST_CASE("min_version takes \"1.2\" or \"1.3\", quoted or not") {
  for (const char* text : {"\"1.3\"", "1.3", "'1.3'"}) {
    CAPTURE(text);
    const Config config = load_ok(with_certificate(
        file("a.crt"), file("a.key"), std::string("      min_version: ") + text + "\n"));
    CHECK(config.listeners[0].tls->min_version == TlsVersion::Tls13);
  }
  CHECK(load_ok(with_certificate(file("a.crt"), file("a.key"), "      min_version: \"1.2\"\n"))
            .listeners[0]
            .tls->min_version == TlsVersion::Tls12);
}

TEST_CASE("a listener without tls has none") {
  CHECK_FALSE(load_ok(with_backend_tls("")).listeners[0].tls.has_value());
}

TEST_CASE("a missing certificate or key file is an error at its entry") {
  CHECK(errors_of(with_certificate(file("missing.crt"), file("a.key"))) ==
        "t.yaml:7:17: error: listeners[0].tls.certificates[0].cert: cannot read " +
            q(file("missing.crt")) + ": No such file or directory\n");
  CHECK(errors_of(with_certificate(file("a.crt"), file("missing.key"))) ==
        "t.yaml:8:16: error: listeners[0].tls.certificates[0].key: cannot read " +
            q(file("missing.key")) + ": No such file or directory\n");
}

TEST_CASE("a directory where a file should be is an error") {
  CHECK(errors_of(with_certificate(TestPki::get().dir(), file("a.key"))) ==
        "t.yaml:7:17: error: listeners[0].tls.certificates[0].cert: cannot read " +
            q(TestPki::get().dir()) + ": Is a directory\n");
}

TEST_CASE("an unreadable key file is an error") {
  if (geteuid() == 0) {
    MESSAGE("running as root: permissions do not stop reading, skipped");
    return;
  }
  const std::string locked = file("locked.key");
  std::filesystem::copy_file(file("a.key"), locked,
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::permissions(locked, std::filesystem::perms::none);
  CHECK(errors_of(with_certificate(file("a.crt"), locked)) ==
        "t.yaml:8:16: error: listeners[0].tls.certificates[0].key: cannot read " + q(locked) +
            ": Permission denied\n");
  std::filesystem::remove(locked);
}

TEST_CASE("a key that does not match its certificate is an error at the key") {
  CHECK(errors_of(with_certificate(file("a.crt"), file("b.key"))) ==
        "t.yaml:8:16: error: listeners[0].tls.certificates[0].key: " + q(file("b.key")) +
            " does not match the certificate in " + q(file("a.crt")) + "\n");
}

TEST_CASE("files that are not PEM are errors") {
  CHECK(errors_of(with_certificate(file("garbage.txt"), file("a.key"))) ==
        "t.yaml:7:17: error: listeners[0].tls.certificates[0].cert: " + q(file("garbage.txt")) +
            " holds no PEM certificate (-----BEGIN CERTIFICATE-----)\n");
  CHECK(errors_of(with_certificate(file("a.key"), file("a.key"))) ==
        "t.yaml:7:17: error: listeners[0].tls.certificates[0].cert: " + q(file("a.key")) +
            " holds no PEM certificate (-----BEGIN CERTIFICATE-----)\n");
  CHECK(errors_of(with_certificate(file("a.crt"), file("a.crt"))) ==
        "t.yaml:8:16: error: listeners[0].tls.certificates[0].key: " + q(file("a.crt")) +
            " holds no PEM private key (-----BEGIN PRIVATE KEY-----)\n");
}

TEST_CASE("an encrypted key is refused with that reason") {
  CHECK(errors_of(with_certificate(file("b.crt"), file("b_encrypted.key"))) ==
        "t.yaml:8:16: error: listeners[0].tls.certificates[0].key: " + q(file("b_encrypted.key")) +
            " is an encrypted key (ringway needs it unencrypted)\n");
}

TEST_CASE("a bad min_version is a type error at its value") {
  CHECK(errors_of(with_certificate(file("a.crt"), file("a.key"), "      min_version: \"1.1\"\n")) ==
        "t.yaml:9:20: error: listeners[0].tls.min_version: expected \"1.2\" or \"1.3\", found "
        "\"1.1\"\n");
  CHECK(errors_of(with_certificate(file("a.crt"), file("a.key"), "      min_version: 1.20\n")) ==
        "t.yaml:9:20: error: listeners[0].tls.min_version: expected \"1.2\" or \"1.3\", found "
        "\"1.20\"\n");
}

TEST_CASE("tls needs at least one certificate, each with cert and key") {
  const std::string head = R"(
listeners:
  - name: public
    bind: "127.0.0.1:8443"
    pool: chat
)";
  const std::string tail = R"(pools:
  - name: chat
    backends:
      - {name: b, address: "h:1"}
)";
  CHECK(errors_of(head + "    tls: {}\n" + tail) ==
        "t.yaml:5:10: error: listeners[0].tls: missing required key \"certificates\"\n");
  CHECK(errors_of(head + "    tls:\n      certificates: []\n" + tail) ==
        "t.yaml:6:21: error: listeners[0].tls.certificates: expected at least one certificate\n");
  CHECK(errors_of(head + "    tls:\n      certificates:\n        - {cert: " + file("a.crt") +
                  "}\n" + tail) ==
        "t.yaml:7:11: error: listeners[0].tls.certificates[0]: missing required key \"key\"\n");
  CHECK(errors_of(head + "    tls:\n      certificates:\n        - {cert: " + file("a.crt") +
                  ", key: " + file("a.key") + ", chain: x}\n" + tail)
            .find("unknown key \"chain\" in listeners[0].tls.certificates[0]") !=
        std::string::npos);
  CHECK(errors_of(head + "    tls: on\n" + tail) ==
        "t.yaml:5:10: error: listeners[0].tls: expected a map, found \"on\"\n");
}

TEST_CASE("every certificate entry is checked, and each error names its index") {
  const std::string second =
      "        - cert: " + file("b.crt") + "\n          key: " + file("a.key") + "\n";
  CHECK(errors_of(with_certificate(file("missing.crt"), file("a.key"),
                                   second + "      min_version: \"1.0\"\n")) ==
        "t.yaml:7:17: error: listeners[0].tls.certificates[0].cert: cannot read " +
            q(file("missing.crt")) +
            ": No such file or directory\n"
            "t.yaml:10:16: error: listeners[0].tls.certificates[1].key: " +
            q(file("a.key")) + " does not match the certificate in " + q(file("b.crt")) +
            "\n"
            "t.yaml:11:20: error: listeners[0].tls.min_version: expected \"1.2\" or \"1.3\", found "
            "\"1.0\"\n");
}

TEST_CASE("backend_tls loads the CA, verifies by default and keeps server_name") {
  const Config config = load_ok(with_backend_tls("    backend_tls:\n      ca: " + file("ca.crt") +
                                                 "\n      server_name: backend.internal\n"));
  REQUIRE(config.pools[0].backend_tls.has_value());
  const BackendTls& tls = *config.pools[0].backend_tls;
  CHECK(tls.ca_path == file("ca.crt"));
  CHECK(tls.ca_pem == TestPki::get().read("ca.crt"));
  CHECK(tls.verify);
  CHECK(tls.server_name == "backend.internal");
}

TEST_CASE("an empty backend_tls verifies against the system's trust store; verify can be off") {
  const Config empty = load_ok(with_backend_tls("    backend_tls: {}\n"));
  REQUIRE(empty.pools[0].backend_tls.has_value());
  CHECK(empty.pools[0].backend_tls->ca_pem.empty());
  CHECK(empty.pools[0].backend_tls->verify);
  CHECK(load_ok(with_backend_tls("    backend_tls:\n")).pools[0].backend_tls.has_value());
  CHECK_FALSE(
      load_ok(with_backend_tls("    backend_tls: {verify: false}\n")).pools[0].backend_tls->verify);
  CHECK_FALSE(load_ok(with_backend_tls("")).pools[0].backend_tls.has_value());
}

TEST_CASE("backend_tls errors point at the value") {
  CHECK(errors_of(with_backend_tls("    backend_tls:\n      ca: " + file("missing.crt") + "\n")) ==
        "t.yaml:8:11: error: pools[0].backend_tls.ca: cannot read " + q(file("missing.crt")) +
            ": No such file or directory\n");
  CHECK(errors_of(with_backend_tls("    backend_tls:\n      ca: " + file("garbage.txt") + "\n")) ==
        "t.yaml:8:11: error: pools[0].backend_tls.ca: " + q(file("garbage.txt")) +
            " holds no PEM certificate (-----BEGIN CERTIFICATE-----)\n");
  CHECK(errors_of(with_backend_tls("    backend_tls:\n      verify: yes\n")) ==
        "t.yaml:8:15: error: pools[0].backend_tls.verify: expected true or false, found \"yes\"\n");
  CHECK(errors_of(with_backend_tls("    backend_tls:\n      server_name: \"*.internal\"\n")) ==
        "t.yaml:8:20: error: pools[0].backend_tls.server_name: expected a host name such as "
        "\"chat.internal\", found \"*.internal\"\n");
  CHECK(errors_of(with_backend_tls("    backend_tls:\n      verfy: false\n")) ==
        "t.yaml:8:7: error: unknown key \"verfy\" in pools[0].backend_tls (did you mean "
        "\"verify\"?)\n");
}
