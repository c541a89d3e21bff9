// Backend `hip-emu` (impl/ over the emulated device) beside backend `host` (impl/ over host
// memory), per token, at the default shape (4 words per token) and at a real one (kv_heads 8,
// head_dim 128: 2,048 words, 8 KiB per token). One item = one token written (and read back).
//
// BM_tokens/<shape>/<backend>: the backend alone (Backend::apply, no model, no runner checks):
// 64 sequences prefilled with 40 tokens each (one `append S 40` op: 81,920 words per launch on
// the real shape, more than the block size and more than 65,535), then 24 decode steps of one
// token per sequence (a `step` op of 64 members: one launch each), then a `read` of every
// sequence (a gather launch each). Tokens per iteration: 64 * (40 + 24) = 4,096.
// BM_runner_tokens/<shape>/<backend>: the same trace through the differential runner (model +
// backend, AuditMode::check), so what the property suite and campaigns pay per token.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backends/backends.hpp"
#include "bench/drivers.hpp"
#include "runner/backend.hpp"
#include "runner/runner.hpp"
#include "trace/trace.hpp"

namespace kvbench {
namespace {

constexpr uint32_t kSequences = 64;
constexpr uint32_t kPrefill = 40;
constexpr uint32_t kSteps = 24;
constexpr uint64_t kTokens = uint64_t{kSequences} * (kPrefill + kSteps);

kv::Config tokens_config(bool real_shape) {
  kv::Config config;
  config.page_size = 16;
  config.max_pages = kSequences * ((kPrefill + kSteps + 15) / 16);  // 256: never runs out
  config.eviction = kv::Eviction::none;
  if (real_shape) {
    config.kv_heads = 8;
    config.head_dim = 128;
  }
  return config;
}

kv::Trace tokens_trace(bool real_shape) {
  kv::Trace trace;
  trace.config = tokens_config(real_shape);
  auto add = [&trace](kv::Op op) {
    kv::TraceLine line;
    line.op = std::move(op);
    trace.lines.push_back(std::move(line));
  };
  for (kv::SeqId seq = 0; seq < kSequences; seq++)
    add(kv::Op{kv::OpKind::append, seq, kPrefill, {}});
  for (uint32_t step = 0; step < kSteps; step++) {
    kv::Op op{kv::OpKind::step, 0, 0, {}};
    for (kv::SeqId seq = 0; seq < kSequences; seq++) op.entries.push_back(kv::StepEntry{seq, 1});
    add(std::move(op));
  }
  for (kv::SeqId seq = 0; seq < kSequences; seq++) add(kv::Op{kv::OpKind::read, seq, 0, {}});
  return trace;
}

void BM_tokens(benchmark::State& state, const char* backend_name, bool real_shape) {
  const kv::Trace trace = tokens_trace(real_shape);
  std::unique_ptr<kv::Backend> backend;
  for (auto _ : state) {
    state.PauseTiming();
    backend.reset();
    backend = kv::make_backend(backend_name, trace.config);
    state.ResumeTiming();
    kv::Tick tick = 0;
    for (const kv::TraceLine& line : trace.lines) {
      const kv::OpResult result = backend->apply(line.op, tick++);
      benchmark::DoNotOptimize(&result);
    }
    benchmark::DoNotOptimize(backend->last_read_words().data());
    if (backend->fault()) {
      state.SkipWithError(backend->fault()->c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(kTokens));
}

void BM_runner_tokens(benchmark::State& state, const char* backend_name, bool real_shape) {
  const kv::Trace trace = tokens_trace(real_shape);
  if (!time_runner(state, trace, backend_name)) return;
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(kTokens));
}

#define KV_TOKENS_BENCH(fn, prefix, shape, real, backend, backend_name) \
  BENCHMARK_CAPTURE(fn, shape##_##backend, backend_name, real)          \
      ->Name(prefix "/" #shape "/" backend_name)                        \
      ->Unit(benchmark::kMicrosecond)

KV_TOKENS_BENCH(BM_tokens, "BM_tokens", default_shape, false, host, "host");
KV_TOKENS_BENCH(BM_tokens, "BM_tokens", default_shape, false, hip_emu, "hip-emu");
KV_TOKENS_BENCH(BM_tokens, "BM_tokens", real_shape, true, host, "host");
KV_TOKENS_BENCH(BM_tokens, "BM_tokens", real_shape, true, hip_emu, "hip-emu");
KV_TOKENS_BENCH(BM_runner_tokens, "BM_runner_tokens", default_shape, false, host, "host");
KV_TOKENS_BENCH(BM_runner_tokens, "BM_runner_tokens", default_shape, false, hip_emu, "hip-emu");
KV_TOKENS_BENCH(BM_runner_tokens, "BM_runner_tokens", real_shape, true, host, "host");
KV_TOKENS_BENCH(BM_runner_tokens, "BM_runner_tokens", real_shape, true, hip_emu, "hip-emu");

}  // namespace
}  // namespace kvbench
