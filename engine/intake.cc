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

void Volume::submit_write(UserRequest* r, uint64_t offset, const std::byte* data, size_t len,
                          bool fua) {
  counters_.bios_in_write.add();
  if (fua) counters_.bios_in_fua.add();
  if (is_read_only()) {
    counters_.read_only_errors.add();
    r->block_done(errc::read_only);
    return;
  }
  if (offset > logical_bytes() || len > logical_bytes() - offset) {
    r->block_done(errc::out_of_range);
    return;
  }
  for_each_block(offset, len, [&](Span s, uint64_t at) {
    DataVio* dv = pool_->acquire();
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
    } else {
      counters_.bios_in_partial_write.add();
      memcpy(dv->data.data() + s.offset, data + at, s.length);
    }
    // To the logical zone first, in submission order: the LBN lock orders writes to one block
    // as they were issued; hashing happens after it (LogicalZone::launch_hash).
    LogicalZone::launch_start(dv);
  });
  r->block_done({});
}

void Volume::submit_read(UserRequest* r, uint64_t offset, std::byte* out, size_t len) {
  counters_.bios_in_read.add();
  if (offset > logical_bytes() || len > logical_bytes() - offset) {
    r->block_done(errc::out_of_range);
    return;
  }
  for_each_block(offset, len, [&](Span s, uint64_t at) {
    DataVio* dv = pool_->acquire();
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
  counters_.bios_in_discard.add();
  if (is_read_only()) {
    counters_.read_only_errors.add();
    r->block_done(errc::read_only);
    return;
  }
  if (offset > logical_bytes() || len > logical_bytes() - offset) {
    r->block_done(errc::out_of_range);
    return;
  }
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
    DataVio* dv = pool_->acquire();
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
          DataVio* dv = pool_->acquire();
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
