// Fuzz target: the decoders of single index-region blocks (index/geometry.cc, index/chapter.cc,
// index/index_store.cc): the common page header, record pages, chapter-index pages, the page-map
// search, and the index superblock.
// Input: flags u8 (bit 0: re-seal the page CRC; bit 1: sparse geometry), a record name (16
// bytes), a key u32 (as u16 pair), then the block. The nonce is the one the block carries.
// Properties: no crash; counts above a page's capacity are clamped; what the lookups return lies
// inside the page.
#include <vector>

#include "index/chapter.h"
#include "index/uds_index.h"
#include "tests/fuzz/fuzz_util.h"

using namespace vdofs;
using namespace vdofs::index;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Input in(data, size);
  const uint8_t flags = in.u8();
  RecordName name;
  in.bytes(std::as_writable_bytes(std::span(name.bytes)));
  const uint32_t key = in.u16() | (uint32_t{in.u16()} << 16);
  fuzz::Block b = in.block();
  if (flags & 1) fuzz::reseal_index_page(b);
  const uint64_t nonce = format::get_u64(b.data() + 8);

  PageHeader h;
  if (!open_page(b, nonce, &h)) return 0;
  (void)check_page(b, nonce, h.kind, h.partition, h.chapter, h.page);

  Advice advice;
  (void)find_in_record_page(b, name, &advice);
  for (uint32_t i = 0; i < kRecordsPerPage; ++i)
    (void)decode_record(b.data() + kPageHeaderSize + i * kRecordSize);

  uint16_t pages[16];
  const int n = record_pages_in_index_page(b, key, pages, 16);
  if (n < 0 || n > 16) fuzz::fail_invariant();
  std::vector<uint32_t> keys;
  std::vector<uint16_t> record_pages;
  decode_index_page(b, &keys, &record_pages);
  if (keys.size() > kEntriesPerIndexPage || keys.size() != record_pages.size())
    fuzz::fail_invariant();

  // The payload read as a page map (first key of each index page).
  std::vector<uint32_t> page_map(kPayloadPerBlock / 4);
  for (size_t i = 0; i < page_map.size(); ++i)
    page_map[i] = format::get_u32(b.data() + kPageHeaderSize + 4 * i);
  uint32_t found[8];
  const int m = index_pages_for(page_map, key, found, 8);
  if (m < 0 || m > 8) fuzz::fail_invariant();
  for (int i = 0; i < m; ++i)
    if (found[i] >= page_map.size()) fuzz::fail_invariant();

  const Geometry g = compute_geometry(kMinGeometryMemory, (flags & 2) != 0);
  uint64_t salt = 0;
  (void)UdsIndex::decode_superblock(b, g, nonce, &salt);
  return 0;
}
