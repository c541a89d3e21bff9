// The kvtrace shrinker: remove chunks of ops, then single ops, then simplify arguments and the
// config (halve big steps, merge appends, lower all counts at once, renumber ids), and replace
// prefixes by fewer ops that rebuild the state they built.
#include "shrink/shrink.hpp"

#include <algorithm>
#include <map>

#include "model/model.hpp"
#include "shrink/rebuild_prefix.hpp"

namespace kv {
namespace {

bool simpler_group(Config& config, uint32_t group, uint32_t change);

// Replays candidates and remembers the failure every accepted candidate must keep.
class Shrinker {
 public:
  Shrinker(const ShrinkOptions& options, std::string signature, uint32_t expectation_line)
      : options_(options), signature_(std::move(signature)), expectation_line_(expectation_line) {}

  // True when the candidate still fails the same way; keeps the candidate's failing prefix.
  bool fails_same(Trace& candidate) {
    for (uint32_t attempt = 0; attempt < std::max(options_.tries, 1u); attempt++) {
      if (out_of_budget()) return false;
      run_count_++;
      const RunReport report = shrink_replay(candidate, options_);
      if (report.ok() || report.divergence->signature() != signature_) continue;
      candidate.lines.resize(report.divergence->prefix.lines.size());
      return true;
    }
    return false;
  }

  // Once true, every candidate is refused, so each pass ends quickly keeping what it has.
  bool out_of_budget() {
    cut_short_ = cut_short_ || run_count_ >= shrink_run_count_max ||
                 std::chrono::steady_clock::now() >= options_.deadline;
    return cut_short_;
  }

  void remove_chunks(Trace& trace) {
    for (size_t chunk = std::max<size_t>(trace.lines.size() / 2, 1); chunk >= 1; chunk /= 2) {
      for (size_t start = 0; start < trace.lines.size();) {
        Trace candidate = trace;
        const size_t end = std::min(start + chunk, candidate.lines.size());
        candidate.lines.erase(candidate.lines.begin() + start, candidate.lines.begin() + end);
        if (keeps_expectation(candidate) && fails_same(candidate)) {
          trace = std::move(candidate);
        } else {
          start += chunk;
        }
      }
      if (chunk == 1) break;
    }
  }

  // Prefix replacement: the first k ops give way to fewer ops that rebuild the state they left
  // (shrink/rebuild_prefix.hpp), for every k from the whole trace down; failing that, to one op
  // holding all their tokens in one sequence.
  bool replace_prefixes(Trace& trace) {
    bool progress = false;
    for (size_t length = trace.lines.size(); length >= 2; length--) {
      // An accepted candidate may fail within its rebuilt ops and be cut there, shorter than
      // `length`.
      length = std::min(length, trace.lines.size());
      if (length < 2) break;
      for (const std::vector<TraceLine>& rebuilt : prefix_candidates(trace, length)) {
        Trace candidate = trace;
        candidate.lines.erase(candidate.lines.begin(),
                              candidate.lines.begin() + static_cast<ptrdiff_t>(length));
        candidate.lines.insert(candidate.lines.begin(), rebuilt.begin(), rebuilt.end());
        if (!keeps_expectation(candidate) || !fails_same(candidate)) continue;
        length = std::min(length, rebuilt.size() + 1);
        trace = std::move(candidate);
        progress = true;
        break;
      }
    }
    return progress;
  }

  // What replace_prefixes tries for the first `length` ops, each shorter than them, in order.
  static std::vector<std::vector<TraceLine>> prefix_candidates(const Trace& trace, size_t length) {
    std::vector<std::vector<TraceLine>> candidates;
    const Model model = model_after(trace, length);  // the state all of them rebuild
    auto shared = rebuild_prefix(trace, model, length, true);
    auto unshared = rebuild_prefix(trace, model, length, false);
    // Appends instead of forks only when that is shorter (it loses the sharing).
    if (shared && shared->size() < length) candidates.push_back(std::move(*shared));
    if (unshared && unshared->size() < length &&
        (candidates.empty() || unshared->size() < candidates.front().size()))
      candidates.push_back(std::move(*unshared));
    for (auto& merged : merge_prefix(trace, model, length)) candidates.push_back(std::move(merged));
    return candidates;
  }

