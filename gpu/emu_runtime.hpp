// The emulated device: a CPU runtime with HIP's calls (host memory, memcpy copies, kernels run
// thread by thread in a seeded shuffled order: blocks shuffled, each block's threads permuted)
// that checks every kernel memory access.
//
// Speed: a kernel access is checked inline (access() below): a window cache of the allocations
// the launch uses, and one 32-bit shadow word per device word (who wrote or read it in this
// launch). Only the 4 KiB shadow chunks a launch touches are cleared when it ends, so a launch
// costs what it touches, not what is allocated. Every write is checked, and every read of an
// allocation the launch writes; reads of an allocation that no thread of the launch writes are
// checked only for bounds (nothing can race with them), except where the kernel (by name) writes
// that allocation (by label) for the first time: that launch checks its reads only from the
// first write on. A kernel's first launch checks everything.
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

// What the launches so far asked for (reset_launch_stats() starts over): the reach tests check
// that the properties drive the kernels past a block, a small grid and 65,535 threads.
struct LaunchStats {
  uint64_t launches = 0;
  uint64_t max_threads_asked = 0;    // grid x block of the largest launch
  uint64_t small_grid_launches = 0;  // run on fewer blocks than asked (declare_grid_stride)
  uint64_t max_blocks_asked = 0;
};
LaunchStats launch_stats();
void reset_launch_stats();

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
extern thread_local constinit ThreadIndex current;

namespace detail {

inline constexpr uint32_t kWritten = uint32_t{1} << 30;      // shadow: written by the thread in it
inline constexpr uint32_t kManyReaders = uint32_t{1} << 31;  // shadow: read by two or more threads
inline constexpr uint32_t kChunkWordsLog2 = 10;              // shadow cleared in 4 KiB chunks

struct Allocation;

// An allocation a launch is using: its bytes, shadow words and touched-chunk flags.
struct Window {
  uintptr_t begin = 0;
  size_t bytes = 0;  // 0: an empty window, matches nothing
  uint32_t* shadow = nullptr;
  uint8_t* dirty = nullptr;  // per shadow chunk: touched in this launch
  Allocation* allocation = nullptr;
  // Whether reads are checked and recorded. Not while the allocation is read-only so far in a
  // launch whose kernel never wrote an allocation of this name before (and the kernel ran
  // before): nothing can race with those reads unless a thread writes the allocation later in
  // the launch, and the first such write turns read tracking on for the rest of the launch.
  bool track_reads = true;
  bool written = false;  // a thread of this launch wrote the allocation
};

inline constexpr size_t kWindows = 4;

// The running launch's state that the inline access path reads and writes.
struct Running {
  Window windows[kWindows] = {};
  // Per kind of access (read or write, by size), the window that served the last one: a kernel's
  // call sites mostly keep to one allocation each, so this is usually the only window compared.
  // Two per kind: a kernel may read two allocations with accesses of one size (gather: the
  // block table and the pool).
  uint8_t hint[2][4][2] = {};
  uint32_t me = 0;  // running thread's flat id + 1
  bool failed = false;
  uint8_t next_window = 0;
};
extern thread_local constinit Running running;

// The launch plan: blocks in a shuffled order; within block k, thread t_j = (first_k + j * step_k)
// mod block_threads with step_k coprime to block_threads (a seeded permutation per block).
struct Plan {
  bool ok = false;
  dim3 grid, block;
  uint32_t block_threads = 1;
  std::vector<uint32_t> block_order;
  std::vector<uint32_t> first, step;  // per position in block_order
};

Plan& start_launch(const char* kernel, dim3 grid, dim3 block);
void enter_block(const Plan& plan, uint32_t block);
bool access_slow(const void* pointer, size_t bytes, bool write);
void first_write(Window& window);
void mark_dirty(Window& window, uint64_t word);
bool race(const Window& window, uint64_t word, bool write, uint32_t shadow);

// Runs block `block`'s threads in the plan's order for position k. False when the launch failed.
template <bool kOneDimensional, class Body>
bool run_block(const Plan& plan, size_t k, Body& body) {
  const uint32_t n = plan.block_threads;
  const uint32_t step = plan.step[k];
  const uint32_t base = plan.block_order[k] * n + 1;
  uint32_t t = plan.first[k];
  for (uint32_t j = 0; j < n; j++) {
    running.me = base + t;
    if constexpr (kOneDimensional) {
      current.thread.x = t;
    } else {
      current.thread = dim3(t % plan.block.x, (t / plan.block.x) % plan.block.y,
                            t / (plan.block.x * plan.block.y));
    }
    body();
    if (running.failed) return false;
    t += step;
    if (t >= n) t -= n;
  }
  return true;
}

constexpr size_t hint_of(size_t bytes) {
  return bytes <= 4 ? 0 : (bytes <= 8 ? 1 : (bytes <= 16 ? 2 : 3));
}

[[gnu::always_inline]] inline bool check_word(Window& window, uint64_t word, bool write) {
  uint32_t& shadow = window.shadow[word];
  const uint32_t me = running.me;
  if (shadow == 0) {
    if (window.dirty[word >> kChunkWordsLog2] == 0) mark_dirty(window, word);
    shadow = write ? (me | kWritten) : me;
    return true;
  }
  if ((shadow & ~kWritten) == me) {  // this thread's own word
    if (write) shadow = me | kWritten;
    return true;
  }
  if (write || (shadow & kWritten) != 0) return race(window, word, write, shadow);
  shadow = kManyReaders;
  return true;
}

}  // namespace detail

