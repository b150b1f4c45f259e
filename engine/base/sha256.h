// SHA-256 of a 4 KiB block (OpenSSL EVP). The digest names a block for dedupe; its first bytes
// choose the hash zone and the index zone (engine/routing.h).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace vdofs {

struct BlockName {
  std::array<uint8_t, 32> bytes{};
  friend bool operator==(const BlockName&, const BlockName&) = default;
  uint64_t prefix64() const {  // big-endian first 8 bytes: the bits zones are chosen by
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | bytes[static_cast<size_t>(i)];
    return v;
  }
};

struct BlockNameHash {
  size_t operator()(const BlockName& n) const noexcept {
    uint64_t v;
    memcpy(&v, n.bytes.data() + 8, sizeof v);  // bytes 8.. are independent of the zone bits
    return static_cast<size_t>(v);
  }
};

// Hashes `data` (any length). Uses a per-thread reusable EVP context.
BlockName sha256(std::span<const std::byte> data);

}  // namespace vdofs