  // Tries each variant an edit offers; keeps the first that still fails the same way.
  template <typename Edit>
  bool try_edits(Trace& trace, Edit edit) {
    bool progress = false;
    for (size_t index = 0; index < trace.lines.size(); index++) {
      for (uint32_t variant = 0; variant < 8; variant++) {
        Trace candidate = trace;
        if (!edit(candidate, index, variant)) continue;
        if (candidate == trace || !fails_same(candidate)) continue;
        trace = std::move(candidate);
        progress = true;
        break;
      }
    }
    return progress;
  }

  bool try_config(Trace& trace) {
    bool progress = false;
    for (uint32_t variant = 0; variant < 12; variant++) {
      Trace candidate = trace;
      Config& config = candidate.config;
      switch (variant) {
        case 0:
          config.eviction = Eviction::none;
          break;
        case 1:
          config.kv_heads = 1;
          config.head_dim = 2;
          config.layers = 1;
          break;
        case 2:
          config.max_pages = 1;
          break;
        case 3:
          config.max_pages = std::max<uint32_t>(config.max_pages / 2, 1);
          break;
        case 4:
          config.max_pages = std::max<uint32_t>(config.max_pages - 1, 1);
          break;
        case 5:
          config.page_size = 1;
          break;
        case 6:
          config.page_size = std::max<uint32_t>(config.page_size / 2, 1);
          break;
        case 7:
          config.page_size = std::max<uint32_t>(config.page_size - 1, 1);
          break;
        case 8:
          config.layers = 1;
          break;
        // A window (section 16): none at all, then smaller; never 1 (V-W0).
        case 9:
          config.sliding_window = 0;
          break;
        case 10:
          if (config.sliding_window > 0)
            config.sliding_window = std::max(config.sliding_window / 2, 2u);
          break;
        default:
          if (config.sliding_window > 0)
            config.sliding_window = std::max(config.sliding_window - 1, 2u);
          break;
      }
      if (candidate.config != trace.config && fails_same(candidate)) {
        trace = std::move(candidate);
        progress = true;
      }
    }
    // Section 17's groups: each one fewer, full attention, or a narrower window.
    for (uint32_t group = 0; group < trace.config.group_count; group++) {
      for (uint32_t change = 0; change < 4; change++) {
        Trace candidate = trace;
        if (!simpler_group(candidate.config, group, change) || !fails_same(candidate)) continue;
        trace = std::move(candidate);
        progress = true;
      }
    }
    // A variant the failure does not need goes back to its default word (a backend that declared
    // it refuses the plainer config, which then fails differently and is not kept).
    for (const VariantKey& variant : variant_keys) {
      Trace candidate = trace;
      if (candidate.config.*variant.field == 0) continue;
      candidate.config.*variant.field = 0;
      if (!fails_same(candidate)) continue;
      trace = std::move(candidate);
      progress = true;
    }
    return progress;
  }

  bool keeps_expectation(const Trace& candidate) const {
    if (expectation_line_ == 0) return true;
    for (const TraceLine& line : candidate.lines) {
      if (line.line_number == expectation_line_) return true;
    }
    return false;
  }

  uint32_t run_count() const { return run_count_; }
  bool cut_short() const { return cut_short_; }

