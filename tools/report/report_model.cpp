// report_model.cpp: reads a campaign folder into a Report: the findings by signature (new, known,
// fixed since the last run), the verdict, the charts' series and the runs history.
#include "report_model.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

namespace campaign {
namespace {

std::vector<Row> read_tsv(const std::string& path) {
  std::vector<Row> rows;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    Row row;
    std::istringstream fields(line);
    for (std::string field; std::getline(fields, field, '\t');) row.push_back(field);
    rows.push_back(row);
  }
  return rows;
}

std::string field(const Row& row, std::size_t i) {
  return i < row.size() ? row[i] : "";
}

double number(const std::string& text) {
  try {
    return text.empty() ? 0.0 : std::stod(text);
  } catch (...) {
    return 0.0;
  }
}

// findings.tsv names a trace as the campaign saw it (relative to where it ran); failing that, the
// file of that name in DIR/findings.
std::string locate(const std::string& dir, const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code error;
  if (path.empty() || fs::exists(path, error)) return path;
  const fs::path inside = fs::path(dir) / "findings" / fs::path(path).filename();
  return fs::exists(inside, error) ? inside.string() : path;
}

void read_trace(const std::string& dir, Finding& finding) {
  std::ifstream in(locate(dir, finding.minimal_trace));
  if (!in) {
    finding.trace_text = "(the trace file " + finding.minimal_trace + " is missing)\n";
    return;
  }
  std::size_t lines = 0;
  for (std::string line; std::getline(in, line);) {
    if (++lines <= kTraceLines)
      finding.trace_text += line + "\n";
    else
      ++finding.trace_lines_left;
  }
}

// A signature found earlier is still open when this run found it again or its shrunk trace still
// fails (or could not be replayed); it is fixed when the trace passes now.
void classify_earlier(Finding& finding, const std::map<std::string, std::string>& replays) {
  const auto replay = replays.find(finding.minimal_trace);
  finding.replay_status = replay == replays.end() ? "" : replay->second;
  if (finding.hits_this_run == 0 && finding.replay_status == "0") {
    finding.status = "fixed";
    finding.note = "its shrunk trace passes now and this run did not find it again";
  } else {
    finding.status = "known";
  }
}

std::vector<Finding> ledger(const std::string& dir, const std::string& started) {
  std::map<std::string, std::string> replays;
  for (const Row& row : read_tsv(dir + "/replays.tsv")) replays[field(row, 0)] = field(row, 1);
  std::vector<Finding> findings;
  std::map<std::string, int> hits;
  for (const Row& row : read_tsv(dir + "/findings.tsv")) {
    const std::string status = field(row, 0), signature = field(row, 1);
    const bool this_run = !started.empty() && field(row, 4) == started;
    if (this_run) ++hits[signature];
    if (status == "duplicate") continue;
    const bool seen = std::any_of(findings.begin(), findings.end(),
                                  [&](const Finding& f) { return f.signature == signature; });
    if (seen) continue;
    findings.push_back(Finding{.status = status,
                               .signature = signature,
                               .artifact = field(row, 2),
                               .minimal_trace = field(row, 3),
                               .first_seen = field(row, 4)});
  }
  for (Finding& finding : findings) {
    finding.hits_this_run = hits[finding.signature];
    if (finding.status != "new") classify_earlier(finding, replays);
    read_trace(dir, finding);
  }
  return findings;
}

// A history line the report can read: each field it uses, where present, of the right type.
bool well_formed(const Json& run) {
  if (!run.is_object()) return false;
  for (const char* key : {"started", "ended", "commit"})
    if (run.contains(key) && !run[key].is_string()) return false;
  for (const char* key :
       {"duration_s", "jobs", "execs", "execs_per_cpu_s", "coverage", "corpus_files"})
    if (run.contains(key) && !run[key].is_number()) return false;
  if (run.contains("interrupted") && !run["interrupted"].is_boolean()) return false;
  if (run.contains("open") && !run["open"].is_array()) return false;
  if (!run.contains("findings")) return true;
  if (!run["findings"].is_object()) return false;
  for (const auto& [key, count] : run["findings"].items())
    if (!count.is_number_integer()) return false;
  return true;
}

std::vector<Json> read_history(const std::string& dir, const std::string& started) {
  std::vector<Json> runs;
  std::ifstream in(dir + "/history.jsonl");
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    Json run = Json::parse(line, nullptr, false);
    if (run.is_discarded() || !well_formed(run)) {
      std::cerr << "campaign_report: skipped a line of " << dir
                << "/history.jsonl that is not a run's JSON object\n";
      continue;
    }
    // A report written again for the same run replaces that run's line.
    if (run.value("started", "") != started || started.empty()) runs.push_back(run);
  }
  return runs;
}

// Fixed since the last run: open in the previous run's line and not open now.
void mark_fixed(std::vector<Finding>& findings, const std::vector<Json>& earlier) {
  if (earlier.empty()) return;
  std::set<std::string> open_before;
  for (const auto& signature : earlier.back().value("open", Json::array()))
    if (signature.is_string()) open_before.insert(signature.get<std::string>());
  for (Finding& finding : findings)
    if (finding.status == "fixed") finding.since_last_run = open_before.count(finding.signature);
  for (const std::string& signature : open_before) {
    const bool listed = std::any_of(findings.begin(), findings.end(),
                                    [&](const Finding& f) { return f.signature == signature; });
    if (!listed)
      findings.push_back(Finding{.status = "fixed",
                                 .signature = signature,
                                 .since_last_run = true,
                                 .note = "it is no longer in findings.tsv"});
  }
}

int rank(const Finding& finding) {
  if (finding.status == "new") return 0;
  if (finding.status == "known") return 1;
  return finding.since_last_run ? 2 : 3;
}

}  // namespace

Report load_report(const std::string& dir) {
  Report report;
  report.dir = dir;
  report.run = Json::object();
  for (const Row& row : read_tsv(dir + "/run.tsv"))
    if (row.size() >= 2) report.run[row[0]] = row[1];
  const std::string started = report.run.value("started", "");
  report.findings = ledger(dir, started);
  const std::vector<Json> earlier = read_history(dir, started);
  mark_fixed(report.findings, earlier);
  std::stable_sort(report.findings.begin(), report.findings.end(),
                   [](const Finding& a, const Finding& b) { return rank(a) < rank(b); });
  report.stats = Json::array();
  for (const Row& row : read_tsv(dir + "/stats.tsv")) {
    report.stats.push_back({{"elapsed_s", number(field(row, 0))},
                            {"coverage", number(field(row, 1))},
                            {"features", number(field(row, 2))},
                            {"corpus_files", number(field(row, 3))},
                            {"execs_per_s", number(field(row, 4))}});
  }
  report.history = Json::array();
  for (const Json& run : earlier) report.history.push_back(run);
  report.verdict = make_verdict(report);
  report.summary = make_summary(report);
  report.charts = run_charts(report.stats);
  report.history.push_back(history_entry(report));
  return report;
}

bool save_history(const std::string& dir, const Json& history) {
  const std::string path = dir + "/history.jsonl", temporary = path + ".tmp";
  {
    std::ofstream out(temporary);
    const std::size_t skip = history.size() > kHistoryRuns ? history.size() - kHistoryRuns : 0;
    for (std::size_t i = skip; i < history.size(); ++i) out << history[i].dump() << "\n";
    if (!out) return false;
  }
  return std::rename(temporary.c_str(), path.c_str()) == 0;
}

}  // namespace campaign
