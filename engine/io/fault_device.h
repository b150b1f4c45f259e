// Wraps a BlockDevice and fails chosen operations: the Nth read, write or flush (counting from 1),
// or every write/read touching a block range, with EIO. Used by the fault-injection tests.
#pragma once

#include <atomic>
#include <functional>

#include "engine/io/block_device.h"

namespace vdofs::io {

enum class IoOp { kRead, kWrite, kFlush };

class FaultDevice final : public BlockDevice {
 public:
  explicit FaultDevice(BlockDevice& inner) : inner_(inner) {}

  // Fails the nth (1-based) operation of kind `op` from now on, then works again (0 = never).
  void fail_nth(IoOp op, uint64_t nth);
  // Fails every operation for which `pred(op, block, blocks)` is true (empty = none).
  void fail_if(std::function<bool(IoOp, uint64_t, uint64_t)> pred);
  uint64_t count(IoOp op) const { return counts_[static_cast<int>(op)].load(); }
  uint64_t injected() const { return injected_.load(); }

  uint64_t block_count() const override { return inner_.block_count(); }
  Result<void> read(uint64_t block, std::span<std::byte> out) override;
  Result<void> write(uint64_t block, std::span<const std::byte> data) override;
  Result<void> flush() override;
  std::string name() const override { return inner_.name(); }

 private:
  bool should_fail(IoOp op, uint64_t block, uint64_t blocks);
  BlockDevice& inner_;
  std::atomic<uint64_t> counts_[3]{};
  std::atomic<uint64_t> fail_at_[3]{};
  std::atomic<uint64_t> injected_{0};
  std::function<bool(IoOp, uint64_t, uint64_t)> pred_;  // set before use; not changed concurrently
};

}  // namespace vdofs::io
