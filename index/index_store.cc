// Persistence of the index: format, open (load a save or rebuild after a crash), save, and the
// free functions of index.h.
//
// Threads: open_work() and everything it calls run on the loader thread, which owns every
// partition and wstate_ until it publishes "online". save() runs on the caller after stop(), when
// no index thread is left. format_index/open_index/index_region_blocks run on the caller.
//
// Save slot layout: block 0 is the header (kind kSaveHeader, chapter field = save sequence);
// partition p's stream starts at block 1 + p * partition_save_blocks. A stream is a sequence of
// kSaveData blocks (page = index in the stream) holding: magic, the volume-index meta (open
// chapter, live, dropped, sweeper), the writer's checkpoint sequence, the bit-packed table, the
// chapter page maps, the frame copy bits, and the open chapter's records. A save is current only
// while the state block says "clean" with its slot and sequence; the loader marks the region
// dirty again before anything else is written.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <random>

#include "engine/base/assert.h"
#include "engine/base/log.h"
#include "engine/format/encoding.h"
#include "index/uds_index.h"

namespace vdofs::index {

using format::get_u32;
using format::get_u64;
using format::put_u32;
using format::put_u64;

namespace {

constexpr char kMagic[8] = {'V', 'D', 'O', 'F', 'S', 'U', 'D', 'S'};
constexpr uint64_t kPartitionMagic = 0x54524150'53445556ull;  // "VUDSPART"
constexpr uint64_t kStreamBatchBlocks = 64;

uint64_t random_salt() {
  std::random_device rd;
  uint64_t s = (uint64_t{rd()} << 32) ^ rd() ^
               static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  return s ? s : 1;
}

// Writes a byte stream as sealed kSaveData blocks, in batches.
class StreamWriter {
 public:
  StreamWriter(io::BlockDevice& dev, uint64_t first, uint64_t max_blocks, uint64_t stamp,
               uint32_t partition, uint64_t seq)
      : dev_(dev), first_(first), max_(max_blocks), buf_(kStreamBatchBlocks * kBlockSize) {
    h_.kind = PageKind::kSaveData;
    h_.partition = static_cast<uint8_t>(partition);
    h_.nonce = stamp;
    h_.chapter = seq;
  }
  Result<void> put(const void* data, size_t n) {
    auto* p = static_cast<const std::byte*>(data);
    while (n > 0) {
      const size_t take = std::min<size_t>(n, kPayloadPerBlock - off_);
      memcpy(buf_.data() + in_buf_ * kBlockSize + kPageHeaderSize + off_, p, take);
      off_ += take;
      p += take;
      n -= take;
      if (off_ == kPayloadPerBlock) VDOFS_TRY(end_block());
    }
    return ok();
  }
  Result<void> u32(uint32_t v) {
    std::byte b[4];
    put_u32(b, v);
    return put(b, 4);
  }
  Result<void> u64(uint64_t v) {
    std::byte b[8];
    put_u64(b, v);
    return put(b, 8);
  }
  Result<void> finish() {
    if (off_ > 0) VDOFS_TRY(end_block());
    return write_out();
  }

