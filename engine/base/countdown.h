// A countdown another thread can finish safely. The waiter may return (and drop its handle) the
// moment the count reaches zero, while the thread that counted it down is still inside
// notify_all(); the shared state keeps the counter alive until both are done with it.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

namespace vdofs {

class Countdown {
 public:
  explicit Countdown(uint32_t n) : state_(std::make_shared<std::atomic<uint32_t>>(n)) {}
  // Another handle on the same count (for the thread that will count down).
  Countdown share() const { return Countdown(state_); }
  void count_down() const {
    std::shared_ptr<std::atomic<uint32_t>> s = state_;  // alive until after the notify
    if (s->fetch_sub(1, std::memory_order_acq_rel) == 1) s->notify_all();
  }
  void wait() const {
    for (uint32_t v = state_->load(std::memory_order_acquire); v != 0;
         v = state_->load(std::memory_order_acquire))
      state_->wait(v);
  }

 private:
  explicit Countdown(std::shared_ptr<std::atomic<uint32_t>> s) : state_(std::move(s)) {}
  std::shared_ptr<std::atomic<uint32_t>> state_;
};

}  // namespace vdofs
