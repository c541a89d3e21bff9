// campaign_report: turns a campaign folder (run.tsv, stats.tsv, findings.tsv, replays.tsv,
// history.jsonl) into report.json, report.md and report.html, and appends the run to history.jsonl.
#include <fstream>
#include <iostream>
#include <string>

#include "report_model.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: campaign_report DIR   (reads DIR/run.tsv, stats.tsv, findings.tsv,\n"
                 "       replays.tsv, history.jsonl; writes DIR/report.{json,md,html} and adds\n"
                 "       this run to DIR/history.jsonl, replacing its line if it has one)\n";
    return 2;
  }
  const std::string dir = argv[1];
  const campaign::Report report = campaign::load_report(dir);
  std::ofstream(dir + "/report.json") << campaign::to_json(report).dump(2) << "\n";
  std::ofstream(dir + "/report.md") << campaign::to_markdown(report);
  std::ofstream html_file(dir + "/report.html");
  html_file << campaign::to_html(report);
  if (!html_file) {
    std::cerr << "campaign_report: cannot write " << dir << "/report.html\n";
    return 2;
  }
  if (!campaign::save_history(dir, report.history)) {
    std::cerr << "campaign_report: cannot write " << dir << "/history.jsonl\n";
    return 2;
  }
  return 0;
}
