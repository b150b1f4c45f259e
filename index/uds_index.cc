// UdsIndex: threads, request routing, the chapter writer and sync (see uds_index.h for which
// thread runs what: indexQ<n> zones, indexR<n> readers, indexW writer). Opening, saving and
// rebuilding are in index_store.cc.
#include "index/uds_index.h"

#include <algorithm>
#include <cstring>

#include "engine/base/assert.h"
#include "engine/base/log.h"

namespace vdofs::index {

namespace {
constexpr threads::ThreadId kZoneThreadBase = 1000;
constexpr threads::ThreadId kWriterThread = 1100;
constexpr threads::ThreadId kReaderThreadBase = 1200;
constexpr uint32_t kReaderThreads = 2;
constexpr uint32_t kMaxDeferrals = 4;  // then read inline (a page evicted again before use)

size_t page_cache_pages(const Geometry& g) {
  // Two chapters' pages per partition: enough for each partition to follow one stream through a
  // chapter's index pages and record pages.
  const uint64_t pages = uint64_t{g.partitions} * 2 * g.chapter_blocks();
  return static_cast<size_t>(std::clamp<uint64_t>(pages, 256, 16384));
}
}  // namespace

UdsIndex::UdsIndex(const IndexRegion& region, const IndexConfig& config, const Geometry& g,
                   bool load_saved, bool superblock_ok, uint64_t salt)
    : region_(region),
      config_(config),
      g_(g),
      load_saved_(load_saved),
      superblock_ok_(superblock_ok),
      salt_(salt),
      stamp_(region.nonce ^ salt),
      cache_(region.device, region.start, region.nonce ^ salt, page_cache_pages(g)),
      writer_(kWriterThread, "indexW"),
      wstate_(g.partitions) {
  for (uint32_t p = 0; p < g_.partitions; ++p) {
    partitions_.push_back(std::make_unique<Partition>(*this, p, g_));
    wstate_[p].next_copy.assign(kCheckpointFrames * g_.record_pages, 0);
    static_bytes_ += partitions_.back()->static_bytes();
    volume_index_bytes_ += partitions_.back()->volume_index().memory_bytes();
  }
  const uint32_t zones =
      std::min(std::clamp<uint32_t>(config.zones, 1, kMaxPartitions), g_.partitions);
  zones_.resize(zones);
  for (uint32_t z = 0; z < zones; ++z) {
    zones_[z].thread =
        std::make_unique<threads::ZoneThread>(kZoneThreadBase + z, "indexQ" + std::to_string(z));
  }
  for (uint32_t p = 0; p < g_.partitions; ++p)
    zones_[p * zones / g_.partitions].partitions.push_back(p);
  for (uint32_t i = 0; i < kReaderThreads; ++i) {
    readers_.push_back(
        std::make_unique<threads::ZoneThread>(kReaderThreadBase + i, "indexR" + std::to_string(i)));
  }
  writer_scratch_.resize(g_.chapter_blocks() * kBlockSize);
  static_bytes_ += writer_scratch_.capacity() + sizeof(*this);
}

UdsIndex::~UdsIndex() { stop(); }

void UdsIndex::set_state(State s) {
  {
    std::lock_guard lock(state_mu_);
    state_.store(s, std::memory_order_release);
  }
  state_cv_.notify_all();
}

void UdsIndex::set_open_result(const std::string& s) {
  std::lock_guard lock(state_mu_);
  open_result_ = s;
}

void UdsIndex::set_error(const char* what, std::error_code ec) {
  log::error("%s: dedupe index: %s failed (%s); dedupe is off until the next open",
             region_.device->name().c_str(), what, describe(ec).c_str());
  set_state(State::kError);
}

void UdsIndex::start() {
  if (started_.exchange(true)) return;
  stopping_.store(false);
  no_deferral_.store(false);
  writer_.start();
  writer_running_.store(true);
  for (auto& r : readers_) r->start();
  readers_running_.store(true);
  for (auto& z : zones_) z.thread->start();
  zones_running_.store(true);
  if (saved_) {
    // Restarted after a save: the save stops being current as soon as anything changes.
    saved_ = false;
    if (auto r = write_state(kStateDirty, current_slot_, save_seq_); !r)
      set_error("marking the index dirty", r.error());
    return;
  }
  const State s = state_.load();
  if (s == State::kOffline || s == State::kLoading || s == State::kRebuilding) {
    // First start, or a restart after stop() interrupted the loader: (re)load from scratch.
    set_state(State::kLoading);
    loader_ = std::thread([this] { open_work(); });
    if (config_.online_wait_ms)
      wait_until_online(std::chrono::milliseconds(config_.online_wait_ms));
  }
}

void UdsIndex::stop() {
  if (!started_.load()) return;
  stopping_.store(true);
  if (loader_.joinable()) loader_.join();
  // Requests waiting for page reads come back to their zones and are answered there (inline
  // reads from now on), before the zones stop.
  no_deferral_.store(true);
  while (deferred_.load() > 0) std::this_thread::sleep_for(std::chrono::microseconds(100));
  {
    // No sync batch may start on a zone thread that is exiting.
    std::lock_guard lock(sync_mu_);
    for (auto& z : zones_) z.thread->stop();
    zones_running_.store(false);
  }
  for (auto& r : readers_) r->stop();
  readers_running_.store(false);
  writer_.stop();  // runs the chapter writes, checkpoints and sync flushes still queued
  writer_running_.store(false);
  for (auto& p : partitions_) {
    if (online()) p->reap_written();
  }
  started_.store(false);
}

void UdsIndex::submit(Request* request) {
  const uint32_t p = index_zone_of(request->name, g_.partitions);
  const uint32_t z = p * static_cast<uint32_t>(zones_.size()) / g_.partitions;
  zones_[z].thread->enqueue(threads::Work{&UdsIndex::on_request, new RequestMsg{this, request}});
}

void UdsIndex::on_request(void* arg) {
  auto* msg = static_cast<RequestMsg*>(arg);
  UdsIndex* self = msg->index;
  Request* r = msg->request;
  if (msg->attempts > 0) self->deferred_.fetch_sub(1);  // back from a reader
  if (!self->online()) {
    delete msg;
    // Loading, rebuilding or failed: answer at once, insert nothing (the write goes on without
    // dedupe).
    self->bypassed_.fetch_add(1, std::memory_order_relaxed);
    auto& c = r->type == RequestType::kPost    ? self->bypassed_posts_
              : r->type == RequestType::kQuery ? self->bypassed_queries_
                                               : self->bypassed_updates_;
    c.fetch_add(1, std::memory_order_relaxed);
    r->found = false;
    r->advice = Advice{};
    r->callback(r);
    return;
  }
  Partition& p = *self->partitions_[index_zone_of(r->name, self->g_.partitions)];
  if (p.process(r, msg->attempts < kMaxDeferrals && !self->no_deferral_.load())) {
    delete msg;
    return;
  }
  // The lookup needs a page that is not cached: a reader loads it, then the request comes back.
  // (Counted before no_deferral_ is checked, so stop() either waits for it or we read inline.)
  self->deferred_.fetch_add(1);
  if (self->no_deferral_.load()) {
    self->deferred_.fetch_sub(1);
    p.process(r, false);
    delete msg;
    return;
  }
  self->deferrals_.fetch_add(1, std::memory_order_relaxed);
  ++msg->attempts;
  msg->miss = p.last_miss();
  self->run_reader(msg->miss.block, &UdsIndex::on_read, msg);
}

void UdsIndex::on_read(void* arg) {
  auto* msg = static_cast<RequestMsg*>(arg);
  UdsIndex* self = msg->index;
  const uint32_t p = index_zone_of(msg->request->name, self->g_.partitions);
  const Partition::PageMiss& m = msg->miss;
  (void)self->cache_.get(m.block, m.kind, p, m.chapter, m.page);  // an invalid page: inline later
  const uint32_t z = p * static_cast<uint32_t>(self->zones_.size()) / self->g_.partitions;
  self->run_zone(z, &UdsIndex::on_request, msg);
}

void UdsIndex::run_reader(uint64_t block, void (*fn)(void*), void* arg) {
  if (readers_running_.load())
    readers_[block % readers_.size()]->enqueue(threads::Work{fn, arg});
  else
    fn(arg);
}

IndexStats UdsIndex::stats() const {
  IndexStats s;
  uint64_t dynamic = 0;
  for (auto& p : partitions_) {
    const PartitionCounters& c = p->counters;
    s.entries += c.entries.load(std::memory_order_relaxed);
    s.posts += c.posts.load(std::memory_order_relaxed);
    s.queries += c.queries.load(std::memory_order_relaxed);
    s.updates += c.updates.load(std::memory_order_relaxed);
    s.found += c.found.load(std::memory_order_relaxed);
    s.not_found += c.not_found.load(std::memory_order_relaxed);
    s.discarded += c.discarded.load(std::memory_order_relaxed);
    s.chapters_closed += c.chapters_closed.load(std::memory_order_relaxed);
    s.sparse_cache_hits += c.sparse_hits.load(std::memory_order_relaxed);
    dynamic += c.dynamic_bytes.load(std::memory_order_relaxed);
  }
  s.bypassed = bypassed_.load(std::memory_order_relaxed);
  s.posts += bypassed_posts_.load(std::memory_order_relaxed);
  s.queries += bypassed_queries_.load(std::memory_order_relaxed);
  s.updates += bypassed_updates_.load(std::memory_order_relaxed);
  s.not_found += s.bypassed;
  s.memory_bytes = static_bytes_ + dynamic + cache_.memory_bytes();
  s.volume_index_bytes = volume_index_bytes_;
  s.capacity = g_.window_records();
  s.chapters_written = chapters_written_.load(std::memory_order_relaxed);
  s.syncs = syncs_.load(std::memory_order_relaxed);
  s.checkpoint_blocks = checkpoint_blocks_.load(std::memory_order_relaxed);
  s.page_waits = deferrals_.load(std::memory_order_relaxed);
  s.page_cache_hits = cache_.hits();
  s.page_reads = cache_.misses();
  s.rebuilt_records = rebuilt_records_.load(std::memory_order_relaxed);
  s.recovered_records = recovered_records_.load(std::memory_order_relaxed);
  std::lock_guard lock(state_mu_);
  s.open_result = open_result_;
  switch (state_.load()) {
    case State::kOffline:
      s.state = "offline";
      break;
    case State::kLoading:
      s.state = "loading";
      break;
    case State::kRebuilding:
      s.state = "rebuilding";
      break;
    case State::kOnline:
      s.state = started_.load() ? "online" : "offline";
      break;
    case State::kError:
      s.state = "error";
      break;
  }
  return s;
}

bool UdsIndex::wait_until_online(std::chrono::milliseconds timeout) {
  std::unique_lock lock(state_mu_);
  state_cv_.wait_for(lock, timeout, [&] {
    State s = state_.load();
    return s == State::kOnline || s == State::kError;
  });
  return state_.load() == State::kOnline;
}

// ---- Writer -------------------------------------------------------------------------------

void UdsIndex::run_writer(void (*fn)(void*), void* arg) {
  if (writer_running_.load())
    writer_.enqueue(threads::Work{fn, arg});
  else
    fn(arg);
}

void UdsIndex::run_zone(uint32_t zone, void (*fn)(void*), void* arg) {
  if (zones_running_.load())
    zones_[zone].thread->enqueue(threads::Work{fn, arg});
  else
    fn(arg);
}

void UdsIndex::post_chapter_write(uint32_t partition, std::shared_ptr<ChapterBuf> chapter) {
  run_writer(&UdsIndex::on_chapter_job, new ChapterJob{this, partition, std::move(chapter)});
}

void UdsIndex::on_chapter_job(void* arg) {
  std::unique_ptr<ChapterJob> job(static_cast<ChapterJob*>(arg));
  job->index->write_chapter(*job);
}

void UdsIndex::write_chapter(ChapterJob& job) {
  ChapterBuf& c = *job.chapter;
  std::vector<uint32_t> page_map;
  encode_chapter(g_, job.partition, c.chapter(), stamp_, c.records(), writer_scratch_, &page_map);
  auto r = region_.device->write(region_.start + g_.chapter_block(job.partition, c.chapter()),
                                 writer_scratch_);
  if (!r) {
    c.state.store(ChapterBuf::kFailed, std::memory_order_release);
    set_error("writing a chapter", r.error());
    return;
  }
  WriterPartition& w = wstate_[job.partition];
  w.written = std::max(w.written, static_cast<int64_t>(c.chapter()));
  c.page_map = std::move(page_map);
  c.state.store(ChapterBuf::kWritten, std::memory_order_release);
  chapters_written_.fetch_add(1, std::memory_order_relaxed);
}

Result<void> UdsIndex::flush_device() {
  VDOFS_TRY(region_.device->flush());
  for (auto& w : wstate_) w.flushed = w.written;
  return ok();
}

void UdsIndex::on_checkpoint_job(void* arg) {
  std::unique_ptr<CheckpointJob> job(static_cast<CheckpointJob*>(arg));
  job->index->write_checkpoint(*job);
}

Result<void> UdsIndex::write_frame_block(uint32_t partition, uint64_t chapter, uint32_t page,
                                         std::span<std::byte> block, uint16_t count) {
  WriterPartition& w = wstate_[partition];
  const uint32_t frame = static_cast<uint32_t>(chapter % kCheckpointFrames);
  uint8_t& copy = w.next_copy[frame * g_.record_pages + page];
  PageHeader h;
  h.kind = PageKind::kCheckpoint;
  h.partition = static_cast<uint8_t>(partition);
  h.count = count;
  h.nonce = stamp_;
  h.chapter = chapter;
  h.page = page;
  h.seq = w.seq++;
  seal_page(block, h);
  VDOFS_TRY(
      region_.device->write(region_.start + g_.frame_block(partition, frame, page, copy), block));
  // The other copy now holds the previous (durable) version; the next write goes there.
  copy ^= 1;
  checkpoint_blocks_.fetch_add(1, std::memory_order_relaxed);
  return ok();
}

void UdsIndex::write_checkpoint(CheckpointJob& job) {
  if (state_.load() == State::kError) return;
  WriterPartition& w = wstate_[job.partition];
  // The frame was last used by chapter - F, whose records must be durable in its slot before the
  // frame is overwritten. That chapter write was queued before this job (same zone thread).
  if (job.chapter >= kCheckpointFrames &&
      w.flushed < static_cast<int64_t>(job.chapter - kCheckpointFrames)) {
    if (auto r = flush_device(); !r) {
      set_error("flushing the index", r.error());
      return;
    }
  }
  for (size_t i = 0; i < job.pages.size(); ++i) {
    std::span<std::byte> block(job.blocks.data() + i * kBlockSize, kBlockSize);
    if (auto r = write_frame_block(job.partition, job.chapter, job.pages[i], block, job.counts[i]);
        !r) {
      set_error("writing a checkpoint", r.error());
      return;
    }
  }
}

// ---- Sync (group commit) ------------------------------------------------------------------

void UdsIndex::sync(void (*done)(void*), void* arg) {
  SyncBatch* batch = nullptr;
  {
    std::lock_guard lock(sync_mu_);
    pending_syncs_.emplace_back(done, arg);
    if (!sync_active_) {
      sync_active_ = true;
      batch = new SyncBatch;
      batch->index = this;
      batch->waiters.swap(pending_syncs_);
    }
  }
  if (batch) launch_sync(batch);
}

void UdsIndex::launch_sync(SyncBatch* batch) {
  const uint32_t zones = static_cast<uint32_t>(zones_.size());
  batch->zones_left.store(zones);
  for (uint32_t z = 0; z < zones; ++z)
    run_zone(z, &UdsIndex::on_checkpoint_zone, new ZoneMsg{this, batch, z});
}

void UdsIndex::on_checkpoint_zone(void* arg) {
  std::unique_ptr<ZoneMsg> msg(static_cast<ZoneMsg*>(arg));
  UdsIndex* self = msg->index;
  if (self->online()) {
    for (uint32_t p : self->zones_[msg->zone].partitions) {
      std::unique_ptr<CheckpointJob> job = self->partitions_[p]->collect_checkpoint();
      if (!job) continue;
      job->index = self;
      self->run_writer(&UdsIndex::on_checkpoint_job, job.release());
    }
  }
  if (msg->batch->zones_left.fetch_sub(1) == 1)
    self->run_writer(&UdsIndex::on_sync_flush, msg->batch);
}

void UdsIndex::on_sync_flush(void* arg) {
  auto* batch = static_cast<SyncBatch*>(arg);
  batch->index->finish_sync(batch);
}

void UdsIndex::finish_sync(SyncBatch* batch) {
  // While loading/rebuilding nothing was inserted, so there is nothing to make durable, and
  // wstate_ belongs to the loader.
  if (online()) {
    if (auto r = flush_device(); !r) set_error("flushing the index", r.error());
  }
  for (auto& [fn, a] : batch->waiters) fn(a);
  delete batch;
  syncs_.fetch_add(1, std::memory_order_relaxed);
  SyncBatch* next = nullptr;
  {
    std::lock_guard lock(sync_mu_);
    if (pending_syncs_.empty()) {
      sync_active_ = false;
    } else {
      next = new SyncBatch;
      next->index = this;
      next->waiters.swap(pending_syncs_);
    }
  }
  if (next) launch_sync(next);
}

}  // namespace vdofs::index
