// tools/mutants' entry: the command line, the mutant selection, the session, exit statuses.
#include <csignal>
#include <ctime>
#include <iostream>

#include "catalogue.hpp"
#include "options.hpp"
#include "process.hpp"
#include "run.hpp"
#include "session.hpp"

using namespace mutants;

int main(int argc, char** argv) {
  Parsed parsed = parse_options(argc, argv);
  if (parsed.exit_status) return *parsed.exit_status;
  Options& o = parsed.options;
  const std::vector<std::string> available = available_mutants(o.repo);
  if (o.list_only) {
    for (const std::string& name : available) std::cout << name << "\n";
    return 0;
  }
  std::string problem;
  std::vector<std::string> names = select_mutants(o.repo, o.names, available, problem);
  if (!problem.empty()) return usage_error(problem);
  if (names.empty()) {
    std::cerr << "tools/mutants: no mutants/*.patch found\n";
    return 2;
  }
  if (o.prepare && names.size() != 1) return usage_error("--prepare needs exactly one NAME");
  if (o.prepare) std::erase(o.killers, Killer::property);  // it builds only what it prints
  if (o.budget_s && !o.prepare && rotate_for_budget(names, std::time(nullptr)))
    std::cout << "tools/mutants: --budget-s on an odd day: starting at " << names.front()
              << ", halfway round the list" << std::endl;
  install_signal_handlers();
  Session session(std::move(o), std::move(names));
  int status = 1;
  try {
    if (auto failed = session.setup()) {
      status = *failed;
    } else {
      status = session.options.prepare ? prepare(session) : run_all(session);
    }
  } catch (const Interrupted& interrupted) {
    std::cout << "\ntools/mutants: "
              << (interrupted.signal == SIGTERM ? "terminated" : "interrupted")
              << "; restoring the scratch copy" << std::endl;
    status = 128 + interrupted.signal;
  }
  session.finish(!session.options.prepare || status != 0);
  return status;
}
