// Streamed reading and running: TraceReader takes a stream a piece at a time and agrees with
// parse_trace; StreamRun over pieces agrees with run_trace.
#include "trace/reader.hpp"

#include <gtest/gtest.h>

#include <sstream>
#include <streambuf>

#include "backends/backends.hpp"
#include "runner/runner.hpp"
#include "trace/gen.hpp"

namespace kv {
namespace {

// A stream of a header, a config and `op_count` `append 1 1` lines, made as it is read, that
// counts the bytes it gave out: nothing of it exists before it is read.
class GeneratedTrace : public std::streambuf {
 public:
  explicit GeneratedTrace(uint64_t op_count) : ops_left_(op_count) {
    chunk_ = "kvtrace 1\nconfig page_size=16 max_pages=64\n";
    setg(chunk_.data(), chunk_.data(), chunk_.data() + chunk_.size());
  }
  uint64_t bytes_given() const { return bytes_given_; }

 protected:
  int_type underflow() override {
    if (gptr() < egptr()) return traits_type::to_int_type(*gptr());
    bytes_given_ += chunk_.size();
    chunk_.clear();
    for (int i = 0; i < 4096 && ops_left_ > 0; i++, ops_left_--) chunk_ += "append 1 1\n";
    if (chunk_.empty()) return traits_type::eof();
    setg(chunk_.data(), chunk_.data(), chunk_.data() + chunk_.size());
    return traits_type::to_int_type(*gptr());
  }

 private:
  std::string chunk_;
  uint64_t ops_left_;
  uint64_t bytes_given_ = 0;
};

TEST(TraceReader, ReadsAPieceWithoutReadingTheWholeStream) {
  GeneratedTrace source(1000000);  // 11 MB of text
  std::istream in(&source);
  TraceReader reader(in, memory_budget_default_bytes);
  ASSERT_FALSE(reader.read_config());
  std::vector<TraceLine> lines;
  ASSERT_FALSE(reader.read_ops(lines, 100));
  ASSERT_EQ(lines.size(), 100u);
  EXPECT_EQ(lines[0].line_number, 3u);
  // One read block (and the stream's own chunk) at most, not the 11 MB behind them.
  EXPECT_LE(source.bytes_given(), 2 * TraceReader::read_block_bytes + 65536);
  EXPECT_LE(reader.bytes_read(), 2 * TraceReader::read_block_bytes);
  uint64_t op_count = lines.size();
  while (!reader.read_ops(lines, 4096) && !lines.empty()) {
    EXPECT_LE(lines.size(), 4096u);
    op_count += lines.size();
  }
  EXPECT_EQ(op_count, 1000000u);
  EXPECT_EQ(reader.line_number(), 1000002u);
}

std::vector<TraceLine> read_in_pieces(const std::string& text, size_t piece_op_count,
                                      std::optional<ParseError>& error) {
  std::istringstream in(text);
  TraceReader reader(in, memory_budget_default_bytes);
  std::vector<TraceLine> all, lines;
  error = reader.read_config();
  while (!error) {
    error = reader.read_ops(lines, piece_op_count);
    all.insert(all.end(), lines.begin(), lines.end());
    if (lines.empty()) break;
  }
  return all;
}

TEST(TraceReader, PiecesAddUpToWhatParseTraceReads) {
  const std::string text = "\xEF\xBB\xBF" + format_trace(generate_trace(7, 500)) + "# the end\n";
  const auto whole = parse_trace(text, memory_budget_default_bytes);
  ASSERT_TRUE(std::holds_alternative<Trace>(whole));
  for (size_t piece : {1, 7, 4096}) {
    std::optional<ParseError> error;
    EXPECT_EQ(read_in_pieces(text, piece, error), std::get<Trace>(whole).lines) << piece;
    EXPECT_FALSE(error) << error->message;
  }
}

TEST(TraceReader, AParseErrorComesWithTheGoodLinesBeforeIt) {
  const std::string text =
      "kvtrace 1\r\nconfig page_size=4 max_pages=8\r\nalloc 1\r\n# note\r\nalloc 2\r\nallocate "
      "3\r\n"
      "alloc 4\r\n";
  std::optional<ParseError> error;
  const std::vector<TraceLine> lines = read_in_pieces(text, 100, error);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->line_number, 6u);
  EXPECT_EQ(error->message, "unknown op 'allocate'");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[1].line_number, 5u);
  EXPECT_EQ(lines[1].comments, std::vector<std::string>{" note"});
}

