// Building and writing the JSON report.
#include "json_report.hpp"

#include <filesystem>
#include <fstream>

namespace mutants {
namespace {

using Json = nlohmann::ordered_json;

// Text as the report holds it: null when empty, tabs and newlines as spaces.
Json text(std::string value) {
  if (value.empty()) return nullptr;
  for (char& c : value)
    if (c == '\t' || c == '\n') c = ' ';
  return value;
}

template <typename T>
Json optional(const std::optional<T>& value) {
  return value ? Json(*value) : Json(nullptr);
}

Json mutant_json(const MutantRecord& m) {
  Json out = Json::object();
  out["mutant"] = text(m.name);
  out["status"] = text(std::string(name_of(m.status)));
  out["killed_by"] = text(m.killed_by);
  out["time_to_kill_ms"] = optional(m.time_to_kill_ms);
  out["property_kills"] = optional(m.property_kills);
  out["shrunk_ops"] = optional(m.shrunk_ops);
  out["shrunk_from"] = text(m.shrunk_from);
  out["header_minimal_ops"] = m.header_minimal_ops.empty() || m.header_minimal_ops.size() > 18
                                  ? Json(nullptr)
                                  : Json(static_cast<int64_t>(std::stoll(m.header_minimal_ops)));
  out["build_s"] = optional(m.build_s);
  out["note"] = text(m.note);
  Json killers = Json::object();
  for (const Killer k : all_killers) {
    const KillerRun& run = m.killer(k);
    killers[std::string(name_of(k))] = {{"result", text(run.result)},
                                        {"exit", optional(run.exit)},
                                        {"ms", optional(run.ms)},
                                        {"execs", optional(run.execs)}};
  }
  out["killers"] = killers;
  return out;
}

}  // namespace

std::string_view name_of(Status status) {
  switch (status) {
    case Status::killed:
      return "killed";
    case Status::survived:
      return "survived";
    case Status::patch_failed:
      return "patch_failed";
    case Status::build_failed:
      return "build_failed";
    case Status::skipped:
      return "skipped";
  }
  return "";
}

Json report_json(const RunRecord& run) {
  Json report = Json::object();
  report["rc_params"] = text(run.rc_params);
  report["campaign_args"] = text(run.campaign_args);
  Json killers = Json::array();
  for (const Killer k : run.killers) killers.push_back(std::string(name_of(k)));
  report["killers"] = killers;
  report["budget_s"] = optional(run.budget_s);
  report["elapsed_s"] = run.elapsed_s;
  report["median_time_to_kill_ms"] = optional(run.median_time_to_kill_ms);
  report["property_median_time_to_kill_ms"] = optional(run.property_median_time_to_kill_ms);
  report["skipped"] = run.skipped;
  if (run.fuzzer_on) {
    report["fuzzer_args"] = text(run.fuzzer_args);
    report["fuzzer_median_time_to_find_ms"] = optional(run.fuzzer_median_time_to_find_ms);
  }
  Json mutants = Json::array();
  for (const MutantRecord& m : run.mutants) mutants.push_back(mutant_json(m));
  report["mutants"] = mutants;
  return report;
}

bool write_report(const RunRecord& run, const std::string& path) {
  std::error_code ec;
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  std::ofstream out(path);
  out << report_json(run).dump(2) << "\n";
  out.close();
  return static_cast<bool>(out);
}

}  // namespace mutants
