// Internal to proxy/tls: a FIFO of bytes that holds no memory while empty, so that an idle TLS
// connection keeps no ciphertext buffer (its storage is freed the moment the last byte is taken).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>

namespace ringway::tls {

class ByteQueue {
 public:
  [[nodiscard]] std::span<const uint8_t> data() const {
    return {storage_.get() + head_, tail_ - head_};
  }
  [[nodiscard]] size_t size() const { return tail_ - head_; }
  [[nodiscard]] bool empty() const { return head_ == tail_; }
  [[nodiscard]] size_t capacity() const { return capacity_; }

  // Makes room for `more` bytes after what is queued, in one allocation (at most).
  void reserve(size_t more) {
    if (tail_ + more <= capacity_) return;
    const size_t queued = size();
    if (queued + more <= capacity_) {
      std::memmove(storage_.get(), storage_.get() + head_, queued);  // slide to the front
    } else {
      const size_t grown = std::max(queued + more, capacity_ + capacity_ / 2);
      auto bigger = std::make_unique_for_overwrite<uint8_t[]>(grown);
      if (queued != 0) std::memcpy(bigger.get(), storage_.get() + head_, queued);
      storage_ = std::move(bigger);
      capacity_ = grown;
    }
    head_ = 0;
    tail_ = queued;
  }

  void append(std::span<const uint8_t> bytes) {
    if (bytes.empty()) return;
    reserve(bytes.size());
    std::memcpy(storage_.get() + tail_, bytes.data(), bytes.size());
    tail_ += bytes.size();
  }

  // Takes `count` bytes off the front (at most size()); the storage goes when nothing is left.
  void consume(size_t count) {
    head_ += std::min(count, size());
    if (head_ == tail_) clear();
  }

  void clear() {
    storage_.reset();
    head_ = tail_ = capacity_ = 0;
  }

 private:
  std::unique_ptr<uint8_t[]> storage_;
  size_t head_ = 0;
  size_t tail_ = 0;
  size_t capacity_ = 0;
};

}  // namespace ringway::tls
