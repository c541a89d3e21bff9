// Op arguments in the fuzzer byte format, one case per argument shape of trace/ops.def.
// A new op with an existing shape needs nothing here; a new shape is one case in each switch
// (the compiler's -Wswitch points at all three).
#include <algorithm>

#include "fuzz/codec.hpp"

namespace kv::fuzz {

void decode_args(ByteReader& in, const Config& config, Op& op) {
  switch (op_shape(op.kind)) {
    case OpShape::None:
      return;
    case OpShape::Seq:
      op.seq = decode_seq(in);
      return;
    case OpShape::SeqCount:
      op.seq = decode_seq(in);
      op.count = decode_count(in, config);
      return;
    case OpShape::SeqSeq:
      op.seq = decode_seq(in);
      op.count = decode_seq(in);
      return;
    case OpShape::Prefill:
      op.seq = decode_seq(in);
      [[fallthrough]];  // then its segments P:N, coded like step entries
    case OpShape::Step: {
      // 1..8 entries from one byte, or 1..256 after an escape byte.
      const uint8_t code = in.byte();
      const uint32_t entry_count = code < 0xF0 ? 1 + code % 8 : 1 + in.byte();
      for (uint32_t i = 0; i < entry_count; i++) {
        const SeqId seq = decode_seq(in);
        op.entries.push_back(StepEntry{seq, decode_count(in, config)});
      }
      return;
    }
  }
}

namespace {

// `count` tokens after `before` others of the same op, within the op's bound (codec.hpp).
uint32_t bounded_count(uint32_t count, uint64_t before, const Config& config) {
  if (count == 0 || count > append_token_count_max) return count;
  const uint64_t bound = op_token_count_max(config);
  const uint64_t room = bound > before ? bound - before : 0;
  return static_cast<uint32_t>(std::max<uint64_t>(1, std::min<uint64_t>(count, room)));
}

}  // namespace

uint64_t op_token_count_max(const Config& config) {
  return std::max<uint64_t>(uint64_t{config.max_pages} * config.page_size + 1,
                            fuzz_op_words_max / config.words_per_token());
}

void bound_counts(Op& op, const Config& config) {
  switch (op_shape(op.kind)) {
    case OpShape::None:
    case OpShape::Seq:
    case OpShape::SeqSeq:  // the second argument is an id
      return;
    case OpShape::SeqCount:
      op.count = bounded_count(op.count, 0, config);
      return;
    case OpShape::Prefill:
    case OpShape::Step: {
      uint64_t total = 0;
      for (const StepEntry& entry : op.entries) total += entry.token_count;
      // A prompt over the limit is refused before any token is made: its counts cost nothing.
      if (op_shape(op.kind) == OpShape::Prefill && total > prefill_token_count_max) return;
      uint64_t before = 0;
      for (StepEntry& entry : op.entries) {
        entry.token_count = bounded_count(entry.token_count, before, config);
        if (entry.token_count <= append_token_count_max) before += entry.token_count;
      }
      return;
    }
  }
}

std::variant<std::monostate, std::string> encode_args(ByteWriter& out, const Op& op) {
  switch (op_shape(op.kind)) {
    case OpShape::None:
      return std::monostate{};
    case OpShape::Seq:
      encode_seq(out, op.seq);
      return std::monostate{};
    case OpShape::SeqCount:
      encode_seq(out, op.seq);
      encode_count(out, op.count);
      return std::monostate{};
    case OpShape::SeqSeq:
      encode_seq(out, op.seq);
      encode_seq(out, op.count);
      return std::monostate{};
    case OpShape::Prefill:
      encode_seq(out, op.seq);
      [[fallthrough]];
    case OpShape::Step: {
      if (op.entries.empty() || op.entries.size() > step_entry_count_max) {
        return "a step or prefill takes 1.." + std::to_string(step_entry_count_max) +
               " entries here";
      }
      const auto entry_count = static_cast<uint32_t>(op.entries.size());
      if (entry_count <= 8) {
        out.push_back(static_cast<uint8_t>(entry_count - 1));
      } else {
        out.push_back(0xF0);
        out.push_back(static_cast<uint8_t>(entry_count - 1));
      }
      for (const StepEntry& entry : op.entries) {
        encode_seq(out, entry.seq);
        encode_count(out, entry.token_count);
      }
      return std::monostate{};
    }
  }
  return std::string("unknown op shape");
}

}  // namespace kv::fuzz
