// Helpers for the index unit tests: deterministic record names, a synchronous batch client over
// the asynchronous DedupeIndex API, a blocking sync(), and a device whose reads can be held
// (to observe the loading/rebuilding states).
//
// Threads: the test thread submits and waits; callbacks run on index threads and only touch the
// batch's mutex-protected counter.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <future>
#include <memory>
#include <mutex>
#include <vector>

#include "engine/io/ram_device.h"
#include "index/index.h"

namespace vdofs::index::test {

inline uint64_t mix(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// A random-looking 16-byte name for `i` (distinct i, distinct names).
inline RecordName name_of(uint64_t i, uint64_t salt = 0) {
  RecordName n;
  uint64_t a = mix(i ^ (salt * 0x632BE59BD9B4E019ull)), b = mix(a ^ i);
  memcpy(n.bytes.data(), &a, 8);
  memcpy(n.bytes.data() + 8, &b, 8);
  return n;
}

// Submits requests in batches and waits for every callback.
class Client {
 public:
  explicit Client(DedupeIndex& index) : index_(index) {}

  void run(std::vector<Request>& reqs) {
    for (size_t at = 0; at < reqs.size(); at += kBatch) {
      const size_t n = std::min(kBatch, reqs.size() - at);
      Batch b;
      b.left = n;
      for (size_t i = 0; i < n; ++i) {
        Request& r = reqs[at + i];
        r.callback = &Client::done;
        r.context = &b;
        index_.submit(&r);
      }
      std::unique_lock lock(b.mu);
      ASSERT_TRUE(b.cv.wait_for(lock, std::chrono::seconds(30), [&] { return b.left == 0; }))
          << "index requests were not answered";
      ASSERT_EQ(b.calls, n) << "a callback ran more than once";
    }
  }

  // One request, synchronously.
  Request one(RequestType type, const RecordName& name, uint64_t pbn = 0) {
    std::vector<Request> v(1);
    v[0].type = type;
    v[0].name = name;
    v[0].new_advice = Advice{pbn, 7};
    run(v);
    return v[0];
  }

  // Sends `type` for names first..first+count-1 (advice pbn = 1000 + i); returns how many were
  // found.
  uint64_t range(RequestType type, uint64_t first, uint64_t count, uint64_t salt = 0,
                 std::vector<Request>* out = nullptr) {
    std::vector<Request> reqs(count);
    for (uint64_t i = 0; i < count; ++i) {
      reqs[i].type = type;
      reqs[i].name = name_of(first + i, salt);
      reqs[i].new_advice = Advice{1000 + first + i, 1};
    }
    run(reqs);
    uint64_t found = 0;
    for (auto& r : reqs) found += r.found;
    if (out) *out = std::move(reqs);
    return found;
  }

  // sync() and wait for its callback.
  void sync() {
    std::promise<void> p;
    index_.sync([](void* a) { static_cast<std::promise<void>*>(a)->set_value(); }, &p);
    ASSERT_EQ(p.get_future().wait_for(std::chrono::seconds(30)), std::future_status::ready)
        << "sync never completed";
  }

 private:
  static constexpr size_t kBatch = 4096;
  struct Batch {
    std::mutex mu;
    std::condition_variable cv;
    size_t left = 0;
    size_t calls = 0;
  };
  static void done(Request* r) {
    auto* b = static_cast<Batch*>(r->context);
    std::lock_guard lock(b->mu);
    ++b->calls;
    if (--b->left == 0) b->cv.notify_all();
  }
  DedupeIndex& index_;
};

// A BlockDevice over another whose reads can be held: a read waits while `budget` is 0; a
// positive budget lets that many reads through; -1 lets everything through.
class GateDevice final : public io::BlockDevice {
 public:
  explicit GateDevice(io::BlockDevice& inner) : inner_(inner) {}
  void set_budget(int64_t b) {
    {
      std::lock_guard lock(mu_);
      budget_ = b;
    }
    cv_.notify_all();
  }
  uint64_t block_count() const override { return inner_.block_count(); }
  Result<void> read(uint64_t block, std::span<std::byte> out) override {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return budget_ != 0; });
      if (budget_ > 0) --budget_;
    }
    return inner_.read(block, out);
  }
  Result<void> write(uint64_t block, std::span<const std::byte> data) override {
    return inner_.write(block, data);
  }
  Result<void> flush() override {
    {
      std::unique_lock lock(mu_);
      ++flushes_waiting_;
      cv_.notify_all();
      cv_.wait(lock, [&] { return !hold_flushes_; });
      --flushes_waiting_;
    }
    return inner_.flush();
  }
  std::string name() const override { return inner_.name(); }
  // While held, flush() waits (the writes before it stay volatile).
  void hold_flushes(bool hold) {
    {
      std::lock_guard lock(mu_);
      hold_flushes_ = hold;
    }
    cv_.notify_all();
  }
  // Waits until a flush is waiting in hold_flushes.
  bool wait_for_held_flush(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return flushes_waiting_ > 0; });
  }

 private:
  io::BlockDevice& inner_;
  std::mutex mu_;
  std::condition_variable cv_;
  int64_t budget_ = -1;
  bool hold_flushes_ = false;
  int flushes_waiting_ = 0;
};

// A formatted RamDevice holding just an index region at block 0.
struct TestRegion {
  IndexConfig config;
  std::unique_ptr<io::RamDevice> device;
  uint64_t nonce = 0x1234567887654321ull;

  explicit TestRegion(const IndexConfig& c) : config(c) {
    device = std::make_unique<io::RamDevice>(index_region_blocks(c.memory_bytes, c.sparse));
    auto r = format_index(region(), config);
    EXPECT_TRUE(r) << r.error().message();
  }
  IndexRegion region(io::BlockDevice* dev = nullptr) const {
    return IndexRegion{dev ? dev : device.get(), 0, device->block_count(), nonce};
  }
  // Opens and starts an index, and waits until it is online.
  std::unique_ptr<DedupeIndex> open(bool load_saved, io::BlockDevice* dev = nullptr,
                                    uint32_t zones = 0) {
    IndexConfig c = config;
    if (zones) c.zones = zones;
    auto idx = open_index(region(dev), c, load_saved);
    EXPECT_TRUE(idx) << idx.error().message();
    if (!idx) return nullptr;
    (*idx)->start();
    EXPECT_TRUE((*idx)->wait_until_online(std::chrono::seconds(60))) << (*idx)->stats().state;
    return std::move(*idx);
  }
  // Simulated power loss: the device keeps only what was flushed (plus, optionally, a random
  // part of the unflushed writes and one torn write).
  // The crashed device is kept alive (dead: every call fails) for an index still running on it.
  void crash(const io::CrashOptions& o = {}) {
    auto survivor = device->crash(o);
    dead.push_back(std::move(device));
    device = std::move(survivor);
  }
  std::vector<std::unique_ptr<io::RamDevice>> dead;
};

}  // namespace vdofs::index::test
