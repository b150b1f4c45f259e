#include "engine/threads/cpu_pool.h"

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/task_arena.h>
#include <unistd.h>

#include <algorithm>

#include "engine/base/tsan.h"

namespace vdofs::threads {

namespace {
int resolve(uint32_t c) {
  if (c > 0) return static_cast<int>(c);
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<int>(n) : 1;
}
}  // namespace

CpuPool::CpuPool(uint32_t concurrency)
    : concurrency_(resolve(concurrency)),
      workers_(tbb::global_control::max_allowed_parallelism,
               static_cast<size_t>(std::max(concurrency_ + 1, 2))),
      // One slot is reserved for a joining caller (parallel_for), the rest are workers.
      arena_(concurrency_, 1) {}

void CpuPool::submit(void (*fn)(void*), void* arg) {
  in_flight_.fetch_add(1, std::memory_order_relaxed);
  VDOFS_TSAN_RELEASE(arg);
  arena_.enqueue([this, fn, arg] {
    VDOFS_TSAN_ACQUIRE(arg);
    fn(arg);
    in_flight_.fetch_sub(1, std::memory_order_release);
  });
}

void CpuPool::parallel_for(size_t n, size_t grain, void (*fn)(void*, size_t), void* ctx) {
  in_flight_.fetch_add(1, std::memory_order_relaxed);
  VDOFS_TSAN_RELEASE(ctx);
  arena_.execute([&] {
    tbb::parallel_for(tbb::blocked_range<size_t>(0, n, grain),
                      [&](const tbb::blocked_range<size_t>& r) {
                        VDOFS_TSAN_ACQUIRE(ctx);
                        for (size_t i = r.begin(); i != r.end(); ++i) fn(ctx, i);
                        VDOFS_TSAN_RELEASE(ctx);
                      });
  });
  VDOFS_TSAN_ACQUIRE(ctx);
  in_flight_.fetch_sub(1, std::memory_order_release);
}

bool CpuPool::on_cpu_pool() {
  return tbb::this_task_arena::current_thread_index() != tbb::task_arena::not_initialized;
}

}  // namespace vdofs::threads
