// Streamed replay: the child's read-run loop, progress lines, stdin spooling, prefix rebuilding.
#include "tools/kvtrace/stream.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "backends/backends.hpp"
#include "runner/isolate.hpp"
#include "trace/reader.hpp"

namespace kv::cli {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t progress_slice_op_count = 64;  // ops between looks at the clock

std::string with_line(const ParseError& error) {
  return std::to_string(error.line_number) + ": " + error.message;
}

// Prints "progress: NAME: N ops, X% of M MB, R ops/s, T s" at most once per interval.
class ProgressLine {
 public:
  ProgressLine(const StreamOptions& options, uint64_t file_bytes)
      : options_(options), file_bytes_(file_bytes), last_(start_) {}

  void maybe_print(uint64_t op_count, uint64_t bytes_read) {
    if (options_.progress_interval_ms == 0) return;
    const auto now = Clock::now();
    if (now - last_ < std::chrono::milliseconds(options_.progress_interval_ms)) return;
    last_ = now;
    const double seconds = std::chrono::duration<double>(now - start_).count();
    char line[512];
    const double percent =
        file_bytes_ ? 100.0 * static_cast<double>(bytes_read) / static_cast<double>(file_bytes_)
                    : 0.0;
    std::snprintf(line, sizeof line,
                  "progress: %s: %llu ops, %.1f of %.1f MB read (%.0f%%), %.0f ops/s, %.1f s\n",
                  options_.name.c_str(), static_cast<unsigned long long>(op_count),
                  static_cast<double>(bytes_read) / 1e6, static_cast<double>(file_bytes_) / 1e6,
                  percent, seconds > 0 ? static_cast<double>(op_count) / seconds : 0.0, seconds);
    std::cout << line << std::flush;
  }

 private:
  const StreamOptions& options_;
  uint64_t file_bytes_;
  Clock::time_point start_ = Clock::now();
  Clock::time_point last_;
};

// The first op line in `lines` outside `caps` cuts the piece there; its message, or nothing.
std::optional<std::string> cut_outside(std::vector<TraceLine>& lines, const Capabilities& caps,
                                       const std::string& backend) {
  for (size_t i = 0; i < lines.size(); i++) {
    if (auto why = line_outside(lines[i], caps, backend)) {
      lines.resize(i);
      return why;
    }
  }
  return std::nullopt;
}

// In the child: read pieces and feed them until the end, a divergence or bad input.
RunReport stream_body(const std::string& file, const Capabilities& caps,
                      const StreamOptions& options, RunProgress& progress,
                      const NoteBackends& note_backends) {
  RunReport report;
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    report.input_error = "0: cannot open the file: " + std::string(std::strerror(errno));
    return report;
  }
  std::error_code size_error;
  const uint64_t file_bytes = std::filesystem::file_size(file, size_error);
  TraceReader reader(in, options.budget_bytes);
  if (auto error = reader.read_config()) {
    report.input_error = with_line(*error);
    return report;
  }
  if (auto why = config_outside(reader.config(), caps)) {
    report.input_error = std::to_string(reader.line_number()) + ": config: " + *why + " (backend " +
                         options.backend + ")";  // the config line, just read
    return report;
  }
  auto backends = make_backends({options.backend}, reader.config());
  note_backends(backends);
  StreamRun run(reader.config(), reader.header_comments(), backends, options.audit, &progress);
  ProgressLine progress_line(options, size_error ? 0 : file_bytes);
  std::vector<TraceLine> lines;
  for (;;) {
    const auto error = reader.read_ops(lines, stream_piece_op_count, stream_piece_text_bytes);
    auto outside = cut_outside(lines, caps, options.backend);
    bool agreed = true;
    // In slices, so a slow piece (a large state, --audit every) still gets its progress lines.
    for (size_t at = 0; agreed && at < lines.size(); at += progress_slice_op_count) {
      const size_t count = std::min(progress_slice_op_count, lines.size() - at);
      agreed = run.feed(std::span(lines).subspan(at, count));
      progress_line.maybe_print(run.op_count(), reader.bytes_read());
    }
    if (agreed && (error || outside)) {
      report.op_count = run.op_count();
      report.input_error = outside ? *outside : with_line(*error);
      return report;
    }
    if (!agreed || lines.empty()) break;
  }
  return run.finish();
}

