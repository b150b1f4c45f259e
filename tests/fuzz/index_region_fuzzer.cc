// Fuzz target: opening a dedupe index region with one damaged block (index/index_store.cc): the
// index superblock, the state block, the save slots (header and per-partition streams), the
// chapters and the checkpoint frames. Two base regions, built once from a real index: "clean"
// (saved: the state block names a save slot, so the loader reads the streams) and "crashed"
// (synced but never saved: the loader rebuilds from chapters and frames).
// Input: flags u8 (bit 0: re-seal the block's CRC; bit 1: the crashed base), block u16 (mod the
// region size), offset u16 (mod 4096), then bytes written over the block from that offset.
// Then: open, start, wait until online (bounded), a few posts and queries, a sync, stop, save.
// Properties: no crash, no hang, every request answered exactly once.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <vector>

#include "engine/io/ram_device.h"
#include "index/index.h"
#include "index/record_name.h"
#include "tests/fuzz/fuzz_util.h"

using namespace vdofs;
using namespace vdofs::index;

namespace {

constexpr uint64_t kNonce = 0x5eed'f00d'1234'5678ull;
constexpr uint32_t kBaseNames = 2500;  // about 2.5 chapters of the smallest geometry

IndexConfig config() {
  IndexConfig c;
  c.memory_bytes = 256 << 10;
  c.sparse = false;
  c.zones = 1;
  c.online_wait_ms = 0;
  return c;
}

RecordName name_of(uint64_t i) {
  RecordName n;
  uint64_t x = (i + 1) * 0x9E3779B97F4A7C15ull;
  for (int k = 0; k < 16; ++k) {
    x ^= x >> 29;
    x *= 0xBF58476D1CE4E5B9ull;
    n.bytes[static_cast<size_t>(k)] = static_cast<uint8_t>(x >> 56);
  }
  return n;
}

// Submits requests and waits for every answer (bounded: a lost answer is a hang).
class Batch {
 public:
  void post(DedupeIndex& idx, RequestType type, uint64_t i) {
    auto r = std::make_unique<Request>();
    r->type = type;
    r->name = name_of(i);
    r->new_advice = Advice{1000 + i, static_cast<uint32_t>(i), 1};
    r->callback = &Batch::done;
    r->context = this;
    {
      std::lock_guard lock(mu_);
      ++outstanding_;
    }
    idx.submit(r.get());
    requests_.push_back(std::move(r));
  }
  void wait() {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, std::chrono::seconds(60), [&] { return outstanding_ == 0; }))
      __builtin_trap();  // an index request was never answered
  }

 private:
  static void done(Request* r) {
    auto* self = static_cast<Batch*>(r->context);
    std::lock_guard lock(self->mu_);
    if (self->outstanding_ == 0) __builtin_trap();  // answered twice
    if (--self->outstanding_ == 0) self->cv_.notify_all();
  }
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t outstanding_ = 0;
  std::vector<std::unique_ptr<Request>> requests_;
};

void sync_index(DedupeIndex& idx) {
  struct Done {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
  } d;
  idx.sync(
      [](void* a) {
        auto* dd = static_cast<Done*>(a);
        std::lock_guard lock(dd->mu);
        dd->done = true;
        dd->cv.notify_all();
      },
      &d);
  std::unique_lock lock(d.mu);
  if (!d.cv.wait_for(lock, std::chrono::seconds(60), [&] { return d.done; })) __builtin_trap();
}

struct Bases {
  std::unique_ptr<io::RamDevice> clean, crashed;
  uint64_t blocks = 0;
};

const Bases& bases() {
  static const Bases b = [] {
    fuzz::quiet_logs();
    Bases out;
    out.blocks = index_region_blocks(config().memory_bytes, config().sparse);
    io::RamDevice dev(out.blocks, "index-fuzz");
    const IndexRegion region{&dev, 0, out.blocks, kNonce};
    if (!format_index(region, config())) __builtin_trap();
    auto idx = open_index(region, config(), false);
    if (!idx) __builtin_trap();
    (*idx)->start();
    (*idx)->wait_until_online(std::chrono::seconds(60));
    Batch batch;
    for (uint64_t i = 0; i < kBaseNames; ++i) batch.post(**idx, RequestType::kPost, i);
    batch.wait();
    sync_index(**idx);
    out.crashed = dev.clone();
    (*idx)->stop();
    if (!(*idx)->save()) __builtin_trap();
    out.clean = dev.clone();
    return out;
  }();
  return b;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Bases& base = bases();
  fuzz::Input in(data, size);
  const uint8_t flags = in.u8();
  const uint64_t block = in.u16() % base.blocks;
  const size_t offset = in.u16() % kBlockSize;
  std::unique_ptr<io::RamDevice> dev = ((flags & 2) ? base.crashed : base.clean)->clone();
  fuzz::Block b{};
  if (!dev->read(block, b)) __builtin_trap();
  in.bytes(std::span<std::byte>(b).subspan(offset));
  if (flags & 1) fuzz::reseal_index_page(b);
  if (!dev->write(block, b)) __builtin_trap();

  const IndexRegion region{dev.get(), 0, base.blocks, kNonce};
  auto idx = open_index(region, config(), true);
  if (!idx) return 0;
  (*idx)->start();
  (*idx)->wait_until_online(std::chrono::seconds(30));
  Batch batch;
  for (uint64_t i = 0; i < 8; ++i) batch.post(**idx, RequestType::kQuery, i * 331);
  for (uint64_t i = 0; i < 8; ++i) batch.post(**idx, RequestType::kPost, kBaseNames + i);
  batch.post(**idx, RequestType::kUpdate, 7);
  batch.wait();
  sync_index(**idx);
  (void)(*idx)->stats();
  (*idx)->stop();
  (void)(*idx)->save();
  return 0;
}
