#include "engine/recovery_journal.h"

#include <cstring>

#include "engine/base/assert.h"
#include "engine/base/log.h"
#include "engine/base/sync_point.h"
#include "engine/format/block_map_page.h"
#include "engine/format/journal_block.h"
#include "engine/logical_zone.h"
#include "engine/physical_zone.h"
#include "engine/slab_depot.h"
#include "engine/threads/ownership.h"
#include "engine/volume.h"

namespace vdofs::engine {

using format::JournalEntry;
using format::JournalOp;
using format::kJournalEntriesPerBlock;

namespace {
int64_t lbu_delta(const JournalEntry& e) {
  if (e.op != JournalOp::kDataRemap) return 0;
  return (e.new_mapping.is_mapped() ? 1 : 0) - (e.old_mapping.is_mapped() ? 1 : 0);
}
}  // namespace

RecoveryJournal::RecoveryJournal(Volume& volume, uint32_t owner_thread, uint64_t next_seq,
                                 uint64_t logical_blocks_used)
    : volume_(volume),
      owner_(owner_thread),
      size_(volume.layout().journal_blocks()),
      head_(next_seq),
      next_seq_(next_seq),
      lbu_(logical_blocks_used) {}

RecoveryJournal::~RecoveryJournal() = default;

void RecoveryJournal::assert_owner(const char* fn) const {
  threads::assert_owner("recovery journal", 0, owner_, fn);
}

void RecoveryJournal::launch_add(DataVio* dv) {
  Volume& v = *dv->volume;
  JournalWaiter& w = dv->journal;
  w.entry = JournalEntry{JournalOp::kDataRemap, raw(dv->lbn), dv->new_mapping, dv->old_mapping};
  w.increment = IncrementKind::kNone;
  if (dv->new_mapping.references_block()) {
    if (dv->holds_claim) {
      w.increment = IncrementKind::kClaim;
      dv->holds_claim = false;  // the journal's increment consumes the claim
    } else {
      VDOFS_CHECK(dv->has_allocation && dv->allocation == dv->new_mapping.pbn,
                  "journalling a block that is neither allocated nor claimed");
      w.increment = IncrementKind::kAllocation;
      dv->has_allocation = false;  // the increment makes it live
    }
  }
  w.reply_thread = v.threads().logical(dv->logical_zone);
  w.callback = &LogicalZone::journal_committed;
  w.arg = dv;
  v.launch(v.threads().journal(), &RecoveryJournal::add_data, dv);
}

void RecoveryJournal::launch_add_tree(DataVio* dv) {
  Volume& v = *dv->volume;
  v.launch(v.threads().journal(), &RecoveryJournal::add_tree, dv);
}

void RecoveryJournal::add_data(void* arg) {
  auto* dv = static_cast<DataVio*>(arg);
  dv->volume->journal().add(&dv->journal);
}

void RecoveryJournal::add_tree(void* arg) {
  auto* dv = static_cast<DataVio*>(arg);
  RecoveryJournal& j = dv->volume->journal();
  for (uint32_t i = 0; i < dv->tree_pages_needed; ++i) j.add(&dv->tree_entries[i]);
}

void RecoveryJournal::add(JournalWaiter* w) {
  assert_owner(__func__);
  if (volume_.is_read_only()) {
    // Nothing more is journalled; the waiter completes with the error.
    if (w->arg) {
      auto* dv = static_cast<DataVio*>(w->arg);
      if (!dv->result) dv->result = errc::read_only;
    }
    volume_.launch(w->reply_thread, w->callback, w->arg);
    return;
  }
  if (!space_waiters_.empty() || !append(w)) {
    space_waiters_.push_back(w);
    volume_.counters().journal_full_waits.add();
    maybe_checkpoint(false);
    return;
  }
  schedule_commit();
}

bool RecoveryJournal::append(JournalWaiter* w) {
  if (blocks_.empty() || blocks_.back().entries.size() == kJournalEntriesPerBlock) {
    // Opening a block needs a free slot in the ring (one is kept spare).
    if (next_seq_ - head_ + 1 >= size_) return false;
    OpenBlock b;
    b.seq = next_seq_++;
    b.lbu_start = lbu_.load(std::memory_order_relaxed);
    b.entries.reserve(kJournalEntriesPerBlock);
    b.waiters.reserve(kJournalEntriesPerBlock);
    blocks_.push_back(std::move(b));
  }
  OpenBlock& b = blocks_.back();
  w->sequence = b.seq;
  b.entries.push_back(w->entry);
  b.waiters.push_back(w);
  int64_t d = lbu_delta(w->entry);
  if (d) lbu_.fetch_add(static_cast<uint64_t>(d), std::memory_order_relaxed);
  return true;
}

void RecoveryJournal::schedule_commit() {
  if (commit_in_flight_ || commit_scheduled_) return;
  commit_scheduled_ = true;
  // Behind everything already queued to this thread: those entries join this commit.
  volume_.threads().enqueue(owner_, &RecoveryJournal::commit_now, this);
}

void RecoveryJournal::commit_now(void* arg) {
  auto* self = static_cast<RecoveryJournal*>(arg);
  self->commit_scheduled_ = false;
  self->commit();
}

void RecoveryJournal::commit() {
  assert_owner(__func__);
  if (commit_in_flight_) return;
  auto c = std::make_unique<Commit>();
  c->journal = this;
  const uint64_t start = volume_.layout().journal_start();
  for (OpenBlock& b : blocks_) {
    if (b.committed == b.entries.size()) continue;
    auto buf = std::make_unique<std::byte[]>(kBlockSize);
    uint64_t location = b.seq & (size_ - 1);
    format::JournalBlockHeader h{b.seq, volume_.nonce(), head_, b.lbu_start,
                                 static_cast<uint32_t>(b.entries.size())};
    format::encode_journal_block(h, b.entries, start + location,
                                 std::span<std::byte, kBlockSize>(buf.get(), kBlockSize));
    c->io.extents.push_back({start + location, buf.get()});
    c->buffers.push_back(std::move(buf));
    b.committing = static_cast<uint32_t>(b.entries.size());
  }
  if (c->io.extents.empty()) return;
  commit_in_flight_ = true;
  c->io.kind = IoKind::kBatch;
  c->io.preflush = true;
  c->io.postflush = true;
  c->io.reply_thread = owner_;
  c->io.callback = &RecoveryJournal::commit_done;
  Commit* raw_commit = c.release();
  raw_commit->io.arg = raw_commit;
  volume_.counters().journal_commits.add();
  VDOFS_SYNC_POINT("journal:commit-submitting");
  volume_.submit_io(&raw_commit->io);
}

void RecoveryJournal::commit_done(void* arg) {
  std::unique_ptr<Commit> c(static_cast<Commit*>(arg));
  RecoveryJournal& self = *c->journal;
  self.assert_owner(__func__);
  self.commit_in_flight_ = false;
  VDOFS_SYNC_POINT("journal:committed");
  Volume& v = self.volume_;
  std::error_code ec = c->io.result;
  if (ec) {
    log::error("recovery journal commit failed: %s", ec.message().c_str());
    v.enter_read_only(ec);
  }
  const uint32_t zones = v.physical_zone_count();
  std::vector<std::unique_ptr<DeltaBatch>> batches(zones);
  uint64_t entries = 0, blocks = 0;
  std::vector<JournalWaiter*> released;
  for (OpenBlock& b : self.blocks_) {
    // After a failed commit nothing more will ever commit: fail every waiter, including those
    // that arrived after this commit started.
    const uint32_t end = ec ? static_cast<uint32_t>(b.entries.size()) : b.committing;
    if (end == b.committed) continue;
    for (uint32_t i = b.committed; i < end; ++i) {
      JournalWaiter* w = b.waiters[i];
      if (ec) {
        auto* dv = static_cast<DataVio*>(w->arg);
        if (!dv->result) dv->result = ec;
        // Undo what the commit would have consumed: nothing was applied.
      } else {
        const JournalEntry& e = b.entries[i];
        uint64_t point = journal_point(b.seq, i);
        auto push = [&](Pbn pbn, int8_t delta, IncrementKind kind) {
          uint32_t z = v.routing().physical_zone_of_slab(v.layout().slab_of(pbn));
          if (!batches[z]) {
            batches[z] = std::make_unique<DeltaBatch>();
            batches[z]->zone = &v.physical_zone(z);
          }
          batches[z]->deltas.push_back(RefDelta{raw(pbn), point, delta, kind});
        };
        if (e.new_mapping.references_block())
          push(e.new_mapping.pbn, +1,
               w->increment == IncrementKind::kNone ? IncrementKind::kAllocation : w->increment);
        if (e.old_mapping.references_block()) push(e.old_mapping.pbn, -1, IncrementKind::kNone);
        ++entries;
      }
      released.push_back(w);
    }
    b.committed = end;
    ++blocks;
  }
  if (ec) {
    // Entries that could not be committed are dropped; later adds fail read-only.
    self.blocks_.clear();
  }
  while (!self.blocks_.empty() && self.blocks_.front().committed == kJournalEntriesPerBlock)
    self.blocks_.pop_front();
  // Reference changes first, then the waiters (in journal order): once a DataVio is back in the
  // pool, its deltas are already queued to their physical zones.
  for (uint32_t z = 0; z < zones; ++z) {
    if (!batches[z]) continue;
    v.threads().enqueue(v.threads().physical(z), &PhysicalZone::apply_deltas, batches[z].release());
  }
  for (JournalWaiter* w : released) v.launch(w->reply_thread, w->callback, w->arg);
  v.counters().journal_entries_committed.add(entries);
  v.counters().journal_blocks_committed.add(blocks);
  self.maybe_checkpoint(false);
  bool more = false;
  for (OpenBlock& b : self.blocks_) more |= b.committed < b.entries.size();
  if (more) self.schedule_commit();
}

void RecoveryJournal::maybe_checkpoint(bool everything) {
  if (checkpoint_in_flight_) return;
  if (everything) {
    checkpoint_target_ = UINT64_MAX;
  } else {
    uint64_t used = next_seq_ - head_;
    if (used * 2 < size_ && space_waiters_.empty()) return;
    uint64_t target = blocks_.empty() ? next_seq_ : blocks_.front().seq;
    if (target <= head_) return;
    checkpoint_target_ = target;
  }
  checkpoint_in_flight_ = true;
  const uint32_t logical = volume_.logical_zone_count();
  const uint32_t physical = volume_.physical_zone_count();
  checkpoint_replies_ = logical + physical;
  zone_msgs_.assign(logical + physical, ZoneMsg{});
  for (uint32_t z = 0; z < logical; ++z) {
    zone_msgs_[z] = ZoneMsg{this, z, checkpoint_target_};
    volume_.threads().enqueue(volume_.threads().logical(z),
                              &RecoveryJournal::zone_write_back_logical, &zone_msgs_[z]);
  }
  for (uint32_t z = 0; z < physical; ++z) {
    zone_msgs_[logical + z] = ZoneMsg{this, z, checkpoint_target_};
    volume_.threads().enqueue(volume_.threads().physical(z),
                              &RecoveryJournal::zone_write_back_physical, &zone_msgs_[logical + z]);
  }
}

void RecoveryJournal::zone_write_back_logical(void* arg) {
  auto* m = static_cast<ZoneMsg*>(arg);
  m->journal->volume_.logical_zone(m->zone).block_map().write_back(
      m->before, &RecoveryJournal::zone_written, m->journal);
}

void RecoveryJournal::zone_write_back_physical(void* arg) {
  auto* m = static_cast<ZoneMsg*>(arg);
  m->journal->volume_.physical_zone(m->zone).write_back(m->before, &RecoveryJournal::zone_written,
                                                        m->journal);
}

void RecoveryJournal::zone_written(void* arg) {
  auto* self = static_cast<RecoveryJournal*>(arg);
  self->volume_.threads().enqueue(self->owner_, &RecoveryJournal::zone_written_here, self);
}

void RecoveryJournal::zone_written_here(void* arg) {
  auto* self = static_cast<RecoveryJournal*>(arg);
  self->assert_owner(__func__);
  VDOFS_CHECK(self->checkpoint_replies_ > 0);
  if (--self->checkpoint_replies_ > 0) return;
  VDOFS_SYNC_POINT("checkpoint:zones-written");
  self->checkpoint_flush_ = IoRequest{};
  self->checkpoint_flush_.kind = IoKind::kFlush;
  self->checkpoint_flush_.reply_thread = self->owner_;
  self->checkpoint_flush_.callback = &RecoveryJournal::checkpoint_flushed;
  self->checkpoint_flush_.arg = self;
  self->volume_.counters().metadata_flushes.add();
  self->volume_.submit_io(&self->checkpoint_flush_);
}

void RecoveryJournal::checkpoint_flushed(void* arg) {
  auto* self = static_cast<RecoveryJournal*>(arg);
  self->assert_owner(__func__);
  self->checkpoint_in_flight_ = false;
  VDOFS_SYNC_POINT("checkpoint:flushed");
  if (self->checkpoint_flush_.result) self->volume_.enter_read_only(self->checkpoint_flush_.result);
  self->volume_.counters().checkpoints.add();
  if (self->checkpoint_target_ == UINT64_MAX) {
    // A full checkpoint (shutdown): everything is on disk.
    self->head_ = self->blocks_.empty() ? self->next_seq_ : self->blocks_.front().seq;
    self->full_checkpoint_running_ = false;
    auto waiters = std::move(self->full_checkpoint_waiters_);
    self->full_checkpoint_waiters_.clear();
    for (auto& [fn, a] : waiters) fn(a);
  } else if (!self->checkpoint_flush_.result) {
    self->head_ = std::max(self->head_, self->checkpoint_target_);
  }
  // Writers that waited for space go first, in order.
  while (!self->space_waiters_.empty() && !self->volume_.is_read_only()) {
    JournalWaiter* w = self->space_waiters_.front();
    if (!self->append(w)) break;
    self->space_waiters_.pop_front();
    self->schedule_commit();
  }
  if (self->volume_.is_read_only()) {
    while (!self->space_waiters_.empty()) {
      JournalWaiter* w = self->space_waiters_.front();
      self->space_waiters_.pop_front();
      self->add(w);  // fails read-only
    }
  }
  if (self->full_checkpoint_requested_) {
    self->full_checkpoint_requested_ = false;
    self->full_checkpoint_running_ = true;
    self->maybe_checkpoint(true);
    return;
  }
  self->maybe_checkpoint(false);
}

void RecoveryJournal::request_full_checkpoint(void (*done)(void*), void* arg) {
  struct Msg {
    RecoveryJournal* j;
    void (*done)(void*);
    void* arg;
  };
  auto* m = new Msg{this, done, arg};
  volume_.threads().enqueue(
      owner_,
      [](void* a) {
        std::unique_ptr<Msg> msg(static_cast<Msg*>(a));
        RecoveryJournal& j = *msg->j;
        j.full_checkpoint_waiters_.push_back({msg->done, msg->arg});
        if (j.full_checkpoint_running_ || j.full_checkpoint_requested_) return;
        if (j.checkpoint_in_flight_) {
          j.full_checkpoint_requested_ = true;
          return;
        }
        j.full_checkpoint_running_ = true;
        j.maybe_checkpoint(true);
      },
      m);
}

void RecoveryJournal::full_checkpoint(void*) {}

}  // namespace vdofs::engine
