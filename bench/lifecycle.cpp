// Workload (g), speculative decoding through the kvtrace 3 lifecycle: per round, every sequence
// reserves 1 + 3 draft slots and commits 2 of them (docs/semantics.md section 15).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <memory>

#include "bench/drivers.hpp"

namespace kvbench {
namespace {

constexpr uint32_t kSequences = 1024;
constexpr uint32_t kRounds = 250;
constexpr uint32_t kDrafts = 3;
constexpr uint32_t kAccepted = 2;
constexpr uint64_t kOps = uint64_t{kSequences} * kRounds * 2;

// page_size 16; 500 tokens (and 4 reserved slots) need 32 pages per sequence, 32768 in all.
kv::Config speculative_config(bool released) {
  kv::Config config = make_config(16, 65536, kv::Eviction::none);
  config.rejected_slots = released;
  return config;
}

// One iteration = a whole run on a fresh cache: 250 rounds, each `reserve S 4` then `commit S 2`
// for every sequence (ids 0..1023; the first reserve creates S). One item = one op: 512,000 per
// iteration. Compare with BM_decode (one append per token) for the cost of the lifecycle, and
// with BM_freelist_floor for the allocator floor. Arg 1: rejected_slots=released.
template <class Driver>
void BM_speculative(benchmark::State& state) {
  const kv::Config config = speculative_config(state.range(0) == 1);
  std::unique_ptr<Driver> driver;
  bool ok = true;
  for (auto _ : state) {
    state.PauseTiming();
    driver.reset();
    driver = std::make_unique<Driver>(config);
    state.ResumeTiming();
    Tick tick = 0;
    for (uint32_t round = 0; round < kRounds; round++) {
      for (SeqId seq = 0; seq < kSequences; seq++) {
        ok &= driver->reserve(seq, 1 + kDrafts, tick++).ok;
        ok &= driver->commit(seq, kAccepted, tick++).ok;
      }
    }
  }
  if (!ok) state.SkipWithError("a reserve or commit failed");
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(kOps));
}

BENCHMARK_TEMPLATE(BM_speculative, ModelDriver)
    ->Name("BM_speculative/model")
    ->Arg(0)
    ->Arg(1)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_speculative, ImplDriver)
    ->Name("BM_speculative/impl")
    ->Arg(0)
    ->Arg(1)
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace kvbench
