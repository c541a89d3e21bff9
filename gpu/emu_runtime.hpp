// The emulated device: a CPU runtime with HIP's calls (host memory, memcpy copies, kernels run
// thread by thread in a seeded shuffled order: blocks shuffled, each block's threads shuffled)
// that checks every kernel memory access.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace kvemu {

struct dim3 {
  uint32_t x = 1, y = 1, z = 1;
  constexpr dim3(uint32_t x_ = 1, uint32_t y_ = 1, uint32_t z_ = 1) : x(x_), y(y_), z(z_) {}
};

// HIP's codes for the errors the emulator produces (same numbers as HIP 5.x).
enum Error : int {
  success = 0,
  invalid_value = 1,
  out_of_memory = 2,
  invalid_device_pointer = 17,
  illegal_address = 700,
  launch_failure = 719,
  data_race = 999,  // the emulator's own: two threads of one launch race on a word
};

// Limits a test can set to exercise the error paths (set_faults(Faults{}) clears them).
struct Faults {
  uint64_t memory_limit_bytes = uint64_t{1} << 40;  // hipMalloc fails past this many live bytes
  uint64_t fail_launch_number = 0;                  // 1-based launch that fails; 0: none
};

// Per host thread: each host thread has its own emulated device.
void seed(uint64_t seed);  // restarts the shuffle sequence and clears the pending error
void set_faults(const Faults& faults);
uint64_t launch_count();

Error malloc_device(void** pointer, size_t bytes);
Error free_device(void* pointer);
Error memcpy_any(void* target, const void* source, size_t bytes);  // either side may be host
Error memset_device(void* target, int value, size_t bytes);
Error get_last_error();  // returns and clears the pending error (like hipGetLastError)
const char* error_string(Error error);
// The emulator's detail for the last error it raised (kernel, thread, word), or "".
std::string last_error_detail();
// Names an allocation in race and address reports ("pool", "slots", ...).
void label(const void* pointer, const char* name);

// ---- kernel execution ---------------------------------------------------------------------

struct ThreadIndex {
  dim3 thread, block, block_dim, grid_dim;
};
extern thread_local ThreadIndex current;

// Starts a launch: checks the geometry, shuffles the thread order. Returns the order (flat thread
// ids) to run, empty when the launch fails (the error is pending for get_last_error).
const std::vector<uint32_t>& begin_launch(const char* kernel, dim3 grid, dim3 block);
void enter_thread(uint32_t flat_thread);  // sets `current` for that thread
void end_launch();
bool launch_failed();  // a finding during this launch: stop running its threads

template <class Body>
void launch(const char* kernel, dim3 grid, dim3 block, Body&& body) {
  const std::vector<uint32_t>& order = begin_launch(kernel, grid, block);
  for (const uint32_t flat_thread : order) {
    enter_thread(flat_thread);
    body();
    if (launch_failed()) break;
  }
  end_launch();
}

// Checked device memory access from a kernel thread. False (and the access must not happen)
// when the address is outside every allocation or the access races with another thread.
bool access(const void* pointer, size_t bytes, bool write);

}  // namespace kvemu
