// Child processes: fork/exec into their own process group, wait with a time limit, stop on signals.
#include "process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "bound.hpp"

namespace mutants {
namespace {

volatile std::sig_atomic_t g_signal = 0;

void on_signal(int sig) {
  g_signal = sig;
}

constexpr int poll_ms = 20;

void sleep_ms(int ms) {
  timespec ts{ms / 1000, static_cast<long>(ms % 1000) * 1'000'000L};
  nanosleep(&ts, nullptr);
}

// In the child: redirections, folder, environment, then exec. Never returns.
[[noreturn]] void exec_child(const Command& c, const std::vector<char*>& argv) {
  setpgid(0, 0);
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  const int in = open(c.stdin_path.c_str(), O_RDONLY);
  if (in >= 0) dup2(in, 0);
  if (!c.out_path.empty()) {
    const int flags = O_WRONLY | O_CREAT | (c.append ? O_APPEND : O_TRUNC);
    const int out = open(c.out_path.c_str(), flags, 0644);
    if (out < 0) _exit(127);
    dup2(out, 1);
    dup2(out, 2);
  }
  if (!c.err_path.empty()) {
    const int err = open(c.err_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (err >= 0) dup2(err, 2);
  }
  if (!c.cwd.empty() && chdir(c.cwd.c_str()) != 0) _exit(127);
  for (const auto& [name, value] : c.env) setenv(name.c_str(), value.c_str(), 1);
  execvp(argv[0], argv.data());
  _exit(127);
}

int shell_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

// Ends the child's whole process group: SIGTERM, then SIGKILL after 10 s; reaps the child.
void stop_group(pid_t pid) {
  kill(-pid, SIGTERM);
  constexpr int grace_polls = 10'000 / poll_ms;
  for (int i = 0; i < grace_polls; i++) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      kill(-pid, SIGKILL);  // any grandchild left behind
      return;
    }
    sleep_ms(poll_ms);
  }
  kill(-pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
}

}  // namespace

void install_signal_handlers() {
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

void check_interrupted() {
  if (g_signal != 0) throw Interrupted{g_signal};
}

int run_command(const Command& c) {
  BOUND(!c.argv.empty() && c.limit_s > 0);
  check_interrupted();
  std::vector<char*> argv;
  for (const std::string& arg : c.argv) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = fork();
  if (pid < 0) return 127;
  if (pid == 0) exec_child(c, argv);
  setpgid(pid, pid);  // (the child does it too: whichever runs first)
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(c.limit_s);
  const long max_polls = static_cast<long>(c.limit_s) * (1000 / poll_ms) + 1000;
  for (long poll = 0;; poll++) {
    BOUND(poll <= max_polls);
    int status = 0;
    const pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) return shell_status(status);
    if (g_signal != 0) {
      stop_group(pid);
      throw Interrupted{g_signal};
    }
    if (std::chrono::steady_clock::now() >= deadline || poll == max_polls) {
      stop_group(pid);
      return 124;
    }
    sleep_ms(poll_ms);
  }
}

std::string capture(Command command, int& status) {
  char path[] = "/tmp/kv-mutants-capture-XXXXXX";
  const int fd = mkstemp(path);
  if (fd < 0) {
    status = 127;
    return "";
  }
  close(fd);
  command.out_path = path;
  command.err_path = "/dev/null";
  status = run_command(command);
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  unlink(path);
  return text.str();
}

}  // namespace mutants
