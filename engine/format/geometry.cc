#include "engine/format/geometry.h"

#include <cstdio>
#include <cstring>

#include "engine/base/assert.h"
#include "engine/base/crc32c.h"
#include "engine/format/encoding.h"

namespace vdofs::format {

namespace {
constexpr size_t kRegionTable = 140;
constexpr size_t kRegionEntry = 24;
constexpr size_t kCrcOffset = kBlockSize - 4;
}  // namespace

const Region& Geometry::region(RegionId id) const {
  for (const Region& r : regions)
    if (r.id == id) return r;
  VDOFS_CHECK(false, "geometry has no region %u", static_cast<unsigned>(id));
}

std::string Geometry::uuid_string() const {
  char buf[40];
  const uint8_t* u = uuid.data();
  snprintf(buf, sizeof buf, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
           u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13],
           u[14], u[15]);
  return buf;
}

void encode_geometry(const Geometry& g, std::span<std::byte, kBlockSize> out) {
  std::byte* p = out.data();
  memset(p, 0, kBlockSize);
  memcpy(p, kGeometryMagic, 8);
  put_u32(p + 8, g.version);
  put_u32(p + 12, g.block_size);
  put_u64(p + 16, g.nonce);
  memcpy(p + 24, g.uuid.data(), 16);
  put_u64(p + 40, g.physical_blocks);
  put_u32(p + 48, g.slab_bits);
  put_u32(p + 52, g.journal_blocks);
  put_u64(p + 56, g.index_memory);
  put_u8(p + 64, g.sparse_index ? 1 : 0);
  VDOFS_CHECK(g.name.size() <= kMaxNameLength);
  memcpy(p + 72, g.name.data(), g.name.size());
  put_u32(p + 136, static_cast<uint32_t>(kRegionCount));
  for (size_t i = 0; i < kRegionCount; ++i) {
    std::byte* r = p + kRegionTable + i * kRegionEntry;
    put_u32(r, static_cast<uint32_t>(g.regions[i].id));
    put_u64(r + 8, g.regions[i].start);
    put_u64(r + 16, g.regions[i].blocks);
  }
  put_u32(p + kCrcOffset, crc32c(p, kCrcOffset));
}

Result<Geometry> decode_geometry(std::span<const std::byte, kBlockSize> in) {
  const std::byte* p = in.data();
  if (memcmp(p, kGeometryMagic, 8) != 0) return errc::bad_magic;
  if (get_u32(p + kCrcOffset) != crc32c(p, kCrcOffset)) return errc::checksum_mismatch;
  Geometry g;
  g.version = get_u32(p + 8);
  if (g.version != kFormatVersion) return errc::bad_version;
  g.block_size = get_u32(p + 12);
  if (g.block_size != kBlockSize) return errc::bad_version;
  g.nonce = get_u64(p + 16);
  memcpy(g.uuid.data(), p + 24, 16);
  g.physical_blocks = get_u64(p + 40);
  g.slab_bits = get_u32(p + 48);
  g.journal_blocks = get_u32(p + 52);
  g.index_memory = get_u64(p + 56);
  g.sparse_index = get_u8(p + 64) != 0;
  const char* name = reinterpret_cast<const char*>(p + 72);
  g.name.assign(name, strnlen(name, kMaxNameLength));
  if (get_u32(p + 136) != kRegionCount) return errc::corrupt_metadata;
  for (size_t i = 0; i < kRegionCount; ++i) {
    const std::byte* r = p + kRegionTable + i * kRegionEntry;
    g.regions[i].id = static_cast<RegionId>(get_u32(r));
    g.regions[i].start = get_u64(r + 8);
    g.regions[i].blocks = get_u64(r + 16);
    if (g.regions[i].id != static_cast<RegionId>(i + 1)) return errc::corrupt_metadata;
    if (g.regions[i].end() > g.physical_blocks || g.regions[i].end() < g.regions[i].start)
      return errc::corrupt_metadata;
  }
  if (g.slab_bits < 4 || g.slab_bits > 23 || g.journal_blocks == 0 ||
      (g.journal_blocks & (g.journal_blocks - 1)) != 0)
    return errc::corrupt_metadata;
  return g;
}

}  // namespace vdofs::format
