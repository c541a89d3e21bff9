// Backends outside the build on a decode-like trace: host vs so: (C ABI, in process) vs exec:
// (pipe, pipelined), each alone and under the differential runner, and one exec: round trip.
// Wall-clock time (UseRealTime): an exec: backend works in another process.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "backends/backends.hpp"
#include "runner/forecast.hpp"
#include "runner/runner.hpp"
#include "trace/trace.hpp"

namespace kvbench {
namespace {

constexpr uint32_t kSequences = 256;
constexpr uint32_t kSteps = 200;

// 256 sequences x 200 one-token appends (51,200 ops), page_size 16, eviction none.
kv::Trace small_decode_trace() {
  kv::Trace trace;
  trace.config.page_size = 16;
  trace.config.max_pages = 4096;
  for (uint32_t step = 0; step < kSteps; step++) {
    for (kv::SeqId seq = 0; seq < kSequences; seq++) {
      kv::TraceLine line;
      line.op = kv::Op{kv::OpKind::append, seq, 1, {}};
      trace.lines.push_back(std::move(line));
    }
  }
  return trace;
}

// The backend a benchmark argument names: 0 host, 1 so: (the example library), 2 exec:
// ($KV_BENCH_EXEC, e.g. exec:build/dev/rust-kvcache/release/rust-kvcache); "" when not set.
std::string backend_name(int64_t which) {
  if (which == 0) return "host";
  if (which == 1) return std::string("so:") + KV_SO_EXAMPLE;
  const char* exec = std::getenv("KV_BENCH_EXEC");
  return exec ? exec : "";
}

// The backend alone: every op applied in order (sent ahead when it can), no observations.
void BM_backend_decode(benchmark::State& state) {
  const std::string name = backend_name(state.range(0));
  if (name.empty()) return state.SkipWithError("set KV_BENCH_EXEC=exec:CMD");
  const kv::Trace trace = small_decode_trace();
  for (auto _ : state) {
    state.PauseTiming();
    auto backend = kv::make_backend(name, trace.config);
    backend->plan(trace.lines, false, nullptr);
    state.ResumeTiming();
    for (size_t i = 0; i < trace.lines.size(); i++) {
      benchmark::DoNotOptimize(backend->apply(trace.lines[i].op, i).entries.data());
    }
    if (auto why = backend->broken()) return state.SkipWithError(why->c_str());
    state.PauseTiming();
    backend.reset();
    state.ResumeTiming();
  }
  state.SetLabel(name.substr(0, name.find(' ')));
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(trace.lines.size()));
}

// Model + backend under the differential runner, AuditMode::check (no per-op audit).
void BM_runner_external(benchmark::State& state) {
  const std::string name = backend_name(state.range(0));
  if (name.empty()) return state.SkipWithError("set KV_BENCH_EXEC=exec:CMD");
  const kv::Trace trace = small_decode_trace();
  for (auto _ : state) {
    const kv::RunReport report = kv::run_trace(trace, {name}, kv::AuditMode::check);
    if (!report.ok()) {
      return state.SkipWithError(kv::format_divergence(*report.divergence).c_str());
    }
  }
  state.SetLabel(name.substr(0, name.find(' ')));
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(trace.lines.size()));
}

// One exec: round trip without pipelining: a `stats` op sent, its reply awaited.
void BM_exec_round_trip(benchmark::State& state) {
  const std::string name = backend_name(2);
  if (name.empty()) return state.SkipWithError("set KV_BENCH_EXEC=exec:CMD");
  const kv::Trace trace = small_decode_trace();
  auto backend = kv::make_backend(name, trace.config);
  const kv::Op stats{kv::OpKind::stats, 0, 0, {}};
  kv::Tick tick = 0;
  for (auto _ : state) benchmark::DoNotOptimize(backend->apply(stats, tick++).entries.data());
  if (auto why = backend->broken()) state.SkipWithError(why->c_str());
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK(BM_backend_decode)->Arg(0)->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_runner_external)->Arg(0)->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_exec_round_trip)->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace kvbench
