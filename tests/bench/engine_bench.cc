// Engine micro-benchmarks (reported, not asserted):
//   BM_QueueHop           messages/s bounced between two zone threads (a ping-pong chain)
//   BM_QueueFanIn         messages/s from N producers into one zone thread
//   BM_WakeupLatency      time from enqueue to a sleeping zone thread running the message
//   BM_Sha256Single       SHA-256 of 4 KiB blocks on one thread (compare: openssl speed -evp sha256
//   -bytes 4096) BM_HashStage          4 KiB blocks/s through the CpuPool (TBB arena) in batches of
//   8 BM_VolumeWrite*       end-to-end 1 MiB writes through Volume on a RamDevice (unique /
//   duplicate)
#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>

#include "engine/base/sha256.h"
#include "engine/threads/cpu_pool.h"
#include "engine/threads/zone_thread.h"
#include "tests/support/volume_harness.h"

using namespace vdofs;

namespace {

struct PingPong {
  threads::ZoneThread* a;
  threads::ZoneThread* b;
  uint64_t left;
  std::atomic<bool> done{false};
};

void hop(void* arg);
void hop_b(void* arg) {
  auto* p = static_cast<PingPong*>(arg);
  p->a->enqueue(threads::Work{&hop, p});
}
void hop(void* arg) {
  auto* p = static_cast<PingPong*>(arg);
  if (--p->left == 0) {
    p->done.store(true, std::memory_order_release);
    p->done.notify_all();
    return;
  }
  p->b->enqueue(threads::Work{&hop_b, p});
}

void BM_QueueHop(benchmark::State& state) {
  threads::ZoneThread a(0, "benchA"), b(1, "benchB");
  a.start();
  b.start();
  const uint64_t kHops = 100000;
  for (auto _ : state) {
    PingPong p{&a, &b, kHops};
    a.enqueue(threads::Work{&hop, &p});
    while (!p.done.load(std::memory_order_acquire)) p.done.wait(false);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kHops * 2));
  a.stop();
  b.stop();
}
BENCHMARK(BM_QueueHop)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_QueueFanIn(benchmark::State& state) {
  threads::ZoneThread sink(0, "benchSink");
  sink.start();
  const int producers = static_cast<int>(state.range(0));
  const uint64_t kPer = 200000;
  for (auto _ : state) {
    std::atomic<uint64_t> seen{0};
    std::vector<std::thread> ts;
    for (int i = 0; i < producers; ++i)
      ts.emplace_back([&] {
        for (uint64_t k = 0; k < kPer; ++k)
          sink.enqueue(threads::Work{[](void* s) {
                                       static_cast<std::atomic<uint64_t>*>(s)->fetch_add(
                                           1, std::memory_order_relaxed);
                                     },
                                     &seen});
      });
    for (auto& t : ts) t.join();
    while (seen.load() < kPer * static_cast<uint64_t>(producers)) std::this_thread::yield();
  }
  state.SetItemsProcessed(
      static_cast<int64_t>(state.iterations() * kPer * static_cast<uint64_t>(producers)));
  state.counters["wakeups"] = static_cast<double>(sink.wakeups());
  sink.stop();
}
BENCHMARK(BM_QueueFanIn)->Arg(1)->Arg(2)->Arg(4)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_WakeupLatency(benchmark::State& state) {
  threads::ZoneThread t(0, "benchWake");
  t.start();
  struct Msg {
    std::chrono::steady_clock::time_point sent;
    std::atomic<int64_t> ns{-1};
  };
  double total = 0;
  for (auto _ : state) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // let the thread go to sleep
    Msg m;
    m.sent = std::chrono::steady_clock::now();
    t.enqueue(threads::Work{[](void* a) {
                              auto* mm = static_cast<Msg*>(a);
                              mm->ns.store((std::chrono::steady_clock::now() - mm->sent).count());
                              mm->ns.notify_all();
                            },
                            &m});
    for (int64_t v = m.ns.load(); v < 0; v = m.ns.load()) m.ns.wait(v);
    total += static_cast<double>(m.ns.load());
    state.SetIterationTime(static_cast<double>(m.ns.load()) * 1e-9);
  }
  state.counters["wake_us"] = total / static_cast<double>(state.iterations()) / 1000.0;
  t.stop();
}
BENCHMARK(BM_WakeupLatency)->UseManualTime()->Unit(benchmark::kMicrosecond)->Iterations(300);

