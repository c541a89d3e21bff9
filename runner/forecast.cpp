// Forecast: a throwaway run of the runner against the model as a backend, recording its calls.
#include "runner/forecast.hpp"

#include <cassert>
#include <unordered_map>
#include <utility>

#include "model/model.hpp"
#include "trace/digest.hpp"
#include "trace/token.hpp"

namespace kv {

constexpr size_t digest_memo_count_max = 4096;  // sequences whose last digest the echo keeps

// The model as a backend, answering as an agreeing backend would, each observation recorded in
// `sink`. Its own model, so the throwaway run's model stays the runner's business.
class EchoBackend final : public Backend {
 public:
  EchoBackend(const Config& config, bool stores_data, Declined declined,
              std::vector<Observation>& sink)
      : model_(config), stores_data_(stores_data), declined_(declined), sink_(sink) {}

  std::string_view name() const override { return "forecast"; }
  OpResult apply(const Op& op, Tick tick) override { return model_.apply(op, tick); }
  const std::vector<uint32_t>& last_read_words() const override { return no_words_; }
  StatsView stats() const override {
    record(Observation::Kind::stats);
    return model_.stats();
  }
  std::optional<InfoView> info(SeqId seq) const override {
    record(Observation::Kind::info, seq);
    return model_.info(seq);
  }
  std::vector<SeqId> sequence_ids() const override {
    record(Observation::Kind::ids);
    return model_.sequence_ids();
  }
  std::vector<uint64_t> block_table(SeqId seq) const override {
    record(Observation::Kind::pages, seq);
    return table_of(seq);
  }
  std::vector<uint32_t> gather_words(SeqId seq) override {
    record_words(seq, true, 0, UINT64_MAX);
    return gathered_words(model_.config(), model_.read_groups(seq));
  }
  std::vector<uint32_t> gather_token_words(SeqId seq, uint64_t first_token,
                                           uint64_t token_count) override {
    record_words(seq, false, first_token, token_count);
    return gathered_words(model_.config(), model_.read_groups(seq, first_token, token_count));
  }
  std::vector<std::string> audit() const override {
    record(Observation::Kind::audit);
    return {};  // the runner audits the model itself
  }
  bool stores_data() const override { return stores_data_; }
  Declined declined() const override { return declined_; }
  std::optional<uint64_t> words_digest(SeqId seq) override {
    if (!stores_data_) return std::nullopt;  // a backend without data is not asked (exec:)
    record(Observation::Kind::digest, seq);
    // The words are worked out again only when the token values changed (most do not between
    // two whole-state checks); the values are one number per token, the words many.
    std::vector<uint64_t> values = model_.read_values(seq);
    if (digests_.size() >= digest_memo_count_max) digests_.clear();  // bounded
    auto& [last_values, digest] = digests_[seq];
    if (values != last_values || values.empty()) {
      digest = kv::words_digest(gathered_words(model_.config(), model_.read_groups(seq)));
      last_values = std::move(values);
    }
    return digest;
  }
  std::optional<PrefixCacheView> prefix_cache() const override {
    record(Observation::Kind::cache);
    if (!model_.config().prefix_caching) return std::nullopt;
    PrefixCacheView view = model_.prefix_cache();  // in the slots its tables name (page_index)
    for (CachedPageView& entry : view.registered) entry.page = model_.page_index(entry.page);
    for (uint64_t& page : view.queue) page = model_.page_index(page);
    return view;
  }

 private:
  void record(Observation::Kind kind, SeqId seq = 0) const {
    Observation observation;
    observation.kind = kind;
    observation.seq = seq;
    sink_.push_back(std::move(observation));
  }
  std::vector<uint64_t> table_of(SeqId seq) const {
    if (!model_.info(seq)) return {};
    return model_.page_indices(model_.block_table(seq));
  }
  void record_words(SeqId seq, bool whole, uint64_t first_token, uint64_t token_count) const {
    Observation observation;
    observation.kind = Observation::Kind::words;
    observation.seq = seq;
    observation.whole = whole;
    observation.first_token = first_token;
    observation.token_count = token_count;
    observation.info = model_.info(seq);
    observation.table = table_of(seq);
    sink_.push_back(std::move(observation));
  }
  Model model_;
  bool stores_data_;
  Declined declined_;
  std::vector<Observation>& sink_;
  std::vector<uint32_t> no_words_;
  // Per sequence: its token values and their words' digest when last asked.
  std::unordered_map<SeqId, std::pair<std::vector<uint64_t>, uint64_t>> digests_;
};

Forecast::Forecast(const Config& config, std::span<const TraceLine> lines, AuditMode audit_mode,
                   bool stores_data, Declined declined)
    : lines_(lines) {
  echo_.push_back(std::make_unique<EchoBackend>(config, stores_data, declined, observations_));
  run_ = std::make_unique<StreamRun>(config, std::vector<std::string>{}, echo_, audit_mode);
}

Forecast::~Forecast() = default;

const std::vector<Observation>& Forecast::after(size_t index) {
  assert(index == next_ && index < lines_.size());  // in turn: one op's observations held
  next_ = index + 1;
  observations_.clear();
  if (stopped_) return observations_;
  stopped_ = !run_->feed(lines_.subspan(index, 1));
  if (!stopped_ && next_ == lines_.size()) stopped_ = !run_->finish().ok();
  if (stopped_) observations_.clear();
  return observations_;
}

}  // namespace kv
