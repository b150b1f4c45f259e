// Dedupe behaviour beyond the basics: advice proofs (sharing without a verify read), stale
// advice, dedupe that survives a clean remount and a crash, and lookups that time out.
#include <gtest/gtest.h>

#include <chrono>
#include <deque>
#include <mutex>
#include <thread>

#include "tests/support/volume_harness.h"

namespace vdofs::test {
namespace {

HarnessOptions opts() {
  HarnessOptions o;
  o.threads.logical = 2;
  o.threads.physical = 2;
  o.threads.hash = 2;
  o.threads.io = 2;
  o.threads.index = 2;
  o.threads.cpu = 2;
  return o;
}

// Writes `blocks` of content starting at `seed`, one request per block so no two are concurrent.
void write_each(engine::Volume& v, uint64_t lbn, uint64_t seed, uint64_t blocks) {
  for (uint64_t i = 0; i < blocks; ++i)
    ASSERT_FALSE(write(v, (lbn + i) * kBlockSize, pattern_block(seed + i)));
}

TEST(Dedupe, CurrentAdviceIsSharedWithoutAVerifyRead) {
  Harness h(opts());
  write_each(h.volume(), 0, 100, 64);
  ASSERT_FALSE(flush(h.volume()));
  write_each(h.volume(), 1000, 100, 64);  // same contents, after the first locks are gone
  auto st = settled_stats(h.volume());
  EXPECT_EQ(st.data_blocks_used, 64u);
  EXPECT_EQ(st.dedupe_advice_valid, 64u);
  EXPECT_EQ(st.dedupe_verify_skipped, 64u) << "advice from this mount proves itself";
  EXPECT_EQ(st.dedupe_verify_reads, 0u);
  std::vector<std::byte> out(64 * kBlockSize);
  ASSERT_FALSE(read(h.volume(), 1000 * kBlockSize, out));
  EXPECT_EQ(out, pattern(100, 64));
}

TEST(Dedupe, AdviceFromAnEarlierMountIsReadOnceThenProven) {
  Harness h(opts());
  write_each(h.volume(), 0, 200, 32);
  h.remount();  // new epoch: the saved advice cannot prove itself
  write_each(h.volume(), 500, 200, 32);
  auto st = settled_stats(h.volume());
  EXPECT_EQ(st.data_blocks_used, 32u);
  EXPECT_EQ(st.dedupe_verify_reads, 32u) << "old-epoch advice is verified by reading";
  write_each(h.volume(), 900, 200, 32);
  st = settled_stats(h.volume());
  EXPECT_EQ(st.data_blocks_used, 32u);
  EXPECT_EQ(st.dedupe_verify_reads, 32u) << "after one read the index holds this mount's proof";
  EXPECT_EQ(st.dedupe_verify_skipped, 32u);
}

TEST(Dedupe, StaleAdviceIsDetectedAndReplaced) {
  Harness h(opts());
  write_each(h.volume(), 0, 300, 16);  // A at LBN 0..15
  ASSERT_FALSE(flush(h.volume()));
  write_each(h.volume(), 0, 900, 16);     // overwritten: A's blocks are freed
  write_each(h.volume(), 100, 5000, 64);  // fresh data reuses freed blocks
  write_each(h.volume(), 2000, 300, 16);  // A again: its advice is stale
  auto st = settled_stats(h.volume());
  EXPECT_GE(st.dedupe_advice_stale, 1u);
  std::vector<std::byte> out(16 * kBlockSize);
  ASSERT_FALSE(read(h.volume(), 2000 * kBlockSize, out));
  EXPECT_EQ(out, pattern(300, 16)) << "stale advice must never be shared";
  ASSERT_FALSE(read(h.volume(), 100 * kBlockSize, out));
  EXPECT_EQ(out, pattern(5000, 16));
  write_each(h.volume(), 3000, 300, 16);  // and the index now names the new copy
  EXPECT_EQ(settled_stats(h.volume()).data_blocks_used, 16u + 16u + 64u);
  h.close_and_check();
}

TEST(Dedupe, SurvivesACleanRemount) {
  Harness h(opts());
  auto data = pattern(7000, 512);
  ASSERT_FALSE(write(h.volume(), 0, data));
  h.remount();
  uint64_t before = settled_stats(h.volume()).data_blocks_used;
  ASSERT_FALSE(write(h.volume(), 8 << 20, data));
  uint64_t after = settled_stats(h.volume()).data_blocks_used;
  EXPECT_LT(after - before, 512u / 20) << "rewriting data written before a clean remount adds < 5%";
}

TEST(Dedupe, FlushedDataStillDedupesAfterACrash) {
  Harness h(opts());
  auto data = pattern(8000, 512);
  ASSERT_FALSE(write(h.volume(), 0, data));
  ASSERT_FALSE(flush(h.volume()));
  h.crash_and_remount(io::CrashOptions{0.0, false, 3});  // every unflushed write is lost
  ASSERT_TRUE(h.volume().index() != nullptr);
  ASSERT_TRUE(h.volume().index()->wait_until_online(std::chrono::seconds(30)));
  uint64_t before = settled_stats(h.volume()).data_blocks_used;
  ASSERT_EQ(before, 512u);
  ASSERT_FALSE(write(h.volume(), 8 << 20, data));
  uint64_t after = settled_stats(h.volume()).data_blocks_used;
  EXPECT_LT(after - before, 512u / 20) << "VDO loses its open chapter here; vdofs must not";
  h.close_and_check();
}

// An index that answers late: the lookups time out and the writes go on without dedupe.
class SlowIndex final : public index::DedupeIndex {
 public:
  SlowIndex(std::unique_ptr<index::DedupeIndex> inner, std::chrono::milliseconds delay)
      : inner_(std::move(inner)), delay_(delay), worker_([this] { run(); }) {}
  ~SlowIndex() override {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    worker_.join();
  }
  void start() override { inner_->start(); }
  void stop() override {
    // Answer everything still held, then stop the real index.
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return held_.empty(); });
    lock.unlock();
    inner_->stop();
  }
  void submit(index::Request* r) override {
    std::lock_guard lock(mu_);
    held_.push_back({std::chrono::steady_clock::now() + delay_, r});
    cv_.notify_all();
  }
  index::IndexStats stats() const override { return inner_->stats(); }
  Result<void> save() override { return inner_->save(); }
  void sync(void (*done)(void*), void* arg) override { inner_->sync(done, arg); }
  bool wait_until_online(std::chrono::milliseconds t) override {
    return inner_->wait_until_online(t);
  }

