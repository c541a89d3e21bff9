// The page pool's one layout definition (slot math and word offsets), shared by HostPageStore and
// gpu/ kernels.
#pragma once

#include <cstdint>

// Host-and-device functions when a GPU compiler (hipcc, nvcc) sees this header; plain C++ otherwise
// (the dev build, and gpu/'s emulated device, which defines KV_HOST_DEVICE empty itself).
#ifndef KV_HOST_DEVICE
#if defined(__HIPCC__) || defined(__CUDACC__)
#define KV_HOST_DEVICE __host__ __device__
#else
#define KV_HOST_DEVICE
#endif
#endif

namespace kvcache {

// Splits token and slot indexes into (page, offset): a shift and a mask when page_size is a
// power of two (the usual case, and on the path of every append), a division otherwise.
class PageDivider {
 public:
  explicit PageDivider(uint32_t page_size)
      : size_(page_size),
        // page_size 0 (an unvalidated Config) must reach the caller's KV_CHECK, not ctz(0).
        shift_(page_size == 0 ? 0u : static_cast<uint32_t>(__builtin_ctz(page_size))),
        pow2_((page_size & (page_size - 1)) == 0) {}
  KV_HOST_DEVICE uint64_t page(uint64_t index) const {
    return pow2_ ? index >> shift_ : index / size_;
  }
  KV_HOST_DEVICE uint64_t offset(uint64_t index) const {
    return pow2_ ? index & (size_ - 1) : index % size_;
  }
  // ceil(count / page_size); fits 32 bits: counts are < max_pages * page_size + one append.
  KV_HOST_DEVICE uint32_t pages_for(uint64_t count) const {
    return static_cast<uint32_t>(page(count + size_ - 1));
  }

 private:
  uint64_t size_;
  uint32_t shift_;
  bool pow2_;
};

// The pool layout, outermost first: page, layer, K/V, slot, head, dim. One (page, layer, K|V)
// block is page_size * vector_words contiguous words; vector_words = kv_heads * head_dim.
// A token's input/output words are laid out [layer][K=0,V=1][head][dim] (PageStore's layout).
struct PoolLayout {
  uint32_t page_size;
  uint32_t layers;
  uint32_t vector_words;

  // Word offset of (page, layer, K|V, slot 0, head 0, dim 0).
  KV_HOST_DEVICE uint64_t block_offset(uint64_t page, uint32_t layer, uint32_t kv) const {
    return ((page * layers + layer) * 2 + kv) * uint64_t{page_size} * vector_words;
  }
  // Word offset of word `word` (0 .. token_words) of the token at (page, offset in the page).
  KV_HOST_DEVICE uint64_t token_word_offset(uint64_t page, uint64_t offset, uint32_t word) const {
    const uint32_t block = word / vector_words;  // layer * 2 + kv
    return block_offset(page, block / 2, block % 2) + offset * vector_words + word % vector_words;
  }
  KV_HOST_DEVICE uint64_t token_words() const { return uint64_t{layers} * 2 * vector_words; }
  KV_HOST_DEVICE uint64_t page_words() const { return token_words() * page_size; }
};

}  // namespace kvcache
