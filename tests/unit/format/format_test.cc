// On-disk format: round trips and rejections for every structure vdofs writes (geometry, super
// block, block-map pages, reference-count blocks, recovery-journal blocks), the layout arithmetic,
// what mkfs writes and in which order, and size parsing. The byte offsets checked here are the
// ones docs/on-disk-format.md documents; a change to either must change both.
#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "engine/base/crc32c.h"
#include "engine/base/size_parse.h"
#include "engine/format/block_map_page.h"
#include "engine/format/encoding.h"
#include "engine/format/geometry.h"
#include "engine/format/journal_block.h"
#include "engine/format/layout.h"
#include "engine/format/ref_block.h"
#include "engine/format/super_block.h"
#include "engine/io/ram_device.h"
#include "engine/volume.h"
#include "mkfs/formatter.h"

namespace vdofs::format {
namespace {

using Block = std::array<std::byte, kBlockSize>;

std::span<std::byte, kBlockSize> span(Block& b) { return std::span<std::byte, kBlockSize>(b); }
std::span<const std::byte, kBlockSize> cspan(const Block& b) {
  return std::span<const std::byte, kBlockSize>(b);
}

std::byte* sector(Block& b, uint32_t s) { return b.data() + s * kSectorSize; }

// Copies sector `s` of `from` into `to` (a torn write: 512-byte sectors land independently).
void copy_sector(Block& to, const Block& from, uint32_t s) {
  memcpy(to.data() + s * kSectorSize, from.data() + s * kSectorSize, kSectorSize);
}

// Recomputes a whole-block CRC32C (geometry, super block: stored in the last 4 bytes).
void reseal_whole_block(Block& b) {
  put_u32(b.data() + kBlockSize - 4, crc32c(b.data(), kBlockSize - 4));
}

// Recomputes one sector's CRC32C with the per-location seed (block-map, ref-count, journal).
void reseal_sector(Block& b, uint32_t s, uint64_t nonce, uint64_t pbn) {
  std::byte* sec = sector(b, s);
  put_u32(sec, crc32c(metadata_seed(nonce, pbn), sec + 4, kSectorSize - 4));
}

constexpr uint64_t kNonce = 0x0123456789ABCDEFull;

// ---------------------------------------------------------------------------------------------
// Geometry

Geometry sample_geometry() {
  Geometry g;
  g.nonce = kNonce;
  for (size_t i = 0; i < g.uuid.size(); ++i) g.uuid[i] = static_cast<uint8_t>(0xA0 + i);
  g.index_memory = 64ull << 20;
  g.sparse_index = true;
  g.name = "vol0";
  LayoutRequest req{1 << 20, 15, 1024, 4097};
  EXPECT_TRUE(plan_regions(req, g).has_value());
  return g;
}

TEST(Geometry, RoundTrip) {
  Geometry g = sample_geometry();
  Block b;
  encode_geometry(g, span(b));
  auto d = decode_geometry(cspan(b));
  ASSERT_TRUE(d.has_value()) << d.error().message();
  EXPECT_EQ(d->version, kFormatVersion);
  EXPECT_EQ(d->block_size, kBlockSize);
  EXPECT_EQ(d->nonce, g.nonce);
  EXPECT_EQ(d->uuid, g.uuid);
  EXPECT_EQ(d->physical_blocks, g.physical_blocks);
  EXPECT_EQ(d->slab_bits, g.slab_bits);
  EXPECT_EQ(d->journal_blocks, g.journal_blocks);
  EXPECT_EQ(d->index_memory, g.index_memory);
  EXPECT_EQ(d->sparse_index, g.sparse_index);
  EXPECT_EQ(d->name, g.name);
  for (size_t i = 0; i < kRegionCount; ++i) {
    EXPECT_EQ(d->regions[i].id, g.regions[i].id);
    EXPECT_EQ(d->regions[i].start, g.regions[i].start);
    EXPECT_EQ(d->regions[i].blocks, g.regions[i].blocks);
  }
  EXPECT_EQ(d->uuid_string(), "a0a1a2a3-a4a5-a6a7-a8a9-aaabacadaeaf");
}

TEST(Geometry, ByteLayout) {
  Geometry g = sample_geometry();
  Block b;
  encode_geometry(g, span(b));
  EXPECT_EQ(0, memcmp(b.data(), "VDOFSGEO", 8));
  EXPECT_EQ(get_u32(b.data() + 8), kFormatVersion);
  EXPECT_EQ(get_u32(b.data() + 12), kBlockSize);
  EXPECT_EQ(get_u64(b.data() + 16), kNonce);
  EXPECT_EQ(get_u8(b.data() + 24), 0xA0);
  EXPECT_EQ(get_u64(b.data() + 40), g.physical_blocks);
  EXPECT_EQ(get_u32(b.data() + 48), g.slab_bits);
  EXPECT_EQ(get_u32(b.data() + 52), g.journal_blocks);
  EXPECT_EQ(get_u64(b.data() + 56), g.index_memory);
  EXPECT_EQ(get_u8(b.data() + 64), 1);
  EXPECT_EQ(0, memcmp(b.data() + 72, "vol0\0", 5));
  EXPECT_EQ(get_u32(b.data() + 136), kRegionCount);
  for (size_t i = 0; i < kRegionCount; ++i) {
    const std::byte* r = b.data() + 140 + i * 24;
    EXPECT_EQ(get_u32(r), i + 1);
    EXPECT_EQ(get_u32(r + 4), 0u);  // padding
    EXPECT_EQ(get_u64(r + 8), g.regions[i].start);
    EXPECT_EQ(get_u64(r + 16), g.regions[i].blocks);
  }
  for (size_t i = 140 + kRegionCount * 24; i < kBlockSize - 4; ++i)
    ASSERT_EQ(b[i], std::byte{0}) << "byte " << i;
  EXPECT_EQ(get_u32(b.data() + kBlockSize - 4), crc32c(b.data(), kBlockSize - 4));
}

TEST(Geometry, LongestNameRoundTrips) {
  Geometry g = sample_geometry();
  g.name = std::string(kMaxNameLength, 'n');
  Block b;
  encode_geometry(g, span(b));
  auto d = decode_geometry(cspan(b));
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->name, g.name);
}

TEST(Geometry, BadMagic) {
  Block b;
  encode_geometry(sample_geometry(), span(b));
  b[3] ^= std::byte{0x20};
  reseal_whole_block(b);
  EXPECT_EQ(decode_geometry(cspan(b)).error(), make_error_code(errc::bad_magic));
  Block zeros{};
  EXPECT_EQ(decode_geometry(cspan(zeros)).error(), make_error_code(errc::bad_magic));
}

TEST(Geometry, BadVersion) {
  Geometry g = sample_geometry();
  g.version = kFormatVersion + 1;
  Block b;
  encode_geometry(g, span(b));
  EXPECT_EQ(decode_geometry(cspan(b)).error(), make_error_code(errc::bad_version));
  g = sample_geometry();
  g.block_size = 512;
  encode_geometry(g, span(b));
  EXPECT_EQ(decode_geometry(cspan(b)).error(), make_error_code(errc::bad_version));
}

TEST(Geometry, BadCrc) {
  Block b;
  encode_geometry(sample_geometry(), span(b));
  for (size_t at : {size_t{8}, size_t{40}, size_t{100}, size_t{2000}, size_t{kBlockSize - 1}}) {
    Block c = b;
    c[at] ^= std::byte{0x01};
    EXPECT_EQ(decode_geometry(cspan(c)).error(), make_error_code(errc::checksum_mismatch))
        << "flipped byte " << at;
  }
}

TEST(Geometry, CorruptRegionTable) {
  const std::error_code corrupt = make_error_code(errc::corrupt_metadata);
  Block b;
  // Wrong region count.
  encode_geometry(sample_geometry(), span(b));
  put_u32(b.data() + 136, kRegionCount + 1);
  reseal_whole_block(b);
  EXPECT_EQ(decode_geometry(cspan(b)).error(), corrupt);
  // Regions out of order (ids must be 1..5 in order).
  Geometry g = sample_geometry();
  std::swap(g.regions[1].id, g.regions[2].id);
  encode_geometry(g, span(b));
  EXPECT_EQ(decode_geometry(cspan(b)).error(), corrupt);
  // A region past the end of the volume.
  g = sample_geometry();
  g.regions[4].blocks = g.physical_blocks;
  encode_geometry(g, span(b));
  EXPECT_EQ(decode_geometry(cspan(b)).error(), corrupt);
  // A region whose end wraps around.
  g = sample_geometry();
  g.regions[1].blocks = UINT64_MAX;
  encode_geometry(g, span(b));
  EXPECT_EQ(decode_geometry(cspan(b)).error(), corrupt);
  // Impossible slab size and journal size.
  for (uint32_t bits : {3u, 24u}) {
    g = sample_geometry();
    g.slab_bits = bits;
    encode_geometry(g, span(b));
    EXPECT_EQ(decode_geometry(cspan(b)).error(), corrupt) << "slab_bits " << bits;
  }
  for (uint32_t j : {0u, 1000u}) {
    g = sample_geometry();
    g.journal_blocks = j;
    encode_geometry(g, span(b));
    EXPECT_EQ(decode_geometry(cspan(b)).error(), corrupt) << "journal_blocks " << j;
  }
}

// ---------------------------------------------------------------------------------------------
// Super block

SuperBlock sample_super(uint64_t generation) {
  SuperBlock sb;
  sb.nonce = kNonce;
  sb.generation = generation;
  sb.state = VolumeState::kDirty;
  sb.logical_blocks = 1ull << 30;
  sb.journal_start = 12345;
  sb.logical_blocks_used = 777;
  sb.complete_recoveries = 3;
  sb.read_only_recoveries = 1;
  sb.index_save_slot = 2;
  sb.index_save_generation = 99;
  return sb;
}

Block encoded(const SuperBlock& sb) {
  Block b;
  encode_super_block(sb, span(b));
  return b;
}

TEST(SuperBlock, RoundTrip) {
  for (auto state : {VolumeState::kNew, VolumeState::kClean, VolumeState::kDirty,
                     VolumeState::kReadOnly, VolumeState::kForceRebuild}) {
    SuperBlock sb = sample_super(7);
    sb.state = state;
    auto d = decode_super_block(cspan(encoded(sb)), kNonce);
    ASSERT_TRUE(d.has_value()) << d.error().message();
    EXPECT_EQ(d->nonce, sb.nonce);
    EXPECT_EQ(d->generation, sb.generation);
    EXPECT_EQ(d->state, sb.state);
    EXPECT_EQ(d->logical_blocks, sb.logical_blocks);
    EXPECT_EQ(d->journal_start, sb.journal_start);
    EXPECT_EQ(d->logical_blocks_used, sb.logical_blocks_used);
    EXPECT_EQ(d->complete_recoveries, sb.complete_recoveries);
    EXPECT_EQ(d->read_only_recoveries, sb.read_only_recoveries);
    EXPECT_EQ(d->index_save_slot, sb.index_save_slot);
    EXPECT_EQ(d->index_save_generation, sb.index_save_generation);
  }
  EXPECT_STREQ(state_name(VolumeState::kClean), "clean");
  EXPECT_STREQ(state_name(VolumeState::kReadOnly), "read-only");
}

TEST(SuperBlock, ByteLayout) {
  Block b = encoded(sample_super(7));
  EXPECT_EQ(0, memcmp(b.data(), "VDOFSSUP", 8));
  EXPECT_EQ(get_u32(b.data() + 8), kFormatVersionSuper);
  EXPECT_EQ(get_u64(b.data() + 16), kNonce);
  EXPECT_EQ(get_u64(b.data() + 24), 7u);
  EXPECT_EQ(get_u8(b.data() + 32), static_cast<uint8_t>(VolumeState::kDirty));
  EXPECT_EQ(get_u64(b.data() + 40), 1ull << 30);
  EXPECT_EQ(get_u64(b.data() + 48), 12345u);
  EXPECT_EQ(get_u64(b.data() + 56), 777u);
  EXPECT_EQ(get_u64(b.data() + 64), 3u);
  EXPECT_EQ(get_u64(b.data() + 72), 1u);
  EXPECT_EQ(get_u64(b.data() + 80), 2u);
  EXPECT_EQ(get_u64(b.data() + 88), 99u);
  for (size_t i = 96; i < kBlockSize - 4; ++i) ASSERT_EQ(b[i], std::byte{0}) << "byte " << i;
  EXPECT_EQ(get_u32(b.data() + kBlockSize - 4), crc32c(b.data(), kBlockSize - 4));
}

TEST(SuperBlock, Rejections) {
  Block good = encoded(sample_super(7));
  Block b = good;
  b[0] = std::byte{'X'};
  reseal_whole_block(b);
  EXPECT_EQ(decode_super_block(cspan(b), kNonce).error(), make_error_code(errc::bad_magic));
  b = good;
  b[50] ^= std::byte{0x10};
  EXPECT_EQ(decode_super_block(cspan(b), kNonce).error(), make_error_code(errc::checksum_mismatch));
  b = good;
  put_u32(b.data() + 8, kFormatVersionSuper + 1);
  reseal_whole_block(b);
  EXPECT_EQ(decode_super_block(cspan(b), kNonce).error(), make_error_code(errc::bad_version));
  EXPECT_EQ(decode_super_block(cspan(good), kNonce + 1).error(), make_error_code(errc::bad_nonce));
  b = good;
  put_u8(b.data() + 32, 5);  // no such state
  reseal_whole_block(b);
  EXPECT_EQ(decode_super_block(cspan(b), kNonce).error(), make_error_code(errc::corrupt_metadata));
  SuperBlock sb = sample_super(7);
  sb.logical_blocks = 0;
  EXPECT_EQ(decode_super_block(cspan(encoded(sb)), kNonce).error(),
            make_error_code(errc::corrupt_metadata));
  sb.logical_blocks = kMaxLogicalBlocks + 1;
  EXPECT_EQ(decode_super_block(cspan(encoded(sb)), kNonce).error(),
            make_error_code(errc::corrupt_metadata));
  sb.logical_blocks = kMaxLogicalBlocks;
  EXPECT_TRUE(decode_super_block(cspan(encoded(sb)), kNonce).has_value());
}

TEST(SuperBlock, HigherGenerationWinsInEitherCopy) {
  Block g5 = encoded(sample_super(5));
  Block g6 = encoded(sample_super(6));
  auto a = choose_super_block(cspan(g5), cspan(g6), kNonce);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->generation, 6u);
  auto b = choose_super_block(cspan(g6), cspan(g5), kNonce);
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->generation, 6u);
}

