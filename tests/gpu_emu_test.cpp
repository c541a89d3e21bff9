// The emulated device on its own: races, stray addresses, geometry limits and injected faults,
// each reported with the kernel and the word; and the runner's `device` divergence for them.
#define KV_GPU_EMU 1
#include "gpu/vendor.hpp"
// (the emulated vendor header first, as in gpu/emu_page_store.cpp)
#include <gtest/gtest.h>

#include <string>

#include "backends/hip_backend.hpp"
#include "runner/runner.hpp"

namespace {

__global__ void all_write_word_zero(uint32_t* words) {
  kv_store(words, threadIdx.x);
}

__global__ void each_writes_its_word(uint32_t* words) {
  kv_store(words + blockIdx.x * blockDim.x + threadIdx.x, 1u);
}

__global__ void reads_a_neighbours_word(uint32_t* words) {
  const uint32_t i = threadIdx.x;
  kv_store(words + i, kv_load(words + (i + 1) % blockDim.x) + 1);
}

__global__ void writes_past_the_end(uint32_t* words, uint32_t count) {
  kv_store(words + count + threadIdx.x, 1u);
}

// out[i] = in[(i + shift) % n]: race-free when out and in differ, a race when they are one.
__global__ void shifted_copy(uint32_t* out, const uint32_t* in, uint32_t shift) {
  const uint32_t i = blockIdx.x * blockDim.x + threadIdx.x;
  const uint32_t n = gridDim.x * blockDim.x;
  kv_store(out + i, kv_load(in + (i + shift) % n));
}

// Thread `reader` reads word 0, thread `writer` writes it: a race in either order.
__global__ void one_reads_one_writes(uint32_t* words, uint32_t reader, uint32_t writer) {
  if (threadIdx.x == reader) kv_store(words + 1 + reader, kv_load(words));
  if (threadIdx.x == writer) kv_store(words, 7u);
}

// Copies in[first + i] into out[i]; reads past the end of `in` when first + n > its size.
__global__ void reads_from(uint32_t* out, const uint32_t* in, uint32_t first) {
  const uint32_t i = threadIdx.x;
  kv_store(out + i, kv_load(in + first + i));
}

struct Emu : testing::Test {
  void SetUp() override {
    kvemu::seed(1);
    kvemu::set_faults(kvemu::Faults{});
    ASSERT_EQ(hipMalloc(reinterpret_cast<void**>(&words), 64 * sizeof(uint32_t)), hipSuccess);
    kv_gpu_label(words, "words");
  }
  void TearDown() override {
    EXPECT_EQ(hipFree(words), hipSuccess);
    kvemu::set_faults(kvemu::Faults{});
  }
  uint32_t* words = nullptr;
};

TEST_F(Emu, DisjointWritesRunEveryThreadOnce) {
  hipLaunchKernelGGL(each_writes_its_word, dim3(4), dim3(16), 0, 0, words);
  ASSERT_EQ(hipGetLastError(), hipSuccess);
  for (int i = 0; i < 64; i++) EXPECT_EQ(words[i], 1u) << i;
}

TEST_F(Emu, WriteWriteRaceNamesKernelThreadsAndWord) {
  hipLaunchKernelGGL(all_write_word_zero, dim3(1), dim3(32), 0, 0, words);
  EXPECT_EQ(hipGetLastError(), kvemu::data_race);
  const std::string detail = kvemu::last_error_detail();
  EXPECT_NE(detail.find("kernel all_write_word_zero: data race on word 0 of allocation 'words'"),
            std::string::npos)
      << detail;
  EXPECT_EQ(hipGetLastError(), hipSuccess);  // reading the error clears it, as on HIP
}

TEST_F(Emu, ReadOfAWordAnotherThreadWritesIsARace) {
  hipLaunchKernelGGL(reads_a_neighbours_word, dim3(1), dim3(8), 0, 0, words);
  EXPECT_EQ(hipGetLastError(), kvemu::data_race);
  EXPECT_NE(kvemu::last_error_detail().find("reads_a_neighbours_word"), std::string::npos);
}

TEST_F(Emu, AccessOutsideEveryAllocationIsAnIllegalAddressAndDoesNotHappen) {
  uint32_t host_guard[8] = {};
  hipLaunchKernelGGL(writes_past_the_end, dim3(1), dim3(1), 0, 0, host_guard, 0u);
  EXPECT_EQ(hipGetLastError(), kvemu::illegal_address);
  EXPECT_EQ(host_guard[0], 0u);
  EXPECT_NE(kvemu::last_error_detail().find("outside every allocation"), std::string::npos);
}

// The emulator skips the shadow words of reads from an allocation no thread of the launch writes
// (once the kernel has run before); a launch that does write what it reads is checked in full.
TEST_F(Emu, ALaterLaunchThatReadsWhatItWritesIsStillARace) {
  uint32_t* other = nullptr;
  ASSERT_EQ(hipMalloc(reinterpret_cast<void**>(&other), 64 * sizeof(uint32_t)), hipSuccess);
  kv_gpu_label(other, "other");
  for (int launch = 0; launch < 3; launch++) {  // race-free: reads `other`, writes `words`
    hipLaunchKernelGGL(shifted_copy, dim3(2), dim3(32), 0, 0, words, other, 1u);
    ASSERT_EQ(hipGetLastError(), hipSuccess);
  }
  hipLaunchKernelGGL(shifted_copy, dim3(2), dim3(32), 0, 0, words, words, 1u);
  EXPECT_EQ(hipGetLastError(), kvemu::data_race);
  EXPECT_NE(kvemu::last_error_detail().find("kernel shifted_copy: data race on word"),
            std::string::npos)
      << kvemu::last_error_detail();
  // Reads from what the launch never writes are still bounds-checked in later launches.
  hipLaunchKernelGGL(reads_from, dim3(1), dim3(32), 0, 0, words, other, 0u);
  ASSERT_EQ(hipGetLastError(), hipSuccess);
  hipLaunchKernelGGL(reads_from, dim3(1), dim3(32), 0, 0, words, other, 40u);
  EXPECT_EQ(hipGetLastError(), kvemu::illegal_address);
  EXPECT_NE(kvemu::last_error_detail().find("reads 4 bytes outside every allocation"),
            std::string::npos)
      << kvemu::last_error_detail();
  EXPECT_EQ(hipFree(other), hipSuccess);
}

// A write after another thread's read of the word (the read runs first, so only the reader's
// shadow mark shows the race), in the kernel's first launch and in a later one.
TEST_F(Emu, AWriteAfterAnotherThreadsReadIsARaceInEveryLaunch) {
  for (int launch = 0; launch < 3; launch++) {
    kvemu::seed(11 + launch);
    const std::vector<uint32_t> order = kvemu::begin_launch("probe", dim3(1), dim3(8));
    kvemu::end_launch();
    kvemu::seed(11 + launch);  // the launch below runs in `order`
    hipLaunchKernelGGL(one_reads_one_writes, dim3(1), dim3(8), 0, 0, words, order[2], order[5]);
    EXPECT_EQ(hipGetLastError(), kvemu::data_race) << "launch " << launch;
    EXPECT_NE(kvemu::last_error_detail().find("writes it after a read by thread " +
                                              std::to_string(order[2])),
              std::string::npos)
        << kvemu::last_error_detail();
  }
}

// A race in a launch of 262,144 threads and words (more than 65,535: no 16-bit index wraps).
TEST_F(Emu, ARaceInALaunchOfMoreThan65535WordsIsFound) {
  uint32_t* big = nullptr;
  const uint32_t count = 256 * 1024;
  ASSERT_EQ(hipMalloc(reinterpret_cast<void**>(&big), count * sizeof(uint32_t)), hipSuccess);
  kv_gpu_label(big, "big");
  hipLaunchKernelGGL(each_writes_its_word, dim3(count / 256), dim3(256), 0, 0, big);
  ASSERT_EQ(hipGetLastError(), hipSuccess);
  // Thread i copies word (i + 200000) % count into word i of the same allocation: every
  // thread's read races with another thread's write.
  hipLaunchKernelGGL(shifted_copy, dim3(count / 256), dim3(256), 0, 0, big, big, 200000u);
  EXPECT_EQ(hipGetLastError(), kvemu::data_race);
  EXPECT_NE(kvemu::last_error_detail().find("of allocation 'big'"), std::string::npos)
      << kvemu::last_error_detail();
  EXPECT_EQ(hipFree(big), hipSuccess);
}

TEST_F(Emu, GeometryBeyondDeviceLimitsFailsTheLaunch) {
  hipLaunchKernelGGL(each_writes_its_word, dim3(1), dim3(2048), 0, 0, words);
  EXPECT_EQ(hipGetLastError(), kvemu::invalid_value);
}

TEST_F(Emu, CopiesPastAnAllocationFail) {
  uint32_t host[128] = {};
  EXPECT_EQ(hipMemcpy(words, host, sizeof(host), hipMemcpyHostToDevice), kvemu::invalid_value);
}

TEST_F(Emu, OrderIsShuffledAndFollowsTheSeed) {
  auto order_of = [](uint64_t seed) {
    kvemu::seed(seed);
    const std::vector<uint32_t> order = kvemu::begin_launch("probe", dim3(2), dim3(32));
    kvemu::end_launch();
    return order;
  };
  EXPECT_EQ(order_of(5), order_of(5));
  EXPECT_NE(order_of(5), order_of(6));
  std::vector<uint32_t> sorted = order_of(5);
  std::sort(sorted.begin(), sorted.end());
  for (uint32_t i = 0; i < 64; i++) EXPECT_EQ(sorted[i], i);
}

kv::Trace small_trace() {
  kv::Trace trace;
  trace.config.page_size = 2;
  trace.config.max_pages = 4;
  for (kv::SeqId seq = 1; seq <= 3; seq++) {
    kv::TraceLine line;
    line.op = kv::Op{kv::OpKind::append, seq, 3, {}};
    trace.lines.push_back(line);
  }
  return trace;
}

kv::RunReport run_emu(const kv::Trace& trace) {
  std::vector<std::unique_ptr<kv::Backend>> backends;
  backends.push_back(std::make_unique<kv::HipBackend>(
      trace.config, kvgpu::make_emu_page_store(kv::to_cache_config(trace.config), 1), "hip-emu"));
  return kv::run_trace(trace, backends, kv::AuditMode::every);
}

// The pool: 4 pages x 2 slots x 4 words x 4 bytes = 128 bytes, over a 64-byte limit.
TEST(EmuBackend, OutOfMemoryAtConstructionIsADeviceDivergence) {
  kvemu::set_faults(kvemu::Faults{64, 0});
  const kv::RunReport report = run_emu(small_trace());
  kvemu::set_faults(kvemu::Faults{});
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.divergence->kind, kv::FailureKind::device);
  EXPECT_EQ(report.divergence->tick, 0u);
  EXPECT_NE(report.divergence->detail.find("hipMalloc(pool, 128 bytes) failed: out of memory"),
            std::string::npos)
      << report.divergence->detail;
}

TEST(EmuBackend, AFailedLaunchIsADeviceDivergenceAtItsOp) {
  kvemu::set_faults(kvemu::Faults{uint64_t{1} << 40, 0});
  const uint64_t before = kvemu::launch_count();
  // Each op: one write launch plus one gather launch per live sequence (audit every op).
  // Launches 1 (write) and 2 (gather) belong to tick 0; launch 3 is tick 1's write.
  kvemu::set_faults(kvemu::Faults{uint64_t{1} << 40, before + 3});
  const kv::RunReport report = run_emu(small_trace());
  kvemu::set_faults(kvemu::Faults{});
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.divergence->kind, kv::FailureKind::device);
  EXPECT_EQ(report.divergence->tick, 1u);
  EXPECT_NE(report.divergence->detail.find("launch of write_tokens_kernel"), std::string::npos)
      << report.divergence->detail;
  EXPECT_NE(kv::format_divergence(*report.divergence).find("injected failure"), std::string::npos);
}

TEST(EmuBackend, CleanTraceAgrees) {
  EXPECT_TRUE(run_emu(small_trace()).ok());
}

}  // namespace
