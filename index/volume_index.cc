// VolumeIndex implementation (see volume_index.h). Single-threaded: the partition's zone thread.
#include "index/volume_index.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "engine/base/assert.h"

namespace vdofs::index {

namespace {
constexpr int kMaxKicks = 500;

uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t load_le64(const uint8_t* p) {
  uint64_t v;
  memcpy(&v, p, 8);
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
  return v;
}
void store_le64(uint8_t* p, uint64_t v) {
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
  memcpy(p, &v, 8);
}
}  // namespace

VolumeIndex::VolumeIndex(const Geometry& g)
    : sparse_(g.sparse),
      chapters_(g.chapters),
      dense_chapters_(g.dense_chapters),
      chapter_bits_(g.chapter_bits),
      slot_bits_(g.slot_bits),
      fp_shift_(g.chapter_bits + (g.sparse ? 1 : 0)),
      chapter_mask_(g.chapter_mask()),
      slot_mask_((uint64_t{1} << g.slot_bits) - 1),
      buckets_(g.buckets),
      table_(g.table_bytes),
      counts_(uint64_t{1} << g.chapter_bits),
      hook_counts_(g.sparse ? (uint64_t{1} << g.chapter_bits) : 0) {
  VDOFS_CHECK(slot_bits_ <= 56 && buckets_ > 0 && buckets_ < (uint64_t{1} << 32));
  // Two full passes per window: an expired entry is gone within chapters/2 + 1 closes, well
  // before its chapter field can alias (2^bits >= 2 (chapters + 1)).
  sweep_per_close_ = std::max<uint64_t>(1, (2 * buckets_ + chapters_ - 1) / chapters_);
}

VolumeIndex::Key VolumeIndex::key_of(const RecordName& name) const {
  const uint64_t m = mix64(name.high64());
  Key k;
  k.bucket = ((m >> 32) * buckets_) >> 32;
  k.fingerprint = static_cast<uint32_t>(m & ((1u << kFingerprintBits) - 1));
  if (k.fingerprint == 0) k.fingerprint = 1;
  k.hook = sparse_ && is_hook(name, kHookModulus);
  return k;
}

void VolumeIndex::reset(uint64_t open_chapter) {
  std::fill(table_.begin(), table_.end(), 0);
  std::fill(counts_.begin(), counts_.end(), 0);
  std::fill(hook_counts_.begin(), hook_counts_.end(), 0);
  open_ = open_chapter;
  live_ = 0;
  cursor_ = 0;
}

uint64_t VolumeIndex::get(uint64_t slot) const {
  const uint64_t bit = slot * slot_bits_;
  return (load_le64(table_.data() + (bit >> 3)) >> (bit & 7)) & slot_mask_;
}

void VolumeIndex::set(uint64_t slot, uint64_t value) {
  const uint64_t bit = slot * slot_bits_;
  uint8_t* p = table_.data() + (bit >> 3);
  uint64_t w = load_le64(p);
  w &= ~(slot_mask_ << (bit & 7));
  w |= value << (bit & 7);
  store_le64(p, w);
}

uint64_t VolumeIndex::make(uint32_t fp, bool hook, uint64_t chapter) const {
  uint64_t v = (uint64_t{fp} << fp_shift_) | (chapter & chapter_mask_);
  if (sparse_ && hook) v |= uint64_t{1} << chapter_bits_;
  return v;
}

uint64_t VolumeIndex::alt_bucket(uint64_t bucket, uint32_t fp) const {
  const uint64_t h = ((mix64(fp) >> 32) * buckets_) >> 32;
  return h >= bucket ? h - bucket : h + buckets_ - bucket;
}

void VolumeIndex::add_count(uint64_t value, int delta) {
  const uint64_t c = value & chapter_mask_;
  counts_[c] += static_cast<uint32_t>(delta);
  if (hook_of(value)) hook_counts_[c] += static_cast<uint32_t>(delta);
}

void VolumeIndex::clear_slot(uint64_t slot) {
  const uint64_t v = get(slot);
  if (v == 0) return;
  add_count(v, -1);
  set(slot, 0);
}

uint64_t VolumeIndex::free_slot(uint64_t bucket) {
  const uint64_t first = bucket * kSlotsPerBucket;
  uint64_t stale = ~uint64_t{0};
  for (uint64_t s = first; s < first + kSlotsPerBucket; ++s) {
    const uint64_t v = get(s);
    if (v == 0) return s;
    if (stale == ~uint64_t{0} && !valid(v)) stale = s;
  }
  if (stale != ~uint64_t{0}) clear_slot(stale);
  return stale;
}

int VolumeIndex::lookup(const Key& key, Candidate* out) const {
  int n = 0;
  const uint64_t b2 = alt_bucket(key.bucket, key.fingerprint);
  for (uint64_t b : {key.bucket, b2}) {
    const uint64_t first = b * kSlotsPerBucket;
    for (uint64_t s = first; s < first + kSlotsPerBucket; ++s) {
      const uint64_t v = get(s);
      if (v == 0 || fp_of(v) != key.fingerprint || !valid(v)) continue;
      out[n++] = Candidate{s, open_ - age_of(v)};
    }
    if (b2 == key.bucket) break;
  }
  std::sort(out, out + n,
            [](const Candidate& a, const Candidate& b) { return a.chapter > b.chapter; });
  return n;
}

bool VolumeIndex::insert(const Key& key, uint64_t chapter) {
  uint64_t cur = make(key.fingerprint, key.hook, chapter);
  add_count(cur, +1);
  if (valid(cur)) ++live_;
  uint64_t b = key.bucket;
  uint64_t s = free_slot(b);
  if (s == ~uint64_t{0}) {
    b = alt_bucket(b, key.fingerprint);
    s = free_slot(b);
  }
  if (s != ~uint64_t{0}) {
    set(s, cur);
    return true;
  }
  // Cuckoo: evict a random entry of the bucket to its other bucket, and so on.
  for (int kick = 0; kick < kMaxKicks; ++kick) {
    const uint64_t victim = b * kSlotsPerBucket + random() % kSlotsPerBucket;
    const uint64_t evicted = get(victim);
    set(victim, cur);
    cur = evicted;
    b = alt_bucket(b, fp_of(cur));
    s = free_slot(b);
    if (s != ~uint64_t{0}) {
      set(s, cur);
      return true;
    }
  }
  // The table is over-full: drop the entry left homeless (advice only; dedupe of one name lost).
  add_count(cur, -1);
  if (valid(cur)) --live_;
  ++dropped_;
  return false;
}

void VolumeIndex::move(uint64_t slot, uint64_t chapter) {
  const uint64_t old = get(slot);
  VDOFS_DCHECK(old != 0);
  const bool was_valid = valid(old);
  const uint64_t now = make(fp_of(old), hook_of(old), chapter);
  add_count(old, -1);
  add_count(now, +1);
  set(slot, now);
  const bool is_valid = valid(now);
  if (was_valid && !is_valid) --live_;
  if (!was_valid && is_valid) ++live_;
}

bool VolumeIndex::put(const Key& key, uint64_t chapter) {
  Candidate c[kMaxCandidates];
  const int n = lookup(key, c);
  if (n > 0) {
    // The newest same-fingerprint entry is (almost surely) this name's older copy.
    if (c[0].chapter < chapter) move(c[0].slot, chapter);
    return true;
  }
  return insert(key, chapter);
}

uint64_t VolumeIndex::advance() {
  uint64_t gone = 0;
  // The chapter at age `chapters` expires; in sparse mode the chapter at age `dense_chapters`
  // keeps only its hooks.
  if (open_ >= chapters_) {
    const uint64_t c = (open_ - chapters_) & chapter_mask_;
    gone += (sparse_ && dense_chapters_ < chapters_) ? hook_counts_[c] : counts_[c];
  }
  if (sparse_ && dense_chapters_ < chapters_ && open_ >= dense_chapters_) {
    const uint64_t c = (open_ - dense_chapters_) & chapter_mask_;
    gone += counts_[c] - hook_counts_[c];
  }
  live_ -= std::min(gone, live_);
  if (counts_[(open_ + 1) & chapter_mask_] != 0) {
    // Entries of chapter open + 1 - 2^bits survived the sweeper (only after an inconsistent load):
    // they are invalid now (age 2^bits - 1), so a full sweep clears them before they could alias.
    sweep(buckets_);
  }
  ++open_;
  sweep(sweep_per_close_);
  return gone;
}

void VolumeIndex::sweep(uint64_t buckets) {
  for (uint64_t i = 0; i < std::min(buckets, buckets_); ++i) {
    const uint64_t first = cursor_ * kSlotsPerBucket;
    for (uint64_t s = first; s < first + kSlotsPerBucket; ++s) {
      const uint64_t v = get(s);
      if (v != 0 && !valid(v)) clear_slot(s);
    }
    if (++cursor_ == buckets_) cursor_ = 0;
  }
}

uint64_t VolumeIndex::memory_bytes() const {
  return table_.capacity() + (counts_.capacity() + hook_counts_.capacity()) * sizeof(uint32_t) +
         sizeof(*this);
}

void VolumeIndex::set_meta(const Meta& m) {
  open_ = m.open;
  live_ = m.live;
  dropped_ = m.dropped;
  cursor_ = m.cursor < buckets_ ? m.cursor : 0;
}

void VolumeIndex::recount() {
  std::fill(counts_.begin(), counts_.end(), 0);
  std::fill(hook_counts_.begin(), hook_counts_.end(), 0);
  live_ = 0;
  for (uint64_t s = 0; s < buckets_ * kSlotsPerBucket; ++s) {
    const uint64_t v = get(s);
    if (v == 0) continue;
    add_count(v, +1);
    if (valid(v)) ++live_;
  }
}

uint64_t VolumeIndex::random() {
  rng_ ^= rng_ << 13;
  rng_ ^= rng_ >> 7;
  rng_ ^= rng_ << 17;
  return rng_;
}

}  // namespace vdofs::index
