// TraceReader: a kvtrace file read from a stream a few ops at a time (streamed replay), so
// memory stays bounded by the ops in hand, not by the file.
#pragma once

#include <cstdint>
#include <istream>
#include <optional>
#include <string>
#include <vector>

#include "trace/line_parser.hpp"
#include "trace/trace.hpp"

namespace kv {

class TraceReader {
 public:
  // Reads `in` in blocks of read_block_bytes; `in` must outlive the reader.
  TraceReader(std::istream& in, uint64_t memory_budget_bytes);

  // Reads up to and including the config line. A ParseError when the input breaks or ends first.
  std::optional<ParseError> read_config();
  // The header: config and the comments before it (valid after read_config succeeded).
  const Config& config() const { return parser_.trace().config; }
  const std::vector<std::string>& header_comments() const {
    return parser_.trace().header_comments;
  }

  // Replaces `lines` with the next op lines: at least one, then more while fewer than
  // `op_count_max` and fewer than `text_bytes_max` bytes of text were read for them (a parsed
  // op takes several times its text). `lines` comes back empty at the end of the input. On a
  // ParseError, `lines` holds the good op lines before it.
  std::optional<ParseError> read_ops(std::vector<TraceLine>& lines, size_t op_count_max,
                                     size_t text_bytes_max = SIZE_MAX);

  uint64_t bytes_read() const { return bytes_read_; }    // bytes taken from the stream so far
  uint32_t line_number() const { return line_number_; }  // the last line read (1-based)

  static constexpr size_t read_block_bytes = 65536;

 private:
  // The next line without its '\n'; nullopt at the end of the input or on an over-long line
  // (then `error_` says so).
  std::optional<std::string_view> next_line();
  std::optional<ParseError> feed_next(bool& at_end, size_t& text_bytes);

  std::istream& in_;
  LineParser parser_;
  std::string buffer_;  // read but not yet parsed: buffer_[pos_, end)
  size_t pos_ = 0;
  bool eof_ = false;
  bool finished_ = false;
  uint64_t bytes_read_ = 0;
  uint32_t line_number_ = 0;
  std::optional<ParseError> error_;  // sticky: a broken input stays broken
};

}  // namespace kv
