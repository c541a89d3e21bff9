// The canonical kvtrace printer; parse_trace(format_trace(t)) gives t back (line numbers aside).
#include "trace/trace.hpp"

namespace kv {
namespace {

void append_comments(std::string& out, const std::vector<std::string>& comments) {
  for (const std::string& comment : comments) out += "#" + comment + "\n";
}

}  // namespace

std::string format_trace(const Trace& trace) {
  std::string out = "kvtrace 1\n";
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
