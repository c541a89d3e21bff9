// Parsing tools/mutants' command line, and its --help text.
#include "options.hpp"

#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <string_view>

#include "bound.hpp"

#ifndef KV_SOURCE_DIR
#define KV_SOURCE_DIR "."
#endif

namespace mutants {
namespace {

constexpr std::string_view usage_text = R"(usage: tools/mutants [options] [NAME...]

Applies each planted bug (mutants/NAME.patch; default: all of them, sorted) to a scratch copy of
the repository, builds it incrementally per mutant, and runs every killer in order:
  corpus    kvtrace replay corpus/**/*.trace
  property  the RapidCheck property suite (kv_properties), RC_PARAMS default
            "max_success=1000 seed=1" unless RC_PARAMS is set
  campaign  kvtrace campaign --seed 1 --traces 2000 --ops 200 --profile classic
  fuzzer    (only with --killers ...,fuzzer) fuzz_differential, one libFuzzer worker, until the
            first divergence or --fuzz-seconds; its time is the time to find. Needs clang++-14
            (a second, ASan+UBSan build in the scratch folder).
"killed by" is the first killer that fails; every killer runs anyway.

The scratch folder (build/mutants/, or $KV_MUTANTS_SCRATCH) is kept between runs: the next run
copies only the files of the working tree that changed, so the build redoes only what they and
the patch touch. Patched files are restored on exit, Ctrl-C and SIGTERM included.

options:
  --json PATH        where to write the JSON report (default: build/mutants.json)
  --budget-s N       start no new mutant once N seconds have passed; the rest are listed as skipped
                     (on odd days, UTC, the run starts halfway round the list)
  --killers LIST     comma-separated subset of corpus,property,campaign,fuzzer
                     (default: corpus,property,campaign)
  --fuzz-seconds N   the fuzzer killer's budget per mutant (default: 60)
  --fuzz-corpus C    seeds (corpus/ encoded, the default) or empty
  -j, --jobs N       ninja parallelism (default: nproc)
  --no-baseline      skip running the killers on the unpatched code first
  --keep             keep this run's killer logs and artifacts (work/, logs/ in the scratch folder)
  --fresh            delete the scratch folder's builds first (a from-scratch build)
  --list             print the mutant names and exit
  --prepare NAME     apply the one mutant NAME to the scratch copy, build kvtrace there (and
                     fuzz_differential when --killers names fuzzer), print "src: DIR",
                     "bin: DIR" (and "fuzz-bin: DIR") and exit, leaving the patch applied (for
                     fuzz/time-to-find and tests/campaign_e2e.sh; the next run restores it)
  -h, --help         this text

exit status: 0 every mutant run was killed; 1 a mutant survived, a patch failed to apply or to
build, or the unpatched code fails a killer; 2 usage error (e.g. an unknown NAME).
)";

bool is_uint(std::string_view text) {
  return !text.empty() && text.size() <= 9 &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}
bool is_positive(std::string_view text) {
  return is_uint(text) && std::stoi(std::string(text)) >= 1;
}

// The killers named in LIST, or the usage error.
std::optional<std::string> parse_killers(const std::string& list, std::vector<Killer>& out) {
  std::vector<std::string> items;
  size_t start = 0;
  for (size_t round = 0; start <= list.size(); round++) {
    BOUND(round <= list.size());
    const size_t comma = std::min(list.find(',', start), list.size());
    items.push_back(list.substr(start, comma - start));
    start = comma + 1;
  }
  if (!items.empty() && items.back().empty()) items.pop_back();  // as bash's read -a does
  if (items.empty()) return "--killers is empty";
  std::array<bool, all_killers.size()> on{};
  for (const std::string& item : items) {
    const auto found = std::find(killer_names.begin(), killer_names.end(), item);
    if (found == killer_names.end())
      return "unknown killer '" + item + "' (corpus, property, campaign, fuzzer)";
    on[static_cast<size_t>(found - killer_names.begin())] = true;
  }
  out.clear();  // in the killers' own order, each once
  for (const Killer k : all_killers)
    if (on[static_cast<size_t>(k)]) out.push_back(k);
  return std::nullopt;
}

// Reads one argument after another; "--opt VALUE" and "--opt=VALUE" alike.
class Args {
 public:
  Args(int argc, char** argv) : args_(argv + 1, argv + argc) {}
  bool done() const { return at_ >= args_.size(); }
  const std::string& peek() const { return args_[at_]; }
  // The value of option `name` at the current argument, or nullopt when it has none.
  std::optional<std::string> value(const std::string& name) {
    const std::string& arg = args_[at_];
    if (arg.rfind(name + "=", 0) == 0) {
      at_++;
      return arg.substr(name.size() + 1);
    }
    if (at_ + 1 >= args_.size()) return std::nullopt;
    at_ += 2;
    return args_[at_ - 1];
  }
  void skip() { at_++; }
  std::vector<std::string> rest() {
    std::vector<std::string> out(args_.begin() + static_cast<std::ptrdiff_t>(at_), args_.end());
    at_ = args_.size();
    return out;
  }