 private:
  Result<void> end_block() {
    if (done_ + in_buf_ >= max_) return errc::too_small;
    std::span<std::byte> block(buf_.data() + in_buf_ * kBlockSize, kBlockSize);
    h_.page = static_cast<uint32_t>(done_ + in_buf_);
    seal_page(block, h_);
    off_ = 0;
    if (++in_buf_ == kStreamBatchBlocks) VDOFS_TRY(write_out());
    return ok();
  }
  Result<void> write_out() {
    if (in_buf_ == 0) return ok();
    VDOFS_TRY(
        dev_.write(first_ + done_, std::span<const std::byte>(buf_.data(), in_buf_ * kBlockSize)));
    done_ += in_buf_;
    in_buf_ = 0;
    std::fill(buf_.begin(), buf_.end(), std::byte{0});
    return ok();
  }
  io::BlockDevice& dev_;
  uint64_t first_, max_;
  std::vector<std::byte> buf_;
  PageHeader h_;
  uint64_t done_ = 0, in_buf_ = 0;
  size_t off_ = 0;
};

// Reads a stream written by StreamWriter, checking every block.
class StreamReader {
 public:
  StreamReader(io::BlockDevice& dev, uint64_t first, uint64_t max_blocks, uint64_t stamp,
               uint32_t partition, uint64_t seq)
      : dev_(dev),
        first_(first),
        max_(max_blocks),
        stamp_(stamp),
        partition_(partition),
        seq_(seq),
        buf_(kStreamBatchBlocks * kBlockSize) {}
  bool get(void* out, size_t n) {
    auto* p = static_cast<std::byte*>(out);
    while (n > 0) {
      if (off_ == kPayloadPerBlock || block_ < 0) {
        if (!next_block()) return false;
      }
      const size_t take = std::min<size_t>(n, kPayloadPerBlock - off_);
      memcpy(p, buf_.data() + (block_ - batch_first_) * kBlockSize + kPageHeaderSize + off_, take);
      off_ += take;
      p += take;
      n -= take;
    }
    return true;
  }
  bool u32(uint32_t* v) {
    std::byte b[4];
    if (!get(b, 4)) return false;
    *v = get_u32(b);
    return true;
  }
  bool u64(uint64_t* v) {
    std::byte b[8];
    if (!get(b, 8)) return false;
    *v = get_u64(b);
    return true;
  }

