// The kvtrace op language: ops, results and their canonical text (kvtrace v1, docs/semantics.md).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kv {

using SeqId = uint32_t;
using Tick = uint64_t;

inline constexpr uint32_t append_token_count_max = 1048576;
inline constexpr uint32_t step_entry_count_max = 256;
// prefill: prompt streams 0..2047, at most 1,048,576 tokens in all (kvtrace 2).
inline constexpr uint32_t prompt_stream_max = 2047;
inline constexpr uint32_t prefill_token_count_max = 1048576;
// A prefill line may name at most this many segments (a parse error beyond).
inline constexpr uint32_t prefill_segment_count_max = 16384;

enum class OpKind : uint8_t {
#define KV_OP(name, shape, version, weight, help) name,
#include "trace/ops.def"
};
inline constexpr uint32_t op_kind_count = 0
#define KV_OP(name, shape, version, weight, help) +1
#include "trace/ops.def"
    ;

// What arguments an op takes; the parser, printer and generators branch on this only.
enum class OpShape : uint8_t { None, Seq, SeqCount, SeqSeq, Step, Prefill };

// Whether the op's shape starts with a sequence id / carries a list of `A:B` entries.
bool shape_has_seq(OpShape shape);
bool shape_has_entries(OpShape shape);

OpShape op_shape(OpKind kind);
std::string_view op_name(OpKind kind);
std::string_view op_help(OpKind kind);
// The lowest `kvtrace V` header a file using the op needs.
uint32_t op_version(OpKind kind);
uint32_t op_weight(OpKind kind);
std::optional<OpKind> op_from_name(std::string_view name);

struct StepEntry {
  SeqId seq = 0;
  uint32_t token_count = 0;
  bool operator==(const StepEntry&) const = default;
};

// One op. `seq`/`count` carry S and N (or SRC and DST for fork). `entries` holds a step's S:N
// entries, or a prefill's prompt segments P:N (StepEntry::seq is then the stream P).
struct Op {
  OpKind kind = OpKind::stats;
  SeqId seq = 0;
  uint32_t count = 0;
  std::vector<StepEntry> entries;
  bool operator==(const Op&) const = default;
};

// The sequences an op names, in order (step members, fork SRC and DST, ...).
std::vector<SeqId> op_sequences(const Op& op);

enum class Status : uint8_t {
  ok,
  capacity_exceeded,
  unknown_sequence,
  sequence_exists,
  invalid_argument,
  nothing_to_evict,
};
std::string_view status_name(Status status);
std::optional<Status> status_from_name(std::string_view name);

struct InfoView {
  uint64_t token_count = 0;
  uint64_t page_count = 0;
  bool pinned = false;
  bool operator==(const InfoView&) const = default;
};

struct StatsView {
  uint64_t used_pages = 0;
  uint64_t free_pages = 0;
  uint64_t sequence_count = 0;
  uint64_t token_count = 0;
  std::optional<uint64_t> cached_keys =
      std::nullopt;  // `cached=C`: only with prefix_caching=on (kvtrace 2)
  std::optional<uint64_t> cpu_pages_used = std::nullopt;  // `cpu=C`: only with cpu_pages > 0 (v3)
  bool operator==(const StatsView&) const = default;
};

// The result of one op, or of one step entry.
struct Result {
  Status status = Status::ok;
  std::vector<SeqId> evicted;      // victims in eviction order (ok only)
  std::optional<InfoView> info;    // `info` only
  std::optional<StatsView> stats;  // `stats` only
  std::optional<uint64_t> hit_tokens =
      std::nullopt;  // `hit=T`: a successful `prefill` only (kvtrace 2)
  bool operator==(const Result&) const = default;
};

// A whole op's result: one entry, or one per step entry.
struct OpResult {
  std::vector<Result> entries;
  bool operator==(const OpResult&) const = default;
};

OpResult single(Result result);
inline Result result_of(Status status, std::vector<SeqId> evicted = {}) {
  return Result{status, std::move(evicted), std::nullopt, std::nullopt};
}

std::string format_op(const Op& op);
std::string format_result(const Result& result);
std::string format_op_result(const OpResult& result);

}  // namespace kv
