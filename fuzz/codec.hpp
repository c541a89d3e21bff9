// The fuzzer byte format: every byte string decodes to a valid, bounded trace; traces encode back.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "trace/trace.hpp"

namespace kv::fuzz {

// Bounds that keep one fuzz input cheap: the page pool a decoded config may ask for, and ops.
inline constexpr uint64_t fuzz_pool_bytes_max = 1ull << 20;
inline constexpr uint32_t fuzz_op_count_max = 4096;

// Layout (docs in fuzz/README.md):
//   config: page_size byte, flags byte, max_pages byte (0xFF escapes to a raw u16 after it),
//           extras byte; the two size bytes' high nibbles name one variant and its word
//   ops:    kind byte (trace/ops.def's kinds, each on a share of 0..255 by its weight), then the
//           arguments the op's shape takes (fuzz/shape_codec.cpp).
// Missing bytes read as zero, so every prefix of an input is an input.
Trace decode_bytes(std::span<const uint8_t> bytes);

// The canonical bytes for `trace` (expectations and comments are dropped), or why it cannot be
// expressed (a data-plane shape or pool the format does not hold). decode(encode(t)) has t's
// config and ops.
std::variant<std::vector<uint8_t>, std::string> encode_trace(const Trace& trace);

// The kind byte: decode_kind maps every byte to a kind; encode_kind gives the first such byte.
OpKind decode_kind(uint8_t byte);
uint8_t encode_kind(OpKind kind);

// The byte format's one variant (section 14): every variant back to its default word, then
// `variant` at `word` where the config can tell it apart and allows it; none past the size bytes'
// nibbles (page_size or max_pages over 16).
void set_one_variant(Config& config, const VariantKey& variant, uint8_t word);

// Keeps a config's pool within fuzz_pool_bytes_max and max_pages <= 65536: first fewer tokens per
// page, then fewer pages.
void bound_pool(Config& config);

// Keeps an op's token counts (append N, truncate N, the entries of a step or prefill, summed over
// the op) within max(the pool's capacity + 1, fuzz_op_words_max / words per token). A count from 1
// to 1,048,576 above the capacity is refused with capacity_exceeded just the same, but every
// backend first fills its words: up to 512 MiB for one op, which made one fuzz input take seconds.
// Counts over 1,048,576 (the rule limits), 0, and a prefill's over 1,048,576 in all stay.
// decode_bytes applies it to every op; the mutator before re-encoding.
inline constexpr uint64_t fuzz_op_words_max = 1ull << 16;
void bound_counts(Op& op, const Config& config);
uint64_t op_token_count_max(const Config& config);

// Reads bytes front to back; past the end every byte is zero.
class ByteReader {
 public:
  explicit ByteReader(std::span<const uint8_t> bytes) : bytes_(bytes) {}
  uint8_t byte() { return pos_ < bytes_.size() ? bytes_[pos_++] : 0; }
  uint32_t raw(uint32_t byte_count);  // little-endian
  bool done() const { return pos_ >= bytes_.size(); }

 private:
  std::span<const uint8_t> bytes_;
  size_t pos_ = 0;
};

using ByteWriter = std::vector<uint8_t>;
void put_raw(ByteWriter& out, uint32_t value, uint32_t byte_count);

// Argument codecs shared by the shapes (fuzz/shape_codec.cpp); decoding needs the config for
// page-boundary counts.
SeqId decode_seq(ByteReader& in);
void encode_seq(ByteWriter& out, SeqId seq);
uint32_t decode_count(ByteReader& in, const Config& config);
void encode_count(ByteWriter& out, uint32_t count);

// One op's arguments, by the shape in ops.def: the only place that knows the shapes.
void decode_args(ByteReader& in, const Config& config, Op& op);
std::variant<std::monostate, std::string> encode_args(ByteWriter& out, const Op& op);

}  // namespace kv::fuzz