TEST(SuperBlock, TornOrInvalidCopyFallsBackToTheOther) {
  Block old_copy = encoded(sample_super(5));
  Block new_copy = encoded(sample_super(6));
  // A torn write of generation 7 over generation 5's copy: its first sectors are new, the rest
  // old. The CRC covers the whole block, so the torn copy is invalid and generation 6 is chosen.
  Block g7 = encoded(sample_super(7));
  Block torn = old_copy;
  for (uint32_t s = 0; s < 3; ++s) copy_sector(torn, g7, s);
  auto c = choose_super_block(cspan(torn), cspan(new_copy), kNonce);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->generation, 6u);
  // Garbage in one copy.
  Block garbage;
  std::mt19937_64 rng(1);
  for (auto& x : garbage) x = std::byte(static_cast<uint8_t>(rng()));
  c = choose_super_block(cspan(new_copy), cspan(garbage), kNonce);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->generation, 6u);
  // A zeroed copy (what mkfs writes to the unused copy).
  Block zeros{};
  c = choose_super_block(cspan(zeros), cspan(old_copy), kNonce);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->generation, 5u);
  // Neither copy valid.
  EXPECT_FALSE(choose_super_block(cspan(zeros), cspan(garbage), kNonce).has_value());
}

TEST(SuperBlock, ForeignNonceIsRejected) {
  SuperBlock foreign = sample_super(9);
  foreign.nonce = kNonce ^ 1;
  Block f = encoded(foreign);
  Block mine = encoded(sample_super(4));
  auto c = choose_super_block(cspan(f), cspan(mine), kNonce);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->generation, 4u) << "a higher generation from another volume must not win";
  EXPECT_EQ(choose_super_block(cspan(f), cspan(f), kNonce).error(),
            make_error_code(errc::bad_nonce));
}

