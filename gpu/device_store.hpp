// DevicePageStore: the PageStore on a GPU (or the emulated one), with batching and error values.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "impl/kvcache.hpp"

namespace kvgpu {

// HipPageStore's interface (the class itself lives in gpu/hip_page_store.hip). Writes and copies
// are queued and run at flush(): one copy launch (every copy-on-write pair) and one write launch
// per flush, so one per op or decode step. gather() flushes first.
// A failed device call does not throw or abort: the first one is kept as error() (the call, its
// error string and the emulator's detail), and every later call does nothing.
class DevicePageStore : public kvcache::PageStore {
 public:
  // Runs the queued copies, then the queued writes, and waits for them.
  virtual void flush() = 0;
  // The first failed device call, e.g. "hipMalloc(pool, 4096 bytes): out of memory".
  virtual const std::optional<std::string>& error() const = 0;
  // Kernel launches so far (tests check the batching with it).
  virtual uint64_t launch_count() const = 0;
  // Kernel time, measured with events around each launch while timing is on (benchmarks).
  struct KernelTimes {
    double write_ms = 0, copy_ms = 0, gather_ms = 0;
  };
  virtual void set_kernel_timing(bool on) = 0;
  virtual const KernelTimes& kernel_times() const = 0;
};

// The store on the emulated device (always built). `seed` orders every launch's threads; the
// emulated device belongs to the calling host thread.
std::unique_ptr<DevicePageStore> make_emu_page_store(const kvcache::Config& config, uint64_t seed);

// The store on the real device. Only in builds with a GPU toolchain (KV_HAVE_GPU_DEVICE).
std::unique_ptr<DevicePageStore> make_device_page_store(const kvcache::Config& config);
// Why there is no usable device ("" when there is one): the runtime's own message.
std::string device_problem();
// The device's name ("" without one).
std::string device_name();

}  // namespace kvgpu
