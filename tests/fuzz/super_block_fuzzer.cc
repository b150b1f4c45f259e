// Fuzz target: the two super-block copies (engine/format/super_block.cc).
// Input: flags u8 (bit 0: re-seal both CRCs), then copy A and copy B (4 KiB each). The nonce
// expected is the one copy A carries, so mutations keep reaching the fields behind it.
// Properties: no crash; the copy chosen re-encodes to a block that decodes to the same values.
#include "engine/format/super_block.h"
#include "tests/fuzz/fuzz_util.h"

using namespace vdofs;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Input in(data, size);
  const uint8_t flags = in.u8();
  fuzz::Block a = in.block();
  fuzz::Block b = in.block();
  if (flags & 1) {
    fuzz::reseal_tail_crc(a);
    fuzz::reseal_tail_crc(b);
  }
  const uint64_t nonce = format::get_u64(a.data() + 16);
  auto sb = format::choose_super_block(a, b, nonce);
  if (!sb) return 0;
  (void)format::state_name(sb->state);
  fuzz::Block again{};
  format::encode_super_block(*sb, again);
  auto sb2 = format::decode_super_block(again, nonce);
  if (!sb2 || sb2->generation != sb->generation || sb2->state != sb->state ||
      sb2->logical_blocks != sb->logical_blocks || sb2->journal_start != sb->journal_start ||
      sb2->logical_blocks_used != sb->logical_blocks_used ||
      sb2->index_save_slot != sb->index_save_slot || sb2->mount_epoch != sb->mount_epoch)
    fuzz::fail_invariant();
  return 0;
}
