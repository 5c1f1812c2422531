// Log batching (proxy/log.h): a worker thread's Info lines wait for flush_batch(), Warn and Error go
// out at once after what was batched before them, each write stays within PIPE_BUF, and a thread
// without batching writes line by line. stderr is redirected into a pipe for each check.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <climits>
#include <string>
#include <vector>

#include "proxy/log.h"

namespace log = ringway::log;

namespace {

// stderr goes into a non-blocking pipe while this object lives; every read is one write(2) of the
// logger as long as the reader drains the pipe between writes (a pipe keeps writes of up to
// PIPE_BUF whole and, read promptly, separate).
class CapturedStderr {
 public:
  CapturedStderr() {
    REQUIRE(pipe2(fds_, O_NONBLOCK) == 0);
    saved_ = dup(STDERR_FILENO);
    dup2(fds_[1], STDERR_FILENO);
  }
  ~CapturedStderr() {
    dup2(saved_, STDERR_FILENO);
    close(saved_);
    close(fds_[0]);
    close(fds_[1]);
  }
  CapturedStderr(const CapturedStderr&) = delete;
  CapturedStderr& operator=(const CapturedStderr&) = delete;

  // Everything written since the last call ("" when nothing was).
  std::string take() {
    std::string out;
    char buf[65536];
    for (;;) {
      const ssize_t n = read(fds_[0], buf, sizeof buf);
      if (n <= 0) return out;
      out.append(buf, static_cast<size_t>(n));
    }
  }

 private:
  int fds_[2] = {-1, -1};
  int saved_ = -1;
};

// The message of each line, in order ("... info <message> ..." in the text format).
std::vector<std::string> messages(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    const size_t end = text.find('\n', start);
    const std::string line = text.substr(start, end - start);
    // "<time> <level> <message>[ key=value...]"
    const size_t level = line.find(' ');
    const size_t message = line.find(' ', level + 1);
    const size_t after = line.find(' ', message + 1);
    out.push_back(line.substr(message + 1, after == std::string::npos ? std::string::npos : after - message - 1));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out;
}

}  // namespace

TEST_CASE("batched Info lines wait for flush_batch; Warn writes them and itself at once") {
  CapturedStderr err;
  log::begin_batching();
  log::info("first");
  log::info("second");
  CHECK(err.take().empty());
  log::warn("trouble");  // in order, after what was batched
  CHECK(messages(err.take()) == std::vector<std::string>{"first", "second", "trouble"});
  log::info("third");
  CHECK(err.take().empty());
  log::flush_batch();
  CHECK(messages(err.take()) == std::vector<std::string>{"third"});
  log::flush_batch();  // nothing batched: nothing written
  CHECK(err.take().empty());
  log::info("fourth");
  log::end_batching();  // flushes
  CHECK(messages(err.take()) == std::vector<std::string>{"fourth"});
  log::info("unbatched");  // line by line again
  CHECK(messages(err.take()) == std::vector<std::string>{"unbatched"});
}

TEST_CASE("a batch is written before it would pass PIPE_BUF, in whole lines") {
  CapturedStderr err;
  log::begin_batching();
  const std::string value(200, 'x');
  size_t lines = 0;
  std::string written;
  // Each line is about 240 bytes: the batch must be written (whole lines, within PIPE_BUF) on its
  // own before the 4,096 bytes would be passed.
  while (written.empty()) {
    log::info("line", {{"value", value}});
    ++lines;
    written = err.take();
    REQUIRE(lines < 100);
  }
  CHECK(written.size() <= PIPE_BUF);
  CHECK(written.back() == '\n');
  CHECK(messages(written).size() == lines - 1);  // the line that did not fit waits in the next batch
  log::end_batching();
  CHECK(messages(err.take()).size() == 1);
}

TEST_CASE("a line longer than PIPE_BUF is written alone, after the batch before it") {
  CapturedStderr err;
  log::begin_batching();
  log::info("short");
  log::info("long", {{"value", std::string(PIPE_BUF + 100, 'y')}});
  const std::string written = err.take();
  CHECK(messages(written) == std::vector<std::string>{"short", "long"});
  log::end_batching();
  CHECK(err.take().empty());
}
