// libkvh_host.so and libkvh_host_v1.so: C ABI version 1 of include/kvharness/backend.h (kvtrace 1
// only; libkvh_host.so also exports version 2, kvh_host_v2.cpp). The in-tree cache (impl/), the
// example for `--backend so:PATH` (what a C, C++, Zig or Rust cache exports to be loaded in
// process).
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "impl/kvcache.hpp"
#include "include/kvharness/backend.h"
#include "trace/token.hpp"

namespace {

struct HostCache {
  HostCache(const kvcache::Config& config, const kv::Config& trace_config)
      : shape(trace_config), store(config), cache(config, store) {}
  kv::Config shape;  // for the token-value functions
  kvcache::HostPageStore store;
  kvcache::Cache cache;
  std::vector<uint32_t> token_words;           // scratch
  std::vector<uint32_t> read_words;            // scratch
  std::vector<std::vector<uint32_t>> evicted;  // per result, valid until the next call
};

HostCache* as_cache(void* cache) {
  return static_cast<HostCache*>(cache);
}

void* create(const kvh_config* c, char* error, size_t error_size) {
  const kvcache::Config config{c->page_size, c->max_pages,
                               c->eviction == 1 ? kvcache::Eviction::lru : kvcache::Eviction::none,
                               kvcache::Shape{c->kv_heads, c->head_dim, c->layers}};
  const std::string problem = kvcache::config_problem(config);
  if (!problem.empty()) {
    std::snprintf(error, error_size, "%s", problem.c_str());
    return nullptr;
  }
  kv::Config shape;
  shape.page_size = c->page_size;
  shape.max_pages = c->max_pages;
  shape.kv_heads = c->kv_heads;
  shape.head_dim = c->head_dim;
  shape.layers = c->layers;
  return new HostCache(config, shape);
}

void destroy(void* cache) {
  delete as_cache(cache);
}

kvcache::Outcome append(HostCache& h, uint32_t seq, uint32_t count, uint64_t tick, uint32_t entry,
                        std::span<const uint32_t> protected_ids) {
  const uint64_t words_per_token = h.shape.words_per_token();
  h.token_words.clear();
  if (count >= 1 && count <= kvcache::kMaxAppendTokens) {
    h.token_words.resize(count * words_per_token);
    for (uint32_t offset = 0; offset < count; offset++) {
      kv::fill_token_words(
          kv::token_value(tick, entry, offset), h.shape,
          std::span(h.token_words).subspan(offset * words_per_token, words_per_token));
    }
  }
  return h.cache.append(seq, count, h.token_words, tick, protected_ids);
}

kvcache::Outcome simple(HostCache& h, const kvh_op* op, uint64_t tick) {
  const std::string_view name = op->name;
  if (name == "alloc") return h.cache.alloc(op->seq, tick);
  if (name == "fork") return h.cache.fork(op->seq, op->count, tick);
  if (name == "free") return h.cache.free(op->seq);
  if (name == "truncate") return h.cache.truncate(op->seq, op->count, tick);
  if (name == "pin") return h.cache.pin(op->seq);
  if (name == "unpin") return h.cache.unpin(op->seq);
  if (name == "touch") return h.cache.touch(op->seq, tick);
  if (name == "read") return h.cache.read(op->seq, h.read_words, tick);
  if (name == "evict") return h.cache.evict();
  if (name == "append") {
    const uint32_t requester[] = {op->seq};
    return append(h, op->seq, op->count, tick, 0, requester);
  }
  return kvcache::Outcome{kvcache::Error::invalid_argument, {}};
}

void to_result(HostCache& h, size_t index, const kvcache::Outcome& outcome, kvh_result* out) {
  h.evicted[index].assign(outcome.evicted.begin(), outcome.evicted.end());
  out->status = static_cast<uint32_t>(outcome.error);  // the same order as KVH_*
  out->evicted_count = static_cast<uint32_t>(h.evicted[index].size());
  out->evicted = h.evicted[index].data();
}

int32_t apply(void* cache, const kvh_op* op, uint64_t tick, kvh_result* results) {
  // KVH_HOST_ABORT_ON=OP: abort() on every op of that name, to play a cache that crashes
  // (tests/persistent_worker_test.sh).
  static const char* const abort_on = std::getenv("KVH_HOST_ABORT_ON");
  if (abort_on != nullptr && std::string_view(op->name) == abort_on) std::abort();
  HostCache& h = *as_cache(cache);
  if (std::string_view(op->name) != "step") {
    h.evicted.resize(1);
    to_result(h, 0, simple(h, op, tick), results);
    return 0;
  }
  std::vector<uint32_t> members;
  for (uint32_t i = 0; i < op->entry_count; i++) members.push_back(op->entries[i].seq);
  h.evicted.resize(op->entry_count);
  for (uint32_t i = 0; i < op->entry_count; i++) {
    const kvcache::Outcome outcome =
        append(h, op->entries[i].seq, op->entries[i].token_count, tick, i, members);
    to_result(h, i, outcome, &results[i]);
  }
  return 0;
}

void stats(void* cache, kvh_stats* out) {
  const kvcache::Stats s = as_cache(cache)->cache.stats();
  *out = kvh_stats{s.used_pages, s.free_pages, s.sequence_count, s.token_count};
}

int32_t info(void* cache, uint32_t seq, kvh_info* out) {
  const auto found = as_cache(cache)->cache.info(seq);
  if (!found) return 0;
  *out = kvh_info{found->token_count, found->page_count, found->pinned ? 1u : 0u};
  return 1;
}

template <typename T, typename Range>
size_t copy_out(const Range& range, T* out, size_t capacity) {
  const size_t count = std::size(range);
  std::copy_n(std::begin(range), std::min(count, capacity), out);
  return count;
}

size_t sequence_ids(void* cache, uint32_t* out, size_t capacity) {
  return copy_out(as_cache(cache)->cache.sequence_ids(), out, capacity);
}

size_t block_table(void* cache, uint32_t seq, uint64_t* out, size_t capacity) {
  return copy_out(as_cache(cache)->cache.block_table(seq), out, capacity);
}

size_t gather_words(void* cache, uint32_t seq, uint32_t* out, size_t capacity) {
  HostCache& h = *as_cache(cache);
  const auto found = h.cache.info(seq);
  if (!found) return 0;
  std::vector<uint32_t> words(found->token_count * h.shape.words_per_token());
  h.store.gather(h.cache.block_table(seq), found->token_count, words);
  return copy_out(words, out, capacity);
}

size_t audit(void* cache, char* out, size_t capacity) {
  std::string text;
  for (const std::string& problem : as_cache(cache)->cache.audit()) text += problem + "\n";
  std::memcpy(out, text.data(), std::min(text.size(), capacity));
  return text.size();
}

const kvh_backend_v1 table = {
    KVH_ABI_VERSION,
    sizeof(kvh_backend_v1),
    "kvh-host",
    "ops alloc append fork free truncate pin unpin touch read evict step info stats check\n"
    "eviction none lru\ndata yes\naudit yes\n",
    create,
    destroy,
    apply,
    stats,
    info,
    sequence_ids,
    block_table,
    gather_words,
    audit,
};

}  // namespace

extern "C" __attribute__((visibility("default"))) const kvh_backend_v1* kvh_backend_v1_entry() {
  return &table;
}
