// The interface every cache under test implements so the differential runner can drive and observe
// it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "trace/capabilities.hpp"
#include "trace/config.hpp"
#include "trace/op.hpp"
#include "trace/prefix_view.hpp"

namespace kv {

class Forecast;

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string_view name() const = 0;

  // Applies one op at `tick`; token data for appends comes from trace/token.hpp.
  virtual OpResult apply(const Op& op, Tick tick) = 0;
  // The words the last successful `read` op returned (n * words_per_token).
  virtual const std::vector<uint32_t>& last_read_words() const = 0;

  // Observations that do not count as a use of any sequence.
  virtual StatsView stats() const = 0;
  virtual std::optional<InfoView> info(SeqId seq) const = 0;
  virtual std::vector<SeqId> sequence_ids() const = 0;
  // Physical page ids, null_page for a null entry (V-W2). With kv_groups (section 17, G groups)
  // the G tables concatenated in group order: G times the entries of one table (V-G7).
  virtual std::vector<uint64_t> block_table(SeqId seq) const = 0;
  // The words of S's tokens z*page_size .. n-1, z its null entries (V-W3; without a sliding
  // window z = 0): words_per_token words each. With kv_groups, group 0's such tokens, then group
  // 1's from its own z, ... (V-G2), each group's words from its group_token_value.
  virtual std::vector<uint32_t> gather_words(SeqId seq) = 0;
  // Tokens [first_token, first_token + token_count) of S (the runner's per-op check reads only
  // what an op wrote), each group's clipped to its non-null entries, groups concatenated as in
  // gather_words. Override when the backend can read a range without gathering all of S;
  // the default assumes one group and no null entries, so a backend with windows overrides it.
  virtual std::vector<uint32_t> gather_token_words(SeqId seq, uint64_t first_token,
                                                   uint64_t token_count);

  // Every broken internal invariant, each naming expected and actual values; empty when healthy.
  virtual std::vector<std::string> audit() const = 0;
  // A failure of the machinery under the cache (a device call), as a message; the runner reports
  // it as a divergence of kind `device`. Host-only backends never have one.
  virtual std::optional<std::string> fault() const { return std::nullopt; }

  // For backends outside this process (exec:, so:); the defaults fit in-tree backends.
  // Why the backend can no longer be trusted (it died, hung, or broke the protocol); the runner
  // then stops with a divergence of kind "backend".
  virtual std::optional<std::string> broken() const { return std::nullopt; }
  // Whether it keeps token data; when not, the runner compares no token words.
  virtual bool stores_data() const { return true; }
  // The observations its profile declines (`decline cached queue`): the runner skips them.
  virtual Declined declined() const { return {}; }
  // The digest of gather_words(seq) (trace/digest.hpp) when the backend computes it itself, so
  // the words travel only when the digests differ.
  virtual std::optional<uint64_t> words_digest(SeqId /*seq*/) { return std::nullopt; }
  // The runner will apply `lines` in order, with tick = index; `observe_every_op` says whether it
  // audits after every op; `forecast` (only where wants_forecast(), else null) what it will ask
  // after each op. A backend may send ops ahead (pipelining).
  virtual void plan(std::span<const TraceLine> lines, bool observe_every_op,
                    std::unique_ptr<Forecast> forecast);
  // Whether plan() is to get a forecast (runner/forecast.hpp), under --audit every or touched.
  virtual bool wants_forecast() const { return false; }
  // The next apply() will be followed by the whole-state check (audit, ids, every table and
  // digest, the prefix cache): a backend may send those questions with the op.
  virtual void expect_full_check() {}
  // Prefix caching (kvtrace 2): the registered keys and the cached-free queue, in the backend's
  // page ids. nullopt: this backend does not report them (the runner then skips the comparison).
  virtual std::optional<PrefixCacheView> prefix_cache() const { return std::nullopt; }
};

// Makes fresh backends for a config (the shrinker and isolated runs make them per replay).
using BackendFactory = std::function<std::vector<std::unique_ptr<Backend>>(const Config&)>;

}  // namespace kv
