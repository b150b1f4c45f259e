// Reference-count blocks: the tail of every slab. 8 sectors of {crc32c u32, tag u8, sector u8,
// reserved u16, stamp u64, 496 one-byte counts}: 3968 counts per block. The stamp is the first
// recovery-journal point ((sequence << 8) | entry) whose increments and decrements the sector's
// counts do NOT yet include; replay applies to it only entries at or after that point. Per-sector
// stamps and checksums make a torn write harmless: each sector is wholly old or wholly new and
// carries its own stamp.
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "engine/base/result.h"
#include "engine/base/types.h"

namespace vdofs::format {

inline constexpr uint32_t kCountsPerRefSector = 496;
inline constexpr uint8_t kRefBlockTag = 0xC7;
// A count above kMaxReferences never reaches disk; in memory 255 marks a provisional allocation.
inline constexpr uint8_t kProvisionalCount = 255;

struct RefBlockImage {
  std::array<uint8_t, kCountsPerRefSector * kSectorsPerBlock> counts{};
  std::array<uint64_t, kSectorsPerBlock> stamps{};
};

void encode_ref_block(const RefBlockImage& img, uint64_t nonce, uint64_t pbn,
                      std::span<std::byte, kBlockSize> out);
// Fails with checksum_mismatch/corrupt_metadata if any sector is invalid or a count exceeds 254.
Result<RefBlockImage> decode_ref_block(std::span<const std::byte, kBlockSize> in, uint64_t nonce,
                                       uint64_t pbn);
// Decodes one sector into img (counts and stamp of that sector). False if the sector is invalid.
bool decode_ref_sector(std::span<const std::byte, kBlockSize> in, uint64_t nonce, uint64_t pbn,
                       uint32_t sector, RefBlockImage& img);

}  // namespace vdofs::format
