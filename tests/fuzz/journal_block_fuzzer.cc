// Fuzz target: recovery-journal blocks (engine/format/journal_block.cc).
// Input: flags u8 (bit 0: re-seal the sector CRCs), location u16, then the block. The nonce is
// the one the block's header carries, so mutations keep reaching the entries.
// Properties: no crash; at most entry_count entries and 217 per block, each with a known op; the
// decoded block re-encodes to one that decodes to the same header and entries.
#include "engine/format/block_map_page.h"
#include "engine/format/journal_block.h"
#include "tests/fuzz/fuzz_util.h"

using namespace vdofs;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Input in(data, size);
  const uint8_t flags = in.u8();
  const uint64_t location = in.u16();
  fuzz::Block b = in.block();
  const uint64_t nonce = format::get_u64(b.data() + 16);
  if (flags & 1) fuzz::reseal_sectors(b, format::metadata_seed(nonce, location));
  auto jb = format::decode_journal_block(b, nonce, location);
  if (!jb) return 0;
  if (jb->entries.size() > format::kJournalEntriesPerBlock ||
      jb->entries.size() > jb->header.entry_count)
    fuzz::fail_invariant();
  for (const format::JournalEntry& e : jb->entries) {
    if (e.op != format::JournalOp::kDataRemap && e.op != format::JournalOp::kTreePage)
      fuzz::fail_invariant();
    if (e.op == format::JournalOp::kTreePage) {
      (void)format::tree_page_level(e.key);
      (void)format::tree_page_index(e.key);
    }
  }
  fuzz::Block again{};
  format::encode_journal_block(jb->header, jb->entries, location, again);
  auto jb2 = format::decode_journal_block(again, nonce, location);
  if (!jb2 || jb2->entries != jb->entries || jb2->header.sequence != jb->header.sequence ||
      jb2->header.head != jb->header.head ||
      jb2->header.logical_blocks_used != jb->header.logical_blocks_used)
    fuzz::fail_invariant();
  return 0;
}
