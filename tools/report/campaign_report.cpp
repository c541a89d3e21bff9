// campaign_report: turns a campaign folder (run.tsv, stats.tsv, findings.tsv) into report.md,
// report.json (nlohmann-json) and report.html with an inline SVG chart.
#include <algorithm>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace {

using Row = std::vector<std::string>;

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

double number(const Row& row, size_t i) {
  try {
    return i < row.size() ? std::stod(row[i]) : 0.0;
  } catch (...) {
    return 0.0;
  }
}

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

// stats.tsv columns: elapsed_s coverage features corpus_files execs_per_s
struct Series {
  const char* name;
  size_t column;
  const char* colour;
};
constexpr Series series[] = {{"coverage (edges)", 1, "#1f77b4"},
                             {"corpus (files)", 3, "#2ca02c"},
                             {"execs/s", 4, "#d62728"}};

// One polyline per series, each scaled to its own maximum (printed in the legend).
std::string svg_chart(const std::vector<Row>& stats) {
  const int width = 640, height = 240, left = 40, top = 10;
  double t_max = 1;
  for (const Row& row : stats) t_max = std::max(t_max, number(row, 0));
  std::ostringstream svg;
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"chart\" width=\"" << width + 200
      << "\" height=\"" << height + 40 << "\">\n"
      << "<rect x=\"" << left << "\" y=\"" << top << "\" width=\"" << width << "\" height=\""
      << height << "\" fill=\"none\" stroke=\"#888\"/>\n"
      << "<text x=\"" << left << "\" y=\"" << height + 30 << "\">0 s</text>\n"
      << "<text x=\"" << left + width - 40 << "\" y=\"" << height + 30 << "\">" << t_max
      << " s</text>\n";
  int legend_y = top + 15;
  for (const Series& s : series) {
    double v_max = 0;
    for (const Row& row : stats) v_max = std::max(v_max, number(row, s.column));
    svg << "<polyline class=\"series\" fill=\"none\" stroke=\"" << s.colour << "\" points=\"";
    for (const Row& row : stats) {
      const double x = left + width * number(row, 0) / t_max;
      const double y = top + height - (v_max > 0 ? height * number(row, s.column) / v_max : 0);
      svg << x << "," << y << " ";
    }
    svg << "\"/>\n<text x=\"" << left + width + 10 << "\" y=\"" << legend_y << "\" fill=\""
        << s.colour << "\">" << s.name << " (max " << v_max << ")</text>\n";
    legend_y += 20;
  }
  svg << "</svg>\n";
  return svg.str();
}

nlohmann::json build_json(const std::map<std::string, std::string>& run,
                          const std::vector<Row>& stats, const std::vector<Row>& findings) {
  nlohmann::json report;
  for (const auto& [key, value] : run) report["run"][key] = value;
  report["stats"] = nlohmann::json::array();
  for (const Row& row : stats) {
    report["stats"].push_back({{"elapsed_s", number(row, 0)},
                               {"coverage", number(row, 1)},
                               {"features", number(row, 2)},
                               {"corpus_files", number(row, 3)},
                               {"execs_per_s", number(row, 4)}});
  }
  report["findings"] = nlohmann::json::array();
  for (const Row& row : findings) {
    report["findings"].push_back({{"status", row.size() > 0 ? row[0] : ""},
                                  {"signature", row.size() > 1 ? row[1] : ""},
                                  {"artifact", row.size() > 2 ? row[2] : ""},
                                  {"minimal_trace", row.size() > 3 ? row[3] : ""}});
  }
  const Row last = stats.empty() ? Row{} : stats.back();
  report["summary"] = {{"coverage", number(last, 1)},
                       {"corpus_files", number(last, 3)},
                       {"execs_per_s", number(last, 4)},
                       {"findings", findings.size()},
                       {"new_findings", std::count_if(findings.begin(), findings.end(),
                                                      [](const Row& r) { return r[0] == "new"; })}};
  return report;
}

std::string markdown(const nlohmann::json& report) {
  std::ostringstream md;
  md << "# Fuzz campaign report\n\n";
  for (const auto& [key, value] : report["run"].items())
    md << "- " << key << ": " << value.get<std::string>() << "\n";
  const auto& summary = report["summary"];
  md << "- coverage (edges): " << summary["coverage"]
     << ", corpus files: " << summary["corpus_files"]
     << ", last execs/s: " << summary["execs_per_s"] << "\n\n## Findings\n\n";
  if (report["findings"].empty()) md << "None.\n";
  for (const auto& finding : report["findings"]) {
    md << "- **" << finding["status"].get<std::string>() << "** `"
       << finding["signature"].get<std::string>() << "`: `"
       << finding["minimal_trace"].get<std::string>() << "` (replay: `build/dev/bin/kvtrace replay "
       << finding["minimal_trace"].get<std::string>() << "`; artifact "
       << finding["artifact"].get<std::string>() << ")\n";
  }
  return md.str();
}

std::string html(const nlohmann::json& report, const std::vector<Row>& stats) {
  std::ostringstream page;
  page << "<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>"
          "<meta charset=\"utf-8\"/><title>Fuzz campaign report</title></head>\n<body>\n"
          "<h1>Fuzz campaign report</h1>\n<ul>\n";
  for (const auto& [key, value] : report["run"].items()) {
    page << "<li>" << escape_xml(key) << ": " << escape_xml(value.get<std::string>()) << "</li>\n";
  }
  page << "</ul>\n<h2>Coverage, corpus size and execs/s over time</h2>\n"
       << svg_chart(stats)
       << "<h2>Findings</h2>\n<table>\n<tr><th>status</th><th>signature</th><th>minimal "
          "trace</th></tr>\n";
  for (const auto& finding : report["findings"]) {
    page << "<tr><td>" << escape_xml(finding["status"].get<std::string>()) << "</td><td>"
         << escape_xml(finding["signature"].get<std::string>()) << "</td><td>"
         << escape_xml(finding["minimal_trace"].get<std::string>()) << "</td></tr>\n";
  }
  page << "</table>\n</body>\n</html>\n";
  return page.str();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: campaign_report DIR   (reads DIR/run.tsv, stats.tsv, findings.tsv)\n";
    return 2;
  }
  const std::string dir = argv[1];
  std::map<std::string, std::string> run;
  for (const Row& row : read_tsv(dir + "/run.tsv")) {
    if (row.size() >= 2) run[row[0]] = row[1];
  }
  const auto stats = read_tsv(dir + "/stats.tsv");
  const auto findings = read_tsv(dir + "/findings.tsv");
  const nlohmann::json report = build_json(run, stats, findings);
  std::ofstream(dir + "/report.json") << report.dump(2) << "\n";
  std::ofstream(dir + "/report.md") << markdown(report);
  std::ofstream html_file(dir + "/report.html");
  html_file << html(report, stats);
  if (!html_file) {
    std::cerr << "campaign_report: cannot write " << dir << "/report.html\n";
    return 2;
  }
  return 0;
}
