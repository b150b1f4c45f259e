// Partition: one independent sub-index (a slice of the name space chosen by the top bits of the
// name): its volume index, its open chapter, the closed chapters still being written, the page
// maps of its chapters on disk, its sparse chapter-index cache and its checkpoint bookkeeping.
//
// Threads: everything here is owned by exactly one thread at a time: the zone thread indexQ<z>
// that serves the partition while the index is online; before that the loader thread (load or
// rebuild), which hands it over by publishing the "online" state; after stop() the thread that
// calls save() or sync(). Counters are atomics so stats() may read them from any thread.
//
// Request flow (process): the open chapter's hash table first, then the volume index candidates
// (newest chapter first: a writing chapter in memory, or a chapter on disk through its page map,
// one index page and one record page via the page cache), then in sparse mode the cached chapter
// indexes. A hit is copied into the open chapter (LRU-like refresh) and its volume-index entry
// moved to the open chapter; a POST miss or an UPDATE appends the new advice.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "index/chapter.h"
#include "index/geometry.h"
#include "index/index.h"
#include "index/volume_index.h"

namespace vdofs::index {

class UdsIndex;

// Dirty record pages of one chapter, copied out for the writer thread.
struct CheckpointJob {
  UdsIndex* index = nullptr;
  uint32_t partition = 0;
  uint64_t chapter = 0;
  std::vector<uint32_t> pages;    // record-page index k in the chapter
  std::vector<uint16_t> counts;   // records in each
  std::vector<std::byte> blocks;  // pages.size() blocks; payload filled, header sealed by writer
};

struct PartitionCounters {
  std::atomic<uint64_t> posts{0}, queries{0}, updates{0}, found{0}, not_found{0}, discarded{0};
  std::atomic<uint64_t> entries{0}, chapters_closed{0}, sparse_hits{0}, dynamic_bytes{0};
};

class Partition {
 public:
  Partition(UdsIndex& index, uint32_t id, const Geometry& g);

  // A chapter page a lookup needs that is not in the page cache.
  struct PageMiss {
    uint64_t block = 0;
    PageKind kind = PageKind::kRecords;
    uint64_t chapter = 0;
    uint32_t page = 0;
  };
  // Zone thread, index online: answers the request (calls its callback) and returns true. With
  // allow_defer, a lookup that needs a chapter page which is not cached stops there instead,
  // with no side effect, and returns false: last_miss() names the page to read (UdsIndex has a
  // reader thread load it, then submits the request again). Without, pages are read inline.
  bool process(Request* r, bool allow_defer);
  const PageMiss& last_miss() const { return miss_; }
  // Moves the dirty open-chapter pages into a job (null if nothing is dirty).
  std::unique_ptr<CheckpointJob> collect_checkpoint();
  // Installs the page maps of chapters the writer has finished.
  void reap_written();

  // Loader / save (exclusive access).
  void reset(uint64_t open_chapter);  // empty: nothing indexed, open chapter `open_chapter`
  uint64_t open_chapter() const { return vi_.open_chapter(); }
  VolumeIndex& volume_index() { return vi_; }
  ChapterBuf& open_buf() { return *open_; }
  std::vector<uint32_t>& page_maps() { return page_maps_; }
  std::span<uint32_t> page_map(uint64_t chapter) {
    return {page_maps_.data() + (chapter % g_.chapters) * g_.index_pages, g_.index_pages};
  }
  bool writes_pending() const { return !writing_.empty(); }
  void mark_all_clean() { std::fill(dirty_.begin(), dirty_.end(), 0); }
  void mark_dirty(uint32_t record_index) {
    const uint32_t k = record_index / kRecordsPerPage;
    dirty_[k / 64] |= uint64_t{1} << (k % 64);
  }
  void publish_counts();
  uint64_t static_bytes() const;

  const uint32_t id;
  PartitionCounters counters;

 private:
  struct Found {
    bool found = false;
    bool missed = false;  // stopped at a page that is not cached (deferral)
    Advice advice;
    int open_index = -1;    // found in the open chapter
    bool has_slot = false;  // found through this volume-index slot
    uint64_t slot = 0;
  };
  struct SparseEntry {
    uint64_t chapter = 0;
    uint64_t last_use = 0;
    std::vector<uint32_t> keys;
    std::vector<uint16_t> pages;
  };

  Found lookup(const RecordName& name, const VolumeIndex::Key& key);
  // A chapter page through the cache; while deferring, only a cached one (a miss is noted).
  std::shared_ptr<const std::vector<std::byte>> fetch(uint64_t block, PageKind kind,
                                                      uint64_t chapter, uint32_t page);
  bool search_chapter(uint64_t chapter, const RecordName& name, Advice* out);
  bool search_disk_chapter(uint64_t chapter, const RecordName& name, Advice* out);
  bool search_record_page(uint64_t chapter, uint32_t page, const RecordName& name, Advice* out);
  bool search_sparse_cache(const RecordName& name, Advice* out);
  bool is_sparse_chapter(uint64_t chapter) const {
    return g_.sparse && open_chapter() - chapter > g_.dense_chapters;
  }
  bool in_window(uint64_t chapter) const {
    return chapter < open_chapter() && open_chapter() - chapter <= g_.chapters;
  }
  void load_sparse(uint64_t chapter);
  void refresh(const RecordName& name, const VolumeIndex::Key& key, const Found& f,
               const Advice& advice);
  void add(const RecordName& name, const VolumeIndex::Key& key, const Advice& advice);
  void close_chapter();
  void update_dynamic_bytes();

  UdsIndex& index_;
  const Geometry& g_;
  VolumeIndex vi_;
  std::shared_ptr<ChapterBuf> open_;
  std::deque<std::shared_ptr<ChapterBuf>> writing_;  // closed, not yet written (oldest first)
  std::vector<uint32_t> page_maps_;                  // chapters x index_pages
  std::vector<uint64_t> dirty_;                      // record pages of the open chapter to sync
  std::vector<SparseEntry> sparse_cache_;
  uint64_t use_clock_ = 0;
  bool defer_ = false;   // this lookup may stop at an uncached page
  bool missed_ = false;  // ... and did
  PageMiss miss_;
};

}  // namespace vdofs::index