 private:
  std::vector<std::string> args_;
  size_t at_ = 0;
};

bool is_option(const std::string& arg, const std::string& name) {
  return arg == name || arg.rfind(name + "=", 0) == 0;
}

// Handles a numeric option at args; returns the usage error, if any.
std::optional<std::string> numeric(Args& args, Options& o) {
  const std::string arg = args.peek();
  if (is_option(arg, "--budget-s")) {
    const auto v = args.value("--budget-s");
    if (!v || !is_uint(*v)) return "--budget-s needs a whole number of seconds";
    o.budget_s = std::stoll(*v);
  } else if (arg == "-j" || is_option(arg, "--jobs")) {
    const auto v = arg == "-j" ? args.value("-j") : args.value("--jobs");
    if (!v || !is_positive(*v)) return arg.substr(0, arg.find('=')) + " needs a positive number";
    o.jobs = std::stoi(*v);
  } else if (arg.rfind("-j", 0) == 0 && arg.rfind("--", 0) != 0) {
    args.skip();
    if (!is_positive(arg.substr(2))) return "-j needs a positive number";
    o.jobs = std::stoi(arg.substr(2));
  } else {
    const auto v = args.value("--fuzz-seconds");
    if (!v || !is_positive(*v)) return "--fuzz-seconds needs a positive number";
    o.fuzz_seconds = std::stoi(*v);
  }
  return std::nullopt;
}

// One option at args; returns the usage error, if any (a bare "" when --help ended the parse).
std::optional<std::string> one_option(Args& args, Options& o, std::string& killers_arg) {
  const std::string arg = args.peek();
  const auto need = [&](const std::string& name, const std::string& what,
                        std::string& into) -> std::optional<std::string> {
    const auto v = args.value(name);
    if (!v) return name + " needs " + what;
    into = *v;
    return std::nullopt;
  };
  if (arg == "-h" || arg == "--help") return "";
  if (is_option(arg, "--json")) return need("--json", "a PATH", o.json_path);
  if (is_option(arg, "--killers")) return need("--killers", "a LIST", killers_arg);
  if (is_option(arg, "--fuzz-corpus"))
    return need("--fuzz-corpus", "seeds or empty", o.fuzz_corpus);
  if (is_option(arg, "--repo")) return need("--repo", "a DIR", o.repo);
  if (is_option(arg, "--budget-s") || is_option(arg, "--jobs") || arg.rfind("-j", 0) == 0 ||
      is_option(arg, "--fuzz-seconds"))
    return numeric(args, o);
  bool* flag = arg == "--no-baseline" ? &o.baseline
               : arg == "--fresh"     ? &o.fresh
               : arg == "--keep"      ? &o.keep
               : arg == "--list"      ? &o.list_only
               : arg == "--prepare"   ? &o.prepare
                                      : nullptr;
  if (flag == nullptr) return "unknown option " + arg;
  *flag = arg != "--no-baseline";
  args.skip();
  return std::nullopt;
}

int default_jobs() {
  const long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n >= 1 ? static_cast<int>(n) : 2;
}

}  // namespace

bool Options::killer_on(Killer k) const {
  return std::find(killers.begin(), killers.end(), k) != killers.end();
}

int usage_error(const std::string& message) {
  std::cerr << "tools/mutants: " << message << "\nrun tools/mutants --help for usage\n";
  return 2;
}

Parsed parse_options(int argc, char** argv) {
  Parsed parsed;
  Options& o = parsed.options;
  o.jobs = default_jobs();
  std::string killers_arg = "corpus,property,campaign";
  Args args(argc, argv);
  for (int round = 0; !args.done(); round++) {
    BOUND(round < argc);
    const std::string& arg = args.peek();
    if (arg == "--") {
      args.skip();
      for (std::string& name : args.rest()) o.names.push_back(std::move(name));
    } else if (!arg.empty() && arg[0] == '-') {
      if (auto problem = one_option(args, o, killers_arg)) {
        if (!problem->empty()) return {o, usage_error(*problem)};
        std::cout << usage_text;
        return {o, 0};
      }
    } else {
      o.names.push_back(arg);
      args.skip();
    }
  }
  if (o.repo.empty()) o.repo = KV_SOURCE_DIR;
  if (o.json_path.empty()) o.json_path = o.repo + "/build/mutants.json";
  if (o.fuzz_corpus != "seeds" && o.fuzz_corpus != "empty")
    return {o, usage_error("--fuzz-corpus must be seeds or empty, not '" + o.fuzz_corpus + "'")};
  if (auto problem = parse_killers(killers_arg, o.killers)) return {o, usage_error(*problem)};
  return parsed;
}

}  // namespace mutants
