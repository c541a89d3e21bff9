// Workload (d), memory pressure with eviction=lru: the pool is smaller than the working set.
#include <benchmark/benchmark.h>

#include <cstdint>

#include "bench/drivers.hpp"
#include "trace/rng.hpp"

namespace kvbench {
namespace {

constexpr uint32_t kPageSize = 16;
constexpr uint32_t kPages = 2048;
constexpr uint32_t kIds = 1024;        // sequence ids the requests draw from
constexpr uint32_t kMaxTokens = 32;    // tokens per append: 1..32
constexpr uint32_t kWarmupOps = 4096;  // fills the pool before timing starts

kv::Config pressure_config() {
  return make_config(kPageSize, kPages, kv::Eviction::lru);
}

// Appends of 1..32 tokens to uniformly random ids among 1024 (an evicted id is created again by
// its next append). Sequences grow until evicted, so the 2048-page pool stays full and appends
// keep evicting the least recently used sequences. The first 4096 appends, which fill the pool,
// run before the timed loop. One iteration = one append op = one item; the `evicted` counter is
// the victims per op.
template <class Driver>
void BM_pressure(benchmark::State& state) {
  Driver driver(pressure_config());
  kv::Rng rng(1);
  Tick tick = 0;
  bool ok = true;
  const auto append_one = [&] {
    const SeqId seq = static_cast<SeqId>(rng.below(kIds));
    const Done done = driver.append(seq, static_cast<uint32_t>(rng.between(1, kMaxTokens)), tick++);
    ok &= done.ok;
    return done.evicted;
  };
  for (uint32_t i = 0; i < kWarmupOps; i++) append_one();
  uint64_t evicted = 0;
  for (auto _ : state) evicted += append_one();
  if (!ok) state.SkipWithError("an append failed");
  state.SetItemsProcessed(state.iterations());
  state.counters["evicted"] =
      benchmark::Counter(static_cast<double>(evicted), benchmark::Counter::kAvgIterations);
}

BENCHMARK_TEMPLATE(BM_pressure, ModelDriver)->Name("BM_pressure/model");
BENCHMARK_TEMPLATE(BM_pressure, ImplDriver)->Name("BM_pressure/impl");

}  // namespace
}  // namespace kvbench
