// Workload (a), alloc/free churn (64k pages, 4k live sequences), the page allocator on its own,
// and (e), the raw free-list floor.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "bench/drivers.hpp"
#include "impl/page_pool.hpp"
#include "trace/rng.hpp"

namespace kvbench {
namespace {

constexpr uint32_t kPageSize = 16;
constexpr uint32_t kPages = 65536;
constexpr uint32_t kLive = 4096;
constexpr uint32_t kMaxTokens = 4 * kPageSize;  // a churned sequence holds 1..4 pages

kv::Config churn_config() {
  return make_config(kPageSize, kPages, kv::Eviction::none);
}

// Creates `seq`: `alloc` (one page) for the alloc/free pairs, else `append` of 1..64 tokens.
template <bool kAlloc, class Driver>
bool create(Driver& driver, SeqId seq, kv::Rng& rng, Tick tick) {
  if constexpr (kAlloc) return driver.alloc(seq, tick).ok;
  return driver.append(seq, static_cast<uint32_t>(rng.between(1, kMaxTokens)), tick).ok;
}

// (a) Churn: 4096 live sequences (set up before the timed loop). One iteration = free a random
// live sequence, then create a new one. One item = one op, so 2 items per iteration.
//   BM_churn:      sequences of 1..4 pages, created by appending 1..64 tokens.
//   BM_alloc_free: single-page sequences made by `alloc`; the pair compared against the floor.
template <class Driver, bool kAlloc>
void BM_churn(benchmark::State& state) {
  Driver driver(churn_config());
  kv::Rng rng(1);
  std::vector<SeqId> live(kLive);
  SeqId next_id = 0;
  Tick tick = 0;
  bool ok = true;
  for (SeqId& seq : live) {
    seq = next_id++;
    ok &= create<kAlloc>(driver, seq, rng, tick++);
  }
  for (auto _ : state) {
    const uint64_t victim = rng.below(kLive);
    ok &= driver.free(live[victim], tick++).ok;
    live[victim] = next_id++;
    ok &= create<kAlloc>(driver, live[victim], rng, tick++);
  }
  if (!ok) state.SkipWithError("an op failed");
  state.SetItemsProcessed(state.iterations() * 2);
}

// Page-level pairs on live sequences: 4096 sequences with no pages; one iteration = `alloc S`
// (reserve one page at the end of a random S) + `truncate S 0` (release it again). One item = one
// op, 2 per iteration: the cache's page allocator path, sequence lookup and LRU update included.
template <class Driver>
void BM_page_pair(benchmark::State& state) {
  Driver driver(churn_config());
  kv::Rng rng(1);
  Tick tick = 0;
  bool ok = true;
  for (SeqId seq = 0; seq < kLive; seq++) {
    ok &= driver.alloc(seq, tick++).ok;
    ok &= driver.truncate(seq, 0, tick++).ok;
  }
  for (auto _ : state) {
    const SeqId seq = static_cast<SeqId>(rng.below(kLive));
    ok &= driver.alloc(seq, tick++).ok;
    ok &= driver.truncate(seq, 0, tick++).ok;
  }
  if (!ok) state.SkipWithError("an op failed");
  state.SetItemsProcessed(state.iterations() * 2);
}

// A free stack of kPages page ids, as a cache keeps it (pop = alloc, push = free).
std::vector<uint32_t> full_free_stack() {
  std::vector<uint32_t> stack;
  stack.reserve(kPages);
  for (uint32_t page = kPages; page-- > 0;) stack.push_back(page);
  return stack;
}

// The two floors, each the denominator of one ratio (time per item):
//   BM_page_pool / BM_freelist_floor:          the allocator alone, take+release vs pop+push.
//   BM_alloc_free/impl / BM_freelist_floor_churn: whole alloc+free ops (lookup, LRU, block table)
//                                              vs the bare stack under the same random driver.

// (e) The physical floor: a plain std::vector<uint32_t> free stack. One iteration = push a page
// (free) + pop a page (alloc); one item = one push or pop, so 2 items per iteration.
void BM_freelist_floor(benchmark::State& state) {
  std::vector<uint32_t> stack = full_free_stack();
  uint32_t page = stack.back();
  stack.pop_back();
  for (auto _ : state) {
    stack.push_back(page);
    benchmark::ClobberMemory();  // keep the push and the pop as two real stack operations
    page = stack.back();
    stack.pop_back();
    benchmark::DoNotOptimize(page);
  }
  state.SetItemsProcessed(state.iterations() * 2);
}

// impl/'s page allocator in BM_freelist_floor's shape: kvcache::PagePool with kPages pages, one
// page held; one iteration = release it (refcount 1 -> 0, pushed) + take a page (popped, 0 -> 1),
// the same page, as in the floor. 2 items per iteration. The difference to the floor is the
// refcount array and the KV_CHECKs.
void BM_page_pool(benchmark::State& state) {
  kvcache::PagePool pool(kPages);
  kvcache::PageId page = pool.take();
  for (auto _ : state) {
    pool.release(page);
    benchmark::ClobberMemory();  // as in the floor: a real release and a real take
    page = pool.take();
    benchmark::DoNotOptimize(page);
  }
  state.SetItemsProcessed(state.iterations() * 2);
}

// (e) The floor with BM_alloc_free's driver around it: 4096 live "sequences" owning one page
// each in a flat array; one iteration = pick a random victim with the same RNG, push its page,
// pop a page for the new sequence. 2 items per iteration, as in BM_alloc_free.
void BM_freelist_floor_churn(benchmark::State& state) {
  std::vector<uint32_t> stack = full_free_stack();
  std::vector<uint32_t> page_of(kLive);
  for (uint32_t& page : page_of) {
    page = stack.back();
    stack.pop_back();
  }
  kv::Rng rng(1);
  for (auto _ : state) {
    const uint64_t victim = rng.below(kLive);
    stack.push_back(page_of[victim]);
    benchmark::ClobberMemory();
    page_of[victim] = stack.back();
    stack.pop_back();
    benchmark::DoNotOptimize(page_of[victim]);
  }
  state.SetItemsProcessed(state.iterations() * 2);
}

BENCHMARK_TEMPLATE(BM_churn, ModelDriver, false)->Name("BM_churn/model");
BENCHMARK_TEMPLATE(BM_churn, ImplDriver, false)->Name("BM_churn/impl");
BENCHMARK_TEMPLATE(BM_churn, ModelDriver, true)->Name("BM_alloc_free/model");
BENCHMARK_TEMPLATE(BM_churn, ImplDriver, true)->Name("BM_alloc_free/impl");
BENCHMARK_TEMPLATE(BM_page_pair, ModelDriver)->Name("BM_page_pair/model");
BENCHMARK_TEMPLATE(BM_page_pair, ImplDriver)->Name("BM_page_pair/impl");
BENCHMARK(BM_page_pool);
BENCHMARK(BM_freelist_floor);
BENCHMARK(BM_freelist_floor_churn);

}  // namespace
}  // namespace kvbench
