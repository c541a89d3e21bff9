// The emulated device's runtime: allocations with shadow words, checked copies, shuffled launches.
#include "gpu/emu_runtime.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <map>
#include <memory>
#include <numeric>

namespace kvemu {

thread_local constinit ThreadIndex current;

namespace detail {

thread_local constinit Running running;

namespace {

constexpr uint64_t kMaxLaunchThreads = uint64_t{1} << 24;
constexpr uint64_t kChunkWords = uint64_t{1} << kChunkWordsLog2;
constexpr uint32_t kBlockRun = 8;  // blocks shuffled within runs of this many
// Freed allocations of at least kSpareMinBytes are kept (up to kSpareMaxBytes of words) and
// reused: fresh host pages cost a page fault each, the main cost of a store's first launches.
constexpr size_t kSpareMinBytes = size_t{64} << 10;
constexpr size_t kSpareMaxBytes = size_t{256} << 20;

struct FreeDeleter {
  void operator()(void* pointer) const { std::free(pointer); }
};

}  // namespace

struct Allocation {
  uintptr_t begin = 0;
  size_t bytes = 0;
  size_t words = 0;  // of memory and shadow (at least bytes / 4: a reused spare may be larger)
  std::string name;
  bool fresh = true;  // all zero since calloc: nothing wrote it yet
  std::unique_ptr<std::byte, FreeDeleter> memory;
  std::unique_ptr<uint32_t, FreeDeleter> shadow;  // one per 4-byte word, calloc'd (lazily zero)
  std::vector<uint8_t> dirty;                     // per chunk of kChunkWords shadow words
  std::vector<uint32_t> dirty_chunks;             // the chunks touched in this launch
  uint64_t written_launch = 0;                    // the last launch that wrote it
};

namespace {

// A freed allocation's memory and shadow (all zero: every launch clears what it touched).
struct Spare {
  std::unique_ptr<std::byte, FreeDeleter> memory;
  std::unique_ptr<uint32_t, FreeDeleter> shadow;
};

struct Device {
  std::map<uintptr_t, Allocation> allocations;  // by first byte
  std::multimap<size_t, Spare> spares;          // by words
  size_t spare_bytes = 0;
  uint64_t live_bytes = 0;
  Faults faults;
  uint64_t launches = 0;
  uint64_t rng = 0x9e3779b97f4a7c15ull;
  uint64_t seed_value = 1;  // the last seed()
  Error pending = success;
  std::string detail;
  // The launch in progress.
  const char* kernel = "";
  Plan plan;
  LaunchStats stats;
  std::vector<Allocation*> touched;  // allocations with dirty shadow chunks in this launch
  // Per kernel (its name's address: hipLaunchKernelGGL passes a string literal), the labels of
  // the allocations its launches have written; a kernel not in the map has never run.
  std::map<const char*, std::vector<std::string>> written_labels;
  std::vector<std::string>* kernel_labels = nullptr;  // this launch's kernel's; null: first launch
};

thread_local Device device;

uint64_t splitmix(uint64_t& state) {  // splitmix64
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t next_random(Device& d) {
  return splitmix(d.rng);
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
  const uint32_t block = flat / d.plan.block_threads;
  const uint32_t thread = flat % d.plan.block_threads;
  return "thread " + std::to_string(flat) + " (block " + std::to_string(block) + ", thread " +
         std::to_string(thread) + " of the block)";
}

std::string describe_word(const Allocation& a, uint64_t word) {
  return "word " + std::to_string(word) + " of allocation '" +
         (a.name.empty() ? std::string("unnamed") : a.name) + "' (" + std::to_string(a.bytes) +
         " bytes)";
}

void forget_windows() {
  std::fill(std::begin(running.windows), std::end(running.windows), Window{});
}

// Clears the shadow chunks this launch touched (the next launch starts from all zero).
void clear_touched(Device& d) {
  for (Allocation* a : d.touched) {
    const uint64_t words = (a->bytes + 3) / 4;
    for (const uint32_t chunk : a->dirty_chunks) {
      const uint64_t first = uint64_t{chunk} * kChunkWords;
      const uint64_t count = std::min(kChunkWords, words - first);
      std::memset(static_cast<void*>(a->shadow.get() + first), 0, count * sizeof(uint32_t));
      a->dirty[chunk] = 0;
    }
    a->dirty_chunks.clear();
  }
  d.touched.clear();
}

std::vector<std::string>& grid_stride_kernels() {
  static std::vector<std::string> names;
  return names;
}

// The grid a launch runs on: a grid-stride kernel asking for 2..16 blocks runs on 1 to one fewer
// than it asks; asking for more, on 1, 2, 3, 4, 7 or 16 blocks 3 launches in 4, on all it asks
// for otherwise (a bug that needs many blocks still shows). The cap is a function of the seed, the
// kernel and the launch's geometry only (not of the launches before it), so a shrunk trace's launch
// runs on the grid it ran on in the longer trace.
dim3 grid_to_run(const Device& d, const char* kernel, dim3 grid, dim3 block) {
  if (grid.x <= 1) return grid;
  const std::vector<std::string>& names = grid_stride_kernels();
  if (std::find(names.begin(), names.end(), kernel) == names.end()) return grid;
  static constexpr uint32_t kCaps[8] = {1, 2, 3, 4, 7, 16, 0, 0};  // 0: as asked
  uint64_t h = d.seed_value ^ 0x9e3779b97f4a7c15ull;
  for (const char* c = kernel; *c != '\0'; c++)
    h = (h ^ static_cast<unsigned char>(*c)) * 0x100000001b3ull;
  h ^= (uint64_t{grid.x} << 32) ^ (uint64_t{grid.y} << 16) ^ block.x;
  const uint64_t draw = splitmix(h);
  // Up to 16 blocks asked: always fewer (each thread then loops at least twice over its items).
  const uint32_t cap =
      grid.x <= 16 ? static_cast<uint32_t>(1 + draw % (grid.x - 1)) : kCaps[draw % 8];
  if (cap != 0) grid.x = std::min(grid.x, cap);
  return grid;
}

uint32_t coprime_step(Device& d, uint32_t n) {
  if (n <= 2) return 1;
  for (;;) {
    const auto step = static_cast<uint32_t>(1 + next_random(d) % (n - 1));
    if (std::gcd(step, n) == 1) return step;
  }
}

}  // namespace

void mark_dirty(Window& window, uint64_t word) {
  Allocation& a = *window.allocation;
  if (a.dirty_chunks.empty()) device.touched.push_back(&a);
  const auto chunk = static_cast<uint32_t>(word >> kChunkWordsLog2);
  window.dirty[chunk] = 1;
  a.dirty_chunks.push_back(chunk);
}

bool race(const Window& window, uint64_t word, bool write, uint32_t shadow) {
  Device& d = device;
  const char* what = (shadow & kWritten) != 0
                         ? (write ? "writes it after" : "reads it after a write by")
                         : "writes it after a read by";
  const std::string others = shadow == kManyReaders ? std::string("several other threads")
                                                    : describe_thread(d, (shadow & ~kWritten) - 1);
  raise(data_race, "kernel " + std::string(d.kernel) + ": data race on " +
                       describe_word(*window.allocation, word) + ": " +
                       describe_thread(d, running.me - 1) + " " + what + " " + others +
                       " in the same launch (launch " + std::to_string(d.launches) + ")");
  running.failed = true;
  return false;
}

bool access_slow(const void* pointer, size_t bytes, bool write) {
  Device& d = device;
  const auto address = reinterpret_cast<uintptr_t>(pointer);
  Allocation* a = find(address, bytes);
  if (a == nullptr) {
    raise(illegal_address, "kernel " + std::string(d.kernel) + ": " +
                               describe_thread(d, running.me - 1) +
                               (write ? " writes " : " reads ") + std::to_string(bytes) +
                               " bytes outside every allocation");
    running.failed = true;
    return false;
  }
  a->fresh = false;
  Window& window = running.windows[running.next_window];
  running.next_window = static_cast<uint8_t>((running.next_window + 1) % kWindows);
  const bool track_reads = d.kernel_labels == nullptr || a->written_launch == d.launches ||
                           std::find(d.kernel_labels->begin(), d.kernel_labels->end(), a->name) !=
                               d.kernel_labels->end();
  window = Window{a->begin,
                  a->bytes,
                  a->shadow.get(),
                  a->dirty.data(),
                  a,
                  track_reads,
                  a->written_launch == d.launches};
  return access(pointer, bytes, write);
}

void first_write(Window& window) {
  Device& d = device;
  Allocation& a = *window.allocation;
  a.written_launch = d.launches;
  for (Window& each : running.windows) {
    if (each.allocation == &a) each.track_reads = each.written = true;
  }
  std::vector<std::string>& labels = d.written_labels[d.kernel];
  if (std::find(labels.begin(), labels.end(), a.name) == labels.end()) labels.push_back(a.name);
}

Plan& start_launch(const char* kernel, dim3 asked_grid, dim3 block) {
  Device& d = device;
  Plan& plan = d.plan;
  plan.ok = false;
  d.kernel = kernel;
  running.failed = false;
  d.launches++;
  forget_windows();  // each launch decides afresh which reads it tracks
  const auto labels = d.written_labels.find(kernel);
  d.kernel_labels = labels == d.written_labels.end() ? nullptr : &labels->second;
  if (d.kernel_labels == nullptr) d.written_labels[kernel];  // it runs now: known from here on
  const uint64_t block_threads = uint64_t{block.x} * block.y * block.z;
  const uint64_t asked_blocks = uint64_t{asked_grid.x} * asked_grid.y * asked_grid.z;
  if (block_threads == 0 || block_threads > 1024 || asked_blocks == 0 || asked_grid.y > 65535 ||
      asked_grid.z > 65535 || asked_blocks * block_threads > kMaxLaunchThreads) {
    raise(invalid_value, "kernel " + std::string(kernel) + ": invalid launch geometry (" +
                             std::to_string(asked_blocks) + " blocks of " +
                             std::to_string(block_threads) + " threads)");
    return plan;
  }
  if (d.launches == d.faults.fail_launch_number) {
    raise(launch_failure, "kernel " + std::string(kernel) + ": injected failure of launch " +
                              std::to_string(d.launches));
    return plan;
  }
  const dim3 grid = grid_to_run(d, kernel, asked_grid, block);
  d.stats.launches++;
  d.stats.max_threads_asked = std::max(d.stats.max_threads_asked, asked_blocks * block_threads);
  d.stats.max_blocks_asked = std::max(d.stats.max_blocks_asked, asked_blocks);
  if (grid.x != asked_grid.x) d.stats.small_grid_launches++;
  plan.grid = grid;
  plan.block = block;
  plan.block_threads = static_cast<uint32_t>(block_threads);
  // Blocks in a seeded order: the block ids rotated by a random amount, forwards or backwards,
  // then shuffled within runs of kBlockRun; each block's threads in a seeded permutation. Races
  // are found from the shadow words whatever the order, so the order only varies which thread of
  // a race runs first, and mostly ascending blocks keep a launch's accesses near each other.
  const auto block_count = static_cast<uint32_t>(uint64_t{grid.x} * grid.y * grid.z);
  plan.block_order.resize(block_count);
  const auto rotation = static_cast<uint32_t>(next_random(d) % block_count);
  const bool backwards = (next_random(d) & 1) != 0;
  for (uint32_t b = 0; b < block_count; b++) {
    const uint32_t rotated = b + rotation < block_count ? b + rotation : b + rotation - block_count;
    plan.block_order[b] = backwards ? block_count - 1 - rotated : rotated;
  }
  for (uint32_t run = 0; run < block_count; run += kBlockRun) {
    shuffle(d, plan.block_order.data() + run, std::min(kBlockRun, block_count - run));
  }
  plan.first.resize(block_count);
  plan.step.resize(block_count);
  for (uint32_t k = 0; k < block_count; k++) {
    plan.first[k] = static_cast<uint32_t>(next_random(d) % plan.block_threads);
    plan.step[k] = coprime_step(d, plan.block_threads);
  }
  current.grid_dim = grid;
  current.block_dim = block;
  plan.ok = true;
  return plan;
}

void enter_block(const Plan& plan, uint32_t block) {
  current.block = dim3(block % plan.grid.x, (block / plan.grid.x) % plan.grid.y,
                       block / (plan.grid.x * plan.grid.y));
}

}  // namespace detail

using detail::Allocation;
using detail::device;
using detail::raise;

void declare_grid_stride(const char* kernel) {
  detail::grid_stride_kernels().emplace_back(kernel);
}

void seed(uint64_t seed) {
  auto& d = device;
  d.rng = seed * 0x9e3779b97f4a7c15ull + 1;
  d.seed_value = seed;
  d.pending = success;
  d.detail.clear();
}

void set_faults(const Faults& faults) {
  device.faults = faults;
}
uint64_t launch_count() {
  return device.launches;
}
LaunchStats launch_stats() {
  return device.stats;
}
void reset_launch_stats() {
  device.stats = LaunchStats{};
}

Error malloc_device(void** pointer, size_t bytes) {
  auto& d = device;
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
  const auto spare = d.spares.lower_bound(words);
  if (spare != d.spares.end() && spare->first <= 2 * words) {
    a.memory = std::move(spare->second.memory);
    a.shadow = std::move(spare->second.shadow);
    a.words = spare->first;
    d.spare_bytes -= spare->first * 4;
    d.spares.erase(spare);
    std::memset(static_cast<void*>(a.memory.get()), 0, words * 4);  // as calloc would give it
  } else {
    a.memory.reset(static_cast<std::byte*>(std::calloc(words, 4)));
    a.shadow.reset(static_cast<uint32_t*>(std::calloc(words, sizeof(uint32_t))));
    a.words = words;
  }
  if (!a.memory || !a.shadow) return raise(out_of_memory, "emulated device: host calloc failed");
  a.dirty.assign((words + detail::kChunkWords - 1) / detail::kChunkWords, 0);
  a.begin = reinterpret_cast<uintptr_t>(a.memory.get());
  a.bytes = bytes;
  d.live_bytes += bytes;
  *pointer = a.memory.get();
  d.allocations.emplace(a.begin, std::move(a));
  return success;
}

Error free_device(void* pointer) {
  auto& d = device;
  if (pointer == nullptr) return success;
  const auto it = d.allocations.find(reinterpret_cast<uintptr_t>(pointer));
  if (it == d.allocations.end()) {
    return raise(invalid_device_pointer, "hipFree: pointer is not the start of an allocation");
  }
  Allocation& a = it->second;
  d.live_bytes -= a.bytes;
  const bool clean = std::erase(d.touched, &a) == 0;  // no shadow word left set
  if (clean && a.bytes >= detail::kSpareMinBytes &&
      d.spare_bytes + a.words * 4 <= detail::kSpareMaxBytes) {
    d.spare_bytes += a.words * 4;
    d.spares.emplace(a.words, detail::Spare{std::move(a.memory), std::move(a.shadow)});
  }
  d.allocations.erase(it);
  detail::forget_windows();
  return success;
}

Error memcpy_any(void* target, const void* source, size_t bytes) {
  if (bytes == 0) return success;
  if (target == nullptr || source == nullptr)
    return raise(invalid_value, "hipMemcpy: null pointer");
  // A pointer inside an allocation must have the whole range inside it (host memory is unchecked).
  for (const void* pointer : {static_cast<const void*>(target), source}) {
    const auto address = reinterpret_cast<uintptr_t>(pointer);
    if (detail::find(address, 1) != nullptr && detail::find(address, bytes) == nullptr) {
      return raise(invalid_value, "hipMemcpy: " + std::to_string(bytes) +
                                      " bytes run past the end of a device allocation");
    }
  }
  if (Allocation* a = detail::find(reinterpret_cast<uintptr_t>(target), bytes)) a->fresh = false;
  std::memmove(target, source, bytes);
  return success;
}

Error memset_device(void* target, int value, size_t bytes) {
  if (bytes == 0) return success;
  Allocation* a = detail::find(reinterpret_cast<uintptr_t>(target), bytes);
  if (a == nullptr) {
    return raise(invalid_value, "hipMemset: range is not inside one device allocation");
  }
  if (value == 0 && a->fresh) return success;  // calloc'd and never written: already zero
  a->fresh = false;
  std::memset(target, value, bytes);
  return success;
}

Error get_last_error() {
  auto& d = device;
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
  if (Allocation* a = detail::find(reinterpret_cast<uintptr_t>(pointer), 1)) a->name = name;
}

std::vector<uint32_t> begin_launch(const char* kernel, dim3 grid, dim3 block) {
  const detail::Plan& plan = detail::start_launch(kernel, grid, block);
  std::vector<uint32_t> order;
  if (!plan.ok) return order;
  const uint32_t n = plan.block_threads;
  order.reserve(plan.block_order.size() * n);
  for (size_t k = 0; k < plan.block_order.size(); k++) {
    uint32_t t = plan.first[k];
    for (uint32_t j = 0; j < n; j++) {
      order.push_back(plan.block_order[k] * n + t);
      t += plan.step[k];
      if (t >= n) t -= n;
    }
  }
  return order;
}

void end_launch() {
  auto& d = device;
  detail::clear_touched(d);
  d.kernel = "";
}

}  // namespace kvemu
