// TraceReader: line splitting over a bounded buffer, parsing through LineParser.
#include "trace/reader.hpp"

#include <algorithm>

namespace kv {

TraceReader::TraceReader(std::istream& in, uint64_t memory_budget_bytes)
    : in_(in), parser_(memory_budget_bytes) {}

std::optional<std::string_view> TraceReader::next_line() {
  for (;;) {
    const size_t newline = buffer_.find('\n', pos_);
    if (newline != std::string::npos) {
      const std::string_view line(buffer_.data() + pos_, newline - pos_);
      pos_ = newline + 1;
      return line;
    }
    // +2: a '\r' and the byte that proves the line is too long.
    if (buffer_.size() - pos_ > trace_line_bytes_max + 2) {
      error_ = ParseError{line_number_ + 1,
                          "line is longer than " + std::to_string(trace_line_bytes_max) + " bytes"};
      return std::nullopt;
    }
    if (eof_) {
      if (pos_ == buffer_.size()) return std::nullopt;
      const std::string_view line(buffer_.data() + pos_, buffer_.size() - pos_);
      pos_ = buffer_.size();
      return line;
    }
    buffer_.erase(0, pos_);
    pos_ = 0;
    const size_t kept = buffer_.size();
    buffer_.resize(kept + read_block_bytes);
    in_.read(buffer_.data() + kept, static_cast<std::streamsize>(read_block_bytes));
    const auto got = static_cast<size_t>(std::max<std::streamsize>(in_.gcount(), 0));
    buffer_.resize(kept + got);
    bytes_read_ += got;
    if (in_.bad()) {
      error_ = ParseError{line_number_ + 1, "read error"};
      return std::nullopt;
    }
    if (got == 0 || in_.eof()) eof_ = true;
  }
}

// Parses one more line; `at_end` when the input is used up (then the end-of-file checks ran).
std::optional<ParseError> TraceReader::feed_next(bool& at_end, size_t& text_bytes) {
  at_end = false;
  const auto line = next_line();
  if (error_) return error_;
  if (!line) {
    at_end = true;
    if (!finished_) {
      finished_ = true;
      if (auto message = parser_.finish()) error_ = ParseError{line_number_, *message};
    }
    return error_;
  }
  line_number_++;
  text_bytes += line->size() + 1;
  if (auto message = parser_.feed(*line, line_number_)) {
    error_ = ParseError{line_number_, *message};
  }
  return error_;
}

std::optional<ParseError> TraceReader::read_config() {
  bool at_end = false;
  size_t text_bytes = 0;
  while (!parser_.saw_config()) {
    if (auto error = feed_next(at_end, text_bytes)) return error;
    if (at_end) return ParseError{line_number_, "missing the config line"};
  }
  return std::nullopt;
}

std::optional<ParseError> TraceReader::read_ops(std::vector<TraceLine>& lines, size_t op_count_max,
                                                size_t text_bytes_max) {
  std::vector<TraceLine>& parsed = parser_.trace().lines;
  parsed.clear();
  if (!parser_.saw_config()) {
    if (auto error = read_config()) return error;
  }
  bool at_end = false;
  size_t text_bytes = 0;
  std::optional<ParseError> error = error_;
  while (!error && !at_end &&
         (parsed.empty() || (parsed.size() < op_count_max && text_bytes < text_bytes_max))) {
    error = feed_next(at_end, text_bytes);
  }
  lines.swap(parsed);
  parsed.clear();
  return error;
}

}  // namespace kv
