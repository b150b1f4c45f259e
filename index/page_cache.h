// PageCache: an LRU of validated chapter pages (record pages and chapter-index pages), shared by
// all zone threads of one index. A page is cached under its block number together with the
// virtual chapter it must hold, so pages of a chapter that expired and whose slot was rewritten
// are never returned for the new chapter (they just age out).
//
// Threads: zone threads peek(); reader threads (and zone threads reading inline) get(). One mutex
// guards the map and list; device reads on a miss happen outside the lock (two threads may read
// the same page; the second insert wins).
#pragma once

#include <atomic>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "engine/io/block_device.h"
#include "index/geometry.h"

namespace vdofs::index {

class PageCache {
 public:
  using Page = std::shared_ptr<const std::vector<std::byte>>;

  PageCache(io::BlockDevice* device, uint64_t region_start, uint64_t nonce, size_t capacity);

  // The page at region block `block`, which must be a `kind` page of (partition, chapter, page).
  // Null if it cannot be read or is not that page.
  Page get(uint64_t block, PageKind kind, uint32_t partition, uint64_t chapter, uint32_t page);
  // The page if it is cached (never reads).
  Page peek(uint64_t block, uint64_t chapter);
  void clear();

  size_t capacity() const { return capacity_; }
  uint64_t memory_bytes() const;
  uint64_t hits() const { return hits_.load(std::memory_order_relaxed); }
  uint64_t misses() const { return misses_.load(std::memory_order_relaxed); }
  uint64_t invalid() const { return invalid_.load(std::memory_order_relaxed); }

 private:
  struct Entry {
    uint64_t block;
    uint64_t chapter;
    Page page;
  };
  io::BlockDevice* device_;
  uint64_t start_;
  uint64_t nonce_;
  size_t capacity_;
  mutable std::mutex mu_;
  std::list<Entry> lru_;  // front = most recent
  std::unordered_map<uint64_t, std::list<Entry>::iterator> map_;
  std::atomic<uint64_t> hits_{0}, misses_{0}, invalid_{0};
};

}  // namespace vdofs::index
