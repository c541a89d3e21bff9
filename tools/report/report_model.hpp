// report_model.hpp: what the campaign report says (verdict, findings, summary, charts, trend), read
// from a campaign folder once and rendered the same way into report.json, report.md, report.html.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace campaign {

using Json = nlohmann::ordered_json;
using Row = std::vector<std::string>;

// The runs history.jsonl keeps: the oldest lines go once there are more.
constexpr std::size_t kHistoryRuns = 60;
// A shrunk trace longer than this shows its first lines and says how many are left out.
constexpr std::size_t kTraceLines = 200;

// One labelled line of the summary; value is the text shown.
struct Field {
  std::string key, label, value;
};

// One distinct signature: new (first found by this run), known (found earlier, still failing) or
// fixed (found earlier, its shrunk trace passes now and this run did not find it again).
struct Finding {
  std::string status{};
  std::string signature{}, artifact{}, minimal_trace{};  // paths as findings.tsv names them
  std::string first_seen{};                              // the start of the run that found it
  int hits_this_run = 0;        // artifacts with this signature from this run
  std::string replay_status{};  // earlier findings: the replay's exit status, or "missing"
  bool since_last_run = false;  // fixed: the previous run still had it open
  std::string note{};           // fixed: why it counts as fixed
  std::string trace_text{};     // the shrunk trace, at most kTraceLines lines
  std::size_t trace_lines_left = 0;
};

struct Verdict {
  int new_count = 0, known = 0, fixed = 0;  // fixed: since the last run
  bool corpus_failed = false;
  std::string headline;  // "1 new finding" or "Nothing new"
  std::string text;      // the whole sentence
};

// A line chart: points (x, y) in the axes' units.
struct Chart {
  std::string id, title, x_label, y_label;
  std::vector<std::pair<double, double>> points;
  bool whole_x;  // x counts something (runs): ticks at whole numbers only
};

struct Report {
  std::string dir;
  Verdict verdict;
  std::vector<Field> summary;
  std::vector<Finding>
      findings;               // new, then known, then fixed since the last run, then older fixes
  std::vector<Chart> charts;  // one per series over this run
  Json run;                   // run.tsv as given
  Json stats;                 // stats.tsv, one object per line
  Json history;               // the kept runs, oldest first, this run last
};

// Reads DIR/run.tsv, stats.tsv, findings.tsv, replays.tsv, history.jsonl and the shrunk traces.
Report load_report(const std::string& dir);
// Writes history (this run last) back to DIR/history.jsonl; false if it cannot.
bool save_history(const std::string& dir, const Json& history);

// report_summary.cpp: the parts derived from the findings, run.tsv and stats.tsv.
Verdict make_verdict(const Report& report);
std::vector<Field> make_summary(const Report& report);
std::vector<Chart> run_charts(const Json& stats);
Json history_entry(const Report& report);  // this run's line of history.jsonl

// report_text.cpp: the words and rows report.json, report.md and report.html share.
std::string replay_command(const Finding& finding);
std::string finding_heading(const Finding& finding);  // "New", "Known, still failing", ...
std::string finding_detail(const Finding& finding);   // when it was found, how it replays now
bool nothing_open(const Report& report);     // nothing new, known or fixed since the last run
bool fixed_earlier(const Finding& finding);  // fixed before the last run: listed in JSON only
std::string fixed_earlier_text(const Report& report);  // "2 findings ... (report.json)", or ""
std::string no_findings_text(const Report& report);    // said in words when nothing is open
const std::vector<std::string>& trend_header();
std::vector<Row> trend_rows(const Json& history);  // newest first, this run marked
std::string escape_xml(const std::string& text);
std::string group_digits(double value);     // 1234567 -> "1,234,567" (rounded)
std::string duration_text(double seconds);  // 64 -> "1 min 4 s"

std::string svg_chart(const Chart& chart);  // report_chart.cpp
Chart trend_chart(const Json& history);
Json to_json(const Report& report);
std::string to_markdown(const Report& report);
std::string to_html(const Report& report);

}  // namespace campaign