// Fills what the child could not send: the prefix, and for a crash the failing op's line.
void complete_divergence(Divergence& d, const std::string& file, uint64_t budget_bytes) {
  const bool before_first_op =
      d.kind == FailureKind::crash && !d.op_text.empty() && d.line_number == 0;
  auto prefix = read_trace_prefix(file, before_first_op ? 0 : d.tick + 1, budget_bytes);
  if (auto* trace = std::get_if<Trace>(&prefix)) {
    d.prefix = std::move(*trace);
  } else {
    d.detail += "\n(could not read the prefix again: " + std::get<std::string>(prefix) + ")";
  }
  if (d.op_text.empty() && !d.prefix.lines.empty()) {
    const TraceLine& line = d.prefix.lines.back();
    d.line_number = line.line_number;
    d.op_text = format_op(line.op);
    if (line.expected) d.expected = format_op_result(*line.expected);
  }
}

}  // namespace

RunReport replay_streamed(const std::string& file, const Capabilities& caps,
                          const StreamOptions& options) {
  const IsolatedBody body = [&](RunProgress& progress, const NoteBackends& note_backends) {
    return stream_body(file, caps, options, progress, note_backends);
  };
  RunReport report = run_isolated(body);
  if (report.divergence) complete_divergence(*report.divergence, file, options.budget_bytes);
  return report;
}

std::variant<Trace, std::string> read_trace_prefix(const std::string& file, uint64_t op_count,
                                                   uint64_t budget_bytes) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return "0: cannot open the file: " + std::string(std::strerror(errno));
  TraceReader reader(in, budget_bytes);
  if (auto error = reader.read_config()) return with_line(*error);
  Trace trace;
  trace.config = reader.config();
  trace.header_comments = reader.header_comments();
  std::vector<TraceLine> lines;
  while (trace.lines.size() < op_count) {
    const auto error = reader.read_ops(
        lines, std::min<uint64_t>(op_count - trace.lines.size(), stream_piece_op_count),
        stream_piece_text_bytes);
    trace.lines.insert(trace.lines.end(), std::make_move_iterator(lines.begin()),
                       std::make_move_iterator(lines.end()));
    if (error && trace.lines.size() < op_count) return with_line(*error);
    if (lines.empty()) break;
  }
  return trace;
}

std::variant<std::string, std::string> spool_input(const std::string& path) {
  using Result = std::variant<std::string, std::string>;
  const int in = path == "-" ? STDIN_FILENO : open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0)
    return Result(std::in_place_index<1>,
                  "cannot open the file: " + std::string(std::strerror(errno)));
  std::string copy = (std::filesystem::temp_directory_path() / "kvtrace-input-XXXXXX").string();
  const int fd = mkstemp(copy.data());
  if (fd < 0) {
    if (in != STDIN_FILENO) close(in);
    return Result(std::in_place_index<1>, "cannot make a temporary copy of the input: " +
                                              std::string(std::strerror(errno)));
  }
  char buffer[65536];
  bool ok = true;
  std::string reason;
  for (;;) {
    const ssize_t got = read(in, buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      if (got < 0) ok = false, reason = std::strerror(errno);
      break;
    }
    for (ssize_t done = 0; ok && done < got;) {
      const ssize_t wrote = write(fd, buffer + done, static_cast<size_t>(got - done));
      if (wrote < 0 && errno == EINTR) continue;
      if (wrote <= 0) ok = false, reason = std::strerror(errno);
      done += wrote > 0 ? wrote : 0;
    }
    if (!ok) break;
  }
  close(fd);
  if (in != STDIN_FILENO) close(in);
  if (!ok) {
    std::filesystem::remove(copy);
    return Result(std::in_place_index<1>, "cannot copy the input to " + copy + ": " + reason);
  }
  return Result(std::in_place_index<0>, copy);
}

uint32_t progress_interval_ms() {
  if (!isatty(STDOUT_FILENO)) return 30000;
  if (const char* text = std::getenv("KVTRACE_PROGRESS_MS"); text && *text) {
    char* end = nullptr;
    const unsigned long value = std::strtoul(text, &end, 10);
    if (*end == '\0' && value <= 3600000) return static_cast<uint32_t>(value);
  }
  return 2000;
}

}  // namespace kv::cli
