#include "engine/io/ram_device.h"

#include <algorithm>
#include <cstring>

namespace vdofs::io {

RamDevice::RamDevice(uint64_t blocks, std::string name) : blocks_(blocks), name_(std::move(name)) {}

const RamDevice::Block* RamDevice::find(const std::unordered_map<uint64_t, Block>& map,
                                        uint64_t b) const {
  auto it = map.find(b);
  return it == map.end() ? nullptr : &it->second;
}

Result<void> RamDevice::read(uint64_t block, std::span<std::byte> out) {
  VDOFS_TRY(check_extent(*this, block, out.size()));
  std::lock_guard lock(mu_);
  if (dead_) return errc::io_error;
  for (size_t i = 0; i < out.size() / kBlockSize; ++i) {
    const Block* b = find(volatile_, block + i);
    if (!b) b = find(durable_, block + i);
    auto dst = out.subspan(i * kBlockSize, kBlockSize);
    if (b)
      memcpy(dst.data(), b->data(), kBlockSize);
    else
      std::fill(dst.begin(), dst.end(), std::byte{0});
  }
  return ok();
}

Result<void> RamDevice::write(uint64_t block, std::span<const std::byte> data) {
  VDOFS_TRY(check_extent(*this, block, data.size()));
  std::lock_guard lock(mu_);
  if (dead_) return errc::io_error;
  for (size_t i = 0; i < data.size() / kBlockSize; ++i) {
    Block b(data.begin() + static_cast<ptrdiff_t>(i * kBlockSize),
            data.begin() + static_cast<ptrdiff_t>((i + 1) * kBlockSize));
    volatile_[block + i] = b;
    pending_.push_back({block + i, std::move(b)});
  }
  ++writes_;
  return ok();
}

Result<void> RamDevice::flush() {
  std::lock_guard lock(mu_);
  if (dead_) return errc::io_error;
  for (auto& [b, data] : volatile_) durable_[b] = std::move(data);
  volatile_.clear();
  pending_.clear();
  ++flushes_;
  return ok();
}

std::unique_ptr<RamDevice> RamDevice::crash(const CrashOptions& options) {
  std::lock_guard lock(mu_);
  auto out = std::make_unique<RamDevice>(blocks_, name_);
  out->durable_ = durable_;
  std::mt19937_64 rng(options.seed);
  std::uniform_real_distribution<double> coin(0.0, 1.0);
  size_t torn = pending_.size();
  if (options.tear_one && !pending_.empty()) torn = rng() % pending_.size();
  for (size_t i = 0; i < pending_.size(); ++i) {
    const PendingWrite& w = pending_[i];
    if (i == torn) {
      Block base = out->durable_.count(w.block) ? out->durable_[w.block] : Block(kBlockSize);
      for (uint32_t s = 0; s < kSectorsPerBlock; ++s) {
        if (rng() & 1)
          memcpy(base.data() + s * kSectorSize, w.data.data() + s * kSectorSize, kSectorSize);
      }
      out->durable_[w.block] = std::move(base);
    } else if (options.keep_unflushed > 0 && coin(rng) < options.keep_unflushed) {
      out->durable_[w.block] = w.data;
    }
  }
  dead_ = true;
  volatile_.clear();
  pending_.clear();
  durable_.clear();
  return out;
}

std::unique_ptr<RamDevice> RamDevice::clone() const {
  std::lock_guard lock(mu_);
  auto out = std::make_unique<RamDevice>(blocks_, name_);
  out->durable_ = durable_;
  for (auto& [b, data] : volatile_) out->durable_[b] = data;
  return out;
}

uint64_t RamDevice::writes() const {
  std::lock_guard lock(mu_);
  return writes_;
}
uint64_t RamDevice::flushes() const {
  std::lock_guard lock(mu_);
  return flushes_;
}
uint64_t RamDevice::unflushed_writes() const {
  std::lock_guard lock(mu_);
  return pending_.size();
}

}  // namespace vdofs::io
