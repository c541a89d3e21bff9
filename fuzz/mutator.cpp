// Structure-aware mutation for fuzz_differential: decode to ops, mutate at the op level, re-encode.
// KV_FUZZ_PLAIN=1 in the environment falls back to libFuzzer's byte mutation (for comparisons),
// as does KV_FUZZ_CHOICES=1 (inputs are the generator core's choices: fuzz_differential.cpp).
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <random>

#include "fuzz/codec.hpp"
#include "trace/gen_core.hpp"

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

namespace {

using Rng = std::mt19937_64;
using kv::Op;
using kv::Trace;

uint32_t below(Rng& rng, uint64_t bound) {
  return bound == 0 ? 0 : static_cast<uint32_t>(rng() % bound);
}

bool plain_mode() {
  static const bool plain =
      std::getenv("KV_FUZZ_PLAIN") != nullptr || std::getenv("KV_FUZZ_CHOICES") != nullptr;
  return plain;
}

// A random op from the generator core (trace/gen_core.hpp), as the classic regime draws it.
Op random_op(Rng& rng, const kv::Config& config) {
  kv::SeededSource source(rng());
  return kv::resolve(kv::draw_op(source, kv::regime_of(kv::Profile::classic)), config.page_size);
}

// A count at a page or capacity boundary, a limit of the op rules, or a small one.
uint32_t boundary_count(Rng& rng, const kv::Config& config) {
  const uint64_t page_size = config.page_size;
  const uint64_t capacity = page_size * config.max_pages;
  const uint64_t bases[] = {page_size, 2 * page_size, capacity, 1048578, 1, 4294967294u};
  const int64_t delta = static_cast<int64_t>(below(rng, 3)) - 1;
  const uint64_t value = bases[below(rng, std::size(bases))] + static_cast<uint64_t>(delta);
  return static_cast<uint32_t>(std::min<uint64_t>(value, 4294967295u));
}

kv::SeqId large_id(Rng& rng) {
  const kv::SeqId ids[] = {8, 255, 65536, 2147483648u, 4294967294u, 4294967295u};
  return ids[below(rng, std::size(ids))];
}

void push_boundary(Rng& rng, Trace& trace) {
  if (trace.lines.empty()) return;
  Op& op = trace.lines[below(rng, trace.lines.size())].op;
  const bool ids = rng() % 3 == 0;
  if (!op.entries.empty()) {
    kv::StepEntry& entry = op.entries[below(rng, op.entries.size())];
    (ids ? entry.seq : entry.token_count) = ids ? large_id(rng) : boundary_count(rng, trace.config);
  } else if (ids) {
    op.seq = large_id(rng);
  } else {
    op.count = boundary_count(rng, trace.config);
  }
}

// One variant of trace/variants.def at a random word, the others at their defaults (the byte
// format holds one); none where the drawn word means nothing here or is not allowed.
void change_variant(Rng& rng, kv::Config& config) {
  const kv::VariantKey& variant = kv::variant_keys[below(rng, std::size(kv::variant_keys))];
  kv::fuzz::set_one_variant(config, variant,
                            static_cast<uint8_t>(below(rng, variant.word_count())));
}

void change_config(Rng& rng, kv::Config& config) {
  switch (below(rng, 6)) {
    case 0: {
      const uint32_t odd_sizes[] = {1, 2, 3, 5, 6, 7, 9, 12, 15, 17, 31, 33, 63};
      config.page_size =
          rng() % 2 ? odd_sizes[below(rng, std::size(odd_sizes))] : 1u << below(rng, 7);
      break;
    }
    case 1:
      config.max_pages = 1 + below(rng, rng() % 4 ? 8 : 64);
      break;
    case 2:
      config.eviction =
          config.eviction == kv::Eviction::lru ? kv::Eviction::none : kv::Eviction::lru;
      break;
    case 3: {  // none, or a window below, at or past small pages (all in the byte format), for
               // the one group or beside a full-attention group (kv_groups=0,W)
      const uint32_t windows[] = {0, 2, 3, 4, 5, 8, 16, 17};
      const uint32_t window = windows[below(rng, std::size(windows))];
      const bool hybrid = below(rng, 3) == 0;
      config.sliding_window = hybrid ? 0 : window;
      config.group_count = hybrid ? 2 : 0;
      config.group_windows = {};
      config.group_windows[1] = hybrid ? window : 0;
      break;
    }
    case 4:
      config.kv_heads = 1 + below(rng, 4);
      config.head_dim = 1 + below(rng, 4);
      config.layers = 1 + below(rng, 4);
      break;
    default:
      change_variant(rng, config);
      break;
  }
  // A pool past the variant nibbles' reach holds no variant: keep the one it had, or none.
  for (const kv::VariantKey& variant : kv::variant_keys) {
    if (config.*variant.field)
      return kv::fuzz::set_one_variant(config, variant, config.*variant.field);
  }
}

void mutate_ops(Rng& rng, Trace& trace) {
  auto& lines = trace.lines;
  const size_t size = lines.size();
  switch (size == 0 ? 0 : below(rng, 7)) {
    case 0:  // insert
      lines.insert(lines.begin() + below(rng, size + 1),
                   kv::TraceLine{random_op(rng, trace.config), std::nullopt, 0, {}, {}});
      break;
    case 1: {  // delete a short run
      const size_t first = below(rng, size);
      lines.erase(lines.begin() + first, lines.begin() + std::min(size, first + 1 + below(rng, 4)));
      break;
    }
    case 2: {  // duplicate one op or a short run in place
      const size_t first = below(rng, size);
      const size_t last = std::min(size, first + 1 + below(rng, 4));
      std::vector<kv::TraceLine> run(lines.begin() + first, lines.begin() + last);
      lines.insert(lines.begin() + last, run.begin(), run.end());
      break;
    }
    case 3:  // swap two ops
      std::swap(lines[below(rng, size)], lines[below(rng, size)]);
      break;
    case 4:
      push_boundary(rng, trace);
      break;
    case 5:
      change_config(rng, trace.config);
      break;
    default:  // replace one op
      lines[below(rng, size)].op = random_op(rng, trace.config);
      break;
  }
}

// Encodes and writes into data; drops trailing ops until it fits max_size.
size_t store(Trace& trace, uint8_t* data, size_t max_size) {
  for (;;) {
    auto encoded = kv::fuzz::encode_trace(trace);
    auto* bytes = std::get_if<std::vector<uint8_t>>(&encoded);
    if (bytes == nullptr) return 0;  // not expressible (cannot happen for decoded traces)
    if (bytes->size() <= max_size || trace.lines.empty()) {
      const size_t size = std::min(bytes->size(), max_size);
      std::memcpy(data, bytes->data(), size);
      return size;
    }
    trace.lines.resize(trace.lines.size() * 3 / 4);
  }
}

}  // namespace

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size,
                                          unsigned int seed) {
  Rng rng(seed);
  if (plain_mode() || rng() % 8 == 0) return LLVMFuzzerMutate(data, size, max_size);
  Trace trace = kv::fuzz::decode_bytes({data, size});
  const uint32_t rounds = 1 + below(rng, 3);
  for (uint32_t i = 0; i < rounds; i++) mutate_ops(rng, trace);
  kv::fuzz::bound_pool(trace.config);
  for (kv::TraceLine& line : trace.lines) kv::fuzz::bound_counts(line.op, trace.config);
  const size_t new_size = store(trace, data, max_size);
  return new_size == 0 ? LLVMFuzzerMutate(data, size, max_size) : new_size;
}

