#include "engine/format/block_map_page.h"

#include <cstring>

#include "engine/base/crc32c.h"
#include "engine/format/encoding.h"

namespace vdofs::format {

namespace {
constexpr size_t kSectorHeader = 8;
constexpr size_t kEntrySize = 5;

std::byte* entry_ptr(std::byte* page, uint32_t slot) {
  return page + (slot / kEntriesPerSector) * kSectorSize + kSectorHeader +
         (slot % kEntriesPerSector) * kEntrySize;
}
}  // namespace

uint32_t metadata_seed(uint64_t nonce, uint64_t pbn) {
  std::byte b[16];
  put_u64(b, nonce);
  put_u64(b + 8, pbn);
  return crc32c(b, sizeof b);
}

uint64_t encode_mapping(Mapping m) { return (raw(m.pbn) << 4) | static_cast<uint64_t>(m.state); }

Mapping decode_mapping(uint64_t v) {
  return Mapping{Pbn{(v >> 4) & (kMaxPhysicalBlocks - 1)}, static_cast<MappingState>(v & 0xF)};
}

void init_block_map_page(PageBytes page) { memset(page.data(), 0, kBlockSize); }

Mapping get_block_map_entry(ConstPageBytes page, uint32_t slot) {
  return decode_mapping(get_u40(entry_ptr(const_cast<std::byte*>(page.data()), slot)));
}

void set_block_map_entry(PageBytes page, uint32_t slot, Mapping m) {
  put_u40(entry_ptr(page.data(), slot), encode_mapping(m));
}

void seal_block_map_page(PageBytes page, uint64_t nonce, Pbn pbn, uint8_t level) {
  uint32_t seed = metadata_seed(nonce, raw(pbn));
  for (uint32_t s = 0; s < kSectorsPerBlock; ++s) {
    std::byte* sec = page.data() + s * kSectorSize;
    put_u8(sec + 4, kBlockMapTag);
    put_u8(sec + 5, static_cast<uint8_t>(s));
    put_u8(sec + 6, level);
    put_u8(sec + 7, 0);
    put_u32(sec, crc32c(seed, sec + 4, kSectorSize - 4));
  }
}

Result<void> check_block_map_page(ConstPageBytes page, uint64_t nonce, Pbn pbn, uint8_t level) {
  uint32_t seed = metadata_seed(nonce, raw(pbn));
  for (uint32_t s = 0; s < kSectorsPerBlock; ++s) {
    const std::byte* sec = page.data() + s * kSectorSize;
    if (get_u32(sec) != crc32c(seed, sec + 4, kSectorSize - 4)) return errc::checksum_mismatch;
    if (get_u8(sec + 4) != kBlockMapTag || get_u8(sec + 5) != s || get_u8(sec + 6) != level)
      return errc::corrupt_metadata;
  }
  return ok();
}

}  // namespace vdofs::format
