#include "engine/format/ref_block.h"

#include <cstring>

#include "engine/base/crc32c.h"
#include "engine/format/block_map_page.h"
#include "engine/format/encoding.h"

namespace vdofs::format {

void encode_ref_block(const RefBlockImage& img, uint64_t nonce, uint64_t pbn,
                      std::span<std::byte, kBlockSize> out) {
  uint32_t seed = metadata_seed(nonce, pbn);
  for (uint32_t s = 0; s < kSectorsPerBlock; ++s) {
    std::byte* sec = out.data() + s * kSectorSize;
    put_u8(sec + 4, kRefBlockTag);
    put_u8(sec + 5, static_cast<uint8_t>(s));
    put_u16(sec + 6, 0);
    put_u64(sec + 8, img.stamps[s]);
    for (uint32_t i = 0; i < kCountsPerRefSector; ++i) {
      uint8_t c = img.counts[s * kCountsPerRefSector + i];
      put_u8(sec + 16 + i, c == kProvisionalCount ? 0 : c);
    }
    put_u32(sec, crc32c(seed, sec + 4, kSectorSize - 4));
  }
}

bool decode_ref_sector(std::span<const std::byte, kBlockSize> in, uint64_t nonce, uint64_t pbn,
                       uint32_t s, RefBlockImage& img) {
  uint32_t seed = metadata_seed(nonce, pbn);
  const std::byte* sec = in.data() + s * kSectorSize;
  if (get_u32(sec) != crc32c(seed, sec + 4, kSectorSize - 4)) return false;
  if (get_u8(sec + 4) != kRefBlockTag || get_u8(sec + 5) != s) return false;
  for (uint32_t i = 0; i < kCountsPerRefSector; ++i)
    if (get_u8(sec + 16 + i) > kMaxReferences) return false;
  img.stamps[s] = get_u64(sec + 8);
  for (uint32_t i = 0; i < kCountsPerRefSector; ++i)
    img.counts[s * kCountsPerRefSector + i] = get_u8(sec + 16 + i);
  return true;
}

Result<RefBlockImage> decode_ref_block(std::span<const std::byte, kBlockSize> in, uint64_t nonce,
                                       uint64_t pbn) {
  RefBlockImage img;
  for (uint32_t s = 0; s < kSectorsPerBlock; ++s)
    if (!decode_ref_sector(in, nonce, pbn, s, img)) return errc::checksum_mismatch;
  return img;
}

}  // namespace vdofs::format
