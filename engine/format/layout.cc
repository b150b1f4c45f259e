#include "engine/format/layout.h"

namespace vdofs::format {

uint64_t ref_blocks_for_slab(uint32_t slab_bits) {
  uint64_t s = uint64_t{1} << slab_bits;
  // data + ceil(data / 3968) <= s  ->  refs = ceil(s / 3969)
  return (s + kRefCountsPerBlock) / (kRefCountsPerBlock + 1);
}

namespace {
uint64_t metadata_blocks(const LayoutRequest& req) {
  return 1 + kSuperBlockCopiesLayout + req.index_blocks + kBlockMapRootCount + req.journal_blocks;
}
}  // namespace

uint64_t minimum_physical_blocks(const LayoutRequest& req) {
  return metadata_blocks(req) + (uint64_t{1} << req.slab_bits);
}

Result<void> plan_regions(const LayoutRequest& req, Geometry& g) {
  if (req.slab_bits < kMinSlabBits || req.slab_bits > kMaxSlabBits) return errc::invalid_argument;
  if (req.journal_blocks == 0 || (req.journal_blocks & (req.journal_blocks - 1)) != 0)
    return errc::invalid_argument;
  if (req.physical_blocks < minimum_physical_blocks(req)) return errc::too_small;
  g.physical_blocks = req.physical_blocks;
  g.slab_bits = req.slab_bits;
  g.journal_blocks = req.journal_blocks;
  uint64_t next = 1;
  g.regions[0] = {RegionId::kSuperBlock, next, kSuperBlockCopiesLayout};
  next += kSuperBlockCopiesLayout;
  g.regions[1] = {RegionId::kIndex, next, req.index_blocks};
  next += req.index_blocks;
  g.regions[2] = {RegionId::kBlockMapRoots, next, kBlockMapRootCount};
  next += kBlockMapRootCount;
  g.regions[3] = {RegionId::kRecoveryJournal, next, req.journal_blocks};
  next += req.journal_blocks;
  uint64_t slabs = (req.physical_blocks - next) >> req.slab_bits;
  if (slabs > kMaxSlabs) slabs = kMaxSlabs;
  g.regions[4] = {RegionId::kSlabDepot, next, slabs << req.slab_bits};
  return ok();
}

Layout::Layout(const Geometry& g)
    : slab_bits_(g.slab_bits),
      ref_per_slab_(ref_blocks_for_slab(g.slab_bits)),
      journal_blocks_(g.journal_blocks),
      physical_blocks_(g.physical_blocks) {
  data_per_slab_ = (uint64_t{1} << slab_bits_) - ref_per_slab_;
  const Region& depot = g.region(RegionId::kSlabDepot);
  depot_start_ = depot.start;
  slab_count_ = depot.blocks >> slab_bits_;
  roots_start_ = g.region(RegionId::kBlockMapRoots).start;
  journal_start_ = g.region(RegionId::kRecoveryJournal).start;
  index_start_ = g.region(RegionId::kIndex).start;
  index_blocks_ = g.region(RegionId::kIndex).blocks;
}

bool Layout::is_data_block(Pbn pbn) const {
  uint64_t p = raw(pbn);
  if (p < depot_start_) return false;
  uint64_t rel = p - depot_start_;
  if ((rel >> slab_bits_) >= slab_count_) return false;
  return (rel & (slab_blocks() - 1)) < data_per_slab_;
}

}  // namespace vdofs::format
