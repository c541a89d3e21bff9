// The emulated device's runtime: allocations with shadow words, checked copies, shuffled launches.
#include "gpu/emu_runtime.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <map>
#include <memory>

namespace kvemu {

thread_local ThreadIndex current;

namespace {

constexpr uint32_t kNoThread = 0;              // shadow writer/reader: nobody (threads are id + 1)
constexpr uint32_t kManyReaders = UINT32_MAX;  // shadow reader: two or more threads
constexpr uint64_t kMaxLaunchThreads = uint64_t{1} << 24;

// One 4-byte word's accesses during the launch numbered `epoch` (stale epochs mean untouched).
struct Shadow {
  uint32_t epoch, writer, reader;
};

struct FreeDeleter {
  void operator()(void* pointer) const { std::free(pointer); }
};

struct Allocation {
  uintptr_t begin = 0;
  size_t bytes = 0;
  std::string name;
  std::unique_ptr<std::byte, FreeDeleter> memory;
  std::unique_ptr<Shadow, FreeDeleter> shadow;  // one per 4-byte word, calloc'd (lazily zero)
};

struct Device {
  std::map<uintptr_t, Allocation> allocations;  // by first byte
  Allocation* recent[4] = {};                   // most recently used first, for kernel accesses
  uint64_t live_bytes = 0;
  Faults faults;
  uint64_t launches = 0;
  uint64_t rng = 0x9e3779b97f4a7c15ull;
  Error pending = success;
  std::string detail;
  // The launch in progress.
  const char* kernel = "";
  dim3 grid, block;
  uint32_t block_threads = 1;
  uint32_t epoch = 0;
  uint32_t thread = 0;  // flat id of the running thread
  bool failed = false;
  std::vector<uint32_t> order;
  std::vector<uint32_t> block_order;
};

thread_local Device device;

uint64_t next_random(Device& d) {  // splitmix64
  uint64_t z = (d.rng += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

void shuffle(Device& d, uint32_t* items, uint32_t count) {  // Fisher-Yates
  for (uint32_t i = count; i > 1; i--) {
    const auto j = static_cast<uint32_t>(next_random(d) % i);
    std::swap(items[i - 1], items[j]);
  }
}

Error raise(Error error, std::string detail) {
  Device& d = device;
  if (d.pending == success) {
    d.pending = error;
    d.detail = std::move(detail);
  }
  return error;
}

Allocation* find(uintptr_t address, size_t bytes) {
  Device& d = device;
  auto it = d.allocations.upper_bound(address);
  if (it == d.allocations.begin()) return nullptr;
  --it;
  Allocation& a = it->second;
  if (address < a.begin || address + bytes > a.begin + a.bytes) return nullptr;
  return &a;
}

std::string describe_thread(const Device& d, uint32_t flat) {
  const uint32_t block = flat / d.block_threads;
  const uint32_t thread = flat % d.block_threads;
  return "thread " + std::to_string(flat) + " (block " + std::to_string(block) + ", thread " +
         std::to_string(thread) + " of the block)";
}

std::string describe_word(const Allocation& a, uint64_t word) {
  return "word " + std::to_string(word) + " of allocation '" +
         (a.name.empty() ? std::string("unnamed") : a.name) + "' (" + std::to_string(a.bytes) +
         " bytes)";
}

bool race(Device& d, const Allocation& a, uint64_t word, const char* what, uint32_t other) {
  const std::string others =
      other == kManyReaders ? std::string("several other threads") : describe_thread(d, other - 1);
  raise(data_race, "kernel " + std::string(d.kernel) + ": data race on " + describe_word(a, word) +
                       ": " + describe_thread(d, d.thread) + " " + what + " " + others +
                       " in the same launch (launch " + std::to_string(d.launches) + ")");
  d.failed = true;
  return false;
}

bool check_word(Device& d, const Allocation& a, uint64_t word, bool write) {
  Shadow& s = a.shadow.get()[word];
  const uint32_t me = d.thread + 1;
  if (s.epoch != d.epoch) {
    s = Shadow{d.epoch, write ? me : kNoThread, write ? kNoThread : me};
    return true;
  }
  if (s.writer != kNoThread && s.writer != me) {
    return race(d, a, word, write ? "writes it after" : "reads it after a write by", s.writer);
  }
  if (write) {
    if (s.reader != kNoThread && s.reader != me) {
      return race(d, a, word, "writes it after a read by", s.reader);
    }
    s.writer = me;
  } else {
    s.reader = (s.reader == kNoThread || s.reader == me) ? me : kManyReaders;
  }
  return true;
}

void forget_recent(Device& d) {
  std::fill(std::begin(d.recent), std::end(d.recent), nullptr);
}

}  // namespace

void seed(uint64_t seed) {
  Device& d = device;
  d.rng = seed * 0x9e3779b97f4a7c15ull + 1;
  d.pending = success;
  d.detail.clear();
}

void set_faults(const Faults& faults) {
  device.faults = faults;
}
uint64_t launch_count() {
  return device.launches;
}

Error malloc_device(void** pointer, size_t bytes) {
  Device& d = device;
  if (pointer == nullptr) return raise(invalid_value, "hipMalloc: null result pointer");
  *pointer = nullptr;
  if (bytes == 0) return success;
  if (bytes > d.faults.memory_limit_bytes - std::min(d.live_bytes, d.faults.memory_limit_bytes)) {
    return raise(out_of_memory, "emulated device: " + std::to_string(bytes) + " bytes requested, " +
                                    std::to_string(d.live_bytes) + " of the limit " +
                                    std::to_string(d.faults.memory_limit_bytes) + " in use");
  }
  Allocation a;
  const size_t words = (bytes + 3) / 4;
  a.memory.reset(static_cast<std::byte*>(std::calloc(words, 4)));
  a.shadow.reset(static_cast<Shadow*>(std::calloc(words, sizeof(Shadow))));
  if (!a.memory || !a.shadow) return raise(out_of_memory, "emulated device: host calloc failed");
  a.begin = reinterpret_cast<uintptr_t>(a.memory.get());
  a.bytes = bytes;
  d.live_bytes += bytes;
  *pointer = a.memory.get();
  d.allocations.emplace(a.begin, std::move(a));
  return success;
}

Error free_device(void* pointer) {
  Device& d = device;
  if (pointer == nullptr) return success;
  const auto it = d.allocations.find(reinterpret_cast<uintptr_t>(pointer));
  if (it == d.allocations.end()) {
    return raise(invalid_device_pointer, "hipFree: pointer is not the start of an allocation");
  }
  d.live_bytes -= it->second.bytes;
  d.allocations.erase(it);
  forget_recent(d);
  return success;
}

Error memcpy_any(void* target, const void* source, size_t bytes) {
  if (bytes == 0) return success;
  if (target == nullptr || source == nullptr)
    return raise(invalid_value, "hipMemcpy: null pointer");
  // A pointer inside an allocation must have the whole range inside it (host memory is unchecked).
  for (const void* pointer : {static_cast<const void*>(target), source}) {
    const auto address = reinterpret_cast<uintptr_t>(pointer);
    if (find(address, 1) != nullptr && find(address, bytes) == nullptr) {
      return raise(invalid_value, "hipMemcpy: " + std::to_string(bytes) +
                                      " bytes run past the end of a device allocation");
    }
  }
  std::memmove(target, source, bytes);
  return success;
}

Error memset_device(void* target, int value, size_t bytes) {
  if (bytes == 0) return success;
  if (find(reinterpret_cast<uintptr_t>(target), bytes) == nullptr) {
    return raise(invalid_value, "hipMemset: range is not inside one device allocation");
  }
  std::memset(target, value, bytes);
  return success;
}

Error get_last_error() {
  Device& d = device;
  const Error error = d.pending;
  d.pending = success;
  return error;
}

const char* error_string(Error error) {
  switch (error) {
    case success:
      return "no error";
    case invalid_value:
      return "invalid argument";
    case out_of_memory:
      return "out of memory";
    case invalid_device_pointer:
      return "invalid device pointer";
    case illegal_address:
      return "an illegal memory access was encountered";
    case launch_failure:
      return "unspecified launch failure";
    case data_race:
      return "data race between threads of one launch (emulated device)";
  }
  return "unknown error";
}

std::string last_error_detail() {
  return device.detail;
}

void label(const void* pointer, const char* name) {
  if (Allocation* a = find(reinterpret_cast<uintptr_t>(pointer), 1)) a->name = name;
}

const std::vector<uint32_t>& begin_launch(const char* kernel, dim3 grid, dim3 block) {
  Device& d = device;
  d.order.clear();
  d.kernel = kernel;
  d.failed = false;
  d.launches++;
  const uint64_t block_threads = uint64_t{block.x} * block.y * block.z;
  const uint64_t blocks = uint64_t{grid.x} * grid.y * grid.z;
  if (block_threads == 0 || block_threads > 1024 || blocks == 0 || grid.y > 65535 ||
      grid.z > 65535 || blocks * block_threads > kMaxLaunchThreads) {
    raise(invalid_value, "kernel " + std::string(kernel) + ": invalid launch geometry (" +
                             std::to_string(blocks) + " blocks of " +
                             std::to_string(block_threads) + " threads)");
    return d.order;
  }
  if (d.launches == d.faults.fail_launch_number) {
    raise(launch_failure, "kernel " + std::string(kernel) + ": injected failure of launch " +
                              std::to_string(d.launches));
    return d.order;
  }
  if (++d.epoch == 0) {  // wrapped: forget every old access, restart at 1
    for (auto& [begin, a] : d.allocations) {
      std::memset(static_cast<void*>(a.shadow.get()), 0, (a.bytes + 3) / 4 * sizeof(Shadow));
    }
    d.epoch = 1;
  }
  d.grid = grid;
  d.block = block;
  d.block_threads = static_cast<uint32_t>(block_threads);
  // Blocks in a shuffled order, each block's threads in a shuffled order (a block's threads stay
  // together, so a launch keeps some memory locality; races are found from the shadow words
  // whatever the order).
  const auto block_count = static_cast<uint32_t>(blocks);
  d.block_order.resize(block_count);
  for (uint32_t b = 0; b < block_count; b++) d.block_order[b] = b;
  shuffle(d, d.block_order.data(), block_count);
  d.order.resize(block_count * block_threads);
  uint32_t* next = d.order.data();
  for (const uint32_t b : d.block_order) {
    for (uint32_t t = 0; t < block_threads; t++) next[t] = b * d.block_threads + t;
    shuffle(d, next, d.block_threads);
    next += block_threads;
  }
  current.grid_dim = grid;
  current.block_dim = block;
  return d.order;
}

void enter_thread(uint32_t flat_thread) {
  Device& d = device;
  d.thread = flat_thread;
  const uint32_t block = flat_thread / d.block_threads;
  const uint32_t thread = flat_thread % d.block_threads;
  current.block =
      dim3(block % d.grid.x, (block / d.grid.x) % d.grid.y, block / (d.grid.x * d.grid.y));
  current.thread =
      dim3(thread % d.block.x, (thread / d.block.x) % d.block.y, thread / (d.block.x * d.block.y));
}

void end_launch() {
  device.kernel = "";
}
bool launch_failed() {
  return device.failed;
}

bool access(const void* pointer, size_t bytes, bool write) {
  Device& d = device;
  const auto address = reinterpret_cast<uintptr_t>(pointer);
  Allocation* a = nullptr;
  for (size_t i = 0; i < std::size(d.recent) && a == nullptr; i++) {
    Allocation* each = d.recent[i];
    if (each != nullptr && address >= each->begin && address + bytes <= each->begin + each->bytes) {
      a = each;
      std::rotate(d.recent, d.recent + i, d.recent + i + 1);  // to the front
    }
  }
  if (a == nullptr) {
    a = find(address, bytes);
    if (a == nullptr) {
      raise(illegal_address, "kernel " + std::string(d.kernel) + ": " +
                                 describe_thread(d, d.thread) + (write ? " writes " : " reads ") +
                                 std::to_string(bytes) + " bytes outside every allocation");
      d.failed = true;
      return false;
    }
    std::rotate(d.recent, d.recent + std::size(d.recent) - 1, d.recent + std::size(d.recent));
    d.recent[0] = a;
  }
  const uint64_t first = (address - a->begin) / 4;
  const uint64_t last = (address + bytes - 1 - a->begin) / 4;
  for (uint64_t word = first; word <= last; word++) {
    if (!check_word(d, *a, word, write)) return false;
  }
  return true;
}

}  // namespace kvemu