TEST(TraceReader, EndOfFileErrorsMatchParseTrace) {
  for (const std::string text : {"", "kvtrace 1\n", "kvtrace 1\n# only a comment\n", "alloc 1\n"}) {
    std::optional<ParseError> error;
    read_in_pieces(text, 10, error);
    const auto whole = parse_trace(text, memory_budget_default_bytes);
    ASSERT_TRUE(error) << text;
    ASSERT_TRUE(std::holds_alternative<ParseError>(whole)) << text;
    EXPECT_EQ(error->message, std::get<ParseError>(whole).message) << text;
    EXPECT_EQ(error->line_number, std::get<ParseError>(whole).line_number) << text;
  }
}

TEST(TraceReader, AnOverlongLineIsAnErrorWithoutReadingItAll) {
  std::string text = "kvtrace 1\nconfig page_size=4 max_pages=8\nalloc 1\n";
  text += "alloc 2 " + std::string(10 * trace_line_bytes_max, ' ') + "\n";
  std::optional<ParseError> error;
  const std::vector<TraceLine> lines = read_in_pieces(text, 100, error);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->line_number, 4u);
  EXPECT_EQ(error->message, "line is longer than 65536 bytes");
  EXPECT_EQ(lines.size(), 1u);
}

TEST(TraceReader, APieceStopsAtItsTextBudget) {
  GeneratedTrace source(100000);
  std::istream in(&source);
  TraceReader reader(in, memory_budget_default_bytes);
  std::vector<TraceLine> lines;
  ASSERT_FALSE(reader.read_ops(lines, 4096, 1100));  // "append 1 1\n" is 11 bytes
  EXPECT_EQ(lines.size(), 100u);
  ASSERT_FALSE(reader.read_ops(lines, 4096, 1));  // at least one op
  EXPECT_EQ(lines.size(), 1u);
}

TEST(StreamRun, PiecesGiveTheReportOfTheWholeRun) {
  Trace trace = generate_trace(3, 2000);
  std::vector<std::unique_ptr<Backend>> no_backends;
  const RunReport whole = run_trace(trace, no_backends, AuditMode::every);
  ASSERT_TRUE(whole.ok());
  for (size_t piece : {1, 13, 4096}) {
    auto backends = make_backends({"all"}, trace.config);
    StreamRun run(trace.config, trace.header_comments, backends, AuditMode::every);
    for (size_t at = 0; at < trace.lines.size(); at += piece) {
      const size_t count = std::min(piece, trace.lines.size() - at);
      ASSERT_TRUE(run.feed(std::span(trace.lines).subspan(at, count)));
    }
    const RunReport report = run.finish();
    EXPECT_TRUE(report.ok()) << format_divergence(*report.divergence);
    EXPECT_EQ(report.op_count, whole.op_count);
  }
}

TEST(StreamRun, ADivergenceInALaterPieceNamesItsTickAndLine) {
  Trace trace = generate_trace(5, 300);
  ASSERT_GT(trace.lines.size(), 250u);
  for (size_t i = 0; i < trace.lines.size(); i++)
    trace.lines[i].line_number = static_cast<uint32_t>(10 + i);
  trace.lines[250].expected = OpResult{{Result{Status::unknown_sequence, {}, {}, {}}}};
  std::vector<std::unique_ptr<Backend>> no_backends;
  const RunReport whole = run_trace(trace, no_backends, AuditMode::check);
  ASSERT_FALSE(whole.ok());
  StreamRun run(trace.config, trace.header_comments, no_backends, AuditMode::check);
  std::vector<TraceLine> piece;
  for (size_t at = 0; at < trace.lines.size(); at += 100) {
    piece.assign(trace.lines.begin() + at,
                 trace.lines.begin() + std::min(at + 100, trace.lines.size()));
    if (!run.feed(piece)) break;
    piece.assign(piece.size(), TraceLine{});  // the caller reuses its piece
  }
  const RunReport report = run.finish();
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.op_count, whole.op_count);
  EXPECT_EQ(report.divergence->tick, 250u);
  EXPECT_EQ(report.divergence->line_number, 260u);
  EXPECT_EQ(report.divergence->op_text, whole.divergence->op_text);
  EXPECT_EQ(report.divergence->signature(), whole.divergence->signature());
  EXPECT_TRUE(report.divergence->prefix.lines.empty());
  EXPECT_EQ(report.divergence->prefix.config, trace.config);
}

}  // namespace
}  // namespace kv
