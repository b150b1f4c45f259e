#include "engine/io/fault_device.h"

#include <cerrno>

namespace vdofs::io {

void FaultDevice::fail_nth(IoOp op, uint64_t nth) {
  int i = static_cast<int>(op);
  fail_at_[i].store(nth ? counts_[i].load() + nth : 0);
}

void FaultDevice::fail_if(std::function<bool(IoOp, uint64_t, uint64_t)> pred) {
  pred_ = std::move(pred);
}

bool FaultDevice::should_fail(IoOp op, uint64_t block, uint64_t blocks) {
  int i = static_cast<int>(op);
  uint64_t n = counts_[i].fetch_add(1) + 1;
  bool fail = fail_at_[i].load() == n || (pred_ && pred_(op, block, blocks));
  if (fail) injected_.fetch_add(1);
  return fail;
}

Result<void> FaultDevice::read(uint64_t block, std::span<std::byte> out) {
  if (should_fail(IoOp::kRead, block, out.size() / kBlockSize)) return errno_code(EIO);
  return inner_.read(block, out);
}

Result<void> FaultDevice::write(uint64_t block, std::span<const std::byte> data) {
  if (should_fail(IoOp::kWrite, block, data.size() / kBlockSize)) return errno_code(EIO);
  return inner_.write(block, data);
}

Result<void> FaultDevice::flush() {
  if (should_fail(IoOp::kFlush, 0, 0)) return errno_code(EIO);
  return inner_.flush();
}

}  // namespace vdofs::io
