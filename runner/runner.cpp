// The differential runner: feeds one trace to the model and every backend and compares everything.
#include "runner/runner.hpp"

#include <algorithm>
#include <map>

#include "model/model.hpp"
#include "runner/forecast.hpp"
#include "runner/hit_follower.hpp"
#include "runner/prefix_check.hpp"
#include "runner/sharing.hpp"
#include "trace/digest.hpp"
#include "trace/token.hpp"

namespace kv {
namespace {

// AuditMode::every: the whole-state check's budget per op, in units of one sequence, one page or
// 16 token words; the check runs every 1 + state / this many ops.
constexpr uint64_t full_check_work_per_op = 64;

// Numbers (and lists of them) become '#', so renumbering ids keeps a signature.
std::string strip_digits(const std::string& text) {
  std::string out;
  for (char c : text) {
    if ((c >= '0' && c <= '9') || (c == ',' && !out.empty() && out.back() == '#')) {
      if (out.empty() || out.back() != '#') out += '#';
    } else {
      out += c;
    }
  }
  return out;
}

// The last non-blank line of a multi-line text, skipping its first line ("" if none).
std::string last_line_after_first(const std::string& text) {
  std::string last;
  size_t start = text.find('\n');
  while (start != std::string::npos) {
    const size_t end = text.find('\n', start + 1);
    const std::string line =
        text.substr(start + 1, end == std::string::npos ? end : end - start - 1);
    if (line.find_first_not_of(" \t\r") != std::string::npos) last = line;
    start = end;
  }
  return last;
}

std::string join_ids(const std::vector<uint64_t>& ids) {
  std::string out = "[";
  for (size_t i = 0; i < ids.size(); i++) {
    out += (i ? "," : "") + (ids[i] == null_page ? "-" : std::to_string(ids[i]));  // V-W2
  }
  return out + "]";
}

// The names of the `name=value` fields that differ between two texts ("cached", "pages,tokens");
// "presence" when only one side has the thing at all.
std::string differing_fields(const std::string& model, const std::string& backend) {
  // The `name=value` words of a text, in its order.
  const auto fields = [](const std::string& text) {
    std::vector<std::pair<std::string, std::string>> out;
    for (size_t start = 0; start < text.size();) {
      size_t end = text.find(' ', start);
      if (end == std::string::npos) end = text.size();
      const std::string word = text.substr(start, end - start);
      if (const size_t equals = word.find('='); equals != std::string::npos)
        out.emplace_back(word.substr(0, equals), word.substr(equals + 1));
      start = end + 1;
    }
    return out;
  };
  const auto model_fields = fields(model), backend_fields = fields(backend);
  if (model_fields.empty() || backend_fields.empty()) return "presence";
  const auto differs = [](const auto& field, const auto& others) {
    return std::find(others.begin(), others.end(), field) == others.end();
  };
  std::string names;
  for (const auto& field : model_fields) {
    if (differs(field, backend_fields)) names += (names.empty() ? "" : ",") + field.first;
  }
  for (const auto& field : backend_fields) {
    const bool named_by_model =
        std::any_of(model_fields.begin(), model_fields.end(),
                    [&field](const auto& other) { return other.first == field.first; });
    if (!named_by_model) names += (names.empty() ? "" : ",") + field.first;
  }
  return names.empty() ? "presence" : names;
}

std::string describe_info(const std::optional<InfoView>& info) {
  if (!info) return "absent";
  return format_result(Result{Status::ok, {}, info, std::nullopt}).substr(3);
}

// A declined observation (trace/observations.def) is left out of both sides before comparing.
void clear_declined(const Declined& declined, StatsView& stats) {
  if (declined.cached_count) stats.cached_keys.reset();
}

// Copies the results only for a backend that declines something (the per-op hot path does not).
bool same_unless_declined(const Declined& declined, const OpResult& model_result,
                          const OpResult& backend_result) {
  if (declined == Declined{}) return model_result == backend_result;
  OpResult model = model_result, backend = backend_result;
  for (OpResult* result : {&model, &backend}) {
    for (Result& entry : result->entries) {
      if (entry.stats) clear_declined(declined, *entry.stats);
    }
  }
  return model == backend;
}

// The first word where the backend's gathered data differs from the model's token values:
// `words` holds each group's tokens in group order, as `groups` does (V-G2).
std::optional<std::string> compare_words(const Config& config, SeqId seq,
                                         const std::vector<Model::GroupValues>& groups,
                                         const std::vector<uint32_t>& words) {
  const uint64_t words_per_token = config.words_per_token();
  uint64_t token_count = 0;
  for (const Model::GroupValues& group : groups) token_count += group.values.size();
  if (words.size() != token_count * words_per_token) {
    return "read of sequence " + std::to_string(seq) + " returned " + std::to_string(words.size()) +
           " words, expected " + std::to_string(token_count * words_per_token);
  }
  thread_local std::vector<uint32_t> expected;  // one token's words, kept between calls
  expected.resize(words_per_token);
  const uint64_t vector_words = words_per_token / (2ull * config.layers);
  uint64_t at = 0;  // the next word of `words`
  for (const Model::GroupValues& group : groups) {
    for (uint64_t token = 0; token < group.values.size(); token++, at += words_per_token) {
      fill_token_words(group.values[token], config, expected);
      for (uint64_t w = 0; w < words_per_token; w++) {
        const uint32_t actual = words[at + w];
        if (actual == expected[w]) continue;
        const uint64_t layer = w / (2 * vector_words);
        const bool is_v = (w / vector_words) % 2 == 1;
        const bool swapped = (actual ^ expected[w]) == 0x80000000u;
        const uint64_t value = group_token_value(group.values[token], group.group);  // unsalted
        return "sequence " + std::to_string(seq) +
               (groups.size() > 1 ? " group " + std::to_string(group.group) : "") + " token " +
               std::to_string(group.first_token + token) + " layer " + std::to_string(layer) +
               (is_v ? " V" : " K") + " word " + std::to_string(w % vector_words) + ": expected " +
               std::to_string(expected[w]) + " (token value " + std::to_string(value) +
               (is_prompt_value(value) ? std::string(", a prompt token")
                                       : ", written at tick " + std::to_string(value >> 29)) +
               ") actual " + std::to_string(actual) + (swapped ? " (K and V swapped)" : "");
      }
    }
  }
  return std::nullopt;
}

// The backend's words for `seq` against the model's values (each group from its first non-null
// entry on: V-W3); when the backend offers a digest, the words travel only if it differs.
// `from_read`: the words the last `read` returned.
std::optional<std::string> compare_data(const Config& config, SeqId seq,
                                        const std::vector<Model::GroupValues>& groups,
                                        Backend& backend, bool from_read) {
  if (!backend.stores_data()) return std::nullopt;
  const auto digest = backend.words_digest(seq);
  if (digest && *digest == words_digest(gathered_words(config, groups))) return std::nullopt;
  if (from_read && !digest) return compare_words(config, seq, groups, backend.last_read_words());
  return compare_words(config, seq, groups, backend.gather_words(seq));
}

// Per group, the first token a backend still reads of `seq` (V-W3).
std::vector<uint64_t> first_tokens(const std::vector<Model::GroupValues>& groups) {
  std::vector<uint64_t> out;
  for (const Model::GroupValues& group : groups) out.push_back(group.first_token);
  return out;
}

}  // namespace

// One run of one trace, whole or arriving in pieces; stops at the first divergence. Ticks count
// from the first op of the first piece.
class DifferentialRun {
 public:
  DifferentialRun(const Config& config, const std::vector<std::string>& header_comments,
                  std::vector<std::unique_ptr<Backend>>& backends, AuditMode audit_mode,
                  RunProgress* progress)
      : config_(config),
        header_comments_(header_comments),
        backends_(backends),
        audit_mode_(audit_mode),
        model_(config),
        mirrors_(backends.size()),
        progress_(progress),
        last_results_(backends.size()),
        key_hashes_(backends.size()) {}

