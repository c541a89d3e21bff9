// A test backend: a second reference model behind the Backend interface, with one planted fault.
#pragma once

#include <unistd.h>

#include <csignal>
#include <cstdlib>

#include "impl/check.hpp"
#include "model/model.hpp"
#include "runner/backend.hpp"
#include "trace/token.hpp"

namespace kv {

// A backend made of a second model, with one fault planted at a chosen tick.
class PlantedBackend final : public Backend {
 public:
  enum class Fault {
    none,
    wrong_result,
    corrupt_read,
    wrong_stats,
    audit_error,
    fork_reports_exists,
    corrupt_gather,        // from the fault tick, every gathered sequence's last word is off
    alias_first_page,      // from the fault tick, tables report the lowest id's first page
    abort_at,              // std::abort() while applying the op at the fault tick
    check_fails_on_fork,   // a failed KV_CHECK on every successful fork
    segfault_on_truncate,  // SIGSEGV on every truncate
    hang_at,               // waits forever at the fault tick
    // Wrong observations from the fault tick on (the runner must report them, never crash):
    short_table,          // every non-empty block table lacks its last entry
    empty_table,          // every block table reads empty
    long_table,           // every block table has one entry more (a page nobody else holds)
    unknown_page,         // every table's last entry is a page id far outside any pool
    short_gather,         // gathers lack the last word
    long_gather,          // gathers have one word too many
    short_read,           // a read's words lack the last word
    missing_sequence,     // sequence_ids() leaves out the highest id
    cache_unknown_page,   // `? cache` registers its first key on a page outside any pool
    cache_duplicate_key,  // `? cache` registers its first key twice
    cache_queue_unknown,  // `? cache` queues a page nobody registered
    capacity_reads_ok,    // from the fault tick, every capacity_exceeded result reads ok
    flaky_result,         // capacity_reads_ok in every second backend this process makes
    // Not a bug under duplicate_hit=any (V-K7): a hit on a key with several pages takes the one
    // registered last, whatever the config says (its model runs under duplicate_hit=any).
    hits_last_duplicate,
  };

  PlantedBackend(const Config& config, Fault fault, Tick fault_tick)
      : config_(config),
        model_(fault == Fault::hits_last_duplicate ? with_any_hit(config) : config),
        fault_(fault),
        fault_tick_(fault_tick) {
    if (fault_ == Fault::flaky_result) flaky_turn_ = made_count_++ % 2 == 0;
  }

  std::string_view name() const override { return "planted"; }

