// `kvtrace replay`: runs trace files through the model and every backend, reporting divergences.
#include <algorithm>
#include <filesystem>
#include <iostream>

#include "runner/isolate.hpp"
#include "tools/kvtrace/cli.hpp"

namespace kv::cli {
namespace {

constexpr const char* replay_usage =
    "usage: kvtrace replay [--backend NAME|all] [--audit every|check] [--memory-budget-mib N]\n"
    "                      [--artifacts DIR] FILE...\n";

// Writes the failing prefix next to the other artifacts and returns its path.
std::optional<std::string> write_artifact(const std::string& dir, const std::string& source,
                                          const Divergence& divergence) {
  const std::string stem = std::filesystem::path(source).stem().string();
  const std::string path = dir + "/" + stem + "-tick" + std::to_string(divergence.tick) + ".trace";
  if (write_trace_file(path, divergence.prefix,
                       "divergence (" + divergence.kind + ") at tick " +
                           std::to_string(divergence.tick) + " replaying " + source)) {
    return std::nullopt;
  }
  return path;
}

int replay_file(const std::string& path, const std::vector<std::string>& backends, AuditMode audit,
                uint64_t budget, const std::string& artifacts, const std::string& self,
                const Capabilities& caps) {
  auto loaded = load_trace(path, budget);
  if (auto* error = std::get_if<std::string>(&loaded)) {
    std::cout << "ERROR " << *error << "\n";
    return exit_usage;
  }
  const Trace& trace = std::get<Trace>(loaded);
  if (auto outside = trace_outside(trace, caps, backends[0])) {
    std::cout << "ERROR " << path << ":" << *outside << "\n";
    return exit_usage;
  }
  const RunReport report = run_trace_isolated(trace, backends, audit);
  if (report.ok()) {
    std::cout << "ok    " << path << " (" << report.op_count << " ops)\n";
    return exit_pass;
  }
  const Divergence& divergence = *report.divergence;
  std::cout << "FAIL  " << path << ":" << divergence.line_number << ": "
            << format_divergence(divergence);
  if (auto artifact = write_artifact(artifacts, path, divergence)) {
    std::cout << "reproduce: " << self << " replay" << backend_flag(backends[0]) << " " << *artifact
              << "\n";
  } else {
    std::cout << "(could not write the failing prefix under " << artifacts << ")\n";
  }
  return exit_divergence;
}

}  // namespace

int cmd_replay(int argc, char** argv) {
  const Args args =
      parse_args(argc, argv, 2, {"--backend", "--audit", "--memory-budget-mib", "--artifacts"}, {});
  const std::string backend = args.get("--backend").value_or("all");
  const std::string audit = args.get("--audit").value_or("check");
  std::string problem = args.error.value_or("");
  if (const auto why = backend_name_problem(backend)) problem = *why;
  if (audit != "every" && audit != "check") problem = "--audit must be every or check";
  if (args.positional.empty()) problem = "no trace files given";
  const auto budget = memory_budget_bytes(args);
  if (!problem.empty() || !budget) {
    std::cerr << "kvtrace replay: " << problem << "\n" << replay_usage;
    return exit_usage;
  }
  if (backend_names().empty())
    std::cout << "(no optimized backend in this build: model and expectations only)\n";
  const auto caps = capabilities_or_report("replay", backend);
  if (!caps) return exit_usage;
  int status = exit_pass;
  for (const std::string& path : args.positional) {
    const int file_status =
        replay_file(path, {backend}, audit == "every" ? AuditMode::every : AuditMode::check,
                    *budget, args.get("--artifacts").value_or("failures"), argv[0], *caps);
    status = std::max(status, file_status);
  }
  return status;
}

}  // namespace kv::cli
