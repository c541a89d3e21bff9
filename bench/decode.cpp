// Workload (b), decode steps (1k sequences x 1000 one-token steps), and (f), the runner on (b).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "bench/drivers.hpp"
#include "runner/runner.hpp"
#include "trace/trace.hpp"

namespace kvbench {
namespace {

constexpr uint32_t kSequences = 1024;
constexpr uint32_t kSteps = 1000;
constexpr uint64_t kOps = uint64_t{kSequences} * kSteps;

// page_size 16; 1000 tokens need 63 pages per sequence, 64512 in all: the pool never runs out.
kv::Config decode_config() {
  return make_config(16, 65536, kv::Eviction::none);
}

// (b) One iteration = a whole decode run on a fresh cache: 1000 steps, each appending one token
// to every sequence (ids 0..1023 in order, one `append S 1` op each; the first creates S).
// One item = one append op: 1,024,000 per iteration. Building and destroying the cache (the
// host store zeroes its pool) happens while timing is paused.
template <class Driver>
void run_decode(benchmark::State& state, const kv::Config& config) {
  std::unique_ptr<Driver> driver;  // (std::optional trips GCC 12's -Wmaybe-uninitialized)
  bool ok = true;
  for (auto _ : state) {
    state.PauseTiming();
    driver.reset();
    driver = std::make_unique<Driver>(config);
    state.ResumeTiming();
    Tick tick = 0;
    for (uint32_t step = 0; step < kSteps; step++) {
      for (SeqId seq = 0; seq < kSequences; seq++) ok &= driver->append(seq, 1, tick++).ok;
    }
  }
  if (!ok) state.SkipWithError("an append failed");
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(kOps));
}

template <class Driver>
void BM_decode(benchmark::State& state) {
  run_decode<Driver>(state, decode_config());
}

// (b) under a 128-token sliding window (docs/semantics.md section 16): from step 128 on, every
// 16th append of a sequence first releases its oldest live page (impl/ keeps that page's words
// and ids on the host for a later recompute). Compare with BM_decode for the window's cost.
template <class Driver>
void BM_decode_window(benchmark::State& state) {
  kv::Config config = decode_config();
  config.sliding_window = 128;
  run_decode<Driver>(state, config);
}

// (b) in a hybrid model (docs/semantics.md section 17): a full-attention group beside a 128-token
// window group over one pool of 131072 pages (each append writes both groups; the window group
// releases as in BM_decode_window). Compare with BM_decode for the second group's cost.
template <class Driver>
void BM_decode_hybrid(benchmark::State& state) {
  kv::Config config = make_config(16, 131072, kv::Eviction::none);
  config.group_count = 2;
  config.group_windows[1] = 128;
  run_decode<Driver>(state, config);
}

// Workload (b) as a kvtrace: the same ops, in order, in memory.
kv::Trace decode_trace() {
  kv::Trace trace;
  trace.config = decode_config();
  trace.lines.reserve(kOps);
  for (uint32_t step = 0; step < kSteps; step++) {
    for (SeqId seq = 0; seq < kSequences; seq++) {
      kv::TraceLine line;
      line.op = kv::Op{kv::OpKind::append, seq, 1, {}};
      trace.lines.push_back(std::move(line));
    }
  }
  return trace;
}

// (f) The differential runner on workload (b): one iteration = run_trace over the 1,024,000-op
// trace (built once, before the loop) with the model and backend `host`, AuditMode::check (no
// per-op audit; results, stats and info are compared after every op, and the end-of-trace full
// check runs once). One item = one op. Making the host backend is excluded from timing.
// BM_runner/decode_hip_emu: the same with backend `hip-emu` (impl/ over the emulated device).
void BM_runner_decode(benchmark::State& state, const char* backend_name) {
  const kv::Trace trace = decode_trace();
  if (!time_runner(state, trace, backend_name)) return;
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(trace.lines.size()));
}

BENCHMARK_TEMPLATE(BM_decode, ModelDriver)->Name("BM_decode/model")->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_decode, ImplDriver)->Name("BM_decode/impl")->Unit(benchmark::kMillisecond);
// Bookkeeping only: the same run with a store that moves no data.
BENCHMARK_TEMPLATE(BM_decode, ImplDriverOn<NullPageStore>)
    ->Name("BM_decode/impl_no_data")
    ->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_decode_window, ModelDriver)
    ->Name("BM_decode_window/model")
    ->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_decode_window, ImplDriver)
    ->Name("BM_decode_window/impl")
    ->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_decode_hybrid, ModelDriver)
    ->Name("BM_decode_hybrid/model")
    ->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_decode_hybrid, ImplDriver)
    ->Name("BM_decode_hybrid/impl")
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_runner_decode, host, "host")
    ->Name("BM_runner/decode")
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_runner_decode, hip_emu, "hip-emu")
    ->Name("BM_runner/decode_hip_emu")
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace kvbench
