// `kvtrace campaign`: many generated traces through the model and every backend, one seed for all,
// spread over worker processes whose records this process merges into progress and one summary.
#include "tools/kvtrace/campaign.hpp"

#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "backends/backends.hpp"
#include "tools/kvtrace/cli.hpp"
#include "tools/kvtrace/report.hpp"

namespace kv::cli {
namespace {

using Clock = std::chrono::steady_clock;

// One distinct finding: the traces that showed it, the first one's seed and artifacts.
struct FindingSummary {
  uint64_t trace_count = 0;
  uint64_t first_seed = 0;
  std::string artifact;
  std::string minimal_artifact;
};

// Crashed workers started again, in all: past it a crash ends its worker's share of the seeds.
constexpr uint64_t worker_restart_count_max = 1000;

struct Worker {
  pid_t pid = -1;
  int fd = -1;            // read end of its record pipe; -1 once closed
  std::string pending;    // a partial record line
  uint64_t finished = 0;  // traces it reported
  bool stopped_early = false;
};

// The command line that runs the same campaign from trace index `first` on.
std::string resume_command(const CampaignOptions& options, uint64_t first) {
  std::string out = program_path() + " campaign --seed " + std::to_string(options.seed + first) +
                    " --traces " + std::to_string(options.trace_count - first) + " --ops " +
                    std::to_string(options.op_count) + backend_flag(options.backend) + " --audit " +
                    audit_name(options.audit) + " --profile " +
                    std::string(profile_name(options.profile)) + " --artifacts " +
                    options.artifacts + " --jobs " + std::to_string(options.job_count);
  if (options.time_limit_s > 0) out += " --seconds " + std::to_string(options.time_limit_s);
  if (options.replays != CampaignOptions{}.replays)
    out += " --replays " + std::to_string(options.replays);
  return out;
}

class Coordinator {
 public:
  explicit Coordinator(const CampaignOptions& options)
      : options_(options), tty_(isatty(STDOUT_FILENO) == 1) {}

  int run() {
    if (!open_json()) return exit_usage;
    start_ = Clock::now();
    last_progress_ = start_;
    if (!start_workers()) return exit_usage;
    while (collect()) {
      forward_stop();
      maybe_progress();
    }
    reap_workers();
    return summarize();
  }

 private:
  bool open_json() {
    if (options_.json_path.empty()) return true;
    json_ = std::fopen(options_.json_path.c_str(), "wb");
    if (json_ == nullptr) {
      std::cerr << "kvtrace campaign: cannot write " << options_.json_path << ": "
                << std::strerror(errno) << "\n";
      return false;
    }
    const nlohmann::json head = {{"seed", options_.seed},
                                 {"traces", options_.trace_count},
                                 {"ops", options_.op_count},
                                 {"backend", options_.backend},
                                 {"profile", std::string(profile_name(options_.profile))},
                                 {"jobs", options_.job_count},
                                 {"not_checked", describe_declined(options_.caps.declined)}};
    const std::string text = head.dump();
    std::fprintf(json_, "{\"parameters\": %s,\n \"traces\": [", text.c_str());
    return true;
  }

  bool start_workers() {
    workers_.resize(options_.job_count);
    for (uint64_t w = 0; w < workers_.size(); w++) {
      if (!start_worker(w, WorkerStart{w, 0})) return false;
    }
    return true;
  }

  // Forks worker `w` (again, after its predecessor died) from trace index from.first_index.
  bool start_worker(uint64_t w, WorkerStart from) {
    std::cout << std::flush;
    int fds[2];
    if (::pipe(fds) != 0) {
      std::cerr << "kvtrace campaign: cannot make a pipe: " << std::strerror(errno) << "\n";
      return false;
    }
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::close(fds[0]);
      for (const Worker& other : workers_) {
        if (other.fd >= 0) ::close(other.fd);
      }
      if (json_ != nullptr) ::close(fileno(json_));
      const int status = run_campaign_worker(options_, workers_.size(), from, fds[1], start_);
      std::cout << std::flush;
      ::_exit(status);
    }
    ::close(fds[1]);
    if (pid < 0) {
      std::cerr << "kvtrace campaign: cannot start a worker: " << std::strerror(errno) << "\n";
      ::close(fds[0]);
      return false;
    }
    workers_[w].pid = pid;
    workers_[w].fd = fds[0];
    return true;
  }

