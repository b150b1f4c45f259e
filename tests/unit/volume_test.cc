// Engine behaviour on an in-memory device: reads and writes, zero blocks, dedupe, discards,
// persistence across clean remounts, run with one zone of each kind and with several.
#include <gtest/gtest.h>

#include <cstring>

#include "tests/support/volume_harness.h"

namespace vdofs::test {
namespace {

struct ZoneConfig {
  const char* name;
  threads::ThreadCounts counts;
};

class VolumeTest : public ::testing::TestWithParam<ZoneConfig> {
 protected:
  HarnessOptions opts() {
    HarnessOptions o;
    o.threads = GetParam().counts;
    return o;
  }
};

TEST_P(VolumeTest, UnwrittenReadsZero) {
  Harness h(opts());
  std::vector<std::byte> out(8 * kBlockSize, std::byte{0x55});
  ASSERT_FALSE(read(h.volume(), 1 << 20, out));
  for (auto b : out) ASSERT_EQ(b, std::byte{0});
}

TEST_P(VolumeTest, WriteReadBack) {
  Harness h(opts());
  auto data = pattern(1, 64);
  ASSERT_FALSE(write(h.volume(), 40960, data));
  std::vector<std::byte> out(data.size());
  ASSERT_FALSE(read(h.volume(), 40960, out));
  EXPECT_EQ(out, data);
  auto st = settled_stats(h.volume());
  EXPECT_EQ(st.logical_blocks_used, 64u);
  EXPECT_EQ(st.data_blocks_used, 64u);
}

TEST_P(VolumeTest, UnalignedWritesReadModifyWrite) {
  Harness h(opts());
  auto base = pattern(7, 4);
  ASSERT_FALSE(write(h.volume(), 0, base));
  std::vector<std::byte> patch(5000);
  for (size_t i = 0; i < patch.size(); ++i) patch[i] = std::byte(static_cast<uint8_t>(i * 7 + 3));
  ASSERT_FALSE(write(h.volume(), 3000, patch));
  memcpy(base.data() + 3000, patch.data(), patch.size());
  std::vector<std::byte> out(base.size());
  ASSERT_FALSE(read(h.volume(), 0, out));
  EXPECT_EQ(out, base);
  std::vector<std::byte> small(100);
  ASSERT_FALSE(read(h.volume(), 2990, small));
  EXPECT_EQ(0, memcmp(small.data(), base.data() + 2990, 100));
}

TEST_P(VolumeTest, ZeroBlocksCostNoSpace) {
  Harness h(opts());
  std::vector<std::byte> zeros(256 * kBlockSize);
  ASSERT_FALSE(write(h.volume(), 0, zeros));
  EXPECT_EQ(settled_stats(h.volume()).data_blocks_used, 0u);
  auto data = pattern(3, 16);
  ASSERT_FALSE(write(h.volume(), 0, data));
  EXPECT_EQ(settled_stats(h.volume()).data_blocks_used, 16u);
  ASSERT_FALSE(write(h.volume(), 0, std::vector<std::byte>(16 * kBlockSize)));  // zeros over data
  auto st = settled_stats(h.volume());
  EXPECT_EQ(st.data_blocks_used, 0u) << "overwriting with zeros must free the blocks";
  std::vector<std::byte> out(16 * kBlockSize, std::byte{1});
  ASSERT_FALSE(read(h.volume(), 0, out));
  for (auto b : out) ASSERT_EQ(b, std::byte{0});
}

TEST_P(VolumeTest, DuplicateDataIsShared) {
  Harness h(opts());
  auto data = pattern(11, 128);
  ASSERT_FALSE(write(h.volume(), 0, data));
  ASSERT_FALSE(write(h.volume(), 1 << 20, data));
  ASSERT_FALSE(write(h.volume(), 2 << 20, data));
  auto st = settled_stats(h.volume());
  EXPECT_EQ(st.logical_blocks_used, 384u);
  EXPECT_EQ(st.data_blocks_used, 128u);
  EXPECT_GE(st.dedupe_advice_valid + st.concurrent_data_matches, 256u);
  EXPECT_EQ(st.saving_percent, 66);
  std::vector<std::byte> out(data.size());
  ASSERT_FALSE(read(h.volume(), 2 << 20, out));
  EXPECT_EQ(out, data);
}

TEST_P(VolumeTest, OverwriteDropsReferences) {
  Harness h(opts());
  auto a = pattern(21, 32);
  ASSERT_FALSE(write(h.volume(), 0, a));
  ASSERT_FALSE(write(h.volume(), 1 << 20, a));
  EXPECT_EQ(settled_stats(h.volume()).data_blocks_used, 32u);
  auto b = pattern(500, 32);
  ASSERT_FALSE(write(h.volume(), 0, b));
  EXPECT_EQ(settled_stats(h.volume()).data_blocks_used, 64u);
  ASSERT_FALSE(write(h.volume(), 1 << 20, b));
  EXPECT_EQ(settled_stats(h.volume()).data_blocks_used, 32u) << "a's blocks must be freed";
}

TEST_P(VolumeTest, DiscardUnmapsAndFrees) {
  Harness h(opts());
  auto data = pattern(31, 100);
  ASSERT_FALSE(write(h.volume(), 0, data));
  ASSERT_FALSE(discard(h.volume(), 10 * kBlockSize, 50 * kBlockSize));
  auto st = settled_stats(h.volume());
  EXPECT_EQ(st.data_blocks_used, 50u);
  EXPECT_EQ(st.logical_blocks_used, 50u);
  std::vector<std::byte> out(data.size());
  ASSERT_FALSE(read(h.volume(), 0, out));
  for (size_t i = 0; i < 100; ++i) {
    bool zero = i >= 10 && i < 60;
    auto expect = zero ? std::vector<std::byte>(kBlockSize) : pattern_block(31 + i);
    ASSERT_EQ(0, memcmp(out.data() + i * kBlockSize, expect.data(), kBlockSize)) << "block " << i;
  }
  // Discard of a huge never-written range is cheap and harmless.
  ASSERT_FALSE(discard(h.volume(), 1 << 20, uint64_t{128} << 20));
}

TEST_P(VolumeTest, SurvivesCleanRemount) {
  Harness h(opts());
  auto a = pattern(41, 200);
  ASSERT_FALSE(write(h.volume(), 12345 * kBlockSize, a));
  ASSERT_FALSE(write(h.volume(), 0, a));
  h.remount();
  std::vector<std::byte> out(a.size());
  ASSERT_FALSE(read(h.volume(), 12345 * kBlockSize, out));
  EXPECT_EQ(out, a);
  auto st = settled_stats(h.volume());
  EXPECT_EQ(st.logical_blocks_used, 400u);
  EXPECT_EQ(st.data_blocks_used, 200u);
  // Dedupe still works against data written before the remount (the index was saved).
  ASSERT_FALSE(write(h.volume(), 30000 * kBlockSize, a));
  EXPECT_EQ(settled_stats(h.volume()).data_blocks_used, 200u);
}

TEST_P(VolumeTest, FillsThenReportsNoSpace) {
  HarnessOptions o = opts();
  o.physical_blocks = 4096;
  o.slab_bits = 8;
  Harness h(o);
  uint64_t cap = settled_stats(h.volume()).data_capacity_blocks;
  std::error_code last;
  uint64_t written = 0;
  for (uint64_t i = 0; i < cap + 64 && !last; i += 16) {
    last = write(h.volume(), i * kBlockSize, pattern(1000 + i, 16));
    if (!last) written += 16;
  }
  EXPECT_EQ(last, make_error_code(errc::no_space));
  EXPECT_GT(written, cap / 2);
  // Duplicates still fit when the volume is full (over LBNs whose block-map leaf exists).
  EXPECT_FALSE(write(h.volume(), 16 * kBlockSize, pattern(1000, 16)));
  // Discarding gives space back.
  ASSERT_FALSE(discard(h.volume(), 0, 512 * kBlockSize));
  EXPECT_FALSE(write(h.volume(), 0, pattern(99999, 16)));
}

TEST_P(VolumeTest, FlushAfterWrites) {
  Harness h(opts());
  for (int i = 0; i < 10; ++i) ASSERT_FALSE(write(h.volume(), i * 65536, pattern(60 + i, 16)));
  ASSERT_FALSE(flush(h.volume()));
  EXPECT_GE(settled_stats(h.volume()).recovery_journal_entries_committed, 160u);
}

INSTANTIATE_TEST_SUITE_P(Zones, VolumeTest,
                         ::testing::Values(ZoneConfig{"single", zone_counts(1, 1, 1, true)},
                                           ZoneConfig{"one_each", zone_counts(1, 1, 1)},
                                           ZoneConfig{"multi", zone_counts(3, 2, 2)}),
                         [](const auto& p) { return std::string(p.param.name); });

}  // namespace
}  // namespace vdofs::test
