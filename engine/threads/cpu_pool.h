// CpuPool: the hash stage. A oneTBB task_arena whose tasks hash blocks in parallel; a task touches
// only the DataVios it was handed and then launches each one on to its zone thread. Nothing else
// runs here.
#pragma once

#include <tbb/global_control.h>
#include <tbb/task_arena.h>

#include <atomic>
#include <cstdint>

namespace vdofs::threads {

class CpuPool {
 public:
  explicit CpuPool(uint32_t concurrency);
  // Runs fn(arg) on an arena thread. Any thread may call it; it never blocks.
  void submit(void (*fn)(void*), void* arg);
  // Runs fn(i) for i in [0, n) in parallel inside the arena; the caller joins in and returns when
  // all are done. For non-zone threads only (it blocks): the intake hashes a request this way.
  void parallel_for(size_t n, size_t grain, void (*fn)(void* ctx, size_t i), void* ctx);
  int concurrency() const { return concurrency_; }
  // Tasks submitted and not yet finished.
  uint64_t in_flight() const { return in_flight_.load(std::memory_order_acquire); }
  // True on a thread currently executing a task of some arena (for ownership asserts).
  static bool on_cpu_pool();

 private:
  int concurrency_;
  tbb::global_control workers_;  // lets the arena have `concurrency` workers besides callers
  tbb::task_arena arena_;
  std::atomic<uint64_t> in_flight_{0};
};

}  // namespace vdofs::threads
