// Unit tests of tools/mutants' pieces: options, selection and rotation, patch headers, trace op
// counts, the summary lines and the JSON report.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "catalogue.hpp"
#include "files.hpp"
#include "json_report.hpp"
#include "killers.hpp"
#include "options.hpp"
#include "patch.hpp"
#include "summary.hpp"

namespace fs = std::filesystem;
using namespace mutants;

namespace {

// A fresh folder under the test's temporary directory.
fs::path temp_dir(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("mutants_runner_test_" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

void write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

Parsed parse(std::vector<std::string> args) {
  args.insert(args.begin(), "mutants");
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  return parse_options(static_cast<int>(argv.size()), argv.data());
}

MutantRecord killed_mutant() {
  MutantRecord m;
  m.name = "evict_when_full";
  m.status = Status::killed;
  m.killed_by = "corpus";
  m.time_to_kill_ms = 78;
  m.property_kills = true;
  m.header_minimal_ops = "2";
  m.killer(Killer::corpus) = {"killed", 1, 78, std::nullopt};
  m.killer(Killer::property) = {"killed", 1, 40, std::nullopt};
  return m;
}

}  // namespace

TEST(Options, KillersAreCheckedAndKeptInTheirOwnOrder) {
  Parsed ok = parse({"--killers", "property,corpus,property", "-j3", "--budget-s=480", "a"});
  ASSERT_FALSE(ok.exit_status);
  EXPECT_EQ(ok.options.killers, (std::vector<Killer>{Killer::corpus, Killer::property}));
  EXPECT_EQ(ok.options.jobs, 3);
  EXPECT_EQ(ok.options.budget_s, 480);
  EXPECT_EQ(ok.options.names, std::vector<std::string>{"a"});
  EXPECT_EQ(parse({"--killers", "corpus,gremlin"}).exit_status, 2);
  EXPECT_EQ(parse({"--killers", ""}).exit_status, 2);
  EXPECT_EQ(parse({"--budget-s", "soon"}).exit_status, 2);
  EXPECT_EQ(parse({"-j", "0"}).exit_status, 2);
  EXPECT_EQ(parse({"--fuzz-corpus", "some"}).exit_status, 2);
  EXPECT_EQ(parse({"--frobnicate"}).exit_status, 2);
  EXPECT_EQ(parse({"--help"}).exit_status, 0);
}

TEST(Catalogue, SelectsSortedDeduplicatedAndRefusesUnknownNames) {
  const fs::path repo = temp_dir("catalogue");
  for (const char* name : {"b", "a-b", "a", "c"})
    write(repo / "mutants" / (std::string(name) + ".patch"), "");
  write(repo / "mutants" / "README.md", "");
  const std::vector<std::string> available = available_mutants(repo);
  EXPECT_EQ(available, (std::vector<std::string>{"a-b", "a", "b", "c"}));  // by file name
  std::string problem;
  EXPECT_EQ(select_mutants(repo, {"mutants/c.patch", "a", "c"}, available, problem),
            (std::vector<std::string>{"c", "a"}));
  EXPECT_EQ(problem, "");
  select_mutants(repo, {"nope"}, available, problem);
  EXPECT_EQ(problem, "unknown mutant 'nope' (tools/mutants --list shows them)");
}

TEST(Catalogue, OddDaysStartHalfwayRound) {
  std::vector<std::string> names{"a", "b", "c", "d", "e"};
  EXPECT_FALSE(rotate_for_budget(names, 2 * 86400 + 5));  // an even day
  EXPECT_EQ(names.front(), "a");
  EXPECT_TRUE(rotate_for_budget(names, 3 * 86400 + 5));
  EXPECT_EQ(names, (std::vector<std::string>{"c", "d", "e", "a", "b"}));
  std::vector<std::string> one{"a"};
  EXPECT_FALSE(rotate_for_budget(one, 86400));
}

TEST(Patch, HeaderAndTouchedFiles) {
  const fs::path dir = temp_dir("patch");
  write(dir / "m.patch",
        "# mutant: m\n# minimal_ops: 3 (or so)\n# minimal_ops: 9\n"
        "--- a/impl/x.cpp\n+++ b/impl/x.cpp\n@@ -1 +1 @@\n--- /dev/null\n+++ b/tests/y.cpp\n");
  EXPECT_EQ(header_minimal_ops(dir / "m.patch"), "3");
  const std::vector<std::string> files = patch_files(dir / "m.patch");
  EXPECT_EQ(files, (std::vector<std::string>{"impl/x.cpp", "tests/y.cpp"}));
  EXPECT_EQ(outside_allowed(files), "tests/y.cpp");
  EXPECT_EQ(outside_allowed({"gpu/a.cu", "impl/b.cpp"}), "");
}

TEST(Files, CountOpsSkipsVersionConfigCommentsAndBlanks) {
  const fs::path dir = temp_dir("ops");
  write(dir / "t.trace",
        "kvtrace 1\n# note\n\nconfig page_size=1\n  alloc 1 => ok\nconfigure\nfree 1");
  EXPECT_EQ(count_ops(dir / "t.trace"), 3);
  write(dir / "w" / "b.trace", "alloc 1\n");
  write(dir / "w" / "a.trace", "alloc 1\n");
  write(dir / "w" / "big.min.trace", "alloc 1\nalloc 2\n");
  EXPECT_EQ(smallest_trace(dir / "w").filename(), "a.trace");
  EXPECT_EQ(smallest_trace(dir / "w", ".min.trace").filename(), "big.min.trace");
  EXPECT_TRUE(smallest_trace(dir / "nowhere").empty());
}

TEST(Killers, DescribeExitStatuses) {
  EXPECT_EQ(describe_rc(0), "passed");
  EXPECT_EQ(describe_rc(77), "killed");
  EXPECT_EQ(describe_rc(124), "killed (timeout)");
  EXPECT_EQ(describe_rc(2), "killed (exit 2: bad input or usage?)");
  EXPECT_EQ(describe_rc(139), "killed (crash, signal 11)");
  EXPECT_EQ(describe_rc(3), "killed (exit 3)");
}

TEST(Summary, MediansAndLines) {
  EXPECT_EQ(median_of({}), std::nullopt);
  EXPECT_EQ(median_of({5, 1, 3}), 3);
  EXPECT_EQ(median_of({4, 1, 2, 9}), 3);
  RunRecord run;
  run.rc_params = "max_success=1000 seed=1";
  run.killers = {Killer::corpus, Killer::property};
  run.mutants.push_back(killed_mutant());
  MutantRecord broken;
  broken.name = "broken";
  broken.status = Status::build_failed;
  broken.note = "does not build";
  run.mutants.push_back(broken);
  MutantRecord later;
  later.name = "later";
  run.mutants.push_back(later);
  run.skipped = {"later"};
  std::ostringstream out;
  EXPECT_EQ(print_summary(run, {"", 60, "seeds", "480"}, out), 1);
  const std::string text = out.str();
  EXPECT_NE(text.find("\nkilled 1 of 2 run (3 selected); median time to kill 78 ms\n"),
            std::string::npos);
  EXPECT_NE(text.find("\nproperty suite alone kills 1 of 1, median 40 ms "
                      "(RC_PARAMS=\"max_success=1000 seed=1\")\n"),
            std::string::npos);
  EXPECT_NE(text.find("\nnote: broken: does not build\n"), std::string::npos);
  EXPECT_NE(text.find("\nSKIPPED (budget of 480 s spent, not run): later\n"), std::string::npos);
  EXPECT_NE(text.find("\nevict_when_full              | corpus       |                 78 |        "
                      "         40 |          - |                   2\n"),
            std::string::npos);
  EXPECT_EQ(run.median_time_to_kill_ms, 78);
}

TEST(JsonReport, FieldsInOrderWithNulls) {
  RunRecord run;
  run.rc_params = "max_success=1000 seed=1";
  run.killers = {Killer::corpus, Killer::property};
  run.elapsed_s = 12;
  run.mutants.push_back(killed_mutant());
  MutantRecord broken;
  broken.name = "broken";
  broken.status = Status::build_failed;
  broken.note = "does\tnot build";
  run.mutants.push_back(broken);
  const nlohmann::ordered_json report = report_json(run);
  EXPECT_EQ(report.begin().key(), "rc_params");
  EXPECT_TRUE(report["budget_s"].is_null());
  EXPECT_EQ(report["elapsed_s"], 12);
  EXPECT_EQ(report["killers"], nlohmann::json::parse(R"(["corpus","property"])"));
  EXPECT_TRUE(report["skipped"].is_array() && report["skipped"].empty());
  EXPECT_FALSE(report.contains("fuzzer_args"));
  const auto& first = report["mutants"][0];
  EXPECT_EQ(first["mutant"], "evict_when_full");
  EXPECT_EQ(first["property_kills"], true);
  EXPECT_EQ(first["header_minimal_ops"], 2);
  EXPECT_EQ(first["killers"]["corpus"]["exit"], 1);
  EXPECT_TRUE(first["killers"]["corpus"]["execs"].is_null());
  EXPECT_EQ(first["killers"]["fuzzer"]["result"], "not_run");
  const auto& second = report["mutants"][1];
  EXPECT_EQ(second["status"], "build_failed");
  EXPECT_TRUE(second["killed_by"].is_null());
  EXPECT_TRUE(second["property_kills"].is_null());
  EXPECT_EQ(second["note"], "does not build");
  std::vector<std::string> keys;
  for (auto it = second.begin(); it != second.end(); ++it) keys.push_back(it.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"mutant", "status", "killed_by", "time_to_kill_ms",
                                            "property_kills", "shrunk_ops", "shrunk_from",
                                            "header_minimal_ops", "build_s", "note", "killers"}));
}
