#include "mkfs/formatter.h"

#include <fcntl.h>
#include <unistd.h>

#include <bit>
#include <cstring>
#include <random>
#include <vector>

#include "engine/format/block_map_page.h"
#include "engine/format/layout.h"
#include "engine/format/super_block.h"
#include "engine/slab_depot.h"
#include "index/index.h"

namespace vdofs::mkfs {

namespace {
uint32_t floor_log2(uint64_t v) { return v ? 63u - static_cast<uint32_t>(std::countl_zero(v)) : 0; }

uint64_t random_u64() {
  uint64_t v = 0;
  int fd = ::open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ssize_t n = ::read(fd, &v, sizeof v);
    ::close(fd);
    if (n == sizeof v) return v;
  }
  std::random_device rd;
  return (uint64_t{rd()} << 32) ^ rd();
}
}  // namespace

uint32_t default_slab_bits(uint64_t physical_blocks) {
  // About 16+ slabs (so several physical zones each get slabs), VDO's 32 MiB..2 GiB range for
  // ordinary sizes, larger slabs only when 8192 slabs would not cover the device.
  uint32_t bits = floor_log2(std::max<uint64_t>(physical_blocks / 16, 1));
  bits = std::clamp<uint32_t>(bits, 12, 19);  // 16 MiB .. 2 GiB
  while (bits < format::kMaxSlabBits && (physical_blocks >> bits) > format::kMaxSlabs) ++bits;
  while (bits > format::kMinSlabBits && (uint64_t{1} << bits) * 4 > physical_blocks) --bits;
  return bits;
}

uint32_t default_journal_blocks(uint64_t physical_blocks) {
  uint64_t j = uint64_t{1} << floor_log2(std::max<uint64_t>(physical_blocks / 128, 1));
  return static_cast<uint32_t>(std::clamp<uint64_t>(j, 64, 32768));
}

uint64_t default_index_memory(uint64_t physical_blocks) {
  // A dense window as large as the physical data space: 4 bytes of RAM per block.
  uint64_t m = physical_blocks * 4;
  m = (m + (1ull << 20) - 1) & ~((1ull << 20) - 1);
  return std::max<uint64_t>(m, 1ull << 20);
}

Result<FormatPlan> plan_format(const FormatOptions& o, FormatPlan* partial) {
  FormatPlan plan;
  format::Geometry& g = plan.geometry;
  if (o.name.empty() || o.name.size() > format::kMaxNameLength ||
      o.name.find('/') != std::string::npos || o.name == "." || o.name == "..")
    return errc::invalid_argument;
  g.name = o.name;
  uint32_t slab_bits = o.slab_bits ? o.slab_bits : default_slab_bits(o.physical_blocks);
  uint32_t journal =
      o.journal_blocks ? o.journal_blocks : default_journal_blocks(o.physical_blocks);
  uint64_t memory = o.index_memory ? o.index_memory : default_index_memory(o.physical_blocks);
  g.index_memory = memory;
  g.sparse_index = o.sparse_index;
  format::LayoutRequest req{o.physical_blocks, slab_bits, journal,
                            index::index_region_blocks(memory, o.sparse_index)};
  plan.minimum_physical_blocks = format::minimum_physical_blocks(req);
  if (partial) *partial = plan;
  VDOFS_TRY(format::plan_regions(req, g));
  format::Layout layout(g);
  plan.slab_count = layout.slab_count();
  plan.data_capacity_blocks = layout.data_capacity();
  plan.max_physical_blocks = (uint64_t{format::kMaxSlabs} << slab_bits) + layout.depot_start();
  if (o.logical_blocks) {
    plan.logical_blocks = o.logical_blocks;
  } else {
    // 1:1 with the data space, less what the block map for it will take.
    uint64_t d = layout.data_capacity();
    plan.logical_blocks = d - (d / format::kEntriesPerPage + 1) - 3;
  }
  if (plan.logical_blocks == 0 || plan.logical_blocks > kMaxLogicalBlocks)
    return errc::invalid_argument;
  g.nonce = random_u64();
  uint64_t u1 = random_u64(), u2 = random_u64();
  memcpy(g.uuid.data(), &u1, 8);
  memcpy(g.uuid.data() + 8, &u2, 8);
  g.uuid[6] = static_cast<uint8_t>((g.uuid[6] & 0x0F) | 0x40);  // RFC 4122 version 4
  g.uuid[8] = static_cast<uint8_t>((g.uuid[8] & 0x3F) | 0x80);
  return plan;
}

Result<FormatPlan> format_volume(io::BlockDevice& device, const FormatOptions& options,
                                 void (*progress)(uint64_t, uint64_t)) {
  if (options.physical_blocks > device.block_count()) return errc::too_small;
  VDOFS_ASSIGN(FormatPlan plan, plan_format(options));
  const format::Geometry& g = plan.geometry;
  format::Layout layout(g);
  std::vector<std::byte> block(kBlockSize);

  // Invalidate any old geometry first, so an interrupted format is never mistaken for a volume.
  VDOFS_TRY(device.write(0, block));
  VDOFS_TRY(device.flush());

  format::SuperBlock sb;
  sb.nonce = g.nonce;
  sb.generation = 1;
  sb.state = format::VolumeState::kNew;
  sb.logical_blocks = plan.logical_blocks;
  sb.journal_start = 1;
  format::encode_super_block(sb, std::span<std::byte, kBlockSize>(block.data(), kBlockSize));
  VDOFS_TRY(device.write(1 + (sb.generation % format::kSuperBlockCopies), block));
  memset(block.data(), 0, kBlockSize);
  VDOFS_TRY(device.write(1 + ((sb.generation + 1) % format::kSuperBlockCopies), block));

  for (uint32_t r = 0; r < format::kBlockMapRootCount; ++r) {
    auto page = std::span<std::byte, kBlockSize>(block.data(), kBlockSize);
    format::init_block_map_page(page);
    format::seal_block_map_page(page, g.nonce, Pbn{layout.root_pbn(r)}, 3);
    VDOFS_TRY(device.write(layout.root_pbn(r), block));
  }
  // The journal needs no zeroing: its sectors are checksummed with this volume's nonce and a
  // sequence number at or above the super block's journal start.
  index::IndexRegion region{&device, layout.index_start(), layout.index_blocks(), g.nonce};
  VDOFS_TRY(index::format_index(region, index::IndexConfig{g.index_memory, g.sparse_index, 1}));
  VDOFS_TRY(engine::SlabDepot::format(device, layout, g.nonce, progress));
  VDOFS_TRY(device.flush());

  format::encode_geometry(g, std::span<std::byte, kBlockSize>(block.data(), kBlockSize));
  VDOFS_TRY(device.write(0, block));
  VDOFS_TRY(device.flush());
  return plan;
}

}  // namespace vdofs::mkfs
