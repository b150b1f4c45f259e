// PhysicalZone: owner of the slabs n with n % P == zone: their allocator, their reference counts,
// and the dedupe claims on their blocks.
//
// Owner: physQ<zone> (every method asserts it; setup-phase calls run before the threads start).
//
// Block states, in memory:
//   count 0, no claim          free
//   count 255 (provisional)    allocated to a write whose journal entry has not committed
//   count 1..254               referenced by that many mappings (or one block-map page)
//   claims_[pbn] = k           k writes verified a duplicate here and will add a reference when
//                              their journal entries commit; the block cannot be freed meanwhile
// Increments and decrements arrive from the recovery journal, in journal order, after commit
// (apply_deltas). Within one entry the increment comes first, so a count never underflows.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

#include "engine/base/result.h"
#include "engine/base/types.h"
#include "engine/data_vio.h"
#include "engine/io_request.h"
#include "engine/slab_depot.h"

namespace vdofs::engine {

class Volume;
class PhysicalZone;

struct RefDelta {
  uint64_t pbn;
  uint64_t point;  // journal_point(seq, entry)
  int8_t delta;    // +1 or -1
  IncrementKind kind;
};

// One message from the journal to a physical zone: the deltas of one commit, in journal order.
struct DeltaBatch {
  PhysicalZone* zone = nullptr;
  std::vector<RefDelta> deltas;
};

class PhysicalZone {
 public:
  PhysicalZone(Volume& volume, uint32_t zone, uint32_t owner_thread);
  uint32_t owner() const { return owner_; }
  uint32_t zone() const { return zone_; }
  void add_slab(Slab* slab);  // setup

  // ---- messages (run on the owner thread) ----
  // Allocates dv->allocation (or dv->tree_pages for tree allocations), moving on to the next
  // zone when this one is full, then continues the write.
  static void allocate(void* dv);
  // Takes a dedupe claim on dv->new_mapping.pbn (dv->holds_claim says whether it succeeded).
  static void claim(void* dv);
  static void release_claim(void* dv);       // drops dv's claim, continues in the hash zone
  static void release_allocation(void* dv);  // returns dv's unused allocation, then journals
  static void apply_deltas(void* batch);     // DeltaBatch*, owned by the callee

  // Writes every reference-count block dirtied before journal sequence `before`, then runs
  // done(arg) on this thread.
  void write_back(uint64_t before, void (*done)(void*), void* arg);

  // ---- setup phase ----
  Result<void> replay_delta(Pbn pbn, int delta, uint64_t point);
  Result<void> write_all_sync(uint64_t stamp);
  void recount();  // recompute the stats counters from the slabs

  // ---- racy readers (stats) ----
  uint64_t free_blocks() const { return free_.load(std::memory_order_relaxed); }
  uint64_t used_blocks() const { return used_.load(std::memory_order_relaxed); }

 private:
  void assert_owner(const char* fn) const;
  Slab& slab_of(Pbn pbn);
  std::optional<Pbn> find_free();
  bool try_claim(Pbn pbn, bool trusted);
  uint32_t new_generation();
  void drop_claim(Pbn pbn);
  void free_provisional(Pbn pbn);
  void set_count(Slab& slab, uint64_t offset, uint8_t value, uint64_t seq);
  void continue_after_allocation(DataVio* dv);
  void start_batch();
  static void batch_written(void* arg);
  void finish_write_back_waiters();

  Volume& volume_;
  const uint32_t zone_;
  const uint32_t owner_;
  std::vector<Slab*> slabs_;
  size_t current_ = 0;
  std::unordered_map<uint64_t, uint32_t> claims_;
  uint32_t next_generation_ = 0;        // generations handed out by this zone (0 = never)
  bool generations_exhausted_ = false;  // the 32-bit counter wrapped: no more proofs this mount
  uint64_t applied_point_ = 0;          // first journal point whose delta has not been applied
  std::atomic<uint64_t> free_{0};
  std::atomic<uint64_t> used_{0};

  struct Batch {
    PhysicalZone* zone;
    IoRequest io;
    std::vector<std::pair<Slab*, uint64_t>> blocks;
    std::vector<std::unique_ptr<std::byte[]>> buffers;
  };
  bool batch_in_flight_ = false;
  struct WriteBackWaiter {
    uint64_t before;
    void (*done)(void*);
    void* arg;
  };
  std::vector<WriteBackWaiter> waiters_;
};

}  // namespace vdofs::engine
