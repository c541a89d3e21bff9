// The run's phases: the baseline build and killers, the mutants in turn, the report.
#include "run.hpp"

#include <chrono>
#include <cstdlib>
#include <iostream>

#include "files.hpp"
#include "json_report.hpp"
#include "one_mutant.hpp"
#include "patch.hpp"
#include "process.hpp"
#include "summary.hpp"
#include "ticker.hpp"

namespace mutants {
namespace {

// Builds the unpatched tree; false (with the log's tail printed) when it does not build.
bool build_baseline(const Session& s) {
  const std::string what = s.build_what();
  std::cout << "tools/mutants: building " << what << " (-j" << s.options.jobs << ")..."
            << std::endl;
  const auto t0 = std::chrono::steady_clock::now();
  bool built = false;
  {
    Ticker ticker("tools/mutants: building " + what);
    built = s.build(s.scratch.logs() / "build-baseline.log");
  }
  if (!built) {
    print_tail(s.scratch.logs() / "build-baseline.log", 40);
    std::cerr << "tools/mutants: the unpatched tree does not build\n";
    return false;
  }
  const auto s_taken =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - t0);
  std::cout << "tools/mutants: built in " << s_taken.count() << " s" << std::endl;
  return true;
}

// The unpatched code must pass every killer; false when one fails.
bool run_baseline(const Session& s) {
  for (const Killer k : s.active) {
    const std::string name(name_of(k));
    const fs::path log = s.scratch.logs() / ("baseline-" + name + ".log");
    KillerOutcome out;
    {
      Ticker ticker("tools/mutants: baseline (unpatched): " + name);
      out = run_killer(s.killers, k, s.scratch.work() / "baseline", log, true);
    }
    std::cout << "tools/mutants: baseline (unpatched): " << name << " "
              << (out.rc == 0 ? "passes" : "FAILS") << " in " << out.ms << " ms" << std::endl;
    if (out.rc != 0) {
      print_tail(log, 40);
      std::cerr << "tools/mutants: killer '" << name << "' fails on the unpatched code (exit "
                << out.rc << "); fix that first\n";
      return false;
    }
  }
  return true;
}

RunRecord new_record(const Session& s) {
  RunRecord run;
  const char* rc_params = std::getenv("RC_PARAMS");
  run.rc_params = rc_params != nullptr ? rc_params : "";
  run.campaign_args = joined(campaign_args);
  run.killers = s.active;
  run.budget_s = s.options.budget_s;
  run.fuzzer_on = s.options.killer_on(Killer::fuzzer);
  run.fuzzer_args =
      joined(fuzzer_args(s.options.fuzz_seconds)) + " (" + s.options.fuzz_corpus + " corpus)";
  return run;
}

// Every mutant in turn, or skipped once the budget is spent.
void run_mutants(const Session& s, RunRecord& run) {
  const size_t total = s.names.size();
  for (size_t i = 0; i < total; i++) {
    check_interrupted();
    MutantRecord& m = run.mutants.emplace_back();
    m.name = s.names[i];
    m.header_minimal_ops = header_minimal_ops(s.patch_of(m.name));
    const std::string tag =
        "[" + std::to_string(i + 1) + "/" + std::to_string(total) + "] " + m.name;
    if (s.options.budget_s && s.elapsed_s() >= *s.options.budget_s) {
      run.skipped.push_back(m.name);
      m.status = Status::skipped;
      m.note = "not started: the " + std::to_string(*s.options.budget_s) + " s budget was spent";
      std::cout << tag << ": SKIPPED (budget of " << *s.options.budget_s << " s spent)"
                << std::endl;
      continue;
    }
    run_mutant(s, tag, m);
  }
  s.scratch.restore_pristine();
}

}  // namespace

int run_all(Session& s) {
  if (!build_baseline(s)) return 1;
  if (s.options.killer_on(Killer::fuzzer)) encode_seeds(s.killers);
  if (s.options.baseline && !run_baseline(s)) return 1;
  RunRecord run = new_record(s);
  run_mutants(s, run);
  SummaryContext context{s.property_note, s.options.fuzz_seconds, s.options.fuzz_corpus,
                         s.options.budget_s ? std::to_string(*s.options.budget_s) : ""};
  const int failures = print_summary(run, context, std::cout);
  run.elapsed_s = s.elapsed_s();
  if (!write_report(run, s.options.json_path)) {
    std::cerr << "tools/mutants: could not write the JSON report " << s.options.json_path << "\n";
    s.options.keep = true;
    return 1;
  }
  std::cout << "JSON report: " << s.options.json_path << std::endl;
  if (failures > 0) {
    std::cout << "tools/mutants: FAILED: " << failures
              << " mutant(s) survived, failed to apply or failed to build" << std::endl;
    return 1;
  }
  return 0;
}

int prepare(Session& s) {
  MutantRecord m;
  m.name = s.names.front();
  const std::string tag = "[prepare] " + m.name;
  if (!build_baseline(s) || !apply_mutant(s, tag, m) || !build_mutant(s, tag, m)) return 1;
  std::cout << "src: " << s.scratch.src().string() << "\n"
            << "bin: " << (s.scratch.src() / "build/dev/bin").string() << "\n";
  if (s.options.killer_on(Killer::fuzzer))
    std::cout << "fuzz-bin: " << (s.scratch.src() / "build/fuzz/bin").string() << "\n";
  std::cout.flush();
  return 0;
}

}  // namespace mutants
