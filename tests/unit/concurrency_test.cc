// The concurrency rules of VDO, one test each, on one zone of each kind and on several:
// LBN-lock ordering, hash-lock sharing, claims keeping dedupe off freed blocks, increment before
// decrement, the 254-reference rollover, and flush generations.
#include <gtest/gtest.h>

#include <cstring>
#include <thread>

#include "tests/support/volume_harness.h"

namespace vdofs::test {
namespace {

class Concurrency : public ::testing::TestWithParam<threads::ThreadCounts> {
 protected:
  HarnessOptions opts() {
    HarnessOptions o;
    o.threads = GetParam();
    o.max_in_flight = 512;
    return o;
  }
};

// Writes to one LBN issued in order complete in that order: the last one wins, and every
// intermediate read sees a whole block that was written (never a mix).
TEST_P(Concurrency, LbnLockKeepsArrivalOrder) {
  Harness h(opts());
  constexpr int kWrites = 200;
  Latch latch(kWrites);
  std::vector<std::unique_ptr<AsyncRequest>> reqs;
  std::vector<std::vector<std::byte>> blocks;
  for (int i = 0; i < kWrites; ++i)
    blocks.push_back(pattern_block(1000 + static_cast<uint64_t>(i % 7)));
  std::atomic<bool> stop{false};
  std::atomic<int> bad_reads{0};
  std::thread reader([&] {
    std::vector<std::byte> out(kBlockSize);
    while (!stop.load()) {
      ASSERT_FALSE(read(h.volume(), 5 * kBlockSize, out));
      bool known =
          std::all_of(out.begin(), out.end(), [](std::byte b) { return b == std::byte{0}; });
      for (int k = 0; k < 7 && !known; ++k)
        known = out == pattern_block(1000 + static_cast<uint64_t>(k));
      if (!known) bad_reads.fetch_add(1);
    }
  });
  for (int i = 0; i < kWrites; ++i) {
    reqs.push_back(std::make_unique<AsyncRequest>(&latch));
    h.volume().submit_write(reqs.back().get(), 5 * kBlockSize,
                            blocks[static_cast<size_t>(i)].data(), kBlockSize, false);
  }
  latch.wait();
  stop.store(true);
  reader.join();
  for (auto& r : reqs) ASSERT_FALSE(r->result);
  EXPECT_EQ(bad_reads.load(), 0) << "a read saw a block that was never written (a mix)";
  std::vector<std::byte> out(kBlockSize);
  ASSERT_FALSE(read(h.volume(), 5 * kBlockSize, out));
  EXPECT_EQ(out, blocks.back()) << "the last write issued must be the one that stays";
  h.close_and_check();
}

// Concurrent identical writes share one data write.
TEST_P(Concurrency, HashLockSharesOneWrite) {
  Harness h(opts());
  constexpr int kWriters = 64;
  auto block = pattern_block(77);
  Latch latch(kWriters);
  std::vector<std::unique_ptr<AsyncRequest>> reqs;
  for (int i = 0; i < kWriters; ++i) {
    reqs.push_back(std::make_unique<AsyncRequest>(&latch));
    h.volume().submit_write(reqs.back().get(), static_cast<uint64_t>(i) * 7 * kBlockSize,
                            block.data(), kBlockSize, false);
  }
  latch.wait();
  auto st = settled_stats(h.volume());
  EXPECT_EQ(st.data_block_writes, 1u) << "identical concurrent writes must write the data once";
  EXPECT_EQ(st.data_blocks_used, 1u);
  EXPECT_EQ(st.concurrent_data_matches + st.dedupe_advice_valid, kWriters - 1u);
  h.close_and_check();
}

// A block freed by an overwrite is never shared by a concurrent dedupe of its old content:
// claims hold it, and the counts stay exact.
TEST_P(Concurrency, ClaimsProtectBlocksBeingFreed) {
  Harness h(opts());
  auto a = pattern_block(1);
  for (int round = 0; round < 30; ++round) {
    ASSERT_FALSE(write(h.volume(), 0, a));
    Latch latch(20);
    std::vector<std::unique_ptr<AsyncRequest>> reqs;
    auto b = pattern_block(100 + static_cast<uint64_t>(round));
    for (int i = 0; i < 20; ++i) {
      reqs.push_back(std::make_unique<AsyncRequest>(&latch));
      if (i % 2 == 0)
        h.volume().submit_write(reqs.back().get(), 0, b.data(), kBlockSize,
                                false);  // frees a's block
      else
        h.volume().submit_write(reqs.back().get(), static_cast<uint64_t>(i) * kBlockSize, a.data(),
                                kBlockSize, false);
    }
    latch.wait();
    for (auto& r : reqs) ASSERT_FALSE(r->result);
    std::vector<std::byte> out(kBlockSize);
    for (int i = 1; i < 20; i += 2) {
      ASSERT_FALSE(read(h.volume(), static_cast<uint64_t>(i) * kBlockSize, out));
      ASSERT_EQ(out, a) << "round " << round << " LBN " << i;
    }
  }
  h.close_and_check();
}

// More than 254 mappings of one block: the 255th gets a new copy.
TEST_P(Concurrency, ReferenceRolloverWritesNewCopy) {
  Harness h(opts());
  auto block = pattern_block(4242);
  std::vector<std::byte> many;
  for (int i = 0; i < 300; ++i) many.insert(many.end(), block.begin(), block.end());
  ASSERT_FALSE(write(h.volume(), 0, many));
  auto st = settled_stats(h.volume());
  EXPECT_EQ(st.logical_blocks_used, 300u);
  EXPECT_EQ(st.data_blocks_used, 2u) << "254 references on the first copy, 46 on a second";
  std::vector<std::byte> out(many.size());
  ASSERT_FALSE(read(h.volume(), 0, out));
  EXPECT_EQ(out, many);
  h.close_and_check();
}

// A flush returns only after every write acknowledged before it is durable: after the flush,
// a power loss keeps all of them.
TEST_P(Concurrency, FlushCoversEveryAcknowledgedWrite) {
  Harness h(opts());
  constexpr int kWrites = 300;
  Latch latch(kWrites);
  std::vector<std::unique_ptr<AsyncRequest>> reqs;
  std::vector<std::vector<std::byte>> data;
  for (int i = 0; i < kWrites; ++i) data.push_back(pattern_block(5000 + static_cast<uint64_t>(i)));
  for (int i = 0; i < kWrites; ++i) {
    reqs.push_back(std::make_unique<AsyncRequest>(&latch));
    h.volume().submit_write(reqs.back().get(), static_cast<uint64_t>(i) * 3 * kBlockSize,
                            data[static_cast<size_t>(i)].data(), kBlockSize, false);
  }
  latch.wait();  // all acknowledged (early)
  ASSERT_FALSE(flush(h.volume()));
  h.crash_and_remount(io::CrashOptions{0.0, false, 1});
  std::vector<std::byte> out(kBlockSize);
  for (int i = 0; i < kWrites; ++i) {
    ASSERT_FALSE(read(h.volume(), static_cast<uint64_t>(i) * 3 * kBlockSize, out));
    ASSERT_EQ(out, data[static_cast<size_t>(i)])
        << "write " << i << " was acknowledged before the flush";
  }
  h.close_and_check();
}

// FUA writes are durable when acknowledged, without a flush.
TEST_P(Concurrency, FuaWriteIsDurableWhenAcknowledged) {
  Harness h(opts());
  auto a = pattern(31337, 8);
  ASSERT_FALSE(write(h.volume(), 1 << 20, a, /*fua=*/true));
  h.crash_and_remount(io::CrashOptions{0.0, false, 2});
  std::vector<std::byte> out(a.size());
  ASSERT_FALSE(read(h.volume(), 1 << 20, out));
  EXPECT_EQ(out, a);
}

// Backpressure: with a tiny pool, many more blocks than the pool holds still complete.
TEST_P(Concurrency, BoundedPoolBlocksIntakeInsteadOfGrowing) {
  HarnessOptions o = opts();
  o.max_in_flight = 8;
  Harness h(o);
  auto big = pattern(9, 512);  // 2 MiB in one request: 64x the pool
  ASSERT_FALSE(write(h.volume(), 0, big));
  auto st = settled_stats(h.volume());
  EXPECT_LE(st.max_vios_in_progress, 8u);
  std::vector<std::byte> out(big.size());
  ASSERT_FALSE(read(h.volume(), 0, out));
  EXPECT_EQ(out, big);
}

INSTANTIATE_TEST_SUITE_P(Zones, Concurrency,
                         ::testing::Values(zone_counts(1, 1, 1, true), zone_counts(1, 1, 1),
                                           zone_counts(3, 2, 2)),
                         [](const auto& p) {
                           const auto& c = p.param;
                           return c.single_thread ? std::string("single")
                                                  : "L" + std::to_string(c.logical) + "P" +
                                                        std::to_string(c.physical) + "H" +
                                                        std::to_string(c.hash);
                         });

}  // namespace
}  // namespace vdofs::test