  // Worker `w` closed its pipe: it is exiting. One that a signal of its own killed (a crash in a
  // trace it ran in its process) is replaced by one that runs that trace again, isolated.
  void worker_ended(uint64_t w) {
    Worker& worker = workers_[w];
    ::close(worker.fd);
    worker.fd = -1;
    int status = 0;
    while (::waitpid(worker.pid, &status, 0) < 0 && errno == EINTR) {
    }
    worker.pid = -1;
    if (!WIFSIGNALED(status)) return;
    const int signal_number = WTERMSIG(status);
    if (signal_number == SIGTERM || signal_number == SIGINT) return;
    const uint64_t index = next_index(w);
    if (stop_forwarded_ || campaign_stop_signal.load() != 0 ||
        restart_count_ >= worker_restart_count_max || index >= options_.trace_count) {
      report_crash(w, signal_number);
      return;
    }
    restart_count_++;
    std::cout << "note  worker " << w << " died of signal " << signal_number << " ("
              << strsignal(signal_number) << ") running trace seed " << options_.seed + index
              << "; running it again in a fresh process" << std::endl;
    if (!start_worker(w, WorkerStart{index, signal_number})) report_crash(w, signal_number);
  }

  // Waits up to 200 ms for records; false once every worker has closed its pipe.
  bool collect() {
    std::vector<pollfd> polls;
    std::vector<Worker*> owners;
    for (Worker& worker : workers_) {
      if (worker.fd < 0) continue;
      polls.push_back({worker.fd, POLLIN, 0});
      owners.push_back(&worker);
    }
    if (polls.empty()) return false;
    if (::poll(polls.data(), polls.size(), 200) <= 0) return true;
    for (size_t i = 0; i < polls.size(); i++) {
      if (polls[i].revents == 0) continue;
      char buffer[65536];
      const ssize_t got = ::read(polls[i].fd, buffer, sizeof buffer);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        worker_ended(static_cast<uint64_t>(owners[i] - workers_.data()));
        continue;
      }
      owners[i]->pending.append(buffer, static_cast<size_t>(got));
      take_records(*owners[i]);
    }
    return true;
  }

  void take_records(Worker& worker) {
    for (size_t newline; (newline = worker.pending.find('\n')) != std::string::npos;) {
      const std::string line = worker.pending.substr(0, newline);
      worker.pending.erase(0, newline + 1);
      const nlohmann::json record = nlohmann::json::parse(line, nullptr, false);
      if (record.is_discarded()) continue;
      worker.finished++;
      done_++;
      op_total_ += record.value("ops", uint64_t{0});
      caching_traces_ += record.value("prefix_caching", false) ? 1 : 0;
      if (record.value("status", "") != "pass") {
        findings_++;
        note_finding(record);
      }
      if (json_ != nullptr) std::fprintf(json_, "%s\n  %s", done_ == 1 ? "" : ",", line.c_str());
    }
  }

  void note_finding(const nlohmann::json& record) {
    const nlohmann::json divergence = record.value("divergence", nlohmann::json::object());
    const std::string signature = divergence.value("signature", "unknown|" + record.dump());
    FindingSummary& finding = distinct_[signature];
    if (finding.trace_count++ == 0) finding.first_seed = record.value("seed", uint64_t{0});
    if (finding.artifact.empty()) finding.artifact = record.value("artifact", "");
    if (finding.minimal_artifact.empty()) {
      finding.minimal_artifact = record.value("minimal_artifact", "");
    }
  }

  // A user's signal, or a finding without --keep-going, stops every worker after its trace.
  void forward_stop() {
    const bool stop = campaign_stop_signal.load() != 0 || (findings_ > 0 && !options_.keep_going);
    if (!stop || stop_forwarded_) return;
    stop_forwarded_ = true;
    for (Worker& worker : workers_) {
      if (worker.fd >= 0) ::kill(worker.pid, SIGTERM);
    }
  }

