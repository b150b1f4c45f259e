#include "engine/slab_depot.h"

#include <cstring>

#include "engine/base/log.h"

namespace vdofs::engine {

using format::kCountsPerRefSector;
using format::kRefCountsPerBlock;

Result<void> SlabDepot::load(io::BlockDevice& device, uint64_t nonce, bool tolerant,
                             uint64_t* invalid_sectors) {
  slabs_.clear();
  uint64_t invalid = 0;
  const uint64_t refs = layout_.ref_blocks_per_slab();
  std::vector<std::byte> buf(refs * kBlockSize);
  for (uint64_t s = 0; s < layout_.slab_count(); ++s) {
    auto slab = std::make_unique<Slab>();
    slab->index = s;
    slab->data_blocks = layout_.data_blocks_per_slab();
    slab->counts.assign(slab->data_blocks, 0);
    slab->stamps.assign(refs * kSectorsPerBlock, 0);
    slab->ref_blocks.assign(refs, RefBlockState{});
    VDOFS_TRY(device.read(layout_.ref_block_pbn(s, 0), buf));
    for (uint64_t k = 0; k < refs; ++k) {
      auto block = std::span<const std::byte, kBlockSize>(buf.data() + k * kBlockSize, kBlockSize);
      format::RefBlockImage img;
      for (uint32_t sec = 0; sec < kSectorsPerBlock; ++sec) {
        if (format::decode_ref_sector(block, nonce, layout_.ref_block_pbn(s, k), sec, img))
          continue;
        if (!tolerant) {
          log::error("%s: reference-count block %llu of slab %llu: sector %u is invalid",
                     device.name().c_str(), static_cast<unsigned long long>(k),
                     static_cast<unsigned long long>(s), sec);
          return errc::checksum_mismatch;
        }
        ++invalid;  // counts stay 0 with stamp 0: replay alone cannot restore them
      }
      for (uint32_t sec = 0; sec < kSectorsPerBlock; ++sec)
        slab->stamps[k * kSectorsPerBlock + sec] = img.stamps[sec];
      uint64_t first = k * kRefCountsPerBlock;
      for (uint64_t i = 0; i < kRefCountsPerBlock && first + i < slab->data_blocks; ++i)
        slab->counts[first + i] = img.counts[i];
    }
    for (uint8_t c : slab->counts) {
      if (c == 0)
        ++slab->free_blocks;
      else
        ++slab->used_blocks;
    }
    slabs_.push_back(std::move(slab));
  }
  if (invalid_sectors) *invalid_sectors = invalid;
  return ok();
}

void SlabDepot::encode_ref_block(const Slab& slab, uint64_t k, uint64_t stamp, uint64_t nonce,
                                 std::span<std::byte, kBlockSize> out) const {
  format::RefBlockImage img;
  uint64_t first = k * kRefCountsPerBlock;
  for (uint64_t i = 0; i < kRefCountsPerBlock && first + i < slab.data_blocks; ++i)
    img.counts[i] = slab.counts[first + i];
  img.stamps.fill(stamp);
  format::encode_ref_block(img, nonce, layout_.ref_block_pbn(slab.index, k), out);
}

Result<void> SlabDepot::format(io::BlockDevice& device, const format::Layout& layout,
                               uint64_t nonce, void (*progress)(uint64_t, uint64_t)) {
  const uint64_t refs = layout.ref_blocks_per_slab();
  std::vector<std::byte> buf(refs * kBlockSize);
  format::RefBlockImage empty;
  for (uint64_t s = 0; s < layout.slab_count(); ++s) {
    for (uint64_t k = 0; k < refs; ++k)
      format::encode_ref_block(
          empty, nonce, layout.ref_block_pbn(s, k),
          std::span<std::byte, kBlockSize>(buf.data() + k * kBlockSize, kBlockSize));
    VDOFS_TRY(device.write(layout.ref_block_pbn(s, 0), buf));
    if (progress) progress(s + 1, layout.slab_count());
  }
  return ok();
}

}  // namespace vdofs::engine
