// Google Benchmark programs for the dedupe index: requests per second through the zone threads
// (POST of new names, QUERY hits in closed chapters) for 1..N zones, and the raw volume index
// (insert and lookup per second on one thread, bytes per record).
//
// Threads: the benchmark thread submits batches and waits; callbacks run on index threads.
// Registered as a meson benchmark (meson test -C BUILD --benchmark), or run
// build/tests/index_bench.
#include <benchmark/benchmark.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

#include "engine/io/ram_device.h"
#include "index/geometry.h"
#include "index/index.h"
#include "index/volume_index.h"

namespace vdofs::index {
namespace {

uint64_t mix(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

RecordName name_of(uint64_t i) {
  RecordName n;
  uint64_t a = mix(i), b = mix(a ^ i);
  memcpy(n.bytes.data(), &a, 8);
  memcpy(n.bytes.data() + 8, &b, 8);
  return n;
}

struct Batch {
  std::mutex mu;
  std::condition_variable cv;
  size_t left = 0;
};

void done(Request* r) {
  auto* b = static_cast<Batch*>(r->context);
  std::lock_guard lock(b->mu);
  if (--b->left == 0) b->cv.notify_all();
}

// Runs `reqs` through the index in one batch and waits.
void run(DedupeIndex& idx, std::vector<Request>& reqs) {
  Batch b;
  b.left = reqs.size();
  for (auto& r : reqs) {
    r.callback = &done;
    r.context = &b;
    idx.submit(&r);
  }
  std::unique_lock lock(b.mu);
  b.cv.wait(lock, [&] { return b.left == 0; });
}

struct Fixture {
  std::unique_ptr<io::RamDevice> dev;
  std::unique_ptr<DedupeIndex> idx;
  Fixture(uint64_t memory, bool sparse, uint32_t zones) {
    IndexConfig c{memory, sparse, zones};
    dev = std::make_unique<io::RamDevice>(index_region_blocks(memory, sparse));
    IndexRegion region{dev.get(), 0, dev->block_count(), 42};
    (void)format_index(region, c);
    auto opened = open_index(region, c, false);
    idx = std::move(*opened);
    idx->start();
    idx->wait_until_online(std::chrono::seconds(60));
  }
  ~Fixture() { idx->stop(); }
};

constexpr size_t kBatch = 8192;

void BM_PostNewNames(benchmark::State& state) {
  const uint32_t zones = static_cast<uint32_t>(state.range(0));
  Fixture f(16 << 20, false, zones);
  std::vector<Request> reqs(kBatch);
  uint64_t next = 0;
  for (auto _ : state) {
    for (auto& r : reqs) {
      r = Request{};
      r.type = RequestType::kPost;
      r.name = name_of(next++);
      r.new_advice = Advice{next, 0};
    }
    run(*f.idx, reqs);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kBatch));
  const IndexStats s = f.idx->stats();
  state.counters["per_zone/s"] = benchmark::Counter(
      static_cast<double>(state.iterations() * kBatch) / zones, benchmark::Counter::kIsRate);
  state.counters["vi_bytes/entry"] = static_cast<double>(s.volume_index_bytes) /
                                     static_cast<double>(std::max<uint64_t>(s.entries, 1));
}
BENCHMARK(BM_PostNewNames)->Arg(1)->Arg(2)->Arg(4)->UseRealTime();

void BM_QueryHitsOnDisk(benchmark::State& state) {
  const uint32_t zones = static_cast<uint32_t>(state.range(0));
  Fixture f(16 << 20, false, zones);
  constexpr uint64_t kNames = 1 << 20;
  std::vector<Request> reqs(kBatch);
  for (uint64_t at = 0; at < kNames; at += kBatch) {
    for (uint64_t i = 0; i < kBatch; ++i) {
      reqs[i] = Request{};
      reqs[i].type = RequestType::kPost;
      reqs[i].name = name_of(at + i);
    }
    run(*f.idx, reqs);
  }
  // QUERY the names in write order (a rewrite of old data): chapter pages through the cache.
  uint64_t next = 0;
  for (auto _ : state) {
    for (auto& r : reqs) {
      r = Request{};
      r.type = RequestType::kQuery;
      r.name = name_of(next++ % kNames);
    }
    run(*f.idx, reqs);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kBatch));
  const IndexStats s = f.idx->stats();
  state.counters["per_zone/s"] = benchmark::Counter(
      static_cast<double>(state.iterations() * kBatch) / zones, benchmark::Counter::kIsRate);
  state.counters["hit%"] = 100.0 * static_cast<double>(s.found) / static_cast<double>(s.queries);
  state.counters["page_reads"] = static_cast<double>(s.page_reads);
}
BENCHMARK(BM_QueryHitsOnDisk)->Arg(1)->Arg(2)->Arg(4)->UseRealTime();

void BM_VolumeIndexInsertLookup(benchmark::State& state) {
  const Geometry g = compute_geometry(static_cast<uint64_t>(state.range(0)) << 20, false);
  VolumeIndex vi(g);
  uint64_t next = 0;
  VolumeIndex::Candidate c[VolumeIndex::kMaxCandidates];
  uint64_t in_chapter = 0;
  for (auto _ : state) {
    const RecordName n = name_of(next++);
    vi.insert(vi.key_of(n), vi.open_chapter());
    benchmark::DoNotOptimize(vi.lookup(vi.key_of(name_of(next / 2)), c));
    if (++in_chapter == g.records_per_chapter) {
      vi.advance();
      in_chapter = 0;
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.counters["bytes/entry"] = static_cast<double>(vi.memory_bytes()) /
                                  static_cast<double>(std::max<uint64_t>(vi.live(), 1));
}
BENCHMARK(BM_VolumeIndexInsertLookup)->Arg(16)->Arg(256);

}  // namespace
}  // namespace vdofs::index

BENCHMARK_MAIN();
