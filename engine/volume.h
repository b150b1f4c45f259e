// Volume: one deduplicated volume: the engine's hub. It owns the zones, the thread table, the
// DataVio pool, the journal and the index session, and is the client API (submit_* from FUSE
// worker threads or tests; completions arrive on engine threads through UserRequest::complete).
//
// Lifecycle: open() reads the geometry and super block, loads reference counts and the block-map
// tree, replays the recovery journal if the volume was not shut down cleanly, marks the volume
// dirty, then starts the zone threads. close() drains every request, writes back all metadata,
// saves the index and marks the volume clean. Destroying a Volume without close() stops the
// threads without writing anything more (what a crash leaves, used by the crash tests).
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/base/result.h"
#include "engine/data_vio.h"
#include "engine/format/geometry.h"
#include "engine/format/layout.h"
#include "engine/format/super_block.h"
#include "engine/io/block_device.h"
#include "engine/io_request.h"
#include "engine/routing.h"
#include "engine/stats.h"
#include "engine/threads/cpu_pool.h"
#include "engine/threads/thread_config.h"
#include "engine/user_request.h"
#include "index/index.h"

namespace vdofs::engine {

class LogicalZone;
class PhysicalZone;
class HashZone;
class RecoveryJournal;
class SlabDepot;

struct VolumeOptions {
  threads::ThreadCounts threads = threads::ThreadCounts::defaults_for_machine();
  bool dedupe = true;
  uint32_t max_in_flight = 2048;           // DataVio pool size (VDO: 2048)
  uint64_t block_map_cache_pages = 32768;  // leaf-page cache, split over logical zones (128 MiB)
  bool read_only = false;                  // serve reads only, never write the backing store
  uint32_t dedupe_timeout_ms = 5000;       // index lookups slower than this proceed without dedupe
  bool verify_by_generation = true;  // share a block without reading it when advice proves current
  bool defer_start = false;          // open() loads/recovers only; call start() later
  // open() only reads the metadata; recover() (journal replay, marking dirty, opening the index)
  // runs later, e.g. after the daemon has mounted, while stats report "recovering" and I/O waits.
  bool defer_recovery = false;
  // vdofs-check --repair: replay the journal into the block map only and write it back; the
  // caller then rebuilds the reference counts offline. Nothing else is written; never started.
  bool rebuild_block_map = false;
  // Tests: wraps the dedupe index the volume opens (e.g. to delay or drop answers).
  std::function<std::unique_ptr<index::DedupeIndex>(std::unique_ptr<index::DedupeIndex>)>
      index_decorator;
};

class Volume {
 public:
  static Result<std::unique_ptr<Volume>> open(io::BlockDevice& device,
                                              const VolumeOptions& options);
  ~Volume();
  Volume(const Volume&) = delete;
  Volume& operator=(const Volume&) = delete;

  // Finishes opening a volume opened with defer_recovery (then starts it unless defer_start).
  // Any thread; I/O submitted meanwhile waits for it.
  Result<void> recover();
  // True once the volume is fully open (recovered); I/O before that waits.
  bool ready() const { return ready_.load(std::memory_order_acquire); }
  // Starts the zone and index threads (done by open() unless options.defer_start).
  void start();
  // Clean shutdown: drain, write back, save the index, mark clean. Call once, from a non-zone
  // thread, after the last submit_* has been made.
  Result<void> close();

  // ---- client API: any non-zone thread (FUSE workers, tests). May block for backpressure. ----
  void submit_write(UserRequest* r, uint64_t offset, const std::byte* data, size_t len, bool fua);
  void submit_read(UserRequest* r, uint64_t offset, std::byte* out, size_t len);
  // Unmaps whole blocks and zeroes the partial blocks at either end.
  void submit_discard(UserRequest* r, uint64_t offset, uint64_t len);
  // Completes when every write acknowledged before it is durable.
  void submit_flush(UserRequest* r);

  VolumeStats stats() const;
  // Waits until no request is in flight and every zone thread has run what was queued to it, so
  // that stats() is exact (tests). Any non-zone thread.
  void quiesce();
  const std::string& name() const { return geometry_.name; }
  uint64_t logical_bytes() const { return super_.logical_blocks * kBlockSize; }
  uint64_t logical_blocks() const { return super_.logical_blocks; }
  bool is_read_only() const { return read_only_.load(std::memory_order_acquire); }
  std::error_code read_only_reason() const;
  const format::Geometry& geometry() const { return geometry_; }
  const format::Layout& layout() const { return *layout_; }
  uint64_t free_data_blocks() const;
  uint64_t logical_blocks_used() const;
  uint64_t completed_recoveries() const { return super_.complete_recoveries; }
  // This mount's advice epoch (advice from other mounts is verified by reading).
  uint32_t epoch() const { return epoch_; }

