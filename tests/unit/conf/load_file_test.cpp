// load_config_file: reading the file itself; its errors carry the real path.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "conf/config.h"

using ringway::conf::load_config_file;

namespace {

// A fresh directory under $TMPDIR (or /tmp), removed with its files at the end of the test.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base != nullptr ? base : "/tmp") + "/ringway-conf-XXXXXX";
    if (mkdtemp(pattern.data()) != nullptr) {
      path_ = pattern;
    }
  }
  ~TempDir() {
    for (const std::string& file : files_) {
      std::remove(file.c_str());
    }
    rmdir(path_.c_str());
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  TempDir(TempDir&&) = delete;
  TempDir& operator=(TempDir&&) = delete;

  [[nodiscard]] const std::string& path() const { return path_; }

  std::string write(const std::string& name, const std::string& text) {
    std::string file = path_ + "/" + name;
    std::ofstream(file) << text;
    files_.push_back(file);
    return file;
  }

 private:
  std::string path_;
  std::vector<std::string> files_;
};

}  // namespace

TEST_CASE("a missing file is one error at line 0 with the system's reason") {
  const auto result = load_config_file("/nonexistent/ringway.yaml");
  CHECK(result.config == nullptr);
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors[0].to_string() ==
        "/nonexistent/ringway.yaml:0:0: error: cannot read file: No such file or directory");
}

TEST_CASE("a directory is not a readable configuration file") {
  TempDir dir;
  REQUIRE_FALSE(dir.path().empty());
  const auto result = load_config_file(dir.path());
  CHECK(result.config == nullptr);
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors[0].to_string() ==
        dir.path() + ":0:0: error: cannot read file: Is a directory");
}

TEST_CASE("a valid file loads and remembers its path") {
  TempDir dir;
  REQUIRE_FALSE(dir.path().empty());
  const std::string file = dir.write("ringway.yaml", R"(listeners:
  - {name: l, bind: "127.0.0.1:8080", pool: p}
pools:
  - {name: p, backends: [{name: b, address: "127.0.0.1:9001"}]}
)");
  const auto result = load_config_file(file);
  CHECK(result.errors.empty());
  REQUIRE(result.config != nullptr);
  CHECK(result.config->path == file);
  CHECK(result.config->listeners.at(0).bind.port == 8080);
}

TEST_CASE("errors in a file name the file") {
  TempDir dir;
  REQUIRE_FALSE(dir.path().empty());
  const std::string file = dir.write("bad.yaml", "listeners: []\npools: []\n");
  const auto result = load_config_file(file);
  CHECK(result.config == nullptr);
  REQUIRE(result.errors.size() == 2);
  CHECK(result.errors[0].to_string() ==
        file + ":1:12: error: listeners: expected at least one listener");
  CHECK(result.errors[1].to_string() == file + ":2:8: error: pools: expected at least one pool");
}
