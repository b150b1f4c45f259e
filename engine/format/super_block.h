// The super block: the volume's mutable state. Two copies (blocks 1 and 2) are written
// alternately with a rising generation, so a torn super-block write always leaves the previous
// one readable. Byte layout: docs/on-disk-format.md §Super block.
#pragma once

#include <cstdint>
#include <span>

#include "engine/base/result.h"
#include "engine/base/types.h"

namespace vdofs::format {

enum class VolumeState : uint8_t {
  kNew = 0,           // formatted, never mounted
  kClean = 1,         // shut down cleanly: metadata complete, journal empty
  kDirty = 2,         // mounted (or crashed while mounted): replay the journal at next mount
  kReadOnly = 3,      // an unrecoverable error was seen; stays read-only until vdofs-check --repair
  kForceRebuild = 4,  // vdofs-check asked for reference counts to be rebuilt at next mount
};

const char* state_name(VolumeState s);

struct SuperBlock {
  uint64_t nonce = 0;
  uint64_t generation = 0;  // higher wins; the copy written is 1 + (generation % 2)
  VolumeState state = VolumeState::kNew;
  uint64_t logical_blocks = 0;
  uint64_t journal_start = 1;        // first journal sequence number that may need replay
  uint64_t logical_blocks_used = 0;  // exact when state is clean/new
  uint64_t complete_recoveries = 0;
  uint64_t read_only_recoveries = 0;
  uint64_t index_save_slot = 0;  // which index save slot holds the last clean save (0 = none)
  uint64_t index_save_generation = 0;
  // Advice proofs (block generations) are valid only within one mount; each writable mount takes
  // a fresh range of kEpochsPerMount epochs from here.
  uint64_t mount_epoch = 0;
};

inline constexpr uint64_t kEpochsPerMount = 1024;

inline constexpr uint64_t kSuperBlockCopies = 2;
inline constexpr uint32_t kFormatVersionSuper = 1;

void encode_super_block(const SuperBlock& sb, std::span<std::byte, kBlockSize> out);
Result<SuperBlock> decode_super_block(std::span<const std::byte, kBlockSize> in,
                                      uint64_t expected_nonce);
// Picks the valid copy with the highest generation; fails if neither copy is valid.
Result<SuperBlock> choose_super_block(std::span<const std::byte, kBlockSize> a,
                                      std::span<const std::byte, kBlockSize> b, uint64_t nonce);

}  // namespace vdofs::format
