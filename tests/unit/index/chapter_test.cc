// Chapter codec: a chapter written to a device and read back through the page cache finds every
// record in at most one index page + one record page; foreign or damaged pages are rejected.
// Single-threaded.
#include "index/chapter.h"

#include <gtest/gtest.h>

#include "engine/io/ram_device.h"
#include "index/page_cache.h"
#include "tests/unit/index/index_test_util.h"

namespace vdofs::index {
namespace {

using test::name_of;

constexpr uint64_t kStamp = 0xABCDEF0012345678ull;

struct Written {
  Geometry g = compute_geometry(1 << 20, false);
  io::RamDevice dev{g.total_blocks};
  std::vector<Record> records;
  std::vector<uint32_t> page_map;
  uint32_t partition = 1;
  uint64_t chapter = 77;

  explicit Written(uint32_t count) {
    for (uint32_t i = 0; i < count; ++i) records.push_back(Record{name_of(i), Advice{5000 + i, i}});
    std::vector<std::byte> out(g.chapter_blocks() * kBlockSize);
    encode_chapter(g, partition, chapter, kStamp, records, out, &page_map);
    EXPECT_TRUE(dev.write(g.chapter_block(partition, chapter), out));
  }

  // Looks a name up the way a partition does: page map -> index page -> record page.
  bool find(PageCache& cache, const RecordName& n, Advice* out, int* pages_read) {
    const uint32_t key = chapter_key(n);
    uint32_t ips[8];
    const int k = index_pages_for(page_map, key, ips, 8);
    for (int i = 0; i < k; ++i) {
      const uint32_t page = g.record_pages + ips[i];
      auto ip = cache.get(g.chapter_block(partition, chapter) + page, PageKind::kIndex, partition,
                          chapter, page);
      if (!ip) continue;
      ++*pages_read;
      uint16_t rps[8];
      const int m = record_pages_in_index_page(*ip, key, rps, 8);
      for (int j = 0; j < m; ++j) {
        auto rp = cache.get(g.chapter_block(partition, chapter) + rps[j], PageKind::kRecords,
                            partition, chapter, rps[j]);
        ++*pages_read;
        if (rp && find_in_record_page(*rp, n, out)) return true;
      }
    }
    return false;
  }
};

TEST(ChapterTest, WriteAndReadBack) {
  Written full(compute_geometry(1 << 20, false).records_per_chapter);
  PageCache cache(&full.dev, 0, kStamp, 1);  // no caching: every lookup reads
  uint64_t max_pages = 0;
  for (uint32_t i = 0; i < full.records.size(); ++i) {
    Advice a;
    int pages = 0;
    ASSERT_TRUE(full.find(cache, full.records[i].name, &a, &pages)) << i;
    EXPECT_EQ(a, full.records[i].advice);
    max_pages = std::max<uint64_t>(max_pages, static_cast<uint64_t>(pages));
  }
  EXPECT_LE(max_pages, 2u) << "a lookup should read one index page and one record page";
  for (uint32_t i = 0; i < 1000; ++i) {
    Advice a;
    int pages = 0;
    EXPECT_FALSE(full.find(cache, name_of(i, 5), &a, &pages));
  }
}

TEST(ChapterTest, PartialChapter) {
  Written w(300);
  PageCache cache(&w.dev, 0, kStamp, 64);
  for (auto& r : w.records) {
    Advice a;
    int pages = 0;
    ASSERT_TRUE(w.find(cache, r.name, &a, &pages));
    EXPECT_EQ(a, r.advice);
  }
}

TEST(ChapterTest, RejectsForeignAndDamagedPages) {
  Written w(1000);
  const uint64_t first = w.g.chapter_block(w.partition, w.chapter);
  // Another stamp (another volume or format): nothing validates.
  PageCache other(&w.dev, 0, kStamp ^ 1, 64);
  EXPECT_EQ(other.get(first, PageKind::kRecords, w.partition, w.chapter, 0), nullptr);
  // The wrong chapter number (an expired chapter in a reused slot).
  PageCache cache(&w.dev, 0, kStamp, 64);
  EXPECT_EQ(cache.get(first, PageKind::kRecords, w.partition, w.chapter + w.g.chapters, 0),
            nullptr);
  EXPECT_NE(cache.get(first, PageKind::kRecords, w.partition, w.chapter, 0), nullptr);
  // One flipped byte.
  std::vector<std::byte> b(kBlockSize);
  ASSERT_TRUE(w.dev.read(first + 1, b));
  b[1000] ^= std::byte{0x40};
  ASSERT_TRUE(w.dev.write(first + 1, b));
  PageCache fresh(&w.dev, 0, kStamp, 64);
  EXPECT_EQ(fresh.get(first + 1, PageKind::kRecords, w.partition, w.chapter, 1), nullptr);
  EXPECT_EQ(fresh.invalid(), 1u);
}

TEST(ChapterTest, OpenChapterHashTable) {
  ChapterBuf c(1008, 3);
  for (uint32_t i = 0; i < 1008; ++i) {
    ASSERT_EQ(c.find(name_of(i)), -1);
    EXPECT_EQ(c.append(Record{name_of(i), Advice{i, 0}}), i);
  }
  EXPECT_TRUE(c.full());
  for (uint32_t i = 0; i < 1008; ++i) ASSERT_EQ(c.find(name_of(i)), static_cast<int>(i));
  EXPECT_EQ(c.find(name_of(5000)), -1);
}

}  // namespace
}  // namespace vdofs::index
