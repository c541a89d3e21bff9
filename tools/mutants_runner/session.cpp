// Setting up the scratch copy and its builds, and the cleanup at the end of a run.
#include "session.hpp"

#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <sstream>

#include "files.hpp"
#include "process.hpp"

namespace mutants {
namespace {

// cmake reruns by itself (from ninja) when a CMakeLists.txt changed, so configure only once.
bool configure(const fs::path& src, const fs::path& dir, const fs::path& log,
               const std::vector<std::string>& settings) {
  std::error_code ec;
  if (fs::exists(dir / "build.ninja", ec) && fs::exists(dir / "CMakeCache.txt", ec)) return true;
  Command c({"cmake", "-S", src.string(), "-B", dir.string(), "-G", "Ninja"});
  c.argv.insert(c.argv.end(), settings.begin(), settings.end());
  c.out_path = log.string();
  if (run_command(c) == 0) return true;
  print_tail(log, 40);
  fs::remove_all(dir, ec);
  return false;
}

bool on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path != nullptr ? path : "");
  for (std::string dir; std::getline(dirs, dir, ':');)
    if (!dir.empty() && access((dir + "/" + program).c_str(), X_OK) == 0) return true;
  return false;
}

}  // namespace

Session::Session(Options opts, std::vector<std::string> selected)
    : options(std::move(opts)), names(std::move(selected)), scratch(options.repo) {
  for (const Killer k : options.killers) active.push_back(k);
}

std::optional<int> Session::setup() {
  if (auto problem = scratch.open()) {
    std::cerr << *problem << "\n";
    return 1;
  }
  opened = true;
  std::error_code ec;
  if (options.fresh) fs::remove_all(scratch.src() / "build", ec);
  fs::remove_all(scratch.work(), ec);  // the previous run's results
  fs::remove_all(scratch.logs(), ec);
  for (const fs::path& dir : {scratch.src(), scratch.pristine(), scratch.logs()})
    fs::create_directories(dir, ec);
  const std::optional<int> changed = scratch.sync();
  if (!changed) return 1;
  std::cout << "tools/mutants: scratch copy in " << scratch.root().string() << " (" << *changed
            << " files copied or removed since the last run)" << std::endl;
  return configure_builds();
}

std::optional<int> Session::configure_builds() {
  const fs::path src = scratch.src();
  if (!configure(src, src / "build/dev", scratch.logs() / "configure.log",
                 {"-DCMAKE_BUILD_TYPE=RelWithDebInfo", "-DKV_WERROR=ON"})) {
    std::cerr << "tools/mutants: cmake configure failed\n";
    return 1;
  }
  if (options.killer_on(Killer::fuzzer)) {
    if (!on_path("clang++-14")) {
      std::cerr << "tools/mutants: the fuzzer killer needs clang++-14 (tools/setup installs it)\n";
      return 1;
    }
    if (!configure(src, src / "build/fuzz", scratch.logs() / "configure-fuzz.log",
                   {"-DCMAKE_CXX_COMPILER=clang++-14", "-DCMAKE_BUILD_TYPE=RelWithDebInfo",
                    "-DKV_SANITIZE=ON", "-DKV_FUZZ=ON"})) {
      std::cerr << "tools/mutants: cmake configure of the fuzz build failed\n";
      return 1;
    }
  }
  killers.src = src;
  killers.kvtrace = src / "build/dev/bin/kvtrace";
  killers.fuzz_bin = src / "build/fuzz/bin/fuzz_differential";
  killers.fuzz_seeds = scratch.work() / "fuzz-seeds";
  killers.fuzz_seconds = options.fuzz_seconds;
  killers.fuzz_corpus = options.fuzz_corpus;
  killers.corpus_files = find_corpus(src);
  if (options.killer_on(Killer::property)) find_targets();
  setenv("RC_PARAMS", "max_success=1000 seed=1", 0);  // unless RC_PARAMS is set
  return std::nullopt;
}

// Whether the build has the property suite; drops the property killer, with a note, if not.
void Session::find_targets() {
  int status = 0;
  const std::string targets = capture(
      Command({"ninja", "-C", (scratch.src() / "build/dev").string(), "-t", "targets", "all"}),
      status);
  if (targets.rfind("kv_properties:", 0) == 0 ||
      targets.find("\nkv_properties:") != std::string::npos) {
    targets_.push_back("kv_properties");
    killers.property_bin = scratch.src() / "build/dev/bin/kv_properties";
    return;
  }
  property_note = "property suite not built (no kv_properties target in this build)";
  std::cout << "tools/mutants: NOTE: " << property_note << "; killer 'property' is skipped"
            << std::endl;
  std::erase(active, Killer::property);
}

bool Session::build(const fs::path& log) const {
  const std::string jobs = std::to_string(options.jobs);
  Command dev({"ninja", "-C", (scratch.src() / "build/dev").string(), "-j", jobs});
  dev.argv.insert(dev.argv.end(), targets_.begin(), targets_.end());
  dev.out_path = log.string();
  if (run_command(dev) != 0) return false;
  if (!options.killer_on(Killer::fuzzer)) return true;
  Command fuzz(
      {"ninja", "-C", (scratch.src() / "build/fuzz").string(), "-j", jobs, "fuzz_differential"});
  fuzz.out_path = log.string();
  fuzz.append = true;
  return run_command(fuzz) == 0;
}

std::string Session::build_what() const {
  std::string what = joined(targets_);
  if (options.killer_on(Killer::fuzzer)) what += " fuzz_differential";
  return what;
}

void Session::finish(bool restore) {
  if (!opened) return;
  opened = false;
  if (restore && scratch.synced()) scratch.restore_pristine();
  std::error_code ec;
  if (options.keep) {
    std::cout << "tools/mutants: logs and artifacts kept in " << scratch.work().string() << " and "
              << scratch.logs().string() << std::endl;
  } else {
    fs::remove_all(scratch.work(), ec);
    fs::remove_all(scratch.logs(), ec);
  }
}

int64_t Session::elapsed_s() const {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - start_)
      .count();
}

fs::path Session::patch_of(const std::string& name) const {
  return fs::path(options.repo) / "mutants" / (name + ".patch");
}

}  // namespace mutants
