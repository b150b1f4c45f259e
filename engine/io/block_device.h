// io::BlockDevice is the only way vdofs touches storage: the engine, the index, mkfs and
// vdofs-check all take one. Calls are synchronous and thread-safe; the engine gets asynchrony by
// calling them from its bio threads (bioQ*) and posting completions back as messages.
//
// Durability contract (a disk with a volatile write cache): a completed write may be lost or torn
// (at 512-byte sector granularity) by a crash until a later flush() completes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "engine/base/result.h"
#include "engine/base/types.h"

namespace vdofs::io {

class BlockDevice {
 public:
  virtual ~BlockDevice() = default;

  // Size in 4 KiB blocks.
  virtual uint64_t block_count() const = 0;
  // Reads out.size() bytes (a multiple of kBlockSize) starting at block `block`.
  virtual Result<void> read(uint64_t block, std::span<std::byte> out) = 0;
  // Writes data.size() bytes (a multiple of kBlockSize) starting at block `block`.
  virtual Result<void> write(uint64_t block, std::span<const std::byte> data) = 0;
  // Writes consecutive blocks from several buffers (each a multiple of kBlockSize) in one call.
  virtual Result<void> writev(uint64_t block, std::span<const std::span<const std::byte>> buffers) {
    for (auto b : buffers) {
      VDOFS_TRY(write(block, b));
      block += b.size() / kBlockSize;
    }
    return ok();
  }
  // Reads consecutive blocks into several buffers in one call.
  virtual Result<void> readv(uint64_t block, std::span<const std::span<std::byte>> buffers) {
    for (auto b : buffers) {
      VDOFS_TRY(read(block, b));
      block += b.size() / kBlockSize;
    }
    return ok();
  }
  // Hints that these blocks will be read soon (starts reading them asynchronously). Optional.
  virtual void will_read(uint64_t block, uint64_t blocks) {
    (void)block;
    (void)blocks;
  }
  // Makes every write completed before the call durable.
  virtual Result<void> flush() = 0;
  // A human-readable name for messages (the path for files).
  virtual std::string name() const = 0;
};

// Checks that [block, block + bytes/kBlockSize) lies inside the device and bytes is block-sized.
inline Result<void> check_extent(const BlockDevice& dev, uint64_t block, size_t bytes) {
  if (bytes % kBlockSize != 0) return errc::invalid_argument;
  uint64_t n = bytes / kBlockSize;
  if (block > dev.block_count() || n > dev.block_count() - block) return errc::out_of_range;
  return ok();
}

}  // namespace vdofs::io