 private:
  void run() {
    std::unique_lock lock(mu_);
    while (!stop_) {
      if (held_.empty()) {
        cv_.wait(lock);
        continue;
      }
      auto [when, r] = held_.front();
      if (std::chrono::steady_clock::now() < when) {
        cv_.wait_until(lock, when);
        continue;
      }
      held_.pop_front();
      lock.unlock();
      inner_->submit(r);
      lock.lock();
      cv_.notify_all();
    }
  }
  std::unique_ptr<index::DedupeIndex> inner_;
  std::chrono::milliseconds delay_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<std::chrono::steady_clock::time_point, index::Request*>> held_;
  bool stop_ = false;
  std::thread worker_;
};

TEST(Dedupe, SlowLookupsTimeOutAndWritesProceed) {
  HarnessOptions o = opts();
  o.dedupe_timeout_ms = 50;
  o.index_decorator =
      [](std::unique_ptr<index::DedupeIndex> inner) -> std::unique_ptr<index::DedupeIndex> {
    return std::make_unique<SlowIndex>(std::move(inner), std::chrono::milliseconds(400));
  };
  Harness h(o);
  auto start = std::chrono::steady_clock::now();
  auto data = pattern(9000, 32);
  ASSERT_FALSE(write(h.volume(), 0, data));
  ASSERT_FALSE(write(h.volume(), 4 << 20, data));  // duplicates, but the index is too slow
  auto st = settled_stats(h.volume());
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(st.dedupe_advice_timeouts, 1u);
  std::vector<std::byte> out(data.size());
  ASSERT_FALSE(read(h.volume(), 4 << 20, out));
  EXPECT_EQ(out, data);
  EXPECT_LT(took, std::chrono::seconds(5)) << "a slow index must not hold writes for long";
  h.close_and_check();
}

}  // namespace
}  // namespace vdofs::test
