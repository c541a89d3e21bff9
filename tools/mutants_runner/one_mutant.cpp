// One mutant's turn through the patch, the build, the killers and the shrink.
#include "one_mutant.hpp"

#include <unistd.h>

#include <chrono>
#include <iostream>
#include <regex>

#include "files.hpp"
#include "patch.hpp"
#include "process.hpp"
#include "ticker.hpp"

namespace mutants {
namespace {

int64_t ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               t0)
      .count();
}

// Runs every active killer; the first that fails is the killer.
void run_killers(const Session& s, const std::string& tag, MutantRecord& m, const fs::path& work) {
  for (const Killer k : all_killers) {
    if (std::find(s.active.begin(), s.active.end(), k) == s.active.end()) continue;
    const std::string name(name_of(k));
    KillerOutcome out;
    {
      Ticker ticker(tag + ": built in " + std::to_string(m.build_s.value_or(0)) + " s, running " +
                    name);
      out =
          run_killer(s.killers, k, work, s.scratch.logs() / (m.name + "." + name + ".log"), false);
    }
    KillerRun& run = m.killer(k);
    run = {out.rc == 0 ? "passed" : "killed", out.rc, out.ms, out.execs};
    if (out.rc != 0 && m.killed_by.empty()) {
      m.killed_by = name;
      m.time_to_kill_ms = out.ms;
    }
  }
  const std::string& property = m.killer(Killer::property).result;
  if (property != "not_run") m.property_kills = property == "killed";
}

// The counterexample to shrink: the property suite's, else the campaign's (.min.trace first),
// else the fuzzer's, else the corpus's; sets m.shrunk_from.
fs::path counterexample(const fs::path& work, MutantRecord& m) {
  for (const char* killer : {"property", "campaign", "fuzzer", "corpus"}) {
    std::error_code ec;
    const fs::path dir = work / killer;
    if (!fs::is_directory(dir, ec)) continue;
    fs::path cex;
    if (std::string(killer) == "fuzzer") {
      cex = smallest_trace(dir / "artifacts");
    } else {
      if (std::string(killer) == "campaign") cex = smallest_trace(dir, ".min.trace");
      if (cex.empty()) cex = smallest_trace(dir);
    }
    if (!cex.empty()) {
      m.shrunk_from = killer;
      return cex;
    }
  }
  return {};
}

void shrink(const Session& s, const std::string& tag, MutantRecord& m, const fs::path& work) {
  const fs::path cex = counterexample(work, m);
  if (cex.empty()) return;
  const fs::path log = s.scratch.logs() / (m.name + ".shrink.log");
  int rc = 0;
  {
    Ticker ticker(tag + ": shrinking the " + m.shrunk_from + " counterexample");
    Command c({s.killers.kvtrace.string(), "shrink", cex.string(), "-o",
               (work / "shrunk.trace").string()},
              s.killers.src.string(), log.string());
    c.limit_s = 300;
    rc = run_command(c);
  }
  std::error_code ec;
  if (rc == 0 && fs::exists(work / "shrunk.trace", ec)) {
    m.shrunk_ops = count_ops(work / "shrunk.trace");
    return;
  }
  const std::vector<std::string> lines = read_lines(log);
  std::string why = lines.empty() ? "" : lines.back();
  if (rc == 124) why = "timed out after 300 s";
  m.note = "kvtrace shrink failed on the " + m.shrunk_from + " counterexample (" +
           std::to_string(read_lines(cex).size()) +
           " lines): " + (why.empty() ? "exit " + std::to_string(rc) : why);
}

