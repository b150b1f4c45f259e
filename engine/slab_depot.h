// SlabDepot: the physical space. The data region is cut into slabs of 2^slab_bits blocks; each
// slab ends with its reference-count blocks (format/ref_block.h). All counts live in memory
// (1 byte per data block) and are written back lazily, one reference-count block at a time,
// stamped with the journal point they include.
//
// Ownership: slab n belongs to physical zone n % P (routing.h); its Slab object is only touched by
// that zone's thread (or the setup thread). The depot itself is immutable after load.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "engine/base/result.h"
#include "engine/format/layout.h"
#include "engine/format/ref_block.h"
#include "engine/io/block_device.h"

namespace vdofs::engine {

// A recovery-journal point: (sequence << 8) | entry index. Reference-count sectors record the
// first point they do not yet include.
inline uint64_t journal_point(uint64_t seq, uint32_t entry) { return (seq << 8) | entry; }

struct RefBlockState {
  bool dirty = false;
  uint64_t dirty_seq = 0;
  uint64_t dirty_seq_after = 0;
  uint64_t version = 0;
  bool writing = false;
  uint64_t writing_version = 0;
};

struct Slab {
  uint64_t index = 0;
  uint64_t data_blocks = 0;
  std::vector<uint8_t> counts;  // per data block; kProvisionalCount = allocated, uncommitted
  // Per data block, in memory only: bumped (to a zone-unique value) every time the block is
  // allocated. Advice carrying the generation a block had when it was written proves, within one
  // mount, that the block still holds that content (it cannot change without a reallocation).
  // Empty when generation proofs are off.
  std::vector<uint32_t> generations;
  std::vector<uint64_t> stamps;  // per reference-count sector: first journal point not on disk
  std::vector<RefBlockState> ref_blocks;
  uint64_t free_blocks = 0;  // counts == 0 (claims aside)
  uint64_t used_blocks = 0;  // 1..254
  uint64_t cursor = 0;       // allocation scan position
};

class SlabDepot {
 public:
  explicit SlabDepot(const format::Layout& layout) : layout_(layout) {}

  // Reads every reference-count block. With `tolerant`, sectors that fail validation count as
  // empty with stamp 0 (the journal replay or a rebuild must then fix them); otherwise the first
  // invalid sector fails the load.
  Result<void> load(io::BlockDevice& device, uint64_t nonce, bool tolerant,
                    uint64_t* invalid_sectors);
  // Writes empty reference-count blocks for every slab (mkfs).
  static Result<void> format(io::BlockDevice& device, const format::Layout& layout, uint64_t nonce,
                             void (*progress)(uint64_t done, uint64_t total));

  Slab& slab(uint64_t n) { return *slabs_[n]; }
  uint64_t slab_count() const { return slabs_.size(); }
  const format::Layout& layout() const { return layout_; }

  // Encodes reference-count block k of a slab (stamping every sector with `stamp`).
  void encode_ref_block(const Slab& slab, uint64_t k, uint64_t stamp, uint64_t nonce,
                        std::span<std::byte, kBlockSize> out) const;

 private:
  const format::Layout& layout_;
  std::vector<std::unique_ptr<Slab>> slabs_;
};

}  // namespace vdofs::engine
