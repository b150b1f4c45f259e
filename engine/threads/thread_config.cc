#include "engine/threads/thread_config.h"

#include <unistd.h>

#include "engine/base/assert.h"
#include "engine/base/countdown.h"

namespace vdofs::threads {

namespace {
thread_local int t_inline_depth = 0;
constexpr int kMaxInlineDepth = 24;
}  // namespace

ThreadCounts ThreadCounts::defaults_for_machine() {
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  if (cpus < 1) cpus = 1;
  ThreadCounts c;
  // VDO's LVM defaults are 1/1/1 with 2 CPU threads; scale zones with cores, keeping
  // logical:physical:hash roughly 2:1:1 as the VDO team's thread-config sweeps favoured.
  uint32_t n = static_cast<uint32_t>(cpus);
  c.logical = n >= 8 ? n / 4 : 1;
  c.physical = n >= 8 ? n / 8 : 1;
  c.hash = n >= 8 ? n / 8 : 1;
  c.io = 4;  // as VDO: bio threads mostly wait on the device; more keep reads in flight
  c.index = std::max<uint32_t>(1, std::min<uint32_t>(16, n / 2));
  c.cpu = n;
  return c;
}

std::string ThreadCounts::validate() const {
  if (logical < 1 || logical > 60) return "logical_zones must be 1..60";
  if (physical < 1 || physical > 16) return "physical_zones must be 1..16";
  if (hash < 1 || hash > 100) return "hash_zones must be 1..100";
  if (io < 1 || io > 100) return "io_threads must be 1..100";
  if (index < 1 || index > 16) return "index_zones must be 1..16";
  if (cpu > 100) return "cpu_threads must be 0..100";
  return "";
}

ThreadConfig::ThreadConfig(const ThreadCounts& counts) : counts_(counts) {
  if (counts_.single_thread) {
    ThreadId t = add("reqQ");
    logical_.assign(counts_.logical, t);
    physical_.assign(counts_.physical, t);
    hash_.assign(counts_.hash, t);
    io_.assign(counts_.io, t);
    journal_ = t;
    return;
  }
  for (uint32_t i = 0; i < counts_.logical; ++i)
    logical_.push_back(add("logQ" + std::to_string(i)));
  for (uint32_t i = 0; i < counts_.physical; ++i)
    physical_.push_back(add("physQ" + std::to_string(i)));
  for (uint32_t i = 0; i < counts_.hash; ++i) hash_.push_back(add("hashQ" + std::to_string(i)));
  journal_ = add("journalQ");
  for (uint32_t i = 0; i < counts_.io; ++i) io_.push_back(add("bioQ" + std::to_string(i)));
}

ThreadConfig::~ThreadConfig() { stop(); }

ThreadId ThreadConfig::add(const std::string& name) {
  auto id = static_cast<ThreadId>(threads_.size());
  threads_.push_back(std::make_unique<ZoneThread>(id, name));
  return id;
}

void ThreadConfig::start() {
  if (started_) return;
  for (auto& t : threads_) t->start();
  started_ = true;
}

void ThreadConfig::stop() {
  if (!started_) return;
  for (auto it = threads_.rbegin(); it != threads_.rend(); ++it) (*it)->stop();
  started_ = false;
}

void ThreadConfig::barrier() {
  Countdown left(static_cast<uint32_t>(threads_.size()));
  for (auto& th : threads_)
    th->enqueue(Work{[](void* a) {
                       std::unique_ptr<Countdown> c(static_cast<Countdown*>(a));
                       c->count_down();
                     },
                     new Countdown(left.share())});
  left.wait();
}

bool ThreadConfig::drain(bool (*idle)(void*), void* arg, int max_rounds) {
  if (!started_) return true;
  const auto n = static_cast<uint32_t>(threads_.size());
  auto total = [&] {
    uint64_t t = 0;
    for (auto& th : threads_) t += th->messages_run();
    return t;
  };
  for (int round = 0; round < max_rounds; ++round) {
    bool idle_before = !idle || idle(arg);
    uint64_t before = total();
    barrier();
    uint64_t after = total();
    if (idle_before && after - before == n && (!idle || idle(arg))) return true;
  }
  return false;
}

void ThreadConfig::launch(ThreadId t, void (*fn)(void*), void* arg) {
  VDOFS_DCHECK(t < threads_.size());
  if (current_thread() == t && t_inline_depth < kMaxInlineDepth) {
    ++t_inline_depth;
    fn(arg);
    --t_inline_depth;
    return;
  }
  threads_[t]->enqueue(Work{fn, arg});
}

void ThreadConfig::enqueue(ThreadId t, void (*fn)(void*), void* arg) {
  VDOFS_DCHECK(t < threads_.size());
  threads_[t]->enqueue(Work{fn, arg});
}

}  // namespace vdofs::threads
