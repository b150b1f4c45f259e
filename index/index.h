// The dedupe index: a database of block names -> advice (where a block with that content was
// written). It is advice only: losing it loses future dedupe, never data.
//
// The API is narrow and asynchronous. The engine's hash zones submit Requests; each is answered
// exactly once by calling request->callback on an index thread (indexQ<n>); the callback must only
// hand the request back to the submitter's zone (enqueue), never block. The index is zoned by bits
// of the name (record_name.h) with one thread per zone, so lookups of different names never
// contend. The implementation (UDS-grade: chapters, compact volume index, sparse mode, save/load,
// sync + crash rebuild) is described in uds_index.h and geometry.h.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "engine/base/result.h"
#include "engine/io/block_device.h"
#include "index/record_name.h"

namespace vdofs::index {

// Advice payload carried with each name: the PBN written, and a proof that it is current (the
// block's reuse generation when it was written; see engine/slab_depot.h).
struct Advice {
  uint64_t pbn = 0;
  uint32_t generation = 0;  // the block's reuse generation when the advice was made
  uint32_t epoch = 0;       // the mount that made it (generations are only valid within it)
  friend bool operator==(const Advice&, const Advice&) = default;
};

enum class RequestType : uint8_t {
  kPost,    // look up; if absent, insert new_advice. VDO's main request.
  kQuery,   // look up only (no allocation to offer)
  kUpdate,  // set new_advice (stale advice was replaced by a new write)
};

struct Request {
  RequestType type = RequestType::kPost;
  RecordName name;
  Advice new_advice;
  // Results (valid in the callback):
  bool found = false;
  Advice advice;  // what the index held before this request
  // Completion, on an index thread:
  void (*callback)(Request*) = nullptr;
  void* context = nullptr;
};

struct IndexConfig {
  uint64_t memory_bytes = 16ull << 20;
  bool sparse = false;
  uint32_t zones = 1;  // index zone threads (1..16; at most one per partition is used)
  // start() waits up to this long for the index to come online (a new index, or a small save or
  // rebuild, is ready at once: the first writes after a mount then dedupe deterministically).
  // Past it, loading/rebuilding goes on in the background. 0 = never wait.
  uint32_t online_wait_ms = 1000;
};

struct IndexStats {
  uint64_t entries = 0;       // names currently indexed
  uint64_t memory_bytes = 0;  // RAM used by the index structures
  uint64_t posts = 0;
  uint64_t queries = 0;
  uint64_t updates = 0;
  uint64_t found = 0;
  uint64_t not_found = 0;
  uint64_t discarded = 0;  // names dropped to stay within the window
  uint64_t capacity = 0;   // names the window holds
  std::string state;       // "online", "loading", "rebuilding", "error", "offline"
  // Added by the UDS-grade index:
  uint64_t volume_index_bytes = 0;  // RAM of the name -> chapter map alone (part of memory_bytes)
  uint64_t bypassed = 0;            // answered not-found because the index was not online
  uint64_t chapters_closed = 0;
  uint64_t chapters_written = 0;
  uint64_t syncs = 0;              // sync batches made durable (group commits)
  uint64_t checkpoint_blocks = 0;  // open-chapter blocks written by syncs
  uint64_t page_cache_hits = 0;
  uint64_t page_reads = 0;         // chapter pages read from the device
  uint64_t page_waits = 0;         // requests that went to a reader thread for a chapter page
  uint64_t sparse_cache_hits = 0;  // names found through a cached sparse chapter index
  uint64_t rebuilt_records = 0;    // records replayed by the last rebuild
  uint64_t recovered_records = 0;  // of which came from checkpointed open chapters
  std::string open_result;         // how the last open found the region: "new", "loaded",
                                   // "rebuilt", "rebuilt (saved index invalid)", "reformatted"
};

// Where the index lives on the backing store.
struct IndexRegion {
  io::BlockDevice* device = nullptr;
  uint64_t start = 0;   // first block of the index region
  uint64_t blocks = 0;  // its length
  uint64_t nonce = 0;   // the volume nonce (stamped into every index block)
};

class DedupeIndex {
 public:
  virtual ~DedupeIndex() = default;
  // Starts the index threads. Requests may be submitted only between start() and stop().
  virtual void start() = 0;
  // Answers everything in flight, then stops the threads.
  virtual void stop() = 0;
  virtual void submit(Request* request) = 0;
  virtual IndexStats stats() const = 0;
  // Writes the index so the next open(load_saved=true) finds every name (clean shutdown).
  // Call only after stop().
  virtual Result<void> save() = 0;
  // Group commit: done(arg) runs (once, on an index thread; it must not block) when every record
  // inserted or updated by a request answered before this call is durable in the index region,
  // so a crash followed by open_index(load_saved=false) finds it again. Concurrent calls share
  // one checkpoint + flush. Call between start() and stop() (after stop() it completes inline).
  virtual void sync(void (*done)(void*), void* arg) = 0;
  // Waits until the index is online (loading or rebuilding finished) or failed, or the timeout
  // passes. True when online. While not online, requests are answered found=false and nothing
  // is inserted.
  virtual bool wait_until_online(std::chrono::milliseconds timeout) = 0;
};

// Opens the index in `region` (too_small if it is smaller than index_region_blocks(config)).
// Only the superblock is read here; start() runs a loader thread that loads the
// last clean save if there is one (whatever load_saved says: the region's own state block knows
// whether the save is current), and otherwise (crash, or a missing/corrupt save) rebuilds the
// index from the chapters on disk plus the synced open-chapter checkpoints. Meanwhile stats()
// says "loading"/"rebuilding" and requests are answered not-found. A region that is not an
// index of this volume (wrong nonce, bad superblock) is reformatted empty ("reformatted").
Result<std::unique_ptr<DedupeIndex>> open_index(const IndexRegion& region,
                                                const IndexConfig& config, bool load_saved);
// Formats an empty index region (mkfs).
Result<void> format_index(const IndexRegion& region, const IndexConfig& config);

// Blocks of backing store the index needs for this memory size and mode.
uint64_t index_region_blocks(uint64_t memory_bytes, bool sparse);
// Default index memory for a volume with this many physical blocks: 4 bytes per block (a dense
// window as large as the volume), rounded up to 1 MiB, at least 1 MiB.
uint64_t default_index_memory(uint64_t physical_blocks);
// The smallest --index-memory mkfs accepts from a user.
inline constexpr uint64_t kMinIndexMemory = 16ull << 20;

}  // namespace vdofs::index