  // A whole trace: the backends may plan ahead and a divergence carries the prefix.
  RunReport run(std::span<const TraceLine> lines) {
    for (auto& backend : backends_) {
      backend->plan(lines, audit_mode_ != AuditMode::check, forecast_for(*backend, lines));
    }
    keep_prefix_ = true;
    feed(lines);
    return finish();
  }

  // What this run will ask `backend` after each op, for one that sends ops ahead (under every
  // audit mode: under check it sees past `check` ops and evictions). None under duplicate_hit=any:
  // the model follows the first backend there.
  std::unique_ptr<Forecast> forecast_for(const Backend& backend,
                                         std::span<const TraceLine> lines) const {
    if (!backend.wants_forecast() || config_.duplicate_hit == duplicate_hit_any) return nullptr;
    return std::make_unique<Forecast>(config_, lines, audit_mode_, backend.stores_data(),
                                      backend.declined());
  }

  // The next piece of a trace; false once a divergence was found.
  bool feed(std::span<const TraceLine> lines) {
    lines_ = lines;
    first_tick_ = op_count_;
    for (size_t i = 0; i < lines.size() && !divergence_; i++) {
      if (progress_) progress_->store(op_count_, std::memory_order_relaxed);
      step(op_count_++);
    }
    if (!lines.empty() && !divergence_) last_line_ = lines.back();  // for finish()'s check
    if (!keep_prefix_) lines_ = {};                                 // the caller reuses its piece
    return !divergence_;
  }