// Declares a kernel (by the name hipLaunchKernelGGL gives it) a grid-stride kernel: one that
// covers its items whatever gridDim.x is. Its launches then run on a seeded grid of at most a few
// blocks now and then, gridDim.x saying so (a real GPU also runs some launches with fewer blocks
// than items need), so its grid-stride loops run more than once per thread on any launch larger
// than that grid; the rest of its launches keep the grid they asked for. Call it before the
// first launch (at static initialisation), from one host thread.
void declare_grid_stride(const char* kernel);

// Starts a launch and returns the order it runs threads in (flat thread ids), empty when the
// launch fails (the error is pending for get_last_error). For tests: launch() runs this order.
std::vector<uint32_t> begin_launch(const char* kernel, dim3 grid, dim3 block);
void end_launch();

template <class Body>
void launch(const char* kernel, dim3 grid, dim3 block, Body&& body) {
  const detail::Plan& plan = detail::start_launch(kernel, grid, block);
  if (plan.ok) {
    const bool one_dimensional = plan.block.y == 1 && plan.block.z == 1;
    for (size_t k = 0; k < plan.block_order.size(); k++) {
      detail::enter_block(plan, plan.block_order[k]);
      if (one_dimensional ? !detail::run_block<true>(plan, k, body)
                          : !detail::run_block<false>(plan, k, body)) {
        break;
      }
    }
  }
  end_launch();
}

// Checked device memory access from a kernel thread. False (and the access must not happen)
// when the address is outside every allocation or the access races with another thread.
namespace detail {

[[gnu::always_inline]] inline bool access_in(Window& window, uintptr_t offset, size_t bytes,
                                             bool write) {
  if (!window.written) {
    if (write) {
      first_write(window);
    } else if (!window.track_reads) {
      return true;
    }
  }
  const uint64_t first = offset / 4;
  const uint64_t last = (offset + bytes - 1) / 4;
  for (uint64_t word = first; word <= last; word++) {
    if (!check_word(window, word, write)) return false;
  }
  return true;
}

[[gnu::always_inline]] inline bool inside(const Window& window, uintptr_t offset, size_t bytes) {
  return offset < window.bytes && bytes <= window.bytes - offset;
}

}  // namespace detail

[[gnu::always_inline]] inline bool access(const void* pointer, size_t bytes, bool write) {
  const auto address = reinterpret_cast<uintptr_t>(pointer);
  uint8_t* hint = detail::running.hint[write][detail::hint_of(bytes)];
  detail::Window& first = detail::running.windows[hint[0]];
  if (detail::inside(first, address - first.begin, bytes)) {
    return detail::access_in(first, address - first.begin, bytes, write);
  }
  detail::Window& second = detail::running.windows[hint[1]];
  if (detail::inside(second, address - second.begin, bytes)) {
    return detail::access_in(second, address - second.begin, bytes, write);
  }
  for (uint8_t i = 0; i < detail::kWindows; i++) {
    detail::Window& window = detail::running.windows[i];
    const uintptr_t offset = address - window.begin;
    if (detail::inside(window, offset, bytes)) {
      hint[1] = hint[0];
      hint[0] = i;
      return detail::access_in(window, offset, bytes, write);
    }
  }
  return detail::access_slow(pointer, bytes, write);
}

}  // namespace kvemu
