// Volume statistics, named and defined as vdostats does (reference §7.3). Counters are updated
// by their owning threads with relaxed atomics and read racily by the stats reader.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace vdofs::engine {

struct Counter {
  std::atomic<uint64_t> v{0};
  void add(uint64_t n = 1) { v.fetch_add(n, std::memory_order_relaxed); }
  void sub(uint64_t n = 1) { v.fetch_sub(n, std::memory_order_relaxed); }
  void set(uint64_t n) { v.store(n, std::memory_order_relaxed); }
  uint64_t get() const { return v.load(std::memory_order_relaxed); }
};

struct VolumeCounters {
  Counter bios_in_read, bios_in_write, bios_in_discard, bios_in_flush, bios_in_fua;
  Counter bios_in_partial_write;
  Counter blocks_read, blocks_written, blocks_discarded;
  Counter dedupe_advice_valid, dedupe_advice_stale, dedupe_advice_timeouts;
  Counter dedupe_verify_reads, dedupe_verify_skipped;  // hits verified by read vs by generation
  Counter concurrent_data_matches;
  Counter zero_blocks_written;
  Counter no_space_errors, read_only_errors;
  Counter journal_entries_committed, journal_blocks_committed, journal_commits;
  Counter journal_full_waits, checkpoints;
  Counter block_map_pages_loaded, block_map_pages_written, ref_blocks_written;
  Counter data_block_writes, data_block_reads, metadata_flushes;
  Counter reference_overflow_copies;  // 254-reference rollovers
  Counter tree_pages;                 // block-map pages allocated from slabs (not roots)
};

// A snapshot for vdofs-stats.
struct VolumeStats {
  std::string name;
  uint64_t block_size = 4096;
  uint64_t logical_blocks = 0;
  uint64_t physical_blocks = 0;
  uint64_t data_capacity_blocks = 0;
  uint64_t logical_blocks_used = 0;
  uint64_t data_blocks_used = 0;
  uint64_t overhead_blocks_used = 0;
  uint64_t block_map_pages = 0;
  int saving_percent = -1;     // -1 = N/A (nothing written, or read-only)
  std::string operating_mode;  // normal, recovering, read-only
  uint64_t completed_recovery_count = 0;
  uint64_t read_only_recovery_count = 0;
  uint64_t slab_count = 0;
  uint64_t slab_blocks = 0;
  uint64_t dedupe_advice_valid = 0, dedupe_advice_stale = 0, dedupe_advice_timeouts = 0;
  uint64_t dedupe_verify_reads = 0, dedupe_verify_skipped = 0;
  uint64_t concurrent_data_matches = 0;
  uint64_t bios_in_write = 0, bios_in_read = 0, bios_in_discard = 0, bios_in_flush = 0;
  uint64_t bios_in_fua = 0, bios_in_partial_write = 0;
  uint64_t recovery_journal_entries_committed = 0;
  uint64_t recovery_journal_blocks_committed = 0;
  uint64_t journal_disk_full_count = 0;
  uint64_t checkpoints = 0;
  uint64_t index_entries = 0, index_memory_bytes = 0, index_capacity = 0;
  uint64_t index_posts = 0, index_queries = 0, index_updates = 0, index_found = 0;
  uint64_t index_bypassed = 0, index_discarded = 0, index_chapters_written = 0, index_syncs = 0;
  uint64_t index_page_cache_hits = 0, index_page_reads = 0, index_sparse_cache_hits = 0;
  uint64_t index_volume_index_bytes = 0, index_rebuilt_records = 0;
  std::string index_state, index_open_result;
  uint64_t no_space_error_count = 0, read_only_error_count = 0;
  uint64_t current_vios_in_progress = 0, max_vios_in_progress = 0;
  uint64_t block_map_pages_loaded = 0, block_map_pages_written = 0, ref_blocks_written = 0;
  uint64_t data_block_writes = 0, data_block_reads = 0, metadata_flushes = 0;
  uint64_t zero_blocks_written = 0;
  std::string threads;  // "logical=1 physical=1 hash=1 io=2 index=1 cpu=2"

  std::string to_json() const;  // one JSON object
};

}  // namespace vdofs::engine
