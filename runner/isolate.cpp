// Isolated runs: fork, run the trace in the child, read its report (or how it died) in the parent.
#include "runner/isolate.hpp"

#include <poll.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <new>
#include <optional>

// Defined only in clang coverage builds (tools/coverage), as impl/check.hpp declares it too.
extern "C" int __llvm_profile_write_file(void) __attribute__((weak));

namespace kv {
namespace {

constexpr size_t stderr_kept_bytes_max = 8192;  // the tail of a child's stderr that we keep
constexpr size_t backend_names_bytes_max = 256;
constexpr uint64_t no_op_yet = UINT64_MAX;

// Written by the child, read by the parent after the child is gone: no syscall per op.
struct SharedProgress {
  RunProgress op_index{no_op_yet};
  char backend_names[backend_names_bytes_max] = {};
};

// The report crosses the pipe as u64 counts and length-prefixed strings.
void put_u64(std::string& out, uint64_t value) {
  out.append(reinterpret_cast<const char*>(&value), sizeof value);
}
void put_string(std::string& out, const std::string& text) {
  put_u64(out, text.size());
  out += text;
}

class Reader {
 public:
  explicit Reader(const std::string& bytes) : bytes_(bytes) {}
  std::optional<uint64_t> u64() {
    uint64_t value = 0;
    if (bytes_.size() - at_ < sizeof value) return std::nullopt;
    std::memcpy(&value, bytes_.data() + at_, sizeof value);
    at_ += sizeof value;
    return value;
  }
  bool string(std::string& out) {
    const auto size = u64();
    if (!size || bytes_.size() - at_ < *size) return false;
    out.assign(bytes_, at_, *size);
    at_ += *size;
    return true;
  }
  bool done() const { return at_ == bytes_.size(); }

 private:
  const std::string& bytes_;
  size_t at_ = 0;
};

std::string encode_report(const RunReport& report) {
  std::string out;
  put_u64(out, report.op_count);
  put_string(out, report.input_error);
  put_u64(out, report.divergence ? 1 : 0);
  if (!report.divergence) return out;
  const Divergence& d = *report.divergence;
  put_u64(out, d.tick);
  put_u64(out, d.line_number);
  put_u64(out, d.prefix.lines.size());
  put_string(out, kind_name(d.kind));
  for (const std::string* text :
       {&d.op_text, &d.expected, &d.model, &d.backend_name, &d.backend, &d.detail, &d.state}) {
    put_string(out, *text);
  }
  return out;
}

// The prefix is not sent: it is the first lines of the trace the parent already has (none for a
// streamed run: its caller rebuilds them).
std::optional<RunReport> decode_report(const std::string& bytes, const Trace* trace) {
  Reader in(bytes);
  RunReport report;
  const auto op_count = in.u64();
  if (!op_count || !in.string(report.input_error)) return std::nullopt;
  const auto has_divergence = in.u64();
  if (!has_divergence) return std::nullopt;
  report.op_count = *op_count;
  if (*has_divergence == 0) return in.done() ? std::optional(report) : std::nullopt;
  Divergence d;
  const auto tick = in.u64();
  const auto line_number = in.u64();
  const auto prefix_size = in.u64();
  if (!tick || !line_number || !prefix_size) return std::nullopt;
  if (trace && *prefix_size > trace->lines.size()) return std::nullopt;
  std::string kind;
  if (!in.string(kind)) return std::nullopt;
  const auto parsed_kind = parse_failure_kind(kind);
  if (!parsed_kind) return std::nullopt;
  d.kind = *parsed_kind;
  for (std::string* text :
       {&d.op_text, &d.expected, &d.model, &d.backend_name, &d.backend, &d.detail, &d.state}) {
    if (!in.string(*text)) return std::nullopt;
  }
  if (!in.done()) return std::nullopt;
  d.tick = *tick;
  d.line_number = static_cast<uint32_t>(*line_number);
  if (trace) {
    d.prefix.config = trace->config;
    d.prefix.header_comments = trace->header_comments;
    d.prefix.lines.assign(trace->lines.begin(),
                          trace->lines.begin() + static_cast<std::ptrdiff_t>(*prefix_size));
  }
  report.divergence = std::move(d);
  return report;
}

bool write_all(int fd, const std::string& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t wrote = write(fd, bytes.data() + done, bytes.size() - done);
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote <= 0) return false;
    done += static_cast<size_t>(wrote);
  }
  return true;
}

