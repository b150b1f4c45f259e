// PageCache implementation (see page_cache.h). Zone threads (peek) and reader threads indexR<n>
// (get on a miss) share it; mu_ guards the LRU, device reads happen outside it.
#include "index/page_cache.h"

namespace vdofs::index {

PageCache::PageCache(io::BlockDevice* device, uint64_t region_start, uint64_t nonce,
                     size_t capacity)
    : device_(device),
      start_(region_start),
      nonce_(nonce),
      capacity_(std::max<size_t>(capacity, 4)) {}

PageCache::Page PageCache::peek(uint64_t block, uint64_t chapter) {
  std::lock_guard lock(mu_);
  auto it = map_.find(block);
  if (it == map_.end() || it->second->chapter != chapter) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second);
  hits_.fetch_add(1, std::memory_order_relaxed);
  return it->second->page;
}

PageCache::Page PageCache::get(uint64_t block, PageKind kind, uint32_t partition, uint64_t chapter,
                               uint32_t page) {
  {
    std::lock_guard lock(mu_);
    auto it = map_.find(block);
    if (it != map_.end() && it->second->chapter == chapter) {
      lru_.splice(lru_.begin(), lru_, it->second);
      hits_.fetch_add(1, std::memory_order_relaxed);
      return it->second->page;
    }
  }
  misses_.fetch_add(1, std::memory_order_relaxed);
  auto buf = std::make_shared<std::vector<std::byte>>(kBlockSize);
  if (!device_->read(start_ + block, *buf) ||
      !check_page(*buf, nonce_, kind, partition, chapter, page)) {
    invalid_.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }
  Page result = std::move(buf);
  std::lock_guard lock(mu_);
  auto it = map_.find(block);
  if (it != map_.end()) {
    it->second->chapter = chapter;
    it->second->page = result;
    lru_.splice(lru_.begin(), lru_, it->second);
    return result;
  }
  lru_.push_front(Entry{block, chapter, result});
  map_[block] = lru_.begin();
  while (lru_.size() > capacity_) {
    map_.erase(lru_.back().block);
    lru_.pop_back();
  }
  return result;
}

void PageCache::clear() {
  std::lock_guard lock(mu_);
  lru_.clear();
  map_.clear();
}

uint64_t PageCache::memory_bytes() const {
  std::lock_guard lock(mu_);
  // Page buffers plus list nodes and hash-map nodes/buckets.
  return lru_.size() *
             (kBlockSize + sizeof(std::vector<std::byte>) + 32 + sizeof(Entry) + 16 + 32) +
         map_.bucket_count() * sizeof(void*);
}

}  // namespace vdofs::index
