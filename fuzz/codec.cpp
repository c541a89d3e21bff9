// The fuzzer byte format's config header, argument codecs and op stream (see codec.hpp).
#include "fuzz/codec.hpp"

#include <algorithm>
#include <array>

namespace kv::fuzz {
namespace {

constexpr uint8_t escape_byte = 0xFF;  // this config byte: a raw u16 follows (pools stay rare)
// page_size and max_pages from one byte: 1..16 (every planted bug's minimal trace fits; the whole-
// state checks cost in proportion to the pool), larger ones only through the escape.
constexpr uint32_t small_value_count = 16;
// A variant's 1-based index in the page_size byte's high nibble: 15 with page_size 16 would be the
// escape byte.
static_assert(std::size(variant_keys) < 15, "the fuzzer byte format names variants in a nibble");
constexpr std::array<uint32_t, 4> head_dims = {2, 1, 3, 4};  // code 0 is the default shape
// The extras byte (kvtrace 3): bits 0-3 a sliding window (code 0: none), bits 4-6 cpu_pages
// (code 0: none, k: 2^(k-1)), bit 7 two KV groups (section 17): a full-attention group beside one
// with that window (`kv_groups=0,W`; code 0: `kv_groups=0,0`). Windows below, at and past small
// pages, and one past every pool.
constexpr std::array<uint32_t, 15> windows = {2, 3, 4, 5, 6, 7, 8, 9, 12, 16, 17, 24, 32, 64, 4096};
constexpr uint32_t cpu_pages_code_max = 7;  // cpu_pages up to 64
constexpr std::array<SeqId, 7> large_ids = {8,           255,         256,        65536,
                                            2147483648u, 4294967294u, 4294967295u};
// Rule limits that cost nothing to try (a valid count near 1048576 makes the host backend fill
// millions of words before the cache refuses it; such counts come only from a raw u32).
constexpr std::array<uint32_t, 15> boundary_counts = {
    1048577, 1048578, 4294967295u, 2147483648u, 255,  256,  257,  1000,
    1023,    1024,    1025,        4095,        4096, 4097, 65535};

// 1..16 from one byte's low nibble, or 1..65536 from an escaped raw u16. `high` gets the byte's
// high nibble (0 after an escape): the page_size byte's names a variant, the max_pages byte's its
// word.
uint32_t decode_small(ByteReader& in, uint8_t& high) {
  const uint8_t code = in.byte();
  high = 0;
  if (code == escape_byte) return 1 + in.raw(2);
  high = code >> 4;
  return 1 + code % small_value_count;
}

void encode_small(ByteWriter& out, uint32_t value, uint8_t high) {
  if (value <= small_value_count) {
    out.push_back(static_cast<uint8_t>((value - 1) | high << 4));
  } else {
    out.push_back(escape_byte);
    put_raw(out, value - 1, 2);
  }
}

// Variant `key_code - 1` of trace/variants.def at word `word` (section 14), when the config can
// tell it apart and allows it; one variant per input, the others at their defaults.
void decode_variant(Config& config, uint8_t key_code, uint8_t word) {
  if (key_code == 0 || key_code > std::size(variant_keys)) return;
  const VariantKey& variant = variant_keys[key_code - 1];
  if (word < variant.word_count()) set_one_variant(config, variant, word);
}

// The nibbles that name `config`'s one non-default variant ({0, 0}: none), or why the format
// cannot hold its variants.
std::variant<std::pair<uint8_t, uint8_t>, std::string> encode_variant(const Config& config) {
  std::pair<uint8_t, uint8_t> nibbles{0, 0};
  for (size_t i = 0; i < std::size(variant_keys); i++) {
    const uint8_t word = config.*variant_keys[i].field;
    if (word == 0) continue;
    if (nibbles.first != 0) return std::string("the byte format holds one variant per trace");
    if (!variant_keys[i].matters_in(config)) {
      return std::string(variant_keys[i].key) + " means nothing without prefix_caching=on";
    }
    nibbles = {static_cast<uint8_t>(i + 1), word};
  }
  if (nibbles.first != 0 &&
      (config.page_size > small_value_count || config.max_pages > small_value_count)) {
    return std::string(
        "the byte format holds a variant only with page_size and max_pages up to 16");
  }
  return nibbles;
}

Config decode_config(ByteReader& in) {
  Config config;
  uint8_t variant_key = 0, variant_word = 0;
  config.page_size = decode_small(in, variant_key);
  const uint8_t flags = in.byte();
  config.eviction = (flags & 1) ? Eviction::lru : Eviction::none;
  config.kv_heads = 1 + ((flags >> 1) & 3);
  config.head_dim = head_dims[(flags >> 3) & 3];
  config.layers = 1 + ((flags >> 5) & 3);
  config.prefix_caching = (flags & 0x80) != 0;
  config.max_pages = decode_small(in, variant_word);
  const uint8_t extras = in.byte();
  const uint32_t window = (extras & 15) == 0 ? 0 : windows[(extras & 15) - 1];
  if (extras & 0x80) {
    config.group_count = 2;
    config.group_windows[1] = window;
  } else {
    config.sliding_window = window;
  }
  const uint32_t cpu_code = (extras >> 4) & 7;
  config.cpu_pages = cpu_code == 0 ? 0 : 1u << (cpu_code - 1);
  bound_pool(config);
  decode_variant(config, variant_key, variant_word);
  return config;
}

// The extras byte of `config`, or why the format cannot hold its window or CPU pool.
std::variant<uint8_t, std::string> encode_extras(const Config& config) {
  const bool hybrid = config.group_count > 0;
  if (hybrid && (config.group_count != 2 || config.group_windows[0] != 0)) {
    return std::string("the byte format holds kv_groups=0,W only (two groups, the first full)");
  }
  const uint32_t any_window = hybrid ? config.group_windows[1] : config.sliding_window;
  const auto window = std::find(windows.begin(), windows.end(), any_window);
  if (any_window != 0 && window == windows.end()) {
    return std::string(
        "the byte format holds sliding windows 2..9, 12, 16, 17, 24, 32, 64 and 4096 only");
  }
  uint32_t cpu_code = 0;
  for (uint32_t code = 1; code <= cpu_pages_code_max; code++) {
    if (config.cpu_pages == 1u << (code - 1)) cpu_code = code;
  }
  if (config.cpu_pages != 0 && cpu_code == 0) {
    return std::string("the byte format holds cpu_pages 0 and powers of two up to 64 only");
  }
  const uint32_t window_code =
      any_window == 0 ? 0 : static_cast<uint32_t>(window - windows.begin()) + 1;
  return static_cast<uint8_t>(window_code | cpu_code << 4 | (hybrid ? 0x80u : 0u));
}

std::variant<std::monostate, std::string> encode_config(ByteWriter& out, const Config& config) {
  const auto head_dim = std::find(head_dims.begin(), head_dims.end(), config.head_dim);
  if (config.kv_heads > 4 || config.layers > 4 || head_dim == head_dims.end()) {
    return std::string("the byte format holds kv_heads, head_dim and layers 1..4 only");
  }
  const std::optional<uint64_t> pool_bytes = config.pool_bytes();
  if (config.max_pages > 65536 || !pool_bytes || *pool_bytes > fuzz_pool_bytes_max) {
    return "the byte format holds max_pages up to 65536 and pools up to " +
           std::to_string(fuzz_pool_bytes_max) + " bytes";
  }
  const auto extras = encode_extras(config);
  if (const auto* why = std::get_if<std::string>(&extras)) return *why;
  const auto variant = encode_variant(config);
  if (const auto* why = std::get_if<std::string>(&variant)) return *why;
  const auto [variant_key, variant_word] = std::get<std::pair<uint8_t, uint8_t>>(variant);
  encode_small(out, config.page_size, variant_key);
  const auto head_dim_code = static_cast<uint32_t>(head_dim - head_dims.begin());
  const uint32_t flags = (config.eviction == Eviction::lru ? 1u : 0u) | (config.kv_heads - 1) << 1 |
                         head_dim_code << 3 | (config.layers - 1) << 5 |
                         (config.prefix_caching ? 0x80u : 0u);
  out.push_back(static_cast<uint8_t>(flags));
  encode_small(out, config.max_pages, variant_word);
  out.push_back(std::get<uint8_t>(extras));
  return std::monostate{};
}

// Op kinds by the weights in trace/ops.def: byte b is the kind whose share of 0..255 holds it, so
// ops start out mixed like the generator's (a `check`, a whole-state audit of every backend, is
// 2 bytes in 117 instead of 1 in 15). Every kind gets at least 2 bytes.
struct KindTable {
  std::array<OpKind, 256> kind_of_byte{};
  std::array<uint8_t, op_kind_count> byte_of_kind{};
  KindTable() {
    uint32_t total = 0;
    for (uint32_t k = 0; k < op_kind_count; k++) total += op_weight(static_cast<OpKind>(k));
    uint32_t byte = 0, cumulative = 0;
    for (uint32_t k = 0; k < op_kind_count; k++) {
      cumulative += op_weight(static_cast<OpKind>(k));
      const uint32_t end = k + 1 == op_kind_count ? 256 : cumulative * 256 / total;
      byte_of_kind[k] = static_cast<uint8_t>(byte);
      for (; byte < end; byte++) kind_of_byte[byte] = static_cast<OpKind>(k);
    }
  }
};

const KindTable& kind_table() {
  static const KindTable table;
  return table;
}

}  // namespace

OpKind decode_kind(uint8_t byte) {
  return kind_table().kind_of_byte[byte];
}

uint8_t encode_kind(OpKind kind) {
  return kind_table().byte_of_kind[static_cast<size_t>(kind)];
}

void set_one_variant(Config& config, const VariantKey& variant, uint8_t word) {
  for (const VariantKey& each : variant_keys) config.*each.field = 0;
  if (config.page_size > small_value_count || config.max_pages > small_value_count) return;
  Config with = config;
  with.*variant.field = word;
  if (variant.matters_in(with) && !validate_config(with, UINT64_MAX)) config = with;
}

void bound_pool(Config& config) {
  const uint64_t token_bytes = config.words_per_token() * 4;
  const uint64_t page_size_max = fuzz_pool_bytes_max / token_bytes;
  config.page_size = static_cast<uint32_t>(std::min<uint64_t>(config.page_size, page_size_max));
  const uint64_t max_pages_max = fuzz_pool_bytes_max / (token_bytes * config.page_size);
  config.max_pages = static_cast<uint32_t>(std::min<uint64_t>(config.max_pages, max_pages_max));
  config.max_pages = std::min<uint32_t>(config.max_pages, 65536);
}

uint32_t ByteReader::raw(uint32_t byte_count) {
  uint32_t value = 0;
  for (uint32_t i = 0; i < byte_count; i++) value |= uint32_t{byte()} << (8 * i);
  return value;
}

void put_raw(ByteWriter& out, uint32_t value, uint32_t byte_count) {
  for (uint32_t i = 0; i < byte_count; i++) out.push_back(static_cast<uint8_t>(value >> (8 * i)));
}

// Ids: 0..7 (so ops collide), a few large ids, or a raw u32.
SeqId decode_seq(ByteReader& in) {
  const uint8_t code = in.byte();
  if (code < 0xF8) return code % 8;
  if (code < 0xFF) return large_ids[code - 0xF8];
  return in.raw(4);
}

void encode_seq(ByteWriter& out, SeqId seq) {
  const auto large = std::find(large_ids.begin(), large_ids.end(), seq);
  if (seq < 8) {
    out.push_back(static_cast<uint8_t>(seq));
  } else if (large != large_ids.end()) {
    out.push_back(static_cast<uint8_t>(0xF8 + (large - large_ids.begin())));
  } else {
    out.push_back(0xFF);
    put_raw(out, seq, 4);
  }
}

// Counts: 0..223; k*page_size-1 .. k*page_size+2 for k = 1..4, at most the pool's capacity + 1;
// limits of the op rules; a raw u32.
uint32_t decode_count(ByteReader& in, const Config& config) {
  const uint8_t code = in.byte();
  if (code < 0xE0) return code;
  if (code < 0xF0) {
    const uint64_t pages = 1 + (code & 3);
    const uint64_t value = pages * config.page_size + ((code >> 2) & 3) - 1;
    const uint64_t capacity = uint64_t{config.max_pages} * config.page_size;
    return static_cast<uint32_t>(std::min<uint64_t>(value, capacity + 1));
  }
  if (code < 0xFF) return boundary_counts[code - 0xF0];
  return in.raw(4);
}

void encode_count(ByteWriter& out, uint32_t count) {
  const auto boundary = std::find(boundary_counts.begin(), boundary_counts.end(), count);
  if (count < 0xE0) {
    out.push_back(static_cast<uint8_t>(count));
  } else if (boundary != boundary_counts.end()) {
    out.push_back(static_cast<uint8_t>(0xF0 + (boundary - boundary_counts.begin())));
  } else {
    out.push_back(0xFF);
    put_raw(out, count, 4);
  }
}

Trace decode_bytes(std::span<const uint8_t> bytes) {
  ByteReader in(bytes);
  Trace trace;
  trace.config = decode_config(in);
  // An op takes one byte at least and usually 2-3: one reallocation at most.
  trace.lines.reserve(std::min<size_t>(bytes.size() / 2 + 1, fuzz_op_count_max));
  while (!in.done() && trace.lines.size() < fuzz_op_count_max) {
    Op op;
    op.kind = decode_kind(in.byte());
    decode_args(in, trace.config, op);
    bound_counts(op, trace.config);
    trace.lines.push_back(TraceLine{std::move(op), std::nullopt, 0, {}, {}});
  }
  return trace;
}

std::variant<std::vector<uint8_t>, std::string> encode_trace(const Trace& trace) {
  ByteWriter out;
  auto config_status = encode_config(out, trace.config);
  if (auto* error = std::get_if<std::string>(&config_status)) return *error;
  if (trace.lines.size() > fuzz_op_count_max) {
    return "the byte format holds up to " + std::to_string(fuzz_op_count_max) + " ops";
  }
  for (const TraceLine& line : trace.lines) {
    Op bounded = line.op;
    bound_counts(bounded, trace.config);
    if (bounded != line.op) {
      return "`" + format_op(line.op) + "`: the byte format holds up to " +
             std::to_string(op_token_count_max(trace.config)) +
             " tokens per op here (the pool's capacity + 1, or 65536 words), or over 1048576";
    }
    out.push_back(encode_kind(line.op.kind));
    auto args_status = encode_args(out, line.op);
    if (auto* error = std::get_if<std::string>(&args_status)) return *error;
  }
  return out;
}

}  // namespace kv::fuzz
