// Recovery after an unclean shutdown (setup phase, before the zone threads start): read the
// recovery journal, find the valid run of blocks from the head to the tail, and replay it into
// the block map (new mappings, in journal order; tree-page allocations recreate their pages) and
// into the reference counts (only the deltas a reference-count sector does not already include,
// by its stamp). Then write back everything and flush; the caller marks the volume dirty with a
// fresh journal start beyond every sequence number seen.
#pragma once

#include <cstdint>

#include "engine/base/result.h"
#include "engine/format/super_block.h"

namespace vdofs::engine {

class Volume;

struct RecoveryResult {
  uint64_t next_sequence = 0;
  uint64_t logical_blocks_used = 0;
  uint64_t entries = 0;
  uint64_t blocks = 0;
  double seconds = 0;
};

struct ReplayOptions {
  bool apply_reference_counts = true;  // false: block map only (read-only volumes, rebuilds)
  bool write_back = true;              // false: leave the replayed pages in memory only
};

Result<RecoveryResult> replay_journal(Volume& volume, const format::SuperBlock& super,
                                      const ReplayOptions& options = {});

}  // namespace vdofs::engine
