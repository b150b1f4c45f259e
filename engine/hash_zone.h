// HashZone: owner of the hash locks for the names that route to it (routing.h), and of the
// dedupe decision for each written block.
//
// Owner: hashQ<zone>. Entered via HashZone::launch_enter; every method asserts the owner.
//
// A HashLock gathers every in-flight write of the same content (same SHA-256). The first to
// arrive is the agent: it alone asks the index, verifies the advice and, if there is no usable
// duplicate, writes the data. Later arrivals wait and then share the agent's block, so concurrent
// identical writes cost one index query, one verify and one data write (concurrent_data_matches).
//
// Lock states and their sequences (start_<state> / finish_<state> below):
//   new data:      QUERYING -> WRITING -> SHARING
//   valid advice:  QUERYING -> VERIFYING -> SHARING
//   stale advice:  QUERYING -> VERIFYING -> WRITING (-> index UPDATE) -> SHARING
//   no space:      QUERYING -> FAILED (every member fails with ENOSPC)
// In SHARING each member takes its own claim on the block in its physical zone; a claim that
// would pass 254 references makes that member write its own copy instead (rollover).
// The lock lives until its last member has left (after its journal entry) and the index has
// answered.
#pragma once

#include <chrono>
#include <cstdint>
#include <unordered_map>

#include "engine/base/sha256.h"
#include "engine/data_vio.h"
#include "index/index.h"

namespace vdofs::engine {

class Volume;
class HashZone;

class HashLock {
 public:
  enum class State : uint8_t { kQuerying, kVerifying, kWriting, kSharing, kFailed };

  BlockName name;
  State state = State::kQuerying;
  HashZone* zone = nullptr;
  DataVio* agent = nullptr;
  DataVio* waiters = nullptr;  // FIFO via hash_next
  DataVio* waiters_tail = nullptr;
  uint32_t members = 0;
  Pbn result{};                // the block to share in kSharing
  bool stale_advice = false;   // the index must be told the new location
  bool refresh_proof = false;  // verified by reading: give the index this mount's proof
  bool index_busy = false;
  bool timed_out = false;  // the index did not answer in time; the lock went on without it
  std::chrono::steady_clock::time_point query_started;
  index::Request request;

  // Queues dv (FIFO) for the lock's outcome.
  void add_waiter(DataVio* dv) {
    dv->hash_next = nullptr;
    if (waiters_tail)
      waiters_tail->hash_next = dv;
    else
      waiters = dv;
    waiters_tail = dv;
  }
};

class HashZone {
 public:
  HashZone(Volume& volume, uint32_t zone, uint32_t owner_thread);
  ~HashZone();

  // Entry points (any thread): each hops to the DataVio's hash zone, or bio/journal as named.
  static void launch_enter(DataVio* dv);
  // No dedupe (disabled, or no lock): write dv->data to its allocation, then journal.
  static void launch_write_data(DataVio* dv);
  static void launch_claim_done(DataVio* dv);
  static void launch_claim_released(DataVio* dv);
  // Cleanup: give back any claim or unused allocation, leave the lock, return dv to the pool.
  static void launch_leave(DataVio* dv);

  uint64_t lock_count() const { return locks_.size(); }
  // Periodic (every 100 ms, from the volume's ticker): index lookups older than the dedupe
  // timeout proceed without dedupe.
  static void tick(void* zone);

 private:
  void assert_owner(const char* fn) const;
  static HashZone& of(DataVio* dv);
  static void enter(void* dv);
  static void claim_done(void* dv);
  static void claim_released(void* dv);
  static void leave(void* dv);
  static void index_answered(index::Request* r);  // on an index thread
  static void finish_querying(void* lock);
  static void verify_read_done(DataVio* dv);
  static void data_written(DataVio* dv);
  static void unlocked_data_written(DataVio* dv);
  static void index_updated(index::Request* r);  // on an index thread
  static void finish_updating(void* lock);

  void start_verifying(HashLock* lock, Pbn advice);
  void start_writing(HashLock* lock);
  void start_sharing(HashLock* lock, Pbn pbn);
  void share(DataVio* dv);
  void fail_lock(HashLock* lock, std::error_code ec);
  void write_own_copy(DataVio* dv);
  void to_journal(DataVio* dv);
  void maybe_destroy(HashLock* lock);
  void send_update(HashLock* lock, Pbn pbn, uint32_t generation);

  Volume& volume_;
  const uint32_t zone_;
  const uint32_t owner_;
  std::unordered_map<BlockName, HashLock*, BlockNameHash> locks_;
};

// The index name of a block: the first 16 bytes of its SHA-256.
index::RecordName record_name_of(const BlockName& name);

}  // namespace vdofs::engine
