#include "engine/volume_check.h"

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <memory>

#include "engine/base/log.h"
#include "engine/format/block_map_page.h"
#include "engine/format/journal_block.h"
#include "engine/format/layout.h"
#include "engine/format/ref_block.h"
#include "engine/format/super_block.h"
#include "engine/volume.h"

namespace vdofs::engine {

namespace {

using format::kEntriesPerPage;

struct Checker {
  io::BlockDevice& dev;
  const CheckOptions& opts;
  CheckReport& report;
  format::Geometry g;
  format::SuperBlock sb;
  std::unique_ptr<format::Layout> layout;
  // Expected references per data block, per slab.
  std::vector<std::vector<uint16_t>> expected;
  // Leaf pages to rewrite on repair: pbn -> bytes.
  std::vector<std::pair<Pbn, std::vector<std::byte>>> rewrite;

  void problem(const char* fmt, ...) __attribute__((format(printf, 2, 3))) {
    if (report.problems.size() >= opts.max_reported) return;
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    report.problems.push_back(buf);
  }

  bool count_reference(Pbn pbn) {
    if (!layout->is_data_block(pbn)) return false;
    uint16_t& e = expected[layout->slab_of(pbn)][layout->offset_in_slab(pbn)];
    if (e == 0) ++report.referenced_blocks;
    if (e < UINT16_MAX) ++e;
    return true;
  }
  // A 255th mapping of one block cannot be represented: a repair unmaps it (its data is lost)
  // rather than leave a count that a later decrement would take to zero while mapped.
  bool over_limit(Pbn pbn) {
    return layout->is_data_block(pbn) &&
           expected[layout->slab_of(pbn)][layout->offset_in_slab(pbn)] >= kMaxReferences;
  }

  Result<std::vector<std::byte>> read_page(Pbn pbn, uint32_t level, bool* valid) {
    std::vector<std::byte> page(kBlockSize);
    VDOFS_TRY(dev.read(raw(pbn), page));
    *valid = format::check_block_map_page(
                 std::span<const std::byte, kBlockSize>(page.data(), kBlockSize), g.nonce, pbn,
                 static_cast<uint8_t>(level))
                 .has_value();
    return page;
  }

  void bad_mapping(std::span<std::byte, kBlockSize> span, uint32_t slot, bool* dirty) {
    ++report.bad_mappings;
    if (opts.repair) {
      format::set_block_map_entry(span, slot, kUnmappedMapping);
      *dirty = true;
    }
  }

  // A leaf: LBN -> data block.
  void walk_leaf(std::vector<std::byte>& page, Pbn pbn, uint64_t leaf_index) {
    bool dirty = false;
    auto span = std::span<std::byte, kBlockSize>(page.data(), kBlockSize);
    for (uint32_t slot = 0; slot < kEntriesPerPage; ++slot) {
      Mapping m = format::get_block_map_entry(span, slot);
      if (!m.is_mapped()) continue;
      uint64_t lbn = leaf_index * kEntriesPerPage + slot;
      if (lbn >= sb.logical_blocks || m.state != MappingState::kMapped) {
        problem("LBN %llu: impossible mapping (PBN %llu, state %u)",
                static_cast<unsigned long long>(lbn), static_cast<unsigned long long>(raw(m.pbn)),
                static_cast<unsigned>(m.state));
        bad_mapping(span, slot, &dirty);
        continue;
      }
      if (m.pbn == kZeroPbn) {
        ++report.mapped_lbns;
        ++report.zero_lbns;
        continue;
      }
      if (opts.repair && over_limit(m.pbn)) {
        ++report.over_limit;
        problem("LBN %llu: PBN %llu already has 254 mappings; unmapped",
                static_cast<unsigned long long>(lbn), static_cast<unsigned long long>(raw(m.pbn)));
        format::set_block_map_entry(span, slot, kUnmappedMapping);
        dirty = true;
        continue;
      }
      if (!count_reference(m.pbn)) {
        problem("LBN %llu maps to PBN %llu, outside the data region",
                static_cast<unsigned long long>(lbn), static_cast<unsigned long long>(raw(m.pbn)));
        bad_mapping(span, slot, &dirty);
        continue;
      }
      ++report.mapped_lbns;
      ++report.references;
    }
    if (dirty) {
      rewrite.push_back({pbn, page});
      ++report.repairs;
    }
  }

