// Backends `hip-emu` and `hip`: the optimized cache over gpu/'s HipPageStore (emulated or real).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "backends/host_backend.hpp"
#include "gpu/device_store.hpp"

namespace kv {

// The host backend's cache over a device page store. Each op's writes and copies are flushed as
// one batch when the op (or decode step) ends; a failed device call becomes fault().
class HipBackend final : public HostBackend {
 public:
  HipBackend(const Config& config, std::unique_ptr<kvgpu::DevicePageStore> store, std::string name)
      : HipBackend(config, store.get(), std::move(store), std::move(name)) {}

  OpResult apply(const Op& op, Tick tick) override;
  std::optional<std::string> fault() const override;

 private:
  HipBackend(const Config& config, kvgpu::DevicePageStore* device,
             std::unique_ptr<kvgpu::DevicePageStore>&& store, std::string name)
      : HostBackend(config, std::move(store), std::move(name)), device_(device) {}

  kvgpu::DevicePageStore* device_;  // owned by HostBackend
};

// The emulated device's shuffle seed: KV_EMU_SEED from the environment, else 1.
uint64_t emu_seed();

}  // namespace kv