  void maybe_progress() {
    const auto now = Clock::now();
    if (now - last_progress_ < std::chrono::seconds(tty_ ? 2 : 30)) return;
    last_progress_ = now;
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    const double rate = elapsed > 0 ? static_cast<double>(done_) / elapsed : 0;
    std::cout << "  " << done_ << "/" << options_.trace_count << " traces, " << op_total_
              << " ops, " << static_cast<uint64_t>(elapsed) << " s, "
              << static_cast<uint64_t>(static_cast<double>(op_total_) / elapsed) << " ops/s, "
              << findings_ << " findings, ";
    const double eta = rate > 0 ? static_cast<double>(options_.trace_count - done_) / rate : 0;
    if (options_.time_limit_s > 0 && static_cast<double>(options_.time_limit_s) - elapsed < eta) {
      std::cout << static_cast<uint64_t>(static_cast<double>(options_.time_limit_s) - elapsed)
                << " s of --seconds left";
    } else {
      std::cout << "about " << static_cast<uint64_t>(eta) << " s left";
    }
    std::cout << std::endl;
  }

  // Every worker was reaped when it closed its pipe; this is for one whose pipe read failed.
  void reap_workers() {
    for (uint64_t w = 0; w < workers_.size(); w++) {
      if (workers_[w].pid < 0) continue;
      int status = 0;
      while (::waitpid(workers_[w].pid, &status, 0) < 0 && errno == EINTR) {
      }
      if (WIFSIGNALED(status) && WTERMSIG(status) != SIGTERM && WTERMSIG(status) != SIGINT) {
        report_crash(w, WTERMSIG(status));
      }
    }
  }

  // A worker that died ran trace index w + jobs * finished: write that trace so it can be replayed.
  void report_crash(uint64_t w, int signal_number) {
    findings_++;
    FindingSummary& summary = distinct_["crash|worker|signal " + std::to_string(signal_number)];
    if (summary.trace_count++ == 0) {
      summary.first_seed = options_.seed + next_index(w);
    }
    const uint64_t index = next_index(w);
    const uint64_t trace_seed = options_.seed + index;
    std::cout << "FAIL  worker " << w << " died of signal " << signal_number << " ("
              << strsignal(signal_number) << ") running trace seed " << trace_seed << "\n";
    const Trace trace =
        generate_trace_within(trace_seed, static_cast<uint32_t>(options_.op_count), options_.caps,
                              options_.profile, backend_flag(options_.backend));
    const Finding finding = write_finding(
        options_.artifacts, "campaign-seed" + std::to_string(trace_seed), trace,
        "a campaign worker died of signal " + std::to_string(signal_number) + " on this trace");
    if (finding.error.empty()) {
      std::cout << "reproduce: " << program_path() << " replay" << backend_flag(options_.backend)
                << " " << finding.path << "\n";
    }
    std::cout << "regenerate: " << regenerate_command(options_, trace_seed) << std::endl;
  }

  // The trace index worker `w` runs next (or was running when it died): its stride's next one.
  uint64_t next_index(uint64_t w) const { return w + workers_.size() * workers_[w].finished; }

  // The first trace index not run: every index below it has a record.
  uint64_t first_not_run() const {
    uint64_t first = options_.trace_count;
    for (uint64_t w = 0; w < workers_.size(); w++) {
      first = std::min(first, next_index(w));
    }
    return first;
  }

  int summarize() {
    const double seconds = std::chrono::duration<double>(Clock::now() - start_).count();
    const uint64_t first = first_not_run();
    const bool complete = first >= options_.trace_count;
    const uint64_t new_count = new_finding_count();
    std::cout << (new_count == 0 ? "ok    " : "FAIL  ") << done_ << " generated traces ("
              << op_total_ << " ops in " << static_cast<uint64_t>(seconds) << " s, "
              << static_cast<uint64_t>(seconds > 0 ? static_cast<double>(op_total_) / seconds : 0)
              << " ops/s, " << workers_.size() << " jobs; seeds " << options_.seed << ".."
              << options_.seed + first - (first > 0 ? 1 : 0)
              << (done_ > first ? " and " + std::to_string(done_ - first) + " above" : "") << "), "
              << findings_ << (options_.keep_going ? " failing traces" : " findings") << std::endl;
    list_findings(new_count);
    finish_json(seconds, first);
    if (!write_baseline()) return exit_usage;
    const int user_signal = campaign_stop_signal.load();
    if (new_count > 0) return exit_divergence;
    if (complete) return exit_pass;
    std::cout << (user_signal != 0
                      ? "interrupted by signal " + std::to_string(user_signal)
                      : "time limit of " + std::to_string(options_.time_limit_s) + " s reached")
              << "; findings are on disk. resume: " << resume_command(options_, first) << std::endl;
    return user_signal != 0 ? exit_interrupted : exit_pass;
  }

