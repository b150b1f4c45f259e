// Recovery-journal blocks. Sector 0 is the block header {crc, tag, 0, reserved, seq, nonce, head,
// logical_blocks_used at block start, entry count}; sectors 1-7 each hold {crc, tag, sector,
// count u8, reserved, seq} and up to 31 16-byte entries: 217 entries per block.
// Every sector has its own CRC32C (seeded by the nonce and the journal block's location) and
// carries the block's sequence number, so a torn or stale sector is recognised on its own.
// Entries are only ever appended to a block, so rewriting a partly filled block leaves the
// sectors that were already committed byte-for-byte unchanged.
//
// Entry: op u8 | key u40 | new mapping u40 | old mapping u40.
//   op 1 DATA_REMAP: key = LBN
//   op 2 TREE_PAGE:  key = (level << 38) | page index at that level; new = the page's PBN
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "engine/base/result.h"
#include "engine/base/types.h"

namespace vdofs::format {

inline constexpr uint32_t kJournalEntriesPerSector = 31;
inline constexpr uint32_t kJournalEntrySectors = 7;
inline constexpr uint32_t kJournalEntriesPerBlock = kJournalEntriesPerSector * kJournalEntrySectors;
inline constexpr uint8_t kJournalTag = 0x5A;

enum class JournalOp : uint8_t { kDataRemap = 1, kTreePage = 2 };

struct JournalEntry {
  JournalOp op = JournalOp::kDataRemap;
  uint64_t key = 0;
  Mapping new_mapping;
  Mapping old_mapping;
  friend bool operator==(const JournalEntry&, const JournalEntry&) = default;
};

struct JournalBlockHeader {
  uint64_t sequence = 0;
  uint64_t nonce = 0;
  uint64_t head = 0;                 // oldest sequence number still needed for replay
  uint64_t logical_blocks_used = 0;  // before this block's entries
  uint32_t entry_count = 0;
};

struct JournalBlock {
  JournalBlockHeader header;
  std::vector<JournalEntry> entries;
  bool full() const { return entries.size() == kJournalEntriesPerBlock; }
};

// `location` is the block's offset in the journal region (sequence mod journal size).
void encode_journal_block(const JournalBlockHeader& h, std::span<const JournalEntry> entries,
                          uint64_t location, std::span<std::byte, kBlockSize> out);
// Decodes the header (fails if sector 0 is invalid) and the longest valid prefix of entries:
// it stops at the first sector that is invalid, from another sequence, or not full.
Result<JournalBlock> decode_journal_block(std::span<const std::byte, kBlockSize> in, uint64_t nonce,
                                          uint64_t location);

inline uint64_t tree_page_key(uint32_t level, uint64_t index) {
  return (uint64_t{level} << 38) | index;
}
inline uint32_t tree_page_level(uint64_t key) { return static_cast<uint32_t>(key >> 38); }
inline uint64_t tree_page_index(uint64_t key) { return key & ((uint64_t{1} << 38) - 1); }

}  // namespace vdofs::format
