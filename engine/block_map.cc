#include "engine/block_map.h"

#include <cstring>

#include "engine/base/assert.h"
#include "engine/base/log.h"
#include "engine/format/block_map_page.h"
#include "engine/format/journal_block.h"
#include "engine/format/layout.h"
#include "engine/threads/ownership.h"
#include "engine/volume.h"

namespace vdofs::engine {

using format::kBlockMapRootCount;
using format::kEntriesPerPage;
using format::tree_page_key;

namespace {
constexpr uint64_t kPow800[4] = {1, 800, 640000, 512000000};
constexpr size_t kEvictionBatch = 256;

std::unique_ptr<std::byte[]> new_page_bytes() {
  auto b = std::make_unique<std::byte[]>(kBlockSize);
  memset(b.get(), 0, kBlockSize);
  return b;
}
}  // namespace

uint64_t BlockMapZone::page_index(uint64_t leaf_index, uint32_t level) {
  uint64_t t = leaf_index % kBlockMapRootCount;
  uint64_t w = leaf_index / kBlockMapRootCount;
  return (w / kPow800[level]) * kBlockMapRootCount + t;
}

uint32_t BlockMapZone::slot_in_parent(uint64_t leaf_index, uint32_t level) {
  uint64_t w = leaf_index / kBlockMapRootCount;
  return static_cast<uint32_t>((w / kPow800[level]) % kEntriesPerPage);
}

BlockMapZone::BlockMapZone(Volume& volume, uint32_t zone, uint32_t owner_thread,
                           uint64_t cache_pages)
    : volume_(volume),
      zone_(zone),
      owner_(owner_thread),
      cache_pages_(std::max<uint64_t>(cache_pages, 64)) {}

BlockMapZone::~BlockMapZone() = default;

void BlockMapZone::assert_owner(const char* fn) const {
  threads::assert_owner("block map zone", zone_, owner_, fn);
}

MetadataPage* BlockMapZone::tree_page(uint32_t level, uint64_t index) const {
  auto it = interior_.find(tree_page_key(level, index));
  return it == interior_.end() ? nullptr : it->second.get();
}

uint64_t BlockMapZone::count_tree_pages() const {
  uint64_t n = 0;
  for (auto& [k, p] : interior_)
    for (uint32_t s = 0; s < kEntriesPerPage; ++s)
      if (format::get_block_map_entry(p->span(), s).is_mapped()) ++n;
  return n;
}

uint64_t BlockMapZone::invalid_pages() const {
  uint64_t n = 0;
  for (auto& [k, p] : interior_) n += p->invalid ? 1 : 0;
  return n;
}

Result<void> BlockMapZone::load_tree(bool tolerant) {
  assert_owner(__func__);
  const format::Layout& layout = volume_.layout();
  uint64_t nonce = volume_.nonce();
  std::vector<std::byte> buf(kBlockSize);
  auto read_page = [&](uint32_t level, uint64_t index, Pbn pbn) -> Result<MetadataPage*> {
    auto page = std::make_unique<MetadataPage>();
    page->level = level;
    page->index = index;
    page->pbn = pbn;
    page->bytes = new_page_bytes();
    VDOFS_TRY(volume_.device().read(raw(pbn), std::span<std::byte>(page->bytes.get(), kBlockSize)));
    auto check =
        format::check_block_map_page(page->span(), nonce, pbn, static_cast<uint8_t>(level));
    if (!check) {
      if (!tolerant) {
        log::error("%s: block-map page (level %u) at PBN %llu is invalid: %s",
                   volume_.device().name().c_str(), level,
                   static_cast<unsigned long long>(raw(pbn)), check.error().message().c_str());
        return check.error();
      }
      page->invalid = true;
      format::init_block_map_page(page->span());
    }
    MetadataPage* raw_page = page.get();
    interior_[tree_page_key(level, index)] = std::move(page);
    return raw_page;
  };
  for (uint32_t t = 0; t < kBlockMapRootCount; ++t) {
    if (volume_.routing().logical_zone_of_tree(t) != zone_) continue;
    VDOFS_ASSIGN(MetadataPage * root, read_page(3, t, Pbn{layout.root_pbn(t)}));
    if (root->invalid) {
      log::error("%s: block-map root %u is invalid", volume_.device().name().c_str(), t);
      return errc::checksum_mismatch;
    }
    for (uint32_t s2 = 0; s2 < kEntriesPerPage; ++s2) {
      Mapping m2 = format::get_block_map_entry(root->span(), s2);
      if (!m2.is_mapped()) continue;
      uint64_t idx2 = uint64_t{s2} * kBlockMapRootCount + t;
      VDOFS_ASSIGN(MetadataPage * l2, read_page(2, idx2, m2.pbn));
      for (uint32_t s1 = 0; s1 < kEntriesPerPage; ++s1) {
        Mapping m1 = format::get_block_map_entry(l2->span(), s1);
        if (!m1.is_mapped()) continue;
        uint64_t idx1 = (uint64_t{s2} * kEntriesPerPage + s1) * kBlockMapRootCount + t;
        VDOFS_ASSIGN(MetadataPage * l1, read_page(1, idx1, m1.pbn));
        (void)l1;
      }
    }
  }
  return ok();
}

LeafLookup BlockMapZone::find_leaf(uint64_t leaf_index) const {
  assert_owner(__func__);
  for (uint32_t level = 3; level >= 1; --level) {
    MetadataPage* page = tree_page(level, page_index(leaf_index, level));
    VDOFS_CHECK(page != nullptr, "block map: missing interior page level %u", level);
    Mapping m = format::get_block_map_entry(page->span(), slot_in_parent(leaf_index, level - 1));
    if (!m.is_mapped()) return LeafLookup{false, Pbn{}, static_cast<int>(level - 1)};
    if (level == 1) return LeafLookup{true, m.pbn, -1};
  }
  return {};
}

LeafPage* BlockMapZone::peek_leaf(uint64_t leaf_index) {
  assert_owner(__func__);
  auto it = leaves_.find(leaf_index);
  if (it == leaves_.end() || !it->second->ready) return nullptr;
  LeafPage* p = it->second.get();
  ++p->pins;
  lru_.splice(lru_.begin(), lru_, p->lru);
  return p;
}

LeafPage* BlockMapZone::get_leaf(uint64_t leaf_index, Pbn pbn, DataVio* dv, void (*resume)(void*)) {
  assert_owner(__func__);
  if (LeafPage* p = peek_leaf(leaf_index)) return p;
  auto it = leaves_.find(leaf_index);
  LeafPage* p;
  if (it == leaves_.end()) {
    auto page = std::make_unique<LeafPage>();
    p = page.get();
    p->zone = this;
    p->level = 0;
    p->index = leaf_index;
    p->pbn = pbn;
    p->bytes = new_page_bytes();
    p->loading = true;
    lru_.push_front(leaf_index);
    p->lru = lru_.begin();
    leaves_[leaf_index] = std::move(page);
    p->io = IoRequest{};
    p->io.kind = IoKind::kRead;
    p->io.block = raw(pbn);
    p->io.buffer = p->bytes.get();
    p->io.reply_thread = owner_;
    p->io.callback = &BlockMapZone::page_loaded;
    p->io.arg = p;
    volume_.counters().block_map_pages_loaded.add();
    volume_.submit_io(&p->io);
  } else {
    p = it->second.get();
  }
  if (dv) {
    // The DataVio's journal waiter carries the resume function while it waits for the page.
    dv->journal.callback = resume;
    dv->wait_next = p->waiters;
    p->waiters = dv;
  }
  return nullptr;
}

void BlockMapZone::prefetch_leaf(uint64_t leaf_index, Pbn pbn) {
  assert_owner(__func__);
  if (leaves_.count(leaf_index)) return;
  get_leaf(leaf_index, pbn, nullptr, nullptr);
}

void BlockMapZone::page_loaded(void* arg) {
  auto* p = static_cast<LeafPage*>(arg);
  BlockMapZone* self = p->zone;
  self->assert_owner(__func__);
  p->loading = false;
  DataVio* waiters = p->waiters;
  p->waiters = nullptr;
  std::error_code ec = p->io.result;
  if (!ec) {
    auto check = format::check_block_map_page(p->span(), self->volume_.nonce(), p->pbn, 0);
    if (!check) {
      log::error("block-map leaf page %llu at PBN %llu is invalid: %s",
                 static_cast<unsigned long long>(p->index),
                 static_cast<unsigned long long>(raw(p->pbn)), check.error().message().c_str());
      ec = check.error();
    }
  }
  if (ec) {
    self->volume_.enter_read_only(ec);
    self->lru_.erase(p->lru);
    self->leaves_.erase(p->index);  // p is gone from here on
  } else {
    p->ready = true;
  }
  // Resume in arrival order (the list was built newest first).
  DataVio* ordered = nullptr;
  while (waiters) {
    DataVio* next = waiters->wait_next;
    waiters->wait_next = ordered;
    ordered = waiters;
    waiters = next;
  }
  while (ordered) {
    DataVio* dv = ordered;
    ordered = dv->wait_next;
    dv->wait_next = nullptr;
    if (ec && !dv->result) dv->result = ec;
    self->volume_.threads().enqueue(self->owner_, dv->journal.callback, dv);
  }
  self->evict_some();
}

void BlockMapZone::unpin(LeafPage* page) {
  assert_owner(__func__);
  VDOFS_CHECK(page->pins > 0);
  --page->pins;
}

void BlockMapZone::mark_dirty(MetadataPage& p, uint64_t seq) {
  ++p.version;
  if (p.writing) {
    if (!p.dirty_seq_after) p.dirty_seq_after = seq;
    return;
  }
  if (!p.dirty) {
    p.dirty = true;
    p.dirty_seq = seq;
    ++dirty_count_;
  }
}

void BlockMapZone::set_entry(LeafPage* page, uint32_t slot, Mapping m, uint64_t seq) {
  assert_owner(__func__);
  format::set_block_map_entry(page->span(), slot, m);
  mark_dirty(*page, seq);
}

LeafPage* BlockMapZone::add_page(uint32_t level, uint64_t index, Pbn pbn, uint64_t seq) {
  assert_owner(__func__);
  uint64_t t = index % kBlockMapRootCount;
  uint64_t wl = index / kBlockMapRootCount;
  uint64_t parent_index = (wl / kEntriesPerPage) * kBlockMapRootCount + t;
  auto slot = static_cast<uint32_t>(wl % kEntriesPerPage);
  MetadataPage* parent = tree_page(level + 1, parent_index);
  VDOFS_CHECK(parent != nullptr, "block map: no parent for level %u page %llu", level,
              static_cast<unsigned long long>(index));
  format::set_block_map_entry(parent->span(), slot, Mapping{pbn, MappingState::kMapped});
  mark_dirty(*parent, seq);
  volume_.counters().tree_pages.add();
  if (level > 0) {
    auto page = std::make_unique<MetadataPage>();
    page->level = level;
    page->index = index;
    page->pbn = pbn;
    page->bytes = new_page_bytes();
    mark_dirty(*page, seq);
    interior_[tree_page_key(level, index)] = std::move(page);
    return nullptr;
  }
  auto it = leaves_.find(index);
  if (it != leaves_.end()) {  // a stale cached copy (replay of an allocation): start over empty
    VDOFS_CHECK(it->second->pins == 0 && !it->second->loading && !it->second->writing);
    if (it->second->dirty) --dirty_count_;
    lru_.erase(it->second->lru);
    leaves_.erase(it);
  }
  auto page = std::make_unique<LeafPage>();
  LeafPage* p = page.get();
  p->zone = this;
  p->level = 0;
  p->index = index;
  p->pbn = pbn;
  p->bytes = new_page_bytes();
  p->ready = true;
  p->pins = 1;
  lru_.push_front(index);
  p->lru = lru_.begin();
  leaves_[index] = std::move(page);
  mark_dirty(*p, seq);
  return p;
}

void BlockMapZone::evict_some() {
  if (leaves_.size() <= cache_pages_) return;
  size_t scanned = 0;
  bool saw_dirty = false;
  auto it = lru_.end();
  while (leaves_.size() > cache_pages_ && it != lru_.begin() && scanned < 4 * kEvictionBatch) {
    --it;
    ++scanned;
    LeafPage* p = leaves_[*it].get();
    if (p->pins || !p->ready || p->loading || p->writing) continue;
    if (p->dirty) {
      saw_dirty = true;
      continue;
    }
    auto victim = it++;
    leaves_.erase(*victim);
    lru_.erase(victim);
  }
  if (saw_dirty && leaves_.size() > cache_pages_ && !batch_in_flight_) start_batch();
}

void BlockMapZone::write_back(uint64_t before, void (*done)(void*), void* arg) {
  assert_owner(__func__);
  write_back_waiters_.push_back({before, done, arg});
  if (!batch_in_flight_) start_batch();
}

void BlockMapZone::finish_write_back_waiters() {
  if (write_back_waiters_.empty()) return;
  std::vector<WriteBackWaiter> still;
  for (auto& w : write_back_waiters_) {
    bool pending = false;
    auto check = [&](MetadataPage& p) {
      if ((p.dirty && p.dirty_seq < w.before) || (p.writing && p.dirty_seq < w.before))
        pending = true;
    };
    for (auto& [k, p] : interior_) {
      if (pending) break;
      check(*p);
    }
    for (auto& [k, p] : leaves_) {
      if (pending) break;
      check(*p);
    }
    if (pending)
      still.push_back(w);
    else
      volume_.threads().enqueue(owner_, w.done, w.arg);
  }
  write_back_waiters_.swap(still);
}

void BlockMapZone::start_batch() {
  uint64_t target = 0;
  for (auto& w : write_back_waiters_) target = std::max(target, w.before);
  auto batch = std::make_unique<Batch>();
  batch->volume = &volume_;
  batch->zone = this;
  auto take = [&](MetadataPage& p) {
    auto buf = std::make_unique<std::byte[]>(kBlockSize);
    memcpy(buf.get(), p.bytes.get(), kBlockSize);
    format::seal_block_map_page(std::span<std::byte, kBlockSize>(buf.get(), kBlockSize),
                                volume_.nonce(), p.pbn, static_cast<uint8_t>(p.level));
    p.writing = true;
    p.writing_version = p.version;
    p.dirty_seq_after = 0;
    batch->io.extents.push_back({raw(p.pbn), buf.get()});
    batch->buffers.push_back(std::move(buf));
    batch->pages.push_back(&p);
  };
  if (target > 0) {
    for (auto& [k, p] : interior_)
      if (p->dirty && !p->writing && p->dirty_seq < target) take(*p);
    for (auto& [k, p] : leaves_)
      if (p->dirty && !p->writing && p->ready && p->dirty_seq < target) take(*p);
  }
  if (leaves_.size() > cache_pages_) {  // cache pressure: the least recently used dirty leaves
    size_t n = 0;
    for (auto it = lru_.rbegin(); it != lru_.rend() && n < kEvictionBatch; ++it) {
      LeafPage* p = leaves_[*it].get();
      if (p->dirty && !p->writing && p->ready) {
        take(*p);
        ++n;
      }
    }
  }
  if (batch->pages.empty()) {
    finish_write_back_waiters();
    return;
  }
  batch_in_flight_ = true;
  batch->io.kind = IoKind::kBatch;
  batch->io.reply_thread = owner_;
  batch->io.callback = &BlockMapZone::batch_written;
  Batch* b = batch.release();
  b->io.arg = b;
  volume_.counters().block_map_pages_written.add(b->pages.size());
  volume_.submit_io(&b->io);
}

void BlockMapZone::batch_written(void* arg) {
  std::unique_ptr<Batch> b(static_cast<Batch*>(arg));
  BlockMapZone* self = b->zone;
  self->assert_owner(__func__);
  self->batch_in_flight_ = false;
  if (b->io.result) self->volume_.enter_read_only(b->io.result);
  for (MetadataPage* p : b->pages) {
    p->writing = false;
    if (b->io.result) continue;  // stays dirty; the volume is read-only now
    if (p->version == p->writing_version) {
      p->dirty = false;
      --self->dirty_count_;
    } else {
      p->dirty_seq = p->dirty_seq_after ? p->dirty_seq_after : p->dirty_seq;
    }
  }
  if (b->io.result) {
    // Nothing more can be written: release the waiters so shutdown/checkpoints do not hang.
    for (auto& w : self->write_back_waiters_)
      self->volume_.threads().enqueue(self->owner_, w.done, w.arg);
    self->write_back_waiters_.clear();
    return;
  }
  self->finish_write_back_waiters();
  self->evict_some();
  if (!self->write_back_waiters_.empty() && !self->batch_in_flight_) self->start_batch();
}

Result<LeafPage*> BlockMapZone::load_leaf_sync(uint64_t leaf_index, Pbn pbn) {
  assert_owner(__func__);
  auto it = leaves_.find(leaf_index);
  if (it != leaves_.end()) return it->second.get();
  auto page = std::make_unique<LeafPage>();
  LeafPage* p = page.get();
  p->zone = this;
  p->index = leaf_index;
  p->pbn = pbn;
  p->bytes = new_page_bytes();
  VDOFS_TRY(volume_.device().read(raw(pbn), std::span<std::byte>(p->bytes.get(), kBlockSize)));
  VDOFS_TRY(format::check_block_map_page(p->span(), volume_.nonce(), pbn, 0));
  p->ready = true;
  lru_.push_front(leaf_index);
  p->lru = lru_.begin();
  leaves_[leaf_index] = std::move(page);
  return p;
}

Result<void> BlockMapZone::write_all_sync() {
  assert_owner(__func__);
  std::vector<std::byte> buf(kBlockSize);
  auto write = [&](MetadataPage& p) -> Result<void> {
    if (!p.dirty) return ok();
    memcpy(buf.data(), p.bytes.get(), kBlockSize);
    format::seal_block_map_page(std::span<std::byte, kBlockSize>(buf.data(), kBlockSize),
                                volume_.nonce(), p.pbn, static_cast<uint8_t>(p.level));
    VDOFS_TRY(volume_.device().write(raw(p.pbn), buf));
    p.dirty = false;
    p.invalid = false;
    --dirty_count_;
    volume_.counters().block_map_pages_written.add();
    return ok();
  };
  for (auto& [k, p] : interior_) VDOFS_TRY(write(*p));
  for (auto& [k, p] : leaves_) VDOFS_TRY(write(*p));
  return ok();
}

}  // namespace vdofs::engine
