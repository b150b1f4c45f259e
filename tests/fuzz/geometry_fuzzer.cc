// Fuzz target: the geometry block (engine/format/geometry.cc) and the layout derived from it.
// Input: flags u8 (bit 0: re-seal the CRC), then the block.
// Properties: decoding never crashes; a decoded geometry re-encodes to a block that decodes to
// the same geometry; the Layout built from any accepted geometry keeps its arithmetic in range.
#include "engine/format/geometry.h"
#include "engine/format/layout.h"
#include "tests/fuzz/fuzz_util.h"

using namespace vdofs;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Input in(data, size);
  const uint8_t flags = in.u8();
  fuzz::Block b = in.block();
  if (flags & 1) fuzz::reseal_tail_crc(b);
  auto g = format::decode_geometry(b);
  if (!g) return 0;
  fuzz::Block again{};
  format::encode_geometry(*g, again);
  auto g2 = format::decode_geometry(again);
  if (!g2 || g2->nonce != g->nonce || g2->physical_blocks != g->physical_blocks ||
      g2->slab_bits != g->slab_bits || g2->journal_blocks != g->journal_blocks ||
      g2->index_memory != g->index_memory || g2->name != g->name || g2->uuid != g->uuid)
    fuzz::fail_invariant();
  for (size_t i = 0; i < format::kRegionCount; ++i)
    if (g2->regions[i].start != g->regions[i].start ||
        g2->regions[i].blocks != g->regions[i].blocks)
      fuzz::fail_invariant();
  (void)g->uuid_string();
  format::Layout layout(*g);
  // Every accepted region lies inside the volume, so the depot's slabs do too.
  if (layout.depot_start() > g->physical_blocks) fuzz::fail_invariant();
  if (layout.slab_count() > 0) {
    const uint64_t last = layout.slab_count() - 1;
    (void)layout.is_data_block(layout.data_pbn(last, 0));
    (void)layout.ref_block_pbn(last, 0);
  }
  (void)layout.is_data_block(Pbn{g->physical_blocks});
  return 0;
}
