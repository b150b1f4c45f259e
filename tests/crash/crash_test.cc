// Crash consistency on an in-memory device that can lose power: random workloads crash at
// random operations and at named points of the write path (sync points), with unflushed writes
// dropped, partly kept, and one write torn at 512-byte granularity. After each remount every
// flushed write must read back, every block must hold a value that was actually written, and the
// offline check must find the reference counts exact.
//
// Seeds are printed; VDOFS_CRASH_SEED=N reruns one iteration, VDOFS_CRASH_ITERATIONS sets how many.
#include <execinfo.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <unordered_map>

#include "engine/base/sync_point.h"
#include "engine/io/fault_device.h"
#include "tests/support/volume_harness.h"

namespace vdofs::test {
namespace {

// The seed of the iteration in progress, for the fatal-signal report below.
std::atomic<uint64_t> g_current_seed{0};

// A crash of the test process itself (SIGSEGV, SIGABRT, SIGBUS) names the seed and prints a
// backtrace of the faulting thread, so that a rare failure seen once on a loaded machine can be
// rerun with VDOFS_CRASH_SEED and diagnosed. Only async-signal-safe calls are made.
void report_fatal_signal(int sig) {
  char line[128];
  int n = snprintf(line, sizeof line, "\nfatal signal %d in crash iteration seed %llu\n", sig,
                   static_cast<unsigned long long>(g_current_seed.load()));
  if (n > 0) (void)!::write(STDERR_FILENO, line, static_cast<size_t>(n));
  void* frames[64];
  backtrace_symbols_fd(frames, backtrace(frames, 64), STDERR_FILENO);
  signal(sig, SIG_DFL);
  raise(sig);
}

void install_fatal_signal_report() {
  void* warm[1];
  backtrace(warm, 1);  // loads libgcc now: the first call may allocate, which a handler must not
  for (int sig : {SIGSEGV, SIGABRT, SIGBUS, SIGFPE}) signal(sig, report_fatal_signal);
}

uint64_t env_u64(const char* name, uint64_t fallback) {
  const char* v = getenv(name);
  return v ? strtoull(v, nullptr, 10) : fallback;
}

// A content id names a block's bytes: 0 = zeros, else pattern_block(id).
struct Model {
  std::map<uint64_t, uint64_t> durable;                // LBN -> content as of the last flush
  std::map<uint64_t, std::set<uint64_t>> since_flush;  // LBN -> contents written since
  std::map<uint64_t, uint64_t> current;

  void set(uint64_t lbn, uint64_t id) {
    current[lbn] = id;
    since_flush[lbn].insert(id);
  }
  void flushed() {
    durable = current;
    since_flush.clear();
  }
};

// The crash trigger: the hook counts hits of one named point and pulls the plug at the k-th.
struct Trigger {
  std::mutex mu;
  std::string point;
  uint64_t countdown = 0;
  io::RamDevice* device = nullptr;
  io::CrashOptions crash;
  std::unique_ptr<io::RamDevice> survivor;

