// `kvtrace fmt` (normalise a trace) and `kvtrace gen` (write a random trace).
#include <iostream>

#include "model/model.hpp"
#include "runner/reach.hpp"
#include "tools/kvtrace/cli.hpp"
#include "trace/gen.hpp"

namespace kv::cli {

int cmd_fmt(int argc, char** argv) {
  const Args args = parse_args(argc, argv, 2, {"-o", "--memory-budget-mib"}, {});
  const auto budget = memory_budget_bytes(args);
  if (args.error || args.positional.size() != 1 || !budget) {
    std::cerr << "kvtrace fmt: " << args.error.value_or("give exactly one FILE") << "\n"
              << "usage: kvtrace fmt FILE [-o OUT]   (OUT may be FILE itself; default stdout)\n";
    return exit_usage;
  }
  auto loaded = load_trace(args.positional[0], *budget);
  if (auto* error = std::get_if<std::string>(&loaded)) {
    std::cerr << *error << "\n";
    return exit_usage;
  }
  if (auto error =
          write_text(args.get("-o").value_or("-"), format_trace(std::get<Trace>(loaded)))) {
    std::cerr << "kvtrace fmt: " << *error << "\n";
    return exit_usage;
  }
  return exit_pass;
}

namespace {

// kvtrace gen --stats: what the traces of seeds seed..seed+traces-1 reach, run through the model.
int print_reach(const Args& args, uint64_t seed, uint64_t op_count, Profile profile) {
  const auto trace_count = parse_number_flag("--traces", args.get("--traces").value_or("2000"));
  if (!trace_count) return exit_usage;
  Reach reach;
  for (uint64_t i = 0; i < *trace_count; i++) {
    reach.add(generate_trace(seed + i, static_cast<uint32_t>(op_count), profile));
  }
  std::cout << "reach of kvtrace gen --profile " << profile_name(profile) << ", seeds " << seed
            << ".." << seed + *trace_count - (*trace_count > 0 ? 1 : 0) << ", " << op_count
            << " ops each\n"
            << reach.format();
  return exit_pass;
}

}  // namespace

int cmd_gen(int argc, char** argv) {
  const Args args =
      parse_args(argc, argv, 2, {"--seed", "--ops", "-o", "--backend", "--profile", "--traces"},
                 {"--expect", "--stats"});
  const std::string backend = args.get("--backend").value_or("all");
  const auto seed = parse_number_flag("--seed", args.get("--seed").value_or("1"));
  const auto op_count = parse_number_flag("--ops", args.get("--ops").value_or("200"));
  const auto profile = profile_from_name(args.get("--profile").value_or("mixed"));
  if (args.error || !args.positional.empty() || !seed || !op_count || !profile ||
      *op_count > trace_op_count_max || !is_backend_name(backend)) {
    std::cerr << "kvtrace gen: " << args.error.value_or("bad arguments") << "\n"
              << "usage: kvtrace gen [--seed N] [--ops N (<= 1000000)] [--profile "
              << profile_names() << "] [--expect] [--backend NAME] [-o OUT]\n"
              << "       kvtrace gen --stats [--seed N] [--traces N] [--ops N] [--profile NAME]\n";
    return exit_usage;
  }
  if (args.get("--stats")) return print_reach(args, *seed, *op_count, *profile);
  const auto caps = capabilities_or_report("gen", backend);  // generate within its profile
  if (!caps) return exit_usage;
  Trace trace = generate_trace_within(*seed, static_cast<uint32_t>(*op_count), *caps, *profile);
  if (args.get("--expect")) set_model_expectations(trace);
  if (auto error = write_text(args.get("-o").value_or("-"), format_trace(trace))) {
    std::cerr << "kvtrace gen: " << *error << "\n";
    return exit_usage;
  }
  return exit_pass;
}

}  // namespace kv::cli
