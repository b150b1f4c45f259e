// Recovery benchmarks (reported, not asserted), on a sparse file in $TMPDIR (default /tmp):
//   BM_RecoveryFullJournal/N   writes N blocks so the journal holds about N entries (checkpoints
//                              are what bounds it: at most about half the ring), kills the volume
//                              without a shutdown, and times the next open (journal scan, replay
//                              into block map and reference counts, write-back, flush).
//   BM_FsyncEveryWrite         4 KiB writes each followed by a flush: the cost of a journal commit
//                              (preflush + journal write + FUA) as seen by a synchronous writer.
// The writes share content in groups (one copy per 254 mappings), so the journal fills with
// entries while the data stays small; LBNs are spread over the volume so replay touches many
// block-map leaves.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>

#include "engine/io/file_device.h"
#include "mkfs/formatter.h"
#include "tests/support/volume_harness.h"

using namespace vdofs;

namespace {

std::string temp_path(const char* name) {
  const char* dir = getenv("TMPDIR");
  return std::string(dir ? dir : "/tmp") + "/" + name + "." + std::to_string(getpid());
}

struct FileVolume {
  std::string path;
  std::unique_ptr<io::FileDevice> dev;
  explicit FileVolume(uint64_t physical_blocks, uint32_t journal_blocks)
      : path(temp_path("vdofs-recovery-bench")) {
    FILE* f = fopen(path.c_str(), "w");
    fclose(f);
    std::filesystem::resize_file(path, physical_blocks * kBlockSize);
    dev = std::move(*io::FileDevice::open(path, io::FileDeviceOptions{}));
    mkfs::FormatOptions fo;
    fo.physical_blocks = physical_blocks;
    fo.logical_blocks = physical_blocks * 8;
    fo.journal_blocks = journal_blocks;
    fo.name = "bench";
    (void)mkfs::format_volume(*dev, fo);
  }
  ~FileVolume() {
    dev.reset();
    unlink(path.c_str());
  }
};

engine::VolumeOptions options() {
  engine::VolumeOptions vo;
  vo.threads = threads::ThreadCounts::defaults_for_machine();
  return vo;
}

void BM_RecoveryFullJournal(benchmark::State& state) {
  const auto entries = static_cast<uint64_t>(state.range(0));
  // A ring of 4x the entries: the checkpoint (at half full) does not run before the crash.
  uint32_t journal = 64;
  while (uint64_t{journal} * 217 < entries * 4) journal *= 2;
  double replayed = 0;
  for (auto _ : state) {
    state.PauseTiming();
    FileVolume fv(uint64_t{1} << 21, journal);  // 8 GiB sparse
    {
      auto v = std::move(*engine::Volume::open(*fv.dev, options()));
      std::vector<std::byte> block = test::pattern_block(42);
      std::vector<std::byte> run;
      for (int i = 0; i < 64; ++i) run.insert(run.end(), block.begin(), block.end());
      for (uint64_t done = 0; done < entries; done += 64) {
        uint64_t lbn = (done * 7919) % ((uint64_t{1} << 24) - 64);  // spread over 64 GiB
        (void)test::write(*v, lbn * kBlockSize, run);
      }
      (void)test::flush(*v);
      // Destroyed without close(): what SIGKILL leaves (the file has everything flushed).
    }
    state.ResumeTiming();
    auto t0 = std::chrono::steady_clock::now();
    auto v = engine::Volume::open(*fv.dev, options());
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    state.PauseTiming();
    if (!v) state.SkipWithError(v.error().message().c_str());
    replayed = static_cast<double>(entries);
    state.counters["recovery_s"] = secs;
    if (v) (void)(*v)->close();
    state.ResumeTiming();
  }
  state.counters["entries"] = replayed;
}
BENCHMARK(BM_RecoveryFullJournal)
    ->Arg(100000)
    ->Arg(1000000)
    ->Arg(3000000)
    ->Unit(benchmark::kSecond)
    ->Iterations(1);

void BM_FsyncEveryWrite(benchmark::State& state) {
  FileVolume fv(uint64_t{1} << 20, 4096);
  auto v = std::move(*engine::Volume::open(*fv.dev, options()));
  uint64_t n = 0;
  for (auto _ : state) {
    auto b = test::pattern_block(1000 + n);
    (void)test::write(*v, (n % 100000) * kBlockSize, b);
    (void)test::flush(*v);
    ++n;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  (void)v->close();
}
BENCHMARK(BM_FsyncEveryWrite)->Unit(benchmark::kMicrosecond)->MinTime(3);

}  // namespace

BENCHMARK_MAIN();
