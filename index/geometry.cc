// Geometry computation and the common block header. Pure functions; any thread.
#include "index/geometry.h"

#include <algorithm>
#include <cstring>

#include "engine/base/crc32c.h"
#include "engine/format/encoding.h"

namespace vdofs::index {

namespace {
uint64_t ceil_div(uint64_t a, uint64_t b) { return (a + b - 1) / b; }
}  // namespace

Geometry compute_geometry(uint64_t memory_bytes, bool sparse) {
  Geometry g;
  g.memory_bytes = memory_bytes;
  g.sparse = sparse;
  const uint64_t memory = std::max(memory_bytes, kMinGeometryMemory);
  // The dense window: one record per 4 bytes of memory (the volume index costs < 4 B/record).
  const uint64_t base = memory / 4;
  uint32_t p = 1;
  while (p < kMaxPartitions && base / (2 * p) >= 65536) p *= 2;
  g.partitions = p;
  const uint64_t per = base / p;
  // About 1024 chapters per dense window, but never chapters under 8 record pages.
  g.record_pages = static_cast<uint32_t>(
      std::clamp<uint64_t>(ceil_div(per, 1024ull * kRecordsPerPage), 8, 1024));
  g.records_per_chapter = g.record_pages * kRecordsPerPage;
  g.index_pages = static_cast<uint32_t>(ceil_div(g.records_per_chapter, kEntriesPerIndexPage));
  const uint64_t dense_chapters = std::max<uint64_t>(ceil_div(per, g.records_per_chapter), 8);
  g.chapters = sparse ? 10 * dense_chapters : dense_chapters;
  g.dense_chapters = sparse ? std::max<uint64_t>(dense_chapters / 2, 1) : g.chapters;
  // Chapter numbers are kept mod 2^bits; 2^bits >= 2 (C + 1) leaves C + 1 chapter closes for the
  // sweeper to clear an expired entry before its number could alias a live chapter.
  g.chapter_bits = 1;
  while ((uint64_t{1} << g.chapter_bits) < 2 * (g.chapters + 1)) ++g.chapter_bits;
  g.slot_bits = kFingerprintBits + g.chapter_bits + (sparse ? 1 : 0);
  const uint64_t r = g.records_per_chapter;
  if (sparse) {
    const uint64_t sparse_chapters = g.chapters - g.dense_chapters;
    g.vi_capacity =
        (g.dense_chapters + 1) * r + ceil_div(sparse_chapters * r * 11, 10 * kHookModulus);
  } else {
    g.vi_capacity = (g.chapters + 1) * r;
  }
  // 8-slot buckets with two choices fill to > 99%; plan for 95%.
  const uint64_t slots = ceil_div(g.vi_capacity * 100, 95);
  g.buckets = ceil_div(slots, kSlotsPerBucket);
  g.table_bytes = ceil_div(g.buckets * kSlotsPerBucket * g.slot_bits, 8) + 8;
  g.count_bytes = (uint64_t{1} << g.chapter_bits) * 4 * (sparse ? 2 : 1);
  // Save stream of one partition: meta, table, counters, page maps, frame copy bits, open chapter.
  g.partition_save_bytes = 64 + g.table_bytes + g.count_bytes + g.chapters * g.index_pages * 4 +
                           kCheckpointFrames * g.record_pages + 4 + r * kRecordSize;
  g.partition_save_blocks = ceil_div(g.partition_save_bytes, kPayloadPerBlock);
  g.save_slot_blocks = 1 + p * g.partition_save_blocks;
  g.chapters_start = 2;
  g.frames_start = g.chapters_start + uint64_t{p} * g.chapters * g.chapter_blocks();
  g.slots_start = g.frames_start + uint64_t{p} * kCheckpointFrames * g.record_pages * 2;
  g.total_blocks = g.slots_start + 2 * g.save_slot_blocks;
  return g;
}

void seal_page(std::span<std::byte> block, const PageHeader& h) {
  using namespace format;
  std::byte* b = block.data();
  memset(b, 0, kPageHeaderSize);
  put_u8(b + 4, static_cast<uint8_t>(h.kind));
  put_u8(b + 5, h.partition);
  put_u16(b + 6, h.count);
  put_u64(b + 8, h.nonce);
  put_u64(b + 16, h.chapter);
  put_u32(b + 24, h.page);
  put_u32(b + 28, kFormatVersion);
  put_u64(b + 32, h.seq);
  put_u32(b, crc32c(b + 4, kBlockSize - 4));
}

bool open_page(std::span<const std::byte> block, uint64_t nonce, PageHeader* out) {
  using namespace format;
  const std::byte* b = block.data();
  if (get_u64(b + 8) != nonce || get_u32(b + 28) != kFormatVersion) return false;
  if (get_u32(b) != crc32c(b + 4, kBlockSize - 4)) return false;
  out->kind = static_cast<PageKind>(get_u8(b + 4));
  out->partition = get_u8(b + 5);
  out->count = get_u16(b + 6);
  out->nonce = nonce;
  out->chapter = get_u64(b + 16);
  out->page = get_u32(b + 24);
  out->seq = get_u64(b + 32);
  return true;
}

bool check_page(std::span<const std::byte> block, uint64_t nonce, PageKind kind, uint32_t partition,
                uint64_t chapter, uint32_t page) {
  PageHeader h;
  return open_page(block, nonce, &h) && h.kind == kind && h.partition == partition &&
         h.chapter == chapter && h.page == page;
}

}  // namespace vdofs::index
