// BlockMapZone: the part of the block map one logical zone owns: the trees whose root index
// maps to this zone (routing.h), kept whole in memory for the interior levels, and a cache of
// leaf pages loaded on demand.
//
// Owner: the logical zone thread (logQ<n>) of its LogicalZone; every method asserts it.
//
// Tree shape (format/block_map_page.h): 60 trees, 4 levels. For leaf index L = LBN / 800,
// tree t = L % 60 and w = L / 60; the page at level l (0 = leaf, 3 = root) has index
// (w / 800^l) * 60 + t and sits in slot (w / 800^l) % 800 of its parent. Roots are preallocated
// by mkfs; all other pages are allocated from slabs on first write, journalled as TREE_PAGE
// entries, and never freed.
//
// Write-back: a page records the journal sequence of its oldest change not yet written
// (dirty_seq). write_back(before) writes every page with dirty_seq < before; the recovery journal
// may then move its head up to `before` (see recovery_journal.h, checkpoints).
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <unordered_map>
#include <vector>

#include "engine/base/types.h"
#include "engine/data_vio.h"
#include "engine/io_request.h"

namespace vdofs::engine {

class Volume;

struct MetadataPage {
  uint32_t level = 0;
  uint64_t index = 0;  // page index at its level
  Pbn pbn{};
  std::unique_ptr<std::byte[]> bytes;
  bool dirty = false;
  uint64_t dirty_seq = 0;        // oldest unwritten change
  uint64_t dirty_seq_after = 0;  // oldest change made while a write was in flight
  uint64_t version = 0;          // bumps on every change
  bool writing = false;
  bool invalid = false;  // failed validation at load; replay must recreate it
  uint64_t writing_version = 0;
  std::span<std::byte, kBlockSize> span() {
    return std::span<std::byte, kBlockSize>(bytes.get(), kBlockSize);
  }
};

class BlockMapZone;

struct LeafPage : MetadataPage {
  BlockMapZone* zone = nullptr;
  bool ready = false;          // bytes hold the page
  bool loading = false;        // a read is in flight
  uint32_t pins = 0;           // DataVios holding a slot of this page across a hop
  DataVio* waiters = nullptr;  // waiting for the load (chained by wait_next)
  std::list<uint64_t>::iterator lru;
  IoRequest io;
};

struct LeafLookup {
  bool found = false;  // the leaf page exists (pbn valid)
  Pbn pbn{};
  int missing_level = -1;  // when !found: the highest level whose page does not exist
};

class BlockMapZone {
 public:
  BlockMapZone(Volume& volume, uint32_t zone, uint32_t owner_thread, uint64_t cache_pages);
  ~BlockMapZone();

  // Setup phase: loads the roots of this zone's trees and every interior page below them.
  // With `tolerant`, invalid interior pages are kept as placeholders for replay to recreate.
  Result<void> load_tree(bool tolerant);
  // Walks the in-memory interior levels to the leaf of `leaf_index`.
  LeafLookup find_leaf(uint64_t leaf_index) const;
  // Returns the pinned, ready leaf page, or nullptr after queueing dv to be relaunched (via
  // `resume`) once the page is loaded. A load failure puts the volume read-only and resumes the
  // waiters with page == nullptr and dv->result set.
  LeafPage* get_leaf(uint64_t leaf_index, Pbn pbn, DataVio* dv, void (*resume)(void*));
  // Pins a cached ready leaf without I/O (nullptr if not cached).
  LeafPage* peek_leaf(uint64_t leaf_index);
  void unpin(LeafPage* page);
  // Starts loading a leaf if it is not cached (no waiter; for discard probes).
  void prefetch_leaf(uint64_t leaf_index, Pbn pbn);
  void set_entry(LeafPage* page, uint32_t slot, Mapping m, uint64_t seq);

  // Links a newly allocated page (journalled at `seq`) below its parent, creating it empty.
  // Leaves come back pinned.
  LeafPage* add_page(uint32_t level, uint64_t index, Pbn pbn, uint64_t seq);

  // Writes every page with dirty_seq < before (all dirty pages if before == UINT64_MAX) and calls
  // done(arg) on this thread once they are all written (not flushed).
  void write_back(uint64_t before, void (*done)(void*), void* arg);
  uint64_t dirty_pages() const { return dirty_count_; }
  uint64_t cached_leaves() const { return leaves_.size(); }
  // Setup phase: non-root pages linked into this zone's trees.
  uint64_t count_tree_pages() const;

  // Setup phase (recovery): synchronous leaf access, and direct linking.
  Result<LeafPage*> load_leaf_sync(uint64_t leaf_index, Pbn pbn);
  // Setup phase: write everything dirty synchronously.
  Result<void> write_all_sync();
  // Setup phase: the interior pages that failed validation at load (recovery may recreate them).
  uint64_t invalid_pages() const;

  static uint64_t page_index(uint64_t leaf_index, uint32_t level);
  static uint32_t slot_in_parent(uint64_t leaf_index, uint32_t level);

 private:
  friend class LogicalZone;
  void assert_owner(const char* fn) const;
  MetadataPage* tree_page(uint32_t level, uint64_t index) const;
  void mark_dirty(MetadataPage& p, uint64_t seq);
  static void page_loaded(void* arg);
  static void batch_written(void* arg);
  void start_batch();
  void evict_some();
  void finish_write_back_waiters();

  Volume& volume_;
  uint32_t zone_;
  uint32_t owner_;
  uint64_t cache_pages_;
  std::unordered_map<uint64_t, std::unique_ptr<MetadataPage>> interior_;  // key: tree_page_key
  std::unordered_map<uint64_t, std::unique_ptr<LeafPage>> leaves_;
  std::list<uint64_t> lru_;  // front = most recently used leaf index
  uint64_t dirty_count_ = 0;

  struct Batch {
    Volume* volume;
    BlockMapZone* zone;
    IoRequest io;
    std::vector<MetadataPage*> pages;
    std::vector<std::unique_ptr<std::byte[]>> buffers;
  };
  bool batch_in_flight_ = false;
  struct WriteBackWaiter {
    uint64_t before;
    void (*done)(void*);
    void* arg;
  };
  std::vector<WriteBackWaiter> write_back_waiters_;
};

}  // namespace vdofs::engine
