// VolumeIndex: insert/lookup/move, expiry past the window, RAM per entry (dense <= 4 bytes), and
// sparse hook sampling. Single-threaded: the test thread owns the VolumeIndex.
#include "index/volume_index.h"

#include <gtest/gtest.h>

#include "tests/unit/index/index_test_util.h"

namespace vdofs::index {
namespace {

using test::name_of;

bool has_chapter(VolumeIndex& vi, const RecordName& n, uint64_t chapter) {
  VolumeIndex::Candidate c[VolumeIndex::kMaxCandidates];
  const int k = vi.lookup(vi.key_of(n), c);
  for (int i = 0; i < k; ++i)
    if (c[i].chapter == chapter) return true;
  return false;
}

// Fills `chapters` chapters of R fresh names each (closing each), starting at name `first`.
uint64_t fill(VolumeIndex& vi, const Geometry& g, uint64_t first, uint64_t chapters) {
  uint64_t next = first;
  for (uint64_t c = 0; c < chapters; ++c) {
    for (uint32_t i = 0; i < g.records_per_chapter; ++i)
      vi.insert(vi.key_of(name_of(next++)), vi.open_chapter());
    vi.advance();
  }
  return next;
}

TEST(VolumeIndexTest, InsertLookupMove) {
  const Geometry g = compute_geometry(1 << 20, false);
  VolumeIndex vi(g);
  constexpr uint64_t kNames = 20000;
  for (uint64_t i = 0; i < kNames; ++i) ASSERT_TRUE(vi.insert(vi.key_of(name_of(i)), 0));
  EXPECT_EQ(vi.live(), kNames);
  for (uint64_t i = 0; i < kNames; ++i) ASSERT_TRUE(has_chapter(vi, name_of(i), 0)) << i;
  // Names never inserted: a fingerprint match is possible but rare (18-bit fingerprints).
  uint64_t false_hits = 0;
  VolumeIndex::Candidate c[VolumeIndex::kMaxCandidates];
  for (uint64_t i = 0; i < kNames; ++i) false_hits += vi.lookup(vi.key_of(name_of(i, 99)), c) > 0;
  EXPECT_LT(false_hits, kNames / 500);
  // Re-file one name under a newer chapter.
  vi.advance();
  vi.advance();
  const RecordName n = name_of(5);
  const int k = vi.lookup(vi.key_of(n), c);
  ASSERT_GE(k, 1);
  vi.move(c[0].slot, vi.open_chapter());
  EXPECT_TRUE(has_chapter(vi, n, 2));
  EXPECT_FALSE(has_chapter(vi, n, 0));
  EXPECT_EQ(vi.live(), kNames);
}

TEST(VolumeIndexTest, EntriesExpireWithTheirChapter) {
  const Geometry g = compute_geometry(1 << 20, false);
  VolumeIndex vi(g);
  const uint64_t r = g.records_per_chapter;
  // Three windows of unique names: expired slots must be reused, nothing dropped.
  fill(vi, g, 0, 3 * g.chapters);
  EXPECT_EQ(vi.dropped(), 0u);
  EXPECT_LE(vi.live(), (g.chapters + 1) * r);
  EXPECT_GE(vi.live(), g.chapters * r);
  const uint64_t total = 3 * g.chapters * r;
  // The oldest names are gone; the newest window is present.
  for (uint64_t i = 0; i < r; ++i) EXPECT_FALSE(has_chapter(vi, name_of(i), i / r)) << i;
  uint64_t present = 0;
  for (uint64_t i = total - (g.chapters - 1) * r; i < total; ++i) {
    const uint64_t chapter = i / r;
    present += has_chapter(vi, name_of(i), chapter);
  }
  EXPECT_EQ(present, (g.chapters - 1) * r);
}

void expect_dense_density(uint64_t memory) {
  const Geometry g = compute_geometry(memory, false);
  VolumeIndex vi(g);
  // Steady state: two windows of unique names (the table is as full as it ever gets).
  fill(vi, g, 0, 2 * g.chapters);
  for (uint32_t i = 0; i < g.records_per_chapter / 2; ++i)
    vi.insert(vi.key_of(name_of(i, 7)), vi.open_chapter());
  const double per_entry = static_cast<double>(vi.memory_bytes()) / static_cast<double>(vi.live());
  ::testing::Test::RecordProperty("bytes_per_entry_" + std::to_string(memory >> 20) + "MiB",
                                  std::to_string(per_entry));
  printf("dense %llu MiB: %llu entries, %llu bytes, %.3f bytes/entry, slot %u bits, dropped %llu\n",
         static_cast<unsigned long long>(memory >> 20), static_cast<unsigned long long>(vi.live()),
         static_cast<unsigned long long>(vi.memory_bytes()), per_entry, g.slot_bits,
         static_cast<unsigned long long>(vi.dropped()));
  EXPECT_LE(per_entry, 4.0);
  EXPECT_EQ(vi.dropped(), 0u);
  // The window really is indexed: one per-partition window of entries.
  EXPECT_GE(vi.live(), g.chapters * g.records_per_chapter);
}

TEST(VolumeIndexTest, DenseCostsAtMostFourBytesPerEntry1MiB) { expect_dense_density(1 << 20); }
TEST(VolumeIndexTest, DenseCostsAtMostFourBytesPerEntry16MiB) {
  // One partition of a 16 MiB index is 1/16 of it: use the geometry a 16 MiB index gives each
  // partition (the partition count does not change the per-entry cost).
  expect_dense_density(16 << 20);
}

TEST(VolumeIndexTest, SparseKeepsOnlyHooksPastTheDenseChapters) {
  const Geometry g = compute_geometry(1 << 20, true);
  ASSERT_LT(g.dense_chapters, g.chapters);
  VolumeIndex vi(g);
  const uint64_t r = g.records_per_chapter;
  fill(vi, g, 0, 1);  // chapter 0
  uint64_t hooks = 0, hooks_found = 0, others_found = 0;
  for (uint64_t i = 0; i < r; ++i) {
    ASSERT_TRUE(has_chapter(vi, name_of(i), 0));  // dense while young
  }
  // Age chapter 0 past the dense chapters.
  for (uint64_t c = 0; c < g.dense_chapters; ++c) vi.advance();
  for (uint64_t i = 0; i < r; ++i) {
    const bool hook = is_hook(name_of(i), kHookModulus);
    hooks += hook;
    (hook ? hooks_found : others_found) += has_chapter(vi, name_of(i), 0);
  }
  EXPECT_EQ(hooks_found, hooks);
  EXPECT_EQ(others_found, 0u);
  EXPECT_GT(hooks, r / 64);  // about 1 in 32
  EXPECT_LT(hooks, r / 16);
  EXPECT_EQ(vi.live(), hooks);
  // Hooks last the whole (10x) window, then expire too.
  for (uint64_t c = g.dense_chapters; c < g.chapters; ++c) vi.advance();
  EXPECT_EQ(vi.live(), 0u);
}

TEST(VolumeIndexTest, SparseWindowIsTenTimesDenseInLessRam) {
  const Geometry dense = compute_geometry(1 << 20, false);
  const Geometry sparse = compute_geometry(1 << 20, true);
  EXPECT_EQ(sparse.chapters, 10 * dense.chapters);
  EXPECT_EQ(sparse.window_records(), 10 * dense.window_records());
  VolumeIndex vi(sparse);
  fill(vi, sparse, 0, sparse.chapters + 10);  // steady state
  EXPECT_EQ(vi.dropped(), 0u);
  const double per_record = static_cast<double>(vi.memory_bytes()) /
                            static_cast<double>(sparse.chapters * sparse.records_per_chapter);
  printf("sparse 1 MiB: %llu entries for a %llu-record window: %.3f bytes per window record\n",
         static_cast<unsigned long long>(vi.live()),
         static_cast<unsigned long long>(sparse.chapters * sparse.records_per_chapter), per_record);
  EXPECT_LT(per_record, 0.5);
  VolumeIndex dvi(dense);
  EXPECT_LE(vi.memory_bytes() * sparse.partitions, dvi.memory_bytes() * dense.partitions * 11 / 10);
}

TEST(GeometryTest, RegionSizeIsProportional) {
  const uint64_t d16 = index_region_blocks(16 << 20, false);
  const uint64_t d32 = index_region_blocks(32 << 20, false);
  const uint64_t s16 = index_region_blocks(16 << 20, true);
  EXPECT_NEAR(static_cast<double>(d32) / static_cast<double>(d16), 2.0, 0.15);
  // Sparse: 10x the chapters on disk, the same save slots.
  EXPECT_GT(static_cast<double>(s16) / static_cast<double>(d16), 6.0);
  EXPECT_LT(static_cast<double>(s16) / static_cast<double>(d16), 11.0);
  const Geometry g = compute_geometry(16 << 20, false);
  // ~4 Mi records; on disk about 40 bytes a record plus two save slots of about the RAM size.
  EXPECT_GE(g.window_records(), (16u << 20) / 4);
  const double chapter_bytes_per_record = static_cast<double>(g.frames_start - g.chapters_start) *
                                          kBlockSize / static_cast<double>(g.window_records());
  EXPECT_LT(chapter_bytes_per_record, 44.0);
  EXPECT_LT(g.save_slot_blocks * kBlockSize, (16u << 20) * 11 / 10 + (4u << 20));
  EXPECT_LT(g.chapters_start, g.frames_start);
  EXPECT_LT(g.frames_start, g.slots_start);
  EXPECT_EQ(g.total_blocks, g.slots_start + 2 * g.save_slot_blocks);
  EXPECT_EQ(default_index_memory(16384), 1u << 20);
  EXPECT_EQ(default_index_memory(4u << 20), 16u << 20);
}

}  // namespace
}  // namespace vdofs::index