  uint64_t op_count() const { return op_count_; }

  RunReport finish() {
    if (!divergence_) full_check(op_count_ == 0 ? 0 : op_count_ - 1);
    RunReport report;
    report.op_count = op_count_;
    report.divergence = std::move(divergence_);
    return report;
  }

 private:
  // The line of op `index`, if it is in the current piece (or was the last one fed).
  const TraceLine* line_at(size_t index) const {
    if (index >= first_tick_ && index - first_tick_ < lines_.size())
      return &lines_[index - first_tick_];
    if (last_line_ && op_count_ > 0 && index == op_count_ - 1) return &*last_line_;
    return nullptr;
  }

  void step(size_t index) {
    const TraceLine& line = *line_at(index);
    const Tick tick = index;
    const auto full_check_due = [&] {
      return line.op.kind == OpKind::check || (audit_mode_ == AuditMode::every &&
                                               ops_since_full_check_ + 1 >= full_check_interval());
    };
    bool full_check_next = false;
    // duplicate_hit=any (V-K7): a hit on a key with several pages takes the page the first backend
    // took, so that backend applies the op before the model; the others are compared as ever.
    std::optional<OpResult> first_result;
    std::vector<Model::HitChoice> hit_choices;
    if (!backends_.empty() && config_.duplicate_hit == duplicate_hit_any) {
      full_check_next = full_check_due();  // told to that backend before it applies the op
      first_result = apply_followed(line.op, tick, full_check_next, hit_choices);
    }
    model_result_ = model_.apply(line.op, tick, hit_choices);
    const OpResult& model_result = model_result_;
    if (!first_result) full_check_next = full_check_due();
    for (size_t b = 0; b < backends_.size(); b++) {
      Backend& backend = *backends_[b];
      if (full_check_next && !(b == 0 && first_result)) backend.expect_full_check();
      OpResult backend_result =
          b == 0 && first_result ? std::move(*first_result) : backend.apply(line.op, tick);
      if (auto fault = backend.fault()) {
        return fail(FailureKind::device, index, &backend, format_op_result(backend_result), *fault);
      }
      if (is_broken(index, backend)) return;
      if (!same_unless_declined(backend.declined(), model_result, backend_result)) {
        return fail(FailureKind::result, index, &backend, format_op_result(backend_result),
                    "results differ");
      }
      last_results_[b] = std::move(backend_result);  // a later check's report shows it
    }
    if (line.expected && expectations_follow_v_k2_ && *line.expected != model_result) {
      return fail(FailureKind::expectation, index, nullptr, "",
                  "the model's result does not match the file's expectation");
    }
    const std::vector<SeqId> touched = involved(line.op, model_result, model_.last_victims());
    for (auto& backend : backends_) {
      const bool agree = compare_observations(index, *backend, touched);
      if (is_broken(index, *backend) || !agree) return;
    }
    ops_since_full_check_++;
    if (full_check_next) return full_check(index);
    if (audit_mode_ != AuditMode::check) touched_check(index, touched);
  }

  // The first backend's result of an op whose hit takes one of several pages of a key (V-K7),
  // with the model pages it took in `choices`; nothing (the backend has not applied it) otherwise.
  std::optional<OpResult> apply_followed(const Op& op, Tick tick, bool full_check_next,
                                         std::vector<Model::HitChoice>& choices) {
    Backend& backend = *backends_.front();
    const HitFollower follower(model_, backend, op);
    if (!follower.needed() || backend.broken()) return std::nullopt;
    if (full_check_next) backend.expect_full_check();
    OpResult result = backend.apply(op, tick);
    if (backend.fault() || backend.broken() || result.entries.empty()) return result;
    choices = result.entries[0].status == Status::ok
                  ? follower.choices(backend, op.seq, config_.groups())
                  : follower.costliest_choices();
    // A file's expectations were written by the model alone, under V-K2's choice: from here on
    // they may not hold, and the backend, compared at every op, checks the model instead.
    expectations_follow_v_k2_ = expectations_follow_v_k2_ && !follower.departs_from_first(choices);
    return result;
  }

