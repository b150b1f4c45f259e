#include "engine/data_vio.h"

#include "engine/base/assert.h"
#include "engine/base/tsan.h"

namespace vdofs::engine {

void DataVio::reset() {
  op = Op::kWrite;
  lbn = Lbn{};
  request = nullptr;
  offset = 0;
  length = kBlockSize;
  read_out = nullptr;
  fua = false;
  data_ready = false;
  is_zero = false;
  hashed = false;
  acked = false;
  result = {};
  logical_zone = 0;
  flush_generation = 0;
  registered_generation = false;
  lbn_next = nullptr;
  page = nullptr;
  slot = 0;
  old_mapping = {};
  new_mapping = {};
  tree_pages_needed = 0;
  tree_entries_pending = 0;
  tree_lock_key = 0;
  wait_next = nullptr;
  has_allocation = false;
  allocation = Pbn{};
  allocation_generation = 0;
  allocation_zone = 0;
  zones_tried = 0;
  allocation_for_tree = false;
  holds_claim = false;
  advice_generation = 0;
  advice_provable = false;
  claim_proven = false;
  claimed_generation = 0;
  hash_lock = nullptr;
  hash_next = nullptr;
  is_duplicate = false;
  journal = {};
  io.result = {};
  io_done = nullptr;
}

DataVioPool::DataVioPool(uint32_t size, Volume* volume) : size_(size), vios_(new DataVio[size]) {
  free_.set_capacity(size);
  for (uint32_t i = 0; i < size; ++i) {
    vios_[i].volume = volume;
    free_.push(&vios_[i]);
  }
}

DataVio* DataVioPool::acquire() {
  DataVio* dv = nullptr;
  free_.pop(dv);  // blocks while the pool is empty: backpressure
  VDOFS_TSAN_ACQUIRE(dv);
  note_acquired();
  dv->reset();
  return dv;
}

DataVio* DataVioPool::try_acquire() {
  DataVio* dv = nullptr;
  if (!free_.try_pop(dv)) return nullptr;
  VDOFS_TSAN_ACQUIRE(dv);
  note_acquired();
  dv->reset();
  return dv;
}

void DataVioPool::note_acquired() {
  uint32_t n = in_use_.fetch_add(1, std::memory_order_relaxed) + 1;
  uint32_t m = max_in_use_.load(std::memory_order_relaxed);
  while (n > m && !max_in_use_.compare_exchange_weak(m, n, std::memory_order_relaxed)) {
  }
}

void DataVioPool::release(DataVio* dv) {
  uint32_t before = in_use_.fetch_sub(1, std::memory_order_acq_rel);
  VDOFS_DCHECK(before > 0);
  VDOFS_TSAN_RELEASE(dv);
  free_.push(dv);
  if (before == 1) in_use_.notify_all();
}

void DataVioPool::wait_idle() {
  for (;;) {
    uint32_t n = in_use_.load(std::memory_order_acquire);
    if (n == 0) return;
    in_use_.wait(n);
  }
}

}  // namespace vdofs::engine
