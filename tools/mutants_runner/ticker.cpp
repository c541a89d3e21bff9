// The terminal status line's thread.
#include "ticker.hpp"

#include <unistd.h>

#include <cassert>
#include <chrono>
#include <cstdio>

namespace mutants {

Ticker::Ticker(std::string label) : label_(std::move(label)) {
  if (isatty(1)) thread_ = std::thread([this] { loop(); });
}

Ticker::~Ticker() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
  std::printf("\r\033[K");
  std::fflush(stdout);
}

void Ticker::loop() {
  const auto start = std::chrono::steady_clock::now();
  std::unique_lock lock(mutex_);
  constexpr long max_ticks = 24L * 3600 / 2;  // a day; nothing runs that long
  for (long tick = 1; tick <= max_ticks; tick++) {
    if (wake_.wait_until(lock, start + std::chrono::seconds(2 * tick), [this] { return stop_; }))
      return;
    const auto s =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - start);
    std::printf("\r\033[K%s... %lld s", label_.c_str(), static_cast<long long>(s.count()));
    std::fflush(stdout);
  }
}

}  // namespace mutants