  // The distinct findings whose signature is not in the baseline.
  uint64_t new_finding_count() const {
    uint64_t count = 0;
    for (const auto& [signature, finding] : distinct_)
      count += options_.baseline.count(signature) ? 0 : 1;
    return count;
  }

  // With --keep-going (or --baseline): every distinct finding once, with its count.
  void list_findings(uint64_t new_count) const {
    if (!options_.keep_going) return;
    for (const auto& [signature, finding] : distinct_) {
      const bool known = options_.baseline.count(signature) != 0;
      std::cout << (known ? "known " : "NEW   ") << signature << "  (" << finding.trace_count
                << " trace" << (finding.trace_count == 1 ? "" : "s") << ", first seed "
                << finding.first_seed << ")\n";
      const std::string& path =
          finding.minimal_artifact.empty() ? finding.artifact : finding.minimal_artifact;
      if (!path.empty()) {
        std::cout << "      reproduce: " << program_path() << " replay"
                  << backend_flag(options_.backend) << " " << path << "\n";
      }
    }
    std::cout << distinct_.size() << " distinct findings, " << new_count << " new" << std::endl;
  }

  bool write_baseline() {
    if (options_.write_baseline_path.empty()) return true;
    std::ofstream out(options_.write_baseline_path);
    out << "# kvtrace campaign baseline: one finding signature per line (--baseline FILE)\n";
    for (const auto& [signature, finding] : distinct_) {
      out << signature << "  # " << finding.trace_count << " traces, first seed "
          << finding.first_seed << "\n";
    }
    if (!out.flush()) {
      std::cerr << "kvtrace campaign: cannot write " << options_.write_baseline_path << "\n";
      return false;
    }
    std::cout << "baseline: " << distinct_.size() << " signatures written to "
              << options_.write_baseline_path << std::endl;
    return true;
  }

  void finish_json(double seconds, uint64_t first) {
    if (json_ == nullptr) return;
    const nlohmann::json summary = {{"traces", done_},
                                    {"ops", op_total_},
                                    {"prefix_caching_traces", caching_traces_},
                                    {"seconds", seconds},
                                    {"findings", findings_},
                                    {"distinct_findings", distinct_json()},
                                    {"first_seed_not_run", options_.seed + first},
                                    {"interrupted", campaign_stop_signal.load() != 0}};
    std::fprintf(json_, "\n ],\n \"summary\": %s}\n", summary.dump().c_str());
    if (std::fclose(json_) != 0) {
      std::cerr << "kvtrace campaign: cannot write " << options_.json_path << ": "
                << std::strerror(errno) << "\n";
    }
    json_ = nullptr;
  }

  nlohmann::json distinct_json() const {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& [signature, finding] : distinct_) {
      out.push_back({{"signature", signature},
                     {"traces", finding.trace_count},
                     {"first_seed", finding.first_seed},
                     {"known", options_.baseline.count(signature) != 0},
                     {"artifact", finding.artifact},
                     {"minimal_artifact", finding.minimal_artifact}});
    }
    return out;
  }

  const CampaignOptions& options_;
  const bool tty_;
  std::map<std::string, FindingSummary> distinct_;  // by signature
  std::vector<Worker> workers_;
  FILE* json_ = nullptr;
  Clock::time_point start_;
  Clock::time_point last_progress_;
  uint64_t done_ = 0;
  uint64_t op_total_ = 0;
  uint64_t caching_traces_ = 0;  // traces generated with prefix_caching=on
  uint64_t restart_count_ = 0;   // workers started again after a crash
  uint64_t findings_ = 0;
  bool stop_forwarded_ = false;
};

