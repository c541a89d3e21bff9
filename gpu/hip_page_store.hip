// HipPageStore: the page pool in one device allocation, device block tables, and the kernels for
// the three data movements (write through a slot mapping, copy pages, gather through a table).
// One source for hipcc, nvcc and the emulated device (gpu/vendor.hpp).
#include "gpu/vendor.hpp"
// (vendor.hpp first: it settles KV_HOST_DEVICE before impl/layout.hpp)
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <string>
#include <vector>

#include "gpu/device_store.hpp"
#include "impl/check.hpp"

namespace kvgpu {
namespace {

using kvcache::PageDivider;
using kvcache::PageId;
using kvcache::PoolLayout;

constexpr uint32_t kBlockThreads = 256;
constexpr uint32_t kMaxBlocks = 4096;           // more work than this loops (grid stride)
constexpr uint32_t kMaxPairsPerLaunch = 65535;  // one grid row (grid.y) per copy pair
constexpr size_t kTableCacheEntries = 64;       // device block tables kept, least recently used out
constexpr uint64_t kMaxPendingWords = uint64_t{1} << 26;  // queued token words before a flush

struct CopyPair {
  uint32_t src, dst, slot_count;
};

struct Geometry {
  dim3 grid, block;
};

// `work_items` per grid row, `rows` rows; 256 threads per block, fewer for a smaller launch (a
// decode step's few words: idle threads cost nothing on a GPU but time on the emulated device).
Geometry geometry(uint64_t work_items, uint32_t rows) {
  const uint64_t threads = std::max<uint64_t>(1, std::min<uint64_t>(kBlockThreads, work_items));
  const uint64_t blocks = std::min<uint64_t>(kMaxBlocks, (work_items + threads - 1) / threads);
  return Geometry{dim3(static_cast<uint32_t>(blocks), rows), dim3(static_cast<uint32_t>(threads))};
}

// ---- kernels ----------------------------------------------------------------------------------

// Thread i writes word i % token_words of token i / token_words to its slot's place in the pool.
__global__ void write_tokens_kernel(uint32_t* pool, const uint64_t* slots, const uint32_t* words,
                                    uint64_t token_count, PageDivider divider, PoolLayout layout) {
  const uint64_t token_words = layout.token_words();
  const uint64_t total = token_count * token_words;
  const uint64_t stride = uint64_t{gridDim.x} * blockDim.x;
  for (uint64_t i = uint64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < total; i += stride) {
    const uint64_t slot = kv_load(slots + i / token_words);
    const auto word = static_cast<uint32_t>(i % token_words);
    const uint64_t target =
        layout.token_word_offset(divider.page(slot), divider.offset(slot), word);
    kv_store(pool + target, kv_load(words + i));
  }
}

// Grid row y copies pair y: slots [0, slot_count) of every (layer, K|V) block of src into dst.
__global__ void copy_pages_kernel(uint32_t* pool, const CopyPair* pairs, PoolLayout layout) {
  const CopyPair pair = kv_load(pairs + blockIdx.y);
  const uint64_t run_words = uint64_t{pair.slot_count} * layout.vector_words;  // per block
  const uint64_t total = uint64_t{layout.layers} * 2 * run_words;
  const uint64_t stride = uint64_t{gridDim.x} * blockDim.x;
  for (uint64_t i = uint64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < total; i += stride) {
    const auto block = static_cast<uint32_t>(i / run_words);  // layer * 2 + kv
    const uint64_t within = i % run_words;
    const uint64_t source = layout.block_offset(pair.src, block / 2, block % 2) + within;
    kv_store(pool + layout.block_offset(pair.dst, block / 2, block % 2) + within,
             kv_load(pool + source));
  }
}

// Thread i reads word i % token_words of token i / token_words through the block table.
__global__ void gather_kernel(uint32_t* out, const uint32_t* pool, const PageId* table,
                              uint64_t token_count, PageDivider divider, PoolLayout layout) {
  const uint64_t token_words = layout.token_words();
  const uint64_t total = token_count * token_words;
  const uint64_t stride = uint64_t{gridDim.x} * blockDim.x;
  for (uint64_t i = uint64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < total; i += stride) {
    const uint64_t token = i / token_words;
    const PageId page = kv_load(table + divider.page(token));
    const auto word = static_cast<uint32_t>(i % token_words);
    kv_store(out + i, kv_load(pool + layout.token_word_offset(page, divider.offset(token), word)));
  }
}

// ---- host side --------------------------------------------------------------------------------

// A device allocation that only grows (geometrically), freed with its owner.
template <class T>
struct DeviceBuffer {
  T* data = nullptr;
  uint64_t capacity = 0;
  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() {
    if (data != nullptr) (void)hipFree(data);  // nothing to report to at destruction
  }
};

// A block table on the device and the host's copy of what it holds.
struct DeviceTable {
  const PageId* key = nullptr;  // the cache's table storage it mirrors
  std::vector<PageId> mirror;
  DeviceBuffer<PageId> buffer;
  uint64_t last_use = 0;
};

class HipPageStore final : public DevicePageStore {
 public:
  explicit HipPageStore(const kvcache::Config& config);
  ~HipPageStore() override {
    if (pool_ != nullptr) (void)hipFree(pool_);
    if (timing_) {
      (void)hipEventDestroy(start_event_);
      (void)hipEventDestroy(stop_event_);
    }
  }
  void write_tokens(std::span<const uint64_t> slots,
                    std::span<const uint32_t> token_words) override;
  void copy_page(PageId src, PageId dst, uint32_t slot_count) override;
  void gather(std::span<const PageId> block_table, uint64_t token_count,
              std::span<uint32_t> out_words) override;
  void flush() override;
  const std::optional<std::string>& error() const override { return error_; }
  uint64_t launch_count() const override { return launches_; }
  void set_kernel_timing(bool on) override;
  const KernelTimes& kernel_times() const override { return times_; }