 private:
  bool next_block() {
    ++block_;
    off_ = 0;
    if (static_cast<uint64_t>(block_) >= max_) return false;
    if (block_ >= batch_first_ + batch_count_) {
      batch_first_ = block_;
      batch_count_ = static_cast<int64_t>(std::min<uint64_t>(kStreamBatchBlocks, max_ - block_));
      if (!dev_.read(first_ + block_, std::span<std::byte>(buf_.data(), batch_count_ * kBlockSize)))
        return false;
    }
    std::span<const std::byte> b(buf_.data() + (block_ - batch_first_) * kBlockSize, kBlockSize);
    return check_page(b, stamp_, PageKind::kSaveData, partition_, seq_,
                      static_cast<uint32_t>(block_));
  }
  io::BlockDevice& dev_;
  uint64_t first_, max_, stamp_;
  uint32_t partition_;
  uint64_t seq_;
  std::vector<std::byte> buf_;
  int64_t block_ = -1, batch_first_ = 0, batch_count_ = 0;
  size_t off_ = 0;
};

// Records in arrival order, a name kept once with its latest advice.
std::vector<Record> replay(std::vector<std::pair<uint32_t, Record>>& positioned, uint32_t capacity,
                           uint64_t chapter) {
  std::stable_sort(positioned.begin(), positioned.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  ChapterBuf c(capacity, chapter);
  for (auto& [pos, r] : positioned) {
    const int i = c.find(r.name);
    if (i >= 0)
      c.at(static_cast<uint32_t>(i)).advice = r.advice;
    else if (!c.full())
      c.append(r);
  }
  return {c.records().begin(), c.records().end()};
}

// Decodes a whole chapter read from its slot; false unless every page is this chapter's.
bool decode_chapter(const Geometry& g, std::span<const std::byte> chap, uint64_t stamp,
                    uint32_t partition, uint64_t chapter, std::vector<Record>* records,
                    std::vector<uint32_t>* page_map) {
  records->clear();
  page_map->assign(g.index_pages, UINT32_MAX);
  for (uint32_t i = 0; i < g.chapter_blocks(); ++i) {
    std::span<const std::byte> page = chap.subspan(uint64_t{i} * kBlockSize, kBlockSize);
    const bool is_record = i < g.record_pages;
    if (!check_page(page, stamp, is_record ? PageKind::kRecords : PageKind::kIndex, partition,
                    chapter, i))
      return false;
    const uint32_t count = format::get_u16(page.data() + 6);
    if (is_record) {
      if (count > kRecordsPerPage) return false;
      for (uint32_t j = 0; j < count; ++j)
        records->push_back(decode_record(page.data() + kPageHeaderSize + j * kRecordSize));
    } else if (count > 0) {
      (*page_map)[i - g.record_pages] = get_u32(page.data() + kPageHeaderSize);
    }
  }
  return true;
}

}  // namespace

// ---- Superblock and state block -----------------------------------------------------------

void UdsIndex::encode_superblock(std::span<std::byte> block, const Geometry& g, uint64_t nonce,
                                 uint64_t salt) {
  std::fill(block.begin(), block.end(), std::byte{0});
  std::byte* p = block.data() + kPageHeaderSize;
  memcpy(p, kMagic, 8);
  put_u32(p + 8, kFormatVersion);
  put_u32(p + 12, g.sparse ? 1 : 0);
  put_u64(p + 16, g.memory_bytes);
  put_u64(p + 24, salt);
  put_u32(p + 32, g.partitions);
  put_u32(p + 36, g.record_pages);
  put_u64(p + 40, g.chapters);
  put_u64(p + 48, g.total_blocks);
  PageHeader h;
  h.kind = PageKind::kSuper;
  h.nonce = nonce;
  seal_page(block, h);
}

bool UdsIndex::decode_superblock(std::span<const std::byte> block, const Geometry& g,
                                 uint64_t nonce, uint64_t* salt) {
  PageHeader h;
  if (!open_page(block, nonce, &h) || h.kind != PageKind::kSuper) return false;
  const std::byte* p = block.data() + kPageHeaderSize;
  if (memcmp(p, kMagic, 8) != 0 || get_u32(p + 8) != kFormatVersion ||
      get_u32(p + 12) != (g.sparse ? 1u : 0u) || get_u64(p + 16) != g.memory_bytes ||
      get_u32(p + 32) != g.partitions || get_u32(p + 36) != g.record_pages ||
      get_u64(p + 40) != g.chapters || get_u64(p + 48) != g.total_blocks)
    return false;
  *salt = get_u64(p + 24);
  return true;
}

void UdsIndex::encode_state(std::span<std::byte> block, uint64_t stamp, uint32_t state,
                            uint32_t slot, uint64_t seq) {
  std::fill(block.begin(), block.end(), std::byte{0});
  std::byte* p = block.data() + kPageHeaderSize;
  put_u32(p, state);
  put_u32(p + 4, slot);
  put_u64(p + 8, seq);
  PageHeader h;
  h.kind = PageKind::kState;
  h.nonce = stamp;
  seal_page(block, h);
}

Result<void> UdsIndex::write_state(uint32_t state, uint32_t slot, uint64_t seq) {
  std::vector<std::byte> b(kBlockSize);
  encode_state(b, stamp_, state, slot, seq);
  VDOFS_TRY(region_.device->write(region_.start + 1, b));
  return region_.device->flush();
}

bool UdsIndex::read_state(uint32_t* state, uint32_t* slot, uint64_t* seq) {
  std::vector<std::byte> b(kBlockSize);
  PageHeader h;
  if (!region_.device->read(region_.start + 1, b) || !open_page(b, stamp_, &h) ||
      h.kind != PageKind::kState)
    return false;
  const std::byte* p = b.data() + kPageHeaderSize;
  *state = get_u32(p);
  *slot = get_u32(p + 4) & 1;
  *seq = get_u64(p + 8);
  return *state <= kStateClean;
}

// ---- Open ---------------------------------------------------------------------------------

void UdsIndex::open_work() {
  if (!superblock_ok_) {
    // Not an index of this volume (or its superblock is damaged): start a new one. The new salt
    // makes every block of the old one invalid.
    std::vector<std::byte> b(kBlockSize);
    encode_superblock(b, g_, region_.nonce, salt_);
    auto r = region_.device->write(region_.start, b);
    if (r) r = write_state(kStateDirty, current_slot_, save_seq_);
    if (!r) {
      set_error("formatting the index region", r.error());
      return;
    }
    log::warning("%s: the dedupe index region was not valid; it starts empty",
                 region_.device->name().c_str());
    set_open_result("reformatted");
    set_state(State::kOnline);
    return;
  }
  uint32_t st = kStateDirty, slot = 1;
  uint64_t seq = 0;
  const bool have_state = read_state(&st, &slot, &seq);
  if (have_state) {
    current_slot_ = slot;
    save_seq_ = seq;
  }
  if (have_state && st == kStateEmpty) {
    if (auto r = write_state(kStateDirty, current_slot_, save_seq_); !r) {
      set_error("writing the index state", r.error());
      return;
    }
    set_open_result("new");
    set_state(State::kOnline);
    return;
  }
  std::string result = "rebuilt";
  if (have_state && st == kStateClean) {
    if (load_slot(slot, seq)) {
      if (auto r = write_state(kStateDirty, current_slot_, save_seq_); !r) {
        set_error("writing the index state", r.error());
        return;
      }
      set_open_result("loaded");
      set_state(State::kOnline);
      return;
    }
    log::warning("%s: the saved dedupe index is not readable; rebuilding it from its chapters",
                 region_.device->name().c_str());
    result = "rebuilt (saved index invalid)";
  } else if (load_saved_) {
    result = "rebuilt (no clean save)";
  }
  set_state(State::kRebuilding);
  if (auto r = write_state(kStateDirty, current_slot_, save_seq_); !r) {
    set_error("writing the index state", r.error());
    return;
  }
  if (!rebuild()) return;  // stopped (state stays "rebuilding") or failed ("error")
  set_open_result(result);
  set_state(State::kOnline);
}

bool UdsIndex::load_slot(uint32_t slot, uint64_t seq) {
  std::vector<std::byte> b(kBlockSize);
  const uint64_t start = region_.start + g_.slot_start(slot);
  if (!region_.device->read(start, b) || !check_page(b, stamp_, PageKind::kSaveHeader, 0, seq, 0))
    return false;
  const std::byte* p = b.data() + kPageHeaderSize;
  if (get_u32(p) != g_.partitions || get_u64(p + 4) != g_.partition_save_blocks) return false;
  for (auto& part : partitions_) {
    if (stopping_.load()) return false;
    if (!load_partition(*part, start + 1 + part->id * g_.partition_save_blocks, seq)) return false;
  }
  return true;
}

bool UdsIndex::load_partition(Partition& part, uint64_t first_block, uint64_t seq) {
  StreamReader in(*region_.device, first_block, g_.partition_save_blocks, stamp_, part.id, seq);
  uint64_t magic = 0;
  VolumeIndex::Meta m;
  uint64_t wseq = 0;
  if (!in.u64(&magic) || magic != kPartitionMagic + part.id) return false;
  if (!in.u64(&m.open) || !in.u64(&m.live) || !in.u64(&m.dropped) || !in.u64(&m.cursor) ||
      !in.u64(&wseq))
    return false;
  part.reset(m.open);
  VolumeIndex& vi = part.volume_index();
  std::span<uint8_t> table = vi.table();
  if (!in.get(table.data(), table.size())) return false;
  vi.set_meta(m);
  vi.recount();
  for (uint32_t& key : part.page_maps())
    if (!in.u32(&key)) return false;
  WriterPartition& w = wstate_[part.id];
  if (!in.get(w.next_copy.data(), w.next_copy.size())) return false;
  for (uint8_t& c : w.next_copy) c &= 1;
  uint32_t count = 0;
  if (!in.u32(&count) || count > g_.records_per_chapter) return false;
  ChapterBuf& open = part.open_buf();
  for (uint32_t i = 0; i < count; ++i) {
    std::byte rec[kRecordSize];
    if (!in.get(rec, kRecordSize)) return false;
    Record r = decode_record(rec);
    if (open.find(r.name) < 0) open.append(r);
  }
  w.seq = wseq;
  w.written = w.flushed = static_cast<int64_t>(m.open) - 1;
  part.mark_all_clean();
  part.publish_counts();
  return true;
}

// ---- Save ---------------------------------------------------------------------------------

Result<void> UdsIndex::save_partition(Partition& part, uint64_t first_block, uint64_t seq) {
  StreamWriter out(*region_.device, first_block, g_.partition_save_blocks, stamp_, part.id, seq);
  VolumeIndex& vi = part.volume_index();
  const VolumeIndex::Meta m = vi.meta();
  VDOFS_TRY(out.u64(kPartitionMagic + part.id));
  VDOFS_TRY(out.u64(m.open));
  VDOFS_TRY(out.u64(m.live));
  VDOFS_TRY(out.u64(m.dropped));
  VDOFS_TRY(out.u64(m.cursor));
  VDOFS_TRY(out.u64(wstate_[part.id].seq));
  VDOFS_TRY(out.put(vi.table().data(), vi.table().size()));
  std::vector<std::byte> maps(part.page_maps().size() * 4);
  for (size_t i = 0; i < part.page_maps().size(); ++i)
    put_u32(maps.data() + 4 * i, part.page_maps()[i]);
  VDOFS_TRY(out.put(maps.data(), maps.size()));
  VDOFS_TRY(out.put(wstate_[part.id].next_copy.data(), wstate_[part.id].next_copy.size()));
  ChapterBuf& open = part.open_buf();
  VDOFS_TRY(out.u32(open.size()));
  for (const Record& r : open.records()) {
    std::byte rec[kRecordSize];
    encode_record(rec, r);
    VDOFS_TRY(out.put(rec, kRecordSize));
  }
  return out.finish();
}

Result<void> UdsIndex::save() {
  if (started_.load()) return errc::component_busy;  // call after stop()
  const State st = state_.load();
  if (st != State::kOnline) {
    log::warning("%s: the dedupe index is %s; not saved (the next open rebuilds it)",
                 region_.device->name().c_str(), st == State::kError ? "failed" : "not loaded");
    return st == State::kError ? errc::io_error : errc::component_busy;
  }
  for (auto& p : partitions_) {
    p->reap_written();
    if (p->writes_pending()) return errc::io_error;  // a chapter write failed
  }
  // The open chapters go to their checkpoint frames as well, so a damaged save loses nothing.
  for (auto& p : partitions_) {
    std::unique_ptr<CheckpointJob> job = p->collect_checkpoint();
    if (job) write_checkpoint(*job);
  }
  if (state_.load() == State::kError) return errc::io_error;
  VDOFS_TRY(flush_device());
  const uint32_t slot = current_slot_ ^ 1;
  const uint64_t seq = save_seq_ + 1;
  const uint64_t start = region_.start + g_.slot_start(slot);
  for (auto& p : partitions_)
    VDOFS_TRY(save_partition(*p, start + 1 + p->id * g_.partition_save_blocks, seq));
  std::vector<std::byte> b(kBlockSize);
  put_u32(b.data() + kPageHeaderSize, g_.partitions);
  put_u64(b.data() + kPageHeaderSize + 4, g_.partition_save_blocks);
  PageHeader h;
  h.kind = PageKind::kSaveHeader;
  h.nonce = stamp_;
  h.chapter = seq;
  seal_page(b, h);
  VDOFS_TRY(region_.device->write(start, b));
  VDOFS_TRY(region_.device->flush());
  VDOFS_TRY(write_state(kStateClean, slot, seq));
  current_slot_ = slot;
  save_seq_ = seq;
  saved_ = true;
  return ok();
}

// ---- Rebuild ------------------------------------------------------------------------------

bool UdsIndex::rebuild() {
  for (auto& p : partitions_) {
    if (stopping_.load()) return false;
    if (!rebuild_partition(*p)) return false;
  }
  if (auto r = flush_device(); !r) {
    set_error("flushing the rebuilt index", r.error());
    return false;
  }
  return true;
}

bool UdsIndex::rebuild_partition(Partition& part) {
  const uint32_t p = part.id;
  io::BlockDevice& dev = *region_.device;
  const uint64_t chapters = g_.chapters;
  const uint32_t rp = g_.record_pages;
  std::vector<std::byte> blk(kBlockSize);

  // 1. Which chapter each slot holds (its first record page says).
  std::vector<int64_t> slot_chapter(chapters, -1);
  int64_t newest_disk = -1;
  for (uint64_t i = 0; i < chapters; ++i) {
    if (stopping_.load()) return false;
    PageHeader h;
    if (!dev.read(region_.start + g_.chapter_block(p, i), blk) || !open_page(blk, stamp_, &h))
      continue;
    if (h.kind != PageKind::kRecords || h.partition != p || h.page != 0 ||
        h.chapter % chapters != i)
      continue;
    slot_chapter[i] = static_cast<int64_t>(h.chapter);
    newest_disk = std::max(newest_disk, slot_chapter[i]);
  }

  // 2. The checkpoint frames: the newest valid copy of each page.
  WriterPartition& w = wstate_[p];
  std::map<uint64_t, std::vector<std::pair<uint32_t, Record>>> checkpointed;
  std::vector<std::byte> frames(uint64_t{kCheckpointFrames} * rp * 2 * kBlockSize);
  uint64_t max_seq = 0;
  const bool frames_read =
      static_cast<bool>(dev.read(region_.start + g_.partition_frames_start(p), frames));
  for (uint32_t f = 0; f < kCheckpointFrames; ++f) {
    for (uint32_t k = 0; k < rp; ++k) {
      int best = -1;
      PageHeader bh;
      for (int c = 0; c < 2 && frames_read; ++c) {
        std::span<const std::byte> b(frames.data() + ((uint64_t{f} * rp + k) * 2 + c) * kBlockSize,
                                     kBlockSize);
        PageHeader h;
        if (!open_page(b, stamp_, &h) || h.kind != PageKind::kCheckpoint || h.partition != p ||
            h.page != k || h.chapter % kCheckpointFrames != f || h.count > kRecordsPerPage)
          continue;
        max_seq = std::max(max_seq, h.seq);
        if (best < 0 || h.chapter > bh.chapter || (h.chapter == bh.chapter && h.seq > bh.seq)) {
          best = c;
          bh = h;
        }
      }
      w.next_copy[f * rp + k] = best < 0 ? 0 : static_cast<uint8_t>(best ^ 1);
      if (best < 0) continue;
      const std::byte* b = frames.data() + ((uint64_t{f} * rp + k) * 2 + best) * kBlockSize;
      auto& list = checkpointed[bh.chapter];
      for (uint32_t i = 0; i < bh.count; ++i)
        list.emplace_back(k * kRecordsPerPage + i,
                          decode_record(b + kPageHeaderSize + i * kRecordSize));
    }
  }
  w.seq = max_seq + 1;

  // 3. The open chapter: the newest checkpointed chapter that never reached its slot, else a new
  // one after the newest chapter on disk.
  const int64_t newest_checkpoint =
      checkpointed.empty() ? -1 : static_cast<int64_t>(checkpointed.rbegin()->first);
  const uint64_t open = newest_checkpoint > newest_disk ? static_cast<uint64_t>(newest_checkpoint)
                                                        : static_cast<uint64_t>(newest_disk + 1);
  part.reset(open);
  VolumeIndex& vi = part.volume_index();
  uint64_t rebuilt = 0, recovered = 0;

  // 4. Closed chapters of the window, oldest first, so newer copies of a name win.
  std::vector<std::byte> chap(g_.chapter_blocks() * kBlockSize);
  std::vector<Record> records;
  std::vector<uint32_t> page_map;
  for (uint64_t u = open > chapters ? open - chapters : 0; u < open; ++u) {
    if (stopping_.load()) return false;
    bool have = false;
    if (slot_chapter[u % chapters] == static_cast<int64_t>(u) &&
        dev.read(region_.start + g_.chapter_block(p, u), chap))
      have = decode_chapter(g_, chap, stamp_, p, u, &records, &page_map);
    if (!have) {
      auto it = checkpointed.find(u);
      if (it != checkpointed.end()) {
        // Closed but never (fully) written: its synced records come back from the frame, and
        // the chapter is written now, before its frame can be reused.
        records = replay(it->second, g_.records_per_chapter, u);
        encode_chapter(g_, p, u, stamp_, records, chap, &page_map);
        if (auto r = dev.write(region_.start + g_.chapter_block(p, u), chap); !r) {
          set_error("writing a recovered chapter", r.error());
          return false;
        }
        recovered += records.size();
        have = true;
      }
    }
    if (!have) continue;  // lost (never synced): a gap in the window
    std::copy(page_map.begin(), page_map.end(), part.page_map(u).begin());
    const bool sparse_chapter = g_.sparse && open - u > g_.dense_chapters;
    for (const Record& r : records) {
      if (sparse_chapter && !is_hook(r.name, kHookModulus)) continue;
      if (!vi.put(vi.key_of(r.name), u)) part.counters.discarded.fetch_add(1);
    }
    rebuilt += records.size();
  }

  // 5. The open chapter's synced records.
  auto it = checkpointed.find(open);
  if (it != checkpointed.end()) {
    ChapterBuf& oc = part.open_buf();
    for (const Record& r : replay(it->second, g_.records_per_chapter, open)) {
      oc.append(r);
      if (!vi.put(vi.key_of(r.name), open)) part.counters.discarded.fetch_add(1);
    }
    recovered += oc.size();
    rebuilt += oc.size();
    // Rewrite the whole frame in the replayed layout (records may have moved up over gaps), so
    // it never mixes two layouts of this chapter.
    for (uint32_t k = 0; k < rp; ++k) {
      std::fill(blk.begin(), blk.end(), std::byte{0});
      const uint32_t first = k * kRecordsPerPage;
      const uint32_t n = std::min(kRecordsPerPage, oc.size() - std::min(first, oc.size()));
      for (uint32_t i = 0; i < n; ++i)
        encode_record(blk.data() + kPageHeaderSize + i * kRecordSize, oc.at(first + i));
      if (auto r = write_frame_block(p, open, k, blk, static_cast<uint16_t>(n)); !r) {
        set_error("rewriting a checkpoint frame", r.error());
        return false;
      }
    }
  }
  w.written = w.flushed = static_cast<int64_t>(open) - 1;
  part.mark_all_clean();
  part.publish_counts();
  rebuilt_records_.fetch_add(rebuilt);
  recovered_records_.fetch_add(recovered);
  return true;
}

// ---- Free functions -----------------------------------------------------------------------

uint64_t index_region_blocks(uint64_t memory_bytes, bool sparse) {
  return compute_geometry(memory_bytes, sparse).total_blocks;
}

uint64_t default_index_memory(uint64_t physical_blocks) {
  uint64_t m = physical_blocks * 4;
  m = (m + (1ull << 20) - 1) & ~((1ull << 20) - 1);
  return std::max<uint64_t>(m, 1ull << 20);
}

Result<void> format_index(const IndexRegion& region, const IndexConfig& config) {
  const Geometry g = compute_geometry(config.memory_bytes, config.sparse);
  if (!region.device || region.blocks < g.total_blocks) return errc::too_small;
  const uint64_t salt = random_salt();
  std::vector<std::byte> b(kBlockSize);
  UdsIndex::encode_superblock(b, g, region.nonce, salt);
  VDOFS_TRY(region.device->write(region.start, b));
  UdsIndex::encode_state(b, region.nonce ^ salt, UdsIndex::kStateEmpty, 1, 0);
  VDOFS_TRY(region.device->write(region.start + 1, b));
  return region.device->flush();
}

Result<std::unique_ptr<DedupeIndex>> open_index(const IndexRegion& region,
                                                const IndexConfig& config, bool load_saved) {
  const Geometry g = compute_geometry(config.memory_bytes, config.sparse);
  if (!region.device || region.blocks < g.total_blocks) return errc::too_small;
  std::vector<std::byte> b(kBlockSize);
  uint64_t salt = 0;
  bool superblock_ok = false;
  if (region.device->read(region.start, b))
    superblock_ok = UdsIndex::decode_superblock(b, g, region.nonce, &salt);
  if (!superblock_ok) salt = random_salt();
  return std::unique_ptr<DedupeIndex>(
      std::make_unique<UdsIndex>(region, config, g, load_saved, superblock_ok, salt));
}

}  // namespace vdofs::index
