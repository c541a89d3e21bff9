// The scale regimes of `kvtrace gen` (profiles other than classic): each trace draws a config, a
// pool of sequence ids and then ops, some of them planned in bursts (a fan-out, a free and reuse).
#include "trace/regimes.hpp"

#include <algorithm>

namespace kv::regimes {
namespace {

template <typename T, size_t N>
T pick_from(Rng& rng, const T (&values)[N]) {
  return values[rng.below(N)];
}

Op seq_op(OpKind kind, SeqId seq) {
  return Op{kind, seq, 0, {}};
}
Op count_op(OpKind kind, SeqId seq, uint32_t count) {
  return Op{kind, seq, count, {}};
}

// page_size for the scale regimes: small powers of two mostly, odd sizes too.
uint32_t small_page_size(Rng& rng) {
  const uint32_t sizes[] = {16, 16, 16, 1, 2, 4, 8, 32, 3, 5, 12};
  return pick_from(rng, sizes);
}

// page sizes across 1..65536: powers of two, their neighbours, primes, anything.
uint32_t wide_page_size(Rng& rng) {
  const uint32_t sizes[] = {1,    3,    7,    12,   17,    100,   127,   255,  257,
                            1000, 1023, 4095, 4097, 12345, 32768, 65535, 65536};
  switch (rng.below(4)) {
    case 0:
      return static_cast<uint32_t>(rng.between(1, 65536));
    case 1:
      return uint32_t{1} << rng.below(17);
    default:
      return pick_from(rng, sizes);
  }
}

// 1 page, a handful, hundreds, many thousands.
uint64_t wide_page_count(Rng& rng) {
  switch (rng.below(10)) {
    case 0:
      return 1;
    case 1:
    case 2:
    case 3:
    case 4:
      return rng.between(2, 16);
    case 5:
    case 6:
    case 7:
      return rng.between(17, 1024);
    default:
      return rng.between(1025, 16384);
  }
}

// kv_heads 1..8, head_dim 64 and 128 often and odd sizes too, layers 1..4.
void realistic_shape(Rng& rng, Config& config) {
  const uint32_t heads[] = {1, 2, 4, 8, 1, 2, 4, 8, 3, 5, 6, 7};
  const uint32_t dims[] = {64, 64, 64, 128, 128, 128, 17, 80, 96, 1, 2, 33};
  config.kv_heads = pick_from(rng, heads);
  config.head_dim =
      rng.chance(15) ? static_cast<uint32_t>(rng.between(1, 128)) : pick_from(rng, dims);
  config.layers = static_cast<uint32_t>(rng.between(1, 4));
}

Eviction eviction_with_lru_percent(Rng& rng, uint32_t percent) {
  return rng.chance(percent) ? Eviction::lru : Eviction::none;
}

Config regime_config(Profile profile, Rng& rng) {
  Config config;
  config.page_size = small_page_size(rng);
  uint64_t wanted_pages = rng.between(16, 512);
  config.eviction = eviction_with_lru_percent(rng, 50);
  switch (profile) {
    case Profile::batch:
      wanted_pages = rng.between(256, 8192);
      config.eviction = eviction_with_lru_percent(rng, 60);
      break;
    case Profile::fanout:
      wanted_pages = rng.between(64, 4096);
      break;
    case Profile::shapes: {
      const uint32_t sizes[] = {1, 2, 4, 8, 16, 16, 3, 17};
      config.page_size = pick_from(rng, sizes);
      realistic_shape(rng, config);
      wanted_pages = rng.chance(20) ? rng.between(1, 4) : rng.between(4, 256);
      break;
    }
    case Profile::pages:
      config.page_size = wide_page_size(rng);
      wanted_pages = wide_page_count(rng);
      if (rng.chance(20)) {
        config.kv_heads = static_cast<uint32_t>(rng.between(1, 2));
        config.head_dim = static_cast<uint32_t>(rng.between(1, 4));
      }
      break;
    case Profile::pressure: {
      const uint32_t sizes[] = {1, 2, 4, 8, 16, 3};
      config.page_size = pick_from(rng, sizes);
      wanted_pages = rng.between(4, 128);
      config.eviction = eviction_with_lru_percent(rng, 90);
      break;
    }
    default:
      break;
  }
  config.max_pages = fit_max_pages(config, wanted_pages);
  return config;
}

uint32_t pool_size_for(Profile profile, Rng& rng) {
  switch (profile) {
    case Profile::batch:
      if (rng.chance(10)) return static_cast<uint32_t>(rng.between(1000, 3000));
      return static_cast<uint32_t>(rng.chance(60) ? rng.between(100, 300) : rng.between(300, 1000));
    case Profile::fanout:
      return static_cast<uint32_t>(rng.between(64, 1024));
    case Profile::ids:
      return static_cast<uint32_t>(rng.chance(50) ? rng.between(8, 64) : rng.between(64, 600));
    case Profile::pressure:
      return static_cast<uint32_t>(rng.between(8, 64));
    default:
      return 5;
  }
}

// One id of the given scheme (see make_id_pool); `base` and `shift` are fixed per pool.
SeqId scheme_id(uint64_t scheme, uint32_t index, uint32_t base, uint32_t shift, Rng& rng) {
  switch (scheme) {
    case 0:
      return index + 1;
    case 1:
      return static_cast<SeqId>(rng.next());
    case 2:
      return base + index;  // wraps past 2^32-1 to 0
    case 3:
      return base + (index << shift);
    case 4:
      return index;
    default:
      return UINT32_MAX - index;
  }
}

}  // namespace

uint32_t fit_max_pages(const Config& config, uint64_t wanted_page_count) {
  const uint64_t page_words = uint64_t{config.page_size} * config.words_per_token();
  const uint64_t cap = std::max<uint64_t>(1, pool_words_cap / page_words);
  return static_cast<uint32_t>(
      std::clamp<uint64_t>(wanted_page_count, 1, std::min<uint64_t>(cap, 16777216)));
}

std::vector<SeqId> make_id_pool(Rng& rng, uint32_t id_count) {
  const uint64_t scheme = rng.below(7);
  const uint32_t base = static_cast<uint32_t>(rng.next());
  const uint32_t shift = static_cast<uint32_t>(rng.between(12, 31));
  std::vector<SeqId> ids;
  for (uint32_t i = 0; i < id_count; i++) {
    const uint64_t id_scheme = scheme == 6 ? rng.below(6) : scheme;
    ids.push_back(scheme_id(id_scheme, i, base, shift, rng));
  }
  return ids;
}

void LiveIds::add(SeqId id) {
  if (where_.emplace(id, ids_.size()).second) ids_.push_back(id);
}

void LiveIds::remove(SeqId id) {
  const auto found = where_.find(id);
  if (found == where_.end()) return;
  const size_t index = found->second;
  where_.erase(found);
  if (index + 1 != ids_.size()) {
    ids_[index] = ids_.back();
    where_[ids_[index]] = index;
  }
  ids_.pop_back();
}

RegimeGenerator::RegimeGenerator(Profile profile, Rng& rng)
    : profile_(profile), rng_(rng), config_(regime_config(profile, rng)) {
  pool_ = profile == Profile::shapes || profile == Profile::pages
              ? std::vector<SeqId>{1, 2, 3, 4, 5}
              : make_id_pool(rng, pool_size_for(profile, rng));
  root_ = pool_[0];
  next_fresh_ = 1;
  if (profile == Profile::fanout) {
    // A prompt, then its beams.
    pending_.push_back(count_op(OpKind::append, root_,
                                static_cast<uint32_t>(rng.between(1, 4ull * config_.page_size))));
    fan_out(root_, static_cast<uint32_t>(rng.between(8, 256)));
  }
}

Op RegimeGenerator::next() {
  Op op;
  if (!pending_.empty()) {
    op = std::move(pending_.front());
    pending_.pop_front();
  } else {
    switch (profile_) {
      case Profile::batch:
        op = next_batch();
        break;
      case Profile::fanout:
        op = next_fanout();
        break;
      case Profile::ids:
        op = next_ids();
        break;
      case Profile::pressure:
        op = next_pressure();
        break;
      default:
        op = classic_op();
        break;
    }
  }
  note(op);
  return op;
}

SeqId RegimeGenerator::pick_live() {
  return live_.empty() ? pick_id() : live_.pick(rng_);
}

SeqId RegimeGenerator::pick_id() {
  if (!live_.empty() && rng_.chance(70)) return live_.pick(rng_);
  return pool_[rng_.below(pool_.size())];
}

Op RegimeGenerator::classic_op() {
  if (profile_ == Profile::shapes || profile_ == Profile::pages) return generate_op(rng_, config_);
  return classic_op_over(rng_, config_, [this] { return pick_id(); });
}

// A decode step over a window of the pool (the same batch again and again) or of the live ids.
Op RegimeGenerator::big_step(uint32_t member_count, bool live_members) {
  Op op{OpKind::step, 0, 0, {}};
  const size_t source_size = live_members && !live_.empty() ? live_.size() : pool_.size();
  const uint32_t count =
      static_cast<uint32_t>(std::min<uint64_t>({member_count, source_size, step_entry_count_max}));
  const size_t start = rng_.below(source_size);
  for (uint32_t i = 0; i < count; i++) {
    const size_t index = (start + i) % source_size;
    const SeqId seq = live_members && !live_.empty() ? live_.at(index) : pool_[index];
    const uint32_t token_count = rng_.chance(92) ? 1 : classic_token_count(rng_, config_);
    op.entries.push_back(StepEntry{seq, token_count});
  }
  if (rng_.chance(10)) op.entries.back().seq = pick_id();  // a stray member, maybe new
  return op;
}

// fork_count forks of src into fresh pool ids, queued.
void RegimeGenerator::fan_out(SeqId src, uint32_t fork_count) {
  for (uint32_t i = 0; i < fork_count; i++) {
    const SeqId dst = pool_[next_fresh_ % pool_.size()];
    next_fresh_++;
    pending_.push_back(Op{OpKind::fork, src, dst, {}});
  }
}

// Hundreds of live sequences, decode steps of dozens to hundreds of members, churn.
Op RegimeGenerator::next_batch() {
  const uint64_t roll = rng_.below(100);
  if (roll < 40) {
    const uint32_t members =
        static_cast<uint32_t>(rng_.chance(50) ? rng_.between(8, 64) : rng_.between(65, 256));
    return big_step(members, rng_.chance(30));
  }
  if (roll < 50) return seq_op(OpKind::free, pick_live());
  if (roll < 55) return Op{OpKind::fork, pick_live(), pool_[rng_.below(pool_.size())], {}};
  return classic_op();
}

// One prompt forked hundreds of times, forks of forks, appends that copy-on-write, beam steps.
Op RegimeGenerator::next_fanout() {
  const uint64_t roll = rng_.below(100);
  if (roll < 25)
    return Op{
        OpKind::fork, rng_.chance(40) ? root_ : pick_live(), pool_[rng_.below(pool_.size())], {}};
  if (roll < 32) {
    fan_out(rng_.chance(50) ? root_ : pick_live(), static_cast<uint32_t>(rng_.between(8, 256)));
    Op first = std::move(pending_.front());
    pending_.pop_front();
    return first;
  }
  if (roll < 52) {
    const uint32_t count = rng_.chance(70)
                               ? static_cast<uint32_t>(rng_.between(1, config_.page_size + 1))
                               : classic_token_count(rng_, config_);
    return count_op(OpKind::append, pick_live(), count);
  }
  if (roll < 64) return big_step(static_cast<uint32_t>(rng_.between(8, 256)), true);
  if (roll < 72) return seq_op(OpKind::free, pick_live());
  if (roll < 77)
    return count_op(OpKind::truncate, pick_live(),
                    static_cast<uint32_t>(rng_.below(3) * config_.page_size));
  if (roll < 82) return seq_op(OpKind::read, pick_live());
  return classic_op();
}

// Ids across the 32-bit range; an id freed and reused at once; steps that grow the id index.
Op RegimeGenerator::next_ids() {
  const uint64_t roll = rng_.below(100);
  if (roll < 12) {
    const SeqId seq = pick_live();
    switch (rng_.below(4)) {
      case 0:
        pending_.push_back(seq_op(OpKind::alloc, seq));
        break;
      case 1:
        pending_.push_back(count_op(OpKind::append, seq, classic_token_count(rng_, config_)));
        break;
      case 2:
        pending_.push_back(Op{OpKind::fork, pick_live(), seq, {}});
        break;
      default:
        pending_.push_back(Op{OpKind::step, 0, 0, {StepEntry{seq, 1}, StepEntry{pick_id(), 1}}});
        break;
    }
    return seq_op(OpKind::free, seq);
  }
  if (roll < 20) return big_step(static_cast<uint32_t>(rng_.between(8, 64)), false);
  if (roll < 30) return seq_op(OpKind::free, pick_live());
  return classic_op();
}

// A full pool under LRU: appends and steps that keep needing room, few frees.
Op RegimeGenerator::next_pressure() {
  const uint64_t roll = rng_.below(100);
  if (roll < 35) {
    const uint32_t count = rng_.chance(80)
                               ? static_cast<uint32_t>(rng_.between(1, config_.page_size))
                               : classic_token_count(rng_, config_);
    return count_op(OpKind::append, pick_id(), count);
  }
  if (roll < 50) {
    Op op{OpKind::step, 0, 0, {}};
    const uint64_t members = rng_.between(2, 16);
    for (uint64_t i = 0; i < members; i++) {
      op.entries.push_back(StepEntry{pick_id(), static_cast<uint32_t>(rng_.between(1, 2))});
    }
    return op;
  }
  if (roll < 58) return Op{OpKind::fork, pick_live(), pool_[rng_.below(pool_.size())], {}};
  if (roll < 64) return seq_op(OpKind::alloc, pick_id());
  if (roll < 70) return seq_op(OpKind::read, pick_live());
  if (roll < 75) return seq_op(OpKind::touch, pick_live());
  if (roll < 79)
    return count_op(OpKind::truncate, pick_live(),
                    static_cast<uint32_t>(rng_.below(3) * config_.page_size));
  if (roll < 82) return seq_op(OpKind::free, pick_live());
  if (roll < 84) return seq_op(OpKind::pin, pick_live());
  if (roll < 90) return seq_op(OpKind::unpin, pick_id());
  if (roll < 92) return Op{OpKind::evict, 0, 0, {}};
  return classic_op();
}

void RegimeGenerator::note(const Op& op) {
  switch (op.kind) {
    case OpKind::alloc:
      live_.add(op.seq);
      break;
    case OpKind::append:
      if (op.count >= 1 && op.count <= append_token_count_max) live_.add(op.seq);
      break;
    case OpKind::fork:
      live_.add(op.count);
      break;
    case OpKind::free:
      live_.remove(op.seq);
      break;
    case OpKind::step:
      for (const StepEntry& entry : op.entries) {
        if (entry.token_count >= 1 && entry.token_count <= append_token_count_max)
          live_.add(entry.seq);
      }
      break;
    default:
      break;
  }
}

}  // namespace kv::regimes
