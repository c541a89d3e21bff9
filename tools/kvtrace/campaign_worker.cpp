// One `kvtrace campaign` worker process: runs its share of the seeds and reports each trace.
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <sstream>

#include "backends/backends.hpp"
#include "runner/isolate.hpp"
#include "shrink/replays.hpp"
#include "shrink/shrink.hpp"
#include "tools/kvtrace/campaign.hpp"
#include "tools/kvtrace/cli.hpp"
#include "tools/kvtrace/report.hpp"
#include "trace/gen.hpp"

namespace kv::cli {

std::atomic<int> campaign_stop_signal{0};

namespace {

extern "C" void on_stop_signal(int signal_number) {
  campaign_stop_signal.store(signal_number);
}

// The failure report for one trace seed; fills the record's artifact paths. `shrink` holds the
// replays per candidate (more than 1 for a nondeterministic failure) and the deadline.
std::string report_failure(const CampaignOptions& options, uint64_t trace_seed,
                           const Divergence& divergence, const ShrinkOptions& shrink,
                           TraceRecord& record) {
  std::ostringstream out;
  out << "FAIL  trace seed " << trace_seed << ": " << format_divergence(divergence);
  const std::string stem = "campaign-seed" + std::to_string(trace_seed);
  const Finding prefix = write_finding(
      options.artifacts, stem, divergence.prefix,
      divergence_headline(divergence) + "; campaign seed " + std::to_string(options.seed));
  if (!prefix.error.empty()) {
    out << "(" << prefix.error << ")\n";
  } else {
    record.artifact = prefix.path;
    out << "reproduce: " << program_path() << " replay" << backend_flag(options.backend) << " "
        << prefix.path << "\n";
  }
  if (const auto shrunk = shrink_trace(divergence.prefix, shrink)) {
    const std::string flaky =
        shrink.tries > 1
            ? " (flaky: kept when 1 of " + std::to_string(shrink.tries) + " replays fails)"
            : "";
    const Finding minimal = write_finding(
        options.artifacts, stem, shrunk->trace,
        "shrunk from seed " + std::to_string(trace_seed) + ": " + shrunk->signature + flaky,
        "min.trace");
    out << "shrunk: " << shrunk->op_count_before << " ops -> " << shrunk->op_count_after << " ops"
        << flaky << (shrunk->cut_short ? " (stopped by the time limit: the smallest so far)" : "")
        << "\n";
    if (!minimal.error.empty()) {
      out << "(" << minimal.error << "; the minimal trace follows)\n"
          << format_trace(shrunk->trace);
    } else {
      record.minimal_artifact = minimal.path;
      out << "reproduce (minimal): " << program_path() << " replay" << backend_flag(options.backend)
          << " " << minimal.path << "\n";
    }
  } else {
    out << "shrunk: not shrunk: the failure did not come back when replayed for shrinking\n";
  }
  out << "regenerate: " << regenerate_command(options, trace_seed) << "\n";
  return out.str();
}

// A trace that killed its persistent worker but passes alone in a fresh process: the crash needs
// the traces that ran before it in that worker (state leaking between runs, or memory they
// corrupted). Reported as a crash of the whole trace, with how the worker died.
RunReport crash_only_after(const Trace& trace, int signal_number, const CampaignOptions& options) {
  RunReport report;
  report.op_count = trace.lines.size();
  Divergence d;
  d.kind = FailureKind::crash;
  d.tick = trace.lines.empty() ? 0 : trace.lines.size() - 1;
  d.op_text = "(the whole trace)";
  d.model = "ok";
  d.backend_name = backend_label(options.backend);
  d.backend = "(the worker died)";
  const char* abbreviation = sigabbrev_np(signal_number);
  d.detail = "killed its campaign worker by signal " +
             (abbreviation ? "SIG" + std::string(abbreviation) : std::to_string(signal_number)) +
             " after the traces before it in that worker; passes alone in a fresh process";
  d.prefix = trace;
  report.divergence = std::move(d);
  return report;
}

}  // namespace

void install_campaign_signal_handlers() {
  campaign_stop_signal.store(0);
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
}

std::string regenerate_command(const CampaignOptions& options, uint64_t trace_seed) {
  return program_path() + " gen --seed " + std::to_string(trace_seed) + " --ops " +
         std::to_string(options.op_count) + " --profile " +
         std::string(profile_name(options.profile)) + backend_flag(options.backend);
}

std::optional<std::string> read_baseline(const std::string& path, std::set<std::string>& out) {
  std::ifstream file(path);
  if (!file) return path + ": cannot read the baseline: " + std::strerror(errno);
  std::string line;
  constexpr uint32_t line_count_max = 1000000;
  for (uint32_t number = 1; std::getline(file, line); number++) {
    if (number > line_count_max) return path + ": more than 1000000 lines";
    // A signature holds '#' for every number, so a comment is a line starting with '#' or what
    // follows two blanks and a '#' (as --write-baseline writes it).
    const std::string text = line.substr(0, line.find("  #"));
    const size_t first = text.find_first_not_of(" \t\r");
    if (first == std::string::npos || text[first] == '#') continue;
    const std::string signature = text.substr(first, text.find_last_not_of(" \t\r") - first + 1);
    if (signature.find('|') == std::string::npos) {
      return path + ":" + std::to_string(number) + ": '" + signature.substr(0, 80) +
             "' is not a finding signature (KIND|FAMILY|RULE, as --write-baseline writes them)";
    }
    out.insert(signature);
  }
  return std::nullopt;
}

std::string audit_name(AuditMode audit) {
  return audit == AuditMode::every ? "every" : "check";
}

bool write_all(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t wrote = ::write(fd, text.data() + done, text.size() - done);
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote <= 0) return false;
    done += static_cast<size_t>(wrote);
  }
  return true;
}

