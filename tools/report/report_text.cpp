// report_text.cpp: report.json and report.md, and the words and trend rows they share with
// report.html (report_html.cpp), so the three say the same thing.
#include <sstream>

#include "report_model.hpp"

namespace campaign {

std::string escape_xml(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else if (c == '&')
      out += "&amp;";
    else if (c == '"')
      out += "&quot;";
    else
      out += c;
  }
  return out;
}

std::string replay_command(const Finding& finding) {
  return "build/dev/bin/kvtrace replay " + finding.minimal_trace;
}

std::string finding_heading(const Finding& finding) {
  if (finding.status == "new") return "New";
  if (finding.status == "known") return "Known, still failing";
  return finding.since_last_run ? "Fixed since the last run" : "Fixed before the last run";
}

std::string finding_detail(const Finding& finding) {
  const std::string hits = std::to_string(finding.hits_this_run);
  if (finding.status == "new")
    return "Found by this run (" + hits + " input" + (finding.hits_this_run == 1 ? "" : "s") +
           " with this signature).";
  const std::string found =
      finding.first_seen.empty() ? "Found by an earlier run" : "First found " + finding.first_seen;
  if (finding.status == "fixed") return found + "; counted as fixed: " + finding.note + ".";
  std::string replay;
  if (finding.replay_status == "missing")
    replay = "its shrunk trace is missing, so it was not replayed";
  else if (finding.replay_status.empty())
    replay = "not replayed by this run";
  else
    replay = "its shrunk trace still fails (replay exit status " + finding.replay_status + ")";
  return found + "; " + replay +
         (finding.hits_this_run > 0 ? "; found again by this run (" + hits + " inputs)" : "") + ".";
}

bool nothing_open(const Report& report) {
  const Verdict& v = report.verdict;
  return v.new_count == 0 && v.known == 0 && v.fixed == 0;
}

std::string no_findings_text(const Report& report) {
  std::string execs = report.run.value("execs", "");
  try {
    execs = execs.empty() ? "" : " in this run's " + group_digits(std::stod(execs)) + " execs";
  } catch (...) {
    execs = "";
  }
  return "No findings: no divergence or crash" + (execs.empty() ? " in this run" : execs) +
         ", and no earlier finding of " + report.dir + " is open.";
}

bool fixed_earlier(const Finding& finding) {
  return finding.status == "fixed" && !finding.since_last_run;
}

std::string fixed_earlier_text(const Report& report) {
  std::size_t count = 0;
  for (const Finding& finding : report.findings) count += fixed_earlier(finding) ? 1 : 0;
  if (count == 0) return "";
  return count == 1 ? "1 finding fixed before the last run (its shrunk trace passes; listed in "
                      "report.json)."
                    : std::to_string(count) +
                          " findings fixed before the last run (their shrunk traces pass; listed "
                          "in report.json).";
}

const std::vector<std::string>& trend_header() {
  static const std::vector<std::string> header = {
      "Run started (UTC)", "Commit", "Duration", "Execs", "Coverage (edges)",
      "Corpus (files)",    "New",    "Known",    "Fixed"};
  return header;
}

std::vector<Row> trend_rows(const Json& history) {
  std::vector<Row> rows;
  for (auto entry = history.rbegin(); entry != history.rend(); ++entry) {
    const Json findings = entry->value("findings", Json::object());
    std::string started = entry->value("started", "");
    if (started.size() == 20 && started[10] == 'T')
      started = started.substr(0, 10) + " " + started.substr(11, 8);
    if (entry == history.rbegin()) started += " (this run)";
    if (entry->value("interrupted", false)) started += ", stopped early";
    rows.push_back(
        {started, entry->value("commit", ""), duration_text(entry->value("duration_s", 0.0)),
         group_digits(entry->value("execs", 0.0)), group_digits(entry->value("coverage", 0.0)),
         group_digits(entry->value("corpus_files", 0.0)), std::to_string(findings.value("new", 0)),
         std::to_string(findings.value("known", 0)), std::to_string(findings.value("fixed", 0))});
  }
  return rows;
}

