// Chapters: the temporal unit of the index. A partition appends records to its open chapter (a
// ChapterBuf in memory); when it is full the chapter closes, the writer thread writes it to its
// slot as record pages (records in arrival order, 126 per page) plus chapter-index pages (every
// name's key -> its record page, sorted), and the in-memory page map (first key of each index
// page) lets a lookup read one index page and then one record page.
//
// Threads: a ChapterBuf is appended to only by its partition's zone thread while open; once
// closed it is immutable and shared (read-only) with the writer thread, which publishes the page
// map and then `state` (release); the zone thread reads `state` (acquire) before the page map.
// The encode/decode functions are pure.
#pragma once

#include <atomic>
#include <cstdint>
#include <span>
#include <vector>

#include "index/geometry.h"
#include "index/index.h"
#include "index/record_name.h"

namespace vdofs::index {

struct Record {
  RecordName name;
  Advice advice;
};

class ChapterBuf {
 public:
  enum State : int { kOpen = 0, kWriting = 1, kWritten = 2, kFailed = 3 };

  ChapterBuf(uint32_t capacity, uint64_t chapter);

  uint64_t chapter() const { return chapter_; }
  uint32_t size() const { return static_cast<uint32_t>(records_.size()); }
  bool full() const { return records_.size() >= capacity_; }
  // Index of `name`, or -1.
  int find(const RecordName& name) const;
  // Appends a record whose name is not present yet; returns its index.
  uint32_t append(const Record& r);
  Record& at(uint32_t i) { return records_[i]; }
  const Record& at(uint32_t i) const { return records_[i]; }
  std::span<const Record> records() const { return records_; }
  uint64_t memory_bytes() const;

  std::atomic<int> state{kOpen};
  std::vector<uint32_t> page_map;  // written by the writer before state = kWritten

 private:
  uint64_t chapter_;
  uint32_t capacity_;
  std::vector<Record> records_;
  std::vector<uint32_t> hash_;  // record index + 1; 0 = empty. Power of two >= 2 * capacity.
};

void encode_record(std::byte* p, const Record& r);
Record decode_record(const std::byte* p);

// Builds a chapter's blocks (record pages, then index pages) into `out` (chapter_blocks() blocks)
// and its page map (first key of each index page; UINT32_MAX for an empty page).
void encode_chapter(const Geometry& g, uint32_t partition, uint64_t chapter, uint64_t nonce,
                    std::span<const Record> records, std::span<std::byte> out,
                    std::vector<uint32_t>* page_map);

// Looks for `name` among the records of a record page.
bool find_in_record_page(std::span<const std::byte> page, const RecordName& name, Advice* out);

// The index pages that may hold `key`, per the page map (at most `max`, newest-first order does
// not matter). Returns how many.
int index_pages_for(std::span<const uint32_t> page_map, uint32_t key, uint32_t* out, int max);

// Record pages listed for `key` in an index page. Returns how many (at most `max`).
int record_pages_in_index_page(std::span<const std::byte> page, uint32_t key, uint16_t* out,
                               int max);

// Appends all (key, record page) entries of an index page.
void decode_index_page(std::span<const std::byte> page, std::vector<uint32_t>* keys,
                       std::vector<uint16_t>* pages);

}  // namespace vdofs::index
