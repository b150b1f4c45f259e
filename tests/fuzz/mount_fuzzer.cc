// Fuzz target: mounting a small in-memory volume with one damaged metadata block. Two base
// images are built once with mkfs and a real workload: "clean" (closed) and "crashed" (flushed,
// never closed: the journal is replayed at open). The metadata blocks are the geometry, both
// super-block copies, the index superblock and state block, the block-map roots, every journal
// block, every allocated tree page and every reference-count block.
// Input: flags u8 (bit 0: re-seal the block's checksums the way its decoder checks them; bit 1:
// the crashed base), which block u16 (mod the list), offset u16 (mod 4096), then bytes written
// over the block from that offset. Then: open, reads, writes, a flush, reads, close.
// Properties: no crash, no hang, no sanitizer report (errors, read-only mode or a refused mount
// are all fine).
#include <future>
#include <memory>
#include <vector>

#include "engine/format/block_map_page.h"
#include "engine/io/ram_device.h"
#include "engine/user_request.h"
#include "engine/volume.h"
#include "mkfs/formatter.h"
#include "tests/fuzz/fuzz_util.h"

using namespace vdofs;

namespace {

enum class Kind { kTailCrc, kIndexPage, kSectors, kJournal };
struct Target {
  uint64_t pbn;
  Kind kind;
};

class Wait final : public engine::UserRequest {
 public:
  void complete(std::error_code ec) override { p_.set_value(ec); }
  std::error_code get() {
    if (f_.wait_for(std::chrono::seconds(120)) != std::future_status::ready) __builtin_trap();
    return f_.get();
  }