 private:
  bool call(hipError_t result, const std::string& what);
  template <class T>
  bool reserve(DeviceBuffer<T>& buffer, uint64_t count, const char* name);
  template <class T>
  bool upload(DeviceBuffer<T>& buffer, const std::vector<T>& host, const char* name);
  void before_launch();
  bool launched(const char* kernel, uint64_t items, double* kernel_ms);
  void launch_copies();
  void launch_writes();
  const PageId* device_table(std::span<const PageId> table);
  bool marked(const std::vector<uint32_t>& marks, PageId page) const {
    return marks[page] == flush_epoch_;
  }

  PageDivider divider_;
  PoolLayout layout_;
  uint32_t max_pages_;
  uint32_t* pool_ = nullptr;  // max_pages * page_words words: impl/layout.hpp's PoolLayout
  std::optional<std::string> error_;
  uint64_t launches_ = 0;
  bool timing_ = false;
  hipEvent_t start_event_{}, stop_event_{};
  KernelTimes times_;

  // Queued work, run by flush(): copies first, then writes (see copy_page for why that is safe).
  std::vector<uint64_t> pending_slots_;
  std::vector<uint32_t> pending_words_;
  std::vector<CopyPair> pending_pairs_;
  uint32_t flush_epoch_ = 1;  // a page is marked for this batch when its mark equals the epoch
  std::vector<uint32_t> written_marks_, copy_source_marks_, copy_target_marks_;

