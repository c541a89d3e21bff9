// report_summary.cpp: the verdict, the summary's labelled fields, the charts' series and this run's
// line of history.jsonl, all derived from a loaded Report.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "report_model.hpp"

namespace campaign {
namespace {

std::string text(const Json& run, const char* key) {
  return run.value(key, "");
}

double number(const Json& run, const char* key) {
  try {
    const std::string value = text(run, key);
    return value.empty() ? 0.0 : std::stod(value);
  } catch (...) {
    return 0.0;
  }
}

std::string plural(int count, const std::string& noun) {
  return std::to_string(count) + " " + noun + (count == 1 ? "" : "s");
}

std::string join(const std::vector<std::string>& parts, const std::string& separator) {
  std::string out;
  for (const std::string& part : parts) out += (out.empty() ? "" : separator) + part;
  return out;
}

// The last stats line's value of KEY, or -1 when the fuzzer printed none.
double last_stat(const Report& report, const char* key) {
  return report.stats.empty() ? -1.0 : report.stats.back().value(key, 0.0);
}

std::string seconds_text(double seconds) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.1f s", seconds);
  return seconds < 60 ? buffer : duration_text(seconds);
}

}  // namespace

std::string group_digits(double value) {
  const long long whole = std::llround(std::fabs(value));
  std::string digits = std::to_string(whole), out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return (value < 0 && whole != 0 ? "-" : "") + out;
}

std::string duration_text(double seconds) {
  const long long s = std::llround(std::max(0.0, seconds));
  if (s < 60) return std::to_string(s) + " s";
  if (s < 3600) return std::to_string(s / 60) + " min " + std::to_string(s % 60) + " s";
  return std::to_string(s / 3600) + " h " + std::to_string(s % 3600 / 60) + " min";
}

Verdict make_verdict(const Report& report) {
  Verdict verdict;
  for (const Finding& finding : report.findings) {
    if (finding.status == "new") ++verdict.new_count;
    if (finding.status == "known") ++verdict.known;
    if (finding.status == "fixed" && finding.since_last_run) ++verdict.fixed;
  }
  verdict.corpus_failed = text(report.run, "corpus_failed") == "yes";
  std::vector<std::string> parts;
  if (verdict.new_count > 0) parts.push_back(plural(verdict.new_count, "new finding"));
  if (verdict.known > 0) parts.push_back(plural(verdict.known, "known finding") + " still failing");
  if (verdict.fixed > 0)
    parts.push_back(std::to_string(verdict.fixed) + " fixed since the last run");
  if (verdict.new_count > 0) {
    verdict.headline = parts.front();
    verdict.text = join(parts, ", ") + ".";
  } else if (verdict.known == 0 && verdict.fixed == 0) {
    const std::string execs = text(report.run, "execs");
    verdict.headline = "Nothing new";
    verdict.text = "Nothing new: no findings" +
                   (execs.empty() ? std::string()
                                  : " (no divergence or crash in " +
                                        group_digits(number(report.run, "execs")) + " execs)") +
                   ".";
  } else {
    verdict.headline = "Nothing new";
    if (verdict.known == 0) parts.insert(parts.begin(), "no open findings");
    verdict.text = "Nothing new: " + join(parts, ", ") + ".";
  }
  if (verdict.corpus_failed) {
    if (verdict.new_count == 0) verdict.headline = "Corpus files fail";
    verdict.text = "The corpus replay FAILED (see " + report.dir + "/failures). " + verdict.text;
  }
  return verdict;
}

