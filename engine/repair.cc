#include "engine/repair.h"

#include <chrono>
#include <vector>

#include "engine/base/log.h"
#include "engine/base/sync_point.h"
#include "engine/block_map.h"
#include "engine/format/block_map_page.h"
#include "engine/format/journal_block.h"
#include "engine/logical_zone.h"
#include "engine/physical_zone.h"
#include "engine/slab_depot.h"
#include "engine/volume.h"

namespace vdofs::engine {

using format::JournalBlock;
using format::JournalOp;
using format::kJournalEntriesPerBlock;

namespace {

constexpr uint64_t kScanChunk = 256;

struct Scan {
  bool found = false;
  uint64_t tail = 0;  // highest valid sequence
  uint64_t head = 0;
};

Result<Scan> scan(Volume& v, const format::SuperBlock& super) {
  const format::Layout& layout = v.layout();
  const uint64_t size = layout.journal_blocks();
  std::vector<std::byte> buf(kScanChunk * kBlockSize);
  Scan s;
  for (uint64_t first = 0; first < size; first += kScanChunk) {
    uint64_t n = std::min(kScanChunk, size - first);
    VDOFS_TRY(v.device().read(layout.journal_start() + first,
                              std::span<std::byte>(buf.data(), n * kBlockSize)));
    for (uint64_t i = 0; i < n; ++i) {
      uint64_t location = first + i;
      auto b = format::decode_journal_block(
          std::span<const std::byte, kBlockSize>(buf.data() + i * kBlockSize, kBlockSize),
          v.nonce(), layout.journal_start() + location);
      if (!b) continue;
      uint64_t seq = b->header.sequence;
      if (seq < super.journal_start || (seq & (size - 1)) != location) continue;
      if (!s.found || seq > s.tail) s.tail = seq;
      s.head = std::max(s.head, b->header.head);
      s.found = true;
    }
  }
  if (s.found) s.head = std::max(s.head, super.journal_start);
  return s;
}

}  // namespace

Result<RecoveryResult> replay_journal(Volume& v, const format::SuperBlock& super,
                                      const ReplayOptions& options) {
  const bool refs = options.apply_reference_counts;
  auto t0 = std::chrono::steady_clock::now();
  RecoveryResult rr;
  rr.logical_blocks_used = super.logical_blocks_used;
  rr.next_sequence = super.journal_start;
  VDOFS_ASSIGN(Scan s, scan(v, super));
  const format::Layout& layout = v.layout();
  const uint64_t size = layout.journal_blocks();
  if (s.found) {
    rr.next_sequence = s.tail + 1;
    std::vector<std::byte> buf(kBlockSize);
    uint64_t lbu = super.logical_blocks_used;
    for (uint64_t seq = s.head; seq <= s.tail; ++seq) {
      uint64_t location = layout.journal_start() + (seq & (size - 1));
      VDOFS_TRY(v.device().read(location, buf));
      auto b = format::decode_journal_block(
          std::span<const std::byte, kBlockSize>(buf.data(), kBlockSize), v.nonce(), location);
      if (!b || b->header.sequence != seq) break;
      lbu = b->header.logical_blocks_used;
      for (uint32_t i = 0; i < b->entries.size(); ++i) {
        const format::JournalEntry& e = b->entries[i];
        const uint64_t point = journal_point(seq, i);
        if (e.op == JournalOp::kTreePage) {
          uint32_t level = format::tree_page_level(e.key);
          uint64_t index = format::tree_page_index(e.key);
          if (level > 2 || !layout.is_data_block(e.new_mapping.pbn)) return errc::corrupt_journal;
          uint32_t zone = v.routing().logical_zone_of_tree(Routing::tree_of_leaf(index));
          LeafPage* p =
              v.logical_zone(zone).block_map().add_page(level, index, e.new_mapping.pbn, seq);
          if (p) v.logical_zone(zone).block_map().unpin(p);
          if (refs) {
            uint32_t pz = v.routing().physical_zone_of_slab(layout.slab_of(e.new_mapping.pbn));
            VDOFS_TRY(v.physical_zone(pz).replay_delta(e.new_mapping.pbn, +1, point));
          }
        } else {
          Lbn lbn{e.key};
          if (e.key >= v.logical_blocks()) return errc::corrupt_journal;
          for (const Mapping& m : {e.new_mapping, e.old_mapping})
            if (m.references_block() && !layout.is_data_block(m.pbn)) return errc::corrupt_journal;
          uint32_t zone = v.routing().logical_zone_of(lbn);
          BlockMapZone& bm = v.logical_zone(zone).block_map();
          uint64_t leaf = Routing::leaf_index_of(lbn);
          LeafLookup lk = bm.find_leaf(leaf);
          if (!lk.found) {
            log::error("journal entry for LBN %llu has no block-map leaf",
                       static_cast<unsigned long long>(e.key));
            return errc::corrupt_journal;
          }
          VDOFS_ASSIGN(LeafPage * page, bm.load_leaf_sync(leaf, lk.pbn));
          bm.set_entry(page, static_cast<uint32_t>(e.key % format::kEntriesPerPage), e.new_mapping,
                       seq);
          if (refs && e.new_mapping.references_block()) {
            uint32_t pz = v.routing().physical_zone_of_slab(layout.slab_of(e.new_mapping.pbn));
            VDOFS_TRY(v.physical_zone(pz).replay_delta(e.new_mapping.pbn, +1, point));
          }
          if (refs && e.old_mapping.references_block()) {
            uint32_t pz = v.routing().physical_zone_of_slab(layout.slab_of(e.old_mapping.pbn));
            VDOFS_TRY(v.physical_zone(pz).replay_delta(e.old_mapping.pbn, -1, point));
          }
          lbu += (e.new_mapping.is_mapped() ? 1 : 0);
          lbu -= (e.old_mapping.is_mapped() ? 1 : 0);
        }
        ++rr.entries;
      }
      ++rr.blocks;
      rr.logical_blocks_used = lbu;
      if (b->entries.size() < kJournalEntriesPerBlock) break;  // nothing after a partial block
    }
  }
  VDOFS_SYNC_POINT("recovery:replayed");
  for (uint32_t z = 0; z < v.logical_zone_count(); ++z) {
    BlockMapZone& bm = v.logical_zone(z).block_map();
    if (bm.invalid_pages() > 0) {
      log::error("%s: %llu block-map pages are invalid and were not recreated by the journal",
                 v.device().name().c_str(), static_cast<unsigned long long>(bm.invalid_pages()));
      return errc::checksum_mismatch;
    }
    if (options.write_back) VDOFS_TRY(bm.write_all_sync());
  }
  if (options.write_back && refs) {
    for (uint32_t z = 0; z < v.physical_zone_count(); ++z)
      VDOFS_TRY(v.physical_zone(z).write_all_sync(journal_point(rr.next_sequence, 0)));
  }
  if (options.write_back) VDOFS_TRY(v.device().flush());
  VDOFS_SYNC_POINT("recovery:written");
  rr.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return rr;
}

}  // namespace vdofs::engine
