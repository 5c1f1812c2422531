// What each fuzz target provides besides LLVMFuzzerTestOneInput: the seed corpus and dictionary the
// smoke driver (smoke_main.cpp) mutates. libFuzzer builds ignore them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace ringway::fuzz {

std::vector<std::string> seeds();
std::vector<std::string> dictionary();
// True when the last input got past the first checks (a complete head, several frames...): the smoke
// driver, which has no coverage feedback, keeps such inputs to mutate further.
bool last_input_was_deep();

// An invariant the code under test must keep: abort (a crash for libFuzzer and for ctest).
[[noreturn]] inline void fail(const char* what, const char* file, int line) {
  std::fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", file, line, what);
  std::abort();
}

}  // namespace ringway::fuzz

#define FUZZ_CHECK(cond) \
  do {                   \
    if (!(cond)) ::ringway::fuzz::fail(#cond, __FILE__, __LINE__); \
  } while (0)