// ---------------------------------------------------------------------------------------------
// Block-map pages

TEST(BlockMapPage, MappingEncoding) {
  EXPECT_EQ(encode_mapping(kUnmappedMapping), 0u);
  EXPECT_EQ(encode_mapping(kZeroMapping), 1u);
  Mapping m{Pbn{0x123456789ull}, MappingState::kMapped};
  EXPECT_EQ(encode_mapping(m), (0x123456789ull << 4) | 1);
  EXPECT_EQ(decode_mapping(encode_mapping(m)), m);
  Mapping top{Pbn{kMaxPhysicalBlocks - 1}, static_cast<MappingState>(15)};
  EXPECT_EQ(encode_mapping(top), (uint64_t{1} << 40) - 1);
  EXPECT_EQ(decode_mapping(encode_mapping(top)), top);
  // Bits above the 40 the format stores are ignored.
  EXPECT_EQ(decode_mapping((uint64_t{1} << 40) | encode_mapping(m)), m);
}

TEST(BlockMapPage, EntriesSetAndGet) {
  EXPECT_EQ(kEntriesPerPage, 800u);
  Block page;
  init_block_map_page(span(page));
  for (uint32_t s = 0; s < kEntriesPerPage; ++s)
    ASSERT_EQ(get_block_map_entry(cspan(page), s), kUnmappedMapping);
  auto mapping_for = [](uint32_t s) {
    return Mapping{Pbn{(uint64_t{s} * 0x9E3779B1ull) & (kMaxPhysicalBlocks - 1)},
                   static_cast<MappingState>(s % 16)};
  };
  for (uint32_t s = 0; s < kEntriesPerPage; ++s) set_block_map_entry(span(page), s, mapping_for(s));
  for (uint32_t s = 0; s < kEntriesPerPage; ++s)
    ASSERT_EQ(get_block_map_entry(cspan(page), s), mapping_for(s)) << "slot " << s;
  // Changing one entry leaves its neighbours alone.
  set_block_map_entry(span(page), 437, kZeroMapping);
  EXPECT_EQ(get_block_map_entry(cspan(page), 436), mapping_for(436));
  EXPECT_EQ(get_block_map_entry(cspan(page), 437), kZeroMapping);
  EXPECT_EQ(get_block_map_entry(cspan(page), 438), mapping_for(438));
}

TEST(BlockMapPage, ByteLayout) {
  Block page;
  init_block_map_page(span(page));
  // Slot 250 is sector 2, entry 50: byte 2*512 + 8 + 50*5.
  Mapping m{Pbn{0xABCDEF123ull}, MappingState::kMapped};
  set_block_map_entry(span(page), 250, m);
  const std::byte* e = page.data() + 2 * kSectorSize + 8 + 50 * 5;
  EXPECT_EQ(get_u40(e), (0xABCDEF123ull << 4) | 1);
  EXPECT_EQ(get_u8(e), 0x31);  // little-endian: the state nibble is in the first byte
  seal_block_map_page(span(page), kNonce, Pbn{4242}, 1);
  for (uint32_t s = 0; s < kSectorsPerBlock; ++s) {
    const std::byte* sec = page.data() + s * kSectorSize;
    EXPECT_EQ(get_u8(sec + 4), kBlockMapTag);
    EXPECT_EQ(get_u8(sec + 5), s);
    EXPECT_EQ(get_u8(sec + 6), 1);
    EXPECT_EQ(get_u8(sec + 7), 0);
    EXPECT_EQ(get_u32(sec), crc32c(metadata_seed(kNonce, 4242), sec + 4, kSectorSize - 4));
    for (size_t i = 508; i < kSectorSize; ++i) EXPECT_EQ(sec[i], std::byte{0}) << "pad " << i;
  }
}

TEST(Checksum, Crc32cIsCastagnoli) {
  // The standard CRC-32C check value (RFC 3720 / iSCSI), and an all-zero 32-byte vector.
  EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u);
  std::array<uint8_t, 32> zeros{};
  EXPECT_EQ(crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);
  // Continuation: crc32c(crc32c(0, a), b) == crc32c(0, a + b).
  EXPECT_EQ(crc32c(crc32c("12345", 5), "6789", 4), 0xE3069283u);
}

TEST(BlockMapPage, MetadataSeed) {
  std::byte b[16];
  put_u64(b, kNonce);
  put_u64(b + 8, 77);
  EXPECT_EQ(metadata_seed(kNonce, 77), crc32c(b, 16));
  EXPECT_NE(metadata_seed(kNonce, 77), metadata_seed(kNonce, 78));
  // A seeded sector CRC is the plain CRC32C of nonce, PBN and the sector's bytes 4..511.
  std::vector<std::byte> sec(kSectorSize, std::byte{0x5A});
  std::array<std::byte, 16 + kSectorSize - 4> joined;
  memcpy(joined.data(), b, 16);
  memcpy(joined.data() + 16, sec.data() + 4, kSectorSize - 4);
  EXPECT_EQ(crc32c(metadata_seed(kNonce, 77), sec.data() + 4, kSectorSize - 4),
            crc32c(joined.data(), joined.size()));
  EXPECT_NE(metadata_seed(kNonce, 77), metadata_seed(kNonce + 1, 77));
}

TEST(BlockMapPage, SealAndCheck) {
  Block page;
  init_block_map_page(span(page));
  for (uint32_t s = 0; s < kEntriesPerPage; s += 7)
    set_block_map_entry(span(page), s, Mapping{Pbn{1000 + s}, MappingState::kMapped});
  seal_block_map_page(span(page), kNonce, Pbn{500}, 0);
  EXPECT_TRUE(check_block_map_page(cspan(page), kNonce, Pbn{500}, 0).has_value());
  // The same bytes read at another location, for another volume, or as another level.
  EXPECT_EQ(check_block_map_page(cspan(page), kNonce, Pbn{501}, 0).error(),
            make_error_code(errc::checksum_mismatch));
  EXPECT_EQ(check_block_map_page(cspan(page), kNonce + 1, Pbn{500}, 0).error(),
            make_error_code(errc::checksum_mismatch));
  EXPECT_EQ(check_block_map_page(cspan(page), kNonce, Pbn{500}, 1).error(),
            make_error_code(errc::corrupt_metadata));
  // A never-written (all zero) block is not a valid page.
  Block zeros{};
  EXPECT_FALSE(check_block_map_page(cspan(zeros), kNonce, Pbn{500}, 0).has_value());
  // Any flipped bit in any sector.
  for (uint32_t s = 0; s < kSectorsPerBlock; ++s) {
    Block c = page;
    sector(c, s)[300] ^= std::byte{0x04};
    EXPECT_FALSE(check_block_map_page(cspan(c), kNonce, Pbn{500}, 0).has_value()) << s;
  }
}

