// Chapter buffers and the chapter page codec (see chapter.h). A ChapterBuf is appended to by its
// zone thread, then read by the writer thread (indexW) once closed; the codec functions are pure
// (indexW encodes, zone threads and the loader decode).
#include "index/chapter.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "engine/base/assert.h"
#include "engine/format/encoding.h"

namespace vdofs::index {

using format::get_u16;
using format::get_u32;
using format::get_u64;
using format::put_u16;
using format::put_u32;
using format::put_u64;

namespace {
uint64_t name_hash(const RecordName& n) {
  uint64_t z = n.low64() ^ (n.high64() * 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 31)) * 0xbf58476d1ce4e5b9ull;
  return z ^ (z >> 29);
}
}  // namespace

ChapterBuf::ChapterBuf(uint32_t capacity, uint64_t chapter)
    : chapter_(chapter), capacity_(capacity), hash_(std::bit_ceil(uint64_t{capacity} * 2)) {
  records_.reserve(capacity);
}

int ChapterBuf::find(const RecordName& name) const {
  const uint64_t mask = hash_.size() - 1;
  for (uint64_t i = name_hash(name) & mask;; i = (i + 1) & mask) {
    const uint32_t e = hash_[i];
    if (e == 0) return -1;
    if (records_[e - 1].name == name) return static_cast<int>(e - 1);
  }
}

uint32_t ChapterBuf::append(const Record& r) {
  VDOFS_DCHECK(!full());
  const uint64_t mask = hash_.size() - 1;
  const uint32_t index = static_cast<uint32_t>(records_.size());
  records_.push_back(r);
  uint64_t i = name_hash(r.name) & mask;
  while (hash_[i] != 0) i = (i + 1) & mask;
  hash_[i] = index + 1;
  return index;
}

uint64_t ChapterBuf::memory_bytes() const {
  // Fixed at construction, so it may be read while the writer thread fills page_map.
  return sizeof(*this) + uint64_t{capacity_} * sizeof(Record) + hash_.size() * sizeof(uint32_t);
}

void encode_record(std::byte* p, const Record& r) {
  memcpy(p, r.name.bytes.data(), 16);
  put_u64(p + 16, r.advice.pbn);
  put_u32(p + 24, r.advice.generation);
  put_u32(p + 28, r.advice.epoch);
}

Record decode_record(const std::byte* p) {
  Record r;
  memcpy(r.name.bytes.data(), p, 16);
  r.advice.pbn = get_u64(p + 16);
  r.advice.generation = get_u32(p + 24);
  r.advice.epoch = get_u32(p + 28);
  return r;
}

void encode_chapter(const Geometry& g, uint32_t partition, uint64_t chapter, uint64_t nonce,
                    std::span<const Record> records, std::span<std::byte> out,
                    std::vector<uint32_t>* page_map) {
  VDOFS_CHECK(records.size() <= g.records_per_chapter);
  VDOFS_CHECK(out.size() == g.chapter_blocks() * kBlockSize);
  std::fill(out.begin(), out.end(), std::byte{0});
  std::vector<uint64_t> entries;
  entries.reserve(records.size());
  PageHeader h;
  h.partition = static_cast<uint8_t>(partition);
  h.nonce = nonce;
  h.chapter = chapter;
  h.kind = PageKind::kRecords;
  for (uint32_t page = 0; page < g.record_pages; ++page) {
    std::span<std::byte> block = out.subspan(uint64_t{page} * kBlockSize, kBlockSize);
    const size_t first = size_t{page} * kRecordsPerPage;
    const size_t n =
        first < records.size() ? std::min<size_t>(kRecordsPerPage, records.size() - first) : 0;
    for (size_t i = 0; i < n; ++i) {
      encode_record(block.data() + kPageHeaderSize + i * kRecordSize, records[first + i]);
      entries.push_back((uint64_t{chapter_key(records[first + i].name)} << 16) | page);
    }
    h.count = static_cast<uint16_t>(n);
    h.page = page;
    seal_page(block, h);
  }
  std::sort(entries.begin(), entries.end());
  entries.erase(std::unique(entries.begin(), entries.end()), entries.end());
  page_map->assign(g.index_pages, UINT32_MAX);
  h.kind = PageKind::kIndex;
  size_t next = 0;
  for (uint32_t ip = 0; ip < g.index_pages; ++ip) {
    std::span<std::byte> block =
        out.subspan((uint64_t{g.record_pages} + ip) * kBlockSize, kBlockSize);
    const size_t n = std::min<size_t>(kEntriesPerIndexPage, entries.size() - next);
    for (size_t i = 0; i < n; ++i) {
      std::byte* e = block.data() + kPageHeaderSize + i * kIndexEntrySize;
      put_u32(e, static_cast<uint32_t>(entries[next + i] >> 16));
      put_u16(e + 4, static_cast<uint16_t>(entries[next + i] & 0xFFFF));
    }
    if (n > 0) (*page_map)[ip] = static_cast<uint32_t>(entries[next] >> 16);
    next += n;
    h.count = static_cast<uint16_t>(n);
    h.page = g.record_pages + ip;
    seal_page(block, h);
  }
}

bool find_in_record_page(std::span<const std::byte> page, const RecordName& name, Advice* out) {
  const uint32_t count = std::min<uint32_t>(get_u16(page.data() + 6), kRecordsPerPage);
  for (uint32_t i = 0; i < count; ++i) {
    const std::byte* p = page.data() + kPageHeaderSize + i * kRecordSize;
    if (memcmp(p, name.bytes.data(), 16) == 0) {
      out->pbn = get_u64(p + 16);
      out->generation = get_u32(p + 24);
      out->epoch = get_u32(p + 28);
      return true;
    }
  }
  return false;
}

int index_pages_for(std::span<const uint32_t> page_map, uint32_t key, uint32_t* out, int max) {
  // Last page whose first key <= key; an equal-key run may start on earlier pages.
  auto it = std::upper_bound(page_map.begin(), page_map.end(), key);
  int n = 0;
  for (auto j = it; j != page_map.begin() && n < max;) {
    --j;
    if (*j == UINT32_MAX) continue;  // empty page
    out[n++] = static_cast<uint32_t>(j - page_map.begin());
    if (*j < key) break;
  }
  return n;
}

int record_pages_in_index_page(std::span<const std::byte> page, uint32_t key, uint16_t* out,
                               int max) {
  const uint32_t count = std::min<uint32_t>(get_u16(page.data() + 6), kEntriesPerIndexPage);
  const std::byte* base = page.data() + kPageHeaderSize;
  uint32_t lo = 0, hi = count;
  while (lo < hi) {
    const uint32_t mid = (lo + hi) / 2;
    if (get_u32(base + mid * kIndexEntrySize) < key)
      lo = mid + 1;
    else
      hi = mid;
  }
  int n = 0;
  for (uint32_t i = lo; i < count && n < max; ++i) {
    const std::byte* e = base + i * kIndexEntrySize;
    if (get_u32(e) != key) break;
    out[n++] = get_u16(e + 4);
  }
  return n;
}

void decode_index_page(std::span<const std::byte> page, std::vector<uint32_t>* keys,
                       std::vector<uint16_t>* pages) {
  const uint32_t count = std::min<uint32_t>(get_u16(page.data() + 6), kEntriesPerIndexPage);
  const std::byte* base = page.data() + kPageHeaderSize;
  for (uint32_t i = 0; i < count; ++i) {
    keys->push_back(get_u32(base + i * kIndexEntrySize));
    pages->push_back(get_u16(base + i * kIndexEntrySize + 4));
  }
}

}  // namespace vdofs::index
