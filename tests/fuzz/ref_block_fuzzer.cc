// Fuzz target: reference-count blocks (engine/format/ref_block.cc).
// Input: flags u8 (bit 0: re-seal the sector CRCs), nonce u64, pbn u64, then the block.
// Properties: no crash; a decoded block has no count above 254 and re-encodes to a block that
// decodes to the same counts and stamps; sector-wise decoding agrees with whole-block decoding.
#include "engine/format/block_map_page.h"
#include "engine/format/ref_block.h"
#include "tests/fuzz/fuzz_util.h"

using namespace vdofs;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Input in(data, size);
  const uint8_t flags = in.u8();
  const uint64_t nonce = in.u64();
  const uint64_t pbn = in.u64();
  fuzz::Block b = in.block();
  if (flags & 1) fuzz::reseal_sectors(b, format::metadata_seed(nonce, pbn));
  format::RefBlockImage sectors;
  uint32_t valid = 0;
  for (uint32_t s = 0; s < kSectorsPerBlock; ++s)
    if (format::decode_ref_sector(b, nonce, pbn, s, sectors)) ++valid;
  auto img = format::decode_ref_block(b, nonce, pbn);
  if (static_cast<bool>(img) != (valid == kSectorsPerBlock)) fuzz::fail_invariant();
  if (!img) return 0;
  for (uint8_t c : img->counts)
    if (c > kMaxReferences) fuzz::fail_invariant();
  if (img->counts != sectors.counts || img->stamps != sectors.stamps) fuzz::fail_invariant();
  fuzz::Block again{};
  format::encode_ref_block(*img, nonce, pbn, again);
  auto img2 = format::decode_ref_block(again, nonce, pbn);
  if (!img2 || img2->counts != img->counts || img2->stamps != img->stamps) fuzz::fail_invariant();
  return 0;
}