  DeviceBuffer<uint64_t> slots_device_;
  DeviceBuffer<uint32_t> words_device_;
  DeviceBuffer<CopyPair> pairs_device_;
  DeviceBuffer<uint32_t> gather_device_;
  std::array<DeviceTable, kTableCacheEntries> tables_;
  uint64_t table_clock_ = 0;
};

HipPageStore::HipPageStore(const kvcache::Config& config)
    : divider_(config.page_size),
      layout_{config.page_size, config.shape.layers, config.shape.kv_heads * config.shape.head_dim},
      max_pages_(config.max_pages),
      written_marks_(config.max_pages, 0),
      copy_source_marks_(config.max_pages, 0),
      copy_target_marks_(config.max_pages, 0) {
  KV_CHECK(kvcache::config_problem(config).empty(),
           "HipPageStore: caller passed an unvalidated Config");
  const uint64_t pool_bytes = uint64_t{max_pages_} * layout_.page_words() * sizeof(uint32_t);
  const std::string size = std::to_string(pool_bytes) + " bytes";
  if (call(hipMalloc(reinterpret_cast<void**>(&pool_), pool_bytes),
           "hipMalloc(pool, " + size + ")")) {
    kv_gpu_label(pool_, "pool");
    call(hipMemset(pool_, 0, pool_bytes), "hipMemset(pool, 0, " + size + ")");
  }
}

bool HipPageStore::call(hipError_t result, const std::string& what) {
  if (result == hipSuccess) return true;
  if (!error_) {
    error_ = what + " failed: " + hipGetErrorString(result);
    const std::string detail = kv_gpu_error_detail(result);
    if (!detail.empty() && detail != hipGetErrorString(result)) *error_ += " (" + detail + ")";
  }
  return false;
}

template <class T>
bool HipPageStore::reserve(DeviceBuffer<T>& buffer, uint64_t count, const char* name) {
  if (count <= buffer.capacity) return true;
  const uint64_t capacity = std::max<uint64_t>(count, buffer.capacity * 2);
  if (buffer.data != nullptr && !call(hipFree(buffer.data), std::string("hipFree(") + name + ")")) {
    return false;
  }
  buffer.data = nullptr;
  buffer.capacity = 0;
  const uint64_t bytes = capacity * sizeof(T);
  if (!call(hipMalloc(reinterpret_cast<void**>(&buffer.data), bytes),
            std::string("hipMalloc(") + name + ", " + std::to_string(bytes) + " bytes)")) {
    buffer.data = nullptr;
    return false;
  }
  kv_gpu_label(buffer.data, name);
  buffer.capacity = capacity;
  return true;
}

template <class T>
bool HipPageStore::upload(DeviceBuffer<T>& buffer, const std::vector<T>& host, const char* name) {
  const uint64_t bytes = host.size() * sizeof(T);
  return reserve(buffer, host.size(), name) &&
         call(hipMemcpy(buffer.data, host.data(), bytes, hipMemcpyHostToDevice),
              std::string("hipMemcpy(") + name + ", " + std::to_string(bytes) +
                  " bytes, host to device)");
}

void HipPageStore::set_kernel_timing(bool on) {
  if (on == timing_ || error_) return;
  if (on) {
    timing_ = call(hipEventCreate(&start_event_), "hipEventCreate") &&
              call(hipEventCreate(&stop_event_), "hipEventCreate");
  } else {
    call(hipEventDestroy(start_event_), "hipEventDestroy");
    call(hipEventDestroy(stop_event_), "hipEventDestroy");
    timing_ = false;
  }
}

void HipPageStore::before_launch() {
  if (timing_) call(hipEventRecord(start_event_, 0), "hipEventRecord(start)");
}

// Checks the launch just made; with timing on, waits for it and adds its time to *kernel_ms.
bool HipPageStore::launched(const char* kernel, uint64_t items, double* kernel_ms) {
  launches_++;
  const bool ok = call(hipGetLastError(), std::string("launch of ") + kernel + " (" +
                                              std::to_string(items) + " items)");
  if (!ok || !timing_) return ok;
  float ms = 0;
  if (!call(hipEventRecord(stop_event_, 0), "hipEventRecord(stop)") ||
      !call(hipEventSynchronize(stop_event_), std::string("hipEventSynchronize after ") + kernel) ||
      !call(hipEventElapsedTime(&ms, start_event_, stop_event_), "hipEventElapsedTime")) {
    return false;
  }
  *kernel_ms += ms;
  return true;
}

void HipPageStore::write_tokens(std::span<const uint64_t> slots,
                                std::span<const uint32_t> token_words) {
  KV_CHECK(token_words.size() == slots.size() * layout_.token_words(),
           "HipPageStore::write_tokens: caller's word count != slots * words_per_token");
  if (error_) return;
  // A page this batch already writes is flushed first: no two writes of a batch hit one word.
  for (const uint64_t slot : slots) {
    const uint64_t page = divider_.page(slot);
    KV_CHECK(page < max_pages_, "HipPageStore::write_tokens: slot beyond the pool (cache bug)");
    if (marked(written_marks_, static_cast<PageId>(page))) {
      flush();
      break;
    }
  }
  if (pending_words_.size() + token_words.size() > kMaxPendingWords) flush();
  for (const uint64_t slot : slots) written_marks_[divider_.page(slot)] = flush_epoch_;
  pending_slots_.insert(pending_slots_.end(), slots.begin(), slots.end());
  pending_words_.insert(pending_words_.end(), token_words.begin(), token_words.end());
}

// flush() runs every queued copy before every queued write. That keeps the call order as long as
// no copy reads or writes a page an earlier queued write touched, and no two copies chain, so a
// copy that would break either rule flushes the batch first.
void HipPageStore::copy_page(PageId src, PageId dst, uint32_t slot_count) {
  KV_CHECK(src < max_pages_ && dst < max_pages_ && src != dst,
           "HipPageStore::copy_page: bad page ids (cache bug)");
  KV_CHECK(slot_count <= layout_.page_size, "HipPageStore::copy_page: slot_count > page_size");
  if (error_) return;
  if (marked(written_marks_, src) || marked(written_marks_, dst) ||
      marked(copy_target_marks_, src) || marked(copy_source_marks_, dst) ||
      marked(copy_target_marks_, dst) || pending_pairs_.size() >= kMaxPairsPerLaunch) {
    flush();
  }
  copy_source_marks_[src] = flush_epoch_;
  copy_target_marks_[dst] = flush_epoch_;
  pending_pairs_.push_back(CopyPair{src, dst, slot_count});
}

void HipPageStore::launch_copies() {
  if (!upload(pairs_device_, pending_pairs_, "copy pairs")) return;
  const Geometry g = geometry(layout_.page_words(), static_cast<uint32_t>(pending_pairs_.size()));
  before_launch();
  hipLaunchKernelGGL(copy_pages_kernel, g.grid, g.block, 0, 0, pool_, pairs_device_.data, layout_);
  launched("copy_pages_kernel", pending_pairs_.size(), &times_.copy_ms);
}

void HipPageStore::launch_writes() {
  if (!upload(slots_device_, pending_slots_, "slots") ||
      !upload(words_device_, pending_words_, "token words")) {
    return;
  }
  const uint64_t token_count = pending_slots_.size();
  const Geometry g = geometry(token_count * layout_.token_words(), 1);
  before_launch();
  hipLaunchKernelGGL(write_tokens_kernel, g.grid, g.block, 0, 0, pool_, slots_device_.data,
                     words_device_.data, token_count, divider_, layout_);
  launched("write_tokens_kernel", token_count, &times_.write_ms);
}

void HipPageStore::flush() {
  const bool work = !pending_pairs_.empty() || !pending_slots_.empty();
  if (!error_ && !pending_pairs_.empty()) launch_copies();
  if (!error_ && !pending_slots_.empty()) launch_writes();
  if (!error_ && work) call(hipDeviceSynchronize(), "hipDeviceSynchronize after a flush");
  pending_pairs_.clear();
  pending_slots_.clear();
  pending_words_.clear();
  if (++flush_epoch_ == 0) {  // wrapped: clear every mark, restart at 1
    std::fill(written_marks_.begin(), written_marks_.end(), 0u);
    std::fill(copy_source_marks_.begin(), copy_source_marks_.end(), 0u);
    std::fill(copy_target_marks_.begin(), copy_target_marks_.end(), 0u);
    flush_epoch_ = 1;
  }
}

// The device copy of `table`, uploaded when it differs from what the device holds: an append
// adds entries, and copy-on-write replaces one in place.
const PageId* HipPageStore::device_table(std::span<const PageId> table) {
  table_clock_++;
  DeviceTable* entry = nullptr;
  for (DeviceTable& each : tables_) {
    if (each.key == table.data()) entry = &each;
  }
  if (entry == nullptr) {
    entry = &*std::min_element(
        tables_.begin(), tables_.end(),
        [](const DeviceTable& a, const DeviceTable& b) { return a.last_use < b.last_use; });
    entry->key = table.data();
    entry->mirror.clear();
  }
  entry->last_use = table_clock_;
  if (entry->mirror.size() != table.size() ||
      !std::equal(table.begin(), table.end(), entry->mirror.begin())) {
    entry->mirror.assign(table.begin(), table.end());
    if (!upload(entry->buffer, entry->mirror, "block table")) {
      entry->mirror.clear();
      return nullptr;
    }
  }
  return entry->buffer.data;
}

void HipPageStore::gather(std::span<const PageId> block_table, uint64_t token_count,
                          std::span<uint32_t> out_words) {
  KV_CHECK(out_words.size() == token_count * layout_.token_words(),
           "HipPageStore::gather: caller's output size != token_count * words_per_token");
  KV_CHECK(token_count <= uint64_t{block_table.size()} * layout_.page_size,
           "HipPageStore::gather: block table too short for token_count (cache bug)");
  std::fill(out_words.begin(), out_words.end(), 0u);
  flush();
  if (error_ || token_count == 0) return;
  for (const PageId page : block_table) {
    KV_CHECK(page < max_pages_, "HipPageStore::gather: page id beyond the pool (cache bug)");
  }
  const PageId* table = device_table(block_table);
  if (table == nullptr || !reserve(gather_device_, out_words.size(), "gather output")) return;
  const Geometry g = geometry(out_words.size(), 1);
  before_launch();
  hipLaunchKernelGGL(gather_kernel, g.grid, g.block, 0, 0, gather_device_.data, pool_, table,
                     token_count, divider_, layout_);
  if (!launched("gather_kernel", token_count, &times_.gather_ms)) return;
  const uint64_t bytes = out_words.size() * sizeof(uint32_t);
  call(hipMemcpy(out_words.data(), gather_device_.data, bytes, hipMemcpyDeviceToHost),
       "hipMemcpy(gather output, " + std::to_string(bytes) + " bytes, device to host)");
}

}  // namespace

#if defined(KV_GPU_EMU)
std::unique_ptr<DevicePageStore> make_emu_page_store(const kvcache::Config& config, uint64_t seed) {
  kvemu::seed(seed);
  return std::make_unique<HipPageStore>(config);
}
#else
namespace {

// Whether this process has called the runtime (a store made, the device's name asked).
std::atomic<bool> runtime_used_here{false};

std::string ask_runtime_for_device() {
  int count = 0;
  const hipError_t result = hipGetDeviceCount(&count);
  if (result != hipSuccess) {
    const std::string detail = kv_gpu_error_detail(result);
    return std::string("hipGetDeviceCount failed: ") + hipGetErrorString(result) +
           (detail != hipGetErrorString(result) ? " (" + detail + ")" : "");
  }
  if (count == 0) return "hipGetDeviceCount found no device";
  return "";
}

}  // namespace

std::unique_ptr<DevicePageStore> make_device_page_store(const kvcache::Config& config) {
  runtime_used_here = true;
  return std::make_unique<HipPageStore>(config);
}

// Asked in a forked child, once per process. A process that has initialized the CUDA (or HIP)
// runtime cannot use it in a child it forks afterwards, and kvtrace asks whether backend hip can
// run (option checks, capabilities) before it forks campaign workers and isolated runs, whose
// stores are made in the children. Asking in the parent itself, as hipGetDeviceCount does, would
// leave every one of them with an unusable runtime. Once this process uses the runtime anyway,
// it asks directly.
std::string device_problem() {
  static const std::string problem = []() -> std::string {
    if (runtime_used_here) return ask_runtime_for_device();
    int fds[2];
    if (::pipe(fds) != 0) return ask_runtime_for_device();
    const pid_t child = ::fork();
    if (child < 0) {
      ::close(fds[0]);
      ::close(fds[1]);
      return ask_runtime_for_device();
    }
    if (child == 0) {
      ::close(fds[0]);
      const std::string answer = "+" + ask_runtime_for_device();  // "+": the child answered
      for (size_t done = 0; done < answer.size();) {
        const ssize_t wrote = ::write(fds[1], answer.data() + done, answer.size() - done);
        if (wrote < 0 && errno == EINTR) continue;
        if (wrote <= 0) break;
        done += static_cast<size_t>(wrote);
      }
      ::_exit(0);
    }
    ::close(fds[1]);
    std::string answer;
    char buffer[512];
    for (ssize_t got; (got = ::read(fds[0], buffer, sizeof(buffer))) != 0;) {
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) break;
      answer.append(buffer, static_cast<size_t>(got));
    }
    ::close(fds[0]);
    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    if (answer.empty() || answer[0] != '+') {
      return "the device probe (a child process) ended without an answer" +
             std::string(WIFSIGNALED(status) ? " (signal " + std::to_string(WTERMSIG(status)) + ")"
                                             : "");
    }
    return answer.substr(1);
  }();
  return problem;
}

std::string device_name() {
  runtime_used_here = true;
  return kv_gpu_device_name();
}
#endif

}  // namespace kvgpu
