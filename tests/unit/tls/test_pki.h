// Certificates for the TLS tests, made once per test binary with the `openssl` CLI in a temporary
// directory that is removed at exit: nothing secret is committed, and every run has fresh keys.
//
//   ca          EC P-256 test CA            other_ca    a second CA (the "wrong CA")
//   a           RSA 2048, a.example.com + alt.example.com (signed by ca)
//   b           EC P-256, b.example.com (ca)
//   wild        EC P-256, *.wild.example.com (ca)
//   cn          EC P-256, no subjectAltName, CN=cn.example.com (ca)
//   backend     EC P-256, backend.internal + IP 127.0.0.1 (ca)
//   stranger    EC P-256, backend.internal, signed by other_ca
// Each NAME has NAME.crt and NAME.key; "b_encrypted.key" is b's key under a passphrase;
// "garbage.txt" holds text that is not PEM.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <string>

namespace ringway::tls::test {

class TestPki {
 public:
  static const TestPki& get() {
    static const TestPki pki;
    return pki;
  }

  [[nodiscard]] std::string path(const std::string& file) const { return dir_ + "/" + file; }
  [[nodiscard]] std::string read(const std::string& file) const {
    std::ifstream in(path(file), std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
  }
  [[nodiscard]] const std::string& dir() const { return dir_; }

  TestPki(const TestPki&) = delete;
  TestPki& operator=(const TestPki&) = delete;
  ~TestPki() {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

 private:
  TestPki() {
    std::string dir = (std::filesystem::temp_directory_path() / "ringway-tls-XXXXXX").string();
    if (mkdtemp(dir.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = dir;
    write("req.cnf",
          "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = ringway test\n"
          "[ca]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\n"
          "subjectKeyIdentifier = hash\n");
    write("garbage.txt", "this is not a certificate\n");
    make_ca("ca", "ringway test CA");
    make_ca("other_ca", "another CA");
    make_leaf("a", "ca", "rsa:2048", "a.example.com", "DNS:a.example.com,DNS:alt.example.com");
    make_leaf("b", "ca", kEc, "b.example.com", "DNS:b.example.com");
    make_leaf("wild", "ca", kEc, "wild", "DNS:*.wild.example.com");
    make_leaf("cn", "ca", kEc, "cn.example.com", "");
    make_leaf("backend", "ca", kEc, "backend", "DNS:backend.internal,IP:127.0.0.1");
    make_leaf("stranger", "other_ca", kEc, "backend", "DNS:backend.internal");
    run("openssl pkey -in b.key -aes128 -passout pass:secret -out b_encrypted.key");
  }

  static constexpr const char* kEc = "ec -pkeyopt ec_paramgen_curve:P-256";

  void write(const std::string& file, const std::string& text) const {
    std::ofstream(path(file), std::ios::binary) << text;
  }

  void run(const std::string& command) const {
    const std::string line = "cd '" + dir_ + "' && " + command + " >/dev/null 2>&1";
    if (std::system(line.c_str()) != 0) throw std::runtime_error("failed: " + command);
  }

  void make_ca(const std::string& name, const std::string& cn) const {
    run("openssl req -x509 -config req.cnf -extensions ca -newkey " + std::string(kEc) +
        " -nodes -keyout " + name + ".key -out " + name + ".crt -days 2 -subj '/CN=" + cn + "'");
  }

  void make_leaf(const std::string& name, const std::string& ca, const std::string& key_type,
                 const std::string& cn, const std::string& alt_names) const {
    std::string ext =
        "basicConstraints = CA:FALSE\nkeyUsage = critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage = serverAuth\n";
    if (!alt_names.empty()) ext += "subjectAltName = " + alt_names + "\n";
    write(name + ".ext", ext);
    run("openssl req -new -config req.cnf -newkey " + key_type + " -nodes -keyout " + name +
        ".key -out " + name + ".csr -subj '/CN=" + cn + "'");
    run("openssl x509 -req -in " + name + ".csr -CA " + ca + ".crt -CAkey " + ca +
        ".key -set_serial 0x" + std::to_string(std::hash<std::string>{}(name) % 1000000) +
        " -days 2 -extfile " + name + ".ext -out " + name + ".crt");
  }

  std::string dir_;
};

}  // namespace ringway::tls::test