TEST(BlockMapPage, SectorFromAnotherPageOrVolumeFails) {
  Block a, other_pbn, other_volume;
  for (Block* b : {&a, &other_pbn, &other_volume}) init_block_map_page(span(*b));
  seal_block_map_page(span(a), kNonce, Pbn{500}, 0);
  seal_block_map_page(span(other_pbn), kNonce, Pbn{501}, 0);
  seal_block_map_page(span(other_volume), kNonce + 1, Pbn{500}, 0);
  for (uint32_t s = 0; s < kSectorsPerBlock; ++s) {
    Block c = a;
    copy_sector(c, other_pbn, s);
    EXPECT_FALSE(check_block_map_page(cspan(c), kNonce, Pbn{500}, 0).has_value()) << s;
    c = a;
    copy_sector(c, other_volume, s);
    EXPECT_FALSE(check_block_map_page(cspan(c), kNonce, Pbn{500}, 0).has_value()) << s;
  }
  // A sector moved to another position in the same page (the sector number is checked).
  Block moved = a;
  memcpy(sector(moved, 1), sector(a, 0), kSectorSize);
  EXPECT_FALSE(check_block_map_page(cspan(moved), kNonce, Pbn{500}, 0).has_value());
}

TEST(BlockMapPage, TornPageValidatesSectorBySector) {
  Block v1, v2;
  init_block_map_page(span(v1));
  init_block_map_page(span(v2));
  for (uint32_t s = 0; s < kEntriesPerPage; ++s) {
    set_block_map_entry(span(v1), s, Mapping{Pbn{10000 + s}, MappingState::kMapped});
    set_block_map_entry(span(v2), s, Mapping{Pbn{20000 + s}, MappingState::kMapped});
  }
  seal_block_map_page(span(v1), kNonce, Pbn{77}, 0);
  seal_block_map_page(span(v2), kNonce, Pbn{77}, 0);
  // Every mix of sectors from the two versions is a valid page whose entries come, sector by
  // sector, wholly from one version.
  for (uint32_t mask = 0; mask < 256; ++mask) {
    Block torn = v1;
    for (uint32_t s = 0; s < kSectorsPerBlock; ++s)
      if (mask & (1u << s)) copy_sector(torn, v2, s);
    ASSERT_TRUE(check_block_map_page(cspan(torn), kNonce, Pbn{77}, 0).has_value()) << mask;
    for (uint32_t slot = 0; slot < kEntriesPerPage; ++slot) {
      bool from_v2 = mask & (1u << (slot / kEntriesPerSector));
      ASSERT_EQ(raw(get_block_map_entry(cspan(torn), slot).pbn),
                (from_v2 ? 20000u : 10000u) + slot);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Reference-count blocks

RefBlockImage sample_ref_image() {
  RefBlockImage img;
  for (size_t i = 0; i < img.counts.size(); ++i) img.counts[i] = static_cast<uint8_t>(i % 255);
  for (uint32_t s = 0; s < kSectorsPerBlock; ++s) img.stamps[s] = (uint64_t{1000 + s} << 8) | s;
  return img;
}

TEST(RefBlock, RoundTrip) {
  EXPECT_EQ(kCountsPerRefSector * kSectorsPerBlock, kRefCountsPerBlock);
  RefBlockImage img = sample_ref_image();
  Block b;
  encode_ref_block(img, kNonce, 9999, span(b));
  auto d = decode_ref_block(cspan(b), kNonce, 9999);
  ASSERT_TRUE(d.has_value()) << d.error().message();
  EXPECT_EQ(d->counts, img.counts);
  EXPECT_EQ(d->stamps, img.stamps);
}

TEST(RefBlock, ByteLayout) {
  RefBlockImage img = sample_ref_image();
  Block b;
  encode_ref_block(img, kNonce, 9999, span(b));
  for (uint32_t s = 0; s < kSectorsPerBlock; ++s) {
    const std::byte* sec = b.data() + s * kSectorSize;
    EXPECT_EQ(get_u32(sec), crc32c(metadata_seed(kNonce, 9999), sec + 4, kSectorSize - 4));
    EXPECT_EQ(get_u8(sec + 4), kRefBlockTag);
    EXPECT_EQ(get_u8(sec + 5), s);
    EXPECT_EQ(get_u16(sec + 6), 0);
    EXPECT_EQ(get_u64(sec + 8), img.stamps[s]);
    for (uint32_t i = 0; i < kCountsPerRefSector; ++i)
      ASSERT_EQ(get_u8(sec + 16 + i), img.counts[s * kCountsPerRefSector + i]);
  }
}

TEST(RefBlock, ProvisionalCountIsWrittenAsFree) {
  RefBlockImage img;
  img.counts[5] = kProvisionalCount;
  img.counts[6] = kMaxReferences;
  Block b;
  encode_ref_block(img, kNonce, 1, span(b));
  auto d = decode_ref_block(cspan(b), kNonce, 1);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->counts[5], 0);
  EXPECT_EQ(d->counts[6], kMaxReferences);
}

TEST(RefBlock, CountAbove254IsRejected) {
  RefBlockImage img = sample_ref_image();
  Block b;
  encode_ref_block(img, kNonce, 9999, span(b));
  put_u8(sector(b, 3) + 16 + 17, 255);
  reseal_sector(b, 3, kNonce, 9999);
  EXPECT_FALSE(decode_ref_block(cspan(b), kNonce, 9999).has_value());
  RefBlockImage out;
  EXPECT_FALSE(decode_ref_sector(cspan(b), kNonce, 9999, 3, out));
  EXPECT_TRUE(decode_ref_sector(cspan(b), kNonce, 9999, 2, out));
}

TEST(RefBlock, WrongLocationOrVolumeIsRejected) {
  Block b;
  encode_ref_block(sample_ref_image(), kNonce, 9999, span(b));
  EXPECT_EQ(decode_ref_block(cspan(b), kNonce, 9998).error(),
            make_error_code(errc::checksum_mismatch));
  EXPECT_EQ(decode_ref_block(cspan(b), kNonce + 1, 9999).error(),
            make_error_code(errc::checksum_mismatch));
  Block zeros{};
  EXPECT_FALSE(decode_ref_block(cspan(zeros), kNonce, 9999).has_value());
}

TEST(RefBlock, PerSectorDecode) {
  RefBlockImage v1 = sample_ref_image();
  RefBlockImage v2;
  for (size_t i = 0; i < v2.counts.size(); ++i) v2.counts[i] = static_cast<uint8_t>(1 + i % 7);
  for (uint32_t s = 0; s < kSectorsPerBlock; ++s) v2.stamps[s] = uint64_t{5000} << 8;
  Block b1, b2;
  encode_ref_block(v1, kNonce, 64, span(b1));
  encode_ref_block(v2, kNonce, 64, span(b2));
  // A torn write: sectors 0-4 new, 5-7 old. Each sector is valid and carries its own stamp.
  Block torn = b1;
  for (uint32_t s = 0; s < 5; ++s) copy_sector(torn, b2, s);
  auto d = decode_ref_block(cspan(torn), kNonce, 64);
  ASSERT_TRUE(d.has_value());
  for (uint32_t s = 0; s < kSectorsPerBlock; ++s) {
    const RefBlockImage& want = s < 5 ? v2 : v1;
    EXPECT_EQ(d->stamps[s], want.stamps[s]) << s;
    for (uint32_t i = 0; i < kCountsPerRefSector; ++i) {
      size_t at = s * kCountsPerRefSector + i;
      ASSERT_EQ(d->counts[at], want.counts[at]) << at;
    }
  }
  // One bad sector: the block fails as a whole, the other sectors still decode one by one and a
  // failed sector leaves the image untouched.
  sector(torn, 6)[100] ^= std::byte{0xFF};
  EXPECT_FALSE(decode_ref_block(cspan(torn), kNonce, 64).has_value());
  RefBlockImage out;
  for (uint32_t s = 0; s < kSectorsPerBlock; ++s)
    EXPECT_EQ(decode_ref_sector(cspan(torn), kNonce, 64, s, out), s != 6) << s;
  EXPECT_EQ(out.stamps[6], 0u);
  EXPECT_EQ(out.counts[6 * kCountsPerRefSector], 0);
  EXPECT_EQ(out.stamps[7], v1.stamps[7]);
  // A sector moved to another position fails (its sector number is checked).
  Block moved = b1;
  memcpy(sector(moved, 2), sector(b1, 1), kSectorSize);
  EXPECT_FALSE(decode_ref_sector(cspan(moved), kNonce, 64, 2, out));
}

// ---------------------------------------------------------------------------------------------
// Recovery-journal blocks

std::vector<JournalEntry> sample_entries(size_t n, uint64_t salt = 0) {
  std::vector<JournalEntry> v;
  for (size_t i = 0; i < n; ++i) {
    JournalEntry e;
    if (i % 5 == 4) {
      e.op = JournalOp::kTreePage;
      e.key = tree_page_key(static_cast<uint32_t>(i % 3), 1000 + i);
      e.new_mapping = Mapping{Pbn{50000 + i}, MappingState::kMapped};
    } else {
      e.op = JournalOp::kDataRemap;
      e.key = (salt << 20) + i * 3;
      e.new_mapping = Mapping{Pbn{60000 + i + salt}, MappingState::kMapped};
      e.old_mapping = i % 2 ? kZeroMapping : Mapping{Pbn{70000 + i}, MappingState::kMapped};
    }
    v.push_back(e);
  }
  return v;
}

JournalBlockHeader sample_header(uint64_t seq, size_t entries) {
  return JournalBlockHeader{seq, kNonce, seq - 3, 4321, static_cast<uint32_t>(entries)};
}

constexpr uint64_t kJournalLocation = 70;

Block encoded_journal(uint64_t seq, const std::vector<JournalEntry>& e,
                      uint64_t location = kJournalLocation) {
  Block b;
  encode_journal_block(sample_header(seq, e.size()), e, location, span(b));
  return b;
}

TEST(JournalBlock, RoundTripEveryFill) {
  EXPECT_EQ(kJournalEntriesPerBlock, 217u);
  for (size_t n = 0; n <= kJournalEntriesPerBlock; ++n) {
    auto entries = sample_entries(n);
    Block b = encoded_journal(100, entries);
    auto d = decode_journal_block(cspan(b), kNonce, kJournalLocation);
    ASSERT_TRUE(d.has_value()) << n << ": " << d.error().message();
    EXPECT_EQ(d->header.sequence, 100u);
    EXPECT_EQ(d->header.nonce, kNonce);
    EXPECT_EQ(d->header.head, 97u);
    EXPECT_EQ(d->header.logical_blocks_used, 4321u);
    EXPECT_EQ(d->header.entry_count, n);
    ASSERT_EQ(d->entries, entries) << n;
    EXPECT_EQ(d->full(), n == kJournalEntriesPerBlock);
  }
}

TEST(JournalBlock, ByteLayout) {
  auto entries = sample_entries(40);
  Block b = encoded_journal(100, entries);
  const std::byte* s0 = b.data();
  EXPECT_EQ(get_u32(s0), crc32c(metadata_seed(kNonce, kJournalLocation), s0 + 4, kSectorSize - 4));
  EXPECT_EQ(get_u8(s0 + 4), kJournalTag);
  EXPECT_EQ(get_u8(s0 + 5), 0);
  EXPECT_EQ(get_u64(s0 + 8), 100u);
  EXPECT_EQ(get_u64(s0 + 16), kNonce);
  EXPECT_EQ(get_u64(s0 + 24), 97u);
  EXPECT_EQ(get_u64(s0 + 32), 4321u);
  EXPECT_EQ(get_u32(s0 + 40), 40u);
  for (size_t i = 44; i < kSectorSize; ++i) ASSERT_EQ(s0[i], std::byte{0});
  const uint8_t want_counts[] = {31, 9, 0, 0, 0, 0, 0};
  for (uint32_t s = 1; s < kSectorsPerBlock; ++s) {
    const std::byte* sec = b.data() + s * kSectorSize;
    EXPECT_EQ(get_u8(sec + 4), kJournalTag);
    EXPECT_EQ(get_u8(sec + 5), s);
    EXPECT_EQ(get_u8(sec + 6), want_counts[s - 1]);
    EXPECT_EQ(get_u8(sec + 7), 0);
    EXPECT_EQ(get_u64(sec + 8), 100u);
  }
  // Entry 32 is the second entry of sector 2: at 2*512 + 16 + 16.
  const JournalEntry& e = entries[32];
  const std::byte* p = b.data() + 2 * kSectorSize + 16 + 16;
  EXPECT_EQ(get_u8(p), static_cast<uint8_t>(e.op));
  EXPECT_EQ(get_u40(p + 1), e.key);
  EXPECT_EQ(get_u40(p + 6), encode_mapping(e.new_mapping));
  EXPECT_EQ(get_u40(p + 11), encode_mapping(e.old_mapping));
}

TEST(JournalBlock, TreePageKey) {
  uint64_t key = tree_page_key(2, (uint64_t{1} << 38) - 1);
  EXPECT_LT(key, uint64_t{1} << 40);
  EXPECT_EQ(tree_page_level(key), 2u);
  EXPECT_EQ(tree_page_index(key), (uint64_t{1} << 38) - 1);
  EXPECT_EQ(tree_page_level(tree_page_key(0, 12345)), 0u);
  EXPECT_EQ(tree_page_index(tree_page_key(0, 12345)), 12345u);
}

TEST(JournalBlock, WrongLocationOrVolumeIsRejected) {
  Block b = encoded_journal(100, sample_entries(50));
  EXPECT_EQ(decode_journal_block(cspan(b), kNonce, kJournalLocation + 1).error(),
            make_error_code(errc::checksum_mismatch));
  EXPECT_EQ(decode_journal_block(cspan(b), kNonce + 1, kJournalLocation).error(),
            make_error_code(errc::checksum_mismatch));
  Block zeros{};
  EXPECT_FALSE(decode_journal_block(cspan(zeros), kNonce, kJournalLocation).has_value());
  // A header that checks out under this volume's seed but names another nonce.
  Block c = b;
  put_u64(c.data() + 16, kNonce + 1);
  reseal_sector(c, 0, kNonce, kJournalLocation);
  EXPECT_EQ(decode_journal_block(cspan(c), kNonce, kJournalLocation).error(),
            make_error_code(errc::bad_nonce));
  // Wrong tag or sector number in sector 0.
  c = b;
  put_u8(c.data() + 4, 0x00);
  reseal_sector(c, 0, kNonce, kJournalLocation);
  EXPECT_EQ(decode_journal_block(cspan(c), kNonce, kJournalLocation).error(),
            make_error_code(errc::corrupt_journal));
  // An unknown op code in a valid sector.
  c = b;
  put_u8(sector(c, 1) + 16 + 5 * 16, 7);
  reseal_sector(c, 1, kNonce, kJournalLocation);
  EXPECT_EQ(decode_journal_block(cspan(c), kNonce, kJournalLocation).error(),
            make_error_code(errc::corrupt_journal));
}

// A block is rewritten as entries are appended (group commit), so a torn rewrite mixes sectors of
// the old and new versions of the same sequence number. Decoding must yield a prefix of the new
// entries that contains at least what the old version committed, and never anything else.
TEST(JournalBlock, TornRewriteYieldsCommittedPrefix) {
  auto all = sample_entries(150);
  auto old_entries = std::vector<JournalEntry>(all.begin(), all.begin() + 40);  // 31 + 9
  Block old_version = encoded_journal(100, old_entries);
  Block new_version = encoded_journal(100, all);  // 31 x 4 + 26

  auto decode = [](const Block& b) {
    auto d = decode_journal_block(cspan(b), kNonce, kJournalLocation);
    EXPECT_TRUE(d.has_value());
    return d ? d->entries : std::vector<JournalEntry>{};
  };
  auto prefix = [&](size_t n) { return std::vector<JournalEntry>(all.begin(), all.begin() + n); };

  // Sector 0 new, sectors 1-2 new, sector 3 old (an empty sector of the old version): 62 entries.
  Block t = old_version;
  for (uint32_t s = 0; s <= 2; ++s) copy_sector(t, new_version, s);
  EXPECT_EQ(decode(t), prefix(62));
  // Sector 0 new, sector 1 new, sector 2 old (9 entries, not full): stops there with 40.
  t = old_version;
  for (uint32_t s = 0; s <= 1; ++s) copy_sector(t, new_version, s);
  EXPECT_EQ(decode(t), prefix(40));
  // Sector 0 old (count 40) and every entry sector new: the header's count caps it at 40.
  t = new_version;
  copy_sector(t, old_version, 0);
  EXPECT_EQ(decode(t), prefix(40));
  // Everything new except the last sector still old: the whole new block (its last sector is
  // empty in both versions).
  t = new_version;
  copy_sector(t, old_version, 7);
  EXPECT_EQ(decode(t), all);
  // Garbage in sector 3: the prefix before it.
  t = new_version;
  std::mt19937_64 rng(7);
  for (uint32_t i = 0; i < kSectorSize; ++i)
    sector(t, 3)[i] = std::byte(static_cast<uint8_t>(rng()));
  EXPECT_EQ(decode(t), prefix(62));
  // Every combination of old and new sectors yields a prefix at least as long as the old block.
  for (uint32_t mask = 0; mask < 256; ++mask) {
    Block m = old_version;
    for (uint32_t s = 0; s < kSectorsPerBlock; ++s)
      if (mask & (1u << s)) copy_sector(m, new_version, s);
    auto got = decode(m);
    ASSERT_GE(got.size(), old_entries.size()) << mask;
    ASSERT_EQ(got, prefix(got.size())) << mask;
  }
}

TEST(JournalBlock, SectorsFromAnOlderLapAreNotReplayed) {
  // The ring reuses a location every `journal_blocks` sequence numbers. A sector left over from
  // the previous lap has a valid CRC (same nonce, same location) but another sequence number.
  const uint64_t ring = 64;
  auto previous = sample_entries(217, 1);
  auto current = sample_entries(217, 2);
  Block lap1 = encoded_journal(100, previous);
  Block lap2 = encoded_journal(100 + ring, current);
  Block t = lap2;
  copy_sector(t, lap1, 3);
  auto d = decode_journal_block(cspan(t), kNonce, kJournalLocation);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->header.sequence, 100 + ring);
  EXPECT_EQ(d->entries, std::vector<JournalEntry>(current.begin(), current.begin() + 62));
  // Sector 0 from the older lap: the block reads as the old sequence number, and none of the new
  // lap's entry sectors are taken for it.
  t = lap2;
  copy_sector(t, lap1, 0);
  d = decode_journal_block(cspan(t), kNonce, kJournalLocation);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->header.sequence, 100u);
  EXPECT_TRUE(d->entries.empty());
}

