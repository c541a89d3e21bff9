// Backend `host`: the optimized cache (impl/) with its HostPageStore, driven through the runner.
#pragma once

#include <memory>
#include <string>

#include "impl/kvcache.hpp"
#include "runner/backend.hpp"

namespace kv {

// Owns one kvcache::Cache and the host page store behind it; token data comes from trace/token.hpp.
// Device backends (backends/hip_backend.hpp) reuse it over their own page store.
class HostBackend : public Backend {
 public:
  explicit HostBackend(const Config& config);
  HostBackend(const Config& config, std::unique_ptr<kvcache::PageStore> store, std::string name);

  std::string_view name() const override { return name_; }
  OpResult apply(const Op& op, Tick tick) override;
  const std::vector<uint32_t>& last_read_words() const override { return last_read_; }
  StatsView stats() const override;
  std::optional<InfoView> info(SeqId seq) const override;
  std::vector<SeqId> sequence_ids() const override { return cache_.sequence_ids(); }
  std::vector<uint64_t> block_table(SeqId seq) const override;
  std::vector<uint32_t> gather_words(SeqId seq) override;
  std::vector<uint32_t> gather_token_words(SeqId seq, uint64_t first_token,
                                           uint64_t token_count) override;
  std::vector<std::string> audit() const override { return cache_.audit(); }
  std::optional<PrefixCacheView> prefix_cache() const override;
  // Appends group g's words of tokens [first_token, first_token + token_count), clipped to its
  // non-null entries (what C ABI version 2's gather_words answers, examples/c-abi-host).
  void gather_group_words(SeqId seq, uint32_t group, uint64_t first_token, uint64_t token_count,
                          std::vector<uint32_t>& words);

 private:
  Result append(SeqId seq, uint32_t token_count, Tick tick, uint32_t entry,
                std::span<const SeqId> protected_ids);
  Result simple(const Op& op, Tick tick);
  Result prefill(const Op& op, Tick tick);  // and admit
  Result lifecycle(const Op& op, Tick tick);
  bool prompt_words(const Op& op);
  void fill_words(std::span<const uint64_t> values);
  void generated_words(uint32_t token_count, Tick tick, uint32_t entry);
  std::span<const uint32_t> generated_ids();
  uint64_t trace_token_id(uint32_t cache_id) const;
  uint64_t null_entries(SeqId seq, uint32_t group) const;
  uint64_t readable_tokens(SeqId seq, uint32_t group) const;
  void gather_packed_words(SeqId seq, uint64_t first_token, uint64_t token_count,
                           std::vector<uint32_t>& words);
  static Result with_hit(const kvcache::Outcome& outcome);

  Config config_;
  std::string name_;
  std::unique_ptr<kvcache::PageStore> store_;
  kvcache::Cache cache_;
  std::vector<uint32_t> token_words_;  // scratch for appends and prefills, reused
  std::vector<uint32_t> token_ids_;    // scratch for prefills (and generated tokens' ids)
  // decode_caching=on: the trace's id (generated_token_id) of each generated token the cache was
  // given an id for; cache id first_generated_cache_id + i is generated_token_ids_[i].
  std::vector<uint64_t> generated_token_ids_;
  std::vector<uint64_t> token_values_;  // scratch for generated tokens' values
  std::vector<uint32_t> last_read_;
};

// The cache's config for a trace config (same fields, the cache's own types).
kvcache::Config to_cache_config(const Config& config);

// The result of one cache call in the op language.
Result to_result(const kvcache::Outcome& outcome);

}  // namespace kv
