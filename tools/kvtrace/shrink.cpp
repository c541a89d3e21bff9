// `kvtrace shrink`: turns a failing trace into a minimal one that fails the same way.
#include "shrink/shrink.hpp"

#include <filesystem>
#include <iostream>

#include "tools/kvtrace/cli.hpp"

namespace kv::cli {

int cmd_shrink(int argc, char** argv) {
  const Args args =
      parse_args(argc, argv, 2, {"-o", "--backend", "--audit", "--memory-budget-mib"}, {});
  const std::string backend = args.get("--backend").value_or("all");
  const std::string audit = args.get("--audit").value_or("every");
  const auto budget = memory_budget_bytes(args);
  if (args.error || args.positional.size() != 1 || !budget || !is_backend_name(backend) ||
      (audit != "every" && audit != "check")) {
    std::cerr << "kvtrace shrink: " << args.error.value_or("bad arguments") << "\n"
              << "usage: kvtrace shrink FILE [-o OUT] [--backend NAME|all] [--audit every|check]\n"
              << "       OUT defaults to FILE with .min.trace in place of .trace\n";
    return exit_usage;
  }
  const std::string path = args.positional[0];
  auto loaded = load_trace(path, *budget);
  if (auto* error = std::get_if<std::string>(&loaded)) {
    std::cerr << *error << "\n";
    return exit_usage;
  }
  ShrinkOptions options;
  options.make_backends = backends_by_name({backend});
  options.audit = audit == "every" ? AuditMode::every : AuditMode::check;
  options.isolate = isolation_helps({backend});
  const auto result = shrink_trace(std::get<Trace>(loaded), options);
  if (!result) {
    std::cerr << "kvtrace shrink: " << path << " passes on backend " << backend
              << "; nothing to shrink\n";
    return exit_usage;
  }
  const std::string out = args.get("-o").value_or(
      std::filesystem::path(path).replace_extension("").string() + ".min.trace");
  if (auto error =
          write_trace_file(out, result->trace,
                           "shrunk from " + path + " (" + std::to_string(result->op_count_before) +
                               " ops) by kvtrace shrink; failure: " + result->signature)) {
    std::cerr << "kvtrace shrink: " << *error << "\n";
    return exit_usage;
  }
  std::cout << "shrink: " << result->op_count_before << " ops -> " << result->op_count_after
            << " ops (" << result->run_count << " replays), failure " << result->signature << "\n"
            << "wrote " << out << "\nreproduce: " << argv[0] << " replay" << backend_flag(backend)
            << " " << out << "\n";
  return exit_pass;
}

}  // namespace kv::cli
