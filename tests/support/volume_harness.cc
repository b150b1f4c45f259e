#include "tests/support/volume_harness.h"

#include <gtest/gtest.h>

#include <cstring>

namespace vdofs::test {

threads::ThreadCounts zone_counts(uint32_t l, uint32_t p, uint32_t h, bool single_thread) {
  threads::ThreadCounts c;
  c.logical = l;
  c.physical = p;
  c.hash = h;
  c.io = 2;
  c.index = 2;
  c.cpu = 2;
  c.single_thread = single_thread;
  return c;
}

std::error_code write(engine::Volume& v, uint64_t offset, const std::vector<std::byte>& data,
                      bool fua) {
  SyncRequest r;
  v.submit_write(&r, offset, data.data(), data.size(), fua);
  return r.wait();
}

std::error_code read(engine::Volume& v, uint64_t offset, std::vector<std::byte>& out) {
  SyncRequest r;
  v.submit_read(&r, offset, out.data(), out.size());
  return r.wait();
}

std::error_code discard(engine::Volume& v, uint64_t offset, uint64_t len) {
  SyncRequest r;
  v.submit_discard(&r, offset, len);
  return r.wait();
}

std::error_code flush(engine::Volume& v) {
  SyncRequest r;
  v.submit_flush(&r);
  return r.wait();
}

engine::VolumeStats settled_stats(engine::Volume& v) {
  EXPECT_FALSE(flush(v));
  v.quiesce();
  return v.stats();
}

std::vector<std::byte> pattern_block(uint64_t seed) {
  std::vector<std::byte> b(kBlockSize);
  if (seed == 0) return b;
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull);
  for (size_t i = 0; i < kBlockSize; i += 8) {
    uint64_t v = rng();
    memcpy(b.data() + i, &v, 8);
  }
  return b;
}

std::vector<std::byte> pattern(uint64_t seed, size_t blocks) {
  std::vector<std::byte> out;
  out.reserve(blocks * kBlockSize);
  for (size_t i = 0; i < blocks; ++i) {
    auto b = pattern_block(seed + i);
    out.insert(out.end(), b.begin(), b.end());
  }
  return out;
}

Harness::Harness(const HarnessOptions& options) : options_(options) {
  device_ = std::make_unique<io::RamDevice>(options_.physical_blocks);
  mkfs::FormatOptions fo;
  fo.physical_blocks = options_.physical_blocks;
  fo.logical_blocks = options_.logical_blocks;
  fo.slab_bits = options_.slab_bits;
  fo.journal_blocks = options_.journal_blocks;
  fo.name = "vol";
  auto plan = mkfs::format_volume(*device_, fo);
  EXPECT_TRUE(plan.has_value()) << plan.error().message();
  if (options_.faults) fault_ = std::make_unique<io::FaultDevice>(*device_);
  open();
}

Harness::~Harness() {
  if (volume_) close();
}

engine::VolumeOptions Harness::volume_options() const {
  engine::VolumeOptions vo;
  vo.threads = options_.threads;
  vo.max_in_flight = options_.max_in_flight;
  vo.block_map_cache_pages = options_.cache_pages;
  vo.dedupe = options_.dedupe;
  vo.dedupe_timeout_ms = options_.dedupe_timeout_ms;
  vo.index_decorator = options_.index_decorator;
  return vo;
}

void Harness::open() {
  auto v = engine::Volume::open(top(), volume_options());
  ASSERT_TRUE(v.has_value()) << v.error().message();
  volume_ = std::move(*v);
}

std::error_code Harness::try_open() {
  auto v = engine::Volume::open(top(), volume_options());
  if (!v) return v.error();
  volume_ = std::move(*v);
  return {};
}

void Harness::adopt(std::unique_ptr<io::RamDevice> survivor) {
  volume_.reset();
  fault_.reset();
  device_ = std::move(survivor);
  if (options_.faults) fault_ = std::make_unique<io::FaultDevice>(*device_);
}

void Harness::close() {
  auto r = volume_->close();
  EXPECT_TRUE(r.has_value() || volume_->is_read_only()) << r.error().message();
  volume_.reset();
}

engine::CheckReport check_device(io::BlockDevice& device) {
  auto r = engine::check_volume(device, engine::CheckOptions{});
  EXPECT_TRUE(r.has_value()) << r.error().message();
  return r ? *r : engine::CheckReport{};
}

std::string describe(const engine::CheckReport& r) {
  std::string s = "state " + r.state + ", mapped " + std::to_string(r.mapped_lbns) +
                  ", referenced blocks " + std::to_string(r.referenced_blocks) + ", tree pages " +
                  std::to_string(r.tree_pages) + ", problems " + std::to_string(r.problem_count());
  for (auto& p : r.problems) s += "\n  " + p;
  return s;
}

engine::CheckReport Harness::close_and_check() {
  close();
  engine::CheckReport r = check_device(*device_);
  EXPECT_EQ(r.problem_count(), 0u) << describe(r);
  open();
  return r;
}

void Harness::remount() {
  close();
  open();
}

void Harness::crash_and_remount(const io::CrashOptions& crash) {
  adopt(device_->crash(crash));  // threads stop; further I/O to the dead device fails harmlessly
  open();
}

}  // namespace vdofs::test
