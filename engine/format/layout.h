// Where everything lives on the backing store, derived from the geometry: the region table and
// the slab arithmetic (PBN <-> slab, reference-count block locations).
//
//   block 0            geometry
//   blocks 1-2         super block (two alternating copies)
//   index region       the dedupe index's chapters and save slots (index/)
//   60 blocks          block-map tree roots
//   journal region     the recovery journal (a power-of-two count of blocks)
//   slab depot         whole slabs: [data blocks][reference-count blocks]
#pragma once

#include <cstdint>

#include "engine/base/result.h"
#include "engine/base/types.h"
#include "engine/format/geometry.h"

namespace vdofs::format {

inline constexpr uint32_t kBlockMapRootCount = 60;
inline constexpr uint32_t kMinSlabBits = 4;   // 64 KiB slabs for tiny test volumes
inline constexpr uint32_t kMaxSlabBits = 23;  // 32 GiB
inline constexpr uint32_t kMaxSlabs = 8192;
inline constexpr uint32_t kRefCountsPerBlock = 3968;  // 8 sectors x 496 counts
inline constexpr uint64_t kSuperBlockCopiesLayout = 2;

struct LayoutRequest {
  uint64_t physical_blocks = 0;
  uint32_t slab_bits = 0;
  uint32_t journal_blocks = 0;
  uint64_t index_blocks = 0;
};

// Fills g.regions and g.physical_blocks/slab_bits/journal_blocks from the request. Fails with
// too_small if not even one slab fits after the metadata.
Result<void> plan_regions(const LayoutRequest& req, Geometry& g);
// Smallest physical size (in blocks) that holds the metadata and one slab.
uint64_t minimum_physical_blocks(const LayoutRequest& req);

class Layout {
 public:
  explicit Layout(const Geometry& g);

  uint64_t slab_blocks() const { return uint64_t{1} << slab_bits_; }
  uint32_t slab_bits() const { return slab_bits_; }
  uint64_t data_blocks_per_slab() const { return data_per_slab_; }
  uint64_t ref_blocks_per_slab() const { return ref_per_slab_; }
  uint64_t slab_count() const { return slab_count_; }
  uint64_t depot_start() const { return depot_start_; }
  uint64_t data_capacity() const { return slab_count_ * data_per_slab_; }

  uint64_t slab_start(uint64_t slab) const { return depot_start_ + (slab << slab_bits_); }
  // The PBN of the `i`-th data block of `slab`.
  Pbn data_pbn(uint64_t slab, uint64_t i) const { return Pbn{slab_start(slab) + i}; }
  // True for PBNs that are data blocks of some slab (valid mapping targets).
  bool is_data_block(Pbn pbn) const;
  uint64_t slab_of(Pbn pbn) const { return (raw(pbn) - depot_start_) >> slab_bits_; }
  uint64_t offset_in_slab(Pbn pbn) const { return (raw(pbn) - depot_start_) & (slab_blocks() - 1); }
  // Location of the reference-count block holding counts [k*3968, (k+1)*3968) of `slab`.
  uint64_t ref_block_pbn(uint64_t slab, uint64_t k) const {
    return slab_start(slab) + data_per_slab_ + k;
  }

  uint64_t root_pbn(uint32_t root) const { return roots_start_ + root; }
  uint64_t journal_start() const { return journal_start_; }
  uint32_t journal_blocks() const { return journal_blocks_; }
  uint64_t index_start() const { return index_start_; }
  uint64_t index_blocks() const { return index_blocks_; }
  uint64_t physical_blocks() const { return physical_blocks_; }
  // Everything that is not a slab data block: geometry, super, index, roots, journal, refcounts,
  // and the unusable tail.
  uint64_t overhead_blocks() const { return physical_blocks_ - data_capacity(); }

 private:
  uint32_t slab_bits_;
  uint64_t data_per_slab_;
  uint64_t ref_per_slab_;
  uint64_t slab_count_;
  uint64_t depot_start_;
  uint64_t roots_start_;
  uint64_t journal_start_;
  uint32_t journal_blocks_;
  uint64_t index_start_;
  uint64_t index_blocks_;
  uint64_t physical_blocks_;
};

// Reference-count blocks needed by a slab of 2^bits blocks.
uint64_t ref_blocks_for_slab(uint32_t slab_bits);

}  // namespace vdofs::format