TEST(JournalBlock, SectorEntryCountAbove31StopsTheScan) {
  Block b = encoded_journal(100, sample_entries(100));
  put_u8(sector(b, 2) + 6, 32);
  reseal_sector(b, 2, kNonce, kJournalLocation);
  auto d = decode_journal_block(cspan(b), kNonce, kJournalLocation);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->entries.size(), 31u);
}

// ---------------------------------------------------------------------------------------------
// Layout arithmetic

TEST(Layout, RefBlocksPerSlab) {
  for (uint32_t bits = kMinSlabBits; bits <= kMaxSlabBits; ++bits) {
    uint64_t slab = uint64_t{1} << bits;
    uint64_t refs = ref_blocks_for_slab(bits);
    uint64_t data = slab - refs;
    // Enough reference-count blocks for the data blocks, and not one more than needed.
    EXPECT_GE(refs * kRefCountsPerBlock, data) << bits;
    EXPECT_LT((refs - 1) * kRefCountsPerBlock, data + 1) << bits;
  }
  EXPECT_EQ(ref_blocks_for_slab(4), 1u);      // 64 KiB: 15 data + 1
  EXPECT_EQ(ref_blocks_for_slab(19), 133u);   // 2 GiB
  EXPECT_EQ(ref_blocks_for_slab(23), 2114u);  // 32 GiB
}

