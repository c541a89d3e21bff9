// Backend `host`: translates ops into kvcache::Cache calls and the cache's answers into results.
#include "backends/host_backend.hpp"

#include <algorithm>

#include "trace/token.hpp"

namespace kv {

kvcache::Config to_cache_config(const Config& config) {
  kvcache::Config cache_config{
      config.page_size,
      config.max_pages,
      config.eviction == Eviction::lru ? kvcache::Eviction::lru : kvcache::Eviction::none,
      kvcache::Shape{config.kv_heads, config.head_dim, config.layers},
      config.prefix_caching,
      config.rejected_slots != 0,
      config.cpu_pages,
      config.boundary_block != 0,
      config.register_at != 0,
      config.sliding_window,
      config.group_count};
  std::copy(config.group_windows.begin(), config.group_windows.end(),
            cache_config.group_windows.begin());
  cache_config.reuse_fifo = config.reuse_order == reuse_fifo;
  cache_config.decode_caching = config.decode_caching != 0;
  cache_config.keep_duplicate_keys = config.duplicate_keys == duplicate_kept;
  cache_config.remap_duplicate_keys = config.duplicate_keys == duplicate_remapped;
  cache_config.hit_latest_duplicate = config.duplicate_hit == duplicate_hit_any;
  cache_config.single_free_queue = config.free_queue != 0;
  cache_config.skip_reserved_slots = config.reserved_slots != 0;
  return cache_config;
}

Result to_result(const kvcache::Outcome& outcome) {
  // kvcache::Error lists the same closed set as Status, in the same order after `none`/`ok`.
  const auto status = static_cast<Status>(static_cast<uint8_t>(outcome.error));
  return result_of(status, std::vector<SeqId>(outcome.evicted.begin(), outcome.evicted.end()));
}

HostBackend::HostBackend(const Config& config)
    : HostBackend(config, std::make_unique<kvcache::HostPageStore>(to_cache_config(config)),
                  "host") {}

HostBackend::HostBackend(const Config& config, std::unique_ptr<kvcache::PageStore> store,
                         std::string name)
    : config_(config),
      name_(std::move(name)),
      store_(std::move(store)),
      cache_(to_cache_config(config), *store_) {}

// token_words_ := the words of tokens of these values, each group's from its own values (V-G2),
// group-major as the cache takes them.
void HostBackend::fill_words(std::span<const uint64_t> values) {
  const uint64_t words_per_token = config_.words_per_token();
  token_words_.resize(values.size() * config_.groups() * words_per_token);
  uint64_t at = 0;
  for (uint32_t g = 0; g < config_.groups(); g++) {
    for (const uint64_t value : values) {
      fill_token_words(group_token_value(value, g), config_,
                       std::span(token_words_).subspan(at, words_per_token));
      at += words_per_token;
    }
  }
}

// token_words_ := the words of `token_count` generated tokens of (tick, entry), offsets from 0
// (V2); none for a count out of range, which the cache refuses before reading them.
void HostBackend::generated_words(uint32_t token_count, Tick tick, uint32_t entry) {
  token_words_.clear();
  if (token_count < 1 || token_count > append_token_count_max) return;
  token_values_.resize(token_count);
  for (uint32_t offset = 0; offset < token_count; offset++)
    token_values_[offset] = token_value(tick, entry, offset);
  fill_words(token_values_);
}

// The cache's token ids are 32-bit, as an engine's vocabulary ids are; prompt ids are below 2^31
// (trace/token.hpp). A generated token's id (generated_token_id, 64-bit) is unique in a trace, and
// the cache only ever compares ids for equality, so each one gets the next 32-bit id from 2^31 on,
// and prefix_cache() maps them back. UINT32_MAX is the cache's "no id".
namespace {
constexpr uint64_t first_generated_cache_id = uint64_t{1} << 31;
constexpr uint64_t generated_cache_id_count = UINT32_MAX - first_generated_cache_id;
}  // namespace

// decode_caching=on (V-D1): the cache ids of the generated tokens token_values_ holds (after
// generated_words), in token_ids_; none otherwise, or for an op the cache refuses before ids.
std::span<const uint32_t> HostBackend::generated_ids() {
  token_ids_.clear();
  if (!config_.decode_caching || !config_.prefix_caching || token_words_.empty()) return {};
  if (generated_token_ids_.size() + token_values_.size() > generated_cache_id_count) return {};
  for (const uint64_t value : token_values_) {
    token_ids_.push_back(
        static_cast<uint32_t>(first_generated_cache_id + generated_token_ids_.size()));
    generated_token_ids_.push_back(generated_token_id(value));
  }
  return token_ids_;
}

// The trace's id of a cache id: a prompt id as it is, a generated one mapped back.
uint64_t HostBackend::trace_token_id(uint32_t cache_id) const {
  if (cache_id < first_generated_cache_id) return cache_id;
  const uint64_t index = cache_id - first_generated_cache_id;
  return index < generated_token_ids_.size() ? generated_token_ids_[index] : cache_id;
}

Result HostBackend::append(SeqId seq, uint32_t token_count, Tick tick, uint32_t entry,
                           std::span<const SeqId> protected_ids) {
  const uint64_t words_per_token = config_.words_per_token();
  generated_words(token_count, tick, entry);
  const std::span<const uint32_t> ids = generated_ids();
  if (!config_.append_atomicity || token_words_.empty()) {
    return to_result(cache_.append(seq, token_count, token_words_, tick, protected_ids, ids));
  }
  // append_atomicity=token (docs/semantics.md 14.1), the way a one-token-at-a-time engine API
  // gives it: one cache append per token, stopping at the first failure. A token's words are one
  // slice per group.
  Result result = result_of(Status::ok);
  std::vector<uint32_t> one_token;
  for (uint32_t offset = 0; offset < token_count; offset++) {
    one_token.clear();
    for (uint32_t g = 0; g < config_.groups(); g++) {
      const auto words =
          std::span(token_words_)
              .subspan((uint64_t{g} * token_count + offset) * words_per_token, words_per_token);
      one_token.insert(one_token.end(), words.begin(), words.end());
    }
    const Result one = to_result(cache_.append(seq, 1, one_token, tick, protected_ids,
                                               ids.empty() ? ids : ids.subspan(offset, 1)));
    if (one.status != Status::ok) return one;
    result.evicted.insert(result.evicted.end(), one.evicted.begin(), one.evicted.end());
  }
  return result;
}

// prefill and admit: the segments' ids and their prompt values (trace/token.hpp) into token_ids_
// and token_words_; false for bad segments, the op's invalid_argument, decided here since the
// cache sees only ids.
bool HostBackend::prompt_words(const Op& op) {
  const auto ids = prompt_token_ids(op.entries);
  if (!ids) return false;
  token_ids_.assign(ids->begin(), ids->end());
  fill_words(prompt_token_values(*ids));
  return true;
}

// The op's result with `hit=` when the cache looked a prompt up (prefill, a waiting reserve).
Result HostBackend::with_hit(const kvcache::Outcome& outcome) {
  Result result = to_result(outcome);
  if (outcome.ok() && outcome.looked_up) result.hit_tokens = outcome.hit_tokens;
  return result;
}

Result HostBackend::prefill(const Op& op, Tick tick) {
  if (!prompt_words(op)) return result_of(Status::invalid_argument);
  if (op.kind == OpKind::admit) {
    return to_result(cache_.admit(op.seq, token_ids_, token_words_, tick));
  }
  const SeqId requester[] = {op.seq};
  return with_hit(cache_.prefill(op.seq, token_ids_, token_words_, tick, requester));
}

// reserve, commit, preempt, swap_out and swap_in (kvtrace 3). A commit's generated tokens get V2's
// values with entry 0; the cache puts a sequence's pending tokens before them with their own words.
// Under reserved_slots=skipped the cache refuses these and admit (V-L9).
Result HostBackend::lifecycle(const Op& op, Tick tick) {
  if (op.kind == OpKind::preempt) return to_result(cache_.preempt(op.seq));
  if (op.kind == OpKind::swap_out) return to_result(cache_.swap_out(op.seq));
  if (op.kind == OpKind::swap_in) return to_result(cache_.swap_in(op.seq, tick));
  if (op.kind == OpKind::reserve) return with_hit(cache_.reserve(op.seq, op.count, tick));
  generated_words(op.count, tick, 0);  // commit 0 needs none
  const std::span<const uint32_t> ids = generated_ids();
  return to_result(cache_.commit(op.seq, op.count, token_words_, tick, ids));
}

std::optional<PrefixCacheView> HostBackend::prefix_cache() const {
  PrefixCacheView view;
  for (const auto& [page, key] : cache_.registered_keys()) {
    std::vector<uint64_t> ids;
    ids.reserve(key.size());
    for (const uint32_t id : key) ids.push_back(trace_token_id(id));
    view.registered.push_back({std::move(ids), page, cache_.key_group(page)});
  }
  for (const kvcache::PageId page : cache_.cached_queue()) view.queue.push_back(page);
  return view;
}

Result HostBackend::simple(const Op& op, Tick tick) {
  switch (op.kind) {
    case OpKind::alloc:
      return to_result(cache_.alloc(op.seq, tick));
    case OpKind::fork:
      return to_result(cache_.fork(op.seq, op.count, tick));
    case OpKind::free:
      return to_result(cache_.free(op.seq));
    case OpKind::truncate:
      return to_result(cache_.truncate(op.seq, op.count, tick));
    case OpKind::pin:
      return to_result(cache_.pin(op.seq));
    case OpKind::unpin:
      return to_result(cache_.unpin(op.seq));
    case OpKind::touch:
      return to_result(cache_.touch(op.seq, tick));
    case OpKind::read:
      return to_result(cache_.read(op.seq, last_read_, tick));
    case OpKind::evict:
      return to_result(cache_.evict());
    case OpKind::info: {
      Result result = result_of(Status::unknown_sequence);
      if (const auto found = info(op.seq)) result = Result{Status::ok, {}, found, std::nullopt};
      return result;
    }
    case OpKind::stats:
      return Result{Status::ok, {}, std::nullopt, stats()};
    default:
      return result_of(Status::ok);  // check: the runner audits
  }
}

OpResult HostBackend::apply(const Op& op, Tick tick) {
  if (op.kind == OpKind::append) {
    const SeqId requester[] = {op.seq};
    return single(append(op.seq, op.count, tick, 0, requester));
  }
  if (op.kind == OpKind::prefill || op.kind == OpKind::admit) return single(prefill(op, tick));
  if (op_version(op.kind) == 3 && op.kind != OpKind::admit) {
    return single(lifecycle(op, tick));
  }
  if (op.kind != OpKind::step) return single(simple(op, tick));
  const std::vector<SeqId> members = op_sequences(op);
  OpResult result;
  result.entries.reserve(op.entries.size());
  for (uint32_t i = 0; i < op.entries.size(); i++) {
    result.entries.push_back(
        append(op.entries[i].seq, op.entries[i].token_count, tick, i, members));
  }
  return result;
}

StatsView HostBackend::stats() const {
  const kvcache::Stats stats = cache_.stats();
  StatsView view{stats.used_pages, stats.free_pages, stats.sequence_count, stats.token_count};
  if (config_.prefix_caching) view.cached_keys = stats.cached_keys;
  if (config_.cpu_pages > 0) view.cpu_pages_used = stats.cpu_pages_used;
  return view;
}

std::optional<InfoView> HostBackend::info(SeqId seq) const {
  const auto found = cache_.info(seq);
  if (!found) return std::nullopt;
  return InfoView{found->token_count, found->page_count, found->pinned};
}

// The G tables concatenated in group order (V-G7).
std::vector<uint64_t> HostBackend::block_table(SeqId seq) const {
  std::vector<uint64_t> table;
  size_t entry_count = 0;  // one allocation for the whole table
  for (uint32_t g = 0; g < cache_.group_count(); g++)
    entry_count += cache_.block_table(seq, g).size();
  table.reserve(entry_count);
  for (uint32_t g = 0; g < cache_.group_count(); g++) {
    for (const kvcache::PageId page : cache_.block_table(seq, g))
      table.push_back(page == kvcache::kNullPage ? null_page : page);
  }
  return table;
}

// Group g's leading null entries (V-W2): their tokens are gone, and no page store ever sees them.
uint64_t HostBackend::null_entries(SeqId seq, uint32_t group) const {
  const auto table = cache_.block_table(seq, group);
  uint64_t nulls = 0;
  while (nulls < table.size() && table[nulls] == kvcache::kNullPage) nulls++;
  return nulls;
}

// The end of the tokens group g's table holds: n, or only its null entries' tokens for a sequence
// swapped out (V-S4, V-W6). A table too short for n (a cache bug) gives fewer words, which the
// runner reports.
uint64_t HostBackend::readable_tokens(SeqId seq, uint32_t group) const {
  const auto found = cache_.info(seq);
  if (!found) return 0;
  return std::min<uint64_t>(found->token_count,
                            uint64_t{cache_.block_table(seq, group).size()} * config_.page_size);
}

// Tokens z_g*page_size .. n-1 of every group (V-W3, V-G2), gathered through each table after its
// null entries.
std::vector<uint32_t> HostBackend::gather_words(SeqId seq) {
  return gather_token_words(seq, 0, UINT64_MAX);  // from each first non-null entry on
}

std::vector<uint32_t> HostBackend::gather_token_words(SeqId seq, uint64_t first_token,
                                                      uint64_t token_count) {
  std::vector<uint32_t> words;
  for (uint32_t g = 0; g < cache_.group_count(); g++)
    gather_group_words(seq, g, first_token, token_count, words);
  return words;
}

// Appends group g's words of tokens [first_token, first_token + token_count) clipped to its
// non-null entries: gathers from the page holding the first on, then drops the tokens before it.
void HostBackend::gather_group_words(SeqId seq, uint32_t group, uint64_t first_token,
                                     uint64_t token_count, std::vector<uint32_t>& words) {
  if (config_.reserved_slots) return gather_packed_words(seq, first_token, token_count, words);
  const uint64_t tokens = readable_tokens(seq, group);
  if (first_token >= tokens) return;
  const uint64_t end = first_token + std::min(token_count, tokens - first_token);
  first_token = std::max(first_token, null_entries(seq, group) * config_.page_size);
  if (first_token >= end) return;
  const uint64_t first_page = first_token / config_.page_size;
  const uint64_t page_first_token = first_page * config_.page_size;
  const uint64_t words_per_token = config_.words_per_token();
  // Gathered straight onto the end of `words` (no buffer per call), then the tokens before
  // first_token on its page dropped.
  const size_t at = words.size();
  words.resize(at + (end - page_first_token) * words_per_token);
  store_->gather(cache_.block_table(seq, group).subspan(first_page), end - page_first_token,
                 std::span(words).subspan(at));
  const auto skipped =
      static_cast<std::ptrdiff_t>((first_token - page_first_token) * words_per_token);
  const auto from = words.begin() + static_cast<std::ptrdiff_t>(at);
  words.erase(from, from + skipped);
}

// reserved_slots=skipped (V-R1): tokens packed from slot 0 of each entry, `fill` of them, so token
// k is in the entry where the running sum of the fills passes k. One gather per entry that holds
// some of tokens [first_token, first_token + token_count).
void HostBackend::gather_packed_words(SeqId seq, uint64_t first_token, uint64_t token_count,
                                      std::vector<uint32_t>& words) {
  const auto table = cache_.block_table(seq);
  const auto fills = cache_.entry_fills(seq);
  const uint64_t words_per_token = config_.words_per_token();
  const uint64_t end = first_token + std::min(token_count, UINT64_MAX - first_token);
  std::vector<uint32_t> gathered;
  uint64_t before = 0;  // tokens in the entries before this one
  for (size_t entry = 0; entry < table.size() && entry < fills.size() && before < end; entry++) {
    const uint64_t fill = std::min<uint64_t>(fills[entry], config_.page_size);
    const uint64_t from = std::max(first_token, before);
    const uint64_t to = std::min(end, before + fill);
    if (from < to) {
      gathered.resize(fill * words_per_token);
      store_->gather(table.subspan(entry, 1), fill, gathered);
      words.insert(
          words.end(),
          gathered.begin() + static_cast<std::ptrdiff_t>((from - before) * words_per_token),
          gathered.begin() + static_cast<std::ptrdiff_t>((to - before) * words_per_token));
    }
    before += fill;
  }
}

}  // namespace kv
