// Randomized multi-threaded stress: several client threads issue overlapping reads, writes,
// zero writes and discards with heavily shared content on a multi-zone engine. Each thread
// checks its private LBNs exactly against its model; LBNs shared by all threads must always read
// as some block that was written there (never a mix); at the end the offline check must find the
// reference counts exact. Runs in the ThreadSanitizer and AddressSanitizer builds.
//
// VDOFS_STRESS_SECONDS (default 20) bounds the run; VDOFS_STRESS_SEED sets the seed (printed).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <random>
#include <thread>

#include "tests/support/volume_harness.h"

namespace vdofs::test {
namespace {

uint64_t env_u64(const char* name, uint64_t fallback) {
  const char* v = getenv(name);
  return v ? strtoull(v, nullptr, 10) : fallback;
}

constexpr uint64_t kContents = 48;   // shared contents: lots of dedupe and some rollover
constexpr uint64_t kShared = 512;    // LBNs every thread writes
constexpr uint64_t kPrivate = 2048;  // LBNs per thread

bool is_known(const std::vector<std::byte>& b) {
  if (std::all_of(b.begin(), b.end(), [](std::byte x) { return x == std::byte{0}; })) return true;
  // pattern_block(id) starts with bytes derived from id; compare against the candidates.
  for (uint64_t id = 1; id <= kContents; ++id)
    if (b == pattern_block(id)) return true;
  return false;
}

void run_stress(const threads::ThreadCounts& zones, uint64_t seed, double seconds) {
  SCOPED_TRACE("seed " + std::to_string(seed));
  HarnessOptions o;
  o.physical_blocks = 16384;
  o.logical_blocks = 65536;
  o.slab_bits = 10;
  o.journal_blocks = 64;
  o.cache_pages = 128;
  o.max_in_flight = 256;
  o.threads = zones;
  Harness h(o);
  const int kThreads = 4;
  std::atomic<bool> failed{false};
  std::vector<std::thread> clients;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  std::atomic<uint64_t> ops{0};
  for (int t = 0; t < kThreads; ++t) {
    clients.emplace_back([&, t] {
      std::mt19937_64 rng(seed * 31 + static_cast<uint64_t>(t));
      std::vector<uint64_t> model(kPrivate, 0);  // content id per private LBN
      const uint64_t base = kShared + static_cast<uint64_t>(t) * kPrivate;
      while (std::chrono::steady_clock::now() < deadline && !failed.load()) {
        bool shared = rng() % 4 == 0;
        uint64_t n = 1 + rng() % 16;
        uint64_t first = shared ? rng() % (kShared - n) : rng() % (kPrivate - n);
        uint64_t lbn = shared ? first : base + first;
        unsigned kind = static_cast<unsigned>(rng() % 10);
        if (kind < 5) {
          std::vector<std::byte> data;
          std::vector<uint64_t> ids;
          for (uint64_t i = 0; i < n; ++i) {
            uint64_t id = rng() % 8 == 0 ? 0 : 1 + rng() % kContents;
            auto b = pattern_block(id);
            data.insert(data.end(), b.begin(), b.end());
            ids.push_back(id);
          }
          if (write(h.volume(), lbn * kBlockSize, data)) failed.store(true);
          if (!shared)
            for (uint64_t i = 0; i < n; ++i) model[first + i] = ids[i];
        } else if (kind < 6) {
          if (discard(h.volume(), lbn * kBlockSize, n * kBlockSize)) failed.store(true);
          if (!shared)
            for (uint64_t i = 0; i < n; ++i) model[first + i] = 0;
        } else if (kind < 7) {
          if (flush(h.volume())) failed.store(true);
        } else {
          std::vector<std::byte> out(n * kBlockSize);
          if (read(h.volume(), lbn * kBlockSize, out)) failed.store(true);
          for (uint64_t i = 0; i < n && !failed.load(); ++i) {
            std::vector<std::byte> b(out.begin() + static_cast<ptrdiff_t>(i * kBlockSize),
                                     out.begin() + static_cast<ptrdiff_t>((i + 1) * kBlockSize));
            bool good = shared ? is_known(b) : b == pattern_block(model[first + i]);
            if (!good) {
              ADD_FAILURE() << (shared ? "shared" : "private") << " LBN " << lbn + i
                            << " holds unexpected bytes";
              failed.store(true);
            }
          }
        }
        ops.fetch_add(1);
      }
      // Final exact check of the private range.
      std::vector<std::byte> out(kPrivate * kBlockSize);
      if (read(h.volume(), base * kBlockSize, out)) failed.store(true);
      for (uint64_t i = 0; i < kPrivate && !failed.load(); ++i) {
        std::vector<std::byte> b(out.begin() + static_cast<ptrdiff_t>(i * kBlockSize),
                                 out.begin() + static_cast<ptrdiff_t>((i + 1) * kBlockSize));
        if (b != pattern_block(model[i])) {
          ADD_FAILURE() << "private LBN " << base + i << " lost its last write";
          failed.store(true);
        }
      }
    });
  }
  for (auto& c : clients) c.join();
  ASSERT_FALSE(failed.load());
  auto st = settled_stats(h.volume());
  printf(
      "stress L%u P%u H%u: %llu operations, %llu logical / %llu data blocks used, %llu valid "
      "advice, %llu concurrent matches\n",
      zones.logical, zones.physical, zones.hash, static_cast<unsigned long long>(ops.load()),
      static_cast<unsigned long long>(st.logical_blocks_used),
      static_cast<unsigned long long>(st.data_blocks_used),
      static_cast<unsigned long long>(st.dedupe_advice_valid),
      static_cast<unsigned long long>(st.concurrent_data_matches));
  EXPECT_LE(st.data_blocks_used, kContents * 8) << "shared contents must dedupe";
  h.close_and_check();
}

TEST(Stress, OneZoneEach) {
  run_stress(zone_counts(1, 1, 1), env_u64("VDOFS_STRESS_SEED", 1),
             static_cast<double>(env_u64("VDOFS_STRESS_SECONDS", 20)) / 2);
}

TEST(Stress, SeveralZones) {
  run_stress(zone_counts(3, 2, 2), env_u64("VDOFS_STRESS_SEED", 2),
             static_cast<double>(env_u64("VDOFS_STRESS_SECONDS", 20)) / 2);
}

}  // namespace
}  // namespace vdofs::test
