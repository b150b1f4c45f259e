// Shared by the libFuzzer targets (tests/fuzz/*_fuzzer.cc): turning fuzz input into 4 KiB
// blocks, and re-sealing checksums so that mutated metadata gets past its CRC and reaches the
// decoding logic behind it (a random mutation almost never carries a valid CRC32C).
//
// Every target's input starts with one flag byte; bit 0 set means "re-seal the checksums after
// copying the input" (the seed corpus uses it, so mutations of a real block stay checksummed).
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>

#include "engine/base/crc32c.h"
#include "engine/base/log.h"
#include "engine/base/types.h"
#include "engine/format/encoding.h"

namespace vdofs::fuzz {

using Block = std::array<std::byte, kBlockSize>;

// A cursor over the fuzz input: fixed-size fields first, the rest as block bytes.
class Input {
 public:
  Input(const uint8_t* data, size_t size) : p_(data), n_(size) {}
  uint8_t u8() {
    if (n_ == 0) return 0;
    --n_;
    return *p_++;
  }
  uint16_t u16() { return static_cast<uint16_t>(u8() | (u8() << 8)); }
  uint64_t u64() {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= uint64_t{u8()} << (8 * i);
    return v;
  }
  // Copies up to out.size() bytes of the remaining input into out (the rest keeps its contents).
  size_t bytes(std::span<std::byte> out) {
    const size_t k = std::min(out.size(), n_);
    if (k > 0) memcpy(out.data(), p_, k);
    p_ += k;
    n_ -= k;
    return k;
  }
  // A whole block: the next kBlockSize bytes, zero-padded.
  Block block() {
    Block b{};
    bytes(b);
    return b;
  }
  size_t remaining() const { return n_; }

 private:
  const uint8_t* p_;
  size_t n_;
};

// Geometry and super block: CRC32C of bytes [0, 4092) in the last 4 bytes.
inline void reseal_tail_crc(std::span<std::byte, kBlockSize> b) {
  format::put_u32(b.data() + kBlockSize - 4, crc32c(b.data(), kBlockSize - 4));
}

// Block-map pages, reference blocks, journal blocks: each 512-byte sector starts with
// crc32c(seed, sector[4..512)).
inline void reseal_sectors(std::span<std::byte, kBlockSize> b, uint32_t seed) {
  for (uint32_t s = 0; s < kSectorsPerBlock; ++s) {
    std::byte* sec = b.data() + s * kSectorSize;
    format::put_u32(sec, crc32c(seed, sec + 4, kSectorSize - 4));
  }
}

// Index-region blocks: crc32c of bytes [4, 4096) in the first 4 bytes.
inline void reseal_index_page(std::span<std::byte, kBlockSize> b) {
  format::put_u32(b.data(), crc32c(b.data() + 4, kBlockSize - 4));
}

// The engine logs every corruption it meets; at thousands of runs a second that is noise.
// VDOFS_FUZZ_LOG=1 keeps the log (failed checks and sanitizer reports always reach stderr).
inline void quiet_logs() {
  if (!getenv("VDOFS_FUZZ_LOG")) log::use_file("/dev/null");
}

// A fuzz target found a decoder inconsistency (not a crash of its own): make it one.
[[noreturn]] inline void fail_invariant() { __builtin_trap(); }

}  // namespace vdofs::fuzz
