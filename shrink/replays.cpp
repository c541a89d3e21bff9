// Replays of one failing trace, and the `nondeterministic` divergence when they disagree.
#include "shrink/replays.hpp"

#include <algorithm>

namespace kv {
namespace {

bool same_failure(const RunReport& report, const Divergence& first) {
  return !report.ok() && report.divergence->tick == first.tick &&
         report.divergence->signature() == first.signature();
}

}  // namespace

ReplayTally tally_replays(const Trace& trace, const RunReport& first, const ShrinkOptions& options,
                          uint32_t replay_count) {
  ReplayTally tally;
  tally.replay_count = 1;
  tally.same_count = first.ok() ? 0 : 1;
  if (first.ok()) return tally;
  for (uint32_t i = 1; i < replay_count; i++) {
    if (std::chrono::steady_clock::now() >= options.deadline) break;
    RunReport again = shrink_replay(trace, options);
    tally.replay_count++;
    if (same_failure(again, *first.divergence)) {
      tally.same_count++;
    } else if (!tally.other) {
      tally.other = std::move(again);
    }
  }
  return tally;
}

Divergence nondeterministic(const Divergence& first, const ReplayTally& tally) {
  Divergence d = first;
  d.kind = FailureKind::nondeterministic;
  const RunReport& other = *tally.other;
  std::string other_text = "passed (" + std::to_string(other.op_count) + " ops)";
  if (!other.ok()) {
    const Divergence& o = *other.divergence;
    other_text = "diverged (" + kind_name(o.kind) + ") at tick " + std::to_string(o.tick) + ": " +
                 o.op_text + "; model " + o.model + ", " + o.backend_name + " " + o.backend + "; " +
                 o.detail.substr(0, o.detail.find('\n'));
  }
  d.detail = "replays of the same trace disagree: against fresh backends, " +
             std::to_string(tally.same_count) + " of " + std::to_string(tally.replay_count) +
             " runs diverged (" + kind_name(first.kind) + ") at tick " +
             std::to_string(first.tick) + " as the first did; another " + other_text +
             "\nthe first run's answer: " + first.detail;
  return d;
}

}  // namespace kv