void BM_Sha256Single(benchmark::State& state) {
  std::vector<std::byte> block(kBlockSize, std::byte{7});
  for (auto _ : state) {
    block[0] = static_cast<std::byte>(state.iterations());
    benchmark::DoNotOptimize(sha256(block));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kBlockSize));
}
BENCHMARK(BM_Sha256Single);

void BM_HashStage(benchmark::State& state) {
  threads::CpuPool pool(static_cast<uint32_t>(state.range(0)));
  const uint32_t kBatches = 4096, kBatch = 8;
  std::vector<std::array<std::byte, kBlockSize>> blocks(kBatch * 64);
  for (size_t i = 0; i < blocks.size(); ++i)
    memset(blocks[i].data(), static_cast<int>(i), kBlockSize);
  struct Job {
    std::array<std::byte, kBlockSize>* first;
    std::atomic<uint32_t>* left;
  };
  std::vector<Job> jobs(kBatches);
  for (auto _ : state) {
    std::atomic<uint32_t> left{kBatches};
    for (uint32_t i = 0; i < kBatches; ++i) {
      jobs[i] = Job{&blocks[(i % 64) * kBatch], &left};
      pool.submit(
          [](void* a) {
            auto* j = static_cast<Job*>(a);
            for (uint32_t k = 0; k < kBatch; ++k) benchmark::DoNotOptimize(sha256(j->first[k]));
            if (j->left->fetch_sub(1) == 1) j->left->notify_all();
          },
          &jobs[i]);
    }
    for (uint32_t v = left.load(); v != 0; v = left.load()) left.wait(v);
  }
  state.SetBytesProcessed(
      static_cast<int64_t>(state.iterations() * kBatches * kBatch * kBlockSize));
}
BENCHMARK(BM_HashStage)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

void volume_write(benchmark::State& state, bool duplicate) {
  test::HarnessOptions o;
  o.physical_blocks = 1u << 20;  // 4 GiB RAM device (sparse map)
  o.logical_blocks = 4u << 20;
  o.slab_bits = 15;
  o.max_in_flight = 2048;
  o.cache_pages = 8192;
  o.threads = threads::ThreadCounts::defaults_for_machine();
  test::Harness h(o);
  const size_t kMiB = 1 << 20;
  auto base = test::pattern(1, 256);
  uint64_t offset = 0, n = 0;
  for (auto _ : state) {
    std::vector<std::byte> data = base;
    if (!duplicate)
      memcpy(data.data(), &n, sizeof n), memcpy(data.data() + 4096 * 128, &n, sizeof n);
    if (!duplicate)
      for (size_t b = 0; b < 256; ++b) memcpy(data.data() + b * 4096 + 8, &n, sizeof n);
    auto ec = test::write(h.volume(), offset, data);
    if (ec) state.SkipWithError(ec.message().c_str());
    offset = (offset + kMiB) % (uint64_t{2} << 30);
    ++n;
  }
  test::flush(h.volume());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kMiB));
}
void BM_VolumeWriteUnique(benchmark::State& s) { volume_write(s, false); }
void BM_VolumeWriteDuplicate(benchmark::State& s) { volume_write(s, true); }
BENCHMARK(BM_VolumeWriteUnique)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3);
BENCHMARK(BM_VolumeWriteDuplicate)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3);

}  // namespace

BENCHMARK_MAIN();
