// LogicalZone: owner of the LBN locks, the block-map trees (block_map.h) and the flush
// generations for the LBNs that route to it (routing.h).
//
// Owner: logQ<zone>. Entered via launch_start; every method asserts the owner.
//
// A DataVio's life in its logical zone:
//   start:   (writes/discards) join the current flush generation; take the LBN lock, or queue
//            behind its holder in arrival order. A read that finds a write holding the lock with
//            its data ready copies that data and completes at once.
//   proceed: walk the tree to the leaf (allocating missing tree pages for writes, through the
//            journal), load the leaf if needed, read the old mapping.
//   reads:   zero-fill unmapped/zero blocks, else read the block; release the lock.
//   writes:  read-modify-write for partial blocks; zero blocks map to the zero block; others go on
//            to the hash stage (SHA-256 on the CPU pool, in small batches), then allocation
//            (physical zone) and dedupe (hash zone), then the journal.
//   journal_committed: store the new mapping in the cached leaf (dirty at the entry's sequence),
//            acknowledge if not yet done, leave the flush generation, pass the LBN lock on.
// A flush completes when every write that joined an earlier generation, in every zone, has done
// journal_committed: everything acknowledged before the flush is then durable.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <unordered_map>
#include <vector>

#include "engine/base/countdown.h"
#include "engine/block_map.h"
#include "engine/data_vio.h"

namespace vdofs::engine {

class Volume;

// A flush, fanned out to every logical zone.
struct FlushRequest {
  UserRequest* request = nullptr;
  std::atomic<uint32_t> remaining{0};
  struct ZoneArg {
    FlushRequest* flush;
    Volume* volume;
    uint32_t zone;
  };
  std::vector<ZoneArg> args;
};

// Which LBNs of a leaf-page range may need a discard (mapped, or locked by an operation).
struct DiscardProbe {
  Volume* volume = nullptr;
  uint64_t first_lbn = 0;
  uint32_t count = 0;
  std::vector<bool> needed;
  Countdown remaining{0};  // shared with the submitter, which waits for 0
};

class LogicalZone {
 public:
  LogicalZone(Volume& volume, uint32_t zone, uint32_t owner_thread, uint64_t cache_pages);

  BlockMapZone& block_map() { return block_map_; }
  uint32_t owner() const { return owner_; }

  static void launch_start(DataVio* dv);
  static void journal_committed(void* dv);
  static void tree_pages_allocated(void* dv);
  static void abort_write(void* dv);  // dv->result says why
  static void launch_abort_write(DataVio* dv);
  // Sends dv to the hash stage (CpuPool); after hashing it continues in after_hash (CPU thread).
  void launch_hash(DataVio* dv);
  static void finish_unchanged(void* dv);  // a zero write that changes nothing
  static void flush(void* zone_arg);       // FlushRequest::ZoneArg*
  static void probe_discard(void* probe);

  uint64_t active_writes() const { return active_count_; }

 private:
  struct LbnLock {
    DataVio* holder = nullptr;
    DataVio* head = nullptr;  // waiters, FIFO via lbn_next
    DataVio* tail = nullptr;
  };

  void assert_owner(const char* fn) const;
  static LogicalZone& of(DataVio* dv);
  static void start(void* dv);
  static void proceed_again(void* dv);
  void proceed(DataVio* dv);
  void with_mapping(DataVio* dv);
  static void read_done(DataVio* dv);
  static void rmw_read_done(DataVio* dv);
  static void tree_entry_committed(void* dv);
  void start_tree_allocation(DataVio* dv, uint32_t missing_level);
  void release_tree_locks(Lbn lbn, uint32_t top_level);
  void finish_read(DataVio* dv);
  void finish_without_change(DataVio* dv);
  void join_generation(DataVio* dv);
  void leave_generation(DataVio* dv);
  void release_lbn_lock(DataVio* dv);
  void flush_done(FlushRequest* f);
  uint32_t next_allocation_zone();
  static void hash_batch(void* first);

 public:
  // After hashing (on a CPU-pool thread, or inline when intake hashed the block): zero blocks
  // go to the journal, others to allocation.
  static void after_hash(DataVio* dv);

 private:
  static void submit_hash_batch(void* zone);

  Volume& volume_;
  const uint32_t zone_;
  const uint32_t owner_;
  std::unordered_map<uint64_t, LbnLock> lbn_locks_;
  std::unordered_map<uint64_t, DataVio*> tree_locks_;  // page key -> waiters (wait_next)
  uint64_t generation_ = 0;
  std::map<uint64_t, uint64_t> active_;  // flush generation -> writes not yet finished
  uint64_t active_count_ = 0;
  std::deque<std::pair<uint64_t, FlushRequest*>> flush_waiters_;
  std::atomic<uint64_t> allocations_{0};  // bumped on CPU threads (allocation-zone rotation)
  DataVio* hash_pending_ = nullptr;       // DataVios waiting to be sent to the hash stage
  DataVio* hash_pending_tail_ = nullptr;
  uint32_t hash_pending_count_ = 0;
  bool hash_flush_scheduled_ = false;
  BlockMapZone block_map_;
};

}  // namespace vdofs::engine
