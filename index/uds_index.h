// UdsIndex: the DedupeIndex. It owns the partitions (partition.h), the zone threads that serve
// them (indexQ<n>), the chapter writer thread (indexW), the shared page cache, the loader thread
// that loads a save or rebuilds after a crash, and the sync (group commit) machinery.
//
// Threads:
//   indexQ<z>  owns the partitions p with p * zones / partitions == z; answers requests; at a sync
//              copies its dirty open-chapter pages into checkpoint jobs for the writer.
//   indexR<n>  reader threads: a lookup that needs a chapter page which is not cached is not
//              answered on the zone thread; the page is read here into the cache and the request
//              goes back to its zone (as UDS's read queues), so zone threads never wait on I/O
//              for lookups (sparse chapter-index loads, once per chapter, still read inline).
//   indexW     the only thread that writes while online: closed chapters into their slots,
//              checkpoint blocks into the frames (ping-pong copies), and the flush that
//              completes a sync batch (it then runs the sync callbacks). Owns wstate_.
//   loader     a std::thread started by start(): reads the state block, loads the save or
//              rebuilds, then publishes state_ = online (release). Until then the zone threads
//              touch no partition and answer every request not-found.
//   any        submit(), sync(), stats(), wait_until_online().
// save() runs on the caller after stop(), when no index thread is left.
//
// Sync protocol: sync() queues its callback; if no batch is in flight a batch starts: every zone
// thread gets a message, copies the dirty pages of its partitions' open chapters into checkpoint
// jobs for indexW, and the last zone to do so queues the batch's flush on indexW. indexW runs
// jobs in FIFO order, so that flush comes after every chapter write and checkpoint write queued
// before it, i.e. after every record answered before sync() was called. Callbacks that arrive
// while a batch is in flight form the next batch (group commit).
//
// A checkpoint frame (chapter mod 2) is reused only after the chapter that last used it is
// durable: indexW flushes first if needed (it wrote that chapter earlier, FIFO).
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/threads/zone_thread.h"
#include "index/geometry.h"
#include "index/index.h"
#include "index/page_cache.h"
#include "index/partition.h"

namespace vdofs::index {

class UdsIndex final : public DedupeIndex {
 public:
  // `superblock_ok`/`salt`: what open_index found in block 0 (a bad superblock means reformat).
  UdsIndex(const IndexRegion& region, const IndexConfig& config, const Geometry& g, bool load_saved,
           bool superblock_ok, uint64_t salt);
  ~UdsIndex() override;

  void start() override;
  void stop() override;
  void submit(Request* request) override;
  IndexStats stats() const override;
  Result<void> save() override;
  void sync(void (*done)(void*), void* arg) override;
  bool wait_until_online(std::chrono::milliseconds timeout) override;

  // For partitions (their zone thread).
  const Geometry& geometry() const { return g_; }
  PageCache& cache() { return cache_; }
  io::BlockDevice& device() { return *region_.device; }
  uint64_t region_start() const { return region_.start; }
  uint64_t stamp() const { return stamp_; }  // nonce ^ salt, in every page but the superblock
  void post_chapter_write(uint32_t partition, std::shared_ptr<ChapterBuf> chapter);
  void set_error(const char* what, std::error_code ec);

  // Superblock codec (also used by format_index).
  static void encode_superblock(std::span<std::byte> block, const Geometry& g, uint64_t nonce,
                                uint64_t salt);
  static bool decode_superblock(std::span<const std::byte> block, const Geometry& g, uint64_t nonce,
                                uint64_t* salt);
  static void encode_state(std::span<std::byte> block, uint64_t stamp, uint32_t state,
                           uint32_t slot, uint64_t seq);

  enum StateBlock : uint32_t { kStateEmpty = 0, kStateDirty = 1, kStateClean = 2 };

