#include "engine/stats.h"

#include <cinttypes>
#include <cstdio>

namespace vdofs::engine {

namespace {
void add(std::string& out, const char* key, uint64_t v) {
  char buf[96];
  snprintf(buf, sizeof buf, "%s\"%s\": %" PRIu64, out.size() > 1 ? ", " : "", key, v);
  out += buf;
}
void add_str(std::string& out, const char* key, const std::string& v) {
  out += out.size() > 1 ? ", " : "";
  out += "\"";
  out += key;
  out += "\": \"";
  for (char c : v) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += "\"";
}
}  // namespace

std::string VolumeStats::to_json() const {
  std::string o = "{";
  add_str(o, "name", name);
  add(o, "block_size", block_size);
  add(o, "logical_blocks", logical_blocks);
  add(o, "physical_blocks", physical_blocks);
  add(o, "data_capacity_blocks", data_capacity_blocks);
  add(o, "logical_blocks_used", logical_blocks_used);
  add(o, "data_blocks_used", data_blocks_used);
  add(o, "overhead_blocks_used", overhead_blocks_used);
  add(o, "block_map_pages", block_map_pages);
  o += ", \"saving_percent\": ";
  o += saving_percent < 0 ? "null" : std::to_string(saving_percent);
  add_str(o, "operating_mode", operating_mode);
  add(o, "completed_recovery_count", completed_recovery_count);
  add(o, "read_only_recovery_count", read_only_recovery_count);
  add(o, "slab_count", slab_count);
  add(o, "slab_blocks", slab_blocks);
  add(o, "dedupe_advice_valid", dedupe_advice_valid);
  add(o, "dedupe_advice_stale", dedupe_advice_stale);
  add(o, "dedupe_advice_timeouts", dedupe_advice_timeouts);
  add(o, "dedupe_verify_reads", dedupe_verify_reads);
  add(o, "dedupe_verify_skipped", dedupe_verify_skipped);
  add(o, "concurrent_data_matches", concurrent_data_matches);
  add(o, "bios_in_write", bios_in_write);
  add(o, "bios_in_read", bios_in_read);
  add(o, "bios_in_discard", bios_in_discard);
  add(o, "bios_in_flush", bios_in_flush);
  add(o, "bios_in_fua", bios_in_fua);
  add(o, "bios_in_partial_write", bios_in_partial_write);
  add(o, "recovery_journal_entries_committed", recovery_journal_entries_committed);
  add(o, "recovery_journal_blocks_committed", recovery_journal_blocks_committed);
  add(o, "journal_disk_full_count", journal_disk_full_count);
  add(o, "checkpoints", checkpoints);
  add(o, "index_entries", index_entries);
  add(o, "index_memory_bytes", index_memory_bytes);
  add(o, "index_capacity", index_capacity);
  add(o, "index_posts", index_posts);
  add(o, "index_queries", index_queries);
  add(o, "index_updates", index_updates);
  add(o, "index_found", index_found);
  add_str(o, "index_state", index_state);
  add_str(o, "index_open_result", index_open_result);
  add(o, "index_bypassed", index_bypassed);
  add(o, "index_discarded", index_discarded);
  add(o, "index_chapters_written", index_chapters_written);
  add(o, "index_syncs", index_syncs);
  add(o, "index_page_cache_hits", index_page_cache_hits);
  add(o, "index_page_reads", index_page_reads);
  add(o, "index_sparse_cache_hits", index_sparse_cache_hits);
  add(o, "index_volume_index_bytes", index_volume_index_bytes);
  add(o, "index_rebuilt_records", index_rebuilt_records);
  add(o, "no_space_error_count", no_space_error_count);
  add(o, "read_only_error_count", read_only_error_count);
  add(o, "current_vios_in_progress", current_vios_in_progress);
  add(o, "max_vios_in_progress", max_vios_in_progress);
  add(o, "block_map_pages_loaded", block_map_pages_loaded);
  add(o, "block_map_pages_written", block_map_pages_written);
  add(o, "ref_blocks_written", ref_blocks_written);
  add(o, "data_block_writes", data_block_writes);
  add(o, "data_block_reads", data_block_reads);
  add(o, "metadata_flushes", metadata_flushes);
  add(o, "zero_blocks_written", zero_blocks_written);
  add_str(o, "threads", threads);
  o += "}";
  return o;
}

}  // namespace vdofs::engine