// The backend's capabilities, asked in a child process for exec: backends: the process it starts
// must not be inherited by the workers (each starts its own). Prints what its profile declines.
std::optional<Capabilities> campaign_capabilities(const std::string& backend) {
  if (backend.rfind("exec:", 0) != 0) {
    auto caps = capabilities_or_report("campaign", backend);
    if (caps) print_not_checked(*caps, backend);
    return caps;
  }
  int fds[2];
  if (::pipe(fds) != 0) return capabilities_or_report("campaign", backend);
  std::cout << std::flush;
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    const auto caps = capabilities_or_report("campaign", backend);
    // The label takes a pooled session too, so it is asked here, never in the coordinator.
    if (caps) print_not_checked(*caps, backend_label(backend));
    std::cout << std::flush;
    if (caps) write_all(fds[1], format_profile(*caps));
    ::close(fds[1]);
    std::exit(caps ? exit_pass : exit_usage);
  }
  ::close(fds[1]);
  std::string profile;
  char buffer[4096];
  for (ssize_t got; (got = ::read(fds[0], buffer, sizeof buffer)) != 0;) {
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) break;
    profile.append(buffer, static_cast<size_t>(got));
  }
  ::close(fds[0]);
  int status = 0;
  while (pid > 0 && ::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (pid < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return std::nullopt;
  Capabilities caps = Capabilities::all();
  caps.either_variants = Config{};  // an exec: backend runs under the variants it declared
  for (size_t start = 0; start < profile.size();) {
    const size_t end = std::min(profile.find('\n', start), profile.size());
    if (end > start) apply_profile_line(std::string_view(profile).substr(start, end - start), caps);
    start = end + 1;
  }
  return caps;
}

int run_campaign(CampaignOptions options) {
  options.job_count = std::max<uint64_t>(1, std::min(options.job_count, options.trace_count));
  std::cout << "campaign seed=" << options.seed << " traces=" << options.trace_count
            << " seconds=" << options.time_limit_s << " ops=" << options.op_count
            << " backend=" << options.backend << " audit=" << audit_name(options.audit)
            << " profile=" << profile_name(options.profile) << " jobs=" << options.job_count
            << std::endl;
  if (!options.baseline_path.empty()) {
    if (auto problem = read_baseline(options.baseline_path, options.baseline)) {
      std::cerr << "kvtrace campaign: " << *problem << "\n";
      return exit_usage;
    }
    options.keep_going = true;  // known findings must not stop the run
  }
  const auto caps = campaign_capabilities(options.backend);
  if (!caps) return exit_usage;
  options.caps = *caps;
  install_campaign_signal_handlers();
  Coordinator coordinator(options);
  return coordinator.run();
}

}  // namespace

std::function<int()> declare_campaign(CLI::App& app) {
  auto options = std::make_shared<CampaignOptions>();
  options->seed = static_cast<uint64_t>(Clock::now().time_since_epoch().count()) % 1000000007;
  options->job_count = std::max(1u, std::thread::hardware_concurrency());
  add_number_option(app, "--seed", options->seed, 0, UINT64_MAX,
                    "first trace's seed; trace i uses seed+i (default: from the clock, printed)");
  add_number_option(app, "--traces", options->trace_count, 1, UINT64_MAX, "traces to run");
  add_number_option(app, "--seconds", options->time_limit_s, 0, UINT64_MAX,
                    "start no trace and no shrink step after this many seconds (a finding keeps "
                    "its smallest trace so far); 0: no limit");
  add_number_option(app, "--replays", options->replays, 1, 100,
                    "runs of a new failure's prefix in all before it is reported: a backend that "
                    "answers differently is a nondeterministic finding (1: no check; default 5)");
  add_number_option(app, "--ops", options->op_count, 1, trace_op_count_max, "ops per trace");
  add_number_option(app, "-j,--jobs", options->job_count, 1, 256,
                    "worker processes, each a share of the seeds (default: the number of cores)");
  add_backend_option(app, options->backend);
  add_audit_option(app, options->audit);
  add_profile_option(app, options->profile);
  app.add_option("--artifacts", options->artifacts,
                 "folder for failing traces and their shrunk form (default failures)")
      ->type_name("DIR");
  app.add_option("--json", options->json_path,
                 "also write one JSON record per trace and a summary to FILE")
      ->type_name("FILE");
  app.add_flag("--keep-going", options->keep_going,
               "run the whole budget; report each distinct finding (signature) once, with its "
               "count and one shrunk trace");
  app.add_option("--baseline", options->baseline_path,
                 "known findings, one signature per line: reported as known; exit 0 unless a new "
                 "one appears (implies --keep-going)")
      ->type_name("FILE");
  app.add_option("--write-baseline", options->write_baseline_path,
                 "write the signatures this run found to FILE (for --baseline)")
      ->type_name("FILE");
  app.footer(
      "Progress every 2 s on a terminal, every 30 s otherwise. Stops at the first finding\n"
      "unless --keep-going.\n"
      "exit status: 0 every trace agrees, 1 a finding (written under --artifacts), 2 bad "
      "arguments,\n130 stopped by SIGINT/SIGTERM (after the current traces; prints a summary "
      "and the resume command)");
  return [options] { return run_campaign(*options); };
}

}  // namespace kv::cli
