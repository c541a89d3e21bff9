// `kvtrace shrink`: turns a failing trace into a minimal one that fails the same way.
#include "shrink/shrink.hpp"

#include <filesystem>
#include <iostream>
#include <memory>

#include "runner/isolate.hpp"
#include "tools/kvtrace/cli.hpp"

namespace kv::cli {
namespace {

struct ShrinkCommandOptions {
  std::string path;
  std::string out;
  std::string backend = "all";
  AuditMode audit = AuditMode::every;
  uint64_t budget_bytes = memory_budget_default_bytes;
};

int run_shrink(const ShrinkCommandOptions& options) {
  if (options.path.empty()) return usage_error("shrink", "give the failing FILE");
  auto loaded = load_trace(options.path, options.budget_bytes);
  if (auto* error = std::get_if<std::string>(&loaded)) {
    std::cerr << *error << "\n";
    return exit_usage;
  }
  const auto result = shrink_trace(std::get<Trace>(loaded),
                                   ShrinkOptions{backends_by_name({options.backend}), options.audit,
                                                 isolation_helps({options.backend})});
  if (!result) {
    std::cerr << "kvtrace shrink: " << options.path << " passes on backend " << options.backend
              << "; nothing to shrink (exit " << exit_nothing_to_shrink << ")\n";
    return exit_nothing_to_shrink;
  }
  const std::string source = options.path == "-" ? "stdin.trace" : options.path;
  const std::string out =
      !options.out.empty()
          ? options.out
          : std::filesystem::path(source).replace_extension("").string() + ".min.trace";
  if (auto error = write_trace_file(out, result->trace,
                                    "shrunk from " + options.path + " (" +
                                        std::to_string(result->op_count_before) +
                                        " ops) by kvtrace shrink; failure: " + result->signature)) {
    std::cerr << "kvtrace shrink: " << *error << "\n";
    return exit_usage;
  }
  std::cout << "shrink: " << result->op_count_before << " ops -> " << result->op_count_after
            << " ops (" << result->run_count << " replays), failure " << result->signature << "\n"
            << "wrote " << out << "\nreproduce: " << program_path() << " replay"
            << backend_flag(options.backend) << " " << out << "\n";
  return exit_pass;
}

}  // namespace

std::function<int()> declare_shrink(CLI::App& app) {
  auto options = std::make_shared<ShrinkCommandOptions>();
  app.add_option("FILE", options->path, "the failing trace ('-': standard input)");
  app.add_option("-o,--output", options->out,
                 "where to write the minimal trace (default: FILE with .min.trace for .trace)")
      ->type_name("OUT");
  add_backend_option(app, options->backend);
  add_audit_option(app, options->audit);
  add_memory_budget_option(app, options->budget_bytes);
  app.footer(
      "exit status: 0 shrunk and written, 2 bad input or cannot write, 3 FILE passes "
      "(nothing to shrink)");
  return [options] { return run_shrink(*options); };
}

}  // namespace kv::cli