// The child: stderr into the pipe, a timer if asked, run, send the report, exit without
// running the parent's atexit handlers or flushing its stdio buffers.
[[noreturn]] void run_child(const IsolatedBody& body, const IsolateOptions& options,
                            SharedProgress* shared, int report_fd, int stderr_fd) {
  dup2(stderr_fd, STDERR_FILENO);
  if (report_fd != 3) {
    dup2(report_fd, 3);
  }
  close_range(4, ~0u, 0);  // no other run's pipe ends stay open in this child
  if (options.timeout_ms > 0) {
    itimerval timer{};
    timer.it_value.tv_sec = options.timeout_ms / 1000;
    timer.it_value.tv_usec = static_cast<suseconds_t>(options.timeout_ms % 1000) * 1000;
    setitimer(ITIMER_REAL, &timer, nullptr);
  }
  const auto note_backends = [shared](const std::vector<std::unique_ptr<Backend>>& backends) {
    std::string names;
    for (const auto& backend : backends)
      names += (names.empty() ? "" : ",") + std::string(backend->name());
    std::strncpy(shared->backend_names, names.c_str(), backend_names_bytes_max - 1);
  };
  const RunReport report = body(shared->op_index, note_backends);
  const bool sent = write_all(3, encode_report(report));
  // _exit skips the hook that writes coverage counters (clang coverage builds, impl/check.hpp).
  if (__llvm_profile_write_file) __llvm_profile_write_file();
  _exit(sent ? 0 : 3);
}

// Reads both pipes to their ends; keeps all of the report and the tail of stderr.
void drain(int report_fd, int stderr_fd, std::string& report, std::string& stderr_text) {
  pollfd fds[2] = {{report_fd, POLLIN, 0}, {stderr_fd, POLLIN, 0}};
  int open_count = 2;
  char buffer[65536];
  while (open_count > 0) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    for (pollfd& fd : fds) {
      if (fd.fd < 0 || fd.revents == 0) continue;
      const ssize_t got = read(fd.fd, buffer, sizeof buffer);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        fd.fd = -1;
        open_count--;
        continue;
      }
      std::string& out = &fd == &fds[0] ? report : stderr_text;
      out.append(buffer, static_cast<size_t>(got));
      if (&out == &stderr_text && out.size() > 2 * stderr_kept_bytes_max)
        out.erase(0, out.size() - stderr_kept_bytes_max);
    }
  }
}

std::string describe_exit(int status, const IsolateOptions& options) {
  if (WIFSIGNALED(status)) {
    const int signal_number = WTERMSIG(status);
    const char* abbreviation = sigabbrev_np(signal_number);
    const std::string name = abbreviation ? std::string("SIG") + abbreviation
                                          : "number " + std::to_string(signal_number);
    if (signal_number == SIGALRM && options.timeout_ms > 0)
      return "timed out after " + std::to_string(options.timeout_ms) + " ms (signal " + name + ")";
    return "killed by signal " + name + " (" + strsignal(signal_number) + ")";
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
    return "exited with status " + std::to_string(WEXITSTATUS(status)) + " before reporting";
  return "ended without a complete report";
}

// `trace` is null for a streamed run: the op's line and the prefix are left to the caller.
Divergence crash_divergence(const Trace* trace, const SharedProgress& shared,
                            const std::string& how, std::string stderr_text) {
  Divergence d;
  d.kind = FailureKind::crash;
  const uint64_t index = shared.op_index.load();
  d.tick = index == no_op_yet ? 0 : index;
  if (trace) {
    d.prefix.config = trace->config;
    d.prefix.header_comments = trace->header_comments;
  }
  if (index != no_op_yet && trace && index < trace->lines.size()) {
    const TraceLine& line = trace->lines[index];
    d.line_number = line.line_number;
    d.op_text = format_op(line.op);
    if (line.expected) d.expected = format_op_result(*line.expected);
    d.prefix.lines.assign(trace->lines.begin(),
                          trace->lines.begin() + static_cast<std::ptrdiff_t>(index + 1));
  } else if (index == no_op_yet) {
    d.op_text = "config (making the backends)";
  }
  d.model = "(not compared: the run crashed)";
  d.backend_name = shared.backend_names[0] ? shared.backend_names : "backend";
  d.backend = "crash";
  if (stderr_text.size() > stderr_kept_bytes_max)
    stderr_text.erase(0, stderr_text.size() - stderr_kept_bytes_max);
  d.detail = how + (stderr_text.empty() ? "" : "; its stderr ends with:\n" + stderr_text);
  while (!d.detail.empty() && d.detail.back() == '\n') d.detail.pop_back();
  d.state = "  (none: the process that held it is gone)\n";
  return d;
}

}  // namespace

