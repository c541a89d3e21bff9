// `kvtrace replay`: runs trace files through the model and every backend, reporting divergences.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <memory>

#include "backends/backends.hpp"
#include "model/model.hpp"
#include "runner/isolate.hpp"
#include "shrink/replays.hpp"
#include "tools/kvtrace/cli.hpp"
#include "tools/kvtrace/report.hpp"
#include "tools/kvtrace/stream.hpp"

namespace kv::cli {
namespace {

struct ReplayOptions {
  std::vector<std::string> inputs;
  std::string backend = "all";
  AuditMode audit = AuditMode::check;
  uint64_t budget_bytes = memory_budget_default_bytes;
  std::string artifacts = "failures";
  std::string json_path;
  std::string junit_path;
  bool skip_outside_profile =
      false;  // replay the files that fit the backend's profile, list the rest
  uint32_t replays = failure_replay_count_default;  // runs of a failing prefix, the first included
  bool under_profile = false;  // each file under the backend's declared variants
  std::string label;           // what messages call the backend (backend_label, asked once)
};

// --under-profile: the file's config takes the backend's declared variants (those it does not
// implement both ways). An expectation stays only where the model gives the same result under
// them, so it holds under both rules; the others are left to the model, which the backend is
// compared with anyway. Returns how many it dropped, or why the config is no longer valid.
std::variant<uint64_t, std::string> adopt_profile_variants(Trace& trace, const Capabilities& caps,
                                                           uint64_t budget_bytes) {
  const Config before = trace.config;
  adopt_declared_variants(trace.config, caps);
  if (trace.config == before) return uint64_t{0};
  if (auto error = validate_config(trace.config, budget_bytes)) {
    return "config under the backend's variants (" + format_variants(trace.config) + "): " + *error;
  }
  Model model(trace.config);
  uint64_t dropped = 0;
  for (size_t tick = 0; tick < trace.lines.size(); tick++) {
    TraceLine& line = trace.lines[tick];
    const OpResult result = model.apply(line.op, tick);
    if (line.expected && *line.expected != result) {
      line.expected.reset();
      dropped++;
    }
  }
  return dropped;
}

// Files as given; folders become every *.trace below them, sorted; "-" is standard input.
std::vector<std::string> expand_inputs(const std::vector<std::string>& inputs) {
  std::vector<std::string> files;
  for (const std::string& input : inputs) {
    std::error_code error;
    if (input == "-" || !std::filesystem::is_directory(input, error)) {
      files.push_back(input);
      continue;
    }
    std::vector<std::string> found;
    for (auto it = std::filesystem::recursive_directory_iterator(input, error);
         !error && it != std::filesystem::recursive_directory_iterator(); it.increment(error)) {
      if (it->path().extension() == ".trace" && !it->is_directory(error))
        found.push_back(it->path().string());
    }
    if (error) files.push_back(input);  // load_trace reports it
    if (found.empty() && !error) std::cout << "(no .trace files under " << input << ")\n";
    std::sort(found.begin(), found.end());
    files.insert(files.end(), found.begin(), found.end());
  }
  return files;
}

// The whole file in memory: for exec: backends, whose pipelining plans over all the ops.
std::variant<RunReport, std::string> replay_loaded(const std::string& path,
                                                   const ReplayOptions& options,
                                                   const Capabilities& caps) {
  auto loaded = load_trace(path, options.budget_bytes);
  if (auto* error = std::get_if<std::string>(&loaded)) return *error;
  Trace& trace = std::get<Trace>(loaded);
  if (options.under_profile) {
    const auto adopted = adopt_profile_variants(trace, caps, options.budget_bytes);
    if (auto* error = std::get_if<std::string>(&adopted)) return path + ":0: " + *error;
    if (std::get<uint64_t>(adopted) > 0) {
      std::cout << "note  " << path << ": " << std::get<uint64_t>(adopted)
                << " expectations depend on the variants; the model checks those lines\n";
    }
  }
  if (auto outside = trace_outside(trace, caps, options.label)) return path + ":" + *outside;
  adopt_unneeded_variants(trace.config, caps);
  return run_trace_isolated(trace, {options.backend}, options.audit);
}

// Streamed (trace/reader.hpp): memory stays bounded by the state, not the file. A finding's
// prefix is read from the file again.
std::variant<RunReport, std::string> replay_stream(const std::string& path,
                                                   const ReplayOptions& options,
                                                   const Capabilities& caps) {
  std::error_code error;
  if (path != "-" && std::filesystem::is_directory(path, error))
    return path + ":0: is a directory, not a trace file";
  // Standard input and pipes (`<(kvtrace gen ...)`) cannot be read twice: copy them first.
  const bool copy = path == "-" || (std::filesystem::exists(path, error) &&
                                    !std::filesystem::is_regular_file(path, error));
  std::string file = path;
  if (copy) {
    auto spooled = spool_input(path);
    if (spooled.index() == 1) return path + ":0: " + std::get<1>(spooled);
    file = std::get<0>(spooled);
  }
  StreamOptions stream{options.backend, options.audit, options.budget_bytes, progress_interval_ms(),
                       path};
  RunReport report = replay_streamed(file, caps, stream);
  if (copy) std::filesystem::remove(file, error);
  if (!report.input_error.empty()) {
    return path + ":" + report.input_error +
           (report.op_count
                ? " (the " + std::to_string(report.op_count) + " ops before it ran and agreed)"
                : "");
  }
  return report;
}

// With --skip-outside-profile: why the file is outside the backend's profile (nothing when it
// fits, or when it cannot be read: replaying it then reports that).
std::optional<std::string> outside_profile(const std::string& path, const ReplayOptions& options,
                                           const Capabilities& caps) {
  if (!options.skip_outside_profile || path == "-") return std::nullopt;
  auto loaded = load_trace(path, options.budget_bytes);
  if (!std::holds_alternative<Trace>(loaded)) return std::nullopt;
  Trace& trace = std::get<Trace>(loaded);
  if (options.under_profile) {
    const auto adopted = adopt_profile_variants(trace, caps, options.budget_bytes);
    if (auto* error = std::get_if<std::string>(&adopted)) return "0: " + *error;
  }
  return trace_outside(trace, caps, options.label);
}

TraceRecord replay_file(const std::string& path, const ReplayOptions& options,
                        const Capabilities& caps) {
  const auto start = std::chrono::steady_clock::now();
  TraceRecord record;
  record.name = path;
  if (auto why = outside_profile(path, options, caps)) {
    record.status = "skipped";
    record.message = *why;
    std::cout << "skip  " << path << ":" << *why << "\n";
    return record;
  }
  // Files under the backend's variants are rewritten in memory, so they are loaded whole.
  auto outcome = isolation_helps({options.backend}) && !options.under_profile
                     ? replay_stream(path, options, caps)
                     : replay_loaded(path, options, caps);
  if (auto* error = std::get_if<std::string>(&outcome)) {
    record.status = "error";
    record.message = *error;
    std::cout << "ERROR " << *error << "\n";
    return record;
  }
  RunReport& report = std::get<RunReport>(outcome);
  record.op_count = report.op_count;
  record.elapsed_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  if (report.ok()) {
    record.status = "pass";
    std::cout << "ok    " << path << " (" << report.op_count << " ops)\n";
    return record;
  }
  record.status = "fail";
  // The failing prefix again, against fresh backends: a backend that answers it differently is
  // reported as nondeterministic (its finding), not as the one answer it happened to give.
  const ShrinkOptions again = shrink_options_for(options.backend, options.audit);
  const ReplayTally tally =
      tally_replays(report.divergence->prefix, report, again, options.replays);
  if (!tally.deterministic()) report.divergence = nondeterministic(*report.divergence, tally);
  const Divergence& divergence = *report.divergence;
  std::cout << "FAIL  " << path << ":" << divergence.line_number << ": "
            << format_divergence(divergence);
  const Finding finding = write_finding(
      options.artifacts,
      artifact_stem(path == "-" ? "stdin" : path) + "-tick" + std::to_string(divergence.tick),
      divergence.prefix, divergence_headline(divergence) + " replaying " + path);
  if (finding.error.empty()) {
    record.artifact = finding.path;
    std::cout << "reproduce: " << program_path() << " replay" << backend_flag(options.backend)
              << " " << finding.path << "\n";
  } else {
    std::cout << "(could not write the failing prefix: " << finding.error << ")\n"
              << format_trace(divergence.prefix);
  }
  record.divergence = std::move(report.divergence);
  record.divergence->prefix = Trace{};  // the artifact holds it; keep memory flat over many files
  return record;
}

int run_replay(const ReplayOptions& given) {
  if (given.inputs.empty()) return usage_error("replay", "give at least one FILE or folder");
  ReplayOptions options = given;
  if (backend_names().empty())
    std::cout << "(no optimized backend in this build: model and expectations only)\n";
  const auto caps = capabilities_or_report("replay", options.backend);
  if (!caps) return exit_usage;
  options.label = backend_label(options.backend);  // after the backend started once, pooled
  print_not_checked(*caps, options.label);
  std::vector<TraceRecord> records;
  int status = exit_pass;
  uint64_t skipped_count = 0;
  for (const std::string& path : expand_inputs(options.inputs)) {
    records.push_back(replay_file(path, options, *caps));
    const std::string& result = records.back().status;
    skipped_count += result == "skipped" ? 1 : 0;
    status = std::max(status, result == "pass" || result == "skipped" ? exit_pass
                              : result == "fail"                      ? exit_divergence
                                                                      : exit_usage);
  }
  if (skipped_count > 0) {
    std::cout << skipped_count << " of " << records.size()
              << " files skipped: outside the profile of backend " << options.label << "\n";
  }
  const std::string command = "kvtrace replay --backend " + options.backend;
  if (!options.json_path.empty()) {
    if (auto error = write_replay_json(options.json_path, command, records)) {
      std::cerr << "kvtrace replay: " << *error << "\n";
      status = std::max(status, exit_usage);
    }
  }
  if (!options.junit_path.empty()) {
    if (auto error = write_junit(options.junit_path, records)) {
      std::cerr << "kvtrace replay: " << *error << "\n";
      status = std::max(status, exit_usage);
    }
  }
  return status;
}

}  // namespace

std::function<int()> declare_replay(CLI::App& app) {
  auto options = std::make_shared<ReplayOptions>();
  app.add_option("FILE", options->inputs,
                 "trace files; a folder means every *.trace below it (sorted); '-' is stdin");
  add_backend_option(app, options->backend);
  add_audit_option(app, options->audit);
  add_memory_budget_option(app, options->budget_bytes);
  app.add_option("--artifacts", options->artifacts,
                 "folder for failing prefixes, named FILE-tickN-HASH.trace (default failures)")
      ->type_name("DIR");
  app.add_option("--json", options->json_path, "also write the results as JSON to FILE")
      ->type_name("FILE");
  app.add_option("--junit", options->junit_path, "also write a JUnit XML report to FILE")
      ->type_name("FILE");
  app.add_flag("--skip-outside-profile", options->skip_outside_profile,
               "replay only the files within the backend's profile (ops, config, counts, "
               "variants); list the others as skipped instead of failing with exit 2");
  app.add_flag("--under-profile", options->under_profile,
               "run each file under the backend's declared variants (its profile's config line): "
               "an expectation that depends on them is left to the model");
  app.add_option("--replays", options->replays,
                 "run a failing file's prefix this many times in all: a backend that answers it "
                 "differently is reported as nondeterministic (1: no check)")
      ->check(CLI::Range(1u, 100u))
      ->capture_default_str();
  app.footer("exit status: 0 every file passes, 1 a divergence or unmet expectation, 2 bad input");
  return [options] { return run_replay(*options); };
}

}  // namespace kv::cli
