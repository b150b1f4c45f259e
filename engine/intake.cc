// Intake: how a client request becomes DataVios (Volume::submit_*). Runs on the caller's thread
// (a FUSE worker): copies the data in, splits it into 4 KiB blocks and sends each to its logical
// zone in submission order (blocks when the DataVio pool is exhausted: backpressure). Hashing
// happens after the LBN lock is taken (and after the read-modify-write merge of partial blocks).
#include <cstring>
#include <memory>
#include <vector>

#include "engine/base/assert.h"
#include "engine/base/countdown.h"
#include "engine/logical_zone.h"
#include "engine/volume.h"

namespace vdofs::engine {

namespace {

constexpr size_t kHashChunk = 64;  // blocks hashed together before they move on

struct Span {
  uint64_t lbn;
  uint32_t offset;
  uint32_t length;
};

template <typename F>
void for_each_block(uint64_t offset, uint64_t len, F&& f) {
  uint64_t pos = offset;
  const uint64_t end = offset + len;
  while (pos < end) {
    uint64_t lbn = pos / kBlockSize;
    auto in = static_cast<uint32_t>(pos % kBlockSize);
    auto n = static_cast<uint32_t>(std::min<uint64_t>(kBlockSize - in, end - pos));
    f(Span{lbn, in, n}, pos - offset);
    pos += n;
  }
}

}  // namespace

bool Volume::rejected(UserRequest* r, uint64_t offset, uint64_t len, bool modifies) {
  if (modifies && is_read_only()) {
    counters_.read_only_errors.add();
    r->block_done(errc::read_only);
    return true;
  }
  if (offset > logical_bytes() || len > logical_bytes() - offset) {
    r->block_done(errc::out_of_range);
    return true;
  }
  return false;
}

DataVio* Volume::acquire_data_vio() {
  if (DataVio* dv = pool_->try_acquire()) return dv;
  // About to block for backpressure: first send what this thread holds, or it could wait for
  // DataVios that only its own outbox keeps from finishing.
  if (threads::Outbox* o = threads::Outbox::current()) o->flush();
  return pool_->acquire();
}

void Volume::submit_write(UserRequest* r, uint64_t offset, const std::byte* data, size_t len,
                          bool fua) {
  wait_until_ready();            // a volume still recovering holds I/O until it is done
  threads::ScopedOutbox outbox;  // the request's blocks reach their zones in a few batches
  counters_.bios_in_write.add();
  if (fua) counters_.bios_in_fua.add();
  if (rejected(r, offset, len, true)) return;
  // Full blocks are hashed here, a chunk at a time, in parallel on the CPU pool (this thread
  // joins in), then sent to their logical zones in submission order; the LBN lock keeps that
  // order for writes to the same block. Partial blocks are hashed after the read-modify-write
  // merge in their logical zone.
  struct Chunk {
    std::array<DataVio*, kHashChunk> dv;
    size_t n = 0;
    bool empty() const { return n == 0; }
    size_t size() const { return n; }
    void push_back(DataVio* d) { dv[n++] = d; }
    void clear() { n = 0; }
    DataVio* operator[](size_t i) const { return dv[i]; }
  } chunk;
  auto hash_one = [](void* ctx, size_t i) {
    static const std::array<std::byte, kBlockSize> zeros{};
    DataVio* dv = (*static_cast<const Chunk*>(ctx))[i];
    dv->is_zero = memcmp(dv->data.data(), zeros.data(), kBlockSize) == 0;
    if (!dv->is_zero) dv->name = sha256(dv->data);
    dv->hashed = true;
  };
  auto send_chunk = [&] {
    if (chunk.empty()) return;
    if (chunk.size() < 4) {
      // Too small to split: entering the arena would cost more than the hashing. Small requests
      // get their parallelism from the other FUSE threads hashing theirs at the same time.
      for (size_t i = 0; i < chunk.size(); ++i) hash_one(&chunk, i);
    } else {
      cpu_->parallel_for(chunk.size(), 4, hash_one, &chunk);
    }
    for (size_t i = 0; i < chunk.size(); ++i) LogicalZone::launch_start(chunk[i]);
    chunk.clear();
  };
  for_each_block(offset, len, [&](Span s, uint64_t at) {
    DataVio* dv = pool_->try_acquire();
    if (!dv) {
      send_chunk();  // never wait for the pool while holding DataVios of our own
      dv = acquire_data_vio();
    }
    dv->op = DataVio::Op::kWrite;
    dv->lbn = Lbn{s.lbn};
    dv->request = r;
    dv->fua = fua;
    dv->offset = s.offset;
    dv->length = s.length;
    r->add_pending();
    if (s.length == kBlockSize) {
      memcpy(dv->data.data(), data + at, kBlockSize);
      dv->data_ready = true;
      chunk.push_back(dv);
      if (chunk.size() == kHashChunk) send_chunk();
    } else {
      send_chunk();  // keep submission order
      counters_.bios_in_partial_write.add();
      memcpy(dv->data.data() + s.offset, data + at, s.length);
      LogicalZone::launch_start(dv);
    }
  });
  send_chunk();
  r->block_done({});
}

void Volume::submit_read(UserRequest* r, uint64_t offset, std::byte* out, size_t len) {
  wait_until_ready();  // a volume still recovering holds I/O until it is done
  threads::ScopedOutbox outbox;
  counters_.bios_in_read.add();
  if (rejected(r, offset, len, false)) return;
  for_each_block(offset, len, [&](Span s, uint64_t at) {
    DataVio* dv = acquire_data_vio();
    dv->op = DataVio::Op::kRead;
    dv->lbn = Lbn{s.lbn};
    dv->request = r;
    dv->offset = s.offset;
    dv->length = s.length;
    dv->read_out = out + at;
    r->add_pending();
    LogicalZone::launch_start(dv);
  });
  r->block_done({});
}

void Volume::submit_discard(UserRequest* r, uint64_t offset, uint64_t len) {
  wait_until_ready();  // a volume still recovering holds I/O until it is done
  counters_.bios_in_discard.add();
  if (rejected(r, offset, len, true)) return;
  // Partial blocks at either end are written with zeros.
  std::vector<std::pair<uint64_t, uint64_t>> whole;  // [first lbn, count)
  for_each_block(offset, len, [&](Span s, uint64_t) {
    if (s.length == kBlockSize) {
      if (!whole.empty() && whole.back().first + whole.back().second == s.lbn)
        ++whole.back().second;
      else
        whole.push_back({s.lbn, 1});
      return;
    }
    DataVio* dv = acquire_data_vio();
    dv->op = DataVio::Op::kWrite;
    dv->lbn = Lbn{s.lbn};
    dv->request = r;
    dv->fua = true;
    dv->offset = s.offset;
    dv->length = s.length;
    memset(dv->data.data(), 0, kBlockSize);
    r->add_pending();
    LogicalZone::launch_start(dv);
  });
  // Whole blocks: ask each leaf page's logical zone which LBNs are mapped (one message per 800
  // blocks), then discard only those, one DataVio each.
  constexpr size_t kProbesInFlight = 256;
  for (auto [first, count] : whole) {
    uint64_t lbn = first;
    const uint64_t end = first + count;
    while (lbn < end) {
      std::vector<std::unique_ptr<DiscardProbe>> probes;
      while (lbn < end && probes.size() < kProbesInFlight) {
        uint64_t page_end = (lbn / format::kEntriesPerPage + 1) * format::kEntriesPerPage;
        auto n = static_cast<uint32_t>(std::min(page_end, end) - lbn);
        auto p = std::make_unique<DiscardProbe>();
        p->volume = this;
        p->first_lbn = lbn;
        p->count = n;
        probes.push_back(std::move(p));
        lbn += n;
      }
      Countdown remaining(static_cast<uint32_t>(probes.size()));
      for (auto& p : probes) {
        p->remaining = remaining.share();
        threads_->enqueue(threads_->logical(routing_.logical_zone_of(Lbn{p->first_lbn})),
                          &LogicalZone::probe_discard, p.get());
      }
      remaining.wait();
      for (auto& p : probes) {
        for (uint32_t i = 0; i < p->count; ++i) {
          if (!p->needed[i]) continue;
          DataVio* dv = acquire_data_vio();
          dv->op = DataVio::Op::kDiscard;
          dv->lbn = Lbn{p->first_lbn + i};
          dv->request = r;
          dv->fua = true;
          memset(dv->data.data(), 0, kBlockSize);
          dv->data_ready = true;
          dv->is_zero = true;
          r->add_pending();
          LogicalZone::launch_start(dv);
        }
      }
    }
  }
  r->block_done({});
}

void Volume::submit_flush(UserRequest* r) {
  wait_until_ready();  // a volume still recovering holds I/O until it is done
  counters_.bios_in_flush.add();
  if (is_read_only()) {
    r->block_done(errc::io_error);
    return;
  }
  auto* f = new FlushRequest();
  f->request = r;
  const uint32_t zones = logical_zone_count();
  f->remaining.store(zones);
  f->args.resize(zones);
  for (uint32_t z = 0; z < zones; ++z) {
    f->args[z] = FlushRequest::ZoneArg{f, this, z};
    threads_->enqueue(threads_->logical(z), &LogicalZone::flush, &f->args[z]);
  }
  // f deletes itself when the last zone answers; r completes then.
}

}  // namespace vdofs::engine
