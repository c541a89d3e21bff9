// Machine-readable results of replay and campaign: JSON records and a JUnit XML report.
#include "tools/kvtrace/report.hpp"

#include <nlohmann/json.hpp>

#include "tools/kvtrace/cli.hpp"

namespace kv::cli {
namespace {

nlohmann::json divergence_json(const Divergence& d) {
  return {{"kind", kind_name(d.kind)}, {"tick", d.tick},
          {"line", d.line_number},     {"op", d.op_text},
          {"expected", d.expected},    {"model", d.model},
          {"backend", d.backend_name}, {"backend_result", d.backend},
          {"detail", d.detail},        {"signature", d.signature()}};
}

nlohmann::json to_json(const TraceRecord& record) {
  nlohmann::json out = {{"name", record.name},
                        {"status", record.status},
                        {"ops", record.op_count},
                        {"elapsed_ms", record.elapsed_ms}};
  if (record.name.rfind("seed ", 0) == 0) out["seed"] = record.seed;
  if (record.config) {
    out["config"] = format_config(*record.config);
    out["prefix_caching"] = record.config->prefix_caching;
  }
  if (!record.message.empty()) out["message"] = record.message;
  if (record.divergence) out["divergence"] = divergence_json(*record.divergence);
  if (!record.artifact.empty()) out["artifact"] = record.artifact;
  if (!record.minimal_artifact.empty()) out["minimal_artifact"] = record.minimal_artifact;
  return out;
}

std::string xml_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

uint64_t count_status(const std::vector<TraceRecord>& records, const std::string& status) {
  uint64_t count = 0;
  for (const TraceRecord& record : records) count += record.status == status;
  return count;
}

}  // namespace

std::string record_json(const TraceRecord& record) {
  return to_json(record).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::optional<std::string> write_replay_json(const std::string& path, const std::string& command,
                                             const std::vector<TraceRecord>& records) {
  nlohmann::json files = nlohmann::json::array();
  uint64_t op_count = 0;
  for (const TraceRecord& record : records) {
    files.push_back(to_json(record));
    op_count += record.op_count;
  }
  const nlohmann::json out = {{"command", command},
                              {"files", files},
                              {"summary",
                               {{"files", records.size()},
                                {"pass", count_status(records, "pass")},
                                {"fail", count_status(records, "fail")},
                                {"error", count_status(records, "error")},
                                {"ops", op_count}}}};
  return write_text(path, out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
}

std::optional<std::string> write_junit(const std::string& path,
                                       const std::vector<TraceRecord>& records) {
  double total_ms = 0;
  for (const TraceRecord& record : records) total_ms += record.elapsed_ms;
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out += "<testsuites>\n<testsuite name=\"kvtrace replay\" tests=\"" +
         std::to_string(records.size()) + "\" failures=\"" +
         std::to_string(count_status(records, "fail")) + "\" errors=\"" +
         std::to_string(count_status(records, "error")) + "\" time=\"" +
         std::to_string(total_ms / 1000) + "\">\n";
  for (const TraceRecord& record : records) {
    out += "  <testcase classname=\"kvtrace.replay\" name=\"" + xml_escape(record.name) +
           "\" time=\"" + std::to_string(record.elapsed_ms / 1000) + "\"";
    if (record.status == "pass") {
      out += "/>\n";
      continue;
    }
    const bool failed = record.status == "fail";
    const std::string text =
        failed ? format_divergence(*record.divergence) +
                     (record.artifact.empty() ? "" : "artifact: " + record.artifact)
               : record.message;
    const std::string message =
        failed ? divergence_headline(*record.divergence) + ": " + record.divergence->op_text
               : record.message;
    out += ">\n    <" + std::string(failed ? "failure" : "error") + " message=\"" +
           xml_escape(message) + "\">" + xml_escape(text) + "</" +
           std::string(failed ? "failure" : "error") + ">\n  </testcase>\n";
  }
  out += "</testsuite>\n</testsuites>\n";
  return write_text(path, out);
}

}  // namespace kv::cli
