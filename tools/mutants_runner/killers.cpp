// Running the killers.
#include "killers.hpp"

#include <algorithm>
#include <chrono>
#include <regex>

#include "files.hpp"
#include "process.hpp"

namespace mutants {
namespace {

// The state-machine property drives every backend with RapidCheck shrinking, with the
// scale-regime properties (Regime.*) for the bugs only big batches, wide fan-out, 32-bit ids,
// real shapes and odd page sizes reach.
constexpr const char* property_filter = "StateMachine.*:Regime.*";
constexpr int limit_corpus = 120, limit_property = 900, limit_campaign = 300;

Command killer_command(const KillerSetup& s, Killer killer, const fs::path& work) {
  Command c;
  c.cwd = s.src.string();
  if (killer == Killer::corpus) {
    c.limit_s = limit_corpus;
    c.argv = {s.kvtrace.string(), "replay", "--artifacts", (work / "corpus").string()};
    c.argv.insert(c.argv.end(), s.corpus_files.begin(), s.corpus_files.end());
  } else if (killer == Killer::property) {
    c.limit_s = limit_property;
    c.cwd = work.string();
    c.env = {{"KVTRACE_FAILURES", (work / "property").string()}};
    c.argv = {s.property_bin.string(), "--gtest_color=no", "--gtest_fail_fast",
              std::string("--gtest_filter=") + property_filter};
  } else {
    c.limit_s = limit_campaign;
    c.argv = {s.kvtrace.string(), "campaign"};
    c.argv.insert(c.argv.end(), campaign_args.begin(), campaign_args.end());
    c.argv.push_back("--artifacts");
    c.argv.push_back((work / "campaign").string());
  }
  return c;
}

// One libFuzzer worker from the seeds (or nothing) until the first divergence.
int run_fuzzer(const KillerSetup& s, const fs::path& work, const fs::path& log, bool baseline) {
  const fs::path dir = work / "fuzzer";
  std::error_code ec;
  fs::create_directories(dir / "corpus", ec);
  fs::create_directories(dir / "artifacts", ec);
  if (s.fuzz_corpus == "seeds" || baseline)
    for (const std::string& seed : list_files(s.fuzz_seeds, {}))
      fs::copy_file(s.fuzz_seeds / seed, dir / "corpus" / seed, ec);
  Command c;
  c.cwd = s.src.string();
  c.limit_s = s.fuzz_seconds + 120;
  c.out_path = log.string();
  c.argv = {s.fuzz_bin.string()};
  const std::vector<std::string> args =
      baseline ? std::vector<std::string>{"-runs=0"} : fuzzer_args(s.fuzz_seconds);
  c.argv.insert(c.argv.end(), args.begin(), args.end());
  c.argv.push_back("-artifact_prefix=" + (dir / "artifacts").string() + "/");
  c.argv.push_back((dir / "corpus").string());
  return run_command(c);
}

// The fuzzer's last "#N" status line's N.
std::optional<int64_t> last_execs(const fs::path& log) {
  static const std::regex execs(R"(^#([0-9]+).*)");
  std::optional<int64_t> last;
  for (const std::string& line : read_lines(log)) {
    std::smatch match;
    if (std::regex_match(line, match, execs) && match[1].length() < 19) last = std::stoll(match[1]);
  }
  return last;
}

}  // namespace

std::vector<std::string> fuzzer_args(int fuzz_seconds) {
  return {"-seed=1", "-max_total_time=" + std::to_string(fuzz_seconds), "-max_len=1024",
          "-dict=fuzz/fuzz_differential.dict"};
}

std::string joined(const std::vector<std::string>& args) {
  std::string out;
  for (const std::string& arg : args) out += (out.empty() ? "" : " ") + arg;
  return out;
}

std::vector<std::string> find_corpus(const fs::path& src) {
  std::vector<std::string> files;
  for (const std::string& file : list_files(src / "corpus", {})) {
    std::error_code ec;
    if (file.size() > 6 && file.ends_with(".trace") &&
        fs::symlink_status(src / "corpus" / file, ec).type() == fs::file_type::regular)
      files.push_back("corpus/" + file);
  }
  return files;
}

void encode_seeds(const KillerSetup& s) {
  std::error_code ec;
  fs::create_directories(s.fuzz_seeds, ec);
  for (const std::string& file : s.corpus_files) {
    const std::string stem = fs::path(file).stem().string();
    run_command(Command({s.kvtrace.string(), "encode", file, "-o", (s.fuzz_seeds / stem).string()},
                        s.src.string(), "/dev/null"));
  }
}

KillerOutcome run_killer(const KillerSetup& s, Killer killer, const fs::path& work,
                         const fs::path& log, bool baseline) {
  std::error_code ec;
  fs::create_directories(work, ec);
  KillerOutcome out;
  const auto t0 = std::chrono::steady_clock::now();
  if (killer == Killer::fuzzer) {
    out.rc = run_fuzzer(s, work, log, baseline);
  } else {
    Command c = killer_command(s, killer, work);
    c.out_path = log.string();
    out.rc = run_command(c);
  }
  out.ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  if (killer == Killer::fuzzer) {
    out.execs = last_execs(log);
    // libFuzzer exits 0 when its time is up; an artifact without a failing exit still counts.
    const auto artifacts = list_files(work / "fuzzer" / "artifacts", {});
    if (out.rc == 0 && std::any_of(artifacts.begin(), artifacts.end(),
                                   [](const std::string& f) { return f.rfind("crash-", 0) == 0; }))
      out.rc = 1;
  }
  return out;
}

std::string describe_rc(int rc) {
  if (rc == 0) return "passed";
  if (rc == 1 || rc == 77) return "killed";  // 77: libFuzzer's exit status for a finding
  if (rc == 124 || rc == 137) return "killed (timeout)";
  if (rc == 2) return "killed (exit 2: bad input or usage?)";
  if (rc > 128) return "killed (crash, signal " + std::to_string(rc - 128) + ")";
  return "killed (exit " + std::to_string(rc) + ")";
}

}  // namespace mutants