  // ---- engine internals (zones) ----
  threads::ThreadConfig& threads() { return *threads_; }
  threads::CpuPool& cpu() { return *cpu_; }
  const Routing& routing() const { return routing_; }
  io::BlockDevice& device() { return device_; }
  uint64_t nonce() const { return geometry_.nonce; }
  LogicalZone& logical_zone(uint32_t z) { return *logical_zones_[z]; }
  PhysicalZone& physical_zone(uint32_t z) { return *physical_zones_[z]; }
  HashZone& hash_zone(uint32_t z) { return *hash_zones_[z]; }
  uint32_t logical_zone_count() const { return static_cast<uint32_t>(logical_zones_.size()); }
  uint32_t physical_zone_count() const { return static_cast<uint32_t>(physical_zones_.size()); }
  RecoveryJournal& journal() { return *journal_; }
  SlabDepot& depot() { return *depot_; }
  index::DedupeIndex* index() { return index_.get(); }
  DataVioPool& pool() { return *pool_; }
  VolumeCounters& counters() { return counters_; }
  const VolumeOptions& options() const { return options_; }

  void launch(uint32_t thread, void (*fn)(void*), void* arg) { threads_->launch(thread, fn, arg); }
  // Hands an I/O to a bio thread; completion comes back on req->reply_thread.
  void submit_io(IoRequest* req);
  // A DataVio's own one-block I/O into/from `buffer`; done(dv) runs on reply_thread.
  void submit_data_io(DataVio* dv, IoKind kind, Pbn pbn, std::byte* buffer, uint32_t reply_thread,
                      void (*done)(DataVio*));
  // Enters read-only mode (first error wins): persisted in the super block, writes then fail.
  void enter_read_only(std::error_code why);
  // The last step of a flush, once every earlier write is journalled: make the dedupe index's
  // records of those writes durable too (so dedupe survives a crash), then complete r.
  void complete_flush(UserRequest* r);
  // Ends a DataVio: returns it to the pool.
  void release_data_vio(DataVio* dv);
  // Acknowledges a DataVio's block to its UserRequest (once).
  void acknowledge(DataVio* dv);

  // Data writes completed / covered by a completed flush (for the preflush skip).
  std::atomic<uint64_t> data_writes_completed{0};
  std::atomic<uint64_t> data_writes_flushed{0};

 private:
  Volume(io::BlockDevice& device, const VolumeOptions& options);
  Result<void> load();
  Result<void> write_super_block(format::VolumeState state);
  static void run_io(void* arg);
  void perform_io(IoRequest* req);
  // Data writes queued on a bio thread are merged: each is parked here and one flush message
  // (queued behind them) writes every contiguous run with a single writev ("plug and merge").
  struct BioQueue {
    Volume* volume = nullptr;
    std::vector<IoRequest*> writes;
    std::vector<IoRequest*> reads;
    bool flush_scheduled = false;
  };
  static void flush_data_writes(void* bio_queue);
  std::vector<BioQueue> bio_queues_;          // one per distinct bio thread
  std::vector<int32_t> bio_queue_of_thread_;  // ThreadId -> index in bio_queues_ (-1: none)
  void start_block(DataVio* dv);
  DataVio* acquire_data_vio();
  // Completes r with an error (and returns true) if it cannot be served at all.
  bool rejected(UserRequest* r, uint64_t offset, uint64_t len, bool modifies);
  void persist_read_only();

  io::BlockDevice& device_;
  VolumeOptions options_;
  format::Geometry geometry_;
  format::SuperBlock super_;
  std::unique_ptr<format::Layout> layout_;
  Routing routing_;
  std::unique_ptr<threads::ThreadConfig> threads_;
  std::unique_ptr<threads::CpuPool> cpu_;
  std::unique_ptr<DataVioPool> pool_;
  std::unique_ptr<SlabDepot> depot_;
  std::vector<std::unique_ptr<LogicalZone>> logical_zones_;
  std::vector<std::unique_ptr<PhysicalZone>> physical_zones_;
  std::vector<std::unique_ptr<HashZone>> hash_zones_;
  std::unique_ptr<RecoveryJournal> journal_;
  std::unique_ptr<index::DedupeIndex> index_;
  VolumeCounters counters_;
  std::atomic<bool> read_only_{false};
  std::atomic<bool> read_only_error_set_{false};
  std::error_code read_only_error_;
  std::atomic<bool> recovering_{false};
  std::atomic<bool> ready_{false};
  std::atomic<bool> recover_started_{false};
  std::atomic<uint64_t> recoveries_seen_{0};  // complete_recoveries, readable while recovering
  bool dirty_at_open_ = false;
  void wait_until_ready() const;
  std::atomic<bool> closed_{false};
  std::atomic<uint32_t> io_rotor_{0};
  uint32_t epoch_ = 0;
  // Drives hash-zone ticks (dedupe timeouts). Not on the data path.
  std::thread ticker_;
  std::mutex ticker_mu_;
  std::condition_variable ticker_cv_;
  bool ticker_stop_ = false;
  void run_ticker();
  void stop_ticker();
  friend class Repair;
};

// Opens, reads the geometry and both super-block copies of a backing store (for tools).
struct VolumeHeader {
  format::Geometry geometry;
  format::SuperBlock super;
};
Result<VolumeHeader> read_volume_header(io::BlockDevice& device);

}  // namespace vdofs::engine
