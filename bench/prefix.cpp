// Workload (g), prefix caching (kvtrace 2): requests built from a few shared system prompts, a
// cache under pressure, and the per-block costs of hits and registrations.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <deque>
#include <vector>

#include "bench/drivers.hpp"
#include "trace/rng.hpp"

namespace kvbench {
namespace {

constexpr uint32_t kPageSize = 16;

// One prompt, ready for Cache::prefill: its ids and the words of every token (default shape).
struct Prompt {
  std::vector<uint32_t> ids;
  std::vector<uint32_t> words;
};

// Segments (stream, tokens) -> ids and prompt words, as the harness computes them.
Prompt make_prompt(const kv::Config& config, const std::vector<kv::StepEntry>& segments) {
  const auto ids = kv::prompt_token_ids(segments);
  const std::vector<uint64_t> values = kv::prompt_token_values(*ids);
  Prompt prompt;
  prompt.ids.assign(ids->begin(), ids->end());
  const uint64_t words_per_token = config.words_per_token();
  prompt.words.resize(values.size() * words_per_token);
  for (size_t i = 0; i < values.size(); i++) {
    kv::fill_token_words(values[i], config,
                         std::span(prompt.words).subspan(i * words_per_token, words_per_token));
  }
  return prompt;
}

kv::Config prefix_config(uint32_t max_pages) {
  kv::Config config = make_config(kPageSize, max_pages, kv::Eviction::lru);
  config.prefix_caching = true;
  return config;
}

// The serving workload: 4 system prompts of 256 tokens (16 blocks), each request one of them
// plus a private question of 1..64 tokens drawn from 512 (so questions repeat, as in chat
// retries). 64 requests stay live; each iteration frees the oldest and prefills a new one. The
// 128-page pool (eviction=lru) holds the system prompts but not the live set, so prefills evict
// and the cached queue is always being recycled. One item = one prefill (its free included).
void BM_prefix_workload(benchmark::State& state) {
  const kv::Config config = prefix_config(128);
  std::vector<Prompt> prompts;
  kv::Rng rng(7);
  for (uint32_t i = 0; i < 512; i++) {
    prompts.push_back(make_prompt(
        config, {{1 + i % 4, 256}, {100 + i, static_cast<uint32_t>(rng.between(1, 64))}}));
  }
  kvcache::HostPageStore store(kv::to_cache_config(config));
  kvcache::Cache cache(kv::to_cache_config(config), store);
  std::deque<SeqId> live;
  SeqId next = 0;
  Tick tick = 0;
  uint64_t hit_tokens = 0, evicted = 0, failed = 0;
  for (auto _ : state) {
    if (live.size() >= 64) {
      cache.free(live.front());
      live.pop_front();
    }
    const Prompt& prompt = prompts[rng.below(prompts.size())];
    const kvcache::Outcome outcome = cache.prefill(next, prompt.ids, prompt.words, tick++);
    benchmark::DoNotOptimize(outcome.evicted.data());
    hit_tokens += outcome.hit_tokens;
    evicted += outcome.evicted.size();
    failed += outcome.ok() ? 0 : 1;
    if (outcome.ok()) live.push_back(next);
    next++;
  }
  if (failed > 0) state.SkipWithError("a prefill failed");
  state.SetItemsProcessed(state.iterations());
  state.counters["hit_blocks"] = benchmark::Counter(static_cast<double>(hit_tokens / kPageSize),
                                                    benchmark::Counter::kAvgIterations);
  state.counters["evicted"] =
      benchmark::Counter(static_cast<double>(evicted), benchmark::Counter::kAvgIterations);
}
BENCHMARK(BM_prefix_workload)->Name("BM_prefix/workload");

// Hits: a 64-block prompt (+1 token) whose 64 blocks are cached, prefilled and freed again. One
// item = one hit block, so the time per item is the cost of one cached-block lookup and take
// (the prefill's one computed token and the free are spread over the 64 blocks).
void BM_prefix_hit_blocks(benchmark::State& state) {
  const kv::Config config = prefix_config(256);
  const Prompt prompt = make_prompt(config, {{1, 64 * kPageSize + 1}});
  kvcache::HostPageStore store(kv::to_cache_config(config));
  kvcache::Cache cache(kv::to_cache_config(config), store);
  Tick tick = 0;
  cache.prefill(0, prompt.ids, prompt.words, tick++);  // registers the 64 blocks
  uint64_t hit_tokens = 0;
  SeqId next = 1;
  for (auto _ : state) {
    const kvcache::Outcome outcome = cache.prefill(next, prompt.ids, prompt.words, tick++);
    hit_tokens += outcome.hit_tokens;
    cache.free(next++);
  }
  if (hit_tokens != static_cast<uint64_t>(state.iterations()) * 64 * kPageSize)
    state.SkipWithError("expected 64 hits");
  state.SetItemsProcessed(state.iterations() * 64);
}
BENCHMARK(BM_prefix_hit_blocks)->Name("BM_prefix/hit_block");

// Registrations: 64-block prompts never seen before (the stream changes every time), each
// prefilled and freed; its pages go to the queue and are taken back (unregistering the old keys)
// by the next prompt. One item = one block computed, written (16 tokens) and registered.
void BM_prefix_register_blocks(benchmark::State& state) {
  const kv::Config config = prefix_config(256);
  std::vector<Prompt> prompts;
  for (uint32_t stream = 0; stream < 64; stream++) {
    prompts.push_back(make_prompt(config, {{stream, 64 * kPageSize}}));
  }
  kvcache::HostPageStore store(kv::to_cache_config(config));
  kvcache::Cache cache(kv::to_cache_config(config), store);
  Tick tick = 0;
  uint64_t hit_tokens = 0;
  SeqId next = 0;
  for (auto _ : state) {
    // 64 streams over a 256-page pool: a stream's blocks are long gone when it comes round again.
    const Prompt& prompt = prompts[next % prompts.size()];
    hit_tokens += cache.prefill(next, prompt.ids, prompt.words, tick++).hit_tokens;
    cache.free(next++);
  }
  if (hit_tokens != 0) state.SkipWithError("expected no hits");
  state.SetItemsProcessed(state.iterations() * 64);
}
BENCHMARK(BM_prefix_register_blocks)->Name("BM_prefix/register_block");

// vLLM's 64-token request: 4 blocks, the first 3 cached (the last block is always computed).
// One item = one request: prefill and free.
void BM_prefix_request64(benchmark::State& state) {
  const kv::Config config = prefix_config(256);
  const Prompt prompt = make_prompt(config, {{1, 64}});
  kvcache::HostPageStore store(kv::to_cache_config(config));
  kvcache::Cache cache(kv::to_cache_config(config), store);
  Tick tick = 0;
  cache.prefill(0, prompt.ids, prompt.words, tick++);
  SeqId next = 1;
  uint64_t hit_tokens = 0;
  for (auto _ : state) {
    hit_tokens += cache.prefill(next, prompt.ids, prompt.words, tick++).hit_tokens;
    cache.free(next++);
  }
  if (hit_tokens != static_cast<uint64_t>(state.iterations()) * 48)
    state.SkipWithError("expected 3 hit blocks");
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_prefix_request64)->Name("BM_prefix/request64");

}  // namespace
}  // namespace kvbench
