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
  };

  PlantedBackend(const Config& config, Fault fault, Tick fault_tick)
      : config_(config), model_(config), fault_(fault), fault_tick_(fault_tick) {}

  std::string_view name() const override { return "planted"; }

  OpResult apply(const Op& op, Tick tick) override {
    tick_ = tick;
    if (fault_ == Fault::abort_at && tick == fault_tick_) std::abort();
    if (fault_ == Fault::segfault_on_truncate && op.kind == OpKind::truncate) std::raise(SIGSEGV);
    while (fault_ == Fault::hang_at && tick == fault_tick_) pause();
    OpResult result = model_.apply(op, tick);
    KV_CHECK(fault_ != Fault::check_fails_on_fork || op.kind != OpKind::fork ||
                 result.entries[0].status != Status::ok,
             "planted: a fork shares a page it must not");
    if (fault_ == Fault::wrong_result && tick == fault_tick_) result.entries[0].status = Status::ok;
    if (fault_ == Fault::fork_reports_exists && op.kind == OpKind::fork &&
        result.entries[0].status == Status::ok) {
      result.entries[0].status = Status::sequence_exists;
    }
    if (op.kind == OpKind::read) last_read_ = gather_words(op.seq);
    if (fault_ == Fault::corrupt_read && tick == fault_tick_ && !last_read_.empty())
      last_read_[0] ^= 1;
    return result;
  }
  const std::vector<uint32_t>& last_read_words() const override { return last_read_; }
  StatsView stats() const override {
    StatsView stats = model_.stats();
    if (fault_ == Fault::wrong_stats && tick_ >= fault_tick_) stats.token_count++;
    return stats;
  }
  std::optional<InfoView> info(SeqId seq) const override { return model_.info(seq); }
  std::vector<SeqId> sequence_ids() const override { return model_.sequence_ids(); }
  std::vector<uint64_t> block_table(SeqId seq) const override {
    std::vector<uint64_t> table = model_.block_table(seq);
    const std::vector<SeqId> ids = model_.sequence_ids();
    if (fault_ == Fault::alias_first_page && tick_ >= fault_tick_ && !table.empty() &&
        !ids.empty() && !model_.block_table(ids[0]).empty()) {
      table[0] = model_.block_table(ids[0])[0];
    }
    return table;
  }
  std::vector<uint32_t> gather_words(SeqId seq) override {
    std::vector<uint32_t> words;
    std::vector<uint32_t> token(config_.words_per_token());
    for (uint64_t value : model_.read_values(seq)) {
      fill_token_words(value, config_, token);
      words.insert(words.end(), token.begin(), token.end());
    }
    if (fault_ == Fault::corrupt_gather && tick_ >= fault_tick_ && !words.empty())
      words.back() ^= 1;
    return words;
  }
  uint64_t audit_count() const { return audit_count_; }  // whole-state audits so far
  std::vector<std::string> audit() const override {
    audit_count_++;
    if (fault_ == Fault::audit_error && tick_ >= fault_tick_)
      return {"refcount of page 0: expected 1 actual 2"};
    return {};
  }

 private:
  Config config_;
  Model model_;
  Fault fault_;
  Tick fault_tick_;
  Tick tick_ = 0;
  mutable uint64_t audit_count_ = 0;
  std::vector<uint32_t> last_read_;
};

}  // namespace kv