namespace {

Json finding_json(const Finding& finding) {
  Json json;
  json["status"] = finding.status;
  json["heading"] = finding_heading(finding);
  json["signature"] = finding.signature;
  json["detail"] = finding_detail(finding);
  json["artifact"] = finding.artifact;
  json["minimal_trace"] = finding.minimal_trace;
  json["replay"] = finding.minimal_trace.empty() ? "" : replay_command(finding);
  json["first_seen"] = finding.first_seen;
  json["hits_this_run"] = finding.hits_this_run;
  json["replay_status"] = finding.replay_status;
  json["fixed_since_last_run"] = finding.status == "fixed" && finding.since_last_run;
  json["trace"] = finding.trace_text;
  json["trace_lines_left_out"] = finding.trace_lines_left;
  return json;
}

}  // namespace

Json to_json(const Report& report) {
  const Verdict& v = report.verdict;
  Json json;
  json["verdict"] = {{"headline", v.headline},
                     {"text", v.text},
                     {"new", v.new_count},
                     {"known", v.known},
                     {"fixed_since_last_run", v.fixed},
                     {"corpus_failed", v.corpus_failed}};
  json["summary_fields"] = Json::array();
  for (const Field& field : report.summary)
    json["summary_fields"].push_back(
        {{"key", field.key}, {"label", field.label}, {"value", field.value}});
  const Json last = report.stats.empty() ? Json::object() : report.stats.back();
  json["summary"] = {{"coverage", last.value("coverage", 0.0)},
                     {"corpus_files", last.value("corpus_files", 0.0)},
                     {"execs_per_s", last.value("execs_per_s", 0.0)},
                     {"findings", v.new_count + v.known},
                     {"new_findings", v.new_count}};
  json["run"] = report.run;
  json["findings"] = Json::array();
  for (const Finding& finding : report.findings) json["findings"].push_back(finding_json(finding));
  json["stats"] = report.stats;
  json["trend"] = report.history;
  return json;
}

namespace {

void markdown_finding(std::ostringstream& md, const Finding& finding) {
  md << "### " << finding_heading(finding) << ": `" << finding.signature << "`\n\n"
     << finding_detail(finding) << "\n\n";
  if (finding.minimal_trace.empty()) return;
  md << "Replay: `" << replay_command(finding) << "`\n\n";
  if (finding.status == "fixed") return;
  md << "```\n" << finding.trace_text << "```\n";
  if (finding.trace_lines_left > 0)
    md << "(" << finding.trace_lines_left << " more lines in " << finding.minimal_trace << ")\n";
  md << "\n";
}

void markdown_trend(std::ostringstream& md, const Report& report) {
  md << "## Trend across runs of " << report.dir << "\n\n"
     << "The last " << report.history.size() << " run(s), newest first (at most " << kHistoryRuns
     << " are kept in " << report.dir << "/history.jsonl).\n\n|";
  for (const std::string& column : trend_header()) md << " " << column << " |";
  md << "\n|";
  for (std::size_t i = 0; i < trend_header().size(); ++i) md << (i < 2 ? "---|" : "---:|");
  md << "\n";
  for (const Row& row : trend_rows(report.history)) {
    md << "|";
    for (const std::string& cell : row) md << " " << cell << " |";
    md << "\n";
  }
}

}  // namespace

std::string to_markdown(const Report& report) {
  std::ostringstream md;
  md << "# Fuzz campaign report: " << report.dir << "\n\n**Verdict: " << report.verdict.text
     << "**\n\n## Findings\n\n";
  if (nothing_open(report)) md << no_findings_text(report) << "\n\n";
  for (const Finding& finding : report.findings)
    if (!fixed_earlier(finding)) markdown_finding(md, finding);
  if (!fixed_earlier_text(report).empty()) md << fixed_earlier_text(report) << "\n\n";
  md << "## Summary\n\n";
  for (const Field& field : report.summary)
    md << "- " << field.label << ": " << field.value << "\n";
  md << "\nCharts of coverage, corpus size and execs/s over the run: report.html.\n\n";
  markdown_trend(md, report);
  return md.str();
}

}  // namespace campaign