 private:
  const ShrinkOptions& options_;
  std::string signature_;
  uint32_t expectation_line_;  // the expectation that fails, kept while shrinking (0: none)
  uint32_t run_count_ = 0;
  bool cut_short_ = false;
};

// One simpler KV group (section 17): `change` 0 drops group `group` (a last group left becomes
// sliding_window, V-G0), 1 makes it full attention, 2 halves its window, 3 takes one off (never
// below 2). False when nothing changes.
bool simpler_group(Config& config, uint32_t group, uint32_t change) {
  if (group >= config.group_count) return false;
  uint32_t& window = config.group_windows[group];
  const uint32_t before = window;
  switch (change) {
    case 0:
      std::copy(config.group_windows.begin() + group + 1, config.group_windows.end(),
                config.group_windows.begin() + group);
      config.group_windows.back() = 0;
      if (--config.group_count == 1) {
        config.sliding_window = config.group_windows[0];
        config.group_windows[0] = 0;
        config.group_count = 0;
      }
      return true;
    case 1:
      window = 0;
      break;
    case 2:
      if (window > 0) window = std::max(window / 2, 2u);
      break;
    default:
      if (window > 0) window = std::max(window - 1, 2u);
      break;
  }
  return window != before;
}

// Smaller counts: 1, halves, minus one; for a step, fewer entries first.
bool smaller_count(Trace& trace, size_t index, uint32_t variant) {
  Op& op = trace.lines[index].op;
  if (op.kind == OpKind::step) {
    if (variant < op.entries.size()) {
      if (op.entries.size() == 1) return false;
      op.entries.erase(op.entries.begin() + variant);
      return true;
    }
    for (StepEntry& entry : op.entries)
      entry.token_count = std::min<uint32_t>(entry.token_count, 1);
    return variant == op.entries.size();
  }
  if (op_shape(op.kind) != OpShape::SeqCount || op.count <= 1) return false;
  const uint32_t candidates[] = {1, op.count / 2, op.count - 1};
  if (variant >= std::size(candidates)) return false;
  op.count = candidates[variant];
  return true;
}

// A big step loses half or a quarter of its entries at once (a 256-member step needs 8 rounds to
// reach one member, not 255).
bool fewer_step_entries(Trace& trace, size_t index, uint32_t variant) {
  std::vector<StepEntry>& entries = trace.lines[index].op.entries;
  const size_t count = entries.size();
  if (trace.lines[index].op.kind != OpKind::step || count < 4) return false;
  const size_t half = count / 2, quarter = count / 4;
  switch (variant) {
    case 0:  // keep the first half
      entries.resize(half);
      return true;
    case 1:  // keep the second half
      entries.erase(entries.begin(), entries.begin() + static_cast<ptrdiff_t>(half));
      return true;
    case 2:  // drop the first quarter
      entries.erase(entries.begin(), entries.begin() + static_cast<ptrdiff_t>(quarter));
      return true;
    case 3:  // drop the last quarter
      entries.resize(count - quarter);
      return true;
    default:
      return false;
  }
}

// Two appends to the same sequence with nothing naming it in between become one append of the
// sum (an append of n+m tokens lands where n then m would, all-or-nothing aside).
bool merge_appends(Trace& trace, size_t index, uint32_t variant) {
  const Op first = trace.lines[index].op;
  if (first.kind != OpKind::append || variant > 0) return false;
  for (size_t later = index + 1; later < trace.lines.size(); later++) {
    const Op& op = trace.lines[later].op;
    const std::vector<SeqId> named = op_sequences(op);
    if (std::find(named.begin(), named.end(), first.seq) == named.end()) continue;
    if (op.kind != OpKind::append) return false;
    const uint64_t sum = uint64_t{first.count} + op.count;
    if (sum > append_token_count_max) return false;
    trace.lines[index].op.count = static_cast<uint32_t>(sum);
    trace.lines.erase(trace.lines.begin() + static_cast<ptrdiff_t>(later));
    return true;
  }
  return false;
}

// Every count lowered at once: appends and step entries to 1 token, truncates to 0 (one
// candidate, so counts that only fail together still shrink).
bool all_counts_minimal(Trace& trace) {
  bool changed = false;
  for (TraceLine& line : trace.lines) {
    Op& op = line.op;
    const uint32_t floor = op.kind == OpKind::truncate ? 0 : 1;
    if (op_shape(op.kind) == OpShape::SeqCount && op.count > floor) {
      op.count = floor;
      changed = true;
    }
    for (StepEntry& entry : op.entries) {
      if (entry.token_count > 1) {
        entry.token_count = 1;
        changed = true;
      }
    }
  }
  return changed;
}

// A fork onto an id nobody else uses, so ops that only made room for DST can go.
bool fresh_destination(Trace& trace, size_t index, uint32_t variant) {
  Op& op = trace.lines[index].op;
  if (op.kind != OpKind::fork || variant > 0) return false;
  SeqId largest = 0;
  for (const TraceLine& line : trace.lines) {
    for (SeqId id : op_sequences(line.op)) largest = std::max(largest, id);
  }
  if (largest == UINT32_MAX) return false;
  op.count = largest + 1;
  return true;
}

// Drops a `free S` whose S is named again later, renaming S to a fresh id from there on: the old S
// then lives on, and the later one is a sequence of its own. Removal alone cannot do this (the
// later ops would meet the old S), and a rebuilt prefix loses what the free left behind (the
// freed pages' keys in the cached queue, their order), so without it a free between two lives of
// an id stays in the counterexample.
bool retire_freed_id(Trace& trace, size_t index, uint32_t variant) {
  const Op& freed = trace.lines[index].op;
  if (freed.kind != OpKind::free || variant > 0) return false;
  const SeqId seq = freed.seq;
  SeqId largest = 0;
  bool named_later = false;
  for (size_t i = 0; i < trace.lines.size(); i++) {
    for (const SeqId id : op_sequences(trace.lines[i].op)) {
      largest = std::max(largest, id);
      named_later |= i > index && id == seq;
    }
  }
  if (!named_later || largest == UINT32_MAX) return false;
  const SeqId fresh = largest + 1;
  trace.lines.erase(trace.lines.begin() + static_cast<ptrdiff_t>(index));
  for (size_t i = index; i < trace.lines.size(); i++) {
    Op& op = trace.lines[i].op;
    const OpShape shape = op_shape(op.kind);
    if (shape != OpShape::None && shape != OpShape::Step && op.seq == seq) op.seq = fresh;
    if (shape == OpShape::SeqSeq && op.count == seq) op.count = fresh;
    if (shape == OpShape::Step) {
      for (StepEntry& entry : op.entries) entry.seq = entry.seq == seq ? fresh : entry.seq;
    }
    trace.lines[i].expected.reset();  // results may name S (evicted=)
  }
  return true;
}

// Renames sequence ids densely (1, 2, 3, ... in order of first appearance).
Trace renumber(const Trace& trace) {
  Trace out = trace;
  std::map<SeqId, SeqId> names;
  auto rename = [&names](SeqId id) {
    const auto [found, inserted] = names.emplace(id, static_cast<SeqId>(names.size() + 1));
    return found->second;
  };
  for (TraceLine& line : out.lines) {
    Op& op = line.op;
    if (op_shape(op.kind) != OpShape::None && op.kind != OpKind::step) op.seq = rename(op.seq);
    if (op_shape(op.kind) == OpShape::SeqSeq) op.count = rename(op.count);
    for (StepEntry& entry : op.entries) entry.seq = rename(entry.seq);
    line.expected.reset();  // evicted= lists name the old ids; expectations are refilled at the end
  }
  return out;
}

}  // namespace

RunReport shrink_replay(const Trace& trace, const ShrinkOptions& options) {
  if (options.isolate) {
    return run_trace_isolated(trace, options.make_backends, options.audit, options.isolate_options);
  }
  auto backends = options.make_backends(trace.config);
  return run_trace(trace, backends, options.audit);
}

std::optional<ShrinkResult> shrink_trace(const Trace& input, const ShrinkOptions& options) {
  RunReport first = shrink_replay(input, options);
  for (uint32_t attempt = 1; first.ok() && attempt < options.tries; attempt++)
    first = shrink_replay(input, options);
  if (first.ok()) return std::nullopt;
  const Divergence& divergence = *first.divergence;
  // An unmet expectation keeps that one expectation; every other failure is model vs backend.
  const uint32_t expectation_line =
      divergence.kind == FailureKind::expectation ? divergence.line_number : 0;
  Trace trace = divergence.prefix;
  trace.trailing_comments.clear();  // per-line comments no longer apply once ops are gone
  for (TraceLine& line : trace.lines) {
    if (line.line_number != expectation_line || expectation_line == 0) line.expected.reset();
    line.comments.clear();
    line.inline_comment.clear();
  }
  Shrinker shrinker(options, divergence.signature(), expectation_line);
  for (uint32_t round = 0; round < 16; round++) {
    const size_t before = trace.lines.size();
    const Config config_before = trace.config;
    shrinker.remove_chunks(trace);
    bool progress = shrinker.replace_prefixes(trace);
    // Before the config shrinks: the later life's pages must still fit beside the old one's.
    progress |= shrinker.try_edits(trace, retire_freed_id);
    progress |= shrinker.try_config(trace);
    progress |= shrinker.try_edits(trace, fewer_step_entries);
    progress |= shrinker.try_edits(trace, merge_appends);
    Trace lowered = trace;
    if (all_counts_minimal(lowered) && shrinker.fails_same(lowered)) {
      trace = std::move(lowered);
      progress = true;
    }
    progress |= shrinker.try_edits(trace, smaller_count);
    // A fresh fork destination only enables removals (and renumbering undoes it), so it is not
    // progress: counting it kept every round busy until the round limit.
    shrinker.try_edits(trace, fresh_destination);
    Trace renamed = renumber(trace);
    if (expectation_line == 0 && renamed != trace && shrinker.fails_same(renamed)) trace = renamed;
    if (!progress && trace.lines.size() == before && trace.config == config_before) break;
    if (shrinker.cut_short()) break;
  }
  set_model_expectations(trace, expectation_line);
  ShrinkResult result;
  result.signature = divergence.signature();
  result.op_count_before = input.lines.size();
  result.op_count_after = trace.lines.size();
  result.run_count = shrinker.run_count();
  result.cut_short = shrinker.cut_short();
  result.trace = std::move(trace);
  return result;
}

}  // namespace kv