std::vector<Field> make_summary(const Report& report) {
  const Json& run = report.run;
  std::vector<Field> fields;
  const auto add = [&](const char* key, const char* label, const std::string& value) {
    if (!value.empty()) fields.push_back({key, label, value});
  };
  const auto or_unknown = [](const std::string& value) {
    return value.empty() ? "unknown" : value;
  };
  add("started", "Started (UTC)", or_unknown(text(run, "started")));
  add("ended", "Ended (UTC)", or_unknown(text(run, "ended")));
  add("duration", "Duration",
      text(run, "duration_s").empty() ? "unknown" : duration_text(number(run, "duration_s")));
  add("commit", "Commit", text(run, "commit"));
  if (!text(run, "fuzz_s").empty())
    add("fuzzing", "Fuzzing",
        duration_text(number(run, "fuzz_s")) + " of the " + text(run, "minutes") + " min budget");
  const std::string stopped = text(run, "interrupted");
  add("interrupted", "Stopped early", stopped == "yes" ? "yes (Ctrl-C or SIGTERM)" : stopped);
  add("jobs", "Jobs (fuzzer workers)", text(run, "jobs"));
  add("seeds", "Seeds from corpus/", text(run, "seeds"));
  if (!text(run, "execs").empty()) add("execs", "Execs", group_digits(number(run, "execs")));
  if (!text(run, "execs_per_cpu_s").empty())
    add("execs_per_cpu_s", "Execs per CPU second", group_digits(number(run, "execs_per_cpu_s")));
  if (!text(run, "fuzz_cpu_s").empty())
    add("fuzz_cpu_s", "Fuzzer CPU time", seconds_text(number(run, "fuzz_cpu_s")));
  if (last_stat(report, "coverage") >= 0) {
    add("coverage", "Coverage at the end",
        group_digits(last_stat(report, "coverage")) + " edges (" +
            group_digits(last_stat(report, "features")) + " features)");
    add("corpus_files", "Corpus at the end",
        group_digits(last_stat(report, "corpus_files")) + " files");
    add("execs_per_s", "Execs/s at the end", group_digits(last_stat(report, "execs_per_s")));
  }
  const Verdict& v = report.verdict;
  add("findings", "Findings",
      std::to_string(v.new_count) + " new, " + std::to_string(v.known) + " known, " +
          std::to_string(v.fixed) + " fixed since the last run");
  if (!text(run, "corpus_failed").empty())
    add("corpus_replay", "Corpus replay",
        v.corpus_failed ? "FAILED (see " + report.dir + "/failures)" : "every file passes");
  return fields;
}

std::vector<Chart> run_charts(const Json& stats) {
  double t_max = 0;
  for (const Json& line : stats) t_max = std::max(t_max, line.value("elapsed_s", 0.0));
  const double scale = t_max >= 7200 ? 3600 : t_max >= 600 ? 60 : 1;
  const std::string unit = scale == 3600 ? "h" : scale == 60 ? "min" : "s";
  const std::string x_label = "time since the fuzzer started (" + unit + ")";
  std::vector<Chart> charts = {
      {"chart-coverage", "Coverage", x_label, "coverage (edges)", {}, false},
      {"chart-corpus", "Corpus size", x_label, "corpus size (files)", {}, false},
      {"chart-execs", "Execs per second", x_label, "speed (execs/s)", {}, false}};
  const char* keys[] = {"coverage", "corpus_files", "execs_per_s"};
  for (const Json& line : stats) {
    for (std::size_t i = 0; i < charts.size(); ++i)
      charts[i].points.emplace_back(line.value("elapsed_s", 0.0) / scale, line.value(keys[i], 0.0));
  }
  return charts;
}

Chart trend_chart(const Json& history) {
  Chart chart{"chart-trend",
              "Coverage at the end of each run",
              "run (1 = the oldest of the " + std::to_string(history.size()) + " kept)",
              "coverage (edges)",
              {},
              true};
  double run = 0;
  for (const Json& entry : history) chart.points.emplace_back(++run, entry.value("coverage", 0.0));
  return chart;
}

namespace {

// A whole number as an integer in history.jsonl (544, not 544.0).
Json figure(double value) {
  if (value == std::floor(value) && std::fabs(value) < 9e15) return Json(std::llround(value));
  return Json(value);
}

}  // namespace

Json history_entry(const Report& report) {
  const Json& run = report.run;
  Json entry;
  entry["started"] = text(run, "started");
  entry["ended"] = text(run, "ended");
  entry["duration_s"] = figure(number(run, "duration_s"));
  entry["commit"] = text(run, "commit");
  entry["interrupted"] = text(run, "interrupted") == "yes";
  entry["jobs"] = figure(number(run, "jobs"));
  entry["execs"] = figure(number(run, "execs"));
  entry["execs_per_cpu_s"] = figure(number(run, "execs_per_cpu_s"));
  entry["coverage"] = figure(std::max(0.0, last_stat(report, "coverage")));
  entry["corpus_files"] = figure(std::max(0.0, last_stat(report, "corpus_files")));
  entry["findings"] = {{"new", report.verdict.new_count},
                       {"known", report.verdict.known},
                       {"fixed", report.verdict.fixed}};
  entry["open"] = Json::array();
  for (const Finding& finding : report.findings)
    if (finding.status == "new" || finding.status == "known")
      entry["open"].push_back(finding.signature);
  return entry;
}

}  // namespace campaign
