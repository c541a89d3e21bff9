// The kvtrace parser's state for one file, fed one line at a time (parse_trace, TraceReader).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "trace/trace.hpp"

namespace kv {

class LineParser {
 public:
  explicit LineParser(uint64_t memory_budget_bytes) : budget_(memory_budget_bytes) {}

  // One line of the file, without its '\n' (a trailing '\r' and, on line 1, a UTF-8 byte order
  // mark are dropped); a message when it is malformed. Op lines are appended to trace().lines.
  std::optional<std::string> feed(std::string_view line, uint32_t line_number);
  // At the end of the input: a message when the header or the config line never came.
  std::optional<std::string> finish();

  // The config and comments so far, and the op lines fed since the caller last took them.
  Trace& trace() { return trace_; }
  const Trace& trace() const { return trace_; }
  bool saw_config() const { return saw_config_; }
  uint64_t op_count() const { return op_count_; }  // op lines accepted so far, taken or not

 private:
  std::optional<std::string> body_line(std::string_view body, uint32_t line_number,
                                       std::string_view inline_comment);
  std::optional<std::string> op_line(std::string_view body, uint32_t line_number,
                                     std::string_view inline_comment);

  Trace trace_;
  bool saw_header_ = false;
  uint32_t version_ = 1;
  bool saw_config_ = false;
  std::vector<std::string> pending_comments_;
  uint64_t budget_ = 0;
  uint64_t op_count_ = 0;
};

}  // namespace kv
