// The canonical kvtrace printer; parse_trace(format_trace(t)) gives t back (line numbers aside).
#include "trace/trace.hpp"

namespace kv {
namespace {

void append_comments(std::string& out, const std::vector<std::string>& comments) {
  for (const std::string& comment : comments) out += "#" + comment + "\n";
}

}  // namespace

bool line_needs_version_2(const TraceLine& line) {
  if (op_shape(line.op.kind) == OpShape::Prefill) return true;
  if (!line.expected) return false;
  for (const Result& result : line.expected->entries) {
    if (result.hit_tokens || (result.stats && result.stats->cached_keys)) return true;
  }
  return false;
}

uint32_t trace_version(const Trace& trace) {
  if (trace.config.prefix_caching) return 2;
  for (const TraceLine& line : trace.lines) {
    if (line_needs_version_2(line)) return 2;
  }
  return 1;
}

std::string format_trace(const Trace& trace) {
  std::string out = "kvtrace " + std::to_string(trace_version(trace)) + "\n";
  append_comments(out, trace.header_comments);
  out += format_config(trace.config) + "\n";
  for (const TraceLine& line : trace.lines) {
    append_comments(out, line.comments);
    out += format_op(line.op);
    if (line.expected) out += " => " + format_op_result(*line.expected);
    if (!line.inline_comment.empty()) out += " #" + line.inline_comment;
    out += "\n";
  }
  append_comments(out, trace.trailing_comments);
  return out;
}

}  // namespace kv
