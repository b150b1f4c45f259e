// RecordName: the 16-byte name the index files a block under (the first 16 bytes of its SHA-256).
//
// Name bits and what uses them:
//   bytes 0-7  (big-endian u64) index zone and the volume-index bucket
//   byte  0    the engine's hash zone: (byte0 * hash_zones) >> 8
//   bytes 8-15 hashing inside a zone's tables
#pragma once

#include <array>
#include <cstdint>
#include <cstring>

namespace vdofs::index {

struct RecordName {
  std::array<uint8_t, 16> bytes{};
  friend bool operator==(const RecordName&, const RecordName&) = default;

  uint64_t high64() const {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | bytes[static_cast<size_t>(i)];
    return v;
  }
  uint64_t low64() const {
    uint64_t v;
    memcpy(&v, bytes.data() + 8, 8);
    return v;
  }
};

struct RecordNameHash {
  size_t operator()(const RecordName& n) const noexcept { return static_cast<size_t>(n.low64()); }
};

// Index zone of a name among `zones`.
inline uint32_t index_zone_of(const RecordName& n, uint32_t zones) {
  return static_cast<uint32_t>(((n.high64() >> 32) * zones) >> 32);
}

}  // namespace vdofs::index