  OpResult apply(const Op& op, Tick tick) override {
    tick_ = tick;
    if (fault_ == Fault::abort_at && tick == fault_tick_) std::abort();
    if (fault_ == Fault::segfault_on_truncate && op.kind == OpKind::truncate) std::raise(SIGSEGV);
    while (fault_ == Fault::hang_at && tick == fault_tick_) pause();
    std::vector<Model::HitChoice> choices;
    for (const Model::DuplicateHit& hit : model_.duplicate_hits(op)) {
      if (fault_ == Fault::hits_last_duplicate)
        choices.push_back({hit.group, hit.block, hit.pages.back().page});
    }
    OpResult result = model_.apply(op, tick, choices);
    KV_CHECK(fault_ != Fault::check_fails_on_fork || op.kind != OpKind::fork ||
                 result.entries[0].status != Status::ok,
             "planted: a fork shares a page it must not");
    if (fault_ == Fault::wrong_result && tick == fault_tick_) result.entries[0].status = Status::ok;
    if ((fault_ == Fault::capacity_reads_ok || flaky_turn_) && tick >= fault_tick_ &&
        result.entries[0].status == Status::capacity_exceeded) {
      result.entries[0].status = Status::ok;
    }
    if (fault_ == Fault::fork_reports_exists && op.kind == OpKind::fork &&
        result.entries[0].status == Status::ok) {
      result.entries[0].status = Status::sequence_exists;
    }
    if (op.kind == OpKind::read) last_read_ = gather_words(op.seq);
    if (fault_ == Fault::corrupt_read && tick == fault_tick_ && !last_read_.empty())
      last_read_[0] ^= 1;
    if (active(Fault::short_read) && !last_read_.empty()) last_read_.pop_back();
    return result;
  }
  const std::vector<uint32_t>& last_read_words() const override { return last_read_; }
  StatsView stats() const override {
    StatsView stats = model_.stats();
    if (fault_ == Fault::wrong_stats && tick_ >= fault_tick_) stats.token_count++;
    return stats;
  }
  std::optional<InfoView> info(SeqId seq) const override { return model_.info(seq); }
  std::vector<SeqId> sequence_ids() const override {
    std::vector<SeqId> ids = model_.sequence_ids();
    if (active(Fault::missing_sequence) && !ids.empty()) ids.pop_back();
    return ids;
  }
  std::vector<uint64_t> block_table(SeqId seq) const override {
    // Its physical pages, as a backend under reuse_order hands them out (section 14.8).
    std::vector<uint64_t> table = model_.page_indices(model_.block_table(seq));
    const std::vector<SeqId> ids = model_.sequence_ids();
    if (fault_ == Fault::alias_first_page && tick_ >= fault_tick_ && !table.empty() &&
        !ids.empty() && !model_.block_table(ids[0]).empty()) {
      table[0] = model_.page_index(model_.block_table(ids[0])[0]);
    }
    if (active(Fault::short_table) && !table.empty()) table.pop_back();
    if (active(Fault::empty_table)) table.clear();
    if (active(Fault::long_table)) table.push_back(far_page + seq);
    if (active(Fault::unknown_page) && !table.empty()) table.back() = far_page;
    return table;
  }
  std::vector<uint32_t> gather_words(SeqId seq) override {
    return gather_token_words(seq, 0, UINT64_MAX);
  }
  // The model's values read as a backend gathers them (each group from its first non-null entry,
  // groups in order), then the planted gather faults.
  std::vector<uint32_t> gather_token_words(SeqId seq, uint64_t first_token,
                                           uint64_t token_count) override {
    std::vector<uint32_t> words =
        gathered_words(config_, model_.read_groups(seq, first_token, token_count));
    if (fault_ == Fault::corrupt_gather && tick_ >= fault_tick_ && !words.empty())
      words.back() ^= 1;
    if (active(Fault::short_gather) && !words.empty()) words.pop_back();
    if (active(Fault::long_gather)) words.push_back(0);
    return words;
  }
  std::optional<PrefixCacheView> prefix_cache() const override {
    PrefixCacheView view = model_.prefix_cache();
    for (auto& registered : view.registered) registered.page = model_.page_index(registered.page);
    view.queue = model_.page_indices(view.queue);
    if (active(Fault::cache_unknown_page) && !view.registered.empty())
      view.registered[0].page = far_page;
    if (active(Fault::cache_duplicate_key) && !view.registered.empty())
      view.registered.push_back({view.registered[0].key, far_page});
    if (active(Fault::cache_queue_unknown)) view.queue.push_back(far_page);
    return view;
  }
  uint64_t audit_count() const { return audit_count_; }  // whole-state audits so far
  std::vector<std::string> audit() const override {
    audit_count_++;
    if (fault_ == Fault::audit_error && tick_ >= fault_tick_)
      return {"refcount of page 0: expected 1 actual 2"};
    return {};
  }

 private:
  static constexpr uint64_t far_page = uint64_t{1} << 60;
  static Config with_any_hit(Config config) {
    config.duplicate_hit = duplicate_hit_any;
    return config;
  }
  bool active(Fault fault) const { return fault_ == fault && tick_ >= fault_tick_; }

  static inline uint64_t made_count_ = 0;  // flaky_result backends made so far
  bool flaky_turn_ = false;

  Config config_;
  Model model_;
  Fault fault_;
  Tick fault_tick_;
  Tick tick_ = 0;
  mutable uint64_t audit_count_ = 0;
  std::vector<uint32_t> last_read_;
};

}  // namespace kv
