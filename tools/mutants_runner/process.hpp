// Running a child process (fork/exec) with its output in a log file, a time limit, and Ctrl-C or
// SIGTERM ending it and then the run.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace mutants {

// Thrown when SIGINT or SIGTERM arrived; the run restores the scratch copy and exits 128+signal.
struct Interrupted {
  int signal;
};

// Installs the SIGINT and SIGTERM handlers (they only note the signal).
void install_signal_handlers();
// Throws Interrupted if a signal arrived.
void check_interrupted();

struct Command {
  explicit Command(std::vector<std::string> args = {}, std::string folder = {},
                   std::string output = {})
      : argv(std::move(args)), cwd(std::move(folder)), out_path(std::move(output)) {}
  std::vector<std::string> argv;
  std::string cwd;                                       // empty: this process's
  std::vector<std::pair<std::string, std::string>> env;  // set for the child only
  std::string stdin_path = "/dev/null";
  std::string out_path;  // stdout and stderr; empty: this process's
  std::string err_path;  // stderr; empty: with stdout
  bool append = false;
  int limit_s = 4 * 3600;  // then SIGTERM to its process group, SIGKILL 10 s later; status 124
};

// Runs `command` to its end and returns its status as a shell reports it (exit code, 128+signal,
// 124 after the time limit, 127 when it could not be started). Throws Interrupted.
int run_command(const Command& command);

// Runs `command` with stdout into a string (stderr discarded); the exit status into `status`.
std::string capture(Command command, int& status);

}  // namespace mutants
