// ZoneThread: one OS thread that owns a set of zones and runs the messages sent to them, in the
// order they arrive (FIFO per producer). The queue is a oneTBB concurrent_queue (multi-producer;
// this thread is its only consumer) with VDO's idle-flag sleep/wake protocol:
//
//   consumer: drain; idle = 1; full fence; poll again; if still empty, futex-wait while idle == 1
//   producer: push; full fence; if idle == 1 and exchange(idle, 0) == 1, wake the consumer
//
// Only the one producer that flips idle from 1 to 0 pays for a wake-up, so a burst of messages to
// a sleeping thread costs one futex wake, and messages to a busy thread cost no syscall at all.
// A consumer spins briefly before sleeping (bounded; costs nothing when work keeps arriving).
#pragma once

#include <tbb/concurrent_queue.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

namespace vdofs::threads {

using ThreadId = uint32_t;
inline constexpr ThreadId kNoThread = 0xFFFFFFFFu;   // not a zone thread (FUSE, TBB, main)
inline constexpr ThreadId kAnyThread = 0xFFFFFFFEu;  // setup/teardown: owns everything

// A message: a function and its argument. The argument carries all the state (a DataVio, a
// completion object); the function runs on the target thread.
struct Work {
  void (*fn)(void*) = nullptr;
  void* arg = nullptr;
};

// Which zone thread the calling thread is (kNoThread for others).
ThreadId current_thread();

class ZoneThread;

// Outbox: messages a thread sends while it runs are held and delivered per destination as one
// batch (one enqueue, one wake-up at most), in order, when the sender runs out of work, after
// every kOutboxFlush messages, or when its scope ends. Zone threads always have one; other
// threads (the hash stage) open one with ScopedOutbox. Per-destination FIFO is preserved: every
// message a thread sends to another goes through its outbox while it has one.
class Outbox {
 public:
  static constexpr size_t kFlushAt = 64;
  void add(ZoneThread* target, Work w);
  void flush();
  size_t size() const { return items_.size(); }
  static Outbox* current();

 private:
  friend class ScopedOutbox;
  friend class ZoneThread;
  std::vector<std::pair<ZoneThread*, Work>> items_;
};

class ScopedOutbox {
 public:
  ScopedOutbox();
  ~ScopedOutbox();
  ScopedOutbox(const ScopedOutbox&) = delete;
  ScopedOutbox& operator=(const ScopedOutbox&) = delete;

 private:
  Outbox box_;
  Outbox* saved_;
};
// While alive, the calling thread counts as the owner of every zone (single-threaded setup,
// recovery and teardown, when no zone thread runs).
class ScopedSetupPhase {
 public:
  ScopedSetupPhase();
  ~ScopedSetupPhase();
  ScopedSetupPhase(const ScopedSetupPhase&) = delete;
  ScopedSetupPhase& operator=(const ScopedSetupPhase&) = delete;

 private:
  ThreadId saved_;
};

class ZoneThread {
 public:
  ZoneThread(ThreadId id, std::string name);
  ~ZoneThread();
  ZoneThread(const ZoneThread&) = delete;
  ZoneThread& operator=(const ZoneThread&) = delete;

  void start();
  // Runs everything already queued (and everything it queues to itself), then exits the thread.
  void stop();

  // Any thread. Never blocks. Goes through the caller's outbox if it has one (self-sends do not).
  void enqueue(Work w);
  // Enqueues now, bypassing any outbox.
  void enqueue_now(Work w);

  ThreadId id() const { return id_; }
  const std::string& name() const { return name_; }
  uint64_t messages_run() const { return messages_.load(std::memory_order_relaxed); }
  uint64_t wakeups() const { return wakeups_.load(std::memory_order_relaxed); }
  bool running() const { return thread_.joinable(); }

 private:
  void loop();

  const ThreadId id_;
  const std::string name_;
  alignas(64) tbb::concurrent_queue<Work> queue_;
  alignas(64) std::atomic<uint32_t> idle_{0};
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> messages_{0};
  std::atomic<uint64_t> wakeups_{0};
  std::thread thread_;
};

}  // namespace vdofs::threads