  // An interior page at `level` (3 = root) in `tree`, at position `pos` within its level.
  Result<void> walk_interior(std::vector<std::byte>& page, Pbn pbn, uint32_t level, uint32_t tree,
                             uint64_t pos) {
    bool dirty = false;
    auto span = std::span<std::byte, kBlockSize>(page.data(), kBlockSize);
    for (uint32_t slot = 0; slot < kEntriesPerPage; ++slot) {
      Mapping m = format::get_block_map_entry(span, slot);
      if (!m.is_mapped()) continue;
      const uint32_t child_level = level - 1;
      const uint64_t child_pos = pos * kEntriesPerPage + slot;
      if (m.state != MappingState::kMapped || !count_reference(m.pbn)) {
        problem("block-map page (level %u) at PBN %llu is outside the data region", child_level,
                static_cast<unsigned long long>(raw(m.pbn)));
        bad_mapping(span, slot, &dirty);
        continue;
      }
      ++report.tree_pages;
      bool valid = false;
      VDOFS_ASSIGN(std::vector<std::byte> child, read_page(m.pbn, child_level, &valid));
      if (!valid) {
        ++report.bad_pages;
        problem("block-map page (level %u) at PBN %llu fails validation", child_level,
                static_cast<unsigned long long>(raw(m.pbn)));
        if (!opts.repair) continue;
        // Its mappings are lost; the page itself stays, empty.
        format::init_block_map_page(std::span<std::byte, kBlockSize>(child.data(), kBlockSize));
        child[6] = std::byte{static_cast<uint8_t>(child_level)};
        rewrite.push_back({m.pbn, child});
        ++report.repairs;
        continue;
      }
      if (child_level == 0) {
        walk_leaf(child, m.pbn, child_pos * format::kBlockMapRootCount + tree);
      } else {
        VDOFS_TRY(walk_interior(child, m.pbn, child_level, tree, child_pos));
      }
    }
    if (dirty) {
      rewrite.push_back({pbn, page});
      ++report.repairs;
    }
    return ok();
  }
};

}  // namespace

Result<CheckReport> check_volume(io::BlockDevice& device, const CheckOptions& options) {
  CheckReport report;
  Checker c{device, options, report, {}, {}, nullptr, {}, {}};
  VDOFS_ASSIGN(VolumeHeader h, read_volume_header(device));
  c.g = h.geometry;
  c.sb = h.super;
  report.state = format::state_name(c.sb.state);
  report.logical_blocks = c.sb.logical_blocks;
  if (c.sb.state == format::VolumeState::kDirty && !options.repair) return errc::component_busy;
  c.layout = std::make_unique<format::Layout>(c.g);
  const format::Layout& layout = *c.layout;
  c.expected.assign(layout.slab_count(), std::vector<uint16_t>(layout.data_blocks_per_slab(), 0));

  // 1. The block map, from the 60 roots down.
  for (uint32_t t = 0; t < format::kBlockMapRootCount; ++t) {
    Pbn root{layout.root_pbn(t)};
    bool valid = false;
    VDOFS_ASSIGN(std::vector<std::byte> page, c.read_page(root, 3, &valid));
    if (!valid) {
      ++report.bad_pages;
      c.problem("block-map root %u fails validation", t);
      if (!options.repair) continue;
      format::init_block_map_page(std::span<std::byte, kBlockSize>(page.data(), kBlockSize));
      c.rewrite.push_back({root, page});
      ++report.repairs;
    }
    if (!valid) page[6] = std::byte{3};
    VDOFS_TRY(c.walk_interior(page, root, 3, t, 0));
    if (options.progress) options.progress("block map", t + 1, format::kBlockMapRootCount);
  }

  // 2. Reference counts against the expectation.
  const uint64_t refs = layout.ref_blocks_per_slab();
  std::vector<std::byte> buf(kBlockSize);
  for (uint64_t s = 0; s < layout.slab_count(); ++s) {
    for (uint64_t k = 0; k < refs; ++k) {
      uint64_t pbn = layout.ref_block_pbn(s, k);
      VDOFS_TRY(device.read(pbn, buf));
      auto block = std::span<const std::byte, kBlockSize>(buf.data(), kBlockSize);
      format::RefBlockImage img;
      bool rewrite = false;
      for (uint32_t sec = 0; sec < kSectorsPerBlock; ++sec) {
        if (format::decode_ref_sector(block, c.g.nonce, pbn, sec, img)) continue;
        ++report.bad_ref_sectors;
        c.problem("reference-count block %llu of slab %llu: sector %u fails validation",
                  static_cast<unsigned long long>(k), static_cast<unsigned long long>(s), sec);
        rewrite = true;
      }
      for (uint64_t i = 0; i < format::kRefCountsPerBlock; ++i) {
        uint64_t off = k * format::kRefCountsPerBlock + i;
        if (off >= layout.data_blocks_per_slab()) break;
        uint16_t want = c.expected[s][off];
        if (want > kMaxReferences) {
          ++report.over_limit;
          c.problem("PBN %llu has %u mappings (more than 254)",
                    static_cast<unsigned long long>(raw(layout.data_pbn(s, off))), want);
        }
        uint8_t have = img.counts[i];
        uint8_t fixed = static_cast<uint8_t>(std::min<uint16_t>(want, kMaxReferences));
        if (have != want) {
          ++report.refcount_mismatches;
          c.problem("PBN %llu: reference count %u, but %u mappings",
                    static_cast<unsigned long long>(raw(layout.data_pbn(s, off))), have, want);
          rewrite = true;
        }
        img.counts[i] = fixed;
      }
      if (rewrite && options.repair) {
        img.stamps.fill(0);
        format::encode_ref_block(img, c.g.nonce, pbn,
                                 std::span<std::byte, kBlockSize>(buf.data(), kBlockSize));
        VDOFS_TRY(device.write(pbn, buf));
        ++report.repairs;
      }
    }
    if (options.progress) options.progress("reference counts", s + 1, layout.slab_count());
  }

  if (!options.repair) return report;

  // 3. Repair: write the fixed pages, reset the journal, mark clean.
  for (auto& [pbn, page] : c.rewrite) {
    auto span = std::span<std::byte, kBlockSize>(page.data(), kBlockSize);
    // Byte 6 of every sector holds the page's level (set above for reset pages).
    uint8_t lv = std::to_integer<uint8_t>(page[6]);
    format::seal_block_map_page(span, c.g.nonce, pbn, lv);
    VDOFS_TRY(device.write(raw(pbn), page));
  }
  // Journal: continue after the highest sequence present so nothing old is ever replayed.
  uint64_t max_seq = c.sb.journal_start;
  for (uint64_t i = 0; i < layout.journal_blocks(); ++i) {
    VDOFS_TRY(device.read(layout.journal_start() + i, buf));
    auto b =
        format::decode_journal_block(std::span<const std::byte, kBlockSize>(buf.data(), kBlockSize),
                                     c.g.nonce, layout.journal_start() + i);
    if (b) max_seq = std::max(max_seq, b->header.sequence + 1);
  }
  format::SuperBlock sb = c.sb;
  bool was_read_only =
      sb.state == format::VolumeState::kReadOnly || sb.state == format::VolumeState::kForceRebuild;
  sb.state = format::VolumeState::kClean;
  sb.journal_start = max_seq;
  sb.logical_blocks_used = report.mapped_lbns;
  if (was_read_only || report.repairs) ++sb.read_only_recoveries;
  sb.index_save_slot = 0;
  sb.generation += 1;
  format::encode_super_block(sb, std::span<std::byte, kBlockSize>(buf.data(), kBlockSize));
  VDOFS_TRY(device.write(1 + (sb.generation % format::kSuperBlockCopies), buf));
  VDOFS_TRY(device.flush());
  report.repaired = true;
  return report;
}

namespace {
VolumeOptions offline_options() {
  VolumeOptions vo;
  vo.dedupe = false;
  vo.defer_start = true;
  vo.threads.single_thread = true;
  vo.threads.cpu = 1;
  vo.threads.index = 1;
  vo.max_in_flight = 16;
  return vo;
}

void tell(void (*say)(const char*), const std::string& m) {
  if (say) say(m.c_str());
}
}  // namespace

Result<CheckReport> check_and_repair(io::BlockDevice& device, const CheckOptions& options,
                                     void (*say)(const char*)) {
  VDOFS_ASSIGN(VolumeHeader h, read_volume_header(device));
  format::VolumeState state = h.super.state;
  bool rebuild = false;
  if (state == format::VolumeState::kDirty) {
    tell(say, "recovering: replaying the recovery journal");
    auto vol = Volume::open(device, offline_options());
    if (vol) {
      auto r = (*vol)->close();
      if (!r) tell(say, "recovery shutdown failed: " + r.error().message());
    } else if (!options.repair) {
      return vol.error();
    } else {
      tell(say, "recovery failed (" + vol.error().message() + "); rebuilding instead");
      rebuild = true;
    }
    if (!rebuild) {
      VDOFS_ASSIGN(VolumeHeader h2, read_volume_header(device));
      state = h2.super.state;
    }
  }
  if (options.repair &&
      (rebuild || state == format::VolumeState::kReadOnly ||
       state == format::VolumeState::kForceRebuild || state == format::VolumeState::kDirty)) {
    tell(say, "replaying the recovery journal into the block map");
    VolumeOptions vo = offline_options();
    vo.rebuild_block_map = true;
    auto vol = Volume::open(device, vo);
    if (!vol)
      tell(say, "the journal could not be replayed (" + vol.error().message() +
                    "); using the block map as it is");
  }
  auto report = check_volume(device, options);
  if (report) report->state = format::state_name(h.super.state);
  return report;
}

}  // namespace vdofs::engine