 private:
  std::promise<std::error_code> p_;
  std::future<std::error_code> f_ = p_.get_future();
};

engine::VolumeOptions options() {
  engine::VolumeOptions o;
  o.threads.logical = 1;
  o.threads.physical = 1;
  o.threads.hash = 1;
  o.threads.io = 1;
  o.threads.index = 1;
  o.threads.cpu = 1;
  o.max_in_flight = 16;
  o.block_map_cache_pages = 16;
  o.dedupe_timeout_ms = 60000;
  return o;
}

std::vector<std::byte> pattern(uint64_t seed) {
  std::vector<std::byte> b(kBlockSize);
  for (size_t i = 0; i < kBlockSize; i += 8) format::put_u64(b.data() + i, seed * 0x9E37 + i);
  return b;
}

std::error_code write(engine::Volume& v, uint64_t lbn, uint64_t seed) {
  Wait w;
  auto d = pattern(seed);
  v.submit_write(&w, lbn * kBlockSize, d.data(), d.size(), false);
  return w.get();
}
std::error_code read(engine::Volume& v, uint64_t lbn) {
  Wait w;
  std::vector<std::byte> d(kBlockSize);
  v.submit_read(&w, lbn * kBlockSize, d.data(), d.size());
  return w.get();
}
std::error_code flush(engine::Volume& v) {
  Wait w;
  v.submit_flush(&w);
  return w.get();
}

// LBNs the base workload writes: several leaf pages (800 LBNs each) and duplicates.
constexpr uint64_t kLbns[] = {0, 1, 2, 3, 799, 800, 1600, 4000, 6000, 8100};

struct Bases {
  std::unique_ptr<io::RamDevice> clean, crashed;
  std::vector<Target> targets;
};

const Bases& bases() {
  static const Bases b = [] {
    fuzz::quiet_logs();
    Bases out;
    auto dev = std::make_unique<io::RamDevice>(4096, "mount-fuzz");
    mkfs::FormatOptions fo;
    fo.physical_blocks = 4096;
    fo.logical_blocks = 8192;
    fo.slab_bits = 10;
    fo.journal_blocks = 16;
    fo.index_memory = 256 << 10;
    fo.name = "fuzz";
    if (!mkfs::format_volume(*dev, fo)) __builtin_trap();
    {
      auto v = engine::Volume::open(*dev, options());
      if (!v) __builtin_trap();
      uint64_t seed = 1;
      for (uint64_t lbn : kLbns)
        if (write(**v, lbn, seed++ % 4)) __builtin_trap();
      if (flush(**v)) __builtin_trap();
      if (write(**v, 2, 9) || flush(**v)) __builtin_trap();
      (*v)->quiesce();
      out.crashed = dev->clone();
      if (!(*v)->close()) __builtin_trap();
    }
    out.clean = dev->clone();
    // The metadata blocks of the crashed image (a superset of the clean one's tree pages).
    auto header = engine::read_volume_header(*out.crashed);
    if (!header) __builtin_trap();
    const format::Geometry& g = header->geometry;
    const format::Layout layout(g);
    out.targets = {{0, Kind::kTailCrc}, {1, Kind::kTailCrc}, {2, Kind::kTailCrc}};
    out.targets.push_back({layout.index_start(), Kind::kIndexPage});
    out.targets.push_back({layout.index_start() + 1, Kind::kIndexPage});
    for (uint32_t r = 0; r < format::kBlockMapRootCount; ++r)
      out.targets.push_back({layout.root_pbn(r), Kind::kSectors});
    for (uint32_t j = 0; j < layout.journal_blocks(); ++j)
      out.targets.push_back({layout.journal_start() + j, Kind::kJournal});
    fuzz::Block blk{};
    for (uint64_t s = 0; s < layout.slab_count(); ++s) {
      for (uint64_t i = 0; i < layout.data_blocks_per_slab(); ++i) {
        const Pbn pbn = layout.data_pbn(s, i);
        if (!out.crashed->read(raw(pbn), blk)) __builtin_trap();
        for (uint8_t level = 0; level < 5; ++level)
          if (format::check_block_map_page(blk, g.nonce, pbn, level))
            out.targets.push_back({raw(pbn), Kind::kSectors});
      }
      for (uint64_t k = 0; k < layout.ref_blocks_per_slab(); ++k)
        out.targets.push_back({layout.ref_block_pbn(s, k), Kind::kSectors});
    }
    return out;
  }();
  return b;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Bases& base = bases();
  fuzz::Input in(data, size);
  const uint8_t flags = in.u8();
  const Target t = base.targets[in.u16() % base.targets.size()];
  const size_t offset = in.u16() % kBlockSize;
  std::unique_ptr<io::RamDevice> dev = ((flags & 2) ? base.crashed : base.clean)->clone();
  fuzz::Block b{};
  if (!dev->read(t.pbn, b)) __builtin_trap();
  in.bytes(std::span<std::byte>(b).subspan(offset));
  if (flags & 1) {
    fuzz::Block g{};
    if (!dev->read(0, g)) __builtin_trap();
    const uint64_t vol_nonce = format::get_u64(g.data() + 16);
    switch (t.kind) {
      case Kind::kTailCrc:
        fuzz::reseal_tail_crc(b);
        break;
      case Kind::kIndexPage:
        fuzz::reseal_index_page(b);
        break;
      case Kind::kSectors:
        fuzz::reseal_sectors(b, format::metadata_seed(vol_nonce, t.pbn));
        break;
      case Kind::kJournal: {
        auto header = engine::read_volume_header(*dev);
        const uint64_t start = header ? format::Layout(header->geometry).journal_start() : 0;
        fuzz::reseal_sectors(b, format::metadata_seed(vol_nonce, t.pbn - start));
        break;
      }
    }
  }
  if (!dev->write(t.pbn, b) || !dev->flush()) __builtin_trap();

  auto v = engine::Volume::open(*dev, options());
  if (!v) return 0;
  for (uint64_t lbn : kLbns) (void)read(**v, lbn);
  (void)write(**v, 5, 1);     // a duplicate of LBN 0's content
  (void)write(**v, 801, 77);  // new content in an existing leaf
  (void)write(**v, 7000, 78);
  (void)flush(**v);
  for (uint64_t lbn : {5, 801, 7000, 0}) (void)read(**v, lbn);
  (void)(*v)->stats();
  (void)(*v)->close();
  return 0;
}
