// VolumeIndex: the in-memory map from a record name to the newest chapter that holds it, for one
// partition. It is a bucketized cuckoo table of bit-packed slots (no pointers, no per-entry
// overhead): each slot is [fingerprint 18 bits][hook 1 bit, sparse only][chapter mod 2^b], so a
// dense index costs (18 + b) / 8 / 0.95 bytes per entry (b = 8..11 bits: 3.4-3.9 B/entry, below
// UDS's 4-byte budget). Buckets hold 8 slots; a name may live in its home bucket or in the
// alternate bucket (home XOR'd with a hash of the fingerprint), so entries can move (partial-key
// cuckoo hashing) without knowing their names.
//
// False positives are expected (two names may share a fingerprint): the caller confirms every
// candidate against the chapter, which holds the full names.
//
// Expiry is lazy. An entry is valid while its chapter is in the window (age <= chapters), and in
// sparse mode, past the dense chapters, only if it is a hook. Invalid slots count as free; a
// sweeper clears a slice of the table at every chapter close, so every expired entry is gone long
// before its chapter number (kept mod 2^b) could alias a new chapter.
//
// Threads: owned by the zone thread of its partition (or the loader before the index is online).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "index/geometry.h"
#include "index/record_name.h"

namespace vdofs::index {

class VolumeIndex {
 public:
  struct Key {
    uint64_t bucket = 0;
    uint32_t fingerprint = 0;
    bool hook = false;
  };
  struct Candidate {
    uint64_t slot = 0;
    uint64_t chapter = 0;
  };
  static constexpr int kMaxCandidates = 2 * kSlotsPerBucket;

  explicit VolumeIndex(const Geometry& g);

  Key key_of(const RecordName& name) const;

  // The virtual number of the open chapter; entries are aged against it.
  uint64_t open_chapter() const { return open_; }
  void reset(uint64_t open_chapter);  // empties the table (rebuild)

  // Valid entries with the key's fingerprint, newest chapter first. Returns how many.
  int lookup(const Key& key, Candidate* out) const;
  // Adds an entry for `chapter` (normally the open one). False if the table was so full that an
  // entry (this one or another) had to be dropped.
  bool insert(const Key& key, uint64_t chapter);
  // Re-files the entry in `slot` (from lookup) under a newer chapter.
  void move(uint64_t slot, uint64_t chapter);
  // Rebuild: moves a matching entry to `chapter` if it is older, else inserts.
  bool put(const Key& key, uint64_t chapter);
  // Closes the open chapter: the open chapter becomes open + 1, the oldest chapter leaves the
  // window (and in sparse mode the oldest dense chapter keeps only its hooks). Sweeps a slice of
  // the table. Returns how many entries stopped being valid.
  uint64_t advance();

  uint64_t live() const { return live_; }  // valid entries
  uint64_t dropped() const { return dropped_; }
  uint64_t memory_bytes() const;
  bool sparse() const { return sparse_; }

  // Persistence (save slots): the raw little-endian state.
  struct Meta {
    uint64_t open = 0, live = 0, dropped = 0, cursor = 0;
  };
  Meta meta() const { return {open_, live_, dropped_, cursor_}; }
  void set_meta(const Meta& m);
  std::span<uint8_t> table() { return table_; }
  std::span<uint32_t> counts() { return counts_; }
  std::span<uint32_t> hook_counts() { return hook_counts_; }
  // Recomputes the counters and live count from the table (after loading).
  void recount();

 private:
  uint64_t get(uint64_t slot) const;
  void set(uint64_t slot, uint64_t value);
  uint64_t make(uint32_t fp, bool hook, uint64_t chapter) const;
  uint32_t fp_of(uint64_t value) const { return static_cast<uint32_t>(value >> fp_shift_); }
  bool hook_of(uint64_t value) const { return sparse_ && ((value >> chapter_bits_) & 1); }
  uint64_t age_of(uint64_t value) const { return (open_ - value) & chapter_mask_; }
  bool valid_age(uint64_t age, bool hook) const {
    return age <= chapters_ && age <= open_ && (!sparse_ || age <= dense_chapters_ || hook);
  }
  bool valid(uint64_t value) const {
    return value != 0 && valid_age(age_of(value), hook_of(value));
  }
  uint64_t alt_bucket(uint64_t bucket, uint32_t fp) const;
  // A slot of `bucket` that is empty or holds an invalid entry (which is removed), or ~0.
  uint64_t free_slot(uint64_t bucket);
  void add_count(uint64_t value, int delta);
  void clear_slot(uint64_t slot);
  void sweep(uint64_t buckets);
  uint64_t random();

  bool sparse_;
  uint64_t chapters_, dense_chapters_;
  uint32_t chapter_bits_, slot_bits_, fp_shift_;
  uint64_t chapter_mask_, slot_mask_;
  uint64_t buckets_;
  uint64_t sweep_per_close_;
  std::vector<uint8_t> table_;
  std::vector<uint32_t> counts_;       // physical entries per chapter field value
  std::vector<uint32_t> hook_counts_;  // of which hooks (sparse)
  uint64_t open_ = 0;
  uint64_t live_ = 0;
  uint64_t dropped_ = 0;
  uint64_t cursor_ = 0;  // sweeper position (bucket)
  uint64_t rng_ = 0x9E3779B97F4A7C15ull;
};

}  // namespace vdofs::index