// Splice: a prefix of one input, a run of ops from the other, then the rest of the first.
extern "C" size_t LLVMFuzzerCustomCrossOver(const uint8_t* data1, size_t size1,
                                            const uint8_t* data2, size_t size2, uint8_t* out,
                                            size_t max_out_size, unsigned int seed) {
  Rng rng(seed);
  if (plain_mode()) {  // bytes: a prefix of the first input, then a suffix of the second
    const size_t head = std::min<size_t>(below(rng, size1 + 1), max_out_size);
    const size_t from = below(rng, size2 + 1);
    const size_t tail = std::min(size2 - from, max_out_size - head);
    std::memcpy(out, data1, head);
    std::memcpy(out + head, data2 + from, tail);
    return head + tail;
  }
  Trace first = kv::fuzz::decode_bytes({data1, size1});
  const Trace second = kv::fuzz::decode_bytes({data2, size2});
  const size_t at = below(rng, first.lines.size() + 1);
  const size_t from = below(rng, second.lines.size() + 1);
  const size_t to = from + below(rng, second.lines.size() - from + 1);
  first.lines.insert(first.lines.begin() + at, second.lines.begin() + from,
                     second.lines.begin() + to);
  if (rng() % 4 == 0) first.config = second.config;
  kv::fuzz::bound_pool(first.config);
  for (kv::TraceLine& line : first.lines) kv::fuzz::bound_counts(line.op, first.config);
  return store(first, out, max_out_size);
}
