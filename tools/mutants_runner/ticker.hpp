// The terminal's status line: "LABEL... N s", rewritten every 2 s while something builds or runs.
#pragma once

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

namespace mutants {

// Shows LABEL while it lives, on a terminal only; clears the line when it ends.
class Ticker {
 public:
  explicit Ticker(std::string label);
  ~Ticker();
  Ticker(const Ticker&) = delete;
  Ticker& operator=(const Ticker&) = delete;

 private:
  void loop();
  std::string label_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace mutants
