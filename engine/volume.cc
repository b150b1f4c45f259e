#include "engine/volume.h"

#include <pthread.h>

#include <algorithm>
#include <cstring>
#include <future>

#include "engine/base/assert.h"
#include "engine/base/log.h"
#include "engine/base/sync_point.h"
#include "engine/hash_zone.h"
#include "engine/logical_zone.h"
#include "engine/physical_zone.h"
#include "engine/recovery_journal.h"
#include "engine/repair.h"
#include "engine/slab_depot.h"

namespace vdofs::engine {

Result<VolumeHeader> read_volume_header(io::BlockDevice& device) {
  if (device.block_count() < 3) return errc::bad_magic;
  std::vector<std::byte> buf(3 * kBlockSize);
  VDOFS_TRY(device.read(0, buf));
  VDOFS_ASSIGN(format::Geometry g, format::decode_geometry(std::span<const std::byte, kBlockSize>(
                                       buf.data(), kBlockSize)));
  const format::Region& sr = g.region(format::RegionId::kSuperBlock);
  if (sr.start != 1 || sr.blocks != 2) return errc::corrupt_metadata;
  auto chosen = format::choose_super_block(
      std::span<const std::byte, kBlockSize>(buf.data() + kBlockSize, kBlockSize),
      std::span<const std::byte, kBlockSize>(buf.data() + 2 * kBlockSize, kBlockSize), g.nonce);
  if (!chosen) {
    // The geometry is valid, so a missing or unreadable super block is corruption.
    return chosen.error() == make_error_code(errc::bad_nonce)
               ? chosen.error()
               : make_error_code(errc::checksum_mismatch);
  }
  format::SuperBlock sb = *chosen;
  if (g.physical_blocks > device.block_count()) {
    log::error("%s: the volume needs %llu blocks but the backing store has %llu",
               device.name().c_str(), static_cast<unsigned long long>(g.physical_blocks),
               static_cast<unsigned long long>(device.block_count()));
    return errc::too_small;
  }
  return VolumeHeader{std::move(g), sb};
}

Volume::Volume(io::BlockDevice& device, const VolumeOptions& options)
    : device_(device), options_(options) {}

Volume::~Volume() {
  stop_ticker();
  // Without close() (a simulated crash, or a failed open): let in-flight work finish against
  // whatever state the device is in, then stop. Nothing more is written on purpose.
  if (threads_ && threads_->started()) {
    auto idle = [](void* a) { return static_cast<Volume*>(a)->cpu_->in_flight() == 0; };
    threads_->drain(idle, this);
    if (index_) index_->stop();
    threads_->drain(idle, this);
  } else if (index_) {
    index_->stop();
  }
  if (threads_) threads_->stop();
}

Result<std::unique_ptr<Volume>> Volume::open(io::BlockDevice& device,
                                             const VolumeOptions& options) {
  std::string bad = options.threads.validate();
  if (!bad.empty()) {
    log::error("%s", bad.c_str());
    return errc::invalid_argument;
  }
  std::unique_ptr<Volume> v(new Volume(device, options));
  VDOFS_TRY(v->load());
  return v;
}

Result<void> Volume::load() {
  VDOFS_ASSIGN(VolumeHeader header, read_volume_header(device_));
  geometry_ = std::move(header.geometry);
  super_ = header.super;
  layout_ = std::make_unique<format::Layout>(geometry_);
  threads::ThreadCounts counts = options_.threads;
  if (counts.physical > layout_->slab_count()) {
    log::warning("%s: %u physical zones requested but the volume has %llu slabs; using %llu",
                 device_.name().c_str(), counts.physical,
                 static_cast<unsigned long long>(layout_->slab_count()),
                 static_cast<unsigned long long>(layout_->slab_count()));
    counts.physical = static_cast<uint32_t>(layout_->slab_count());
  }
  options_.threads = counts;
  routing_ = Routing{counts.logical, counts.physical, counts.hash, counts.io};
  threads_ = std::make_unique<threads::ThreadConfig>(counts);
  bio_queue_of_thread_.assign(threads_->thread_count(), -1);
  bio_queues_.reserve(counts.io);
  for (uint32_t i = 0; i < counts.io; ++i) {
    uint32_t t = threads_->io(i);
    if (bio_queue_of_thread_[t] >= 0) continue;
    bio_queue_of_thread_[t] = static_cast<int32_t>(bio_queues_.size());
    bio_queues_.push_back(BioQueue{this, {}, {}, false});
  }
  cpu_ = std::make_unique<threads::CpuPool>(counts.cpu);
  pool_ = std::make_unique<DataVioPool>(options_.max_in_flight, this);

  threads::ScopedSetupPhase setup;
  const bool dirty = super_.state == format::VolumeState::kDirty;
  depot_ = std::make_unique<SlabDepot>(*layout_);
  uint64_t invalid = 0;
  VDOFS_TRY(depot_->load(device_, geometry_.nonce, true, &invalid));
  if (super_.state == format::VolumeState::kForceRebuild) {
    log::error(
        "%s: the volume is marked for a reference-count rebuild; run vdofs-check --repair; "
        "serving it read-only until then",
        device_.name().c_str());
    super_.state = format::VolumeState::kReadOnly;
  }
  if (super_.state == format::VolumeState::kReadOnly) {
    log::warning("%s: the volume is in read-only mode (an earlier error); writes will fail",
                 device_.name().c_str());
    read_only_.store(true);
    read_only_error_ = make_error_code(errc::read_only);
  }
  if (options_.read_only) {
    read_only_.store(true);  // an operator's read-only mount: nothing is persisted about it
    read_only_error_ = make_error_code(errc::read_only);
  }
  if (invalid > 0) {
    log::error("%s: %llu reference-count sectors are invalid; entering read-only mode",
               device_.name().c_str(), static_cast<unsigned long long>(invalid));
    read_only_.store(true);
    read_only_error_ = make_error_code(errc::checksum_mismatch);
  }
  for (uint32_t z = 0; z < counts.logical; ++z)
    logical_zones_.push_back(std::make_unique<LogicalZone>(
        *this, z, threads_->logical(z), options_.block_map_cache_pages / counts.logical));
  for (uint32_t z = 0; z < counts.physical; ++z)
    physical_zones_.push_back(std::make_unique<PhysicalZone>(*this, z, threads_->physical(z)));
  for (uint64_t s = 0; s < depot_->slab_count(); ++s)
    physical_zones_[routing_.physical_zone_of_slab(s)]->add_slab(&depot_->slab(s));
  for (uint32_t z = 0; z < counts.hash; ++z)
    hash_zones_.push_back(std::make_unique<HashZone>(*this, z, threads_->hash(z)));
  for (auto& lz : logical_zones_) {
    auto r = lz->block_map().load_tree(dirty || super_.state == format::VolumeState::kReadOnly);
    if (!r) {
      log::error("%s: cannot load the block map: %s", device_.name().c_str(),
                 r.error().message().c_str());
      return r.error();
    }
  }

  dirty_at_open_ = dirty;
  recoveries_seen_.store(super_.complete_recoveries);
  if (dirty && !read_only_.load() && !options_.read_only && !options_.rebuild_block_map)
    recovering_.store(true);
  if (options_.defer_recovery) return ok();
  return recover();
}

Result<void> Volume::recover() {
  recover_started_.store(true);
  threads::ScopedSetupPhase setup;
  const bool dirty = dirty_at_open_;
  const threads::ThreadCounts counts = options_.threads;
  auto failed = [this](std::error_code ec) -> Result<void> {
    // A volume that cannot finish opening serves nothing: I/O fails instead of waiting forever.
    read_only_error_ = ec;
    read_only_error_set_.store(true);
    read_only_.store(true);
    recovering_.store(false);
    ready_.store(true, std::memory_order_release);
    ready_.notify_all();
    return ec;
  };
  uint64_t next_seq = super_.journal_start;
  uint64_t lbu = super_.logical_blocks_used;
  const bool has_journal = dirty || super_.state == format::VolumeState::kReadOnly;
  if (options_.rebuild_block_map) {
    auto rb = replay_journal(*this, super_, ReplayOptions{false, true});
    if (!rb) return failed(rb.error());
    RecoveryResult rr = *rb;
    log::info("%s: replayed %llu journal entries into the block map", device_.name().c_str(),
              static_cast<unsigned long long>(rr.entries));
    return ok();
  }
  if (has_journal && (read_only_.load() || options_.read_only)) {
    // Read-only: replay the journal into the in-memory block map only, so reads see every
    // committed write; nothing is written.
    auto rr = replay_journal(*this, super_, ReplayOptions{false, false});
    if (rr) {
      lbu = rr->logical_blocks_used;
      next_seq = rr->next_sequence;
    } else {
      log::error("%s: the recovery journal cannot be replayed (%s); recent writes may be missing",
                 device_.name().c_str(), rr.error().message().c_str());
    }
  } else if (dirty) {
    recovering_.store(true);
    log::info("%s: the volume was not shut down cleanly; replaying the recovery journal",
              device_.name().c_str());
    auto replayed = replay_journal(*this, super_);
    if (!replayed) {
      log::error("%s: recovery failed: %s", device_.name().c_str(),
                 replayed.error().message().c_str());
      return failed(replayed.error());
    }
    RecoveryResult rr = *replayed;
    next_seq = rr.next_sequence;
    lbu = rr.logical_blocks_used;
    ++super_.complete_recoveries;
    recoveries_seen_.store(super_.complete_recoveries);
    log::info("%s: recovery complete: %llu journal entries in %llu blocks replayed in %.2f s",
              device_.name().c_str(), static_cast<unsigned long long>(rr.entries),
              static_cast<unsigned long long>(rr.blocks), rr.seconds);
  } else {
    for (auto& lz : logical_zones_) {
      if (lz->block_map().invalid_pages() > 0) {
        log::error("%s: block-map pages are invalid", device_.name().c_str());
        return failed(errc::checksum_mismatch);
      }
    }
  }
  uint64_t tree_pages = 0;
  for (auto& lz : logical_zones_) tree_pages += lz->block_map().count_tree_pages();
  counters_.tree_pages.set(tree_pages);
  for (auto& pz : physical_zones_) pz->recount();
  if (options_.verify_by_generation)
    for (uint64_t sl = 0; sl < depot_->slab_count(); ++sl)
      depot_->slab(sl).generations.assign(depot_->slab(sl).data_blocks, 0);

  const bool writable = !read_only_.load() && !options_.read_only;
  const bool clean_before = super_.state == format::VolumeState::kClean;
  if (writable) {
    super_.journal_start = next_seq;
    super_.logical_blocks_used = lbu;
    super_.mount_epoch += format::kEpochsPerMount;  // persisted before any advice uses it
    if (auto w = write_super_block(format::VolumeState::kDirty); !w) return failed(w.error());
  }
  epoch_ = static_cast<uint32_t>(super_.mount_epoch);
  journal_ = std::make_unique<RecoveryJournal>(*this, threads_->journal(), next_seq, lbu);

  if (options_.dedupe && !options_.read_only && !read_only_.load()) {
    index::IndexRegion region{&device_, layout_->index_start(), layout_->index_blocks(),
                              geometry_.nonce};
    index::IndexConfig icfg{geometry_.index_memory, geometry_.sparse_index, counts.index, 1000};
    auto idx = index::open_index(region, icfg, clean_before);
    if (!idx) {
      log::warning("%s: the dedupe index cannot be opened (%s); continuing without dedupe",
                   device_.name().c_str(), idx.error().message().c_str());
    } else {
      index_ = std::move(*idx);
      if (options_.index_decorator) index_ = options_.index_decorator(std::move(index_));
    }
  }
  recovering_.store(false);
  ready_.store(true, std::memory_order_release);
  ready_.notify_all();
  if (!options_.defer_start) start();
  return ok();
}

void Volume::wait_until_ready() const {
  while (!ready_.load(std::memory_order_acquire)) ready_.wait(false);
}

void Volume::start() {
  if (threads_->started()) return;
  threads_->start();
  if (index_) index_->start();
  if (index_) ticker_ = std::thread([this] { run_ticker(); });
}

void Volume::run_ticker() {
  pthread_setname_np(pthread_self(), "tickQ");
  std::unique_lock lock(ticker_mu_);
  while (
      !ticker_cv_.wait_for(lock, std::chrono::milliseconds(100), [this] { return ticker_stop_; })) {
    for (uint32_t z = 0; z < hash_zones_.size(); ++z)
      threads_->enqueue(threads_->hash(z), &HashZone::tick, hash_zones_[z].get());
  }
}

void Volume::stop_ticker() {
  if (!ticker_.joinable()) return;
  {
    std::lock_guard lock(ticker_mu_);
    ticker_stop_ = true;
  }
  ticker_cv_.notify_all();
  ticker_.join();
}

Result<void> Volume::write_super_block(format::VolumeState state) {
  super_.state = state;
  super_.generation += 1;
  std::vector<std::byte> buf(kBlockSize);
  format::encode_super_block(super_, std::span<std::byte, kBlockSize>(buf.data(), kBlockSize));
  uint64_t copy = 1 + (super_.generation % format::kSuperBlockCopies);
  VDOFS_TRY(device_.write(copy, buf));
  return device_.flush();
}

Result<void> Volume::close() {
  if (closed_.exchange(true)) return ok();
  // Opened with defer_recovery and never recovered: nothing was written; leave it as it is.
  if (!recover_started_.load()) return ok();
  wait_until_ready();
  start();  // a volume opened with defer_start and never started still closes cleanly
  pool_->wait_idle();
  const bool writable = !options_.read_only;
  if (writable && !read_only_.load()) {
    std::promise<void> done;
    journal_->request_full_checkpoint(
        [](void* p) { static_cast<std::promise<void>*>(p)->set_value(); }, &done);
    done.get_future().wait();
  }
  stop_ticker();
  auto idle = [](void* a) { return static_cast<Volume*>(a)->cpu_->in_flight() == 0; };
  threads_->drain(idle, this);
  if (index_) index_->stop();
  threads_->drain(idle, this);
  threads_->stop();
  if (!writable) return ok();
  threads::ScopedSetupPhase setup;
  if (read_only_.load()) {
    auto r = write_super_block(format::VolumeState::kReadOnly);
    return r ? Result<void>(read_only_reason()) : r;
  }
  if (index_) {
    auto r = index_->save();
    if (!r)
      log::warning("%s: saving the dedupe index failed: %s", device_.name().c_str(),
                   r.error().message().c_str());
  }
  super_.journal_start = journal_->next_sequence();
  super_.logical_blocks_used = journal_->logical_blocks_used();
  return write_super_block(format::VolumeState::kClean);
}

std::error_code Volume::read_only_reason() const {
  return read_only_error_set_.load(std::memory_order_acquire) || read_only_.load()
             ? (read_only_error_ ? read_only_error_ : make_error_code(errc::read_only))
             : std::error_code();
}

void Volume::enter_read_only(std::error_code why) {
  if (read_only_error_set_.exchange(true)) return;
  read_only_error_ = why;
  read_only_.store(true, std::memory_order_release);
  log::error("%s: entering read-only mode: %s", device_.name().c_str(), why.message().c_str());
  if (options_.read_only) return;
  // Persist the state from a bio thread (a zone thread must not block on I/O).
  struct Msg {
    Volume* v;
  };
  threads_->enqueue(
      threads_->io(0), [](void* a) { static_cast<Volume*>(a)->persist_read_only(); }, this);
}

void Volume::persist_read_only() {
  format::SuperBlock sb = super_;
  sb.state = format::VolumeState::kReadOnly;
  sb.generation = super_.generation + 1;
  std::vector<std::byte> buf(kBlockSize);
  format::encode_super_block(sb, std::span<std::byte, kBlockSize>(buf.data(), kBlockSize));
  if (device_.write(1 + (sb.generation % format::kSuperBlockCopies), buf) && device_.flush())
    super_.generation = sb.generation;
}

void Volume::quiesce() {
  pool_->wait_idle();
  for (int pass = 0; pass < 2; ++pass) threads_->barrier();
}

uint64_t Volume::logical_blocks_used() const {
  if (!ready()) return 0;  // recovering: not known yet
  return journal_ ? journal_->logical_blocks_used() : super_.logical_blocks_used;
}

uint64_t Volume::free_data_blocks() const {
  if (!ready()) return 0;
  uint64_t f = 0;
  for (auto& pz : physical_zones_) f += pz->free_blocks();
  return f;
}

void Volume::complete_flush(UserRequest* r) {
  // A write this flush covers may have failed after its early acknowledgement (a failed journal
  // commit puts the volume read-only first): then the flush cannot promise anything.
  if (is_read_only()) {
    r->block_done(errc::io_error);
    return;
  }
  if (index_ && !closed_.load(std::memory_order_relaxed)) {
    index_->sync([](void* a) { static_cast<UserRequest*>(a)->block_done({}); }, r);
    return;
  }
  r->block_done({});
}

void Volume::acknowledge(DataVio* dv) {
  if (dv->acked) return;
  dv->acked = true;
  dv->request->block_done(dv->result);
}

void Volume::release_data_vio(DataVio* dv) { pool_->release(dv); }

void Volume::submit_io(IoRequest* req) {
  req->volume = this;
  req->result = {};
  uint32_t t;
  if (req->kind == IoKind::kRead || req->kind == IoKind::kWrite) {
    t = threads_->io(routing_.io_thread_of(req->block));
  } else {
    t = threads_->io(io_rotor_.fetch_add(1, std::memory_order_relaxed) % routing_.io_threads);
  }
  threads_->enqueue(t, &Volume::run_io, req);
}

void Volume::run_io(void* arg) {
  auto* req = static_cast<IoRequest*>(arg);
  Volume* v = req->volume;
  if ((req->kind == IoKind::kWrite || req->kind == IoKind::kRead) && req->is_data) {
    int32_t q = v->bio_queue_of_thread_[threads::current_thread()];
    BioQueue& bq = v->bio_queues_[static_cast<size_t>(q)];
    (req->kind == IoKind::kWrite ? bq.writes : bq.reads).push_back(req);
    if (!bq.flush_scheduled) {
      bq.flush_scheduled = true;  // behind everything queued to this thread now
      v->threads_->enqueue(threads::current_thread(), &Volume::flush_data_writes, &bq);
    }
    return;
  }
  v->perform_io(req);
  v->threads_->launch(req->reply_thread, req->callback, req->arg);
  // Do not hold a completion behind the next (possibly slow) I/O.
  if (threads::Outbox* o = threads::Outbox::current()) o->flush();
}

void Volume::flush_data_writes(void* arg) {
  auto* bq = static_cast<BioQueue*>(arg);
  Volume* v = bq->volume;
  bq->flush_scheduled = false;
  std::vector<IoRequest*> reads;
  reads.swap(bq->reads);
  std::sort(reads.begin(), reads.end(),
            [](IoRequest* a, IoRequest* b) { return a->block < b->block; });
  std::vector<std::span<std::byte>> rbufs;
  // Scattered blocks (deduplicated or rewritten data): start all of them first, so the device
  // works on them together instead of one synchronous read after another.
  if (reads.size() > 1 && reads.back()->block - reads.front()->block + 1 != reads.size()) {
    for (size_t i = 0; i < reads.size();) {
      size_t j = i + 1;
      while (j < reads.size() && reads[j]->block == reads[j - 1]->block + 1) ++j;
      v->device_.will_read(reads[i]->block, reads[j - 1]->block - reads[i]->block + 1);
      i = j;
    }
  }
  for (size_t i = 0; i < reads.size();) {
    size_t j = i;
    rbufs.clear();
    uint64_t next = reads[i]->block;
    while (j < reads.size() && reads[j]->block == next) {
      rbufs.emplace_back(reads[j]->buffer, reads[j]->blocks * kBlockSize);
      next += reads[j]->blocks;
      ++j;
    }
    auto r = v->device_.readv(reads[i]->block, rbufs);
    for (size_t k = i; k < j; ++k) reads[k]->result = r ? std::error_code() : r.error();
    i = j;
  }
  for (IoRequest* req : reads) v->threads_->launch(req->reply_thread, req->callback, req->arg);
  std::vector<IoRequest*> writes;
  writes.swap(bq->writes);
  std::sort(writes.begin(), writes.end(),
            [](IoRequest* a, IoRequest* b) { return a->block < b->block; });
  std::vector<std::span<const std::byte>> bufs;
  size_t i = 0;
  while (i < writes.size()) {
    size_t j = i;
    bufs.clear();
    uint64_t next = writes[i]->block;
    while (j < writes.size() && writes[j]->block == next) {
      bufs.emplace_back(writes[j]->buffer, writes[j]->blocks * kBlockSize);
      next += writes[j]->blocks;
      ++j;
    }
    auto r = v->device_.writev(writes[i]->block, bufs);
    for (size_t k = i; k < j; ++k) writes[k]->result = r ? std::error_code() : r.error();
    if (r) v->data_writes_completed.fetch_add(j - i, std::memory_order_acq_rel);
    VDOFS_SYNC_POINT("io:data-written");
    i = j;
  }
  for (IoRequest* req : writes) v->threads_->launch(req->reply_thread, req->callback, req->arg);
  if (threads::Outbox* o = threads::Outbox::current()) o->flush();
}

void Volume::perform_io(IoRequest* req) {
  auto flush = [&]() -> Result<void> {
    uint64_t covered = data_writes_completed.load(std::memory_order_acquire);
    VDOFS_TRY(device_.flush());
    uint64_t prev = data_writes_flushed.load(std::memory_order_relaxed);
    while (prev < covered &&
           !data_writes_flushed.compare_exchange_weak(prev, covered, std::memory_order_acq_rel)) {
    }
    return ok();
  };
  auto run = [&]() -> Result<void> {
    switch (req->kind) {
      case IoKind::kRead:
        return device_.read(req->block,
                            std::span<std::byte>(req->buffer, req->blocks * kBlockSize));
      case IoKind::kWrite: {
        VDOFS_TRY(device_.write(req->block,
                                std::span<const std::byte>(req->buffer, req->blocks * kBlockSize)));
        if (req->is_data) data_writes_completed.fetch_add(1, std::memory_order_acq_rel);
        VDOFS_SYNC_POINT(req->is_data ? "io:data-written" : "io:written");
        return ok();
      }
      case IoKind::kFlush:
        return flush();
      case IoKind::kBatch: {
        if (req->preflush && data_writes_completed.load(std::memory_order_acquire) >
                                 data_writes_flushed.load(std::memory_order_acquire))
          VDOFS_TRY(flush());
        for (const WriteExtent& e : req->extents) {
          VDOFS_TRY(device_.write(e.block, std::span<const std::byte>(e.data, kBlockSize)));
          VDOFS_SYNC_POINT("io:batch-block-written");
        }
        if (req->postflush) VDOFS_TRY(flush());
        return ok();
      }
    }
    return errc::invalid_argument;
  };
  auto r = run();
  req->result = r ? std::error_code() : r.error();
}

void Volume::submit_data_io(DataVio* dv, IoKind kind, Pbn pbn, std::byte* buffer,
                            uint32_t reply_thread, void (*done)(DataVio*)) {
  IoRequest& io = dv->io;
  io.kind = kind;
  io.block = raw(pbn);
  io.blocks = 1;
  io.buffer = buffer;
  io.is_data = true;  // a data block: merged with its neighbours by the bio thread
  io.reply_thread = reply_thread;
  io.arg = dv;
  io.callback = [](void* a) {
    auto* d = static_cast<DataVio*>(a);
    d->io_done(d);
  };
  dv->io_done = done;
  if (kind == IoKind::kWrite) counters_.data_block_writes.add();
  submit_io(&io);
}

VolumeStats Volume::stats() const {
  VolumeStats s;
  s.name = geometry_.name;
  if (!ready()) {  // recovering: only what does not change underneath
    s.logical_blocks = super_.logical_blocks;
    s.physical_blocks = layout_->physical_blocks();
    s.data_capacity_blocks = layout_->data_capacity();
    s.overhead_blocks_used = layout_->overhead_blocks();
    s.slab_count = layout_->slab_count();
    s.slab_blocks = layout_->slab_blocks();
    s.operating_mode = "recovering";
    s.completed_recovery_count = recoveries_seen_.load();
    s.index_state = "offline";
    return s;
  }
  s.logical_blocks = super_.logical_blocks;
  s.physical_blocks = layout_->physical_blocks();
  s.data_capacity_blocks = layout_->data_capacity();
  s.logical_blocks_used = journal_ ? journal_->logical_blocks_used() : super_.logical_blocks_used;
  uint64_t used = 0;
  for (auto& pz : physical_zones_) used += pz->used_blocks();
  uint64_t tree = counters_.tree_pages.get();
  s.block_map_pages = tree;
  s.data_blocks_used = used > tree ? used - tree : 0;
  s.overhead_blocks_used = layout_->overhead_blocks() + tree;
  // VDO prints N/A in read-only mode (an error); an operator's read-only mount still shows it.
  if (s.logical_blocks_used > 0 && (!is_read_only() || options_.read_only)) {
    int64_t saved =
        static_cast<int64_t>(s.logical_blocks_used) - static_cast<int64_t>(s.data_blocks_used);
    s.saving_percent =
        saved <= 0 ? 0
                   : static_cast<int>(saved * 100 / static_cast<int64_t>(s.logical_blocks_used));
  }
  s.operating_mode = recovering_.load() ? "recovering" : is_read_only() ? "read-only" : "normal";
  if (options_.read_only && !read_only_error_set_.load())
    s.operating_mode = "read-only (mounted ro)";
  s.completed_recovery_count = recoveries_seen_.load();
  s.read_only_recovery_count = super_.read_only_recoveries;
  s.slab_count = layout_->slab_count();
  s.slab_blocks = layout_->slab_blocks();
  const VolumeCounters& c = counters_;
  s.dedupe_advice_valid = c.dedupe_advice_valid.get();
  s.dedupe_advice_stale = c.dedupe_advice_stale.get();
  s.dedupe_advice_timeouts = c.dedupe_advice_timeouts.get();
  s.dedupe_verify_reads = c.dedupe_verify_reads.get();
  s.dedupe_verify_skipped = c.dedupe_verify_skipped.get();
  s.concurrent_data_matches = c.concurrent_data_matches.get();
  s.bios_in_write = c.bios_in_write.get();
  s.bios_in_read = c.bios_in_read.get();
  s.bios_in_discard = c.bios_in_discard.get();
  s.bios_in_flush = c.bios_in_flush.get();
  s.bios_in_fua = c.bios_in_fua.get();
  s.bios_in_partial_write = c.bios_in_partial_write.get();
  s.recovery_journal_entries_committed = c.journal_entries_committed.get();
  s.recovery_journal_blocks_committed = c.journal_blocks_committed.get();
  s.journal_disk_full_count = c.journal_full_waits.get();
  s.checkpoints = c.checkpoints.get();
  if (index_) {
    index::IndexStats is = index_->stats();
    s.index_entries = is.entries;
    s.index_memory_bytes = is.memory_bytes;
    s.index_capacity = is.capacity;
    s.index_posts = is.posts;
    s.index_queries = is.queries;
    s.index_updates = is.updates;
    s.index_found = is.found;
    s.index_state = is.state;
    s.index_open_result = is.open_result;
    s.index_bypassed = is.bypassed;
    s.index_discarded = is.discarded;
    s.index_chapters_written = is.chapters_written;
    s.index_syncs = is.syncs;
    s.index_page_cache_hits = is.page_cache_hits;
    s.index_page_reads = is.page_reads;
    s.index_sparse_cache_hits = is.sparse_cache_hits;
    s.index_volume_index_bytes = is.volume_index_bytes;
    s.index_rebuilt_records = is.rebuilt_records;
  } else {
    s.index_state = "offline";
  }
  s.no_space_error_count = c.no_space_errors.get();
  s.read_only_error_count = c.read_only_errors.get();
  s.current_vios_in_progress = pool_->in_use();
  s.max_vios_in_progress = pool_->max_in_use();
  s.block_map_pages_loaded = c.block_map_pages_loaded.get();
  s.block_map_pages_written = c.block_map_pages_written.get();
  s.ref_blocks_written = c.ref_blocks_written.get();
  s.data_block_writes = c.data_block_writes.get();
  s.data_block_reads = c.data_block_reads.get();
  s.metadata_flushes = c.metadata_flushes.get();
  s.zero_blocks_written = c.zero_blocks_written.get();
  const threads::ThreadCounts& t = options_.threads;
  s.threads = "logical=" + std::to_string(t.logical) + " physical=" + std::to_string(t.physical) +
              " hash=" + std::to_string(t.hash) + " io=" + std::to_string(t.io) +
              " index=" + std::to_string(t.index) + " cpu=" + std::to_string(cpu_->concurrency());
  return s;
}

}  // namespace vdofs::engine
