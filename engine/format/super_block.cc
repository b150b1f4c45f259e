#include "engine/format/super_block.h"

#include <cstring>

#include "engine/base/crc32c.h"
#include "engine/format/encoding.h"

namespace vdofs::format {

namespace {
constexpr char kMagic[8] = {'V', 'D', 'O', 'F', 'S', 'S', 'U', 'P'};
constexpr size_t kCrcOffset = kBlockSize - 4;
}  // namespace

const char* state_name(VolumeState s) {
  switch (s) {
    case VolumeState::kNew:
      return "new";
    case VolumeState::kClean:
      return "clean";
    case VolumeState::kDirty:
      return "dirty";
    case VolumeState::kReadOnly:
      return "read-only";
    case VolumeState::kForceRebuild:
      return "force-rebuild";
  }
  return "unknown";
}

void encode_super_block(const SuperBlock& sb, std::span<std::byte, kBlockSize> out) {
  std::byte* p = out.data();
  memset(p, 0, kBlockSize);
  memcpy(p, kMagic, 8);
  put_u32(p + 8, kFormatVersionSuper);
  put_u64(p + 16, sb.nonce);
  put_u64(p + 24, sb.generation);
  put_u8(p + 32, static_cast<uint8_t>(sb.state));
  put_u64(p + 40, sb.logical_blocks);
  put_u64(p + 48, sb.journal_start);
  put_u64(p + 56, sb.logical_blocks_used);
  put_u64(p + 64, sb.complete_recoveries);
  put_u64(p + 72, sb.read_only_recoveries);
  put_u64(p + 80, sb.index_save_slot);
  put_u64(p + 88, sb.index_save_generation);
  put_u64(p + 96, sb.mount_epoch);
  put_u32(p + kCrcOffset, crc32c(p, kCrcOffset));
}

Result<SuperBlock> decode_super_block(std::span<const std::byte, kBlockSize> in,
                                      uint64_t expected_nonce) {
  const std::byte* p = in.data();
  if (memcmp(p, kMagic, 8) != 0) return errc::bad_magic;
  if (get_u32(p + kCrcOffset) != crc32c(p, kCrcOffset)) return errc::checksum_mismatch;
  if (get_u32(p + 8) != kFormatVersionSuper) return errc::bad_version;
  SuperBlock sb;
  sb.nonce = get_u64(p + 16);
  if (sb.nonce != expected_nonce) return errc::bad_nonce;
  sb.generation = get_u64(p + 24);
  uint8_t st = get_u8(p + 32);
  if (st > static_cast<uint8_t>(VolumeState::kForceRebuild)) return errc::corrupt_metadata;
  sb.state = static_cast<VolumeState>(st);
  sb.logical_blocks = get_u64(p + 40);
  sb.journal_start = get_u64(p + 48);
  sb.logical_blocks_used = get_u64(p + 56);
  sb.complete_recoveries = get_u64(p + 64);
  sb.read_only_recoveries = get_u64(p + 72);
  sb.index_save_slot = get_u64(p + 80);
  sb.index_save_generation = get_u64(p + 88);
  sb.mount_epoch = get_u64(p + 96);
  if (sb.logical_blocks == 0 || sb.logical_blocks > kMaxLogicalBlocks)
    return errc::corrupt_metadata;
  return sb;
}

Result<SuperBlock> choose_super_block(std::span<const std::byte, kBlockSize> a,
                                      std::span<const std::byte, kBlockSize> b, uint64_t nonce) {
  auto sa = decode_super_block(a, nonce);
  auto sb = decode_super_block(b, nonce);
  if (sa && sb) return sa->generation >= sb->generation ? sa : sb;
  if (sa) return sa;
  if (sb) return sb;
  return sa.error();
}

}  // namespace vdofs::format