  // Ops between whole-state checks in AuditMode::every: 1 while the state is small, then growing
  // with it, so the whole-state check costs about full_check_work_per_op units per op.
  uint64_t full_check_interval() const {
    const StatsView stats = model_.stats();
    const uint64_t work = stats.sequence_count + stats.used_pages +
                          stats.token_count * config_.words_per_token() / 16;
    return 1 + work / full_check_work_per_op;
  }

  // What the op touched, on every backend: the block tables of the sequences it named or evicted
  // (page sharing against the mirror) and the tokens it wrote or moved to other pages.
  void touched_check(size_t index, const std::vector<SeqId>& touched) {
    for (size_t b = 0; b < backends_.size(); b++) {
      Backend& backend = *backends_[b];
      std::vector<TokenRange>& ranges = ranges_;  // kept between ops: no allocation per op
      ranges.clear();
      const auto sharing = mirrors_[b].update(model_, backend, touched, ranges);
      if (is_broken(index, backend)) return;
      if (sharing) return fail(FailureKind::sharing, index, &backend, "", *sharing);
      if (!backend.stores_data()) continue;
      for (const TokenRange& range : ranges) {
        const std::vector<uint32_t> words =
            backend.gather_token_words(range.seq, range.first_token, range.token_count);
        if (auto fault = backend.fault())
          return fail(FailureKind::device, index, &backend, "", *fault);
        if (is_broken(index, backend)) return;
        const auto problem = compare_words(
            config_, range.seq, model_.read_groups(range.seq, range.first_token, range.token_count),
            words);
        if (problem) return fail(FailureKind::read, index, &backend, "", *problem);
      }
    }
  }

  bool compare_observations(size_t index, Backend& backend, const std::vector<SeqId>& touched) {
    const Op& op = line_at(index)->op;
    const OpResult& model_result = model_result_;
    StatsView model_stats = model_.stats();
    StatsView backend_stats = backend.stats();
    clear_declined(backend.declined(), model_stats);
    clear_declined(backend.declined(), backend_stats);
    if (model_stats != backend_stats) {
      const std::string model_text = describe_stats(model_stats);
      const std::string backend_text = describe_stats(backend_stats);
      fail(FailureKind::stats, index, &backend, "",
           "stats differ in " + differing_fields(model_text, backend_text) + ": model " +
               model_text + ", " + std::string(backend.name()) + " " + backend_text);
      return false;
    }
    for (SeqId seq : touched) {
      const auto model_info = model_.info(seq);
      const auto backend_info = backend.info(seq);
      if (model_info != backend_info) {
        const std::string model_text = describe_info(model_info);
        const std::string backend_text = describe_info(backend_info);
        fail(FailureKind::info, index, &backend, "",
             "sequence " + std::to_string(seq) + " differs in " +
                 differing_fields(model_text, backend_text) + ": model " + model_text + ", " +
                 std::string(backend.name()) + " " + backend_text);
        return false;
      }
    }
    if (op.kind == OpKind::read && model_result.entries[0].status == Status::ok) {
      const auto problem = compare_data(config_, op.seq, model_.read_groups(op.seq), backend, true);
      if (problem) {
        fail(FailureKind::read, index, &backend, "", *problem);
        return false;
      }
    }
    if (op.kind == OpKind::prefill && model_result.entries[0].status == Status::ok) {
      if (auto problem =
              check_prefill_data(op, config_, backend, first_tokens(model_.read_groups(op.seq)))) {
        fail(FailureKind::read, index, &backend, "", *problem);
        return false;
      }
    }
    return true;
  }