// The "killed by ..." or "SURVIVED" line.
void print_result(const Session& s, const std::string& tag, MutantRecord& m) {
  if (m.killed_by.empty()) {
    m.status = Status::survived;
    std::cout << tag << ": SURVIVED: no killer failed (built in " << m.build_s.value_or(0) << " s)"
              << std::endl;
    return;
  }
  m.status = Status::killed;
  const KillerRun& first = m.killer(all_killers[static_cast<size_t>(
      std::find(killer_names.begin(), killer_names.end(), m.killed_by) - killer_names.begin())]);
  const std::string how = describe_rc(static_cast<int>(first.exit.value_or(1)));
  std::string extra;
  for (const Killer k : s.active) {
    if (name_of(k) == m.killed_by) continue;
    extra += std::string(name_of(k)) + " " + m.killer(k).result;
    if (k == Killer::fuzzer)
      extra += " in " + std::to_string(m.killer(k).ms.value_or(0)) + " ms, " +
               std::to_string(m.killer(k).execs.value_or(0)) + " execs";
    extra += ", ";
  }
  std::cout << tag << ": killed by " << m.killed_by << " in " << m.time_to_kill_ms.value_or(0)
            << " ms" << (how == "killed" ? "" : " [" + how + "]") << " (built in "
            << m.build_s.value_or(0) << " s; " << extra << "shrunk "
            << (m.shrunk_ops ? std::to_string(*m.shrunk_ops) : "?") << " ops from "
            << (m.shrunk_from.empty() ? "nothing" : m.shrunk_from) << ", header "
            << (m.header_minimal_ops.empty() ? "?" : m.header_minimal_ops) << ")" << std::endl;
}

}  // namespace

bool apply_mutant(const Session& s, const std::string& tag, MutantRecord& m) {
  s.scratch.restore_pristine();
  const fs::path patch = s.patch_of(m.name);
  if (const std::string outside = outside_allowed(patch_files(patch)); !outside.empty()) {
    m.status = Status::patch_failed;
    m.note = "patches " + outside + ", outside impl/ and gpu/";
    std::cout << tag << ": FAILURE: the patch touches " << outside
              << " (a mutant may patch only impl/ and gpu/)" << std::endl;
    return false;
  }
  const fs::path log = s.scratch.logs() / (m.name + ".patch.log");
  std::error_code ec;
  fs::remove(log, ec);
  if (!apply_patch(patch, s.scratch.src(), log, true)) {
    m.status = Status::patch_failed;
    m.note = "patch does not apply";
    std::cout << tag << ": FAILURE: the patch no longer applies:\n";
    const std::vector<std::string> lines = read_lines(log);
    for (size_t i = 0; i < lines.size() && i < 20; i++) std::cout << "    " << lines[i] << "\n";
    std::cout.flush();
    return false;
  }
  apply_patch(patch, s.scratch.src(), log, false);
  return true;
}

bool build_mutant(const Session& s, const std::string& tag, MutantRecord& m) {
  if (!isatty(1))
    std::cout << tag
              << (s.options.prepare ? ": building..." : ": building and running the killers...")
              << std::endl;
  const auto t0 = std::chrono::steady_clock::now();
  const fs::path log = s.scratch.logs() / (m.name + ".build.log");
  bool built = false;
  {
    Ticker ticker(tag + ": building");
    built = s.build(log);
  }
  m.build_s = (ms_since(t0) + 500) / 1000;
  if (built) return true;
  m.status = Status::build_failed;
  m.note = "does not build";
  std::cout << tag << ": FAILURE: it does not build:\n";
  static const std::regex error_line(R"(: error|^FAILED:)");
  int shown = 0;
  for (const std::string& line : read_lines(log))
    if (shown < 20 && std::regex_search(line, error_line)) {
      std::cout << "    " << line << "\n";
      shown++;
    }
  std::cout.flush();
  return false;
}

void run_mutant(const Session& s, const std::string& tag, MutantRecord& m) {
  if (!apply_mutant(s, tag, m) || !build_mutant(s, tag, m)) return;
  const fs::path work = s.scratch.work() / m.name;
  run_killers(s, tag, m, work);
  shrink(s, tag, m, work);
  print_result(s, tag, m);
}

}  // namespace mutants
