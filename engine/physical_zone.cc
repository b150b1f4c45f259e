#include "engine/physical_zone.h"

#include <cstring>

#include "engine/base/assert.h"
#include "engine/base/log.h"
#include "engine/hash_zone.h"
#include "engine/logical_zone.h"
#include "engine/recovery_journal.h"
#include "engine/threads/ownership.h"
#include "engine/volume.h"

namespace vdofs::engine {

using format::kProvisionalCount;
using format::kRefCountsPerBlock;

PhysicalZone::PhysicalZone(Volume& volume, uint32_t zone, uint32_t owner_thread)
    : volume_(volume), zone_(zone), owner_(owner_thread) {}

void PhysicalZone::assert_owner(const char* fn) const {
  threads::assert_owner("physical zone", zone_, owner_, fn);
}

void PhysicalZone::add_slab(Slab* slab) {
  slabs_.push_back(slab);
  free_.fetch_add(slab->free_blocks);
  used_.fetch_add(slab->used_blocks);
}

void PhysicalZone::recount() {
  uint64_t f = 0, u = 0;
  for (Slab* s : slabs_) {
    s->free_blocks = 0;
    s->used_blocks = 0;
    for (uint8_t c : s->counts) {
      if (c == 0)
        ++s->free_blocks;
      else if (c != kProvisionalCount)
        ++s->used_blocks;
    }
    f += s->free_blocks;
    u += s->used_blocks;
  }
  free_.store(f);
  used_.store(u);
}

Slab& PhysicalZone::slab_of(Pbn pbn) { return volume_.depot().slab(volume_.layout().slab_of(pbn)); }

std::optional<Pbn> PhysicalZone::find_free() {
  const format::Layout& layout = volume_.layout();
  for (size_t tries = 0; tries < slabs_.size(); ++tries) {
    Slab& s = *slabs_[current_];
    while (s.free_blocks > 0) {
      const uint8_t* base = s.counts.data();
      const void* hit = nullptr;
      if (s.cursor < s.data_blocks) hit = memchr(base + s.cursor, 0, s.data_blocks - s.cursor);
      if (!hit) hit = memchr(base, 0, s.data_blocks);
      if (!hit) break;
      uint64_t off = static_cast<uint64_t>(static_cast<const uint8_t*>(hit) - base);
      Pbn pbn = layout.data_pbn(s.index, off);
      s.cursor = off + 1;
      if (!claims_.empty() && claims_.count(raw(pbn))) {
        // A freed block that a write still claims: skip it (rare).
        if (s.cursor >= s.data_blocks) s.cursor = 0;
        bool other = false;
        for (uint64_t i = 0; i < s.data_blocks && !other; ++i)
          other = s.counts[i] == 0 && !claims_.count(raw(layout.data_pbn(s.index, i)));
        if (!other) break;
        continue;
      }
      s.counts[off] = kProvisionalCount;
      if (!s.generations.empty()) s.generations[off] = new_generation();
      --s.free_blocks;
      free_.fetch_sub(1, std::memory_order_relaxed);
      return pbn;
    }
    current_ = (current_ + 1) % slabs_.size();
  }
  return std::nullopt;
}

uint32_t PhysicalZone::new_generation() {
  if (++next_generation_ == 0) generations_exhausted_ = true;  // 2^32 allocations in one mount
  return next_generation_;
}

void PhysicalZone::allocate(void* arg) {
  auto* dv = static_cast<DataVio*>(arg);
  Volume& volume = *dv->volume;
  PhysicalZone& self = volume.physical_zone(dv->allocation_zone);
  self.assert_owner(__func__);
  const uint32_t zones = volume.physical_zone_count();
  if (volume.is_read_only()) {
    dv->result = errc::read_only;
  } else if (dv->allocation_for_tree) {
    // All of a tree path's pages come from one zone; give back a partial set and move on.
    uint32_t got = 0;
    while (got < dv->tree_pages_needed) {
      auto pbn = self.find_free();
      if (!pbn) break;
      dv->tree_pages[got++] = *pbn;
    }
    if (got == dv->tree_pages_needed) {
      volume.launch(volume.threads().logical(dv->logical_zone), &LogicalZone::tree_pages_allocated,
                    dv);
      return;
    }
    for (uint32_t i = 0; i < got; ++i) self.free_provisional(dv->tree_pages[i]);
  } else if (auto pbn = self.find_free()) {
    dv->has_allocation = true;
    dv->allocation = *pbn;
    Slab& s = self.slab_of(*pbn);
    dv->allocation_generation = s.generations.empty() || self.generations_exhausted_
                                    ? 0
                                    : s.generations[volume.layout().offset_in_slab(*pbn)];
    self.continue_after_allocation(dv);
    return;
  }
  if (!dv->result && ++dv->zones_tried < zones) {
    dv->allocation_zone = (dv->allocation_zone + 1) % zones;
    volume.launch(volume.threads().physical(dv->allocation_zone), &PhysicalZone::allocate, dv);
    return;
  }
  // Every zone is full (or the volume is read-only).
  if (dv->allocation_for_tree) {
    if (!dv->result) dv->result = errc::no_space;
    volume.launch(volume.threads().logical(dv->logical_zone), &LogicalZone::tree_pages_allocated,
                  dv);
    return;
  }
  if (dv->result) {  // read-only
    volume.launch(volume.threads().logical(dv->logical_zone), &LogicalZone::abort_write, dv);
    return;
  }
  self.continue_after_allocation(dv);  // no allocation: dedupe may still succeed
}

void PhysicalZone::continue_after_allocation(DataVio* dv) {
  Volume& volume = volume_;
  if (dv->has_allocation && !dv->fua) volume.acknowledge(dv);
  if (volume.options().dedupe && volume.index() != nullptr) {
    HashZone::launch_enter(dv);
    return;
  }
  if (!dv->has_allocation) {
    dv->result = errc::no_space;
    volume.launch(volume.threads().logical(dv->logical_zone), &LogicalZone::abort_write, dv);
    return;
  }
  HashZone::launch_write_data(dv);
}

bool PhysicalZone::try_claim(Pbn pbn, bool trusted) {
  if (!volume_.layout().is_data_block(pbn)) return false;
  Slab& s = slab_of(pbn);
  uint64_t off = volume_.layout().offset_in_slab(pbn);
  uint8_t c = s.counts[off];
  auto it = claims_.find(raw(pbn));
  uint32_t pending = it == claims_.end() ? 0 : it->second;
  uint32_t live = c == kProvisionalCount ? 1 : c;  // a provisional block will get its own reference
  if (c == 0) return false;                        // free: the advice is stale
  if (c == kProvisionalCount && !trusted) return false;  // being written by someone else
  if (live + pending + 1 > kMaxReferences) return false;
  ++claims_[raw(pbn)];
  return true;
}

void PhysicalZone::drop_claim(Pbn pbn) {
  auto it = claims_.find(raw(pbn));
  VDOFS_CHECK(it != claims_.end() && it->second > 0, "dropping a claim that is not held");
  if (--it->second == 0) claims_.erase(it);
}

void PhysicalZone::free_provisional(Pbn pbn) {
  Slab& s = slab_of(pbn);
  uint64_t off = volume_.layout().offset_in_slab(pbn);
  VDOFS_CHECK(s.counts[off] == kProvisionalCount, "freeing a block that is not provisional");
  s.counts[off] = 0;
  ++s.free_blocks;
  free_.fetch_add(1, std::memory_order_relaxed);
}

void PhysicalZone::claim(void* arg) {
  auto* dv = static_cast<DataVio*>(arg);
  Volume& volume = *dv->volume;
  PhysicalZone& self = volume.physical_zone(
      volume.routing().physical_zone_of_slab(volume.layout().slab_of(dv->new_mapping.pbn)));
  self.assert_owner(__func__);
  dv->holds_claim = self.try_claim(dv->new_mapping.pbn, dv->is_duplicate);
  dv->claim_proven = false;
  dv->claimed_generation = 0;
  if (dv->holds_claim) {
    Slab& s = self.slab_of(dv->new_mapping.pbn);
    uint64_t off = volume.layout().offset_in_slab(dv->new_mapping.pbn);
    if (!s.generations.empty() && !self.generations_exhausted_) {
      // A live block allocated before this mount has no generation yet: give it one now (its
      // content is fixed until it is freed, and reallocation gives it another).
      if (s.generations[off] == 0 && s.counts[off] != format::kProvisionalCount)
        s.generations[off] = self.new_generation();
      dv->claimed_generation = s.generations[off];
      // A live block (counted references, so its data is on disk) that still has the generation
      // it had when the advice was made holds the advised content: it cannot have been rewritten
      // without being freed and reallocated, which changes its generation.
      dv->claim_proven = dv->advice_provable && s.counts[off] != format::kProvisionalCount &&
                         s.generations[off] != 0 && s.generations[off] == dv->advice_generation;
    }
  }
  HashZone::launch_claim_done(dv);
}

void PhysicalZone::release_claim(void* arg) {
  auto* dv = static_cast<DataVio*>(arg);
  Volume& volume = *dv->volume;
  PhysicalZone& self = volume.physical_zone(
      volume.routing().physical_zone_of_slab(volume.layout().slab_of(dv->new_mapping.pbn)));
  self.assert_owner(__func__);
  if (dv->holds_claim) self.drop_claim(dv->new_mapping.pbn);
  dv->holds_claim = false;
  HashZone::launch_claim_released(dv);
}

void PhysicalZone::release_allocation(void* arg) {
  auto* dv = static_cast<DataVio*>(arg);
  Volume& volume = *dv->volume;
  PhysicalZone& self = volume.physical_zone(
      volume.routing().physical_zone_of_slab(volume.layout().slab_of(dv->allocation)));
  self.assert_owner(__func__);
  self.free_provisional(dv->allocation);
  dv->has_allocation = false;
  if (dv->result) {
    HashZone::launch_leave(dv);  // cleanup path
  } else {
    RecoveryJournal::launch_add(dv);
  }
}

void PhysicalZone::set_count(Slab& slab, uint64_t offset, uint8_t value, uint64_t seq) {
  slab.counts[offset] = value;
  RefBlockState& rb = slab.ref_blocks[offset / kRefCountsPerBlock];
  ++rb.version;
  if (rb.writing) {
    if (!rb.dirty_seq_after) rb.dirty_seq_after = seq;
  } else if (!rb.dirty) {
    rb.dirty = true;
    rb.dirty_seq = seq;
  }
}

void PhysicalZone::apply_deltas(void* arg) {
  std::unique_ptr<DeltaBatch> batch(static_cast<DeltaBatch*>(arg));
  PhysicalZone& self = *batch->zone;
  self.assert_owner(__func__);
  const format::Layout& layout = self.volume_.layout();
  for (const RefDelta& d : batch->deltas) {
    Pbn pbn{d.pbn};
    Slab& s = self.slab_of(pbn);
    uint64_t off = layout.offset_in_slab(pbn);
    uint8_t c = s.counts[off];
    uint64_t seq = d.point >> 8;
    self.applied_point_ = d.point + 1;
    if (d.delta > 0) {
      if (d.kind == IncrementKind::kClaim) self.drop_claim(pbn);
      uint8_t next;
      if (c == kProvisionalCount || c == 0) {
        // 0 happens for a claim on a block whose other references all went away meanwhile.
        if (c == 0) {
          --s.free_blocks;
          self.free_.fetch_sub(1, std::memory_order_relaxed);
        }
        next = 1;
        ++s.used_blocks;
        self.used_.fetch_add(1, std::memory_order_relaxed);
      } else if (c >= kMaxReferences) {
        log::error("reference count overflow at PBN %llu", static_cast<unsigned long long>(d.pbn));
        self.volume_.enter_read_only(errc::corrupt_metadata);
        continue;
      } else {
        next = static_cast<uint8_t>(c + 1);
      }
      // A provisional block that a claim made live is still owed its allocation increment,
      // which will then find count >= 1 and add one more: the totals come out right.
      self.set_count(s, off, next, seq);
    } else {
      if (c == 0 || c == kProvisionalCount) {
        log::error("reference count underflow at PBN %llu", static_cast<unsigned long long>(d.pbn));
        self.volume_.enter_read_only(errc::corrupt_metadata);
        continue;
      }
      auto next = static_cast<uint8_t>(c - 1);
      self.set_count(s, off, next, seq);
      if (next == 0) {
        --s.used_blocks;
        self.used_.fetch_sub(1, std::memory_order_relaxed);
        ++s.free_blocks;
        self.free_.fetch_add(1, std::memory_order_relaxed);
      }
    }
  }
}

void PhysicalZone::write_back(uint64_t before, void (*done)(void*), void* arg) {
  assert_owner(__func__);
  waiters_.push_back({before, done, arg});
  if (!batch_in_flight_) start_batch();
}

void PhysicalZone::finish_write_back_waiters() {
  std::vector<WriteBackWaiter> still;
  for (auto& w : waiters_) {
    bool pending = false;
    for (Slab* s : slabs_) {
      for (auto& rb : s->ref_blocks)
        if ((rb.dirty || rb.writing) && rb.dirty_seq < w.before) {
          pending = true;
          break;
        }
      if (pending) break;
    }
    if (pending)
      still.push_back(w);
    else
      volume_.threads().enqueue(owner_, w.done, w.arg);
  }
  waiters_.swap(still);
}

void PhysicalZone::start_batch() {
  uint64_t target = 0;
  for (auto& w : waiters_) target = std::max(target, w.before);
  auto batch = std::make_unique<Batch>();
  batch->zone = this;
  for (Slab* s : slabs_) {
    for (uint64_t k = 0; k < s->ref_blocks.size(); ++k) {
      RefBlockState& rb = s->ref_blocks[k];
      if (!rb.dirty || rb.writing || rb.dirty_seq >= target) continue;
      auto buf = std::make_unique<std::byte[]>(kBlockSize);
      volume_.depot().encode_ref_block(*s, k, applied_point_, volume_.nonce(),
                                       std::span<std::byte, kBlockSize>(buf.get(), kBlockSize));
      rb.writing = true;
      rb.writing_version = rb.version;
      rb.dirty_seq_after = 0;
      batch->io.extents.push_back({volume_.layout().ref_block_pbn(s->index, k), buf.get()});
      batch->buffers.push_back(std::move(buf));
      batch->blocks.push_back({s, k});
    }
  }
  if (batch->blocks.empty()) {
    finish_write_back_waiters();
    return;
  }
  batch_in_flight_ = true;
  batch->io.kind = IoKind::kBatch;
  batch->io.reply_thread = owner_;
  batch->io.callback = &PhysicalZone::batch_written;
  Batch* b = batch.release();
  b->io.arg = b;
  volume_.counters().ref_blocks_written.add(b->blocks.size());
  volume_.submit_io(&b->io);
}

void PhysicalZone::batch_written(void* arg) {
  std::unique_ptr<Batch> b(static_cast<Batch*>(arg));
  PhysicalZone& self = *b->zone;
  self.assert_owner(__func__);
  self.batch_in_flight_ = false;
  if (b->io.result) self.volume_.enter_read_only(b->io.result);
  for (auto& [s, k] : b->blocks) {
    RefBlockState& rb = s->ref_blocks[k];
    rb.writing = false;
    if (b->io.result) continue;
    if (rb.version == rb.writing_version) {
      rb.dirty = false;
    } else {
      rb.dirty_seq = rb.dirty_seq_after ? rb.dirty_seq_after : rb.dirty_seq;
    }
  }
  if (b->io.result) {
    for (auto& w : self.waiters_) self.volume_.threads().enqueue(self.owner_, w.done, w.arg);
    self.waiters_.clear();
    return;
  }
  self.finish_write_back_waiters();
  if (!self.waiters_.empty() && !self.batch_in_flight_) self.start_batch();
}

Result<void> PhysicalZone::replay_delta(Pbn pbn, int delta, uint64_t point) {
  assert_owner(__func__);
  const format::Layout& layout = volume_.layout();
  if (!layout.is_data_block(pbn)) return errc::corrupt_journal;
  Slab& s = slab_of(pbn);
  uint64_t off = layout.offset_in_slab(pbn);
  uint64_t sector = off / format::kCountsPerRefSector;
  if (point < s.stamps[sector]) return ok();  // already on disk
  uint8_t c = s.counts[off];
  if (delta > 0) {
    if (c >= kMaxReferences) return errc::corrupt_metadata;
    set_count(s, off, static_cast<uint8_t>(c + 1), point >> 8);
  } else {
    if (c == 0) return errc::corrupt_metadata;
    set_count(s, off, static_cast<uint8_t>(c - 1), point >> 8);
  }
  applied_point_ = std::max(applied_point_, point + 1);
  return ok();
}

Result<void> PhysicalZone::write_all_sync(uint64_t stamp) {
  assert_owner(__func__);
  applied_point_ = std::max(applied_point_, stamp);
  std::vector<std::byte> buf(kBlockSize);
  for (Slab* s : slabs_) {
    for (uint64_t k = 0; k < s->ref_blocks.size(); ++k) {
      RefBlockState& rb = s->ref_blocks[k];
      if (!rb.dirty) continue;
      volume_.depot().encode_ref_block(*s, k, applied_point_, volume_.nonce(),
                                       std::span<std::byte, kBlockSize>(buf.data(), kBlockSize));
      VDOFS_TRY(volume_.device().write(volume_.layout().ref_block_pbn(s->index, k), buf));
      for (uint32_t sec = 0; sec < kSectorsPerBlock; ++sec)
        s->stamps[k * kSectorsPerBlock + sec] = applied_point_;
      rb.dirty = false;
      volume_.counters().ref_blocks_written.add();
    }
  }
  return ok();
}

}  // namespace vdofs::engine