  // Audits both sides, compares page sharing, the sequence sets and every sequence's data.
  void full_check(size_t index) {
    ops_since_full_check_ = 0;
    const std::vector<std::string> model_problems = model_.audit();
    if (!model_problems.empty()) {
      return fail(FailureKind::audit, index, nullptr, "", join_lines(model_problems));
    }
    for (size_t b = 0; b < backends_.size(); b++) {
      const std::unique_ptr<Backend>& backend = backends_[b];
      const std::vector<std::string> problems = backend->audit();
      if (is_broken(index, *backend)) return;
      if (!problems.empty())
        return fail(FailureKind::audit, index, backend.get(), "", join_lines(problems));
      std::vector<SeqId> backend_ids = backend->sequence_ids();
      if (is_broken(index, *backend)) return;
      std::sort(backend_ids.begin(), backend_ids.end());
      if (backend_ids != model_.sequence_ids()) {
        return fail(FailureKind::sharing, index, backend.get(), "",
                    "the set of live sequences differs");
      }
      if (auto problem = mirrors_[b].rebuild(model_, *backend)) {
        if (is_broken(index, *backend)) return;
        return fail(FailureKind::sharing, index, backend.get(), "", *problem);
      }
      if (auto problem = compare_prefix_cache(model_, *backend, key_hashes_[b], mirrors_[b])) {
        return fail(FailureKind::prefix, index, backend.get(), "", *problem);
      }
      for (SeqId seq : backend_ids) {
        const auto problem = compare_data(config_, seq, model_.read_groups(seq), *backend, false);
        if (auto fault = backend->fault())
          return fail(FailureKind::device, index, backend.get(), "", *fault);
        if (is_broken(index, *backend)) return;
        if (problem) return fail(FailureKind::read, index, backend.get(), "", *problem);
      }
    }
  }

  // A backend outside the process that died, hung or broke the protocol is a finding of its own.
  bool is_broken(size_t index, Backend& backend) {
    const auto why = backend.broken();
    if (why) fail(FailureKind::backend, index, &backend, "(no valid reply)", *why);
    return why.has_value();
  }

  static std::string describe_stats(const StatsView& stats) {
    return format_result(Result{Status::ok, {}, std::nullopt, stats}).substr(3);
  }

  static std::string join_lines(const std::vector<std::string>& lines) {
    std::string out;
    for (const std::string& line : lines) out += (out.empty() ? "" : "\n") + line;
    return out;
  }

  // The sequences the op names or evicted (a failed token-by-token append evicts without listing
  // its victims, so the model's own list is added).
  static std::vector<SeqId> involved(const Op& op, const OpResult& result,
                                     const std::vector<SeqId>& model_victims) {
    std::vector<SeqId> ids = op_sequences(op);
    ids.insert(ids.end(), model_victims.begin(), model_victims.end());
    for (const Result& entry : result.entries) {
      ids.insert(ids.end(), entry.evicted.begin(), entry.evicted.end());
    }
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    return ids;
  }

  void fail(FailureKind kind, size_t index, Backend* backend, std::string backend_result,
            std::string detail) {
    Divergence d;
    d.kind = kind;
    d.tick = index;
    if (const TraceLine* line = line_at(index)) {
      d.line_number = line->line_number;
      d.op_text = format_op(line->op);
      if (line->expected) d.expected = format_op_result(*line->expected);
      if (keep_prefix_) d.prefix.lines.assign(lines_.begin(), lines_.begin() + index + 1);
    }
    d.prefix.config = config_;
    d.prefix.header_comments = header_comments_;
    d.model = format_op_result(model_result_);
    d.backend_name = backend ? std::string(backend->name()) : "model";
    d.backend = std::move(backend_result);
    // Every kind shows the backend's result of the op (it agreed with the model's when only a
    // later check failed), unless the backend gave none.
    for (size_t b = 0; b < backends_.size() && d.backend.empty(); b++) {
      if (backends_[b].get() == backend && !backend->broken() && index + 1 == op_count_)
        d.backend = format_op_result(last_results_[b]);
    }
    d.detail = std::move(detail);
    d.state = describe_state(index, backend);
    divergence_ = std::move(d);
  }