namespace {

// Runs `body` in a forked child (in this process when isolation is off or fork fails); `trace`,
// when there is one, fills the prefix of the report's divergence.
RunReport run_in_child(const IsolatedBody& body, const IsolateOptions& options,
                       const Trace* trace) {
  RunProgress unwatched{0};
  const auto no_note = [](const std::vector<std::unique_ptr<Backend>>&) {};
  if (const char* off = std::getenv("KVHARNESS_NO_ISOLATE"); off && *off && *off != '0') {
    return body(unwatched, no_note);
  }
  void* mapping = mmap(nullptr, sizeof(SharedProgress), PROT_READ | PROT_WRITE,
                       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  int report_pipe[2] = {-1, -1};
  int stderr_pipe[2] = {-1, -1};
  if (mapping != MAP_FAILED) new (mapping) SharedProgress;
  std::cout.flush();
  std::fflush(nullptr);
  const bool ready = mapping != MAP_FAILED && pipe(report_pipe) == 0 && pipe(stderr_pipe) == 0;
  const pid_t child = ready ? fork() : -1;
  if (child < 0) {
    std::cerr << "kvharness: cannot isolate the run (" << std::strerror(errno)
              << "); running it in this process\n";
    for (int fd : {report_pipe[0], report_pipe[1], stderr_pipe[0], stderr_pipe[1]}) {
      if (fd >= 0) close(fd);
    }
    if (mapping != MAP_FAILED) munmap(mapping, sizeof(SharedProgress));
    return body(unwatched, no_note);
  }
  auto* shared = static_cast<SharedProgress*>(mapping);
  if (child == 0) {
    close(report_pipe[0]);
    close(stderr_pipe[0]);
    run_child(body, options, shared, report_pipe[1], stderr_pipe[1]);
  }
  close(report_pipe[1]);
  close(stderr_pipe[1]);
  std::string report_bytes;
  std::string stderr_text;
  drain(report_pipe[0], stderr_pipe[0], report_bytes, stderr_text);
  close(report_pipe[0]);
  close(stderr_pipe[0]);
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  RunReport report;
  std::optional<RunReport> decoded;
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) decoded = decode_report(report_bytes, trace);
  if (decoded) {
    report = std::move(*decoded);
    std::cerr << stderr_text;
  } else {
    report.divergence =
        crash_divergence(trace, *shared, describe_exit(status, options), std::move(stderr_text));
    const uint64_t index = shared->op_index.load();
    report.op_count =
        trace ? report.divergence->prefix.lines.size() : (index == no_op_yet ? 0 : index + 1);
  }
  shared->~SharedProgress();
  munmap(mapping, sizeof(SharedProgress));
  return report;
}

}  // namespace

RunReport run_trace_isolated(const Trace& trace, const BackendFactory& make_backends,
                             AuditMode audit_mode, const IsolateOptions& options) {
  const IsolatedBody body = [&](RunProgress& progress, const NoteBackends& note_backends) {
    auto backends = make_backends(trace.config);
    note_backends(backends);
    return run_trace(trace, backends, audit_mode, &progress);
  };
  return run_in_child(body, options, &trace);
}

RunReport run_isolated(const IsolatedBody& body, const IsolateOptions& options) {
  return run_in_child(body, options, nullptr);
}

bool isolation_helps(const std::vector<std::string>& backend_names_to_run) {
  for (const std::string& name : backend_names_to_run) {
    if (name.rfind("exec:", 0) == 0) return false;
  }
  return true;
}

}  // namespace kv
