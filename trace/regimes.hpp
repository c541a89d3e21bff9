// The scale regimes of `kvtrace gen` (profiles other than classic): each trace draws a config, a
// pool of sequence ids and then ops, some of them planned in bursts (a fan-out, a free and reuse).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <unordered_map>
#include <vector>

#include "trace/gen.hpp"

namespace kv::regimes {

// The classic op generator (gen.cpp) over another regime's ids: kinds by the op table's weights,
// token counts around page boundaries.
Op classic_op_over(Rng& rng, const Config& config, const std::function<SeqId()>& pick_seq);
uint32_t classic_token_count(Rng& rng, const Config& config);

// Generated pools stay far inside the 256 MiB budget (2 MiB of K/V words), because the runner
// compares every token of every sequence after every op (--audit every): a campaign should spend
// its time on ops, not on re-reading a full pool.
inline constexpr uint64_t pool_words_cap = 1ull << 19;

// The largest max_pages <= wanted whose pool stays under pool_words_cap (at least 1).
uint32_t fit_max_pages(const Config& config, uint64_t wanted_page_count);

// Ids from one scheme across the 32-bit range: small, random, a dense run, a stride of a large
// power of two, near 0, near 2^32-1, or each id from any of those.
std::vector<SeqId> make_id_pool(Rng& rng, uint32_t id_count);

// The ids the generator believes live (it does not run the model: evictions go unseen).
class LiveIds {
 public:
  void add(SeqId id);
  void remove(SeqId id);
  bool empty() const { return ids_.empty(); }
  size_t size() const { return ids_.size(); }
  SeqId at(size_t index) const { return ids_[index]; }
  SeqId pick(Rng& rng) const { return ids_[rng.below(ids_.size())]; }

 private:
  std::vector<SeqId> ids_;
  std::unordered_map<SeqId, size_t> where_;
};

// Generates the ops of one trace for `profile` (not mixed, not classic).
class RegimeGenerator {
 public:
  RegimeGenerator(Profile profile, Rng& rng);
  const Config& config() const { return config_; }
  Op next();

 private:
  Op next_batch();
  Op next_fanout();
  Op next_ids();
  Op next_pressure();
  Op classic_op();  // classic kinds and counts over this regime's ids
  SeqId pick_id();  // a believed-live id mostly, else any id of the pool
  SeqId pick_live();
  Op big_step(uint32_t member_count, bool live_members);
  void fan_out(SeqId src, uint32_t fork_count);
  void note(const Op& op);

  Profile profile_;
  Rng& rng_;
  Config config_;
  std::vector<SeqId> pool_;
  LiveIds live_;
  std::deque<Op> pending_;
  SeqId root_ = 0;
  size_t next_fresh_ = 0;  // fan-out: where the next fork destinations come from in pool_
};

}  // namespace kv::regimes
