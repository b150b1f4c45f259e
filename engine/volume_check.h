// Offline consistency check of a backing store, independent of the running engine: it reads the
// on-disk metadata directly (format/ codecs only) and checks that
//   - every metadata block validates (geometry, super block, block-map pages, reference counts),
//   - every mapping points inside the data region,
//   - every data block's reference count equals the number of mappings to it (block-map pages
//     count one reference each, from their parent).
// With repair, it rebuilds the reference counts from the block map (VDO's force rebuild),
// unmaps impossible mappings, reinitialises unreadable leaf pages (their mappings are lost),
// resets the journal and marks the volume clean, leaving read-only mode.
//
// The volume must be clean (shut down cleanly or recovered); a dirty volume is recovered first by
// the caller (vdofs-check does it by opening the volume like a mount).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/base/result.h"
#include "engine/io/block_device.h"

namespace vdofs::engine {

struct CheckOptions {
  bool repair = false;
  size_t max_reported = 20;  // problems listed in the report
  void (*progress)(const char* phase, uint64_t done, uint64_t total) = nullptr;
};

struct CheckReport {
  uint64_t logical_blocks = 0;
  uint64_t mapped_lbns = 0;  // including zero-block mappings
  uint64_t zero_lbns = 0;
  uint64_t referenced_blocks = 0;  // distinct data blocks with references
  uint64_t references = 0;         // mappings to data blocks
  uint64_t tree_pages = 0;         // non-root block-map pages
  uint64_t bad_pages = 0;          // block-map pages that fail validation
  uint64_t bad_mappings = 0;       // mappings outside the data region
  uint64_t bad_ref_sectors = 0;    // reference-count sectors that fail validation
  uint64_t refcount_mismatches = 0;
  uint64_t over_limit = 0;  // blocks with more than 254 mappings
  std::string state;        // super-block state before the check
  bool repaired = false;
  uint64_t repairs = 0;  // counts rewritten + mappings removed + pages reset
  std::vector<std::string> problems;

  uint64_t problem_count() const {
    return bad_pages + bad_mappings + bad_ref_sectors + refcount_mismatches + over_limit;
  }
};

Result<CheckReport> check_volume(io::BlockDevice& device, const CheckOptions& options);

// What vdofs-check does: a dirty volume is recovered first (its journal replayed, as a mount
// would); with options.repair, a read-only or unrecoverable volume has its journal replayed into
// the block map and its reference counts rebuilt; then the check (and repair) runs.
// `say(message)` reports each step (may be null).
Result<CheckReport> check_and_repair(io::BlockDevice& device, const CheckOptions& options,
                                     void (*say)(const char* message) = nullptr);

}  // namespace vdofs::engine
