// make_fuzz_corpus DIR: writes the seed corpus of every fuzz target (DIR/<target>/seed-*) from a
// real volume: mkfs on an in-memory device, a few writes and flushes, then the blocks of the
// image (clean and crashed) in each target's input format (tests/fuzz/*_fuzzer.cc). Deterministic
// except for the nonces and salts mkfs draws. Run by scripts/fuzz --seeds.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <string>
#include <vector>

#include "engine/format/block_map_page.h"
#include "engine/format/layout.h"
#include "engine/io/ram_device.h"
#include "engine/volume.h"
#include "index/geometry.h"
#include "mkfs/formatter.h"
#include "tests/fuzz/fuzz_util.h"

using namespace vdofs;
namespace fs = std::filesystem;

namespace {

fs::path g_root;
int g_written = 0;

void seed(const std::string& target, const std::string& name, const std::vector<uint8_t>& bytes) {
  fs::create_directories(g_root / target);
  std::ofstream(g_root / target / ("seed-" + name), std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
  ++g_written;
}

struct Bytes {
  std::vector<uint8_t> v;
  Bytes& u8(uint8_t x) {
    v.push_back(x);
    return *this;
  }
  Bytes& u16(uint16_t x) { return u8(static_cast<uint8_t>(x)).u8(static_cast<uint8_t>(x >> 8)); }
  Bytes& u64(uint64_t x) {
    for (int i = 0; i < 8; ++i) u8(static_cast<uint8_t>(x >> (8 * i)));
    return *this;
  }
  Bytes& block(const fuzz::Block& b) {
    for (std::byte x : b) v.push_back(std::to_integer<uint8_t>(x));
    return *this;
  }
};

fuzz::Block read(io::BlockDevice& d, uint64_t pbn) {
  fuzz::Block b{};
  if (!d.read(pbn, b)) __builtin_trap();
  return b;
}

class Wait final : public engine::UserRequest {
 public:
  void complete(std::error_code ec) override { p_.set_value(ec); }
  std::error_code get() { return p_.get_future().get(); }

 private:
  std::promise<std::error_code> p_;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: make_fuzz_corpus DIR\n");
    return 2;
  }
  g_root = argv[1];
  io::RamDevice dev(4096, "corpus");
  mkfs::FormatOptions fo;
  fo.physical_blocks = 4096;
  fo.logical_blocks = 8192;
  fo.slab_bits = 10;
  fo.journal_blocks = 16;
  fo.index_memory = 256 << 10;
  fo.name = "fuzz";
  if (!mkfs::format_volume(dev, fo)) return 1;
  engine::VolumeOptions vo;
  vo.threads.io = 1;
  vo.threads.cpu = 1;
  std::unique_ptr<io::RamDevice> crashed;
  {
    auto v = engine::Volume::open(dev, vo);
    if (!v) return 1;
    std::vector<std::byte> data(kBlockSize);
    for (uint64_t lbn : {0, 1, 799, 800, 1600, 4000, 8100}) {
      format::put_u64(data.data(), lbn % 3);
      Wait w;
      (*v)->submit_write(&w, lbn * kBlockSize, data.data(), data.size(), false);
      if (w.get()) return 1;
    }
    Wait f;
    (*v)->submit_flush(&f);
    if (f.get()) return 1;
    (*v)->quiesce();
    crashed = dev.clone();
    if (!(*v)->close()) return 1;
  }
  auto header = engine::read_volume_header(*crashed);
  if (!header) return 1;
  const format::Geometry& g = header->geometry;
  const format::Layout layout(g);

  seed("geometry", "0", Bytes{}.u8(1).block(read(dev, 0)).v);
  seed("super_block", "clean", Bytes{}.u8(1).block(read(dev, 1)).block(read(dev, 2)).v);
  seed("super_block", "dirty", Bytes{}.u8(1).block(read(*crashed, 1)).block(read(*crashed, 2)).v);

  int pages = 0;
  for (uint64_t i = 0; i < layout.data_blocks_per_slab() && pages < 6; ++i) {
    const Pbn pbn = layout.data_pbn(0, i);
    const fuzz::Block b = read(*crashed, raw(pbn));
    for (uint8_t level = 0; level < 5; ++level)
      if (format::check_block_map_page(b, g.nonce, pbn, level))
        seed("block_map_page", std::to_string(pages++),
             Bytes{}.u8(1).u64(g.nonce).u64(raw(pbn)).u8(level).block(b).v);
  }
  const fuzz::Block root = read(*crashed, layout.root_pbn(0));
  for (uint8_t level = 0; level < 5; ++level)
    if (format::check_block_map_page(root, g.nonce, Pbn{layout.root_pbn(0)}, level))
      seed("block_map_page", "root",
           Bytes{}.u8(1).u64(g.nonce).u64(layout.root_pbn(0)).u8(level).block(root).v);

  for (uint64_t s = 0; s < layout.slab_count(); ++s) {
    const uint64_t pbn = layout.ref_block_pbn(s, 0);
    seed("ref_block", std::to_string(s),
         Bytes{}.u8(1).u64(g.nonce).u64(pbn).block(read(*crashed, pbn)).v);
  }
  for (uint16_t j = 0; j < layout.journal_blocks(); ++j) {
    const fuzz::Block b = read(*crashed, layout.journal_start() + j);
    if (format::get_u64(b.data() + 16) == g.nonce)
      seed("journal_block", std::to_string(j), Bytes{}.u8(1).u16(j).block(b).v);
  }

  // Index region: its superblock, state block and the first blocks of both save slots.
  const index::Geometry ig = index::compute_geometry(g.index_memory, g.sparse_index);
  const uint64_t istart = layout.index_start();
  for (uint64_t rel : {uint64_t{0}, uint64_t{1}, ig.slot_start(0), ig.slot_start(0) + 1,
                       ig.slot_start(1), ig.slot_start(1) + 1, ig.frames_start}) {
    Bytes b;
    b.u8(1);
    for (int k = 0; k < 20; ++k) b.u8(static_cast<uint8_t>(k * 13));
    seed("index_page", std::to_string(rel), b.block(read(dev, istart + rel)).v);
  }
  // index_region: a few bytes over the state block, a save header, a save stream, a frame.
  for (uint8_t flags : {1, 3})
    for (uint64_t rel : {uint64_t{1}, ig.slot_start(0), ig.slot_start(0) + 1, ig.slot_start(1) + 1,
                         ig.frames_start, ig.chapters_start})
      seed("index_region", std::to_string(flags) + "-" + std::to_string(rel),
           Bytes{}.u8(flags).u16(static_cast<uint16_t>(rel)).u16(64).u64(rel * 77).v);
  // mount: a few bytes over the first blocks of the metadata list of mount_fuzzer.cc.
  for (uint8_t flags : {0, 1, 2, 3})
    for (uint16_t which : {0, 1, 3, 5, 64, 66, 80, 81})
      seed("mount", std::to_string(flags) + "-" + std::to_string(which),
           Bytes{}.u8(flags).u16(which).u16(static_cast<uint16_t>(which * 40)).u64(which).v);
  printf("%d seed files written under %s\n", g_written, g_root.c_str());
  return 0;
}
