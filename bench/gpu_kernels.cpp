// kvbench_gpu: HipPageStore's kernels (write through a slot mapping, copy-on-write pairs, gather
// through a block table) in GB/s of kernel time, on the emulated device and on a real GPU.
//
// It times itself instead of using Google Benchmark: every figure is kernel time from device
// events (the store's kernel_times()), so Google Benchmark's timer adds nothing, and Debian ships
// it only as a shared library, which would keep the binary from running on a bare device machine
// (tools/gpu-check --bundle links everything but the C library statically). The flags and the
// `BM_gpu_KERNEL/PLATFORM/TOKENS` lines keep Google Benchmark's spelling, so the commands and the
// lines that tools/gpu-steps reads stay the same.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "gpu/device_store.hpp"

namespace {

enum class Kernel { write, copy, gather };
constexpr uint32_t kPageSize = 16;

struct Case {
  std::string name;
  bool device;
  Kernel kernel;
  uint64_t token_count;
};

// Llama-like K/V: 8 kv heads x head_dim 128, one layer: 8 KiB per token.
kvcache::Config config_for(uint64_t token_count) {
  const auto pages = static_cast<uint32_t>(2 * token_count / kPageSize);  // data + copy targets
  return kvcache::Config{kPageSize, pages, kvcache::Eviction::none, kvcache::Shape{8, 128, 1}};
}

double total_ms(const kvgpu::DevicePageStore::KernelTimes& times, Kernel kernel) {
  return kernel == Kernel::write ? times.write_ms
                                 : (kernel == Kernel::copy ? times.copy_ms : times.gather_ms);
}

struct Result {
  std::string error;  // non-empty: the case could not run
  uint64_t iterations = 0;
  double kernel_s = 0;  // kernel time of every iteration together
  double bytes_per_iteration = 0;
};

// One iteration: one launch over token_count tokens (copy: token_count / 16 page pairs). Runs
// iterations until their kernel time reaches min_time_s (and at least one; at most 10 s of wall
// time). bytes = every word read plus every word written.
Result run_case(const Case& c, double min_time_s) {
  const kvcache::Config config = config_for(c.token_count);
  std::unique_ptr<kvgpu::DevicePageStore> store;
#if defined(KV_HAVE_GPU_DEVICE)
  if (c.device) {
    if (const std::string problem = kvgpu::device_problem(); !problem.empty())
      return Result{"no GPU device: " + problem};
    store = kvgpu::make_device_page_store(config);
  }
#endif
  if (!store) store = kvgpu::make_emu_page_store(config, 1);
  const uint64_t token_words = config.shape.words_per_token();
  const uint32_t data_pages = config.max_pages / 2;
  std::vector<uint64_t> slots(c.token_count);
  std::vector<uint32_t> words(c.token_count * token_words);
  std::vector<kvcache::PageId> table(data_pages);
  for (uint64_t t = 0; t < c.token_count; t++) slots[t] = t;
  for (uint64_t w = 0; w < words.size(); w++) words[w] = static_cast<uint32_t>(w * 2654435761u);
  for (uint32_t p = 0; p < data_pages; p++) table[p] = p;
  std::vector<uint32_t> out(words.size());
  store->write_tokens(slots, words);
  store->flush();
  store->set_kernel_timing(true);
  const auto once = [&] {
    if (c.kernel == Kernel::write) {
      store->write_tokens(slots, words);
      store->flush();
    } else if (c.kernel == Kernel::copy) {
      for (uint32_t p = 0; p < data_pages; p++) store->copy_page(p, data_pages + p, kPageSize);
      store->flush();
    } else {
      store->gather(table, c.token_count, out);
    }
  };
  once();  // warm-up, not counted
  Result result;
  const double start_ms = total_ms(store->kernel_times(), c.kernel);
  const auto wall_start = std::chrono::steady_clock::now();
  while (!store->error()) {
    once();
    result.iterations++;
    result.kernel_s = (total_ms(store->kernel_times(), c.kernel) - start_ms) / 1000.0;
    if (result.kernel_s >= min_time_s ||
        std::chrono::steady_clock::now() - wall_start > std::chrono::seconds(10))
      break;
  }
  if (store->error()) return Result{*store->error()};
  result.bytes_per_iteration = 2.0 * static_cast<double>(words.size()) * sizeof(uint32_t);
  return result;
}

std::vector<Case> all_cases() {
  struct Named {
    const char* name;
    Kernel kernel;
  };
  std::vector<Case> cases;
  for (const Named k : {Named{"write", Kernel::write}, Named{"copy", Kernel::copy},
                        Named{"gather", Kernel::gather}}) {
    const std::string prefix = std::string("BM_gpu_") + k.name;
    cases.push_back({prefix + "/emu/1024", false, k.kernel, 1024});
#if defined(KV_HAVE_GPU_DEVICE)
    for (const uint64_t tokens : {16384, 65536})
      cases.push_back({prefix + "/device/" + std::to_string(tokens), true, k.kernel, tokens});
#endif
  }
  return cases;
}

int usage(const char* problem) {
  std::fprintf(stderr,
               "kvbench_gpu: %s\n"
               "usage: kvbench_gpu [--benchmark_filter=REGEX] [--benchmark_min_time=SECONDS]\n"
               "                   [--benchmark_list_tests]\n"
               "  KV_GPU_PEAK_GBPS=N adds of_peak, the fraction of N GB/s each kernel reaches\n",
               problem);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string filter = ".";
  double min_time_s = 0.5;
  bool list = false;
  for (int i = 1; i < argc; i++) {
    const std::string_view arg = argv[i];
    const auto value_of = [&](std::string_view flag) {
      return arg.substr(0, flag.size() + 1) == std::string(flag) + "="
                 ? std::string(arg.substr(flag.size() + 1))
                 : std::string();
    };
    if (const std::string v = value_of("--benchmark_filter"); !v.empty()) {
      filter = v;
    } else if (const std::string t = value_of("--benchmark_min_time"); !t.empty()) {
      char* end = nullptr;
      min_time_s = std::strtod(t.c_str(), &end);
      if (end == t.c_str() || (*end != '\0' && std::string_view(end) != "s") || min_time_s < 0)
        return usage(("bad --benchmark_min_time: " + t).c_str());
    } else if (arg == "--benchmark_list_tests") {
      list = true;
    } else if (arg == "-h" || arg == "--help") {
      return usage("times the device page store's kernels");
    } else {
      return usage(("unknown argument " + std::string(arg)).c_str());
    }
  }
  std::regex pattern;
  try {
    pattern = std::regex(filter);
  } catch (const std::regex_error& e) {
    return usage(("bad --benchmark_filter: " + filter + " (" + e.what() + ")").c_str());
  }
  double peak_bytes_per_s = 0;  // KV_GPU_PEAK_GBPS (tools/gpu-steps sets it)
  if (const char* peak = std::getenv("KV_GPU_PEAK_GBPS"))
    peak_bytes_per_s = std::strtod(peak, nullptr) * 1e9;

  int failed = 0;
  bool header = false;
  for (const Case& c : all_cases()) {
    if (!std::regex_search(c.name, pattern)) continue;
    if (list) {
      std::printf("%s\n", c.name.c_str());
      continue;
    }
    if (!header) {
      std::printf("%-32s %12s %10s %12s %8s\n", "kernel (time from device events)", "us/iter",
                  "iterations", "GB/s", "of_peak");
      header = true;
    }
    const Result r = run_case(c, min_time_s);
    if (!r.error.empty()) {
      std::printf("%-32s ERROR OCCURRED: '%s'\n", c.name.c_str(), r.error.c_str());
      failed = 1;
      continue;
    }
    const double seconds = std::max(r.kernel_s, 1e-12);
    const double bytes_per_s = r.bytes_per_iteration * static_cast<double>(r.iterations) / seconds;
    std::printf("%-32s %12.2f %10llu %12.1f", c.name.c_str(),
                seconds * 1e6 / static_cast<double>(r.iterations),
                static_cast<unsigned long long>(r.iterations), bytes_per_s / 1e9);
    if (peak_bytes_per_s > 0) std::printf(" %8.3f", bytes_per_s / peak_bytes_per_s);
    std::printf("\n");
    std::fflush(stdout);
  }
  if (!list && !header) {
    std::fprintf(stderr, "kvbench_gpu: no kernel matches --benchmark_filter=%s\n", filter.c_str());
    return 1;
  }
  return failed;
}