int run_campaign_worker(const CampaignOptions& options, uint64_t worker_count, WorkerStart from,
                        int record_fd, std::chrono::steady_clock::time_point start) {
  const auto limit = std::chrono::seconds(options.time_limit_s);
  std::set<std::string> reported;  // --keep-going: signatures this worker reported and shrank
  for (uint64_t i = from.first_index; i < options.trace_count; i += worker_count) {
    // The trace that killed the worker before this one runs whatever the clock says.
    const bool rerun = i == from.first_index && from.died_of_signal != 0;
    if (campaign_stop_signal.load() != 0) break;
    if (!rerun && options.time_limit_s > 0 && std::chrono::steady_clock::now() - start >= limit)
      break;
    const auto trace_start = std::chrono::steady_clock::now();
    const uint64_t trace_seed = options.seed + i;
    const Trace trace =
        generate_trace_within(trace_seed, static_cast<uint32_t>(options.op_count), options.caps,
                              options.profile, backend_flag(options.backend));
    // In this process: a crash kills the worker, and the coordinator starts another that runs
    // this trace again, isolated (rerun), so the report names the op, the signal and stderr.
    RunReport report = rerun ? run_trace_isolated(trace, {options.backend}, options.audit)
                             : run_trace(trace, {options.backend}, options.audit);
    if (rerun && report.ok()) report = crash_only_after(trace, from.died_of_signal, options);
    TraceRecord record;
    record.name = "seed " + std::to_string(trace_seed);
    record.seed = trace_seed;
    record.config = trace.config;
    record.op_count = report.op_count;
    record.status = report.ok() ? "pass" : "fail";
    if (!report.ok()) {
      ShrinkOptions shrink = shrink_options_for(options.backend, options.audit);
      if (options.time_limit_s > 0) shrink.deadline = start + limit;
      Divergence divergence = *report.divergence;
      // A repeat is not replayed again; a new failure is, and a backend that answers the same
      // trace differently is reported as nondeterministic and shrunk keeping the flaky failure.
      const auto is_repeat = [&](const std::string& signature) {
        return options.keep_going &&
               (reported.count(signature) != 0 || options.baseline.count(signature) != 0);
      };
      if (!is_repeat(divergence.signature())) {
        const auto replays = static_cast<uint32_t>(options.replays);
        const ReplayTally tally = tally_replays(divergence.prefix, report, shrink, replays);
        if (!tally.deterministic()) {
          divergence = nondeterministic(divergence, tally);
          shrink.tries = replays;
        }
      }
      const std::string signature = divergence.signature();
      if (!is_repeat(signature)) {
        write_all(STDOUT_FILENO, report_failure(options, trace_seed, divergence, shrink, record));
      }
      reported.insert(signature);
      record.divergence = std::move(divergence);
      record.divergence->prefix = Trace{};
    }
    record.elapsed_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - trace_start)
            .count();
    if (!write_all(record_fd, record_json(record) + "\n")) return exit_usage;
    if (!report.ok() && !options.keep_going) return exit_divergence;
  }
  return exit_pass;
}

}  // namespace kv::cli
