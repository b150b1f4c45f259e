#include "engine/format/journal_block.h"

#include <cstring>

#include "engine/base/crc32c.h"
#include "engine/format/block_map_page.h"
#include "engine/format/encoding.h"

namespace vdofs::format {

namespace {
constexpr size_t kEntrySize = 16;
constexpr size_t kSectorHeader = 16;

void encode_entry(const JournalEntry& e, std::byte* p) {
  put_u8(p, static_cast<uint8_t>(e.op));
  put_u40(p + 1, e.key);
  put_u40(p + 6, encode_mapping(e.new_mapping));
  put_u40(p + 11, encode_mapping(e.old_mapping));
}

JournalEntry decode_entry(const std::byte* p) {
  JournalEntry e;
  e.op = static_cast<JournalOp>(get_u8(p));
  e.key = get_u40(p + 1);
  e.new_mapping = decode_mapping(get_u40(p + 6));
  e.old_mapping = decode_mapping(get_u40(p + 11));
  return e;
}
}  // namespace

void encode_journal_block(const JournalBlockHeader& h, std::span<const JournalEntry> entries,
                          uint64_t location, std::span<std::byte, kBlockSize> out) {
  memset(out.data(), 0, kBlockSize);
  uint32_t seed = metadata_seed(h.nonce, location);
  std::byte* s0 = out.data();
  put_u8(s0 + 4, kJournalTag);
  put_u8(s0 + 5, 0);
  put_u64(s0 + 8, h.sequence);
  put_u64(s0 + 16, h.nonce);
  put_u64(s0 + 24, h.head);
  put_u64(s0 + 32, h.logical_blocks_used);
  put_u32(s0 + 40, static_cast<uint32_t>(entries.size()));
  put_u32(s0, crc32c(seed, s0 + 4, kSectorSize - 4));
  size_t next = 0;
  for (uint32_t s = 1; s < kSectorsPerBlock; ++s) {
    std::byte* sec = out.data() + s * kSectorSize;
    size_t n = std::min<size_t>(kJournalEntriesPerSector, entries.size() - next);
    put_u8(sec + 4, kJournalTag);
    put_u8(sec + 5, static_cast<uint8_t>(s));
    put_u8(sec + 6, static_cast<uint8_t>(n));
    put_u64(sec + 8, h.sequence);
    for (size_t i = 0; i < n; ++i)
      encode_entry(entries[next + i], sec + kSectorHeader + i * kEntrySize);
    next += n;
    put_u32(sec, crc32c(seed, sec + 4, kSectorSize - 4));
  }
}

Result<JournalBlock> decode_journal_block(std::span<const std::byte, kBlockSize> in, uint64_t nonce,
                                          uint64_t location) {
  uint32_t seed = metadata_seed(nonce, location);
  const std::byte* s0 = in.data();
  if (get_u32(s0) != crc32c(seed, s0 + 4, kSectorSize - 4)) return errc::checksum_mismatch;
  if (get_u8(s0 + 4) != kJournalTag || get_u8(s0 + 5) != 0) return errc::corrupt_journal;
  JournalBlock b;
  b.header.sequence = get_u64(s0 + 8);
  b.header.nonce = get_u64(s0 + 16);
  if (b.header.nonce != nonce) return errc::bad_nonce;
  b.header.head = get_u64(s0 + 24);
  b.header.logical_blocks_used = get_u64(s0 + 32);
  b.header.entry_count = get_u32(s0 + 40);
  for (uint32_t s = 1; s < kSectorsPerBlock; ++s) {
    const std::byte* sec = in.data() + s * kSectorSize;
    if (get_u32(sec) != crc32c(seed, sec + 4, kSectorSize - 4)) break;
    if (get_u8(sec + 4) != kJournalTag || get_u8(sec + 5) != s) break;
    if (get_u64(sec + 8) != b.header.sequence) break;
    uint8_t n = get_u8(sec + 6);
    if (n > kJournalEntriesPerSector) break;
    for (uint8_t i = 0; i < n; ++i) {
      JournalEntry e = decode_entry(sec + kSectorHeader + i * kEntrySize);
      if (e.op != JournalOp::kDataRemap && e.op != JournalOp::kTreePage)
        return errc::corrupt_journal;
      b.entries.push_back(e);
    }
    if (n < kJournalEntriesPerSector) break;
  }
  if (b.entries.size() > b.header.entry_count) b.entries.resize(b.header.entry_count);
  return b;
}

}  // namespace vdofs::format
