// `kvtrace fmt` (normalise a trace) and `kvtrace gen` (write a random trace).
#include <iostream>
#include <memory>

#include "model/model.hpp"
#include "runner/reach.hpp"
#include "tools/kvtrace/cli.hpp"
#include "trace/capabilities.hpp"
#include "trace/gen.hpp"

namespace kv::cli {

std::function<int()> declare_fmt(CLI::App& app) {
  struct Options {
    std::string path;
    std::string out = "-";
    uint64_t budget_bytes = memory_budget_default_bytes;
  };
  auto options = std::make_shared<Options>();
  app.add_option("FILE", options->path, "the trace to format ('-': standard input)");
  app.add_option("-o,--output", options->out, "where to write it; may be FILE itself (default -)")
      ->type_name("OUT");
  add_memory_budget_option(app, options->budget_bytes);
  return [options] {
    if (options->path.empty()) return usage_error("fmt", "give the FILE to format");
    auto loaded = load_trace(options->path, options->budget_bytes);
    if (auto* error = std::get_if<std::string>(&loaded)) {
      std::cerr << *error << "\n";
      return exit_usage;
    }
    if (auto error = write_text(options->out, format_trace(std::get<Trace>(loaded)))) {
      std::cerr << "kvtrace fmt: " << *error << "\n";
      return exit_usage;
    }
    return exit_pass;
  };
}

namespace {

// kvtrace gen --stats: what the traces of seeds seed..seed+traces-1 reach, run through the model.
int print_reach(uint64_t seed, uint64_t trace_count, uint64_t op_count, Profile profile) {
  Reach reach;
  for (uint64_t i = 0; i < trace_count; i++) {
    reach.add(generate_trace(seed + i, static_cast<uint32_t>(op_count), profile));
  }
  std::cout << "reach of kvtrace gen --profile " << profile_name(profile) << ", seeds " << seed
            << ".." << seed + trace_count - (trace_count > 0 ? 1 : 0) << ", " << op_count
            << " ops each\n"
            << reach.format();
  return exit_pass;
}

}  // namespace

std::function<int()> declare_gen(CLI::App& app) {
  struct Options {
    uint64_t seed = 1;
    uint64_t op_count = 200;
    Profile profile = Profile::mixed;
    bool expect = false;
    bool stats = false;
    uint64_t trace_count = 2000;
    std::string backend = "all";
    std::string out = "-";
  };
  auto options = std::make_shared<Options>();
  add_number_option(app, "--seed", options->seed, 0, UINT64_MAX, "generator seed");
  add_number_option(app, "--ops", options->op_count, 0, trace_op_count_max, "ops in the trace");
  add_profile_option(app, options->profile);
  app.add_flag("--expect", options->expect, "add the model's result to every op as `=> RESULT`")
      ->multi_option_policy(CLI::MultiOptionPolicy::Throw);
  app.add_flag("--stats", options->stats,
               "write no trace; print what the traces of seeds seed..seed+traces-1 reach")
      ->multi_option_policy(CLI::MultiOptionPolicy::Throw);
  add_number_option(app, "--traces", options->trace_count, 0, UINT64_MAX,
                    "traces for --stats (default 2000)");
  app.add_option("-o,--output", options->out, "where to write the trace (default -: stdout)")
      ->type_name("OUT");
  add_backend_option(app, options->backend)
      ->description("generate only what this backend implements (its profile; default all)");
  return [options] {
    if (options->stats) {
      return print_reach(options->seed, options->trace_count, options->op_count, options->profile);
    }
    const auto caps = capabilities_or_report("gen", options->backend);
    if (!caps) return exit_usage;
    Trace trace = generate_trace_within(options->seed, static_cast<uint32_t>(options->op_count),
                                        *caps, options->profile, backend_flag(options->backend));
    if (options->expect) set_model_expectations(trace);
    if (auto error = write_text(options->out, format_trace(trace))) {
      std::cerr << "kvtrace gen: " << *error << "\n";
      return exit_usage;
    }
    return exit_pass;
  };
}

}  // namespace kv::cli
