// Runs RapidCheck properties as GoogleTest tests; a failure becomes a replayable kvtrace file.
#include "properties/check.hpp"

#include <gtest/gtest.h>
#include <rapidcheck.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>

// Defined in librapidcheck but not declared in its public headers; RapidCheck's own checks
// report through it.
namespace rc::detail {
TestListener& globalTestListener();
}  // namespace rc::detail

namespace kv::props {
namespace {

std::string& binary_path() {
  static std::string path = "kv_properties";
  return path;
}

// The last failing case each property recorded, with the file it went to.
struct RecordedFailure {
  std::filesystem::path path;
  Trace trace;
};

std::map<std::string, RecordedFailure>& recorded_failures() {
  static std::map<std::string, RecordedFailure> failures;
  return failures;
}

// "Suite/Name" -> "Suite.Name", for file names and --gtest_filter.
std::string dotted(const std::string& property_id) {
  std::string out = property_id;
  for (char& c : out) {
    if (c == '/') c = '.';
  }
  return out;
}

// Comment lines hold one line each; a multi-line note becomes several comments.
void add_comment_lines(std::vector<std::string>& comments, const std::string& note) {
  std::istringstream lines(note);
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    comments.push_back(" " + line);
  }
}

bool write_trace(const std::filesystem::path& path, const Trace& trace) {
  std::error_code error;
  std::filesystem::create_directories(path.parent_path(), error);
  std::ofstream out(path, std::ios::trunc);
  out << format_trace(trace);
  return static_cast<bool>(out.flush());
}

// The RC_PARAMS value that replays exactly this failure (RapidCheck's own reproduce string).
std::string reproduce_params(const std::string& property_id,
                             const rc::detail::Reproduce& reproduce) {
  rc::detail::Configuration config = rc::detail::configuration();
  config.reproduce.clear();
  config.reproduce.emplace(property_id, reproduce);
  return rc::detail::configToMinimalString(config);
}

// Adds the reproduce comments to the recorded file; returns what to tell the user.
std::string finish_failure(const std::string& property_id, const std::string& params) {
  auto found = recorded_failures().find(property_id);
  if (found == recorded_failures().end()) return "(the property recorded no failure file)\n";
  RecordedFailure& failure = found->second;
  const std::string replay = std::string(KV_KVTRACE_BINARY) + " replay " + failure.path.string();
  std::vector<std::string>& comments = failure.trace.header_comments;
  comments.push_back(" rerun the property: RC_PARAMS=\"" + params + "\" " + binary_path() +
                     " --gtest_filter=" + dotted(property_id));
  comments.push_back(" rapidcheck seed=" +
                     std::to_string(rc::detail::configuration().testParams.seed));
  comments.push_back(" replay: " + replay);
  if (!write_trace(failure.path, failure.trace)) {
    return "could not write the failure file " + failure.path.string() + "\n";
  }
  return "shrunk counterexample written to " + failure.path.string() + "\nreplay it: " + replay +
         "\n";
}

}  // namespace

void default_rc_params() {
  const char* params = std::getenv("RC_PARAMS");
  std::string value = params ? params : "";
  if (value.find("max_success") != std::string::npos) return;
  value += (value.empty() ? "" : " ") + std::string("max_success=") +
           std::to_string(default_max_success);
  setenv("RC_PARAMS", value.c_str(), 1);
}

void set_binary_path(const std::string& argv0) {
  std::error_code error;
  const std::filesystem::path absolute = std::filesystem::absolute(argv0, error);
  binary_path() = error ? argv0 : absolute.lexically_normal().string();
}

std::filesystem::path failures_dir() {
  const char* dir = std::getenv("KVTRACE_FAILURES");
  return dir && *dir ? std::filesystem::path(dir) : std::filesystem::path("failures");
}

void record_failure(const std::string& property_id, Trace trace,
                    const std::vector<std::string>& notes) {
  std::error_code error;
  std::filesystem::path path = failures_dir() / (dotted(property_id) + ".trace");
  const std::filesystem::path absolute = std::filesystem::absolute(path, error);
  if (!error) path = absolute.lexically_normal();
  trace.header_comments.clear();
  add_comment_lines(
      trace.header_comments,
      "property " + dotted(property_id) +
          " failed (RapidCheck counterexample; expectations are the model's results)");
  for (const std::string& note : notes) add_comment_lines(trace.header_comments, note);
  write_trace(path, trace);  // overwritten by every accepted shrink: the last one is the smallest
  recorded_failures()[property_id] = RecordedFailure{path, std::move(trace)};
}

void check_property(const std::string& property_id, const std::function<void()>& property,
                    int cases_per_mille) {
  recorded_failures().erase(property_id);
  rc::detail::TestMetadata metadata;
  metadata.id = property_id;
  metadata.description = property_id;
  const rc::detail::Configuration& config = rc::detail::configuration();
  rc::detail::TestParams test_params = config.testParams;
  test_params.maxSuccess =
      std::max(1, static_cast<int>(int64_t{test_params.maxSuccess} * cases_per_mille / 1000));
  const rc::detail::TestResult result = rc::detail::checkTestable(
      property, metadata, test_params, rc::detail::globalTestListener(), config.reproduce);
  std::ostringstream report;
  rc::detail::printResultMessage(result, report);
  if (result.is<rc::detail::SuccessResult>()) {
    // Only properties that classify their cases (RC_CLASSIFY, RC_TAG) have a distribution.
    if (!result.get<rc::detail::SuccessResult>().distribution.empty())
      std::cout << report.str() << "\n";
    return;
  }
  std::string extra;
  if (result.is<rc::detail::FailureResult>()) {
    const auto& failure = result.get<rc::detail::FailureResult>();
    const std::string params = reproduce_params(property_id, failure.reproduce);
    extra = finish_failure(property_id, params);
    extra += "rerun the property: RC_PARAMS=\"" + params + "\" " + binary_path() +
             " --gtest_filter=" + dotted(property_id) + "\n";
  }
  ADD_FAILURE() << report.str() << "\n" << extra;
}

}  // namespace kv::props
