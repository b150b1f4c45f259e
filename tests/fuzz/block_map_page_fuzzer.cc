// Fuzz target: block-map pages (engine/format/block_map_page.cc), leaves and interior pages.
// Input: flags u8 (bit 0: re-seal the sector CRCs), nonce u64, pbn u64, level u8, then the page.
// Properties: no crash; every entry of a page that checks decodes to a PBN below 2^36 and
// re-encodes to the same 40-bit value's mapping; a page sealed again still checks.
#include "engine/format/block_map_page.h"
#include "tests/fuzz/fuzz_util.h"

using namespace vdofs;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Input in(data, size);
  const uint8_t flags = in.u8();
  const uint64_t nonce = in.u64();
  const Pbn pbn{in.u64() & (kMaxPhysicalBlocks - 1)};
  const uint8_t level = in.u8();
  fuzz::Block page = in.block();
  if (flags & 1) fuzz::reseal_sectors(page, format::metadata_seed(nonce, raw(pbn)));
  if (!format::check_block_map_page(page, nonce, pbn, level)) return 0;
  fuzz::Block copy{};
  format::init_block_map_page(copy);
  for (uint32_t slot = 0; slot < format::kEntriesPerPage; ++slot) {
    const Mapping m = format::get_block_map_entry(page, slot);
    if (raw(m.pbn) >= kMaxPhysicalBlocks) fuzz::fail_invariant();
    if (format::decode_mapping(format::encode_mapping(m)) != m) fuzz::fail_invariant();
    format::set_block_map_entry(copy, slot, m);
    if (format::get_block_map_entry(copy, slot) != m) fuzz::fail_invariant();
  }
  format::seal_block_map_page(copy, nonce, pbn, level);
  if (!format::check_block_map_page(copy, nonce, pbn, level)) fuzz::fail_invariant();
  return 0;
}