TEST(Layout, PlanRegionsTooSmallAndInvalid) {
  LayoutRequest req{0, 10, 64, 33};
  uint64_t min = minimum_physical_blocks(req);
  EXPECT_EQ(min, 1 + 2 + 33 + 60 + 64 + 1024u);
  Geometry g;
  req.physical_blocks = min - 1;
  EXPECT_EQ(plan_regions(req, g).error(), make_error_code(errc::too_small));
  req.physical_blocks = min;
  ASSERT_TRUE(plan_regions(req, g).has_value());
  EXPECT_EQ(Layout(g).slab_count(), 1u);
  req.physical_blocks = min + 1023;
  ASSERT_TRUE(plan_regions(req, g).has_value());
  EXPECT_EQ(Layout(g).slab_count(), 1u) << "a partial slab is not used";
  req.physical_blocks = min + 1024;
  ASSERT_TRUE(plan_regions(req, g).has_value());
  EXPECT_EQ(Layout(g).slab_count(), 2u);
  for (uint32_t bits : {kMinSlabBits - 1, kMaxSlabBits + 1}) {
    LayoutRequest bad{1 << 30, bits, 64, 33};
    EXPECT_EQ(plan_regions(bad, g).error(), make_error_code(errc::invalid_argument)) << bits;
  }
  for (uint32_t j : {0u, 96u}) {
    LayoutRequest bad{1 << 20, 10, j, 33};
    EXPECT_EQ(plan_regions(bad, g).error(), make_error_code(errc::invalid_argument)) << j;
  }
}

