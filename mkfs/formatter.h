// Formatting a backing store: choosing the geometry (slab size, journal size, index size,
// logical size) and writing the initial metadata. O(physical size) for the reference counts and
// O(1) in the logical size: the block map is allocated on demand after format.
#pragma once

#include <cstdint>
#include <string>

#include "engine/base/result.h"
#include "engine/format/geometry.h"
#include "engine/io/block_device.h"

namespace vdofs::mkfs {

struct FormatOptions {
  uint64_t physical_blocks = 0;  // blocks of the backing store to use
  uint64_t logical_blocks = 0;   // 0 = about the data capacity (1:1)
  uint32_t slab_bits = 0;        // 0 = chosen from the physical size
  uint64_t index_memory = 0;     // 0 = sized to the volume
  bool sparse_index = false;
  uint32_t journal_blocks = 0;  // 0 = chosen from the physical size
  std::string name = "vol0";
};

struct FormatPlan {
  format::Geometry geometry;
  uint64_t logical_blocks = 0;
  uint64_t data_capacity_blocks = 0;
  uint64_t slab_count = 0;
  uint64_t max_physical_blocks = 0;  // what the slab size allows the volume to grow to
  uint64_t minimum_physical_blocks = 0;
};

uint32_t default_slab_bits(uint64_t physical_blocks);
uint32_t default_journal_blocks(uint64_t physical_blocks);
uint64_t default_index_memory(uint64_t physical_blocks);

// Computes the geometry without writing. Fails with too_small (plan.minimum_physical_blocks is
// then set) or invalid_argument.
Result<FormatPlan> plan_format(const FormatOptions& options, FormatPlan* partial = nullptr);

// Writes a new volume. `progress(done, total)` is called while the reference counts are written.
Result<FormatPlan> format_volume(io::BlockDevice& device, const FormatOptions& options,
                                 void (*progress)(uint64_t, uint64_t) = nullptr);

}  // namespace vdofs::mkfs
