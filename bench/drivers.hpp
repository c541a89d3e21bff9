// Benchmark plumbing: the model and impl/ behind one small driver interface, and token data.
#pragma once

#include <benchmark/benchmark.h>

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "backends/backends.hpp"
#include "backends/host_backend.hpp"
#include "impl/kvcache.hpp"
#include "model/model.hpp"
#include "runner/runner.hpp"
#include "trace/config.hpp"
#include "trace/op.hpp"
#include "trace/token.hpp"

namespace kvbench {

using kv::SeqId;
using kv::Tick;

// The differential runner over `trace` with the model and one backend, AuditMode::check, per
// iteration; making the backend is not timed. Returns false (the benchmark skipped with the
// divergence) when a run diverges.
inline bool time_runner(benchmark::State& state, const kv::Trace& trace, const char* backend_name) {
  std::vector<std::unique_ptr<kv::Backend>> backends;
  for (auto _ : state) {
    state.PauseTiming();
    backends.clear();
    backends.push_back(kv::make_backend(backend_name, trace.config));
    state.ResumeTiming();
    const kv::RunReport report = kv::run_trace(trace, backends, kv::AuditMode::check);
    benchmark::DoNotOptimize(report.op_count);
    if (!report.ok()) {
      state.SkipWithError(kv::format_divergence(*report.divergence).c_str());
      return false;
    }
  }
  return true;
}

// The most tokens one benchmark append writes.
inline constexpr uint32_t kMaxAppend = 256;

// What one op did: whether it succeeded and how many sequences it evicted.
struct Done {
  bool ok;
  size_t evicted;
};

// The reference model, driven op by op through Model::apply exactly as the runner drives it.
class ModelDriver {
 public:
  explicit ModelDriver(const kv::Config& config) : model_(config) {}

  Done alloc(SeqId seq, Tick tick) { return apply(kv::OpKind::alloc, seq, 0, tick); }
  Done append(SeqId seq, uint32_t token_count, Tick tick) {
    return apply(kv::OpKind::append, seq, token_count, tick);
  }
  Done fork(SeqId src, SeqId dst, Tick tick) { return apply(kv::OpKind::fork, src, dst, tick); }
  Done free(SeqId seq, Tick tick) { return apply(kv::OpKind::free, seq, 0, tick); }
  Done truncate(SeqId seq, uint32_t token_count, Tick tick) {
    return apply(kv::OpKind::truncate, seq, token_count, tick);
  }
  Done reserve(SeqId seq, uint32_t token_count, Tick tick) {
    return apply(kv::OpKind::reserve, seq, token_count, tick);
  }
  Done commit(SeqId seq, uint32_t token_count, Tick tick) {
    return apply(kv::OpKind::commit, seq, token_count, tick);
  }

 private:
  Done apply(kv::OpKind kind, SeqId seq, uint32_t count, Tick tick) {
    op_.kind = kind;
    op_.seq = seq;
    op_.count = count;
    const kv::OpResult result = model_.apply(op_, tick);
    benchmark::DoNotOptimize(result.entries.data());
    const kv::Result& first = result.entries.front();
    return Done{first.status == kv::Status::ok, first.evicted.size()};
  }

  kv::Model model_;
  kv::Op op_;
};

// A data plane that moves nothing: with it, a benchmark times impl's bookkeeping alone.
class NullPageStore final : public kvcache::PageStore {
 public:
  explicit NullPageStore(const kvcache::Config&) {}
  void write_tokens(std::span<const uint64_t>, std::span<const uint32_t>) override {}
  void copy_page(kvcache::PageId, kvcache::PageId, uint32_t) override {}
  void gather(std::span<const kvcache::PageId>, uint64_t, std::span<uint32_t>) override {}
};

// impl/: kvcache::Cache over a page store (HostPageStore unless stated), called directly as an
// engine would call it. Appends pass real token words (the default shape) from a buffer filled
// once; with KV groups (section 17) each group's words, group-major, copied per call.
template <class Store = kvcache::HostPageStore>
class ImplDriverOn {
 public:
  explicit ImplDriverOn(const kv::Config& config)
      : store_(kv::to_cache_config(config)),
        cache_(kv::to_cache_config(config), store_),
        words_per_token_(config.words_per_token()),
        groups_(config.groups()),
        token_words_(groups_ * kMaxAppend * words_per_token_) {
    for (uint32_t g = 0; g < groups_; g++) {
      for (uint32_t offset = 0; offset < kMaxAppend; offset++) {
        kv::fill_token_words(
            kv::group_token_value(kv::token_value(0, 0, offset), g), config,
            std::span(token_words_)
                .subspan((g * kMaxAppend + offset) * words_per_token_, words_per_token_));
      }
    }
  }

  Done alloc(SeqId seq, Tick tick) { return done(cache_.alloc(seq, tick)); }
  Done append(SeqId seq, uint32_t token_count, Tick tick) {
    return done(cache_.append(seq, token_count, words_for(token_count), tick));
  }
  Done fork(SeqId src, SeqId dst, Tick tick) { return done(cache_.fork(src, dst, tick)); }
  Done free(SeqId seq, Tick /*tick*/) { return done(cache_.free(seq)); }
  Done truncate(SeqId seq, uint32_t token_count, Tick tick) {
    return done(cache_.truncate(seq, token_count, tick));
  }
  Done reserve(SeqId seq, uint32_t token_count, Tick tick) {
    return done(cache_.reserve(seq, token_count, tick));
  }
  Done commit(SeqId seq, uint32_t token_count, Tick tick) {
    return done(cache_.commit(seq, token_count, words_for(token_count), tick));
  }

 private:
  // The words of `token_count` tokens: a prefix of the buffer for one group, else each group's
  // run one after the other (kvcache::Config's group-major order).
  std::span<const uint32_t> words_for(uint32_t token_count) {
    const uint64_t run = token_count * words_per_token_;
    if (groups_ == 1) return std::span<const uint32_t>(token_words_).first(run);
    scratch_.resize(groups_ * run);
    for (uint32_t g = 0; g < groups_; g++) {
      const auto from =
          token_words_.begin() + static_cast<int64_t>(g * kMaxAppend * words_per_token_);
      std::copy(from, from + static_cast<int64_t>(run),
                scratch_.begin() + static_cast<int64_t>(g * run));
    }
    return scratch_;
  }

  static Done done(const kvcache::Outcome& outcome) {
    benchmark::DoNotOptimize(outcome.evicted.data());
    return Done{outcome.ok(), outcome.evicted.size()};
  }

  Store store_;
  kvcache::Cache cache_;
  uint64_t words_per_token_;
  uint32_t groups_;
  std::vector<uint32_t> token_words_;
  std::vector<uint32_t> scratch_;
};

using ImplDriver = ImplDriverOn<>;

inline kv::Config make_config(uint32_t page_size, uint32_t max_pages, kv::Eviction eviction) {
  kv::Config config;
  config.page_size = page_size;
  config.max_pages = max_pages;
  config.eviction = eviction;
  return config;
}

}  // namespace kvbench
