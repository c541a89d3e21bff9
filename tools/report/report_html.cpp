// report_html.cpp: report.html, one self-contained page (inline style and SVG, no scripts, nothing
// fetched): the verdict, the findings with their shrunk traces, the charts, the summary, the trend.
#include <sstream>

#include "report_model.hpp"

namespace campaign {
namespace {

constexpr const char* kStyle = R"(
body { font-family: "DejaVu Sans", "Segoe UI", Helvetica, Arial, sans-serif; color: #1d1d1f;
       max-width: 980px; margin: 1.5em auto 3em; padding: 0 1.2em; line-height: 1.45; }
h1 { font-size: 1.5em; margin-bottom: .3em; }
h1 .where { color: #666; font-weight: normal; font-size: .7em; }
h2 { font-size: 1.2em; margin-top: 1.8em; border-bottom: 1px solid #ddd; padding-bottom: .2em; }
h3 { font-size: 1em; margin: .2em 0 .4em; overflow-wrap: anywhere; }
.verdict { font-size: 1.3em; font-weight: bold; padding: .6em .9em; border-radius: 6px;
           border-left: 8px solid; margin: .6em 0 .3em; }
.verdict.bad { background: #fdecea; border-color: #c62828; }
.verdict.warn { background: #fff4e5; border-color: #ef6c00; }
.verdict.good { background: #e8f5e9; border-color: #2e7d32; }
.context, .note { color: #555; }
.none { font-size: 1.05em; padding: .5em .9em; background: #f4f6f8; border-radius: 6px; }
.finding { border: 1px solid #ddd; border-left: 8px solid #999; border-radius: 6px;
           padding: .5em 1em; margin: 1em 0; }
.finding.new { border-left-color: #c62828; }
.finding.known { border-left-color: #ef6c00; }
.finding.fixed { border-left-color: #2e7d32; }
.tag { display: inline-block; font-size: .8em; padding: .05em .5em; border-radius: 4px;
       background: #eee; margin-right: .5em; }
.finding.new .tag { background: #c62828; color: #fff; }
.finding.known .tag { background: #ef6c00; color: #fff; }
.finding.fixed .tag { background: #2e7d32; color: #fff; }
code, pre { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: .9em; }
.replay code { background: #f4f6f8; padding: .1em .35em; border-radius: 4px; overflow-wrap: anywhere; }
pre.trace { background: #f7f7f9; border: 1px solid #e1e1e8; padding: .6em .8em;
            overflow-x: auto; max-height: 30em; }
figure { margin: 1em 0 1.5em; }
figcaption { font-weight: bold; margin-bottom: .3em; }
svg.chart { max-width: 100%; height: auto; }
svg.chart text { fill: #333; }
dl.summary { display: grid; grid-template-columns: max-content auto; gap: .25em 1.5em; }
dl.summary dt { color: #555; }
dl.summary dd { margin: 0; font-variant-numeric: tabular-nums; }
table.trend { border-collapse: collapse; font-variant-numeric: tabular-nums; font-size: .92em; }
table.trend th, table.trend td { padding: .3em .7em; border-bottom: 1px solid #e3e3e3;
                                 text-align: right; }
table.trend th:first-child, table.trend td:first-child,
table.trend th:nth-child(2), table.trend td:nth-child(2) { text-align: left; }
table.trend td { white-space: nowrap; }
table.trend td:first-child { white-space: normal; }
table.trend tr:nth-child(2) td { font-weight: bold; }
)";

std::string verdict_class(const Verdict& verdict) {
  if (verdict.new_count > 0 || verdict.corpus_failed) return "bad";
  return verdict.known > 0 ? "warn" : "good";
}

void html_trace(std::ostringstream& page, const Finding& finding) {
  std::ostringstream trace;
  trace << "<pre class=\"trace\">" << escape_xml(finding.trace_text);
  if (finding.trace_lines_left > 0)
    trace << "(" << finding.trace_lines_left << " more lines in "
          << escape_xml(finding.minimal_trace) << ")\n";
  trace << "</pre>\n";
  if (finding.status == "new") {
    page << "<p>Shrunk trace (" << escape_xml(finding.minimal_trace) << "):</p>\n" << trace.str();
  } else {
    page << "<details><summary>Shrunk trace (" << escape_xml(finding.minimal_trace)
         << ")</summary>\n"
         << trace.str() << "</details>\n";
  }
}

void html_finding(std::ostringstream& page, const Finding& finding) {
  page << "<section class=\"finding " << finding.status << "\">\n<h3><span class=\"tag\">"
       << escape_xml(finding_heading(finding)) << "</span> <code>" << escape_xml(finding.signature)
       << "</code></h3>\n<p class=\"note\">" << escape_xml(finding_detail(finding)) << "</p>\n";
  if (!finding.minimal_trace.empty()) {
    page << "<p class=\"replay\">Replay: <code>" << escape_xml(replay_command(finding))
         << "</code></p>\n";
    if (finding.status != "fixed") html_trace(page, finding);
  }
  page << "</section>\n";
}

void html_charts(std::ostringstream& page, const Report& report) {
  page << "<h2 id=\"over-time\">This run over time</h2>\n";
  if (report.stats.empty()) {
    page << "<p class=\"none\">No charts: the fuzzer printed no stats lines (see " << report.dir
         << "/fuzz.log).</p>\n";
    return;
  }
  for (const Chart& chart : report.charts)
    page << "<figure>\n<figcaption>" << escape_xml(chart.title) << "</figcaption>\n"
         << svg_chart(chart) << "</figure>\n";
}

void html_trend(std::ostringstream& page, const Report& report) {
  page << "<h2 id=\"trend\">Trend across runs of " << escape_xml(report.dir) << "</h2>\n"
       << "<p class=\"note\">The last " << report.history.size()
       << " run(s), newest first; at most " << kHistoryRuns << " are kept in "
       << escape_xml(report.dir) << "/history.jsonl.</p>\n<table class=\"trend\">\n<tr>";
  for (const std::string& column : trend_header()) page << "<th>" << escape_xml(column) << "</th>";
  page << "</tr>\n";
  for (const Row& row : trend_rows(report.history)) {
    page << "<tr>";
    for (const std::string& cell : row) page << "<td>" << escape_xml(cell) << "</td>";
    page << "</tr>\n";
  }
  page << "</table>\n";
  if (report.history.size() >= 2) {
    const Chart chart = trend_chart(report.history);
    page << "<figure>\n<figcaption>" << escape_xml(chart.title) << "</figcaption>\n"
         << svg_chart(chart) << "</figure>\n";
  }
}

}  // namespace

std::string to_html(const Report& report) {
  std::ostringstream page;
  const std::string dir = escape_xml(report.dir);
  page << "<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>\n"
       << "<meta charset=\"utf-8\"/>\n<title>Campaign " << dir << ": "
       << escape_xml(report.verdict.headline) << "</title>\n<style>" << kStyle
       << "</style>\n</head>\n<body>\n<h1>Fuzz campaign report <span class=\"where\">" << dir
       << "</span></h1>\n<p id=\"verdict\" class=\"verdict " << verdict_class(report.verdict)
       << "\">Verdict: " << escape_xml(report.verdict.text)
       << "</p>\n<h2 id=\"findings\">Findings</h2>\n";
  if (nothing_open(report))
    page << "<p class=\"none\" id=\"no-findings\">" << escape_xml(no_findings_text(report))
         << "</p>\n";
  for (const Finding& finding : report.findings)
    if (!fixed_earlier(finding)) html_finding(page, finding);
  if (!fixed_earlier_text(report).empty())
    page << "<p class=\"note\">" << escape_xml(fixed_earlier_text(report)) << "</p>\n";
  html_charts(page, report);
  page << "<h2 id=\"summary\">Summary</h2>\n<dl class=\"summary\">\n";
  for (const Field& field : report.summary)
    page << "<dt>" << escape_xml(field.label) << "</dt><dd id=\"field-" << field.key << "\">"
         << escape_xml(field.value) << "</dd>\n";
  page << "</dl>\n";
  html_trend(page, report);
  page << "</body>\n</html>\n";
  return page.str();
}

}  // namespace campaign
