// UserRequest: one I/O from a client (a FUSE read/write/discard/fsync), split by the engine into
// per-block operations. complete() is called exactly once, on some engine thread, when every
// block has been acknowledged (writes: allocated or deduplicated, or committed for FUA) or has
// failed. The first error wins.
#pragma once

#include <atomic>
#include <cstdint>
#include <system_error>

namespace vdofs::engine {

class UserRequest {
 public:
  virtual ~UserRequest() = default;
  virtual void complete(std::error_code ec) = 0;

  // Engine side: one more block (or sub-operation) outstanding.
  void add_pending(uint32_t n = 1) { pending_.fetch_add(n, std::memory_order_relaxed); }
  // Engine side: one block done (ec = its result).
  void block_done(std::error_code ec) {
    if (ec && !error_set_.exchange(true, std::memory_order_relaxed)) error_ = ec;
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) complete(error_);
  }

 private:
  std::atomic<uint32_t> pending_{1};  // the submitter's guard; dropped by a final block_done
  std::atomic<bool> error_set_{false};
  std::error_code error_;
};

}  // namespace vdofs::engine
