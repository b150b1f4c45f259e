// DataVio: one 4 KiB block operation (read, write or discard) as it moves between zone threads.
// It is the message: every hop sets where it goes next and enqueues it there. Fields are grouped
// by the zone that writes them; a field is only touched by the thread currently running the
// DataVio (exactly one at a time), so none needs a lock.
//
// A fixed pool (VdoPool, 2048 by default as in VDO) bounds the work in flight: intake blocks when
// the pool is empty, which is the volume's backpressure.
#pragma once

#include <tbb/concurrent_queue.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <system_error>
#include <vector>

#include "engine/base/sha256.h"
#include "engine/base/types.h"
#include "engine/format/journal_block.h"
#include "engine/io_request.h"
#include "engine/user_request.h"

namespace vdofs::engine {

class HashLock;
class Volume;
struct LeafPage;

// How a journal entry's increment affects the physical zone's in-memory state.
enum class IncrementKind : uint8_t {
  kNone,        // the new mapping references no block (zero, unmapped)
  kAllocation,  // the block was provisionally allocated for this write: provisional -> 1
  kClaim,       // a dedupe claim held since verification: pending claims - 1, count + 1
};

// A journal entry plus where to go once it is committed. Embedded in DataVios (data entries) and
// in tree-page allocations.
struct JournalWaiter {
  format::JournalEntry entry;
  IncrementKind increment = IncrementKind::kNone;
  uint32_t reply_thread = 0;
  void (*callback)(void*) = nullptr;
  void* arg = nullptr;
  uint64_t sequence = 0;  // assigned by the journal
  JournalWaiter* next = nullptr;
};

struct DataVio {
  enum class Op : uint8_t { kRead, kWrite, kDiscard };

  Volume* volume = nullptr;  // fixed for the pool's lifetime

  // --- intake (set by the submitting thread) ---
  Op op = Op::kWrite;
  Lbn lbn{};
  UserRequest* request = nullptr;
  uint32_t offset = 0;  // byte range of the block the request covers
  uint32_t length = kBlockSize;
  std::byte* read_out = nullptr;  // reads: where [offset, offset+length) goes
  bool fua = false;               // acknowledge only after the journal commit
  bool data_ready = false;        // data holds the final block content (after any merge)
  bool is_zero = false;
  bool hashed = false;  // name and is_zero are set (intake hashed the full block)
  bool acked = false;
  BlockName name;
  std::error_code result;

  // --- logical zone ---
  uint32_t logical_zone = 0;
  uint64_t flush_generation = 0;
  bool registered_generation = false;
  DataVio* lbn_next = nullptr;  // next waiter for this LBN's lock
  LeafPage* page = nullptr;     // pinned leaf page holding this LBN's entry
  uint32_t slot = 0;
  Mapping old_mapping;
  Mapping new_mapping;
  uint8_t tree_pages_needed = 0;    // missing block-map pages above this LBN
  std::array<Pbn, 3> tree_pages{};  // allocated for them, top level first
  std::array<JournalWaiter, 3> tree_entries{};
  uint8_t tree_entries_pending = 0;
  uint64_t tree_lock_key = 0;    // the page key this DataVio is allocating
  DataVio* wait_next = nullptr;  // next waiter on a page load or tree-page allocation

  // --- physical zones ---
  bool has_allocation = false;
  Pbn allocation{};
  uint32_t allocation_generation = 0;
  uint32_t allocation_zone = 0;
  uint32_t zones_tried = 0;
  bool allocation_for_tree = false;
  bool holds_claim = false;  // a dedupe claim on new_mapping.pbn (released by its increment)

  // --- dedupe proof (advice generation; see PhysicalZone::claim) ---
  uint32_t advice_generation = 0;
  bool advice_provable = false;  // the advice's epoch is this mount's: its generation can prove it
  bool claim_proven = false;     // the claimed block still has the advised generation
  uint32_t claimed_generation = 0;

  // --- hash zone ---
  HashLock* hash_lock = nullptr;
  DataVio* hash_next = nullptr;  // next waiter in the hash lock
  bool is_duplicate = false;

  // --- journal ---
  JournalWaiter journal;

  // --- I/O (one at a time: data write, verify read, read-modify-write read, user read) ---
  IoRequest io;
  void (*io_done)(DataVio*) = nullptr;  // where the I/O completion continues

  // Page-aligned, so data-block I/O can bypass the page cache (FileDeviceOptions::direct_aligned).
  alignas(4096) std::array<std::byte, kBlockSize> data;
  alignas(4096) std::array<std::byte, kBlockSize> scratch;  // verify and read-modify-write reads

  bool partial() const { return length != kBlockSize; }
  void reset();
};

// The fixed pool. acquire() blocks while every DataVio is in use.
class DataVioPool {
 public:
  DataVioPool(uint32_t size, Volume* volume);
  DataVio* acquire();
  DataVio* try_acquire();
  void release(DataVio* dv);
  uint32_t size() const { return size_; }
  uint32_t in_use() const { return in_use_.load(std::memory_order_relaxed); }
  uint32_t max_in_use() const { return max_in_use_.load(std::memory_order_relaxed); }
  // Blocks until every DataVio is back.
  void wait_idle();

 private:
  void note_acquired();
  uint32_t size_;
  std::unique_ptr<DataVio[]> vios_;
  tbb::concurrent_bounded_queue<DataVio*> free_;
  std::atomic<uint32_t> in_use_{0};
  std::atomic<uint32_t> max_in_use_{0};
};

}  // namespace vdofs::engine
