// Block-map pages: 4 KiB, 8 sectors of {crc32c u32, tag u8, sector u8, level u8, reserved u8,
// 100 entries x 5 bytes, 4 pad}. An entry is a 40-bit little-endian value (PBN << 4) | state.
// Each sector carries its own CRC32C, seeded with the volume nonce and the page's own PBN, so a
// torn page write leaves every sector either wholly old or wholly new (and a sector from another
// volume or another location never validates). Leaves and interior pages share the format.
//
// Pages are kept in memory in this encoded form; get/set work on it directly.
#pragma once

#include <cstdint>
#include <span>

#include "engine/base/result.h"
#include "engine/base/types.h"

namespace vdofs::format {

inline constexpr uint32_t kEntriesPerSector = 100;
inline constexpr uint32_t kEntriesPerPage = kEntriesPerSector * kSectorsPerBlock;  // 800
inline constexpr uint8_t kBlockMapTag = 0xB1;

using PageBytes = std::span<std::byte, kBlockSize>;
using ConstPageBytes = std::span<const std::byte, kBlockSize>;

// An all-unmapped page (checksums not yet computed; seal before writing).
void init_block_map_page(PageBytes page);
Mapping get_block_map_entry(ConstPageBytes page, uint32_t slot);
void set_block_map_entry(PageBytes page, uint32_t slot, Mapping m);
// Computes the per-sector checksums for a page to be written at `pbn`.
void seal_block_map_page(PageBytes page, uint64_t nonce, Pbn pbn, uint8_t level);
// Checks every sector. Fails with checksum_mismatch if any sector is not a valid sector of a
// page of this volume at this PBN and level.
Result<void> check_block_map_page(ConstPageBytes page, uint64_t nonce, Pbn pbn, uint8_t level);

// 40-bit entry encoding shared with the recovery journal.
uint64_t encode_mapping(Mapping m);
Mapping decode_mapping(uint64_t v);

// Seed for per-sector CRCs of a metadata block of this volume at this location.
uint32_t metadata_seed(uint64_t nonce, uint64_t pbn);

}  // namespace vdofs::format
