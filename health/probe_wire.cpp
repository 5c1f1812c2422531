#include "health/probe_wire.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstring>

namespace ringway::health {

std::string http_check_request(std::string_view host, std::string_view path) {
  std::string out = "GET ";
  out.append(path).append(" HTTP/1.1\r\nHost: ").append(host);
  out.append("\r\nUser-Agent: ringway-health-check\r\nAccept: */*\r\nConnection: close\r\n\r\n");
  return out;
}

std::string websocket_check_request(std::string_view host, std::string_view path, std::string_view key) {
  std::string out = "GET ";
  out.append(path).append(" HTTP/1.1\r\nHost: ").append(host);
  out.append("\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ").append(key);
  out.append("\r\nSec-WebSocket-Version: 13\r\nUser-Agent: ringway-health-check\r\n\r\n");
  return out;
}

std::string websocket_key(const std::array<uint8_t, 16>& bytes) {
  std::array<unsigned char, 25> out{};  // 4 * ceil(16 / 3) + NUL
  const int n = EVP_EncodeBlock(out.data(), bytes.data(), static_cast<int>(bytes.size()));
  return std::string(reinterpret_cast<const char*>(out.data()), static_cast<size_t>(n));
}

std::string judge_http_status(int status) {
  if (status >= 200 && status < 400) return "";
  return "status " + std::to_string(status);
}

CheckFrameReader::CheckFrameReader(std::span<const uint8_t> ping_payload)
    : tracker_(ws::Direction::ServerToClient) {
  sink_.reader = this;
  expected_size_ = std::min(ping_payload.size(), expected_.size());
  std::copy_n(ping_payload.begin(), expected_size_, expected_.begin());
}

void CheckFrameReader::feed(std::span<const uint8_t> bytes) {
  if (seen_.error != ws::FrameError::None) return;
  const ws::FeedResult result = tracker_.feed(bytes, sink_);
  if (result.error != ws::FrameError::None) seen_.error = result.error;
}

void CheckFrameReader::Sink::on_frame_header(const ws::FrameHeader&) { reader->payload_size_ = 0; }

void CheckFrameReader::Sink::on_frame_payload(const ws::FrameHeader& header, std::span<const uint8_t> bytes,
                                              uint64_t offset) {
  if (!ws::is_control(header.opcode) || offset >= reader->payload_.size()) return;
  const size_t n = std::min(bytes.size(), reader->payload_.size() - static_cast<size_t>(offset));
  std::memcpy(reader->payload_.data() + offset, bytes.data(), n);
  reader->payload_size_ = static_cast<size_t>(offset) + n;
}

void CheckFrameReader::Sink::on_frame_end(const ws::FrameHeader& header, bool) {
  if (header.opcode == static_cast<uint8_t>(ws::Opcode::Pong)) {
    if (reader->payload_size_ == reader->expected_size_ &&
        std::equal(reader->expected_.begin(), reader->expected_.begin() + reader->expected_size_,
                   reader->payload_.begin())) {
      reader->seen_.pong = true;
    }
  } else if (header.opcode == static_cast<uint8_t>(ws::Opcode::Close)) {
    reader->seen_.close = true;
  }
}

}  // namespace ringway::health
