// Geometry: the sizes and the on-disk layout of an index region, derived only from the configured
// memory size and mode (dense/sparse), plus the 64-byte header every index block carries.
//
// Threads: pure functions and immutable values; any thread.
//
// The index is split into P independent partitions (1..16, by the top bits of the name), each a
// complete UDS-style sub-index with its own chapters on disk, volume index, open chapter and
// checkpoint frames. A zone thread owns whole partitions, so the zone count may change between
// mounts without touching the format.
//
// Region layout (4 KiB blocks, relative to the region start):
//   0                 superblock  (magic, version, memory, mode, derived geometry)
//   1                 state block (empty | dirty | clean + which save slot is current)
//   chapters_start    P x C chapter slots; slot (p, v mod C) holds virtual chapter v of partition
//                     p: record_pages record pages (126 records of 32 B in arrival order), then
//                     index_pages chapter-index pages (sorted {name bytes 8-11, record page})
//   frames_start      P x F checkpoint frames of record_pages blocks x 2 copies (ping-pong): the
//                     synced part of each not-yet-durable chapter (the open one, mostly)
//   slots_start       2 save slots of save_slot_blocks each (header block + per-partition
//                     streams of the volume index, chapter page maps and the open chapter)
//
// Every block starts with the PageHeader below: CRC32C of the block, kind, partition, count,
// the volume nonce, the virtual chapter (or save sequence), the page index and a sequence number.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "engine/base/types.h"

namespace vdofs::index {

inline constexpr uint32_t kPageHeaderSize = 64;
inline constexpr uint32_t kRecordSize = 32;  // name 16 + pbn 8 + generation 4 + epoch 4
inline constexpr uint32_t kRecordsPerPage = (kBlockSize - kPageHeaderSize) / kRecordSize;  // 126
inline constexpr uint32_t kIndexEntrySize = 6;  // key u32 + record page u16
inline constexpr uint32_t kEntriesPerIndexPage =
    (kBlockSize - kPageHeaderSize) / kIndexEntrySize;  // 672
inline constexpr uint32_t kPayloadPerBlock = kBlockSize - kPageHeaderSize;
inline constexpr uint32_t kFingerprintBits = 18;
inline constexpr uint32_t kSlotsPerBucket = 8;
inline constexpr uint32_t kCheckpointFrames = 2;
inline constexpr uint32_t kHookModulus = 32;  // sparse: a name is a hook if be16(14..15) % 32 == 0
inline constexpr uint32_t kSparseCacheChapters = 8;  // chapter indexes cached per partition
inline constexpr uint32_t kMaxPartitions = 16;
inline constexpr uint32_t kFormatVersion = 1;
inline constexpr uint64_t kMinGeometryMemory = 256 << 10;

enum class PageKind : uint8_t {
  kSuper = 1,
  kState = 2,
  kRecords = 3,
  kIndex = 4,
  kCheckpoint = 5,
  kSaveHeader = 6,
  kSaveData = 7,
};

struct Geometry {
  uint64_t memory_bytes = 0;
  bool sparse = false;
  uint32_t partitions = 1;
  uint32_t record_pages = 0;         // per chapter
  uint32_t index_pages = 0;          // per chapter
  uint32_t records_per_chapter = 0;  // record_pages * 126
  uint64_t chapters = 0;             // per partition: chapter slots on disk (the window)
  uint64_t dense_chapters = 0;       // newest chapters whose every name stays in the volume index
  uint32_t chapter_bits = 0;         // chapter field of a volume-index slot (virtual mod 2^bits)
  uint32_t slot_bits = 0;            // fingerprint + [hook] + chapter
  uint64_t buckets = 0;              // volume-index buckets per partition
  uint64_t vi_capacity = 0;          // live volume-index entries planned per partition
  uint64_t table_bytes = 0;          // bit-packed slot array per partition
  uint64_t count_bytes = 0;          // per-chapter entry counters per partition
  uint64_t partition_save_bytes = 0;
  uint64_t partition_save_blocks = 0;
  uint64_t save_slot_blocks = 0;
  uint64_t chapters_start = 0, frames_start = 0, slots_start = 0, total_blocks = 0;

  uint64_t chapter_blocks() const { return record_pages + index_pages; }
  uint64_t chapter_block(uint32_t p, uint64_t v) const {
    return chapters_start + (p * chapters + v % chapters) * chapter_blocks();
  }
  uint64_t frame_block(uint32_t p, uint32_t frame, uint32_t k, uint32_t copy) const {
    return frames_start + ((uint64_t{p} * kCheckpointFrames + frame) * record_pages + k) * 2 + copy;
  }
  uint64_t partition_frames_start(uint32_t p) const {
    return frames_start + uint64_t{p} * kCheckpointFrames * record_pages * 2;
  }
  uint64_t slot_start(uint32_t slot) const { return slots_start + slot * save_slot_blocks; }
  uint64_t window_records() const { return uint64_t{partitions} * chapters * records_per_chapter; }
  uint64_t chapter_mask() const { return (uint64_t{1} << chapter_bits) - 1; }
};

// Deterministic: the same (memory, sparse) always gives the same geometry.
Geometry compute_geometry(uint64_t memory_bytes, bool sparse);

struct PageHeader {
  PageKind kind = PageKind::kSuper;
  uint8_t partition = 0;
  uint16_t count = 0;
  uint64_t nonce = 0;
  uint64_t chapter = 0;  // virtual chapter, or the save sequence for save blocks
  uint32_t page = 0;     // page index in its chapter / frame / save stream
  uint64_t seq = 0;      // checkpoint write sequence
};

// Fills the header and the CRC of a whole block (the payload must already be in place).
void seal_page(std::span<std::byte> block, const PageHeader& h);
// Decodes a block's header if its CRC is right and it carries `nonce`.
bool open_page(std::span<const std::byte> block, uint64_t nonce, PageHeader* out);
// open_page plus the expected kind, partition, chapter and page index.
bool check_page(std::span<const std::byte> block, uint64_t nonce, PageKind kind, uint32_t partition,
                uint64_t chapter, uint32_t page);

}  // namespace vdofs::index
