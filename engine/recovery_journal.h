// RecoveryJournal: the single, ordered log of every remapping, on its own thread (journalQ).
//
// Owner: journalQ. Entered via launch_add (data entries) and launch_add_tree (block-map page
// allocations); every method asserts the owner.
//
// Entries are appended in arrival order to the active block. Commits are group commits: while a
// commit is in flight, everything that arrives waits and goes into the next one; a commit writes
// every block with new entries in one batch: PREFLUSH (skipped when no data block was written
// since the last flush), the journal blocks, then a flush (FUA). Only then are the entries'
// waiters released, strictly in journal order: each DataVio goes back to its logical zone to
// update the block map, and the reference-count changes (increment of the new block before
// decrement of the old) go to the physical zones as one message per zone per commit, so every
// physical zone sees them in journal order.
//
// Space: the journal is a ring of 2^k blocks. When more than half is in use, a checkpoint asks
// every logical and physical zone to write back the metadata dirtied before the oldest block still
// accepting entries; after a flush the head moves up to it. Writers wait only if the ring is full.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <vector>

#include "engine/data_vio.h"
#include "engine/io_request.h"

namespace vdofs::engine {

class Volume;

class RecoveryJournal {
 public:
  // Starts a fresh run at sequence `next_seq` (the head too) with `logical_blocks_used`.
  RecoveryJournal(Volume& volume, uint32_t owner_thread, uint64_t next_seq,
                  uint64_t logical_blocks_used);
  ~RecoveryJournal();

  // Journals dv's remapping {lbn, new, old}; on commit runs LogicalZone::journal_committed.
  static void launch_add(DataVio* dv);
  // Journals dv's pending tree-page allocations (dv->tree_entries); each runs its own callback.
  static void launch_add_tree(DataVio* dv);

  // Writes back all metadata (every zone), flushes, then calls done on the journal thread.
  // Used by close(). `done` must not block.
  void request_full_checkpoint(void (*done)(void*), void* arg);

  // Racy readers for stats.
  uint64_t logical_blocks_used() const { return lbu_.load(std::memory_order_relaxed); }
  uint64_t next_sequence() const { return next_seq_; }  // after the threads stop
  uint64_t head() const { return head_; }
  uint32_t owner() const { return owner_; }

 private:
  struct OpenBlock {
    uint64_t seq = 0;
    uint64_t lbu_start = 0;
    std::vector<format::JournalEntry> entries;
    std::vector<JournalWaiter*> waiters;
    uint32_t committed = 0;   // entries durable
    uint32_t committing = 0;  // entries in the commit in flight
  };
  struct Commit {
    RecoveryJournal* journal;
    IoRequest io;
    std::vector<std::unique_ptr<std::byte[]>> buffers;
  };
  struct ZoneReply {
    RecoveryJournal* journal;
  };

  void assert_owner(const char* fn) const;
  static void add_data(void* dv);
  static void add_tree(void* dv);
  void add(JournalWaiter* w);
  bool append(JournalWaiter* w);
  void schedule_commit();
  static void commit_now(void* journal);
  void commit();
  static void commit_done(void* commit);
  void maybe_checkpoint(bool everything);
  static void zone_write_back_logical(void* msg);
  static void zone_write_back_physical(void* msg);
  static void zone_written(void* journal);  // on a zone thread
  static void zone_written_here(void* journal);
  static void checkpoint_flushed(void* journal);
  static void full_checkpoint(void* journal);

  Volume& volume_;
  const uint32_t owner_;
  const uint64_t size_;  // blocks in the ring
  uint64_t head_;
  uint64_t next_seq_;
  std::atomic<uint64_t> lbu_;
  std::deque<OpenBlock> blocks_;  // uncommitted or partly committed; back() is active
  std::deque<JournalWaiter*> space_waiters_;
  bool commit_scheduled_ = false;
  bool commit_in_flight_ = false;
  bool checkpoint_in_flight_ = false;
  uint64_t checkpoint_target_ = 0;
  uint32_t checkpoint_replies_ = 0;
  IoRequest checkpoint_flush_;
  std::vector<std::pair<void (*)(void*), void*>> full_checkpoint_waiters_;
  bool full_checkpoint_requested_ = false;
  bool full_checkpoint_running_ = false;

  struct ZoneMsg {
    RecoveryJournal* journal;
    uint32_t zone;
    uint64_t before;
  };
  std::vector<ZoneMsg> zone_msgs_;
};

}  // namespace vdofs::engine
