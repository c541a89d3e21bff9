// `kvtrace campaign`: many generated traces through the model and every backend, one seed for all.
#include <chrono>
#include <filesystem>
#include <iostream>

#include "runner/isolate.hpp"
#include "shrink/shrink.hpp"
#include "tools/kvtrace/cli.hpp"
#include "trace/gen.hpp"

namespace kv::cli {
namespace {

constexpr const char* campaign_usage =
    "usage: kvtrace campaign [--seed N] [--traces N] [--seconds N] [--ops N] [--backend NAME|all]\n"
    "                        [--audit every|check] [--artifacts DIR] [--profile NAME]\n";

struct CampaignOptions {
  uint64_t seed = 0;
  uint64_t trace_count = 1000;
  uint64_t time_limit_s =
      0;  // 0: no limit; else stop starting traces after this long (nightly runs)
  uint64_t op_count = 200;
  std::string backend = "all";
  AuditMode audit = AuditMode::every;
  std::string artifacts = "failures";
  Profile profile = Profile::mixed;
};

std::optional<CampaignOptions> parse_campaign(int argc, char** argv) {
  const Args args = parse_args(argc, argv, 2,
                               {"--seed", "--traces", "--seconds", "--ops", "--backend", "--audit",
                                "--artifacts", "--profile"},
                               {});
  CampaignOptions options;
  options.seed =
      static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count()) %
      1000000007;
  const auto seed =
      parse_number_flag("--seed", args.get("--seed").value_or(std::to_string(options.seed)));
  const auto traces = parse_number_flag("--traces", args.get("--traces").value_or("1000"));
  const auto seconds = parse_number_flag("--seconds", args.get("--seconds").value_or("0"));
  const auto ops = parse_number_flag("--ops", args.get("--ops").value_or("200"));
  options.backend = args.get("--backend").value_or("all");
  const std::string audit = args.get("--audit").value_or("every");
  options.artifacts = args.get("--artifacts").value_or("failures");
  const bool backend_ok = is_backend_name(options.backend);
  const auto profile = profile_from_name(args.get("--profile").value_or("mixed"));
  if (args.error || !args.positional.empty() || !seed || !traces || !seconds || !ops || *ops == 0 ||
      !profile || *ops > trace_op_count_max || !backend_ok ||
      (audit != "every" && audit != "check")) {
    std::cerr << "kvtrace campaign: "
              << args.error.value_or(
                     backend_name_problem(options.backend).value_or("bad arguments"))
              << "\n"
              << campaign_usage;
    return std::nullopt;
  }
  options.seed = *seed;
  options.trace_count = *traces;
  options.time_limit_s = *seconds;
  options.op_count = *ops;
  options.profile = *profile;
  options.audit = audit == "every" ? AuditMode::every : AuditMode::check;
  return options;
}

int report_failure(const CampaignOptions& options, uint64_t trace_seed,
                   const Divergence& divergence, const std::string& self) {
  std::cout << "FAIL  trace seed " << trace_seed << ": " << format_divergence(divergence);
  const std::string path =
      options.artifacts + "/campaign-seed" + std::to_string(trace_seed) + ".trace";
  const Trace& prefix = divergence.prefix;
  if (auto problem = write_trace_file(path, prefix,
                                      "divergence (" + divergence.kind + ") at tick " +
                                          std::to_string(divergence.tick) + "; campaign seed " +
                                          std::to_string(options.seed))) {
    std::cout << "(" << *problem << ")\n";
  } else {
    std::cout << "reproduce: " << self << " replay" << backend_flag(options.backend) << " " << path
              << "\n";
  }
  if (const auto shrunk =
          shrink_trace(prefix, ShrinkOptions{backends_by_name({options.backend}), options.audit,
                                             isolation_helps({options.backend})})) {
    const std::string min_path =
        options.artifacts + "/campaign-seed" + std::to_string(trace_seed) + ".min.trace";
    if (auto problem = write_trace_file(
            min_path, shrunk->trace,
            "shrunk from seed " + std::to_string(trace_seed) + ": " + shrunk->signature)) {
      std::cout << "(" << *problem << ")\n";
    } else {
      std::cout << "shrunk: " << shrunk->op_count_before << " ops -> " << shrunk->op_count_after
                << " ops\nreproduce (minimal): " << self << " replay"
                << backend_flag(options.backend) << " " << min_path << "\n";
    }
  }
  std::cout << "regenerate: " << self << " gen --seed " << trace_seed << " --ops "
            << options.op_count << " --profile " << profile_name(options.profile)
            << (options.backend == "all" ? "" : " --backend '" + options.backend + "'") << "\n";
  return exit_divergence;
}

}  // namespace

int cmd_campaign(int argc, char** argv) {
  const auto options = parse_campaign(argc, argv);
  if (!options) return exit_usage;
  std::cout << "campaign seed=" << options->seed << " traces=" << options->trace_count
            << " seconds=" << options->time_limit_s << " ops=" << options->op_count
            << " backend=" << options->backend
            << " audit=" << (options->audit == AuditMode::every ? "every" : "check")
            << " profile=" << profile_name(options->profile) << "\n";
  const auto caps = capabilities_or_report("campaign", options->backend);
  if (!caps) return exit_usage;
  const auto start = std::chrono::steady_clock::now();
  uint64_t op_total = 0;
  uint64_t done = 0;
  auto elapsed_s = [&start] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  for (uint64_t i = 0; i < options->trace_count; i++) {
    if (options->time_limit_s > 0 && elapsed_s() >= static_cast<double>(options->time_limit_s)) {
      std::cout << "  time limit of " << options->time_limit_s << " s reached\n";
      break;
    }
    const uint64_t trace_seed = options->seed + i;
    const Trace trace = generate_trace_within(trace_seed, static_cast<uint32_t>(options->op_count),
                                              *caps, options->profile);
    const RunReport report = run_trace_isolated(trace, {options->backend}, options->audit);
    op_total += report.op_count;
    done = i + 1;
    if (!report.ok()) return report_failure(*options, trace_seed, *report.divergence, argv[0]);
    if (done % 1000 == 0 || done == options->trace_count) {
      std::cout << "  " << done << "/" << options->trace_count << " traces, " << op_total
                << " ops, " << static_cast<uint64_t>(elapsed_s()) << " s\n"
                << std::flush;
    }
  }
  std::cout << "ok    " << done << " generated traces agree (" << op_total << " ops, seeds "
            << options->seed << ".." << options->seed + done - (done > 0 ? 1 : 0) << ")\n";
  return exit_pass;
}

}  // namespace kv::cli
