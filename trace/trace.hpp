// A parsed kvtrace file (config, ops, expectations, comments) and its parser and printer.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "trace/config.hpp"
#include "trace/op.hpp"

namespace kv {

inline constexpr uint32_t trace_op_count_max = 1000000;
inline constexpr uint32_t trace_line_bytes_max = 65536;

struct TraceLine {
  Op op;
  std::optional<OpResult> expected;
  uint32_t line_number = 0;           // 1-based line in the source file; 0 when generated
  std::vector<std::string> comments;  // full-line comments just above this op, without '#'
  std::string inline_comment;         // a comment at the end of the op line, without '#'
  bool operator==(const TraceLine&) const = default;
};

struct Trace {
  Config config;
  std::vector<std::string> header_comments;  // comments before `config`
  std::vector<TraceLine> lines;
  std::vector<std::string> trailing_comments;  // comments after the last op
  // Where the config line was read (1-based; 0 when generated), for `FILE:LINE: config: ...`
  // messages. Provenance, not content: equality leaves it out.
  uint32_t config_line_number = 0;
  bool operator==(const Trace& other) const {
    return config == other.config && header_comments == other.header_comments &&
           lines == other.lines && trailing_comments == other.trailing_comments;
  }
};

struct ParseError {
  uint32_t line_number = 0;
  std::string message;
};

using ParseResult = std::variant<Trace, ParseError>;

ParseResult parse_trace(std::string_view text, uint64_t memory_budget_bytes);

// Parses one op line (without expectation), for tools and tests.
std::variant<Op, std::string> parse_op(std::string_view text);

// Parses one result line (`ok evicted=1,2`, a step's entries joined by ` ; `), for tools.
std::variant<OpResult, std::string> parse_op_result(std::string_view text);

// The lowest version that holds one line: its op's (ops.def), at least 2 with `hit=`/`cached=`
// in its expectation.
uint32_t line_version(const TraceLine& line);
// The lowest version that holds the trace: the highest line's, at least 2 with prefix_caching=on.
uint32_t trace_version(const Trace& trace);

// Canonical text: `kvtrace V` (trace_version), the config, one op per line with ` => EXPECTED`
// where known.
std::string format_trace(const Trace& trace);

}  // namespace kv
