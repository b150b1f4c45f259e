// The index through its public API (index.h): request semantics, the window, save/load, crash
// recovery with sync(), sparse mode, bypass while loading/rebuilding, and damaged regions.
// The test thread submits and waits; callbacks run on the index threads (index_test_util.h).
#include "index/index.h"

#include <gtest/gtest.h>

#include <thread>

#include "index/geometry.h"
#include "tests/unit/index/index_test_util.h"

namespace vdofs::index {
namespace {

using test::Client;
using test::name_of;
using test::TestRegion;

constexpr uint64_t kMiB = 1 << 20;

IndexConfig dense_config(uint32_t zones = 2) { return IndexConfig{kMiB, false, zones}; }

TEST(IndexTest, PostQueryUpdateSemantics) {
  TestRegion region(dense_config());
  auto idx = region.open(false);
  ASSERT_TRUE(idx);
  EXPECT_EQ(idx->stats().open_result, "new");
  Client c(*idx);
  const RecordName a = name_of(1), b = name_of(2), d = name_of(3);
  Request r = c.one(RequestType::kPost, a, 10);
  EXPECT_FALSE(r.found);
  r = c.one(RequestType::kPost, a, 20);  // POST of a known name: found, advice unchanged
  EXPECT_TRUE(r.found);
  EXPECT_EQ(r.advice.pbn, 10u);
  r = c.one(RequestType::kQuery, b);
  EXPECT_FALSE(r.found);
  r = c.one(RequestType::kQuery, b);  // QUERY inserts nothing
  EXPECT_FALSE(r.found);
  r = c.one(RequestType::kUpdate, a, 30);
  EXPECT_TRUE(r.found);
  EXPECT_EQ(r.advice.pbn, 10u);  // what the index held before
  r = c.one(RequestType::kQuery, a);
  EXPECT_TRUE(r.found);
  EXPECT_EQ(r.advice.pbn, 30u);
  EXPECT_EQ(r.advice.generation, 7u);
  r = c.one(RequestType::kUpdate, d, 5);  // UPDATE of an unknown name inserts it
  EXPECT_FALSE(r.found);
  EXPECT_EQ(c.one(RequestType::kQuery, d).advice.pbn, 5u);
  IndexStats s = idx->stats();
  EXPECT_EQ(s.posts, 2u);
  EXPECT_EQ(s.queries, 4u);
  EXPECT_EQ(s.updates, 2u);
  EXPECT_EQ(s.found, 4u);
  EXPECT_EQ(s.not_found, 4u);
  EXPECT_EQ(s.entries, 2u);
  EXPECT_EQ(s.state, "online");
}

TEST(IndexTest, StartWaitsForASmallIndexToComeOnline) {
  TestRegion region(dense_config());
  {
    auto idx = region.open(false);
    Client c(*idx);
    c.range(RequestType::kPost, 0, 1000);
    idx->stop();
    ASSERT_TRUE(idx->save());
  }
  auto opened = open_index(region.region(), region.config, true);
  ASSERT_TRUE(opened);
  (*opened)->start();  // no wait_until_online: start() waited (online_wait_ms)
  EXPECT_EQ((*opened)->stats().state, "online");
  Client c(**opened);
  EXPECT_EQ(c.range(RequestType::kPost, 0, 1000), 1000u);
}

TEST(IndexTest, FindsNamesInClosedChaptersOnDisk) {
  TestRegion region(dense_config());
  auto idx = region.open(false);
  Client c(*idx);
  constexpr uint64_t kNames = 30000;  // several chapters per partition
  EXPECT_EQ(c.range(RequestType::kPost, 0, kNames), 0u);
  c.sync();  // also waits for the chapter writes queued before it
  EXPECT_GT(idx->stats().chapters_written, 4u);
  std::vector<Request> out;
  EXPECT_EQ(c.range(RequestType::kQuery, 0, kNames, 0, &out), kNames);
  for (uint64_t i = 0; i < kNames; ++i) ASSERT_EQ(out[i].advice.pbn, 1000 + i) << i;
  EXPECT_EQ(c.range(RequestType::kQuery, kNames, 2000), 0u);
  IndexStats s = idx->stats();
  EXPECT_GT(s.page_reads, 0u);
  EXPECT_GT(s.page_waits, 0u) << "cache misses are read by the reader threads";
  EXPECT_EQ(s.entries, kNames + 0u);
}

TEST(IndexTest, StopAnswersEverythingInFlight) {
  TestRegion region(dense_config());
  auto idx = region.open(false);
  Client c(*idx);
  constexpr uint64_t kNames = 30000;
  c.range(RequestType::kPost, 0, kNames);
  // Queries that need chapter pages (reader threads), submitted without waiting, then stop().
  std::vector<Request> reqs(kNames);
  std::atomic<uint64_t> calls{0}, found{0};
  struct Ctx {
    std::atomic<uint64_t>* calls;
    std::atomic<uint64_t>* found;
  } ctx{&calls, &found};
  for (uint64_t i = 0; i < kNames; ++i) {
    reqs[i].type = RequestType::kQuery;
    reqs[i].name = name_of(i);
    reqs[i].context = &ctx;
    reqs[i].callback = [](Request* r) {
      auto* x = static_cast<Ctx*>(r->context);
      x->calls->fetch_add(1);
      if (r->found) x->found->fetch_add(1);
    };
    idx->submit(&reqs[i]);
  }
  idx->stop();
  EXPECT_EQ(calls.load(), kNames);
  EXPECT_EQ(found.load(), kNames);
  ASSERT_TRUE(idx->save());
}

TEST(IndexTest, WindowExpiresTheOldestAndHitsRefresh) {
  TestRegion region(dense_config());
  auto idx = region.open(false);
  Client c(*idx);
  const uint64_t window = idx->stats().capacity;
  ASSERT_GE(window, kMiB / 4);
  // Name 0..999 early; refresh the first 500 after half a window; then write another window.
  c.range(RequestType::kPost, 0, 1000);
  c.range(RequestType::kPost, 1000, window / 2);
  EXPECT_EQ(c.range(RequestType::kQuery, 0, 500), 500u);  // hit: copied into the open chapter
  c.range(RequestType::kPost, 1000 + window / 2, window * 7 / 10);
  // The window is full: measure the RAM per entry now.
  IndexStats s = idx->stats();
  EXPECT_GT(s.discarded, 0u);
  EXPECT_LE(s.entries, s.capacity + s.capacity / 50);
  EXPECT_GE(s.entries, s.capacity * 9 / 10);
  const double per_entry =
      static_cast<double>(s.volume_index_bytes) / static_cast<double>(s.entries);
  printf(
      "dense 1 MiB: %llu entries, volume index %llu bytes (%.3f B/entry), all structures %llu "
      "bytes\n",
      static_cast<unsigned long long>(s.entries),
      static_cast<unsigned long long>(s.volume_index_bytes), per_entry,
      static_cast<unsigned long long>(s.memory_bytes));
  EXPECT_EQ(c.range(RequestType::kQuery, 0, 500), 500u) << "refreshed names stay in the window";
  EXPECT_LT(c.range(RequestType::kQuery, 500, 500), 10u) << "names older than the window expire";
  const uint64_t last = 1000 + window / 2 + window * 7 / 10;
  EXPECT_EQ(c.range(RequestType::kQuery, last - window / 2, window / 2), window / 2);
  EXPECT_LE(per_entry, 4.0);
}

TEST(IndexTest, SaveAndLoadRoundTrip) {
  TestRegion region(dense_config());
  constexpr uint64_t kNames = 25000;
  IndexStats before;
  {
    auto idx = region.open(false);
    Client c(*idx);
    c.range(RequestType::kPost, 0, kNames);
    c.one(RequestType::kUpdate, name_of(3), 4242);
    idx->stop();
    ASSERT_TRUE(idx->save());
    before = idx->stats();
  }
  auto idx = region.open(true);
  IndexStats s = idx->stats();
  EXPECT_EQ(s.open_result, "loaded");
  EXPECT_EQ(s.entries, before.entries);
  Client c(*idx);
  std::vector<Request> out;
  EXPECT_EQ(c.range(RequestType::kQuery, 0, kNames, 0, &out), kNames);
  for (uint64_t i = 0; i < kNames; ++i) ASSERT_EQ(out[i].advice.pbn, i == 3 ? 4242 : 1000 + i);
  // The loaded index keeps working, and a second save/load cycle (the other slot) works too.
  c.range(RequestType::kPost, kNames, 5000);
  idx->stop();
  ASSERT_TRUE(idx->save());
  idx.reset();
  idx = region.open(true, nullptr, 1);  // a different zone count is fine
  EXPECT_EQ(idx->stats().open_result, "loaded");
  Client c2(*idx);
  EXPECT_EQ(c2.range(RequestType::kQuery, 0, kNames + 5000), kNames + 5000);
}

TEST(IndexTest, SixteenPartitionsOverFourZones) {
  TestRegion region(IndexConfig{16 * kMiB, false, 4});
  constexpr uint64_t kNames = 60000;
  {
    auto idx = region.open(false);
    Client c(*idx);
    EXPECT_EQ(c.range(RequestType::kPost, 0, kNames), 0u);
    EXPECT_EQ(c.range(RequestType::kQuery, 0, kNames), kNames);
    c.sync();
    c.range(RequestType::kPost, kNames, 1000);
    idx->stop();
    ASSERT_TRUE(idx->save());
  }
  auto idx = region.open(true, nullptr, 3);  // 16 partitions over 3 zones
  EXPECT_EQ(idx->stats().open_result, "loaded");
  Client c(*idx);
  EXPECT_EQ(c.range(RequestType::kQuery, 0, kNames + 1000), kNames + 1000);
  c.sync();
  region.crash({});
  idx.reset();
  idx = region.open(false, nullptr, 2);
  EXPECT_EQ(idx->stats().open_result, "rebuilt");
  Client c2(*idx);
  EXPECT_EQ(c2.range(RequestType::kQuery, 0, kNames + 1000), kNames + 1000);
}

// Names answered before sync() survive a crash; the index rebuilds from chapters + checkpoints.
void crash_and_rebuild(const io::CrashOptions& crash, uint64_t synced, uint64_t unsynced) {
  TestRegion region(dense_config());
  auto idx = region.open(false);
  Client c(*idx);
  c.range(RequestType::kPost, 0, synced);
  c.one(RequestType::kUpdate, name_of(1), 777);  // an update of a record in a closed chapter
  c.sync();
  c.range(RequestType::kPost, synced, unsynced);  // may be lost
  region.crash(crash);
  idx.reset();  // the old index dies on the dead device
  auto re = region.open(false);
  ASSERT_TRUE(re);
  IndexStats s = re->stats();
  EXPECT_EQ(s.open_result, "rebuilt");
  EXPECT_GE(s.rebuilt_records, synced);
  Client c2(*re);
  std::vector<Request> out;
  EXPECT_EQ(c2.range(RequestType::kQuery, 0, synced, 0, &out), synced);
  for (uint64_t i = 0; i < synced; ++i) ASSERT_EQ(out[i].advice.pbn, i == 1 ? 777 : 1000 + i) << i;
}

TEST(IndexTest, RebuildAfterCrashFindsSyncedNamesInOpenChapter) {
  crash_and_rebuild({}, 500, 300);  // everything synced is still in the open chapters
}

TEST(IndexTest, RebuildAfterCrashFindsSyncedNamesAcrossChapters) {
  crash_and_rebuild({}, 9000, 3000);
}

TEST(IndexTest, RebuildAfterCrashWithTornAndPartialWrites) {
  for (uint64_t seed = 1; seed <= 4; ++seed) {
    SCOPED_TRACE(seed);
    crash_and_rebuild(io::CrashOptions{0.5, true, seed}, 7000, 5000);
  }
}

TEST(IndexTest, SyncedNamesSurviveTwoCrashes) {
  TestRegion region(dense_config());
  auto idx = region.open(false);
  Client c(*idx);
  c.range(RequestType::kPost, 0, 3000);
  c.sync();
  region.crash({});
  idx.reset();
  idx = region.open(false);
  Client c2(*idx);
  EXPECT_EQ(c2.range(RequestType::kQuery, 0, 3000), 3000u);
  c2.range(RequestType::kPost, 3000, 6000);
  c2.sync();
  region.crash(io::CrashOptions{0.3, true, 9});
  idx.reset();
  idx = region.open(false);
  Client c3(*idx);
  EXPECT_EQ(c3.range(RequestType::kQuery, 0, 9000), 9000u);
}

// A crash while a sync is writing its checkpoint (its flush never completes, one write torn,
// some lost): everything an earlier sync covered is still found.
TEST(IndexTest, CrashDuringSyncKeepsEarlierSyncs) {
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    SCOPED_TRACE(seed);
    TestRegion region(dense_config());
    test::GateDevice gate(*region.device);
    IndexConfig config = region.config;
    auto opened = open_index(region.region(&gate), config, false);
    ASSERT_TRUE(opened);
    auto idx = std::move(*opened);
    idx->start();
    ASSERT_TRUE(idx->wait_until_online(std::chrono::seconds(10)));
    Client c(*idx);
    c.range(RequestType::kPost, 0, 600);  // open chapters only: the checkpoint frames hold them
    c.sync();
    // Rewrite the same checkpoint pages (new names and new advice), and crash mid-sync.
    c.range(RequestType::kPost, 600, 300);
    for (uint64_t i = 0; i < 600; i += 3) c.one(RequestType::kUpdate, name_of(i), 90000 + i);
    gate.hold_flushes(true);
    std::atomic<bool> done{false};
    idx->sync([](void* a) { static_cast<std::atomic<bool>*>(a)->store(true); }, &done);
    ASSERT_TRUE(gate.wait_for_held_flush(std::chrono::seconds(10)));
    region.crash(io::CrashOptions{0.5, true, seed});
    gate.hold_flushes(false);  // the flush now fails on the dead device
    idx.reset();
    EXPECT_TRUE(done.load()) << "a sync callback runs even when the flush fails";
    auto re = region.open(false);
    Client c2(*re);
    std::vector<Request> out;
    EXPECT_EQ(c2.range(RequestType::kQuery, 0, 600, 0, &out), 600u);
    for (uint64_t i = 0; i < 600; ++i) {
      const uint64_t pbn = out[i].advice.pbn;
      EXPECT_TRUE(pbn == 1000 + i || (i % 3 == 0 && pbn == 90000 + i)) << i << " " << pbn;
    }
  }
}

TEST(IndexTest, ConcurrentSyncsAreGroupCommitted) {
  TestRegion region(dense_config());
  auto idx = region.open(false);
  std::atomic<uint64_t> done{0};
  constexpr int kThreads = 4, kSyncs = 50;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Client c(*idx);
      for (int i = 0; i < kSyncs; ++i) {
        c.range(RequestType::kPost,
                static_cast<uint64_t>(t) * 100000 + static_cast<uint64_t>(i) * 20, 20);
        c.sync();
        done.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(done.load(), uint64_t{kThreads * kSyncs});
  EXPECT_LE(idx->stats().syncs, uint64_t{kThreads * kSyncs});
  // Every synced name survives a crash.
  region.crash({});
  idx.reset();
  idx = region.open(false);
  Client c(*idx);
  for (int t = 0; t < kThreads; ++t)
    EXPECT_EQ(c.range(RequestType::kQuery, static_cast<uint64_t>(t) * 100000, kSyncs * 20),
              uint64_t{kSyncs * 20});
}

TEST(IndexTest, BypassesWhileLoadingAndRebuilding) {
  for (bool clean : {true, false}) {
    SCOPED_TRACE(clean ? "loading" : "rebuilding");
    TestRegion region(dense_config());
    {
      auto idx = region.open(false);
      Client c(*idx);
      c.range(RequestType::kPost, 0, 5000);
      c.sync();
      idx->stop();
      if (clean) {
        ASSERT_TRUE(idx->save());
      }
    }
    test::GateDevice gate(*region.device);
    IndexConfig config = region.config;
    config.online_wait_ms = 0;  // start() returns at once; the loader runs in the background
    auto opened = open_index(region.region(&gate), config, clean);
    ASSERT_TRUE(opened);
    auto idx = std::move(*opened);
    // Let the state block through (rebuild: and a few chapter reads), then hold every read.
    gate.set_budget(clean ? 0 : 3);
    idx->start();
    EXPECT_FALSE(idx->wait_until_online(std::chrono::milliseconds(200)));
    EXPECT_EQ(idx->stats().state, clean ? "loading" : "rebuilding");
    Client c(*idx);
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(c.range(RequestType::kPost, 0, 100), 0u);  // known names: not found, answered now
    EXPECT_EQ(c.range(RequestType::kPost, 50000, 100), 0u);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
    EXPECT_EQ(idx->stats().bypassed, 200u);
    gate.set_budget(-1);
    ASSERT_TRUE(idx->wait_until_online(std::chrono::seconds(30)));
    EXPECT_EQ(idx->stats().open_result, clean ? "loaded" : "rebuilt");
    EXPECT_EQ(c.range(RequestType::kQuery, 0, 5000), 5000u);
    EXPECT_EQ(c.range(RequestType::kQuery, 50000, 100), 0u) << "bypassed POSTs inserted nothing";
  }
}

TEST(IndexTest, CorruptSaveRebuildsInsteadOfFailing) {
  TestRegion region(dense_config());
  {
    auto idx = region.open(false);
    Client c(*idx);
    c.range(RequestType::kPost, 0, 8000);
    idx->stop();
    ASSERT_TRUE(idx->save());
  }
  // Damage every block of both save slots.
  const Geometry g = compute_geometry(kMiB, false);
  std::vector<std::byte> junk(kBlockSize, std::byte{0x5A});
  for (uint64_t b = g.slots_start; b < g.total_blocks; ++b)
    ASSERT_TRUE(region.device->write(b, junk));
  auto idx = region.open(true);
  ASSERT_TRUE(idx);
  IndexStats s = idx->stats();
  EXPECT_EQ(s.state, "online");
  EXPECT_EQ(s.open_result, "rebuilt (saved index invalid)");
  Client c(*idx);
  // Chapters plus the open chapters checkpointed by save(): nothing is lost.
  EXPECT_EQ(c.range(RequestType::kQuery, 0, 8000), 8000u);
}

TEST(IndexTest, CorruptRegionStartsEmpty) {
  TestRegion region(dense_config());
  {
    auto idx = region.open(false);
    Client c(*idx);
    c.range(RequestType::kPost, 0, 8000);
    idx->stop();
    ASSERT_TRUE(idx->save());
  }
  std::vector<std::byte> junk(kBlockSize, std::byte{0x11});
  ASSERT_TRUE(region.device->write(0, junk));  // the superblock
  auto idx = region.open(true);
  ASSERT_TRUE(idx);
  EXPECT_EQ(idx->stats().open_result, "reformatted");
  Client c(*idx);
  EXPECT_EQ(c.range(RequestType::kQuery, 0, 8000), 0u);
  EXPECT_EQ(idx->stats().entries, 0u);
  c.range(RequestType::kPost, 100000, 3000);
  c.sync();
  // Blocks of the old incarnation never come back, even through a rebuild.
  region.crash({});
  idx.reset();
  idx = region.open(false);
  Client c2(*idx);
  EXPECT_EQ(c2.range(RequestType::kQuery, 0, 8000), 0u);
  EXPECT_EQ(c2.range(RequestType::kQuery, 100000, 3000), 3000u);
}

TEST(IndexTest, RegionOfAnotherVolumeIsNotUsed) {
  TestRegion region(dense_config());
  {
    auto idx = region.open(false);
    Client c(*idx);
    c.range(RequestType::kPost, 0, 2000);
    idx->stop();
    ASSERT_TRUE(idx->save());
  }
  region.nonce ^= 0xFF;  // another volume's nonce
  auto idx = region.open(true);
  EXPECT_EQ(idx->stats().open_result, "reformatted");
  Client c(*idx);
  EXPECT_EQ(c.range(RequestType::kQuery, 0, 2000), 0u);
}

// Writes `n` names, then rewrites them in order; returns how many rewrites were found.
uint64_t rewrite_found(const IndexConfig& config, uint64_t n, IndexStats* stats = nullptr) {
  TestRegion region(config);
  auto idx = region.open(false);
  Client c(*idx);
  c.range(RequestType::kPost, 0, n);
  const uint64_t found = c.range(RequestType::kPost, 0, n);
  if (stats) *stats = idx->stats();
  return found;
}

TEST(IndexTest, SparseMatchesDenseDedupeInsideTheDenseWindow) {
  const IndexConfig dense = dense_config(), sparse{kMiB, true, 2};
  const uint64_t window = compute_geometry(kMiB, false).window_records();
  const uint64_t n = window * 4 / 10;
  const uint64_t d = rewrite_found(dense, n);
  IndexStats ss;
  const uint64_t s = rewrite_found(sparse, n, &ss);
  printf("rewrite of %llu names: dense found %llu, sparse found %llu (%.2f%%)\n",
         static_cast<unsigned long long>(n), static_cast<unsigned long long>(d),
         static_cast<unsigned long long>(s),
         100.0 * static_cast<double>(s) / static_cast<double>(d));
  EXPECT_GE(d, n * 99 / 100);
  EXPECT_GE(s, d * 95 / 100);
}

TEST(IndexTest, SparseWindowIsTenTimesDense) {
  const IndexConfig dense = dense_config(), sparse{kMiB, true, 2};
  const uint64_t window = compute_geometry(kMiB, false).window_records();
  const uint64_t n = window * 4;  // 4x the dense window: 0.8x the sparse one, with the rewrite
  IndexStats ss;
  const uint64_t s = rewrite_found(sparse, n, &ss);
  const uint64_t d = rewrite_found(dense, n);
  printf(
      "rewrite of %llu names (4x the dense window): dense found %llu, sparse found %llu "
      "(%.2f%%; %llu through the sparse cache); sparse RAM %llu bytes (volume index %llu)\n",
      static_cast<unsigned long long>(n), static_cast<unsigned long long>(d),
      static_cast<unsigned long long>(s), 100.0 * static_cast<double>(s) / static_cast<double>(n),
      static_cast<unsigned long long>(ss.sparse_cache_hits),
      static_cast<unsigned long long>(ss.memory_bytes),
      static_cast<unsigned long long>(ss.volume_index_bytes));
  EXPECT_GE(s, n * 95 / 100);
  EXPECT_LT(d, n / 10);
  EXPECT_LE(ss.volume_index_bytes, kMiB);
}

TEST(IndexTest, SparseRebuildAfterCrash) {
  TestRegion region(IndexConfig{kMiB, true, 2});
  auto idx = region.open(false);
  Client c(*idx);
  c.range(RequestType::kPost, 0, 20000);
  c.sync();
  region.crash({});
  idx.reset();
  idx = region.open(false);
  Client c2(*idx);
  EXPECT_EQ(c2.range(RequestType::kQuery, 0, 20000), 20000u);
}

}  // namespace
}  // namespace vdofs::index
