// The table and the summary lines ("killed N of M run ...", "property suite alone kills ...").
#include "summary.hpp"

#include <algorithm>
#include <cstdio>

namespace mutants {
namespace {

std::string text_of(const std::optional<int64_t>& value) {
  return value ? std::to_string(*value) : "-";
}

void row(std::ostream& out, bool fuzz_on, const std::vector<std::string>& cells) {
  char line[512];
  std::snprintf(line, sizeof line, "%-28s | %-12s | %18s | %18s | %10s | %19s", cells[0].c_str(),
                cells[1].c_str(), cells[2].c_str(), cells[3].c_str(), cells[4].c_str(),
                cells[5].c_str());
  out << line;
  if (fuzz_on) {
    std::snprintf(line, sizeof line, " | %17s", cells[6].c_str());
    out << line;
  }
  out << "\n";
}

std::string killed_by_cell(const MutantRecord& m) {
  switch (m.status) {
    case Status::killed:
      return m.killed_by;
    case Status::survived:
      return "SURVIVED";
    case Status::patch_failed:
      return "PATCH FAILS";
    case Status::build_failed:
      return "BUILD FAILS";
    case Status::skipped:
      return "skipped";
  }
  return "";
}

std::string fuzzer_cell(const MutantRecord& m) {
  const KillerRun& fuzzer = m.killer(Killer::fuzzer);
  if (fuzzer.result == "killed") return text_of(fuzzer.ms);
  return fuzzer.result == "passed" ? "missed" : "-";
}

std::string ms_or_na(const std::optional<int64_t>& value) {
  return value ? std::to_string(*value) : "n/a";
}

// The table, one row per mutant.
void print_table(const RunRecord& run, std::ostream& out) {
  row(out, run.fuzzer_on,
      {"mutant", "killed by", "time to kill (ms)", "property kill (ms)", "shrunk ops",
       "header minimal ops", "fuzzer find (ms)"});
  row(out, run.fuzzer_on,
      {std::string(28, '-'), std::string(12, '-'), std::string(18, '-'), std::string(18, '-'),
       std::string(10, '-'), std::string(19, '-'), std::string(17, '-')});
  for (const MutantRecord& m : run.mutants) {
    std::string property = "-";
    if (m.property_kills)
      property = *m.property_kills ? text_of(m.killer(Killer::property).ms) : "no";
    row(out, run.fuzzer_on,
        {m.name, killed_by_cell(m), text_of(m.time_to_kill_ms), property, text_of(m.shrunk_ops),
         m.header_minimal_ops.empty() ? "-" : m.header_minimal_ops, fuzzer_cell(m)});
  }
}

}  // namespace

std::optional<int64_t> median_of(std::vector<int64_t> values) {
  if (values.empty()) return std::nullopt;
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

int print_summary(RunRecord& run, const SummaryContext& context, std::ostream& out) {
  int failures = 0, killed = 0, prop_kills = 0, prop_ran = 0, fuzz_finds = 0, fuzz_ran = 0;
  std::vector<int64_t> ttks, prop_ttks, fuzz_ttfs;
  for (const MutantRecord& m : run.mutants) {
    if (m.status == Status::killed) {
      killed++;
      ttks.push_back(m.time_to_kill_ms.value_or(0));
    } else if (m.status != Status::skipped) {
      failures++;
    }
    if (m.property_kills) prop_ran++;
    if (m.property_kills.value_or(false)) {
      prop_kills++;
      prop_ttks.push_back(m.killer(Killer::property).ms.value_or(0));
    }
    const KillerRun& fuzzer = m.killer(Killer::fuzzer);
    if (fuzzer.result != "not_run") fuzz_ran++;
    if (fuzzer.result == "killed") {
      fuzz_finds++;
      fuzz_ttfs.push_back(fuzzer.ms.value_or(0));
    }
  }
  run.median_time_to_kill_ms = median_of(ttks);
  run.property_median_time_to_kill_ms = median_of(prop_ttks);
  run.fuzzer_median_time_to_find_ms = median_of(fuzz_ttfs);
  out << "\n";
  print_table(run, out);
  const size_t total = run.mutants.size();
  out << "\nkilled " << killed << " of " << total - run.skipped.size() << " run (" << total
      << " selected); median time to kill " << ms_or_na(run.median_time_to_kill_ms) << " ms\n";
  if (!context.property_note.empty()) out << "note: " << context.property_note << "\n";
  if (std::find(run.killers.begin(), run.killers.end(), Killer::property) != run.killers.end())
    out << "property suite alone kills " << prop_kills << " of " << prop_ran << ", median "
        << ms_or_na(run.property_median_time_to_kill_ms) << " ms (RC_PARAMS=\"" << run.rc_params
        << "\")\n";
  if (run.fuzzer_on)
    out << "fuzzer finds " << fuzz_finds << " of " << fuzz_ran << " within " << context.fuzz_seconds
        << " s (" << context.fuzz_corpus << " corpus), median time to find "
        << ms_or_na(run.fuzzer_median_time_to_find_ms) << " ms\n";
  for (const MutantRecord& m : run.mutants)
    if (!m.note.empty() && m.status != Status::skipped)
      out << "note: " << m.name << ": " << m.note << "\n";
  if (!run.skipped.empty()) {
    out << "SKIPPED (budget of " << context.budget_s << " s spent, not run):";
    for (const std::string& name : run.skipped) out << " " << name;
    out << "\n";
  }
  out.flush();
  return failures;
}

}  // namespace mutants
