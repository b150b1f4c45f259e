// Test helpers: a formatted RamDevice, synchronous wrappers around the asynchronous Volume API,
// and a reference model of what every LBN should hold.
#pragma once

#include <cstdint>
#include <future>
#include <map>
#include <memory>
#include <random>
#include <vector>

#include "engine/base/countdown.h"
#include "engine/io/fault_device.h"
#include "engine/io/ram_device.h"
#include "engine/volume.h"
#include "engine/volume_check.h"
#include "mkfs/formatter.h"

namespace vdofs::test {

class SyncRequest final : public engine::UserRequest {
 public:
  void complete(std::error_code ec) override { promise_.set_value(ec); }
  std::error_code wait() { return future_.get(); }

 private:
  std::promise<std::error_code> promise_;
  std::future<std::error_code> future_ = promise_.get_future();
};

std::error_code write(engine::Volume& v, uint64_t offset, const std::vector<std::byte>& data,
                      bool fua = false);
std::error_code read(engine::Volume& v, uint64_t offset, std::vector<std::byte>& out);
std::error_code discard(engine::Volume& v, uint64_t offset, uint64_t len);
std::error_code flush(engine::Volume& v);
// Flush, then wait until every zone has caught up (stats are exact afterwards).
engine::VolumeStats settled_stats(engine::Volume& v);

// A block whose bytes are all derived from `seed` (seed 0 = zeros).
std::vector<std::byte> pattern_block(uint64_t seed);
std::vector<std::byte> pattern(uint64_t seed, size_t blocks);

// Thread counts for tests: l logical, p physical, h hash zones, 2 bio/index/cpu threads.
threads::ThreadCounts zone_counts(uint32_t l, uint32_t p, uint32_t h, bool single_thread = false);

struct HarnessOptions {
  uint64_t physical_blocks = 16384;  // 64 MiB
  uint64_t logical_blocks = 65536;   // 256 MiB
  uint32_t slab_bits = 10;           // 4 MiB slabs
  uint32_t journal_blocks = 0;       // 0 = the mkfs default
  threads::ThreadCounts threads;
  uint32_t max_in_flight = 256;
  uint64_t cache_pages = 1024;
  bool dedupe = true;
  bool faults = false;  // open the volume through a FaultDevice (harness.faults())
  uint32_t dedupe_timeout_ms = 5000;
  std::function<std::unique_ptr<index::DedupeIndex>(std::unique_ptr<index::DedupeIndex>)>
      index_decorator;
};

// Owns a RamDevice and the Volume open on it.
class Harness {
 public:
  explicit Harness(const HarnessOptions& options);
  ~Harness();

  engine::Volume& volume() { return *volume_; }
  io::RamDevice& device() { return *device_; }
  io::FaultDevice& faults() { return *fault_; }
  // The device the volume runs on (the FaultDevice when there is one).
  io::BlockDevice& top() { return fault_ ? static_cast<io::BlockDevice&>(*fault_) : *device_; }
  const HarnessOptions& options() const { return options_; }

  // Clean shutdown and reopen.
  void remount();
  // Simulated power loss, then reopen (replays the journal).
  void crash_and_remount(const io::CrashOptions& crash);
  // Replaces the device by what a crash left (the volume on the old one is torn down first).
  void adopt(std::unique_ptr<io::RamDevice> survivor);
  // Reopens; returns the error instead of failing the test.
  std::error_code try_open();
  void close();
  // Closes cleanly, runs the offline check, reopens. The report must show no problems.
  engine::CheckReport close_and_check();
  engine::VolumeOptions volume_options() const;
  void open();

 private:
  HarnessOptions options_;
  std::unique_ptr<io::RamDevice> device_;
  std::unique_ptr<io::FaultDevice> fault_;
  std::unique_ptr<engine::Volume> volume_;
};

// Counts down when each asynchronous request completes; wait() blocks until all have.
class Latch {
 public:
  explicit Latch(uint32_t n) : count_(n) {}
  void done() { count_.count_down(); }
  void wait() { count_.wait(); }

 private:
  Countdown count_;
};

class AsyncRequest final : public engine::UserRequest {
 public:
  explicit AsyncRequest(Latch* latch) : latch_(latch) {}
  void complete(std::error_code ec) override {
    result = ec;
    latch_->done();
  }
  std::error_code result;

 private:
  Latch* latch_;
};

// Runs the offline consistency check on a harness's device (the volume must be closed).
engine::CheckReport check_device(io::BlockDevice& device);
std::string describe(const engine::CheckReport& r);

}  // namespace vdofs::test
