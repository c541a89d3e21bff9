// ChildProcess: posix_spawn with pipes, non-blocking poll loop, reaping.
#include "backends/child_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

extern char** environ;

namespace kv {
namespace {

constexpr size_t read_chunk_bytes = 65536;
constexpr uint32_t exit_grace_ms = 500;

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string describe_wait_status(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "stopped";
}

}  // namespace

std::variant<std::unique_ptr<ChildProcess>, std::string> ChildProcess::start(
    const std::string& command) {
  // A child that closes its stdin must give us EPIPE, not kill the harness.
  signal(SIGPIPE, SIG_IGN);
  int to_child[2];
  int from_child[2];
  if (pipe2(to_child, O_CLOEXEC) != 0) return std::string("pipe: ") + std::strerror(errno);
  if (pipe2(from_child, O_CLOEXEC) != 0) {
    close(to_child[0]);
    close(to_child[1]);
    return std::string("pipe: ") + std::strerror(errno);
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, to_child[0], 0);
  posix_spawn_file_actions_adddup2(&actions, from_child[1], 1);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF);
  const std::string script = "exec " + command;
  char* argv[] = {const_cast<char*>("sh"), const_cast<char*>("-c"),
                  const_cast<char*>(script.c_str()), nullptr};
  pid_t pid = 0;
  const int error = posix_spawn(&pid, "/bin/sh", &actions, &attr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(to_child[0]);
  close(from_child[1]);
  if (error != 0) {
    close(to_child[1]);
    close(from_child[0]);
    return "cannot start /bin/sh -c '" + script + "': " + std::strerror(error);
  }
  fcntl(to_child[1], F_SETFL, O_NONBLOCK);
  fcntl(from_child[0], F_SETFL, O_NONBLOCK);
  return std::unique_ptr<ChildProcess>(new ChildProcess(pid, to_child[1], from_child[0]));
}

void ChildProcess::close_fds() {
  if (to_child_fd_ >= 0) close(to_child_fd_);
  if (from_child_fd_ >= 0) close(from_child_fd_);
  to_child_fd_ = from_child_fd_ = -1;
}

ChildProcess::~ChildProcess() {
  close_fds();  // a well-behaved backend exits on end of input
  const int64_t deadline = now_ms() + exit_grace_ms;
  while (!reaped_ && now_ms() < deadline) {
    if (status() != "still running") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (!reaped_) kill_and_reap();
}

std::string ChildProcess::status() {
  if (!reaped_ && waitpid(pid_, &wait_status_, WNOHANG) == pid_) reaped_ = true;
  return reaped_ ? describe_wait_status(wait_status_) : "still running";
}

std::string ChildProcess::kill_and_reap() {
  close_fds();
  if (!reaped_) {
    kill(-pid_, SIGKILL);
    kill(pid_, SIGKILL);
    while (waitpid(pid_, &wait_status_, 0) < 0 && errno == EINTR) {
    }
    reaped_ = true;
  }
  return describe_wait_status(wait_status_);
}

// One poll round: writes what it can, reads what is there. Returns an error or nothing.
std::optional<std::string> ChildProcess::pump(int64_t wait_ms) {
  if (from_child_fd_ < 0) return std::string("its pipes are already closed");
  const bool sending = send_pos_ < send_.size();
  pollfd fds[2] = {{from_child_fd_, POLLIN, 0}, {to_child_fd_, POLLOUT, 0}};
  const int ready = poll(fds, sending ? 2 : 1, static_cast<int>(wait_ms));
  if (ready < 0 && errno != EINTR) return std::string("poll: ") + std::strerror(errno);
  if (ready <= 0) return std::nullopt;
  if (sending && (fds[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
    const ssize_t written = write(to_child_fd_, send_.data() + send_pos_, send_.size() - send_pos_);
    if (written < 0 && errno != EAGAIN && errno != EINTR) {
      return std::string("it closed its input pipe (stdin): ") + std::strerror(errno);
    }
    if (written > 0) send_pos_ += static_cast<size_t>(written);
    if (send_pos_ == send_.size()) {
      send_.clear();
      send_pos_ = 0;
    }
  }
  if (fds[0].revents & (POLLIN | POLLERR | POLLHUP)) {
    const size_t old_size = recv_.size();
    recv_.resize(old_size + read_chunk_bytes);
    const ssize_t got = read(from_child_fd_, recv_.data() + old_size, read_chunk_bytes);
    recv_.resize(old_size + (got > 0 ? static_cast<size_t>(got) : 0));
    if (got == 0) return std::string("it closed its output (end of file)");
    if (got < 0 && errno != EAGAIN && errno != EINTR) {
      return std::string("read: ") + std::strerror(errno);
    }
  }
  return std::nullopt;
}

std::optional<std::string> ChildProcess::read_line(std::string& line, uint32_t timeout_ms) {
  const int64_t deadline = now_ms() + timeout_ms;
  for (;;) {
    const size_t newline = recv_.find('\n', scan_pos_);
    if (newline != std::string::npos) {
      size_t end = newline;
      if (end > recv_pos_ && recv_[end - 1] == '\r') end--;
      line.assign(recv_, recv_pos_, end - recv_pos_);
      recv_pos_ = scan_pos_ = newline + 1;
      if (recv_pos_ >= read_chunk_bytes || recv_pos_ == recv_.size()) {
        recv_.erase(0, recv_pos_);
        scan_pos_ -= recv_pos_;
        recv_pos_ = 0;
      }
      return std::nullopt;
    }
    scan_pos_ = recv_.size();
    if (recv_.size() - recv_pos_ > child_line_bytes_max) {
      recv_.clear();
      recv_.shrink_to_fit();
      recv_pos_ = scan_pos_ = 0;
      return "it sent a line longer than " + std::to_string(child_line_bytes_max) + " bytes";
    }
    const int64_t left_ms = deadline - now_ms();
    if (left_ms <= 0) return "it sent no complete line for " + std::to_string(timeout_ms) + " ms";
    if (auto error = pump(left_ms)) return error;
  }
}

}  // namespace kv
