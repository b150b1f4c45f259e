// The only zone-selection functions. Each structure is split by bits of its key:
//   LBN  -> leaf page = LBN / 800; tree = leaf % 60; logical zone = tree % L
//           (one block-map tree, all its pages and all its LBN locks belong to one logical zone)
//   PBN  -> slab = (PBN - depot start) >> slab_bits; physical zone = slab % P
//   name -> hash zone = (name byte 0 * H) >> 8 (the high byte as a fraction)
//   PBN  -> bio thread = (PBN / 64) % B (neighbouring blocks go to the same thread, for merging)
#pragma once

#include <cstdint>

#include "engine/base/sha256.h"
#include "engine/base/types.h"
#include "engine/format/block_map_page.h"
#include "engine/format/layout.h"

namespace vdofs::engine {

struct Routing {
  uint32_t logical_zones = 1;
  uint32_t physical_zones = 1;
  uint32_t hash_zones = 1;
  uint32_t io_threads = 1;

  static uint64_t leaf_index_of(Lbn lbn) { return raw(lbn) / format::kEntriesPerPage; }
  static uint32_t tree_of_leaf(uint64_t leaf) {
    return static_cast<uint32_t>(leaf % format::kBlockMapRootCount);
  }
  uint32_t logical_zone_of_tree(uint32_t tree) const { return tree % logical_zones; }
  uint32_t logical_zone_of(Lbn lbn) const {
    return logical_zone_of_tree(tree_of_leaf(leaf_index_of(lbn)));
  }
  uint32_t physical_zone_of_slab(uint64_t slab) const {
    return static_cast<uint32_t>(slab % physical_zones);
  }
  uint32_t hash_zone_of(const BlockName& name) const {
    return static_cast<uint32_t>((uint32_t{name.bytes[0]} * hash_zones) >> 8);
  }
  uint32_t io_thread_of(uint64_t block) const {
    return static_cast<uint32_t>((block / 64) % io_threads);
  }
};

}  // namespace vdofs::engine
