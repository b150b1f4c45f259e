// Strong block-address types and the volume-wide constants of the format.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>

namespace vdofs {

inline constexpr uint32_t kBlockSize = 4096;
inline constexpr uint32_t kSectorSize = 512;
inline constexpr uint32_t kSectorsPerBlock = kBlockSize / kSectorSize;

// Logical block number: a 4 KiB block of a volume file.
enum class Lbn : uint64_t {};
// Physical block number: a 4 KiB block of the backing store.
enum class Pbn : uint64_t {};
// Recovery-journal sequence number (one per journal block).
enum class SequenceNumber : uint64_t {};

constexpr uint64_t raw(Lbn v) { return static_cast<uint64_t>(v); }
constexpr uint64_t raw(Pbn v) { return static_cast<uint64_t>(v); }
constexpr uint64_t raw(SequenceNumber v) { return static_cast<uint64_t>(v); }

// PBN 0 is the geometry block; as a mapping target it means "the zero block".
inline constexpr Pbn kZeroPbn = Pbn{0};

inline constexpr uint64_t kMaxLogicalBlocks = uint64_t{1} << 40;   // 4 PiB
inline constexpr uint64_t kMaxPhysicalBlocks = uint64_t{1} << 36;  // 256 TiB
inline constexpr uint8_t kMaxReferences = 254;                     // VDO's cap per block

// How a logical block is mapped (4 bits in a block map entry).
enum class MappingState : uint8_t {
  kUnmapped = 0,
  kMapped = 1,  // uncompressed; PBN 0 with kMapped is the zero block
  // 2..15 are reserved for compressed fragments (slot = state - 2).
};

// One block-map entry as held in memory.
struct Mapping {
  Pbn pbn = kZeroPbn;
  MappingState state = MappingState::kUnmapped;

  bool is_mapped() const { return state != MappingState::kUnmapped; }
  bool is_zero() const { return state == MappingState::kMapped && pbn == kZeroPbn; }
  // True when the mapping holds a reference on a physical data block.
  bool references_block() const { return is_mapped() && pbn != kZeroPbn; }
  friend bool operator==(const Mapping&, const Mapping&) = default;
};

inline constexpr Mapping kUnmappedMapping{};
inline constexpr Mapping kZeroMapping{kZeroPbn, MappingState::kMapped};

}  // namespace vdofs

template <>
struct std::hash<vdofs::Lbn> {
  size_t operator()(vdofs::Lbn v) const noexcept { return std::hash<uint64_t>()(vdofs::raw(v)); }
};
template <>
struct std::hash<vdofs::Pbn> {
  size_t operator()(vdofs::Pbn v) const noexcept { return std::hash<uint64_t>()(vdofs::raw(v)); }
};