 private:
  enum class State : int { kOffline, kLoading, kRebuilding, kOnline, kError };
  struct Zone {
    std::unique_ptr<threads::ZoneThread> thread;
    std::vector<uint32_t> partitions;
  };
  struct WriterPartition {
    int64_t written = -1;            // newest chapter written to its slot
    int64_t flushed = -1;            // newest chapter known durable
    uint64_t seq = 1;                // next checkpoint block sequence
    std::vector<uint8_t> next_copy;  // per (frame, page): the copy the next write goes to
  };
  using Waiter = std::pair<void (*)(void*), void*>;
  struct SyncBatch {
    UdsIndex* index = nullptr;
    std::vector<Waiter> waiters;
    std::atomic<uint32_t> zones_left{0};
  };
  struct ZoneMsg {
    UdsIndex* index;
    SyncBatch* batch;
    uint32_t zone;
  };
  struct RequestMsg {
    UdsIndex* index;
    Request* request;
    uint32_t attempts = 0;  // page reads this request has waited for
    Partition::PageMiss miss;
  };
  struct ChapterJob {
    UdsIndex* index;
    uint32_t partition;
    std::shared_ptr<ChapterBuf> chapter;
  };

  static void on_request(void* arg);
  static void on_read(void* arg);
  void run_reader(uint64_t block, void (*fn)(void*), void* arg);
  static void on_checkpoint_zone(void* arg);
  static void on_chapter_job(void* arg);
  static void on_checkpoint_job(void* arg);
  static void on_sync_flush(void* arg);
  void launch_sync(SyncBatch* batch);
  void finish_sync(SyncBatch* batch);
  void run_zone(uint32_t zone, void (*fn)(void*), void* arg);
  void run_writer(void (*fn)(void*), void* arg);
  void write_chapter(ChapterJob& job);
  void write_checkpoint(CheckpointJob& job);
  Result<void> flush_device();
  bool online() const { return state_.load(std::memory_order_acquire) == State::kOnline; }
  void set_state(State s);
  void set_open_result(const std::string& s);

  // Opening, saving and rebuilding (index_store.cc).
  void open_work();
  Result<void> write_state(uint32_t state, uint32_t slot, uint64_t seq);
  bool read_state(uint32_t* state, uint32_t* slot, uint64_t* seq);
  bool load_slot(uint32_t slot, uint64_t seq);
  bool load_partition(Partition& p, uint64_t first_block, uint64_t seq);
  Result<void> save_partition(Partition& p, uint64_t first_block, uint64_t seq);
  bool rebuild();
  bool rebuild_partition(Partition& p);
  Result<void> write_frame_block(uint32_t partition, uint64_t chapter, uint32_t page,
                                 std::span<std::byte> block, uint16_t count);

  IndexRegion region_;
  IndexConfig config_;
  const Geometry g_;
  const bool load_saved_;
  const bool superblock_ok_;
  const uint64_t salt_;
  const uint64_t stamp_;
  PageCache cache_;
  std::vector<std::unique_ptr<Partition>> partitions_;
  std::vector<Zone> zones_;
  threads::ZoneThread writer_;
  std::vector<std::unique_ptr<threads::ZoneThread>> readers_;
  std::vector<WriterPartition> wstate_;  // indexW (or the loader / save caller when exclusive)
  std::vector<std::byte> writer_scratch_;
  uint64_t static_bytes_ = 0;
  uint64_t volume_index_bytes_ = 0;

  std::thread loader_;
  std::atomic<State> state_{State::kOffline};
  std::atomic<bool> stopping_{false};
  std::atomic<bool> started_{false};
  std::atomic<bool> zones_running_{false};
  std::atomic<bool> writer_running_{false};
  std::atomic<bool> readers_running_{false};
  // Requests waiting for a page read (at a reader or back in a zone queue), and the switch that
  // makes zones read inline instead while stop() drains them.
  std::atomic<int64_t> deferred_{0};
  std::atomic<bool> no_deferral_{false};
  mutable std::mutex state_mu_;
  std::condition_variable state_cv_;
  std::string open_result_;  // guarded by state_mu_

  std::mutex sync_mu_;
  std::vector<Waiter> pending_syncs_;  // guarded by sync_mu_
  bool sync_active_ = false;           // guarded by sync_mu_

  // The state block (loader / save caller).
  uint32_t current_slot_ = 1;  // the slot of the last save (the next save uses the other one)
  uint64_t save_seq_ = 0;
  bool saved_ = false;

  std::atomic<uint64_t> bypassed_{0}, bypassed_posts_{0}, bypassed_queries_{0},
      bypassed_updates_{0};
  std::atomic<uint64_t> chapters_written_{0}, syncs_{0}, checkpoint_blocks_{0}, deferrals_{0};
  std::atomic<uint64_t> rebuilt_records_{0}, recovered_records_{0};
};

}  // namespace vdofs::index
