// The canonical kvtrace printer; parse_trace(format_trace(t)) gives t back (line numbers aside).
#include <algorithm>

#include "trace/trace.hpp"

namespace kv {
namespace {

void append_comments(std::string& out, const std::vector<std::string>& comments) {
  for (const std::string& comment : comments) out += "#" + comment + "\n";
}

}  // namespace

uint32_t line_version(const TraceLine& line) {
  uint32_t version = op_version(line.op.kind);
  if (!line.expected) return version;
  for (const Result& result : line.expected->entries) {
    if (result.hit_tokens || (result.stats && result.stats->cached_keys)) {
      version = std::max<uint32_t>(version, 2);
    }
    if (result.stats && result.stats->cpu_pages_used) version = 3;
  }
  return version;
}

uint32_t trace_version(const Trace& trace) {
  const Config& config = trace.config;
  uint32_t version = config.cpu_pages > 0 || config.sliding_window > 0 || config.group_count > 0 ? 3
                     : config.prefix_caching                                                     ? 2
                                             : 1;
  for (const TraceLine& line : trace.lines) version = std::max(version, line_version(line));
  return version;
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
