// Backends `hip-emu` and `hip`: one flush per op, device failures reported as faults.
#include "backends/hip_backend.hpp"

#include <cstdlib>

namespace kv {

OpResult HipBackend::apply(const Op& op, Tick tick) {
  OpResult result = HostBackend::apply(op, tick);
  device_->flush();
  return result;
}

std::optional<std::string> HipBackend::fault() const {
  const std::optional<std::string>& error = device_->error();
  if (!error) return std::nullopt;
  return "device error in backend " + std::string(name()) + ": " + *error;
}

uint64_t emu_seed() {
  const char* text = std::getenv("KV_EMU_SEED");
  if (text == nullptr || *text == '\0') return 1;
  return std::strtoull(text, nullptr, 10);
}

}  // namespace kv
