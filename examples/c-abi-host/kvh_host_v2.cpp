// libkvh_host.so's C ABI version 2 table (include/kvharness/backend.h): the in-tree cache (impl/)
// with everything it implements (prefix caching, the request lifecycle and a CPU pool, sliding
// windows, KV groups, the semantic variants), in process through `--backend so:PATH`. The mapping
// of configs and ops onto kvcache calls is backends/host_backend.cpp's (kv::HostBackend, compiled
// into this library); this file is only the C ABI around it, the part any engine writes.
//
// Environment, read when a cache is created (tests/so_backend_test.cpp, tests/so_v2_test.sh):
//   KVH_HOST_ABORT_ON=OP   abort() on every op of that name (a cache that crashes)
//   KVH_HOST_BUG=drop-hit  a planted bug: a prefix-cache hit is reported as hit=0
//   KVH_HOST_BUG=groups-reversed  a planted bug: block tables in reverse group order
// and at load, for the profile:
//   KVH_HOST_CONFIG="reuse_order=fifo ..."  the variants the library declares (`config` line)
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "backends/host_backend.hpp"
#include "impl/kvcache.hpp"
#include "include/kvharness/backend.h"

namespace {

enum class Bug { none, drop_hit, groups_reversed };

struct HostCacheV2 {
  HostCacheV2(const kv::Config& c, Bug planted) : config(c), backend(c), bug(planted) {}
  kv::Config config;
  kv::HostBackend backend;
  Bug bug;
  const char* abort_on = nullptr;
  kv::Op op;                                   // scratch: the op being applied
  std::vector<std::vector<uint32_t>> evicted;  // per result, valid until the next call
  std::vector<uint32_t> words;                 // scratch for gathers
  std::vector<uint64_t> table;                 // scratch for block tables
  std::vector<std::vector<uint64_t>> keys;     // prefix_cache(): valid until the next call
  std::vector<kvh_cached_page> pages;
  std::vector<uint64_t> queue;
};

HostCacheV2* as_cache(void* cache) {
  return static_cast<HostCacheV2*>(cache);
}

template <typename T, typename Range>
size_t copy_out(const Range& range, T* out, size_t capacity) {
  const size_t count = std::size(range);
  std::copy_n(std::begin(range), std::min(count, capacity), out);
  return count;
}

// kvh_config_v2 -> kv::Config: the fields, then the variant words ("reuse_order=fifo ...").
std::string to_config(const kvh_config_v2& c, kv::Config& config) {
  config.page_size = c.page_size;
  config.max_pages = c.max_pages;
  config.eviction = c.eviction == 1 ? kv::Eviction::lru : kv::Eviction::none;
  config.kv_heads = c.kv_heads;
  config.head_dim = c.head_dim;
  config.layers = c.layers;
  config.prefix_caching = c.prefix_caching != 0;
  config.cpu_pages = c.cpu_pages;
  config.sliding_window = c.sliding_window;
  if (c.kv_group_count > KVH_KV_GROUPS_MAX) return "more than 8 KV groups";
  config.group_count = c.kv_group_count;
  std::copy_n(c.kv_group_windows, KVH_KV_GROUPS_MAX, config.group_windows.begin());
  std::string_view variants = c.variants ? c.variants : "";
  while (!variants.empty()) {
    const size_t space = std::min(variants.find(' '), variants.size());
    const std::string_view item = variants.substr(0, space);
    variants.remove_prefix(std::min(space + 1, variants.size()));
    if (item.empty()) continue;
    const size_t equals = item.find('=');
    const kv::VariantKey* key =
        equals == std::string_view::npos ? nullptr : kv::find_variant_key(item.substr(0, equals));
    const auto word = key ? key->word_index(item.substr(equals + 1)) : std::nullopt;
    if (!word) return "unknown variant `" + std::string(item) + "`";
    config.*key->field = *word;
  }
  return kvcache::config_problem(kv::to_cache_config(config));
}

void* create(const kvh_config_v2* c, char* error, size_t error_size) {
  kv::Config config;
  const std::string problem = to_config(*c, config);
  if (!problem.empty()) {
    std::snprintf(error, error_size, "%s", problem.c_str());
    return nullptr;
  }
  const char* bug_name = std::getenv("KVH_HOST_BUG");
  const std::string_view bug = bug_name ? bug_name : "";
  auto* cache = new HostCacheV2(config, bug == "drop-hit"          ? Bug::drop_hit
                                        : bug == "groups-reversed" ? Bug::groups_reversed
                                                                   : Bug::none);
  cache->abort_on = std::getenv("KVH_HOST_ABORT_ON");
  return cache;
}

void destroy(void* cache) {
  delete as_cache(cache);
}

int32_t apply(void* cache, const kvh_op_v2* op, uint64_t tick, kvh_result_v2* results) {
  HostCacheV2& h = *as_cache(cache);
  if (h.abort_on != nullptr && std::string_view(op->name) == h.abort_on) std::abort();
  const auto kind = kv::op_from_name(op->name);
  if (!kind) return 1;
  h.op.kind = *kind;
  h.op.seq = op->seq;
  h.op.count = op->count;
  h.op.entries.clear();
  for (uint32_t i = 0; i < op->entry_count; i++)
    h.op.entries.push_back({op->entries[i].seq, op->entries[i].token_count});
  for (uint32_t i = 0; i < op->segment_count; i++)
    h.op.entries.push_back({op->segments[i].stream, op->segments[i].token_count});
  const kv::OpResult result = h.backend.apply(h.op, tick);
  const size_t expected = *kind == kv::OpKind::step ? op->entry_count : 1;
  if (result.entries.size() != expected) return 1;
  h.evicted.resize(expected);
  for (size_t i = 0; i < expected; i++) {
    const kv::Result& entry = result.entries[i];
    h.evicted[i].assign(entry.evicted.begin(), entry.evicted.end());
    kvh_result_v2& out = results[i];
    out.status = static_cast<uint32_t>(entry.status);  // the same order as KVH_*
    out.has_hit = entry.hit_tokens ? 1 : 0;
    out.hit_tokens = entry.hit_tokens.value_or(0);
    if (h.bug == Bug::drop_hit) out.hit_tokens = 0;
    out.evicted_count = static_cast<uint32_t>(h.evicted[i].size());
    out.evicted = h.evicted[i].data();
  }
  return 0;
}

void stats(void* cache, kvh_stats_v2* out) {
  const kv::StatsView s = as_cache(cache)->backend.stats();
  *out = kvh_stats_v2{s.used_pages,
                      s.free_pages,
                      s.sequence_count,
                      s.token_count,
                      s.cached_keys.value_or(0),
                      s.cpu_pages_used.value_or(0)};
}

int32_t info(void* cache, uint32_t seq, kvh_info* out) {
  const auto found = as_cache(cache)->backend.info(seq);
  if (!found) return 0;
  *out = kvh_info{found->token_count, found->page_count, found->pinned ? 1u : 0u};
  return 1;
}

size_t sequence_ids(void* cache, uint32_t* out, size_t capacity) {
  return copy_out(as_cache(cache)->backend.sequence_ids(), out, capacity);
}

// kv::HostBackend::block_table is already C ABI v2's: the groups' tables concatenated, null
// entries as UINT64_MAX (KVH_NULL_PAGE).
size_t block_table(void* cache, uint32_t seq, uint64_t* out, size_t capacity) {
  HostCacheV2& h = *as_cache(cache);
  h.table = h.backend.block_table(seq);
  const uint32_t groups = h.config.groups();
  if (h.bug == Bug::groups_reversed && groups > 1 && h.table.size() % groups == 0) {
    const size_t length = h.table.size() / groups;
    std::vector<uint64_t> reversed;
    for (uint32_t g = groups; g-- > 0;) {
      const auto first = h.table.begin() + static_cast<std::ptrdiff_t>(g * length);
      reversed.insert(reversed.end(), first, first + static_cast<std::ptrdiff_t>(length));
    }
    h.table = std::move(reversed);
  }
  return copy_out(h.table, out, capacity);
}

size_t gather_words(void* cache, uint32_t seq, uint32_t group, uint64_t first_token,
                    uint64_t token_count, uint32_t* out, size_t capacity) {
  HostCacheV2& h = *as_cache(cache);
  h.words.clear();
  if (group < h.config.groups()) {
    h.backend.gather_group_words(seq, group, first_token, token_count, h.words);
  }
  return copy_out(h.words, out, capacity);
}

size_t audit(void* cache, char* out, size_t capacity) {
  std::string text;
  for (const std::string& problem : as_cache(cache)->backend.audit()) text += problem + "\n";
  std::memcpy(out, text.data(), std::min(text.size(), capacity));
  return text.size();
}

int32_t prefix_cache(void* cache, kvh_prefix_cache* out) {
  HostCacheV2& h = *as_cache(cache);
  const auto view = h.backend.prefix_cache();
  if (!view) return 0;
  h.keys.clear();
  h.pages.clear();
  for (const kv::CachedPageView& page : view->registered) h.keys.push_back(page.key);
  for (size_t i = 0; i < view->registered.size(); i++) {
    h.pages.push_back(kvh_cached_page{view->registered[i].page, view->registered[i].group,
                                      static_cast<uint32_t>(h.keys[i].size()), h.keys[i].data()});
  }
  h.queue = view->queue;
  *out = kvh_prefix_cache{h.pages.size(), h.pages.data(), h.queue.size(), h.queue.data()};
  return 1;
}

// Every op and config impl/ implements; KVH_HOST_CONFIG adds a `config` line (the variants).
const std::string& profile() {
  static const std::string text = [] {
    std::string lines =
        "ops alloc append fork free truncate pin unpin touch read evict step prefill info stats "
        "check admit reserve commit preempt swap_out swap_in\n"
        "eviction none lru\n"
        "sliding_window 0 1048576\n"
        "kv_groups 0 8\n"
        "data yes\n"
        "audit yes\n";
    if (const char* variants = std::getenv("KVH_HOST_CONFIG"); variants && *variants) {
      lines += std::string("config ") + variants + "\n";
    }
    return lines;
  }();
  return text;
}

}  // namespace

extern "C" __attribute__((visibility("default"))) const kvh_backend_v2* kvh_backend_v2_entry() {
  static const kvh_backend_v2 table = {
      KVH_ABI_VERSION_2,
      sizeof(kvh_backend_v2),
      "kvh-host",
      profile().c_str(),
      create,
      destroy,
      apply,
      stats,
      info,
      sequence_ids,
      block_table,
      gather_words,
      audit,
      prefix_cache,
  };
  return &table;
}
