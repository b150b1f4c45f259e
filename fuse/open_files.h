// How many times each volume file is open (FUSE open minus release), so a stop request can wait
// for the last release (a loop device detached, a process closing it) instead of detaching a busy
// mount. Updated by the FUSE workers on open/release only (not on the data path).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <vector>

namespace vdofs::fusefs {

class OpenFiles {
 public:
  explicit OpenFiles(size_t volumes) : counts_(volumes, 0) {}

  void opened(size_t volume) {
    std::lock_guard lock(mu_);
    ++counts_[volume];
  }
  void released(size_t volume) {
    std::lock_guard lock(mu_);
    if (counts_[volume] > 0) --counts_[volume];
    changed_.notify_all();
  }
  std::vector<uint32_t> counts() const {
    std::lock_guard lock(mu_);
    return counts_;
  }

  enum class Wake { kChanged, kInterrupted, kTimedOut };
  // Waits until a count changes from `seen`, interrupt() is called, or `timeout` passes.
  Wake wait_for_change(const std::vector<uint32_t>& seen, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    bool woke = changed_.wait_for(lock, timeout, [&] { return interrupted_ || counts_ != seen; });
    if (interrupted_) return Wake::kInterrupted;
    return woke ? Wake::kChanged : Wake::kTimedOut;
  }
  void interrupt() {
    std::lock_guard lock(mu_);
    interrupted_ = true;
    changed_.notify_all();
  }
  bool interrupted() const {
    std::lock_guard lock(mu_);
    return interrupted_;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::vector<uint32_t> counts_;
  bool interrupted_ = false;
};

}  // namespace vdofs::fusefs
