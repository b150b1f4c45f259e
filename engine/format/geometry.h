// The geometry block (block 0): what a volume is and where its regions lie. Written once by
// mkfs.vdofs; never rewritten by the daemon. Byte layout: docs/on-disk-format.md §Geometry.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>

#include "engine/base/result.h"
#include "engine/base/types.h"

namespace vdofs::format {

inline constexpr char kGeometryMagic[8] = {'V', 'D', 'O', 'F', 'S', 'G', 'E', 'O'};
inline constexpr uint32_t kFormatVersion = 1;
inline constexpr size_t kMaxNameLength = 63;

enum class RegionId : uint32_t {
  kSuperBlock = 1,
  kIndex = 2,
  kBlockMapRoots = 3,
  kRecoveryJournal = 4,
  kSlabDepot = 5,
};

struct Region {
  RegionId id{};
  uint64_t start = 0;   // first block
  uint64_t blocks = 0;  // length in blocks
  uint64_t end() const { return start + blocks; }
};

inline constexpr size_t kRegionCount = 5;

struct Geometry {
  uint32_t version = kFormatVersion;
  uint32_t block_size = kBlockSize;
  uint64_t nonce = 0;
  std::array<uint8_t, 16> uuid{};
  uint64_t physical_blocks = 0;  // the whole backing store at format time
  uint32_t slab_bits = 0;        // slab = 2^slab_bits blocks
  uint32_t journal_blocks = 0;   // recovery journal length (a power of two)
  uint64_t index_memory = 0;     // bytes of RAM for the dedupe index
  bool sparse_index = false;
  std::string name;  // file name inside the mount
  std::array<Region, kRegionCount> regions{};

  const Region& region(RegionId id) const;
  std::string uuid_string() const;
};

void encode_geometry(const Geometry& g, std::span<std::byte, kBlockSize> out);
// Fails with bad_magic (not vdofs), bad_version, or checksum_mismatch.
Result<Geometry> decode_geometry(std::span<const std::byte, kBlockSize> in);

}  // namespace vdofs::format
