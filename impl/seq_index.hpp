// SeqIndex: an open-addressing hash table from sequence id to the slot that holds the sequence.
#pragma once

#include <cstdint>
#include <vector>

#include "impl/check.hpp"

namespace kvcache::detail {

// Linear probing over a power-of-two bucket array with backward-shift deletion (no tombstones,
// so lookups never degrade after churn). Every id can be a key, so emptiness is marked by the
// slot value kEmptySlot instead of a reserved id.
// Invariants: bucket_count is a power of two; size_ <= bucket_count / 2 (grown before that is
// exceeded); every stored key sits in the probe run that starts at its home bucket, with no
// empty bucket between home and position.
class SeqIndex {
 public:
  static constexpr uint32_t kEmptySlot = UINT32_MAX;

  explicit SeqIndex(uint32_t initial_bucket_count = 64) {
    rehash(round_up_pow2(initial_bucket_count));
  }

  // Returns the slot of `id`, or kEmptySlot.
  uint32_t find(uint32_t id) const {
    for (uint64_t b = home(id);; b = (b + 1) & mask_) {
      const Bucket& bucket = buckets_[b];
      if (bucket.slot == kEmptySlot) return kEmptySlot;
      if (bucket.id == id) return bucket.slot;
    }
  }

  // Precondition: `id` is absent (the cache checks existence first).
  void insert(uint32_t id, uint32_t slot) {
    KV_CHECK(slot != kEmptySlot, "SeqIndex::insert: slot value is reserved (cache slot overflow)");
    if ((size_ + 1) * 2 > buckets_.size()) rehash(buckets_.size() * 2);
    place(id, slot);
    ++size_;
  }

  // Removes `id` if present; shifts the rest of its probe run back so no tombstone is needed.
  void erase(uint32_t id) {
    uint64_t hole = home(id);
    for (;; hole = (hole + 1) & mask_) {
      if (buckets_[hole].slot == kEmptySlot) return;
      if (buckets_[hole].id == id) break;
    }
    for (uint64_t probe = (hole + 1) & mask_;; probe = (probe + 1) & mask_) {
      Bucket& moved = buckets_[probe];
      if (moved.slot == kEmptySlot) break;
      // `moved` may fill the hole only if its home is not strictly between hole and probe.
      const uint64_t home_bucket = home(moved.id);
      const bool home_in_gap = ((probe - home_bucket) & mask_) < ((probe - hole) & mask_);
      if (home_in_gap) continue;
      buckets_[hole] = moved;
      hole = probe;
    }
    buckets_[hole].slot = kEmptySlot;
    --size_;
  }

  uint32_t size() const { return size_; }

 private:
  struct Bucket {
    uint32_t id = 0;
    uint32_t slot = kEmptySlot;
  };

  static uint64_t round_up_pow2(uint64_t value) {
    uint64_t result = 8;
    while (result < value) result *= 2;
    return result;
  }

  // Fibonacci hashing: sequential ids (the common case) spread over the whole table.
  uint64_t home(uint32_t id) const { return (uint64_t{id} * 0x9E3779B97F4A7C15ull) >> shift_; }

  void place(uint32_t id, uint32_t slot) {
    uint64_t b = home(id);
    while (buckets_[b].slot != kEmptySlot) b = (b + 1) & mask_;
    buckets_[b] = Bucket{id, slot};
  }

  void rehash(uint64_t bucket_count) {
    std::vector<Bucket> old = std::move(buckets_);
    buckets_.assign(bucket_count, Bucket{});
    mask_ = bucket_count - 1;
    shift_ = 64 - static_cast<uint32_t>(__builtin_ctzll(bucket_count));
    for (const Bucket& bucket : old)
      if (bucket.slot != kEmptySlot) place(bucket.id, bucket.slot);
  }

  std::vector<Bucket> buckets_;
  uint64_t mask_ = 0;
  uint32_t shift_ = 0;
  uint32_t size_ = 0;
};

}  // namespace kvcache::detail
