#include "index/memory_index.h"

#include <cstring>

#include "engine/base/assert.h"
#include "engine/base/crc32c.h"
#include "engine/format/encoding.h"

namespace vdofs::index {

namespace {
constexpr char kMagic[8] = {'V', 'D', 'O', 'F', 'S', 'I', 'D', 'X'};
constexpr size_t kRecordSize = 32;
constexpr uint64_t kRecordsPerBlock = kBlockSize / kRecordSize;
using format::get_u32;
using format::get_u64;
using format::put_u32;
using format::put_u64;

struct Envelope {
  Request* request;
  MemoryIndex* index;
};
}  // namespace

uint64_t index_region_blocks(uint64_t memory_bytes, bool sparse) {
  uint64_t records = memory_bytes / 4 * (sparse ? 10 : 1);
  return 1 + (records + kRecordsPerBlock - 1) / kRecordsPerBlock;
}

uint64_t default_index_memory(uint64_t physical_blocks) {
  uint64_t m = physical_blocks * 4;
  m = (m + (1ull << 20) - 1) & ~((1ull << 20) - 1);
  return std::max(m, kMinIndexMemory);
}

MemoryIndex::MemoryIndex(const IndexRegion& region, const IndexConfig& config)
    : region_(region), config_(config) {
  uint32_t z = std::max<uint32_t>(1, config.zones);
  uint64_t capacity = std::min((region.blocks - 1) * kRecordsPerBlock,
                               config.memory_bytes / 4 * (config.sparse ? 10 : 1));
  capacity_per_zone_ = std::max<uint64_t>(1, capacity / z);
  for (uint32_t i = 0; i < z; ++i) {
    auto zone = std::make_unique<Zone>();
    zone->thread = std::make_unique<threads::ZoneThread>(1000 + i, "indexQ" + std::to_string(i));
    zones_.push_back(std::move(zone));
  }
}

MemoryIndex::~MemoryIndex() { stop(); }

void MemoryIndex::start() {
  for (auto& z : zones_) z->thread->start();
}

void MemoryIndex::stop() {
  for (auto& z : zones_) z->thread->stop();
}

void MemoryIndex::submit(Request* request) {
  uint32_t zi = index_zone_of(request->name, static_cast<uint32_t>(zones_.size()));
  // The request itself is the message; the zone is recomputed on the index thread.
  auto* env = new Envelope{request, this};
  zones_[zi]->thread->enqueue(threads::Work{&MemoryIndex::handle, env});
}

void MemoryIndex::handle(void* arg) {
  auto* env = static_cast<Envelope*>(arg);
  MemoryIndex* self = env->index;
  Request* r = env->request;
  delete env;
  uint32_t zi = index_zone_of(r->name, static_cast<uint32_t>(self->zones_.size()));
  self->process(*self->zones_[zi], r);
}

void MemoryIndex::process(Zone& zone, Request* r) {
  auto it = zone.map.find(r->name);
  r->found = it != zone.map.end();
  if (r->found) {
    r->advice = it->second;
    zone.found.fetch_add(1, std::memory_order_relaxed);
  } else {
    zone.not_found.fetch_add(1, std::memory_order_relaxed);
  }
  bool insert = false;
  switch (r->type) {
    case RequestType::kPost:
      zone.posts.fetch_add(1, std::memory_order_relaxed);
      insert = !r->found;
      break;
    case RequestType::kQuery:
      zone.queries.fetch_add(1, std::memory_order_relaxed);
      break;
    case RequestType::kUpdate:
      zone.updates.fetch_add(1, std::memory_order_relaxed);
      if (r->found)
        it->second = r->new_advice;
      else
        insert = true;
      break;
  }
  if (insert) {
    zone.map.emplace(r->name, r->new_advice);
    zone.order.push_back(r->name);
    while (zone.map.size() > capacity_per_zone_ && !zone.order.empty()) {
      zone.map.erase(zone.order.front());
      zone.order.pop_front();
      zone.discarded.fetch_add(1, std::memory_order_relaxed);
    }
    if (zone.order.size() > 2 * zone.map.size() + 1024) {  // compact erased names
      std::deque<RecordName> live;
      for (auto& n : zone.order)
        if (zone.map.count(n)) live.push_back(n);
      zone.order.swap(live);
    }
    zone.entries.store(zone.map.size(), std::memory_order_relaxed);
  }
  r->callback(r);
}

IndexStats MemoryIndex::stats() const {
  IndexStats s;
  for (auto& z : zones_) {
    s.entries += z->entries.load(std::memory_order_relaxed);
    s.posts += z->posts.load(std::memory_order_relaxed);
    s.queries += z->queries.load(std::memory_order_relaxed);
    s.updates += z->updates.load(std::memory_order_relaxed);
    s.found += z->found.load(std::memory_order_relaxed);
    s.not_found += z->not_found.load(std::memory_order_relaxed);
    s.discarded += z->discarded.load(std::memory_order_relaxed);
  }
  // unordered_map node (name, advice, next) + bucket + order entry
  s.memory_bytes = s.entries * (sizeof(RecordName) + sizeof(Advice) + 16 + 8 + sizeof(RecordName));
  s.capacity = capacity_per_zone_ * zones_.size();
  s.state = "online";
  return s;
}

Result<void> MemoryIndex::save() {
  std::vector<std::byte> buf(kBlockSize);
  uint64_t count = 0;
  uint64_t block = 1;
  size_t slot = 0;
  auto flush_block = [&]() -> Result<void> {
    VDOFS_TRY(region_.device->write(region_.start + block, buf));
    memset(buf.data(), 0, kBlockSize);
    ++block;
    slot = 0;
    return ok();
  };
  memset(buf.data(), 0, kBlockSize);
  for (auto& z : zones_) {
    for (auto& name : z->order) {
      auto it = z->map.find(name);
      if (it == z->map.end()) continue;
      if (block >= region_.blocks) break;
      std::byte* p = buf.data() + slot * kRecordSize;
      memcpy(p, name.bytes.data(), 16);
      put_u64(p + 16, it->second.pbn);
      put_u32(p + 24, it->second.generation);
      put_u32(p + 28, crc32c(p, 28));
      ++count;
      if (++slot == kRecordsPerBlock) VDOFS_TRY(flush_block());
    }
  }
  if (slot) VDOFS_TRY(flush_block());
  memset(buf.data(), 0, kBlockSize);
  memcpy(buf.data(), kMagic, 8);
  put_u64(buf.data() + 8, region_.nonce);
  put_u64(buf.data() + 16, count);
  put_u32(buf.data() + kBlockSize - 4, crc32c(buf.data(), kBlockSize - 4));
  VDOFS_TRY(region_.device->write(region_.start, buf));
  return region_.device->flush();
}

Result<void> MemoryIndex::load() {
  std::vector<std::byte> buf(kBlockSize);
  VDOFS_TRY(region_.device->read(region_.start, buf));
  if (memcmp(buf.data(), kMagic, 8) != 0 ||
      get_u32(buf.data() + kBlockSize - 4) != crc32c(buf.data(), kBlockSize - 4) ||
      get_u64(buf.data() + 8) != region_.nonce)
    return ok();  // no save: start empty
  uint64_t count = get_u64(buf.data() + 16);
  uint64_t blocks = (count + kRecordsPerBlock - 1) / kRecordsPerBlock;
  if (blocks + 1 > region_.blocks) return ok();
  uint64_t seen = 0;
  for (uint64_t b = 0; b < blocks; ++b) {
    VDOFS_TRY(region_.device->read(region_.start + 1 + b, buf));
    for (uint64_t i = 0; i < kRecordsPerBlock && seen < count; ++i, ++seen) {
      const std::byte* p = buf.data() + i * kRecordSize;
      if (get_u32(p + 28) != crc32c(p, 28)) continue;
      RecordName name;
      memcpy(name.bytes.data(), p, 16);
      Advice a{get_u64(p + 16), get_u32(p + 24)};
      Zone& z = *zones_[index_zone_of(name, static_cast<uint32_t>(zones_.size()))];
      if (z.map.emplace(name, a).second) z.order.push_back(name);
    }
  }
  for (auto& z : zones_) z->entries.store(z->map.size());
  // The save is consumed: a crash before the next clean save must not resurrect stale names.
  memset(buf.data(), 0, kBlockSize);
  VDOFS_TRY(region_.device->write(region_.start, buf));
  loaded_from_save_.store(true);
  return ok();
}

Result<std::unique_ptr<DedupeIndex>> open_index(const IndexRegion& region,
                                                const IndexConfig& config, bool load_saved) {
  if (region.blocks < 2) return errc::too_small;
  auto idx = std::make_unique<MemoryIndex>(region, config);
  if (load_saved) VDOFS_TRY(idx->load());
  return std::unique_ptr<DedupeIndex>(std::move(idx));
}

Result<void> format_index(const IndexRegion& region, const IndexConfig&) {
  std::vector<std::byte> buf(kBlockSize);
  return region.device->write(region.start, buf);
}

}  // namespace vdofs::index
