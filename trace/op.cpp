// Names, help and canonical printing of ops and results, all expanded from trace/ops.def.
#include "trace/op.hpp"

#include <array>

namespace kv {
namespace {

struct OpRow {
  std::string_view name;
  OpShape shape;
  uint32_t version;
  uint32_t weight;
  std::string_view help;
};

constexpr std::array<OpRow, op_kind_count> op_rows = {{
#define KV_OP(name, shape, version, weight, help) {#name, OpShape::shape, version, weight, help},
#include "trace/ops.def"
}};

constexpr std::array<std::string_view, 6> status_names = {"ok",
                                                          "capacity_exceeded",
                                                          "unknown_sequence",
                                                          "sequence_exists",
                                                          "invalid_argument",
                                                          "nothing_to_evict"};

void append_ids(std::string& out, const std::vector<SeqId>& ids) {
  for (size_t i = 0; i < ids.size(); i++) {
    if (i > 0) out += ',';
    out += std::to_string(ids[i]);
  }
}

}  // namespace

OpShape op_shape(OpKind kind) {
  return op_rows[static_cast<size_t>(kind)].shape;
}
std::string_view op_name(OpKind kind) {
  return op_rows[static_cast<size_t>(kind)].name;
}
std::string_view op_help(OpKind kind) {
  return op_rows[static_cast<size_t>(kind)].help;
}
uint32_t op_version(OpKind kind) {
  return op_rows[static_cast<size_t>(kind)].version;
}
uint32_t op_weight(OpKind kind) {
  return op_rows[static_cast<size_t>(kind)].weight;
}

bool shape_has_seq(OpShape shape) {
  return shape != OpShape::None && shape != OpShape::Step;
}
bool shape_has_entries(OpShape shape) {
  return shape == OpShape::Step || shape == OpShape::Prefill;
}

std::optional<OpKind> op_from_name(std::string_view name) {
  for (size_t i = 0; i < op_rows.size(); i++) {
    if (op_rows[i].name == name) return static_cast<OpKind>(i);
  }
  return std::nullopt;
}

std::string_view status_name(Status status) {
  return status_names[static_cast<size_t>(status)];
}

std::optional<Status> status_from_name(std::string_view name) {
  for (size_t i = 0; i < status_names.size(); i++) {
    if (status_names[i] == name) return static_cast<Status>(i);
  }
  return std::nullopt;
}

std::vector<SeqId> op_sequences(const Op& op) {
  switch (op_shape(op.kind)) {
    case OpShape::None:
      return {};
    case OpShape::Seq:
    case OpShape::SeqCount:
      return {op.seq};
    case OpShape::SeqSeq:
      return {op.seq, op.count};
    case OpShape::Prefill:
      return {op.seq};
    case OpShape::Step: {
      std::vector<SeqId> ids;
      for (const StepEntry& entry : op.entries) ids.push_back(entry.seq);
      return ids;
    }
  }
  return {};
}

OpResult single(Result result) {
  OpResult op_result;
  op_result.entries.push_back(std::move(result));
  return op_result;
}

std::string format_op(const Op& op) {
  std::string out(op_name(op.kind));
  switch (op_shape(op.kind)) {
    case OpShape::None:
      break;
    case OpShape::Seq:
      out += ' ' + std::to_string(op.seq);
      break;
    case OpShape::SeqCount:
    case OpShape::SeqSeq:
      out += ' ' + std::to_string(op.seq) + ' ' + std::to_string(op.count);
      break;
    case OpShape::Prefill:
      out += ' ' + std::to_string(op.seq);
      [[fallthrough]];
    case OpShape::Step:
      for (const StepEntry& entry : op.entries) {
        out += ' ' + std::to_string(entry.seq) + ':' + std::to_string(entry.token_count);
      }
      break;
  }
  return out;
}

std::string format_result(const Result& result) {
  std::string out(status_name(result.status));
  if (result.hit_tokens) out += " hit=" + std::to_string(*result.hit_tokens);
  if (!result.evicted.empty()) {
    out += " evicted=";
    append_ids(out, result.evicted);
  }
  if (result.info) {
    out += " tokens=" + std::to_string(result.info->token_count) +
           " pages=" + std::to_string(result.info->page_count) +
           " pinned=" + (result.info->pinned ? "1" : "0");
  }
  if (result.stats) {
    out += " used=" + std::to_string(result.stats->used_pages) +
           " free=" + std::to_string(result.stats->free_pages) +
           " sequences=" + std::to_string(result.stats->sequence_count) +
           " tokens=" + std::to_string(result.stats->token_count);
    if (result.stats->cached_keys) out += " cached=" + std::to_string(*result.stats->cached_keys);
    if (result.stats->cpu_pages_used)
      out += " cpu=" + std::to_string(*result.stats->cpu_pages_used);
  }
  return out;
}

std::string format_op_result(const OpResult& result) {
  std::string out;
  for (size_t i = 0; i < result.entries.size(); i++) {
    if (i > 0) out += " ; ";
    out += format_result(result.entries[i]);
  }
  return out;
}

}  // namespace kv
