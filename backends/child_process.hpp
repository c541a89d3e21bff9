// A child process behind two pipes: line-by-line I/O with a deadline per line and a bound on line
// length, so a child that hangs, floods or dies can never hang the harness or exhaust its memory.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace kv {

// The longest line a child may send (a longer one is an error, not an allocation).
inline constexpr uint32_t child_line_bytes_max = 8u << 20;

class ChildProcess {
 public:
  // Runs `/bin/sh -c "exec COMMAND"` in its own process group, stdin and stdout piped to us,
  // stderr inherited. Returns the reason when it cannot start.
  static std::variant<std::unique_ptr<ChildProcess>, std::string> start(const std::string& command);
  ~ChildProcess();  // closes the pipes, kills the process group if it lingers, and reaps the child
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Appends text to what is sent to the child's stdin (sent while read_line waits).
  void queue(std::string_view text) { send_.append(text); }
  // Sends what is queued and reads the next line (without the newline). On failure returns why:
  // the child closed its output or its input, sent nothing for timeout_ms, or sent a line longer
  // than child_line_bytes_max.
  std::optional<std::string> read_line(std::string& line, uint32_t timeout_ms);
  // Kills the process group now (no grace), reaps it, and says how it ended.
  std::string kill_and_reap();
  // "exited with status N" / "killed by signal N" when it has ended, else "still running".
  std::string status();

 private:
  ChildProcess(pid_t pid, int to_child_fd, int from_child_fd)
      : pid_(pid), to_child_fd_(to_child_fd), from_child_fd_(from_child_fd) {}
  std::optional<std::string> pump(int64_t wait_ms);
  void close_fds();

  pid_t pid_;
  int to_child_fd_;
  int from_child_fd_;
  bool reaped_ = false;
  int wait_status_ = 0;
  std::string send_;
  size_t send_pos_ = 0;
  std::string recv_;
  size_t recv_pos_ = 0;  // start of the unread part
  size_t scan_pos_ = 0;  // where to continue looking for '\n'
};

}  // namespace kv