TEST(Layout, RegionsAreContiguousInOrder) {
  Geometry g;
  LayoutRequest req{100000, 10, 256, 500};
  ASSERT_TRUE(plan_regions(req, g).has_value());
  EXPECT_EQ(g.physical_blocks, 100000u);
  EXPECT_EQ(g.slab_bits, 10u);
  EXPECT_EQ(g.journal_blocks, 256u);
  const Region& super = g.region(RegionId::kSuperBlock);
  const Region& index = g.region(RegionId::kIndex);
  const Region& roots = g.region(RegionId::kBlockMapRoots);
  const Region& journal = g.region(RegionId::kRecoveryJournal);
  const Region& depot = g.region(RegionId::kSlabDepot);
  EXPECT_EQ(super.start, 1u);
  EXPECT_EQ(super.blocks, 2u);
  EXPECT_EQ(index.start, 3u);
  EXPECT_EQ(index.blocks, 500u);
  EXPECT_EQ(roots.start, index.end());
  EXPECT_EQ(roots.blocks, kBlockMapRootCount);
  EXPECT_EQ(journal.start, roots.end());
  EXPECT_EQ(journal.blocks, 256u);
  EXPECT_EQ(depot.start, journal.end());
  EXPECT_EQ(depot.blocks, ((100000 - depot.start) >> 10) << 10);
  EXPECT_LE(depot.end(), g.physical_blocks);
}

TEST(Layout, SlabCountIsCappedAt8192) {
  Geometry g;
  LayoutRequest req{(uint64_t{kMaxSlabs} + 100) * 16 + 1000, 4, 64, 1};
  ASSERT_TRUE(plan_regions(req, g).has_value());
  Layout l(g);
  EXPECT_EQ(l.slab_count(), kMaxSlabs);
  EXPECT_GT(l.overhead_blocks(), 100u * 16);
}

TEST(Layout, SlabArithmetic) {
  Geometry g;
  LayoutRequest req{100000, 10, 256, 500};
  ASSERT_TRUE(plan_regions(req, g).has_value());
  Layout l(g);
  const uint64_t depot = g.region(RegionId::kSlabDepot).start;
  EXPECT_EQ(l.depot_start(), depot);
  EXPECT_EQ(l.slab_blocks(), 1024u);
  EXPECT_EQ(l.ref_blocks_per_slab(), 1u);
  EXPECT_EQ(l.data_blocks_per_slab(), 1023u);
  EXPECT_EQ(l.slab_count(), (100000 - depot) / 1024);
  EXPECT_EQ(l.data_capacity(), l.slab_count() * 1023);
  EXPECT_EQ(l.overhead_blocks(), 100000 - l.data_capacity());
  EXPECT_EQ(l.root_pbn(0), g.region(RegionId::kBlockMapRoots).start);
  EXPECT_EQ(l.root_pbn(59), g.region(RegionId::kBlockMapRoots).start + 59);
  EXPECT_EQ(l.journal_start(), g.region(RegionId::kRecoveryJournal).start);
  EXPECT_EQ(l.index_start(), 3u);
  EXPECT_EQ(l.index_blocks(), 500u);
  EXPECT_EQ(l.slab_start(3), depot + 3 * 1024);
  EXPECT_EQ(raw(l.data_pbn(3, 17)), depot + 3 * 1024 + 17);
  EXPECT_EQ(l.ref_block_pbn(3, 0), depot + 3 * 1024 + 1023);
  EXPECT_EQ(l.slab_of(l.data_pbn(3, 17)), 3u);
  EXPECT_EQ(l.offset_in_slab(l.data_pbn(3, 17)), 17u);
  EXPECT_EQ(l.slab_of(Pbn{l.ref_block_pbn(3, 0)}), 3u);
}

TEST(Layout, IsDataBlockBoundaries) {
  Geometry g;
  LayoutRequest req{100000, 10, 256, 500};
  ASSERT_TRUE(plan_regions(req, g).has_value());
  Layout l(g);
  const uint64_t d = l.depot_start();
  EXPECT_FALSE(l.is_data_block(Pbn{0}));  // geometry (and the zero block)
  EXPECT_FALSE(l.is_data_block(Pbn{1}));  // super block
  EXPECT_FALSE(l.is_data_block(Pbn{l.root_pbn(0)}));
  EXPECT_FALSE(l.is_data_block(Pbn{l.journal_start()}));
  EXPECT_FALSE(l.is_data_block(Pbn{d - 1}));
  EXPECT_TRUE(l.is_data_block(Pbn{d}));
  EXPECT_TRUE(l.is_data_block(Pbn{d + 1022}));
  EXPECT_FALSE(l.is_data_block(Pbn{d + 1023}));  // the slab's reference-count block
  EXPECT_TRUE(l.is_data_block(Pbn{d + 1024}));   // slab 1
  const uint64_t end = d + (l.slab_count() << 10);
  EXPECT_TRUE(l.is_data_block(Pbn{end - 2}));
  EXPECT_FALSE(l.is_data_block(Pbn{end - 1}));
  EXPECT_FALSE(l.is_data_block(Pbn{end}));  // the unusable tail
  EXPECT_FALSE(l.is_data_block(Pbn{99999}));
  EXPECT_FALSE(l.is_data_block(Pbn{kMaxPhysicalBlocks - 1}));
}

// ---------------------------------------------------------------------------------------------
// What mkfs writes, and in which order

// Records the order of writes and flushes on top of a RamDevice.
class RecordingDevice final : public io::BlockDevice {
 public:
  explicit RecordingDevice(uint64_t blocks) : ram_(blocks) {}
  uint64_t block_count() const override { return ram_.block_count(); }
  Result<void> read(uint64_t block, std::span<std::byte> out) override {
    return ram_.read(block, out);
  }
  Result<void> write(uint64_t block, std::span<const std::byte> data) override {
    for (uint64_t i = 0; i < data.size() / kBlockSize; ++i)
      log_.push_back(static_cast<int64_t>(block + i));
    return ram_.write(block, data);
  }
  Result<void> flush() override {
    log_.push_back(-1);
    return ram_.flush();
  }
  std::string name() const override { return "recording"; }
  const std::vector<int64_t>& log() const { return log_; }  // block numbers; -1 = flush

 private:
  io::RamDevice ram_;
  std::vector<int64_t> log_;
};

