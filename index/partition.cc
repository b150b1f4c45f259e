// Partition request processing (see partition.h). Runs on the partition's zone thread only.
#include "index/partition.h"

#include <algorithm>
#include <cstring>

#include "engine/base/log.h"
#include "index/uds_index.h"

namespace vdofs::index {

namespace {
constexpr int kMaxPages = 8;
}  // namespace

Partition::Partition(UdsIndex& index, uint32_t partition_id, const Geometry& g)
    : id(partition_id),
      index_(index),
      g_(g),
      vi_(g),
      open_(std::make_shared<ChapterBuf>(g.records_per_chapter, 0)),
      page_maps_(g.chapters * g.index_pages, UINT32_MAX),
      dirty_((g.record_pages + 63) / 64, 0) {
  sparse_cache_.reserve(kSparseCacheChapters);
}

uint64_t Partition::static_bytes() const {
  return vi_.memory_bytes() + page_maps_.capacity() * sizeof(uint32_t) + open_->memory_bytes() +
         dirty_.capacity() * sizeof(uint64_t) + sizeof(*this);
}

void Partition::reset(uint64_t open_chapter) {
  vi_.reset(open_chapter);
  open_ = std::make_shared<ChapterBuf>(g_.records_per_chapter, open_chapter);
  writing_.clear();
  std::fill(page_maps_.begin(), page_maps_.end(), UINT32_MAX);
  std::fill(dirty_.begin(), dirty_.end(), 0);
  sparse_cache_.clear();
  publish_counts();
}

void Partition::publish_counts() {
  counters.entries.store(vi_.live(), std::memory_order_relaxed);
  update_dynamic_bytes();
}

void Partition::update_dynamic_bytes() {
  uint64_t b = 0;
  for (auto& c : writing_) b += c->memory_bytes();
  for (auto& s : sparse_cache_)
    b += sizeof(s) + s.keys.capacity() * sizeof(uint32_t) + s.pages.capacity() * sizeof(uint16_t);
  counters.dynamic_bytes.store(b, std::memory_order_relaxed);
}

void Partition::reap_written() {
  bool changed = false;
  while (!writing_.empty()) {
    ChapterBuf& c = *writing_.front();
    const int st = c.state.load(std::memory_order_acquire);
    if (st == ChapterBuf::kWriting) break;
    if (st == ChapterBuf::kWritten && in_window(c.chapter()) && c.page_map.size() == g_.index_pages)
      std::copy(c.page_map.begin(), c.page_map.end(), page_map(c.chapter()).begin());
    writing_.pop_front();
    changed = true;
  }
  if (changed) update_dynamic_bytes();
}

bool Partition::process(Request* r, bool allow_defer) {
  reap_written();
  const VolumeIndex::Key key = vi_.key_of(r->name);
  defer_ = allow_defer;
  missed_ = false;
  const Found f = lookup(r->name, key);
  defer_ = false;
  if (f.missed) return false;
  switch (r->type) {
    case RequestType::kPost:
      counters.posts.fetch_add(1, std::memory_order_relaxed);
      break;
    case RequestType::kQuery:
      counters.queries.fetch_add(1, std::memory_order_relaxed);
      break;
    case RequestType::kUpdate:
      counters.updates.fetch_add(1, std::memory_order_relaxed);
      break;
  }
  r->found = f.found;
  r->advice = f.found ? f.advice : Advice{};
  (f.found ? counters.found : counters.not_found).fetch_add(1, std::memory_order_relaxed);
  switch (r->type) {
    case RequestType::kPost:
      if (f.found)
        refresh(r->name, key, f, f.advice);
      else
        add(r->name, key, r->new_advice);
      break;
    case RequestType::kQuery:
      if (f.found) refresh(r->name, key, f, f.advice);
      break;
    case RequestType::kUpdate:
      if (f.found)
        refresh(r->name, key, f, r->new_advice);
      else
        add(r->name, key, r->new_advice);
      break;
  }
  counters.entries.store(vi_.live(), std::memory_order_relaxed);
  r->callback(r);
  return true;
}

std::shared_ptr<const std::vector<std::byte>> Partition::fetch(uint64_t block, PageKind kind,
                                                               uint64_t chapter, uint32_t page) {
  if (!defer_) return index_.cache().get(block, kind, id, chapter, page);
  auto p = index_.cache().peek(block, chapter);
  if (!p && !missed_) {
    missed_ = true;
    miss_ = PageMiss{block, kind, chapter, page};
  }
  return p;
}

Partition::Found Partition::lookup(const RecordName& name, const VolumeIndex::Key& key) {
  Found f;
  const int i = open_->find(name);
  if (i >= 0) {
    f.found = true;
    f.advice = open_->at(static_cast<uint32_t>(i)).advice;
    f.open_index = i;
    return f;
  }
  VolumeIndex::Candidate c[VolumeIndex::kMaxCandidates];
  const int n = vi_.lookup(key, c);
  for (int j = 0; j < n; ++j) {
    const uint64_t chapter = c[j].chapter;
    if (chapter == open_chapter()) continue;  // another name with this fingerprint
    const bool hit = search_chapter(chapter, name, &f.advice);
    if (missed_) {
      f.missed = true;
      return f;
    }
    if (!hit) continue;
    f.found = true;
    f.has_slot = true;
    f.slot = c[j].slot;
    if (is_sparse_chapter(chapter)) {
      // A hook of a sparse chapter: bring that chapter's index (and the next one, for a stream
      // that keeps going) into the sparse cache so the hook's neighbours are found too.
      load_sparse(chapter);
      if (chapter + 1 < open_chapter() && is_sparse_chapter(chapter + 1)) load_sparse(chapter + 1);
    }
    return f;
  }
  if (g_.sparse && search_sparse_cache(name, &f.advice)) f.found = true;
  f.missed = missed_;
  return f;
}

bool Partition::search_chapter(uint64_t chapter, const RecordName& name, Advice* out) {
  for (auto it = writing_.rbegin(); it != writing_.rend(); ++it) {
    if ((*it)->chapter() != chapter) continue;
    const int i = (*it)->find(name);
    if (i < 0) return false;
    *out = (*it)->at(static_cast<uint32_t>(i)).advice;
    return true;
  }
  return search_disk_chapter(chapter, name, out);
}

bool Partition::search_record_page(uint64_t chapter, uint32_t page, const RecordName& name,
                                   Advice* out) {
  if (page >= g_.record_pages) return false;
  auto p = fetch(g_.chapter_block(id, chapter) + page, PageKind::kRecords, chapter, page);
  return p && find_in_record_page(*p, name, out);
}

bool Partition::search_disk_chapter(uint64_t chapter, const RecordName& name, Advice* out) {
  const uint32_t key = chapter_key(name);
  uint32_t pages[kMaxPages];
  const int n = index_pages_for(page_map(chapter), key, pages, kMaxPages);
  for (int i = 0; i < n; ++i) {
    const uint32_t page = g_.record_pages + pages[i];
    auto ip = fetch(g_.chapter_block(id, chapter) + page, PageKind::kIndex, chapter, page);
    if (!ip) {
      if (missed_) return false;
      continue;
    }
    uint16_t records[kMaxPages];
    const int m = record_pages_in_index_page(*ip, key, records, kMaxPages);
    for (int j = 0; j < m; ++j) {
      if (search_record_page(chapter, records[j], name, out)) return true;
      if (missed_) return false;
    }
  }
  return false;
}

void Partition::load_sparse(uint64_t chapter) {
  ++use_clock_;
  for (auto& s : sparse_cache_) {
    if (s.chapter == chapter) {
      s.last_use = use_clock_;
      return;
    }
  }
  if (!in_window(chapter)) return;
  for (auto& c : writing_)
    if (c->chapter() == chapter) return;  // still in memory; the volume index covers it
  std::vector<std::byte> buf(uint64_t{g_.index_pages} * kBlockSize);
  if (!index_.device().read(index_.region_start() + g_.chapter_block(id, chapter) + g_.record_pages,
                            buf))
    return;
  SparseEntry e;
  e.chapter = chapter;
  e.last_use = use_clock_;
  e.keys.reserve(g_.records_per_chapter);
  e.pages.reserve(g_.records_per_chapter);
  for (uint32_t i = 0; i < g_.index_pages; ++i) {
    std::span<const std::byte> page(buf.data() + uint64_t{i} * kBlockSize, kBlockSize);
    if (!check_page(page, index_.stamp(), PageKind::kIndex, id, chapter, g_.record_pages + i))
      return;
    decode_index_page(page, &e.keys, &e.pages);
  }
  // Drop expired chapters, then the least recently used if the cache is full.
  std::erase_if(sparse_cache_, [&](const SparseEntry& s) { return !in_window(s.chapter); });
  if (sparse_cache_.size() >= kSparseCacheChapters) {
    auto lru = std::min_element(
        sparse_cache_.begin(), sparse_cache_.end(),
        [](const SparseEntry& a, const SparseEntry& b) { return a.last_use < b.last_use; });
    sparse_cache_.erase(lru);
  }
  sparse_cache_.push_back(std::move(e));
  // Newest chapter first, so a name refreshed into a later chapter gets its newest advice.
  std::sort(sparse_cache_.begin(), sparse_cache_.end(),
            [](const SparseEntry& a, const SparseEntry& b) { return a.chapter > b.chapter; });
  update_dynamic_bytes();
}

bool Partition::search_sparse_cache(const RecordName& name, Advice* out) {
  const uint32_t key = chapter_key(name);
  for (size_t i = 0; i < sparse_cache_.size(); ++i) {
    SparseEntry& s = sparse_cache_[i];
    if (!in_window(s.chapter)) continue;
    auto it = std::lower_bound(s.keys.begin(), s.keys.end(), key);
    for (; it != s.keys.end() && *it == key; ++it) {
      const uint32_t page = s.pages[static_cast<size_t>(it - s.keys.begin())];
      if (!search_record_page(s.chapter, page, name, out)) {
        if (missed_) return false;
        continue;
      }
      s.last_use = ++use_clock_;
      counters.sparse_hits.fetch_add(1, std::memory_order_relaxed);
      const uint64_t next = s.chapter + 1;
      if (next < open_chapter() && is_sparse_chapter(next)) load_sparse(next);
      return true;
    }
  }
  return false;
}

void Partition::refresh(const RecordName& name, const VolumeIndex::Key& key, const Found& f,
                        const Advice& advice) {
  if (f.open_index >= 0) {
    Record& rec = open_->at(static_cast<uint32_t>(f.open_index));
    if (!(rec.advice == advice)) {
      rec.advice = advice;
      mark_dirty(static_cast<uint32_t>(f.open_index));
    }
    return;
  }
  mark_dirty(open_->append(Record{name, advice}));
  if (f.has_slot)
    vi_.move(f.slot, open_chapter());
  else if (!vi_.insert(key, open_chapter()))
    counters.discarded.fetch_add(1, std::memory_order_relaxed);
  if (open_->full()) close_chapter();
}

void Partition::add(const RecordName& name, const VolumeIndex::Key& key, const Advice& advice) {
  mark_dirty(open_->append(Record{name, advice}));
  if (!vi_.insert(key, open_chapter())) counters.discarded.fetch_add(1, std::memory_order_relaxed);
  if (open_->full()) close_chapter();
}

void Partition::close_chapter() {
  std::shared_ptr<ChapterBuf> closed = std::move(open_);
  closed->state.store(ChapterBuf::kWriting, std::memory_order_relaxed);
  writing_.push_back(closed);
  // The records of the closed chapter reach the disk through the chapter write, which indexW
  // runs before any later sync flush: they need no checkpoint.
  std::fill(dirty_.begin(), dirty_.end(), 0);
  index_.post_chapter_write(id, std::move(closed));
  const uint64_t gone = vi_.advance();
  counters.discarded.fetch_add(gone, std::memory_order_relaxed);
  counters.chapters_closed.fetch_add(1, std::memory_order_relaxed);
  open_ = std::make_shared<ChapterBuf>(g_.records_per_chapter, open_chapter());
  std::erase_if(sparse_cache_, [&](const SparseEntry& s) { return !in_window(s.chapter); });
  update_dynamic_bytes();
}

std::unique_ptr<CheckpointJob> Partition::collect_checkpoint() {
  reap_written();
  std::unique_ptr<CheckpointJob> job;
  for (uint32_t k = 0; k < g_.record_pages; ++k) {
    if (!(dirty_[k / 64] & (uint64_t{1} << (k % 64)))) continue;
    if (!job) {
      job = std::make_unique<CheckpointJob>();
      job->partition = id;
      job->chapter = open_chapter();
    }
    const uint32_t first = k * kRecordsPerPage;
    const uint32_t n = std::min(kRecordsPerPage, open_->size() - std::min(first, open_->size()));
    const size_t at = job->blocks.size();
    job->blocks.resize(at + kBlockSize);
    for (uint32_t i = 0; i < n; ++i)
      encode_record(job->blocks.data() + at + kPageHeaderSize + i * kRecordSize,
                    open_->at(first + i));
    job->pages.push_back(k);
    job->counts.push_back(static_cast<uint16_t>(n));
  }
  std::fill(dirty_.begin(), dirty_.end(), 0);
  return job;
}

}  // namespace vdofs::index
