// An in-memory BlockDevice for tests that models a volatile write cache: writes land in a
// volatile image and become durable at flush(). crash() returns what a power failure would leave:
// the durable image plus, optionally, a random subset of the unflushed writes, one of them torn at
// 512-byte granularity. The crashed device itself stops working (every call fails with EIO), so an
// engine still running on it can be torn down without touching the survivor.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <unordered_map>
#include <vector>

#include "engine/io/block_device.h"

namespace vdofs::io {

struct CrashOptions {
  double keep_unflushed = 0.0;  // probability that each unflushed write survives
  bool tear_one = false;        // tear one surviving-or-not unflushed write at sector granularity
  uint64_t seed = 1;
};

class RamDevice final : public BlockDevice {
 public:
  explicit RamDevice(uint64_t blocks, std::string name = "ram");
  uint64_t block_count() const override { return blocks_; }
  Result<void> read(uint64_t block, std::span<std::byte> out) override;
  Result<void> write(uint64_t block, std::span<const std::byte> data) override;
  Result<void> flush() override;
  std::string name() const override { return name_; }

  // Simulates power loss. Returns the device as it would come back; this one goes dead.
  std::unique_ptr<RamDevice> crash(const CrashOptions& options);
  // A copy of the current volatile image (what a clean shutdown would have left).
  std::unique_ptr<RamDevice> clone() const;

  uint64_t writes() const;
  uint64_t flushes() const;
  uint64_t unflushed_writes() const;

 private:
  using Block = std::vector<std::byte>;
  struct PendingWrite {
    uint64_t block;
    Block data;
  };
  const Block* find(const std::unordered_map<uint64_t, Block>& map, uint64_t b) const;

  uint64_t blocks_;
  std::string name_;
  mutable std::mutex mu_;  // a test device: a plain lock is fine here
  bool dead_ = false;
  std::unordered_map<uint64_t, Block> durable_;
  std::unordered_map<uint64_t, Block> volatile_;
  std::vector<PendingWrite> pending_;  // unflushed writes, in completion order
  uint64_t writes_ = 0;
  uint64_t flushes_ = 0;
};

}  // namespace vdofs::io
