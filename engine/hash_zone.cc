#include "engine/hash_zone.h"

#include <cstring>

#include "engine/base/assert.h"
#include "engine/base/log.h"
#include "engine/logical_zone.h"
#include "engine/physical_zone.h"
#include "engine/recovery_journal.h"
#include "engine/threads/ownership.h"
#include "engine/volume.h"

namespace vdofs::engine {

index::RecordName record_name_of(const BlockName& name) {
  index::RecordName r;
  memcpy(r.bytes.data(), name.bytes.data(), r.bytes.size());
  return r;
}

HashZone::HashZone(Volume& volume, uint32_t zone, uint32_t owner_thread)
    : volume_(volume), zone_(zone), owner_(owner_thread) {}

HashZone::~HashZone() {
  for (auto& [n, lock] : locks_) delete lock;
}

void HashZone::assert_owner(const char* fn) const {
  threads::assert_owner("hash zone", zone_, owner_, fn);
}

HashZone& HashZone::of(DataVio* dv) {
  return dv->volume->hash_zone(dv->volume->routing().hash_zone_of(dv->name));
}

namespace {
uint32_t hash_thread_of(DataVio* dv) {
  return dv->volume->threads().hash(dv->volume->routing().hash_zone_of(dv->name));
}
uint32_t physical_thread_of(DataVio* dv, Pbn pbn) {
  Volume& v = *dv->volume;
  return v.threads().physical(v.routing().physical_zone_of_slab(v.layout().slab_of(pbn)));
}
}  // namespace

void HashZone::launch_enter(DataVio* dv) {
  dv->volume->launch(hash_thread_of(dv), &HashZone::enter, dv);
}
void HashZone::launch_claim_done(DataVio* dv) {
  dv->volume->launch(hash_thread_of(dv), &HashZone::claim_done, dv);
}
void HashZone::launch_claim_released(DataVio* dv) {
  dv->volume->launch(hash_thread_of(dv), &HashZone::claim_released, dv);
}
void HashZone::launch_leave(DataVio* dv) {
  if (!dv->hash_lock && !dv->holds_claim && !dv->has_allocation) {
    dv->volume->release_data_vio(dv);
    return;
  }
  dv->volume->launch(hash_thread_of(dv), &HashZone::leave, dv);
}

void HashZone::launch_write_data(DataVio* dv) {
  Volume& v = *dv->volume;
  dv->new_mapping = Mapping{dv->allocation, MappingState::kMapped};
  v.submit_data_io(dv, IoKind::kWrite, dv->allocation, dv->data.data(),
                   v.threads().logical(dv->logical_zone), &HashZone::unlocked_data_written);
}

void HashZone::unlocked_data_written(DataVio* dv) {
  if (dv->io.result) {
    dv->result = dv->io.result;
    dv->volume->enter_read_only(dv->io.result);
    LogicalZone::abort_write(dv);
    return;
  }
  RecoveryJournal::launch_add(dv);
}

void HashZone::enter(void* arg) {
  auto* dv = static_cast<DataVio*>(arg);
  HashZone& self = of(dv);
  self.assert_owner(__func__);
  auto [it, inserted] = self.locks_.try_emplace(dv->name, nullptr);
  if (inserted) {
    auto* lock = new HashLock();
    lock->name = dv->name;
    lock->zone = &self;
    lock->agent = dv;
    lock->members = 1;
    it->second = lock;
    dv->hash_lock = lock;
    // QUERYING: ask the index; POST offers our allocation as the advice if the name is new.
    index::Request& r = lock->request;
    r = index::Request{};
    r.type = dv->has_allocation ? index::RequestType::kPost : index::RequestType::kQuery;
    r.name = record_name_of(dv->name);
    r.new_advice =
        index::Advice{raw(dv->allocation), dv->allocation_generation, self.volume_.epoch()};
    r.callback = &HashZone::index_answered;
    r.context = lock;
    lock->index_busy = true;
    lock->query_started = std::chrono::steady_clock::now();
    self.volume_.index()->submit(&r);
    return;
  }
  HashLock* lock = it->second;
  ++lock->members;
  dv->hash_lock = lock;
  self.volume_.counters().concurrent_data_matches.add();
  switch (lock->state) {
    case HashLock::State::kSharing:
      self.share(dv);
      return;
    case HashLock::State::kFailed:
      dv->result = errc::no_space;
      LogicalZone::launch_abort_write(dv);
      return;
    default:
      lock->add_waiter(dv);
      return;
  }
}

void HashZone::index_answered(index::Request* r) {
  auto* lock = static_cast<HashLock*>(r->context);
  Volume& v = lock->zone->volume_;
  v.threads().enqueue(lock->zone->owner_, &HashZone::finish_querying, lock);
}

void HashZone::finish_querying(void* arg) {
  auto* lock = static_cast<HashLock*>(arg);
  HashZone& self = *lock->zone;
  self.assert_owner(__func__);
  lock->index_busy = false;
  if (lock->timed_out) {  // the lock went on without the answer; it only had to arrive
    self.maybe_destroy(lock);
    return;
  }
  const index::Request& r = lock->request;
  DataVio* agent = lock->agent;
  if (r.found) {
    Pbn advice{r.advice.pbn};
    agent->advice_generation = r.advice.generation;
    agent->advice_provable = self.volume_.options().verify_by_generation &&
                             r.advice.epoch == self.volume_.epoch() && r.advice.generation != 0;
    if (agent->has_allocation && advice == agent->allocation) {
      // The index already names our own allocation (a POST raced nothing): new data.
      self.start_writing(lock);
      return;
    }
    if (self.volume_.layout().is_data_block(advice)) {
      self.start_verifying(lock, advice);
      return;
    }
    self.volume_.counters().dedupe_advice_stale.add();
    lock->stale_advice = true;
  } else if (r.type == index::RequestType::kQuery) {
    lock->stale_advice = true;  // nothing was inserted: update once we have written
  }
  self.start_writing(lock);
}

void HashZone::start_verifying(HashLock* lock, Pbn advice) {
  lock->state = HashLock::State::kVerifying;
  DataVio* agent = lock->agent;
  agent->new_mapping = Mapping{advice, MappingState::kMapped};
  agent->is_duplicate = false;  // untrusted: the claim must find a live, settled block
  volume_.launch(physical_thread_of(agent, advice), &PhysicalZone::claim, agent);
}

void HashZone::claim_done(void* arg) {
  auto* dv = static_cast<DataVio*>(arg);
  HashZone& self = of(dv);
  self.assert_owner(__func__);
  HashLock* lock = dv->hash_lock;
  if (lock && lock->state == HashLock::State::kVerifying && dv == lock->agent) {
    if (!dv->holds_claim) {  // the advised block is free, busy or full: treat as stale
      self.volume_.counters().dedupe_advice_stale.add();
      lock->stale_advice = true;
      self.start_writing(lock);
      return;
    }
    if (dv->claim_proven) {
      // The advice proves the block still holds this content: share it without reading.
      self.volume_.counters().dedupe_verify_skipped.add();
      self.volume_.counters().dedupe_advice_valid.add();
      dv->is_duplicate = true;
      self.start_sharing(lock, dv->new_mapping.pbn);
      self.to_journal(dv);
      return;
    }
    self.volume_.counters().dedupe_verify_reads.add();
    self.volume_.submit_data_io(dv, IoKind::kRead, dv->new_mapping.pbn, dv->scratch.data(),
                                self.owner_, &HashZone::verify_read_done);
    return;
  }
  // A member sharing the lock's block.
  if (dv->holds_claim) {
    self.to_journal(dv);
    return;
  }
  if (!lock) {  // no lock (should not happen for members): write a private copy
    self.write_own_copy(dv);
    return;
  }
  if (lock->state == HashLock::State::kSharing && dv->new_mapping.pbn != lock->result) {
    self.share(dv);  // the lock rolled over to a new copy meanwhile: claim that one
    return;
  }
  if (lock->state != HashLock::State::kSharing) {  // a rollover copy is being written: wait for it
    lock->add_waiter(dv);
    return;
  }
  // The shared block reached 254 references: roll over. This member writes a new copy that the
  // lock shares from now on (and the index learns about).
  self.volume_.counters().reference_overflow_copies.add();
  if (!dv->has_allocation) {
    dv->result = errc::no_space;
    LogicalZone::launch_abort_write(dv);
    return;
  }
  lock->agent = dv;
  lock->stale_advice = true;
  lock->state = HashLock::State::kWriting;
  dv->is_duplicate = false;
  dv->new_mapping = Mapping{dv->allocation, MappingState::kMapped};
  self.volume_.submit_data_io(dv, IoKind::kWrite, dv->allocation, dv->data.data(), self.owner_,
                              &HashZone::data_written);
}

void HashZone::verify_read_done(DataVio* dv) {
  HashZone& self = of(dv);
  self.assert_owner(__func__);
  HashLock* lock = dv->hash_lock;
  // A failed verify read only means this advice cannot be used: write the data instead.
  bool same = !dv->io.result && memcmp(dv->scratch.data(), dv->data.data(), kBlockSize) == 0;
  if (same) {
    self.volume_.counters().dedupe_advice_valid.add();
    dv->is_duplicate = true;
    // Give the index this mount's proof, so the next hit needs no read.
    if (dv->claimed_generation != 0 && !lock->index_busy)
      self.send_update(lock, dv->new_mapping.pbn, dv->claimed_generation);
    self.start_sharing(lock, dv->new_mapping.pbn);
    self.to_journal(dv);  // the agent already holds its claim
    return;
  }
  self.volume_.counters().dedupe_advice_stale.add();
  lock->stale_advice = true;
  self.volume_.launch(physical_thread_of(dv, dv->new_mapping.pbn), &PhysicalZone::release_claim,
                      dv);
}

void HashZone::claim_released(void* arg) {
  auto* dv = static_cast<DataVio*>(arg);
  HashZone& self = of(dv);
  self.assert_owner(__func__);
  if (dv->result) {  // cleanup path
    leave(dv);
    return;
  }
  self.start_writing(dv->hash_lock);
}

void HashZone::start_writing(HashLock* lock) {
  lock->state = HashLock::State::kWriting;
  DataVio* agent = lock->agent;
  if (!agent->has_allocation) {
    // Hand the agent role to a waiter that has an allocation, if any.
    DataVio* prev = nullptr;
    for (DataVio* w = lock->waiters; w; prev = w, w = w->hash_next) {
      if (!w->has_allocation) continue;
      if (prev)
        prev->hash_next = w->hash_next;
      else
        lock->waiters = w->hash_next;
      if (lock->waiters_tail == w) lock->waiters_tail = prev;
      // The old agent waits like everyone else.
      agent->hash_next = lock->waiters;
      lock->waiters = agent;
      if (!lock->waiters_tail) lock->waiters_tail = agent;
      lock->agent = agent = w;
      break;
    }
    if (!agent->has_allocation) {
      fail_lock(lock, errc::no_space);
      return;
    }
  }
  agent->new_mapping = Mapping{agent->allocation, MappingState::kMapped};
  volume_.submit_data_io(agent, IoKind::kWrite, agent->allocation, agent->data.data(), owner_,
                         &HashZone::data_written);
}

void HashZone::data_written(DataVio* dv) {
  HashZone& self = of(dv);
  self.assert_owner(__func__);
  HashLock* lock = dv->hash_lock;
  if (dv->io.result) {
    dv->volume->enter_read_only(dv->io.result);
    self.fail_lock(lock, dv->io.result);
    return;
  }
  if (lock->stale_advice && !lock->index_busy)
    self.send_update(lock, dv->allocation, dv->allocation_generation);
  self.start_sharing(lock, dv->allocation);
  self.to_journal(dv);
}

void HashZone::send_update(HashLock* lock, Pbn pbn, uint32_t generation) {
  index::Request& r = lock->request;
  r = index::Request{};
  r.type = index::RequestType::kUpdate;
  r.name = record_name_of(lock->name);
  r.new_advice = index::Advice{raw(pbn), generation, volume_.epoch()};
  r.callback = &HashZone::index_updated;
  r.context = lock;
  lock->index_busy = true;
  volume_.index()->submit(&r);
}

void HashZone::tick(void* arg) {
  auto* self = static_cast<HashZone*>(arg);
  self->assert_owner(__func__);
  const auto limit = std::chrono::milliseconds(self->volume_.options().dedupe_timeout_ms);
  const auto now = std::chrono::steady_clock::now();
  std::vector<HashLock*> late;
  for (auto& [name, lock] : self->locks_)
    if (lock->state == HashLock::State::kQuerying && lock->index_busy && !lock->timed_out &&
        now - lock->query_started > limit)
      late.push_back(lock);
  for (HashLock* lock : late) {
    lock->timed_out = true;
    self->volume_.counters().dedupe_advice_timeouts.add();
    self->start_writing(lock);  // without dedupe; the late answer is ignored when it comes
  }
}

void HashZone::index_updated(index::Request* r) {
  auto* lock = static_cast<HashLock*>(r->context);
  lock->zone->volume_.threads().enqueue(lock->zone->owner_, &HashZone::finish_updating, lock);
}

void HashZone::finish_updating(void* arg) {
  auto* lock = static_cast<HashLock*>(arg);
  HashZone& self = *lock->zone;
  self.assert_owner(__func__);
  lock->index_busy = false;
  self.maybe_destroy(lock);
}

void HashZone::start_sharing(HashLock* lock, Pbn pbn) {
  lock->state = HashLock::State::kSharing;
  lock->result = pbn;
  DataVio* w = lock->waiters;
  lock->waiters = lock->waiters_tail = nullptr;
  while (w) {
    DataVio* next = w->hash_next;
    w->hash_next = nullptr;
    share(w);
    w = next;
  }
}

void HashZone::share(DataVio* dv) {
  HashLock* lock = dv->hash_lock;
  dv->new_mapping = Mapping{lock->result, MappingState::kMapped};
  dv->is_duplicate = true;  // same content as the lock's block: may claim it while provisional
  volume_.launch(physical_thread_of(dv, lock->result), &PhysicalZone::claim, dv);
}

void HashZone::write_own_copy(DataVio* dv) {
  if (!dv->has_allocation) {
    dv->result = errc::no_space;
    LogicalZone::launch_abort_write(dv);
    return;
  }
  dv->is_duplicate = false;
  dv->new_mapping = Mapping{dv->allocation, MappingState::kMapped};
  volume_.submit_data_io(dv, IoKind::kWrite, dv->allocation, dv->data.data(), owner_,
                         [](DataVio* d) {
                           if (d->io.result) {
                             d->result = d->io.result;
                             d->volume->enter_read_only(d->io.result);
                             LogicalZone::launch_abort_write(d);
                             return;
                           }
                           RecoveryJournal::launch_add(d);
                         });
}

void HashZone::to_journal(DataVio* dv) {
  if (dv->has_allocation && dv->allocation != dv->new_mapping.pbn) {
    // Deduplicated: give the unused allocation back first (it then goes on to the journal).
    volume_.launch(physical_thread_of(dv, dv->allocation), &PhysicalZone::release_allocation, dv);
    return;
  }
  RecoveryJournal::launch_add(dv);
}

void HashZone::fail_lock(HashLock* lock, std::error_code ec) {
  lock->state = HashLock::State::kFailed;
  // Detach everything first: the last member to leave frees the lock (possibly inline, below).
  DataVio* agent = lock->agent;
  DataVio* w = lock->waiters;
  lock->waiters = lock->waiters_tail = nullptr;
  agent->result = ec;
  LogicalZone::launch_abort_write(agent);
  while (w) {
    DataVio* next = w->hash_next;
    w->result = ec;
    LogicalZone::launch_abort_write(w);
    w = next;
  }
}

void HashZone::leave(void* arg) {
  auto* dv = static_cast<DataVio*>(arg);
  HashZone& self = of(dv);
  self.assert_owner(__func__);
  if (dv->holds_claim) {
    if (!dv->result) dv->result = errc::io_error;
    self.volume_.launch(physical_thread_of(dv, dv->new_mapping.pbn), &PhysicalZone::release_claim,
                        dv);
    return;
  }
  if (dv->has_allocation) {
    if (!dv->result) dv->result = errc::io_error;
    self.volume_.launch(physical_thread_of(dv, dv->allocation), &PhysicalZone::release_allocation,
                        dv);
    return;
  }
  if (HashLock* lock = dv->hash_lock) {
    dv->hash_lock = nullptr;
    VDOFS_CHECK(lock->members > 0);
    --lock->members;
    self.maybe_destroy(lock);
  }
  self.volume_.release_data_vio(dv);
}

void HashZone::maybe_destroy(HashLock* lock) {
  if (lock->members > 0 || lock->index_busy) return;
  locks_.erase(lock->name);
  delete lock;
}

}  // namespace vdofs::engine
