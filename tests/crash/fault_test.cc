// Fault injection: the device fails the Nth read, write or flush with EIO. A metadata write or
// flush failure puts the volume in persistent read-only mode (reads keep working, writes fail,
// nothing flushed is lost); a data read failure fails only that read. vdofs-check --repair then
// brings the volume back, consistent and writable.
#include <gtest/gtest.h>

#include "engine/volume_check.h"
#include "tests/support/volume_harness.h"

namespace vdofs::test {
namespace {

HarnessOptions fault_options() {
  HarnessOptions o;
  o.faults = true;
  o.physical_blocks = 8192;
  o.slab_bits = 9;
  o.journal_blocks = 32;
  o.cache_pages = 32;
  o.threads.logical = 2;
  o.threads.physical = 2;
  o.threads.hash = 1;
  o.threads.io = 2;
  o.threads.index = 1;
  o.threads.cpu = 2;
  return o;
}

void expect_reads(engine::Volume& v, uint64_t first_chunk, uint64_t chunks) {
  for (uint64_t c = first_chunk; c < first_chunk + chunks; ++c) {
    std::vector<std::byte> out(16 * kBlockSize);
    ASSERT_FALSE(read(v, c * 64 * kBlockSize, out)) << "chunk " << c;
    ASSERT_EQ(out, pattern(c * 100, 16)) << "chunk " << c;
  }
}

std::error_code write_chunks(engine::Volume& v, uint64_t first, uint64_t n) {
  for (uint64_t c = first; c < first + n; ++c) {
    if (auto ec = write(v, c * 64 * kBlockSize, pattern(c * 100, 16))) return ec;
  }
  return flush(v);
}

// Every kind of write failure (data, journal, block map, reference counts), at many positions.
TEST(Faults, WriteFailureGoesReadOnlyAndLosesNothingFlushed) {
  int exercised = 0;
  for (uint64_t nth = 1; nth <= 160; nth += 7) {
    SCOPED_TRACE("fail write " + std::to_string(nth));
    Harness h(fault_options());
    ASSERT_FALSE(write_chunks(h.volume(), 0, 20));  // flushed: must survive everything below
    h.faults().fail_nth(io::IoOp::kWrite, nth);
    std::error_code ec = write_chunks(h.volume(), 20, 40);
    // Force metadata write-back too, so failures there are reached.
    if (!ec) {
      h.close();
      h.open();
      if (h.faults().injected() == 0) continue;  // nothing failed at this position
    }
    ++exercised;
    auto st = h.volume().stats();
    ASSERT_EQ(st.operating_mode, "read-only") << "a failed write must put the volume read-only";
    ASSERT_TRUE(write(h.volume(), 0, pattern(1, 1))) << "writes must fail in read-only mode";
    expect_reads(h.volume(), 0, 20);
    h.close();
    h.open();  // read-only persists across a remount
    ASSERT_EQ(h.volume().stats().operating_mode, "read-only");
    expect_reads(h.volume(), 0, 20);
    ASSERT_EQ(write(h.volume(), 0, pattern(1, 1)), make_error_code(errc::read_only));
    h.close();
    engine::CheckOptions co;
    co.repair = true;
    auto r = engine::check_and_repair(h.device(), co);
    ASSERT_TRUE(r.has_value()) << r.error().message();
    ASSERT_TRUE(r->repaired);
    auto again = check_device(h.device());
    ASSERT_EQ(again.problem_count(), 0u) << describe(again);
    h.open();
    ASSERT_EQ(h.volume().stats().operating_mode, "normal");
    expect_reads(h.volume(), 0, 20);
    ASSERT_FALSE(write_chunks(h.volume(), 60, 4)) << "repaired volume must be writable";
    h.close_and_check();
  }
  EXPECT_GE(exercised, 15) << "most positions must hit a write";
  printf("%d failure positions exercised\n", exercised);
}

TEST(Faults, FlushFailureFailsTheFsync) {
  Harness h(fault_options());
  ASSERT_FALSE(write_chunks(h.volume(), 0, 5));
  h.faults().fail_nth(io::IoOp::kFlush, 1);
  ASSERT_FALSE(write(h.volume(), 5 * 64 * kBlockSize, pattern(500, 16)));
  EXPECT_TRUE(flush(h.volume())) << "fsync must report the failed device flush";
  EXPECT_EQ(h.volume().stats().operating_mode, "read-only");
  expect_reads(h.volume(), 0, 5);
}

TEST(Faults, DataReadFailureFailsOnlyThatRead) {
  Harness h(fault_options());
  ASSERT_FALSE(write_chunks(h.volume(), 0, 4));
  h.close();
  h.open();
  {  // load the leaf page first: block-map pages live in slab blocks too
    std::vector<std::byte> warm(kBlockSize);
    ASSERT_FALSE(read(h.volume(), 3 * 64 * kBlockSize, warm));
  }
  const format::Layout& layout = h.volume().layout();
  h.faults().fail_if([&](io::IoOp op, uint64_t block, uint64_t) {
    return op == io::IoOp::kRead && layout.is_data_block(Pbn{block});
  });
  std::vector<std::byte> out(16 * kBlockSize);
  EXPECT_TRUE(read(h.volume(), 0, out)) << "the read of a failing data block must fail";
  h.faults().fail_if(nullptr);
  EXPECT_EQ(h.volume().stats().operating_mode, "normal")
      << "a data read error is not a metadata error";
  expect_reads(h.volume(), 0, 4);
  ASSERT_FALSE(write_chunks(h.volume(), 4, 2));
  h.close_and_check();
}

TEST(Faults, MetadataReadFailureGoesReadOnly) {
  Harness h(fault_options());
  ASSERT_FALSE(write_chunks(h.volume(), 0, 30));
  h.close();
  h.open();  // cold cache: the first read below loads the leaf page
  h.faults().fail_nth(io::IoOp::kRead, 1);
  std::vector<std::byte> out(16 * kBlockSize);
  EXPECT_TRUE(read(h.volume(), 29 * 64 * kBlockSize, out))
      << "a leaf page that cannot be read fails the read";
  EXPECT_EQ(h.volume().stats().operating_mode, "read-only");
  expect_reads(h.volume(), 0, 28);  // the page loads fine the next time: reads still work
}

}  // namespace
}  // namespace vdofs::test