  static void hook(const char* name, void* arg) {
    auto* t = static_cast<Trigger*>(arg);
    std::lock_guard lock(t->mu);
    if (t->survivor || t->point != name || t->countdown == 0) return;
    if (--t->countdown == 0) t->survivor = t->device->crash(t->crash);
  }
  bool fired() {
    std::lock_guard lock(mu);
    return survivor != nullptr;
  }
};

const char* kPoints[] = {"journal:commit-submitting",
                         "journal:committed",
                         "checkpoint:zones-written",
                         "checkpoint:flushed",
                         "io:data-written",
                         "io:batch-block-written",
                         "io:written"};

struct Content {
  std::unordered_map<std::string, uint64_t> ids;  // bytes -> id
  std::vector<std::byte> block(uint64_t id) { return pattern_block(id); }
  uint64_t identify(const std::vector<std::byte>& b) {
    std::string key(reinterpret_cast<const char*>(b.data()), b.size());
    auto it = ids.find(key);
    return it == ids.end() ? UINT64_MAX : it->second;
  }
  void learn(uint64_t id) {
    auto b = pattern_block(id);
    ids[std::string(reinterpret_cast<const char*>(b.data()), b.size())] = id;
  }
};

HarnessOptions crash_options(std::mt19937_64& rng) {
  HarnessOptions o;
  o.physical_blocks = 8192;  // 32 MiB
  o.logical_blocks = 4096 * 4;
  o.slab_bits = 9;
  o.journal_blocks = 16 << (rng() % 3);  // small: checkpoints and wraps happen often
  o.cache_pages = 16 + rng() % 64;       // small: leaf pages are evicted and written back
  o.max_in_flight = 64;
  o.threads.logical = 1 + static_cast<uint32_t>(rng() % 3);
  o.threads.physical = 1 + static_cast<uint32_t>(rng() % 2);
  o.threads.hash = 1 + static_cast<uint32_t>(rng() % 2);
  o.threads.io = 2;
  o.threads.index = 1;
  o.threads.cpu = 2;
  o.threads.single_thread = rng() % 4 == 0;
  return o;
}

// One iteration: random operations, a crash, recovery, verification. Returns false on failure.
void run_iteration(uint64_t seed) {
  SCOPED_TRACE("seed " + std::to_string(seed) +
               " (rerun with VDOFS_CRASH_SEED=" + std::to_string(seed) + ")");
  std::mt19937_64 rng(seed);
  HarnessOptions o = crash_options(rng);
  Harness h(o);
  Model model;
  Content content;
  content.learn(0);
  Trigger trigger;
  trigger.crash = io::CrashOptions{(rng() % 3) * 0.4, rng() % 2 == 0, seed};
  const bool at_point = rng() % 3 != 0;
  if (at_point) {
    trigger.point = kPoints[rng() % std::size(kPoints)];
    trigger.countdown = 1 + rng() % 40;
  }
  trigger.device = &h.device();
  set_sync_point_hook(&Trigger::hook, &trigger);
  const uint64_t ops = 20 + rng() % 120;
  const uint64_t crash_at_op = rng() % ops;
  const uint64_t lbn_space = 2000 + rng() % 8000;  // spread over several leaves and trees
  std::vector<std::string> oplog;                  // printed when the iteration fails
  for (uint64_t op = 0; op < ops && !trigger.fired(); ++op) {
    if (!at_point && op == crash_at_op) break;
    uint64_t lbn = rng() % lbn_space;
    uint64_t n = 1 + rng() % 24;
    if (lbn + n > o.logical_blocks) n = o.logical_blocks - lbn;
    unsigned kind = static_cast<unsigned>(rng() % 100);
    std::error_code ec;
    if (kind < 60) {  // write: a mix of repeated (dedupe) and fresh contents
      std::vector<std::byte> data;
      std::vector<uint64_t> ids;
      for (uint64_t i = 0; i < n; ++i) {
        uint64_t id = rng() % 3 == 0 ? 1 + rng() % 30 : 1000 + seed * 100000 + op * 64 + i;
        if (rng() % 10 == 0) id = 0;
        content.learn(id);
        auto b = content.block(id);
        data.insert(data.end(), b.begin(), b.end());
        ids.push_back(id);
      }
      bool fua = rng() % 8 == 0;
      ec = write(h.volume(), lbn * kBlockSize, data, fua);
      std::string ids_s;
      for (auto id : ids) ids_s += " " + std::to_string(id);
      oplog.push_back("write" + std::string(fua ? "(fua)" : "") + " " + std::to_string(lbn) + "+" +
                      std::to_string(n) + ":" + ids_s + (ec ? " -> " + ec.message() : ""));
      if (ec) {  // interrupted by the crash: any of its blocks may or may not have persisted
        for (uint64_t i = 0; i < n; ++i) model.since_flush[lbn + i].insert(ids[i]);
      } else {
        for (uint64_t i = 0; i < n; ++i) model.set(lbn + i, ids[i]);
        if (fua)  // durable on acknowledgement
          for (uint64_t i = 0; i < n; ++i) {
            model.durable[lbn + i] = ids[i];
            model.since_flush[lbn + i] = {ids[i]};
          }
      }
    } else if (kind < 75) {
      ec = discard(h.volume(), lbn * kBlockSize, n * kBlockSize);
      oplog.push_back("discard " + std::to_string(lbn) + "+" + std::to_string(n) +
                      (ec ? " -> " + ec.message() : ""));
      if (ec) {
        for (uint64_t i = 0; i < n; ++i) model.since_flush[lbn + i].insert(0);
      } else {
        for (uint64_t i = 0; i < n; ++i) {
          model.set(lbn + i, 0);
          model.durable[lbn + i] = 0;  // discards are acknowledged after commit
          model.since_flush[lbn + i] = {0};
        }
      }
    } else if (kind < 90) {
      ec = flush(h.volume());
      oplog.push_back(std::string("flush") + (ec ? " -> " + ec.message() : ""));
      if (!ec) model.flushed();
    } else {
      std::vector<std::byte> out(n * kBlockSize);
      ec = read(h.volume(), lbn * kBlockSize, out);
      if (!ec) {
        for (uint64_t i = 0; i < n; ++i) {
          std::vector<std::byte> b(out.begin() + static_cast<ptrdiff_t>(i * kBlockSize),
                                   out.begin() + static_cast<ptrdiff_t>((i + 1) * kBlockSize));
          uint64_t want = model.current.count(lbn + i) ? model.current[lbn + i] : 0;
          ASSERT_EQ(content.identify(b), want) << "live read of LBN " << lbn + i;
        }
      }
    }
    if (ec) {
      ASSERT_TRUE(trigger.fired()) << "operation failed without a crash: " << ec.message();
      break;
    }
  }
  std::unique_ptr<io::RamDevice> survivor;
  {
    std::lock_guard lock(trigger.mu);
    trigger.countdown = 0;
    survivor = std::move(trigger.survivor);
  }
  if (!survivor) survivor = h.device().crash(trigger.crash);
  set_sync_point_hook(nullptr, nullptr);
  h.adopt(std::move(survivor));
  ASSERT_FALSE(h.try_open()) << "recovery failed";
  // Every LBN holds its flushed value or one written after the last flush; never anything else.
  std::set<uint64_t> lbns;
  for (auto& [l, v] : model.durable) lbns.insert(l);
  for (auto& [l, v] : model.since_flush) lbns.insert(l);
  for (uint64_t l : lbns) {
    std::vector<std::byte> out(kBlockSize);
    ASSERT_FALSE(read(h.volume(), l * kBlockSize, out));
    uint64_t got = content.identify(out);
    uint64_t durable = model.durable.count(l) ? model.durable[l] : 0;
    const auto& later = model.since_flush[l];
    if (!(got == durable || later.count(got))) {
      for (auto& line : oplog) printf("  op: %s\n", line.c_str());
      printf("  crash: %s countdown, keep %.1f tear %d\n",
             at_point ? trigger.point.c_str() : "at op", trigger.crash.keep_unflushed,
             trigger.crash.tear_one);
    }
    ASSERT_TRUE(got == durable || later.count(got))
        << "LBN " << l << " reads content " << got << ", flushed content " << durable
        << (got == UINT64_MAX ? " (bytes that were never written)" : "");
  }
  engine::CheckReport r = h.close_and_check();
  ASSERT_EQ(r.problem_count(), 0u) << describe(r);
  // The recovered volume keeps working.
  ASSERT_FALSE(write(h.volume(), 0, pattern(seed, 4)));
  ASSERT_FALSE(flush(h.volume()));
}

TEST(Crash, RandomWorkloadsCrashAnywhere) {
  uint64_t only = env_u64("VDOFS_CRASH_SEED", 0);
  uint64_t iterations = only ? 1 : env_u64("VDOFS_CRASH_ITERATIONS", 300);
  uint64_t base = only ? only : env_u64("VDOFS_CRASH_BASE_SEED", 1);
  install_fatal_signal_report();
  for (uint64_t i = 0; i < iterations; ++i) {
    uint64_t seed = base + i;
    g_current_seed.store(seed);
    if (getenv("VDOFS_CRASH_VERBOSE")) {
      printf("seed %llu\n", static_cast<unsigned long long>(seed));
      fflush(stdout);
    }
    run_iteration(seed);
    if (::testing::Test::HasFatalFailure() || ::testing::Test::HasNonfatalFailure()) {
      printf("crash iteration failed: seed %llu\n", static_cast<unsigned long long>(seed));
      set_sync_point_hook(nullptr, nullptr);
      return;
    }
  }
  printf("%llu crash iterations from seed %llu passed\n",
         static_cast<unsigned long long>(iterations), static_cast<unsigned long long>(base));
}

// A volume opened with deferred recovery reports "recovering" until recover() has run.
TEST(Crash, StatsSayRecoveringUntilRecovered) {
  std::mt19937_64 rng(7);
  HarnessOptions o = crash_options(rng);
  Harness h(o);
  ASSERT_FALSE(write(h.volume(), 0, pattern(1, 64)));
  ASSERT_FALSE(flush(h.volume()));
  h.adopt(h.device().crash(io::CrashOptions{0.0, false, 7}));
  engine::VolumeOptions vo = h.volume_options();
  vo.defer_recovery = true;
  auto v = engine::Volume::open(h.device(), vo);
  ASSERT_TRUE(v.has_value()) << v.error().message();
  auto before = (*v)->stats();
  EXPECT_EQ(before.operating_mode, "recovering");
  EXPECT_FALSE((*v)->ready());
  ASSERT_TRUE((*v)->recover().has_value());
  auto after = (*v)->stats();
  EXPECT_EQ(after.operating_mode, "normal");
  EXPECT_EQ(after.completed_recovery_count, before.completed_recovery_count + 1);
  std::vector<std::byte> out(64 * kBlockSize);
  ASSERT_FALSE(read(**v, 0, out));
  EXPECT_EQ(out, pattern(1, 64));
  ASSERT_TRUE((*v)->close().has_value());
}

// Power fails during recovery itself; the next recovery must still succeed.
TEST(Crash, CrashDuringRecovery) {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng(seed);
    HarnessOptions o = crash_options(rng);
    Harness h(o);
    std::vector<std::byte> all;
    for (int i = 0; i < 40; ++i) {
      auto d = pattern(seed * 1000 + static_cast<uint64_t>(i) * 8, 8);
      ASSERT_FALSE(write(h.volume(), static_cast<uint64_t>(i) * 97 * kBlockSize, d));
    }
    ASSERT_FALSE(flush(h.volume()));
    h.adopt(h.device().crash(io::CrashOptions{0.0, false, seed}));
    Trigger t;
    t.point = rng() % 2 ? "recovery:replayed" : "io:written";
    t.countdown = 1 + rng() % 3;
    t.device = &h.device();
    t.crash = io::CrashOptions{0.5, true, seed};
    set_sync_point_hook(&Trigger::hook, &t);
    std::error_code ec = h.try_open();
    set_sync_point_hook(nullptr, nullptr);
    if (t.survivor) {
      h.adopt(std::move(t.survivor));
      ASSERT_FALSE(h.try_open()) << "second recovery failed";
    } else {
      ASSERT_FALSE(ec);
    }
    for (int i = 0; i < 40; ++i) {
      std::vector<std::byte> out(8 * kBlockSize);
      ASSERT_FALSE(read(h.volume(), static_cast<uint64_t>(i) * 97 * kBlockSize, out));
      ASSERT_EQ(out, pattern(seed * 1000 + static_cast<uint64_t>(i) * 8, 8)) << "chunk " << i;
    }
    h.close_and_check();
  }
}

}  // namespace
}  // namespace vdofs::test
