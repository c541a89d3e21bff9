// Workload (c), beam search: fork the winner 4 ways, append to each beam, free the losers.
#include <benchmark/benchmark.h>

#include <array>
#include <cstdint>
#include <vector>

#include "bench/drivers.hpp"
#include "trace/rng.hpp"

namespace kvbench {
namespace {

constexpr uint32_t kRequests = 64;    // concurrent beam-search requests
constexpr uint32_t kBeams = 4;        // beam width
constexpr uint32_t kPrompt = 40;      // prompt tokens of a new request
constexpr uint32_t kMaxTokens = 512;  // a request finishes at this length
constexpr uint32_t kPageSize = 16;

// At most 64 requests x (512 / 16 pages + 4 copied pages): 4096 pages never run out.
kv::Config beam_config() {
  return make_config(kPageSize, 4096, kv::Eviction::none);
}

// 64 requests, each with one winning sequence (prompts appended before the timed loop). One
// iteration = one beam round of one request, round robin: fork the winner into 4 new beams,
// append one token to each (copy-on-write of the shared last page), free the parent and the 3
// losers; 12 ops. A request that reaches 512 tokens is freed and a new one starts with a
// 40-token prompt (2 more ops). One item = one op.
template <class Driver>
void BM_beam(benchmark::State& state) {
  Driver driver(beam_config());
  kv::Rng rng(1);
  std::vector<SeqId> winner(kRequests);
  std::vector<uint32_t> length(kRequests, kPrompt);
  SeqId next_id = 0;
  Tick tick = 0;
  bool ok = true;
  for (SeqId& seq : winner) {
    seq = next_id++;
    ok &= driver.append(seq, kPrompt, tick++).ok;
  }
  int64_t ops = 0;
  uint32_t request = 0;
  for (auto _ : state) {
    std::array<SeqId, kBeams> beams;
    for (SeqId& beam : beams) {
      beam = next_id++;
      ok &= driver.fork(winner[request], beam, tick++).ok;
    }
    for (SeqId beam : beams) ok &= driver.append(beam, 1, tick++).ok;
    ok &= driver.free(winner[request], tick++).ok;
    const uint64_t best = rng.below(kBeams);
    for (uint32_t i = 0; i < kBeams; i++) {
      if (i != best) ok &= driver.free(beams[i], tick++).ok;
    }
    ops += 3 * kBeams;
    winner[request] = beams[best];
    if (++length[request] >= kMaxTokens) {
      ok &= driver.free(winner[request], tick++).ok;
      winner[request] = next_id++;
      ok &= driver.append(winner[request], kPrompt, tick++).ok;
      length[request] = kPrompt;
      ops += 2;
    }
    request = (request + 1) % kRequests;
  }
  if (!ok) state.SkipWithError("an op failed");
  state.SetItemsProcessed(ops);
}

BENCHMARK_TEMPLATE(BM_beam, ModelDriver)->Name("BM_beam/model");
BENCHMARK_TEMPLATE(BM_beam, ImplDriver)->Name("BM_beam/impl");

}  // namespace
}  // namespace kvbench
