// kvbench_gpu: HipPageStore's kernels (write through a slot mapping, copy-on-write pairs, gather
// through a block table) in GB/s of kernel time, on the emulated device and on a real GPU.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "gpu/device_store.hpp"

namespace {

enum class Kernel { write, copy, gather };
constexpr uint32_t kPageSize = 16;

// Llama-like K/V: 8 kv heads x head_dim 128, one layer: 8 KiB per token.
kvcache::Config config_for(uint64_t token_count) {
  const auto pages = static_cast<uint32_t>(2 * token_count / kPageSize);  // data + copy targets
  return kvcache::Config{kPageSize, pages, kvcache::Eviction::none, kvcache::Shape{8, 128, 1}};
}

double total_ms(const kvgpu::DevicePageStore::KernelTimes& times, Kernel kernel) {
  return kernel == Kernel::write ? times.write_ms
                                 : (kernel == Kernel::copy ? times.copy_ms : times.gather_ms);
}

// One iteration: one launch over state.range(0) tokens (copy: token_count / 16 page pairs).
// Timed by device events around the kernel only; bytes = every word read plus every word written.
void BM_kernel(benchmark::State& state, bool device, Kernel kernel) {
  const auto token_count = static_cast<uint64_t>(state.range(0));
  const kvcache::Config config = config_for(token_count);
#if defined(KV_HAVE_GPU_DEVICE)
  if (device && !kvgpu::device_problem().empty()) {
    state.SkipWithError(("no GPU device: " + kvgpu::device_problem()).c_str());
    return;
  }
  auto store =
      device ? kvgpu::make_device_page_store(config) : kvgpu::make_emu_page_store(config, 1);
#else
  (void)device;
  auto store = kvgpu::make_emu_page_store(config, 1);
#endif
  const uint64_t token_words = config.shape.words_per_token();
  const uint32_t data_pages = config.max_pages / 2;
  std::vector<uint64_t> slots(token_count);
  std::vector<uint32_t> words(token_count * token_words);
  std::vector<kvcache::PageId> table(data_pages);
  for (uint64_t t = 0; t < token_count; t++) slots[t] = t;
  for (uint64_t w = 0; w < words.size(); w++) words[w] = static_cast<uint32_t>(w * 2654435761u);
  for (uint32_t p = 0; p < data_pages; p++) table[p] = p;
  std::vector<uint32_t> out(words.size());
  store->write_tokens(slots, words);
  store->flush();
  store->set_kernel_timing(true);
  for (auto _ : state) {
    const double before = total_ms(store->kernel_times(), kernel);
    if (kernel == Kernel::write) {
      store->write_tokens(slots, words);
      store->flush();
    } else if (kernel == Kernel::copy) {
      for (uint32_t p = 0; p < data_pages; p++) store->copy_page(p, data_pages + p, kPageSize);
      store->flush();
    } else {
      store->gather(table, token_count, out);
    }
    state.SetIterationTime((total_ms(store->kernel_times(), kernel) - before) / 1000.0);
  }
  if (store->error()) {
    state.SkipWithError(store->error()->c_str());
    return;
  }
  const double bytes = 2.0 * static_cast<double>(words.size()) * sizeof(uint32_t);
  state.SetBytesProcessed(static_cast<int64_t>(bytes) * state.iterations());
  // KV_GPU_PEAK_GBPS (tools/gpu-check sets it): the device's memory bandwidth, for a fraction.
  if (const char* peak = std::getenv("KV_GPU_PEAK_GBPS")) {
    const double peak_bytes_per_s = std::strtod(peak, nullptr) * 1e9;
    if (peak_bytes_per_s > 0) {
      state.counters["of_peak"] =
          benchmark::Counter(bytes * static_cast<double>(state.iterations()) / peak_bytes_per_s,
                             benchmark::Counter::kIsRate);
    }
  }
}

void register_all() {
  struct Named {
    const char* name;
    Kernel kernel;
  };
  for (const Named k : {Named{"write", Kernel::write}, Named{"copy", Kernel::copy},
                        Named{"gather", Kernel::gather}}) {
    benchmark::RegisterBenchmark((std::string("BM_gpu_") + k.name + "/emu").c_str(), BM_kernel,
                                 false, k.kernel)
        ->Arg(1024)
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond);
#if defined(KV_HAVE_GPU_DEVICE)
    benchmark::RegisterBenchmark((std::string("BM_gpu_") + k.name + "/device").c_str(), BM_kernel,
                                 true, k.kernel)
        ->Arg(16384)
        ->Arg(65536)
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond);
#endif
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
