#include "engine/logical_zone.h"

#include <cstring>

#include "engine/base/assert.h"
#include "engine/base/log.h"
#include "engine/format/block_map_page.h"
#include "engine/hash_zone.h"
#include "engine/physical_zone.h"
#include "engine/recovery_journal.h"
#include "engine/threads/ownership.h"
#include "engine/volume.h"

namespace vdofs::engine {

using format::kEntriesPerPage;
using format::tree_page_key;

namespace {
constexpr uint64_t kAllocationsPerZoneTurn = 128;  // VDO rotates physical zones every 128

bool is_zero_block(const std::array<std::byte, kBlockSize>& b) {
  static const std::array<std::byte, kBlockSize> zeros{};
  return memcmp(b.data(), zeros.data(), kBlockSize) == 0;
}
}  // namespace

LogicalZone::LogicalZone(Volume& volume, uint32_t zone, uint32_t owner_thread, uint64_t cache_pages)
    : volume_(volume),
      zone_(zone),
      owner_(owner_thread),
      block_map_(volume, zone, owner_thread, cache_pages) {}

void LogicalZone::assert_owner(const char* fn) const {
  threads::assert_owner("logical zone", zone_, owner_, fn);
}

LogicalZone& LogicalZone::of(DataVio* dv) { return dv->volume->logical_zone(dv->logical_zone); }

void LogicalZone::launch_start(DataVio* dv) {
  Volume& v = *dv->volume;
  dv->logical_zone = v.routing().logical_zone_of(dv->lbn);
  v.launch(v.threads().logical(dv->logical_zone), &LogicalZone::start, dv);
}

void LogicalZone::launch_abort_write(DataVio* dv) {
  dv->volume->launch(dv->volume->threads().logical(dv->logical_zone), &LogicalZone::abort_write,
                     dv);
}

void LogicalZone::join_generation(DataVio* dv) {
  dv->flush_generation = generation_;
  dv->registered_generation = true;
  ++active_[generation_];
  ++active_count_;
}

void LogicalZone::leave_generation(DataVio* dv) {
  if (!dv->registered_generation) return;
  dv->registered_generation = false;
  auto it = active_.find(dv->flush_generation);
  VDOFS_CHECK(it != active_.end() && it->second > 0);
  if (--it->second == 0) active_.erase(it);
  --active_count_;
  uint64_t oldest = active_.empty() ? UINT64_MAX : active_.begin()->first;
  while (!flush_waiters_.empty() && flush_waiters_.front().first < oldest) {
    FlushRequest* f = flush_waiters_.front().second;
    flush_waiters_.pop_front();
    flush_done(f);
  }
}

void LogicalZone::flush(void* arg) {
  auto* za = static_cast<FlushRequest::ZoneArg*>(arg);
  LogicalZone& self = za->volume->logical_zone(za->zone);
  self.assert_owner(__func__);
  uint64_t gen = self.generation_++;
  uint64_t oldest = self.active_.empty() ? UINT64_MAX : self.active_.begin()->first;
  if (oldest > gen) {
    self.flush_done(za->flush);
    return;
  }
  self.flush_waiters_.push_back({gen, za->flush});
}

void LogicalZone::flush_done(FlushRequest* f) {
  if (f->remaining.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    UserRequest* r = f->request;
    delete f;
    volume_.complete_flush(r);
  }
}

void LogicalZone::start(void* arg) {
  auto* dv = static_cast<DataVio*>(arg);
  LogicalZone& self = of(dv);
  self.assert_owner(__func__);
  if (dv->op != DataVio::Op::kRead) self.join_generation(dv);
  auto [it, inserted] = self.lbn_locks_.try_emplace(raw(dv->lbn));
  LbnLock& lock = it->second;
  if (inserted) {
    lock.holder = dv;
    self.proceed(dv);
    return;
  }
  DataVio* holder = lock.holder;
  if (dv->op == DataVio::Op::kRead && holder->op != DataVio::Op::kRead && holder->data_ready &&
      !holder->result) {
    memcpy(dv->read_out, holder->data.data() + dv->offset, dv->length);
    self.finish_read(dv);  // never held the lock
    return;
  }
  dv->lbn_next = nullptr;
  if (lock.tail)
    lock.tail->lbn_next = dv;
  else
    lock.head = dv;
  lock.tail = dv;
}

void LogicalZone::release_lbn_lock(DataVio* dv) {
  auto it = lbn_locks_.find(raw(dv->lbn));
  if (it == lbn_locks_.end() || it->second.holder != dv) return;  // never held it
  LbnLock& lock = it->second;
  DataVio* next = lock.head;
  if (!next) {
    lbn_locks_.erase(it);
    return;
  }
  lock.head = next->lbn_next;
  if (!lock.head) lock.tail = nullptr;
  next->lbn_next = nullptr;
  lock.holder = next;
  volume_.threads().enqueue(owner_, &LogicalZone::proceed_again, next);
}

void LogicalZone::proceed_again(void* arg) {
  auto* dv = static_cast<DataVio*>(arg);
  LogicalZone& self = of(dv);
  self.assert_owner(__func__);
  if (dv->result) {  // a page load failed
    if (dv->op == DataVio::Op::kRead) {
      self.finish_read(dv);
    } else {
      abort_write(dv);
    }
    return;
  }
  self.proceed(dv);
}

void LogicalZone::proceed(DataVio* dv) {
  uint64_t leaf = Routing::leaf_index_of(dv->lbn);
  LeafLookup lk = block_map_.find_leaf(leaf);
  if (!lk.found) {
    dv->old_mapping = kUnmappedMapping;
    if (dv->op == DataVio::Op::kWrite &&
        !(dv->data_ready && (dv->hashed ? dv->is_zero : is_zero_block(dv->data)))) {
      start_tree_allocation(dv, static_cast<uint32_t>(lk.missing_level));
      return;
    }
    with_mapping(dv);
    return;
  }
  LeafPage* page = block_map_.get_leaf(leaf, lk.pbn, dv, &LogicalZone::proceed_again);
  if (!page) return;  // resumes in proceed_again once loaded
  dv->page = page;
  dv->slot = static_cast<uint32_t>(raw(dv->lbn) % kEntriesPerPage);
  dv->old_mapping = format::get_block_map_entry(page->span(), dv->slot);
  with_mapping(dv);
}

void LogicalZone::with_mapping(DataVio* dv) {
  const Mapping old = dv->old_mapping;
  switch (dv->op) {
    case DataVio::Op::kRead:
      if (!old.references_block()) {
        memset(dv->read_out, 0, dv->length);
        finish_read(dv);
        return;
      }
      if (dv->partial()) {
        volume_.submit_data_io(dv, IoKind::kRead, old.pbn, dv->scratch.data(), owner_,
                               &LogicalZone::read_done);
      } else {
        volume_.submit_data_io(dv, IoKind::kRead, old.pbn, dv->read_out, owner_,
                               &LogicalZone::read_done);
      }
      return;
    case DataVio::Op::kDiscard:
      if (!old.is_mapped()) {
        finish_without_change(dv);
        return;
      }
      dv->new_mapping = kUnmappedMapping;
      RecoveryJournal::launch_add(dv);
      return;
    case DataVio::Op::kWrite:
      if (dv->partial() && !dv->data_ready) {
        if (old.references_block()) {
          volume_.submit_data_io(dv, IoKind::kRead, old.pbn, dv->scratch.data(), owner_,
                                 &LogicalZone::rmw_read_done);
        } else {
          memset(dv->scratch.data(), 0, kBlockSize);
          dv->io.result = {};
          rmw_read_done(dv);
        }
        return;
      }
      if (dv->hashed) {
        after_hash(dv);  // hashed at intake
        return;
      }
      launch_hash(dv);
      return;
  }
}

void LogicalZone::read_done(DataVio* dv) {
  LogicalZone& self = of(dv);
  self.assert_owner(__func__);
  if (dv->io.result) {
    dv->result = dv->io.result;  // a data read error fails this read; metadata is intact
  } else if (dv->partial()) {
    memcpy(dv->read_out, dv->scratch.data() + dv->offset, dv->length);
  }
  self.volume_.counters().data_block_reads.add();
  self.finish_read(dv);
}

void LogicalZone::rmw_read_done(DataVio* dv) {
  LogicalZone& self = of(dv);
  self.assert_owner(__func__);
  if (dv->io.result) {
    dv->result = dv->io.result;  // the old block cannot be read: this write fails, nothing else
    abort_write(dv);
    return;
  }
  // Merge: the old block with the request's bytes (kept at their offset in data) on top.
  memcpy(dv->scratch.data() + dv->offset, dv->data.data() + dv->offset, dv->length);
  memcpy(dv->data.data(), dv->scratch.data(), kBlockSize);
  dv->data_ready = true;
  self.launch_hash(dv);
}

uint32_t LogicalZone::next_allocation_zone() {
  uint32_t zones = volume_.physical_zone_count();
  uint64_t n = allocations_.fetch_add(1, std::memory_order_relaxed);
  return static_cast<uint32_t>((zone_ + n / kAllocationsPerZoneTurn) % zones);
}

namespace {
constexpr uint32_t kHashBatch = 8;  // blocks per CPU task: parallel across cores, few tasks
}

void LogicalZone::launch_hash(DataVio* dv) {
  dv->wait_next = nullptr;
  if (hash_pending_tail_)
    hash_pending_tail_->wait_next = dv;
  else
    hash_pending_ = dv;
  hash_pending_tail_ = dv;
  if (++hash_pending_count_ >= kHashBatch) {
    submit_hash_batch(this);
    return;
  }
  if (!hash_flush_scheduled_) {
    // Behind whatever is queued to this zone now: those blocks join the batch.
    hash_flush_scheduled_ = true;
    volume_.threads().enqueue(owner_, &LogicalZone::submit_hash_batch, this);
  }
}

void LogicalZone::submit_hash_batch(void* arg) {
  auto* self = static_cast<LogicalZone*>(arg);
  self->assert_owner(__func__);
  if (threads::current_thread() == self->owner_) self->hash_flush_scheduled_ = false;
  if (!self->hash_pending_) return;
  DataVio* first = self->hash_pending_;
  self->hash_pending_ = self->hash_pending_tail_ = nullptr;
  self->hash_pending_count_ = 0;
  self->volume_.cpu().submit(&LogicalZone::hash_batch, first);
}

void LogicalZone::hash_batch(void* arg) {
  static const std::array<std::byte, kBlockSize> zeros{};
  threads::ScopedOutbox outbox;  // the batch's blocks go on to their zones together
  auto* dv = static_cast<DataVio*>(arg);
  while (dv) {
    DataVio* next = dv->wait_next;
    dv->wait_next = nullptr;
    dv->is_zero = memcmp(dv->data.data(), zeros.data(), kBlockSize) == 0;
    if (!dv->is_zero) dv->name = sha256(dv->data);
    dv->hashed = true;
    after_hash(dv);
    dv = next;
  }
}

// On a CPU-pool thread: touches only dv (and reads its zone's immutable configuration).
void LogicalZone::after_hash(DataVio* dv) {
  Volume& v = *dv->volume;
  LogicalZone& self = v.logical_zone(dv->logical_zone);
  if (v.is_read_only()) {
    dv->result = errc::read_only;
    launch_abort_write(dv);
    return;
  }
  if (dv->is_zero) {
    v.counters().zero_blocks_written.add();
    if (!dv->old_mapping.is_mapped() || dv->old_mapping.is_zero()) {
      // Zeros over unmapped or zero blocks change nothing.
      v.launch(v.threads().logical(dv->logical_zone), &LogicalZone::finish_unchanged, dv);
      return;
    }
    dv->new_mapping = kZeroMapping;
    if (!dv->fua) v.acknowledge(dv);
    RecoveryJournal::launch_add(dv);
    return;
  }
  dv->allocation_zone = self.next_allocation_zone();
  dv->zones_tried = 0;
  v.launch(v.threads().physical(dv->allocation_zone), &PhysicalZone::allocate, dv);
}

void LogicalZone::finish_unchanged(void* arg) {
  auto* dv = static_cast<DataVio*>(arg);
  LogicalZone& self = of(dv);
  self.assert_owner(__func__);
  self.finish_without_change(dv);
}

void LogicalZone::start_tree_allocation(DataVio* dv, uint32_t missing_level) {
  uint64_t leaf = Routing::leaf_index_of(dv->lbn);
  // Every page on the missing path is locked, not just the top one: pages are linked one by one
  // as their entries commit, and a writer arriving in between must wait for the rest.
  for (uint32_t level = 0; level <= missing_level; ++level) {
    auto it = tree_locks_.find(tree_page_key(level, BlockMapZone::page_index(leaf, level)));
    if (it != tree_locks_.end()) {
      dv->wait_next = it->second;  // order among waiters does not matter: each walks again
      it->second = dv;
      return;
    }
  }
  for (uint32_t level = 0; level <= missing_level; ++level)
    tree_locks_.emplace(tree_page_key(level, BlockMapZone::page_index(leaf, level)), nullptr);
  uint64_t key = tree_page_key(missing_level, BlockMapZone::page_index(leaf, missing_level));
  if (volume_.is_read_only()) {
    dv->result = errc::read_only;
    release_tree_locks(dv->lbn, missing_level);
    abort_write(dv);
    return;
  }
  dv->tree_lock_key = key;
  dv->tree_pages_needed = static_cast<uint8_t>(missing_level + 1);
  dv->allocation_for_tree = true;
  dv->allocation_zone = next_allocation_zone();
  dv->zones_tried = 0;
  volume_.launch(volume_.threads().physical(dv->allocation_zone), &PhysicalZone::allocate, dv);
}

void LogicalZone::release_tree_locks(Lbn lbn, uint32_t top_level) {
  uint64_t leaf = Routing::leaf_index_of(lbn);
  for (uint32_t level = 0; level <= top_level; ++level) {
    auto it = tree_locks_.find(tree_page_key(level, BlockMapZone::page_index(leaf, level)));
    if (it == tree_locks_.end()) continue;
    DataVio* w = it->second;
    tree_locks_.erase(it);
    while (w) {
      DataVio* next = w->wait_next;
      w->wait_next = nullptr;
      volume_.threads().enqueue(owner_, &LogicalZone::proceed_again, w);
      w = next;
    }
  }
}

void LogicalZone::tree_pages_allocated(void* arg) {
  auto* dv = static_cast<DataVio*>(arg);
  LogicalZone& self = of(dv);
  self.assert_owner(__func__);
  dv->allocation_for_tree = false;
  if (dv->result) {
    self.release_tree_locks(dv->lbn, dv->tree_pages_needed - 1u);
    abort_write(dv);
    return;
  }
  uint64_t leaf = Routing::leaf_index_of(dv->lbn);
  uint32_t top = dv->tree_pages_needed - 1u;
  for (uint32_t i = 0; i < dv->tree_pages_needed; ++i) {
    uint32_t level = top - i;
    JournalWaiter& w = dv->tree_entries[i];
    w = JournalWaiter{};
    w.entry.op = format::JournalOp::kTreePage;
    w.entry.key = tree_page_key(level, BlockMapZone::page_index(leaf, level));
    w.entry.new_mapping = Mapping{dv->tree_pages[i], MappingState::kMapped};
    w.entry.old_mapping = kUnmappedMapping;
    w.increment = IncrementKind::kAllocation;
    w.reply_thread = self.owner_;
    w.callback = &LogicalZone::tree_entry_committed;
    w.arg = dv;
  }
  dv->tree_entries_pending = dv->tree_pages_needed;
  RecoveryJournal::launch_add_tree(dv);
}

void LogicalZone::tree_entry_committed(void* arg) {
  auto* dv = static_cast<DataVio*>(arg);
  LogicalZone& self = of(dv);
  self.assert_owner(__func__);
  // Entries commit in order (top level first). Link each page as soon as its entry is durable:
  // a checkpoint between two commits must find the pages of committed entries in memory, or the
  // journal head could pass entries whose pages were never written.
  const uint32_t i = dv->tree_pages_needed - dv->tree_entries_pending;
  const uint32_t top = dv->tree_pages_needed - 1u;
  if (!dv->result) {
    uint32_t level = top - i;
    uint64_t leaf = Routing::leaf_index_of(dv->lbn);
    LeafPage* p = self.block_map_.add_page(level, BlockMapZone::page_index(leaf, level),
                                           dv->tree_pages[i], dv->tree_entries[i].sequence);
    if (p) self.block_map_.unpin(p);
  }
  if (--dv->tree_entries_pending > 0) return;
  self.release_tree_locks(dv->lbn, top);
  dv->tree_pages_needed = 0;
  if (dv->result) {
    abort_write(dv);
    return;
  }
  self.proceed(dv);
}

void LogicalZone::journal_committed(void* arg) {
  auto* dv = static_cast<DataVio*>(arg);
  LogicalZone& self = of(dv);
  self.assert_owner(__func__);
  if (dv->result) {
    abort_write(dv);
    return;
  }
  self.block_map_.set_entry(dv->page, dv->slot, dv->new_mapping, dv->journal.sequence);
  self.block_map_.unpin(dv->page);
  dv->page = nullptr;
  if (dv->op == DataVio::Op::kDiscard)
    self.volume_.counters().blocks_discarded.add();
  else
    self.volume_.counters().blocks_written.add();
  self.volume_.acknowledge(dv);
  self.leave_generation(dv);
  self.release_lbn_lock(dv);
  HashZone::launch_leave(dv);
}

void LogicalZone::abort_write(void* arg) {
  auto* dv = static_cast<DataVio*>(arg);
  LogicalZone& self = of(dv);
  self.assert_owner(__func__);
  if (!dv->result) dv->result = errc::io_error;
  if (dv->result == make_error_code(errc::no_space)) self.volume_.counters().no_space_errors.add();
  if (dv->result == make_error_code(errc::read_only))
    self.volume_.counters().read_only_errors.add();
  if (dv->page) {
    self.block_map_.unpin(dv->page);
    dv->page = nullptr;
  }
  self.volume_.acknowledge(dv);
  self.leave_generation(dv);
  self.release_lbn_lock(dv);
  HashZone::launch_leave(dv);
}

void LogicalZone::finish_read(DataVio* dv) {
  if (dv->page) {
    block_map_.unpin(dv->page);
    dv->page = nullptr;
  }
  volume_.acknowledge(dv);
  release_lbn_lock(dv);
  volume_.release_data_vio(dv);
}

void LogicalZone::finish_without_change(DataVio* dv) {
  if (dv->page) {
    block_map_.unpin(dv->page);
    dv->page = nullptr;
  }
  volume_.acknowledge(dv);
  leave_generation(dv);
  release_lbn_lock(dv);
  HashZone::launch_leave(dv);
}

void LogicalZone::probe_discard(void* arg) {
  auto* probe = static_cast<DiscardProbe*>(arg);
  Volume& v = *probe->volume;
  LogicalZone& self = v.logical_zone(v.routing().logical_zone_of(Lbn{probe->first_lbn}));
  self.assert_owner(__func__);
  uint64_t leaf = Routing::leaf_index_of(Lbn{probe->first_lbn});
  LeafLookup lk = self.block_map_.find_leaf(leaf);
  probe->needed.assign(probe->count, false);
  if (lk.found) {
    if (LeafPage* page = self.block_map_.peek_leaf(leaf)) {
      for (uint32_t i = 0; i < probe->count; ++i) {
        auto slot = static_cast<uint32_t>((probe->first_lbn + i) % kEntriesPerPage);
        probe->needed[i] = format::get_block_map_entry(page->span(), slot).is_mapped();
      }
      self.block_map_.unpin(page);
    } else {
      self.block_map_.prefetch_leaf(leaf, lk.pbn);
      probe->needed.assign(probe->count, true);
    }
  }
  for (uint32_t i = 0; i < probe->count; ++i)
    if (!probe->needed[i] && self.lbn_locks_.count(probe->first_lbn + i)) probe->needed[i] = true;
  Countdown done = probe->remaining.share();  // probe may be freed once the count reaches zero
  done.count_down();
}

}  // namespace vdofs::engine