TEST(Mkfs, WritesGeometryLastAfterAFlush) {
  RecordingDevice dev(8192);
  mkfs::FormatOptions fo;
  fo.physical_blocks = 8192;
  fo.logical_blocks = 100000;
  fo.slab_bits = 10;
  fo.name = "t";
  auto plan = mkfs::format_volume(dev, fo);
  ASSERT_TRUE(plan.has_value()) << plan.error().message();
  const auto& log = dev.log();
  ASSERT_GE(log.size(), 6u);
  // First the old geometry is overwritten (zeros) and flushed; last the new geometry, flushed.
  EXPECT_EQ(log[0], 0);
  EXPECT_EQ(log[1], -1);
  EXPECT_EQ(log[log.size() - 3], -1);
  EXPECT_EQ(log[log.size() - 2], 0);
  EXPECT_EQ(log[log.size() - 1], -1);
  for (size_t i = 2; i + 3 < log.size(); ++i) EXPECT_NE(log[i], 0) << "geometry written early";

  const Geometry& g = plan->geometry;
  Layout l(g);
  Block b;
  ASSERT_TRUE(dev.read(0, b).has_value());
  auto geo = decode_geometry(cspan(b));
  ASSERT_TRUE(geo.has_value());
  EXPECT_EQ(geo->nonce, g.nonce);
  EXPECT_EQ(geo->name, "t");
  // Generation 1 goes to block 2 (1 + 1 % 2); block 1 is zeroed.
  Block s1, s2;
  ASSERT_TRUE(dev.read(1, s1).has_value());
  ASSERT_TRUE(dev.read(2, s2).has_value());
  EXPECT_EQ(s1, Block{});
  auto sb = decode_super_block(cspan(s2), g.nonce);
  ASSERT_TRUE(sb.has_value());
  EXPECT_EQ(sb->generation, 1u);
  EXPECT_EQ(sb->state, VolumeState::kNew);
  EXPECT_EQ(sb->logical_blocks, 100000u);
  EXPECT_EQ(sb->journal_start, 1u);
  // Every root is an empty, valid level-3 page at its own PBN.
  for (uint32_t r = 0; r < kBlockMapRootCount; ++r) {
    ASSERT_TRUE(dev.read(l.root_pbn(r), b).has_value());
    ASSERT_TRUE(check_block_map_page(cspan(b), g.nonce, Pbn{l.root_pbn(r)}, 3).has_value()) << r;
    for (uint32_t s = 0; s < kEntriesPerPage; ++s)
      ASSERT_EQ(get_block_map_entry(cspan(b), s), kUnmappedMapping);
  }
  // Every reference-count block is valid, all counts 0, every stamp 0.
  for (uint64_t s = 0; s < l.slab_count(); ++s) {
    for (uint64_t k = 0; k < l.ref_blocks_per_slab(); ++k) {
      ASSERT_TRUE(dev.read(l.ref_block_pbn(s, k), b).has_value());
      auto img = decode_ref_block(cspan(b), g.nonce, l.ref_block_pbn(s, k));
      ASSERT_TRUE(img.has_value()) << s << "/" << k;
      EXPECT_EQ(img->counts, RefBlockImage{}.counts);
      EXPECT_EQ(img->stamps, RefBlockImage{}.stamps);
    }
  }
  // Nothing is written into the journal region or to data blocks.
  for (int64_t w : log) {
    if (w < 0) continue;
    auto p = static_cast<uint64_t>(w);
    EXPECT_FALSE(p >= l.journal_start() && p < l.journal_start() + l.journal_blocks()) << p;
    EXPECT_FALSE(l.is_data_block(Pbn{p})) << p;
  }
}

// The daemon writes the super block at every state change, to block 1 + generation % 2: mkfs
// writes generation 1 (block 2), a mount generation 2 (block 1, dirty), a clean shutdown
// generation 3 (block 2). The newest copy is the one read back.
TEST(Mkfs, SuperBlockCopiesAlternate) {
  io::RamDevice dev(8192);
  mkfs::FormatOptions fo;
  fo.physical_blocks = 8192;
  fo.logical_blocks = 100000;
  fo.slab_bits = 10;
  auto plan = mkfs::format_volume(dev, fo);
  ASSERT_TRUE(plan.has_value());
  const uint64_t nonce = plan->geometry.nonce;
  auto copies = [&] {
    Block b1, b2;
    EXPECT_TRUE(dev.read(1, b1).has_value());
    EXPECT_TRUE(dev.read(2, b2).has_value());
    return std::pair{decode_super_block(cspan(b1), nonce), decode_super_block(cspan(b2), nonce)};
  };
  engine::VolumeOptions vo;
  vo.threads.single_thread = true;
  vo.threads.cpu = 1;
  vo.max_in_flight = 16;
  vo.dedupe = false;
  auto v = engine::Volume::open(dev, vo);
  ASSERT_TRUE(v.has_value()) << v.error().message();
  auto [a, b] = copies();
  ASSERT_TRUE(a.has_value());
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(a->generation, 2u);
  EXPECT_EQ(a->state, VolumeState::kDirty);
  EXPECT_EQ(b->generation, 1u);
  EXPECT_EQ(b->state, VolumeState::kNew);
  ASSERT_TRUE((*v)->close().has_value());
  v->reset();
  auto [c, d] = copies();
  ASSERT_TRUE(c.has_value());
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(c->generation, 2u);
  EXPECT_EQ(d->generation, 3u);
  EXPECT_EQ(d->state, VolumeState::kClean);
  Block b1, b2;
  ASSERT_TRUE(dev.read(1, b1).has_value());
  ASSERT_TRUE(dev.read(2, b2).has_value());
  auto chosen = choose_super_block(cspan(b1), cspan(b2), nonce);
  ASSERT_TRUE(chosen.has_value());
  EXPECT_EQ(chosen->state, VolumeState::kClean);
}

TEST(Mkfs, DefaultLogicalSizeLeavesRoomForTheBlockMap) {
  mkfs::FormatOptions fo;
  fo.physical_blocks = 1 << 18;  // 1 GiB
  auto plan = mkfs::plan_format(fo);
  ASSERT_TRUE(plan.has_value());
  uint64_t d = plan->data_capacity_blocks;
  EXPECT_EQ(plan->logical_blocks, d - (d / kEntriesPerPage + 1) - 3);
  mkfs::FormatPlan partial;
  fo.physical_blocks = 100;
  EXPECT_EQ(mkfs::plan_format(fo, &partial).error(), make_error_code(errc::too_small));
  EXPECT_GT(partial.minimum_physical_blocks, 100u);
}

}  // namespace
}  // namespace vdofs::format

// ---------------------------------------------------------------------------------------------
// Size parsing (engine/base/size_parse.h)

namespace vdofs {
namespace {

TEST(SizeParse, Accepts) {
  EXPECT_EQ(parse_size("0"), 0u);
  EXPECT_EQ(parse_size("4096"), 4096u);
  EXPECT_EQ(parse_size("4K"), 4096u);
  EXPECT_EQ(parse_size("4k"), 4096u);
  EXPECT_EQ(parse_size("4KB"), 4096u);
  EXPECT_EQ(parse_size("4KiB"), 4096u);
  EXPECT_EQ(parse_size("4kib"), 4096u);
  EXPECT_EQ(parse_size("1M"), 1u << 20);
  EXPECT_EQ(parse_size("64G"), 64ull << 30);
  EXPECT_EQ(parse_size("1T"), 1ull << 40);
  EXPECT_EQ(parse_size("4P"), 4ull << 50);
  EXPECT_EQ(parse_size("15E"), 15ull << 60);
  EXPECT_EQ(parse_size("123B"), 123u);
  EXPECT_EQ(parse_size("123b"), 123u);
  EXPECT_EQ(parse_size("18446744073709551615"), UINT64_MAX);
}

TEST(SizeParse, Rejects) {
  for (const char* bad : {"", "K", "abc", "4X", "4KK", "4 K", " 4K", "-1", "+1", "1.5G", "4KiBB",
                          "4iB", "4BB", "18446744073709551616", "16E", "17179869184G"})
    EXPECT_FALSE(parse_size(bad).has_value()) << "'" << bad << "'";
}

TEST(SizeParse, Format) {
  EXPECT_EQ(format_size(0), "0 B");
  EXPECT_EQ(format_size(1023), "1023 B");
  EXPECT_EQ(format_size(1024), "1.0 KiB");
  EXPECT_EQ(format_size(1536), "1.5 KiB");
  EXPECT_EQ(format_size(64ull << 30), "64.0 GiB");
}

}  // namespace
}  // namespace vdofs
