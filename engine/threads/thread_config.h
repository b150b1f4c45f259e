// ThreadConfig: the one table that maps every zone to the thread that owns it, and owns those
// threads. Thread counts are fixed at mount (-o logical_zones=... etc.); the on-disk format knows
// nothing of zones, so they may change between mounts.
//
// Thread names follow VDO so top -H and /proc/PID/task/*/comm show them:
//   logQ<n>  logical zones     (LBN locks, block-map tree and leaf cache, flush generations)
//   physQ<n> physical zones    (slabs: allocator, reference counts, PBN claims)
//   hashQ<n> hash zones        (hash locks, dedupe decisions)
//   journalQ the recovery journal (also runs flushes and checkpoints)
//   bioQ<n>  I/O submission    (pread/pwrite/fdatasync on the backing store)
//   indexQ<n> index zones      (the dedupe index; owned by index/)
// single_thread mode maps every engine zone onto one thread "reqQ" (deterministic tests).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/threads/zone_thread.h"

namespace vdofs::threads {

struct ThreadCounts {
  uint32_t logical = 1;
  uint32_t physical = 1;
  uint32_t hash = 1;
  uint32_t io = 2;
  uint32_t index = 1;
  uint32_t cpu = 0;  // TBB arena concurrency; 0 = number of online CPUs
  bool single_thread = false;

  // Defaults that suit this machine's core count.
  static ThreadCounts defaults_for_machine();
  // Validates the ranges (1..60 logical, 1..16 physical, 1..100 others); empty string when fine.
  std::string validate() const;
};

class ThreadConfig {
 public:
  explicit ThreadConfig(const ThreadCounts& counts);
  ~ThreadConfig();
  ThreadConfig(const ThreadConfig&) = delete;
  ThreadConfig& operator=(const ThreadConfig&) = delete;

  const ThreadCounts& counts() const { return counts_; }
  ThreadId logical(uint32_t zone) const { return logical_[zone]; }
  ThreadId physical(uint32_t zone) const { return physical_[zone]; }
  ThreadId hash(uint32_t zone) const { return hash_[zone]; }
  ThreadId journal() const { return journal_; }
  ThreadId io(uint32_t n) const { return io_[n]; }

  // Starts/stops every thread. stop() joins in reverse order of creation.
  void start();
  void stop();
  // Runs barrier rounds until a round in which every thread ran nothing but the barrier and
  // `idle()` held before and after it (at most `max_rounds`). True if quiescent.
  bool drain(bool (*idle)(void*), void* arg, int max_rounds = 1000);
  // Returns once every thread has run everything queued to it before the call.
  void barrier();
  bool started() const { return started_; }

  // Runs fn(arg) on thread `t`: inline when the caller already is `t` (bounded depth), else by
  // enqueueing on t's queue.
  void launch(ThreadId t, void (*fn)(void*), void* arg);
  // Always enqueues (never inline): for callers that must not re-enter.
  void enqueue(ThreadId t, void (*fn)(void*), void* arg);

  size_t thread_count() const { return threads_.size(); }
  const ZoneThread& thread(ThreadId t) const { return *threads_[t]; }

 private:
  ThreadId add(const std::string& name);
  ThreadCounts counts_;
  std::vector<std::unique_ptr<ZoneThread>> threads_;
  std::vector<ThreadId> logical_, physical_, hash_, io_;
  ThreadId journal_ = kNoThread;
  bool started_ = false;
};

}  // namespace vdofs::threads
