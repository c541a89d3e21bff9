// `kvtrace shrink`: turns a failing trace into a minimal one that fails the same way.
#include "shrink/shrink.hpp"

#include <filesystem>
#include <iostream>
#include <memory>

#include "runner/isolate.hpp"
#include "shrink/replays.hpp"
#include "tools/kvtrace/cli.hpp"

namespace kv::cli {
namespace {

struct ShrinkCommandOptions {
  std::string path;
  std::string out;
  std::string backend = "all";
  AuditMode audit = AuditMode::every;
  uint64_t budget_bytes = memory_budget_default_bytes;
  uint32_t replays = failure_replay_count_default;
  uint64_t seconds = 0;
};

// Replays the trace up to options.replays times: whether it fails at all, and whether every run
// fails the same way. A flaky failure is printed as a nondeterministic finding and shrunk with
// that many replays per candidate.
std::optional<std::string> tell_flaky(const Trace& trace, const ShrinkCommandOptions& options,
                                      ShrinkOptions& shrink) {
  RunReport first = shrink_replay(trace, shrink);
  uint32_t passes = 0;
  while (first.ok() && passes + 1 < options.replays) {
    passes++;
    first = shrink_replay(trace, shrink);
  }
  if (first.ok()) return std::nullopt;
  ReplayTally tally = tally_replays(trace, first, shrink, options.replays - passes);
  tally.replay_count += passes;
  if (passes > 0 && !tally.other) tally.other = RunReport{trace.lines.size(), std::nullopt, ""};
  if (tally.deterministic()) return "";
  shrink.tries = options.replays;
  return format_divergence(nondeterministic(*first.divergence, tally));
}

int run_shrink(const ShrinkCommandOptions& options) {
  if (options.path.empty()) return usage_error("shrink", "give the failing FILE");
  auto loaded = load_trace(options.path, options.budget_bytes);
  if (auto* error = std::get_if<std::string>(&loaded)) {
    std::cerr << *error << "\n";
    return exit_usage;
  }
  ShrinkOptions shrink = shrink_options_for(options.backend, options.audit);
  if (options.seconds > 0)
    shrink.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(options.seconds);
  const auto flaky = tell_flaky(std::get<Trace>(loaded), options, shrink);
  if (!flaky) {
    std::cerr << "kvtrace shrink: " << options.path << " passes on backend " << options.backend
              << " in " << options.replays << " replays; nothing to shrink (exit "
              << exit_nothing_to_shrink << ")\n";
    return exit_nothing_to_shrink;
  }
  if (!flaky->empty()) {
    std::cout << "NONDETERMINISTIC: the backend answers the same trace differently\n"
              << *flaky << "shrinking it keeping a candidate when 1 of " << shrink.tries
              << " replays fails the same way\n";
  }
  const auto result = shrink_trace(std::get<Trace>(loaded), shrink);
  if (!result) {
    std::cerr << "kvtrace shrink: " << options.path << " did not fail again on backend "
              << options.backend << "; nothing to shrink (exit " << exit_nothing_to_shrink << ")\n";
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
            << " ops (" << result->run_count << " replays), failure " << result->signature
            << (shrink.tries > 1 ? " (flaky)" : "")
            << (result->cut_short ? " (stopped by --seconds: the smallest so far)" : "") << "\n"
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
  app.add_option("--replays", options->replays,
                 "replay FILE this many times first: a backend that answers differently is "
                 "reported as nondeterministic, and then each candidate gets as many tries")
      ->check(CLI::Range(1u, 100u))
      ->capture_default_str();
  app.add_option("--seconds", options->seconds,
                 "stop shrinking after this long and write the smallest failing trace so far "
                 "(0: until done)")
      ->capture_default_str();
  app.footer(
      "exit status: 0 shrunk and written, 2 bad input or cannot write, 3 FILE passes "
      "(nothing to shrink)");
  return [options] { return run_shrink(*options); };
}

}  // namespace kv::cli
