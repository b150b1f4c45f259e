// MemoryIndex: the first DedupeIndex. Each index zone (thread indexQ<n>) owns a hash table of
// name -> advice bounded to the configured window; a clean shutdown saves every record into the
// index region and the next open loads them back.
#pragma once

#include <atomic>
#include <deque>
#include <memory>
#include <unordered_map>
#include <vector>

#include "engine/threads/zone_thread.h"
#include "index/index.h"

namespace vdofs::index {

class MemoryIndex final : public DedupeIndex {
 public:
  MemoryIndex(const IndexRegion& region, const IndexConfig& config);
  ~MemoryIndex() override;

  void start() override;
  void stop() override;
  void submit(Request* request) override;
  IndexStats stats() const override;
  Result<void> save() override;
  Result<void> load();

 private:
  struct Zone {
    // Owner: its indexQ thread (or the setup thread before start()).
    std::unique_ptr<threads::ZoneThread> thread;
    std::unordered_map<RecordName, Advice, RecordNameHash> map;
    std::deque<RecordName> order;  // insertion order, for expiring the oldest past capacity
    std::atomic<uint64_t> entries{0};
    std::atomic<uint64_t> posts{0}, queries{0}, updates{0}, found{0}, not_found{0}, discarded{0};
  };
  static void handle(void* arg);
  void process(Zone& zone, Request* r);

  IndexRegion region_;
  IndexConfig config_;
  uint64_t capacity_per_zone_;
  std::vector<std::unique_ptr<Zone>> zones_;
  std::atomic<bool> loaded_from_save_{false};
};

}  // namespace vdofs::index