  std::string describe_state(size_t index, Backend* backend) const {
    if (backend && backend->broken()) backend = nullptr;  // a broken backend has no state to show
    std::vector<SeqId> ids;
    if (const TraceLine* line = line_at(index)) ids = op_sequences(line->op);
    std::sort(ids.begin(), ids.end());  // a step may name a sequence twice: list it once
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    std::string out = "  model: " + describe_stats(model_.stats()) + "\n";
    if (backend)
      out += "  " + std::string(backend->name()) + ": " + describe_stats(backend->stats()) + "\n";
    for (SeqId seq : ids) {
      const auto last_use = model_.last_use(seq);
      out += "  model seq " + std::to_string(seq) + ": " + describe_info(model_.info(seq)) +
             (last_use ? " last_use=" + std::to_string(*last_use) : "") +
             " block_table=" + join_ids(model_.page_indices(model_.block_table(seq))) + "\n";
      if (backend) {
        out += "  " + std::string(backend->name()) + " seq " + std::to_string(seq) + ": " +
               describe_info(backend->info(seq)) +
               " block_table=" + join_ids(backend->block_table(seq)) + "\n";
      }
    }
    return out;
  }

  const Config config_;
  const std::vector<std::string> header_comments_;
  std::vector<std::unique_ptr<Backend>>& backends_;
  AuditMode audit_mode_;
  Model model_;
  std::vector<SharingMirror> mirrors_;  // one per backend, updated per op in AuditMode::every
  uint64_t ops_since_full_check_ = 0;
  RunProgress* progress_;               // null when nobody watches
  OpResult model_result_;               // the model's result for the op being checked
  std::vector<OpResult> last_results_;  // each backend's result for it, once it agreed
  std::vector<KeyHashes> key_hashes_;   // per backend: what its hashed keys name (`keys hash`)
  std::vector<TokenRange> ranges_;      // touched_check's tokens to compare, reused
  std::optional<Divergence> divergence_;
  std::span<const TraceLine> lines_;      // the piece being fed
  uint64_t first_tick_ = 0;               // the tick of lines_[0]
  uint64_t op_count_ = 0;                 // ops applied so far
  std::optional<TraceLine> last_line_;    // the last op of the previous piece
  bool keep_prefix_ = false;              // a whole trace: the divergence carries its prefix
  bool expectations_follow_v_k2_ = true;  // until a duplicate hit takes another page (V-K7)
};

namespace {

// A step's results, one per entry, as the first entry where model and backend differ: the failure
// stays the same while the shrinker drops the other members. Other ops' results are unchanged.
std::string first_difference(const std::string& model, const std::string& backend,
                             const std::string& results) {
  const std::string separator = " ; ";
  auto split = [&separator](const std::string& text) {
    std::vector<std::string> parts;
    for (size_t start = 0;;) {
      const size_t end = text.find(separator, start);
      parts.push_back(text.substr(start, end - start));
      if (end == std::string::npos) return parts;
      start = end + separator.size();
    }
  };
  const std::vector<std::string> model_parts = split(model), backend_parts = split(backend);
  if (model_parts.size() != backend_parts.size() || model_parts.size() < 2) return results;
  const std::vector<std::string> own = split(results);
  for (size_t i = 0; i < model_parts.size(); i++) {
    if (model_parts[i] != backend_parts[i]) return own[i];
  }
  return results;
}

}  // namespace

namespace {

// The op's family for a signature: the ops that take pages (alloc, append, step, prefill) share
// one, so a capacity bug is one finding whichever of them shows it first.
std::string op_family(const std::string& op_kind) {
  if (op_kind == "alloc" || op_kind == "append" || op_kind == "step" || op_kind == "prefill") {
    return "grow";
  }
  if (op_kind == "free" || op_kind == "truncate" || op_kind == "evict") return "release";
  return op_kind;
}

// The value of field `name=` in a result's text ("" when absent).
std::string field_of(const std::string& result, const std::string& name) {
  const size_t at = result.find(" " + name + "=");
  if (at == std::string::npos) return "";
  const size_t start = at + name.size() + 2;
  return result.substr(start, result.find(' ', start) - start);
}

// The rule two differing results break, in words without numbers: `capacity` (one side ran out
// of pages or evicted a different number of sequences), `victims` (the same number, others),
// `hit`, `status A/B` (other result words), or the first differing field.
std::string result_rule(const std::string& model, const std::string& backend) {
  const std::string model_word = model.substr(0, model.find(' '));
  const std::string backend_word = backend.substr(0, backend.find(' '));
  if (model_word != backend_word) {
    const bool capacity = (model_word == "ok" && backend_word == "capacity_exceeded") ||
                          (model_word == "capacity_exceeded" && backend_word == "ok");
    return capacity ? "capacity" : "status " + model_word + "/" + backend_word;
  }
  const std::string model_victims = field_of(model, "evicted");
  const std::string backend_victims = field_of(backend, "evicted");
  if (model_victims != backend_victims) {
    const auto count = [](const std::string& ids) {
      return ids.empty() ? 0 : 1 + std::count(ids.begin(), ids.end(), ',');
    };
    return count(model_victims) != count(backend_victims) ? "capacity" : "victims";
  }
  for (size_t start = model.find(' '); start != std::string::npos;
       start = model.find(' ', start + 1)) {  // the first differing field, in the text's order
    const std::string name = model.substr(start + 1, model.find('=', start) - start - 1);
    if (field_of(model, name) != field_of(backend, name)) return name;
  }
  return "text " + strip_digits(model) + "/" + strip_digits(backend);
}

}  // namespace

std::string Divergence::signature() const {
  const std::string op_kind = op_text.substr(0, op_text.find(' '));
  const std::string first_detail = detail.substr(0, detail.find('\n'));
  const std::string name = kind_name(kind);
  if (kind == FailureKind::crash) {
    // How it died and the last line it printed (a failed check's message), not the results.
    return name + "|" + op_kind + "|" + strip_digits(first_detail) + "|" +
           strip_digits(last_line_after_first(detail));
  }
  // The root rule, not the result words: one planted bug is one finding (kvtrace campaign
  // --keep-going and --baseline count findings by it).
  const std::string family = op_family(op_kind);
  if (kind == FailureKind::result || kind == FailureKind::expectation) {
    const std::string other = kind == FailureKind::result ? backend : expected;
    return name + "|" + family + "|" +
           result_rule(first_difference(model, other, model),
                       first_difference(model, other, other));
  }
  if (kind == FailureKind::read || kind == FailureKind::sharing) return name + "|" + family;
  // The rule is the detail's words before its first ": " (the values and the backend's name come
  // after it), so one root cause is one finding whatever the numbers or the backend's name.
  std::string rule = first_detail.substr(0, first_detail.find(": "));
  // "stats differ in used,free": the first field in the result's order names the root cause
  // (free follows used; which others move with it depends on the trace).
  if (kind == FailureKind::stats || kind == FailureKind::info)
    rule = rule.substr(0, rule.find(','));
  // How a broken backend's process ended (it exited, or we killed it) races with our kill.
  rule = rule.substr(0, rule.find("; the process "));
  for (size_t at = 0;
       !backend_name.empty() && (at = rule.find(backend_name, at)) != std::string::npos;)
    rule.replace(at, backend_name.size(), "the backend");
  return name + "|" + family + "|" + strip_digits(rule);
}

RunReport run_trace(const Trace& trace, std::vector<std::unique_ptr<Backend>>& backends,
                    AuditMode audit_mode, RunProgress* progress) {
  DifferentialRun run(trace.config, trace.header_comments, backends, audit_mode, progress);
  return run.run(trace.lines);
}

std::string divergence_headline(const Divergence& d) {
  return "divergence (" + kind_name(d.kind) + ") at tick " + std::to_string(d.tick);
}

std::string format_divergence(const Divergence& d) {
  std::string out = divergence_headline(d);
  if (d.line_number) out += ", line " + std::to_string(d.line_number);
  out += ": " + d.op_text + "\n";
  if (!d.expected.empty()) out += "  expected: " + d.expected + "\n";
  out += "  model:    " + d.model + "\n";
  if (d.backend_name != "model" && !d.backend.empty()) {
    out += "  " + d.backend_name + ":" +
           std::string(d.backend_name.size() < 9 ? 9 - d.backend_name.size() : 1, ' ') + d.backend +
           "\n";
  }
  out += "  " + d.detail + "\n";
  out += "state after the op:\n" + d.state;
  return out;
}

}  // namespace kv

namespace kv {

StreamRun::StreamRun(const Config& config, const std::vector<std::string>& header_comments,
                     std::vector<std::unique_ptr<Backend>>& backends, AuditMode audit_mode,
                     RunProgress* progress)
    : run_(std::make_unique<DifferentialRun>(config, header_comments, backends, audit_mode,
                                             progress)) {}

StreamRun::~StreamRun() = default;

bool StreamRun::feed(std::span<const TraceLine> lines) {
  return run_->feed(lines);
}

RunReport StreamRun::finish() {
  return run_->finish();
}

uint64_t StreamRun::op_count() const {
  return run_->op_count();
}

}  // namespace kv
