#include "engine/threads/zone_thread.h"

#include <linux/futex.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <memory>

#include "engine/base/assert.h"
#include "engine/base/tsan.h"

namespace vdofs::threads {
namespace {
thread_local ThreadId t_current = kNoThread;
constexpr int kSpinPolls = 200;

// The idle-flag handshake needs a store->load barrier on both sides. ThreadSanitizer does not
// model standalone fences, so under it both sides use read-modify-writes on the flag instead
// (totally ordered, so the same guarantee, at the cost of one locked instruction per message).
#if defined(__SANITIZE_THREAD__)
constexpr bool kRmwHandshake = true;
inline void full_fence() {}
#else
constexpr bool kRmwHandshake = false;
inline void full_fence() { std::atomic_thread_fence(std::memory_order_seq_cst); }
#endif
}  // namespace

ThreadId current_thread() { return t_current; }

namespace {
// Direct futex sleep/wake on the idle flag. (std::atomic::wait in libstdc++ first spins with
// sched_yield, which on a 2-CPU machine steals time from the threads doing the work; the
// zone thread has already spun with pause before it gets here.)
void futex_wait(std::atomic<uint32_t>* addr, uint32_t expected) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(addr), FUTEX_WAIT_PRIVATE, expected, nullptr,
          nullptr, 0);
}
void futex_wake_one(std::atomic<uint32_t>* addr) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(addr), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}
}  // namespace

namespace {
thread_local Outbox* t_outbox = nullptr;

struct Batch {
  std::vector<Work> items;
};

void run_batch(void* arg) {
  std::unique_ptr<Batch> b(static_cast<Batch*>(arg));
  for (const Work& w : b->items) {
    VDOFS_TSAN_ACQUIRE(w.arg);
    w.fn(w.arg);
  }
}
}  // namespace

Outbox* Outbox::current() { return t_outbox; }

void Outbox::add(ZoneThread* target, Work w) {
  VDOFS_TSAN_RELEASE(w.arg);
  items_.emplace_back(target, w);
  if (items_.size() >= kFlushAt) flush();
}

void Outbox::flush() {
  if (items_.empty()) return;
  std::vector<std::pair<ZoneThread*, Work>> items;
  items.swap(items_);
  // Group by destination, keeping each destination's order.
  std::vector<std::pair<ZoneThread*, std::unique_ptr<Batch>>> groups;
  for (auto& [target, w] : items) {
    // A named copy: clang 14 cannot capture a structured binding in a lambda.
    ZoneThread* const dest = target;
    auto it = std::find_if(groups.begin(), groups.end(), [&](auto& g) { return g.first == dest; });
    if (it == groups.end()) {
      groups.emplace_back(dest, std::make_unique<Batch>());
      it = groups.end() - 1;
    }
    it->second->items.push_back(w);
  }
  for (auto& [target, batch] : groups) {
    if (batch->items.size() == 1) {
      target->enqueue_now(batch->items[0]);
    } else {
      Batch* b = batch.release();
      target->enqueue_now(Work{&run_batch, b});
    }
  }
}

ScopedOutbox::ScopedOutbox() : saved_(t_outbox) { t_outbox = &box_; }
ScopedOutbox::~ScopedOutbox() {
  box_.flush();
  t_outbox = saved_;
}

ScopedSetupPhase::ScopedSetupPhase() : saved_(t_current) { t_current = kAnyThread; }
ScopedSetupPhase::~ScopedSetupPhase() { t_current = saved_; }

ZoneThread::ZoneThread(ThreadId id, std::string name) : id_(id), name_(std::move(name)) {}

ZoneThread::~ZoneThread() { stop(); }

void ZoneThread::start() {
  VDOFS_CHECK(!thread_.joinable());
  stopping_.store(false);
  thread_ = std::thread([this] { loop(); });
  pthread_setname_np(thread_.native_handle(), name_.substr(0, 15).c_str());
}

void ZoneThread::stop() {
  if (!thread_.joinable()) return;
  stopping_.store(true);
  enqueue_now(Work{});  // a null message wakes the thread so it sees stopping_
  thread_.join();
}

void ZoneThread::enqueue(Work w) {
  if (t_outbox && t_current != id_) {
    t_outbox->add(this, w);
    return;
  }
  enqueue_now(w);
}

void ZoneThread::enqueue_now(Work w) {
  VDOFS_TSAN_RELEASE(w.arg);
  queue_.push(w);
  full_fence();
  if ((kRmwHandshake || idle_.load(std::memory_order_relaxed) == 1) && idle_.exchange(0) == 1) {
    wakeups_.fetch_add(1, std::memory_order_relaxed);
    futex_wake_one(&idle_);
  }
}

void ZoneThread::loop() {
  t_current = id_;
  Outbox outbox;
  t_outbox = &outbox;
  Work w;
  for (;;) {
    bool ran = false;
    for (int spin = 0; spin < kSpinPolls; ++spin) {
      while (queue_.try_pop(w)) {
        ran = true;
        spin = 0;
        if (w.fn) {
          VDOFS_TSAN_ACQUIRE(w.arg);
          w.fn(w.arg);
          messages_.fetch_add(1, std::memory_order_relaxed);
        }
      }
      outbox.flush();  // out of work: deliver what this thread sent
      if (stopping_.load()) break;
#if defined(__x86_64__)
      __builtin_ia32_pause();
#endif
    }
    (void)ran;
    if (stopping_.load()) {
      // Drain what remains (messages may enqueue more to this thread), then exit.
      for (;;) {
        while (queue_.try_pop(w)) {
          VDOFS_TSAN_ACQUIRE(w.arg);
          if (w.fn) w.fn(w.arg);
        }
        if (outbox.size() == 0) break;
        outbox.flush();
      }
      break;
    }
    if (kRmwHandshake)
      idle_.exchange(1);
    else
      idle_.store(1);
    full_fence();
    if (!queue_.empty()) {
      idle_.store(0);
      continue;
    }
    while (idle_.load(std::memory_order_acquire) == 1) futex_wait(&idle_, 1);
  }
  outbox.flush();
  t_outbox = nullptr;
  t_current = kNoThread;
}

}  // namespace vdofs::threads
