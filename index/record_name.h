// RecordName: the 16-byte name the index files a block under (the first 16 bytes of its SHA-256).
//
// Name bits and what uses them:
//   bytes 0-7   (big-endian u64) index partition/zone, volume-index bucket and fingerprint
//   byte  0     the engine's hash zone: (byte0 * hash_zones) >> 8
//   bytes 8-11  the chapter-index key (name -> record page inside a chapter)
//   bytes 8-15  the open chapter's hash table
//   bytes 14-15 sparse sampling: a "hook" if be16 % 32 == 0 (as UDS)
//
// Threads: plain values; any thread.
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

// Index zone of a name among `zones` (also its partition among `partitions`).
inline uint32_t index_zone_of(const RecordName& n, uint32_t zones) {
  return static_cast<uint32_t>(((n.high64() >> 32) * zones) >> 32);
}

// The key a chapter index files a name under.
inline uint32_t chapter_key(const RecordName& n) {
  return (uint32_t{n.bytes[8]} << 24) | (uint32_t{n.bytes[9]} << 16) |
         (uint32_t{n.bytes[10]} << 8) | uint32_t{n.bytes[11]};
}

// Sparse sampling: 1 name in `modulus` is a hook.
inline bool is_hook(const RecordName& n, uint32_t modulus = 32) {
  return ((uint32_t{n.bytes[14]} << 8) | uint32_t{n.bytes[15]}) % modulus == 0;
}

}  // namespace vdofs::index
