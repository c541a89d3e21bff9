// Where the generator core's choices come from: the Source interface, and the seeded source.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <vector>

#include "trace/rng.hpp"

namespace kv {

// One weighted range of a table column (trace/regimes.cpp): lo..hi, drawn `weight` times in the
// column's total. A single value is lo == hi.
struct Choice {
  uint32_t weight = 1;
  uint32_t lo = 0;
  uint32_t hi = 0;
};
using Choices = std::vector<Choice>;

// Every random decision of the generator core (trace/gen_core.hpp) is one call here, so the same
// core runs on a seed (kvtrace gen), on RapidCheck (each draw shrinks: properties/rc_source.hpp)
// and inside the fuzzer's mutator. "Simpler" is where a shrinking source moves a draw.
class Source {
 public:
  virtual ~Source() = default;
  // A value in [lo, hi] (hi - lo < 2^32); simpler toward lo.
  virtual uint64_t in_range(uint64_t lo, uint64_t hi) = 0;
  // An index of a weight > 0; simpler toward 0, so list the simplest choice first.
  virtual size_t pick(std::span<const uint32_t> weights) = 0;

  size_t pick(std::initializer_list<uint32_t> weights) {
    return pick(std::span<const uint32_t>(weights.begin(), weights.size()));
  }
  // in_range as a T (a count, an id, an offset).
  template <typename T>
  T in(uint64_t lo, uint64_t hi) {
    return static_cast<T>(in_range(lo, hi));
  }
  // true per_mille times in 1,000 (no draw at 0 or 1,000); false is simpler.
  bool coin(uint32_t per_mille) {
    if (per_mille == 0 || per_mille >= 1000) return per_mille != 0;
    return pick({1000 - per_mille, per_mille}) == 1;
  }
  // One of `values`, uniformly; simpler toward the first.
  template <typename T>
  T element(std::initializer_list<T> values) {
    const std::vector<uint32_t> weights(values.size(), 1);
    return values.begin()[pick(weights)];
  }
  // A value of a table column: a range by weight, then a value in it.
  uint32_t draw(const Choices& choices) {
    std::vector<uint32_t> weights;
    for (const Choice& choice : choices) weights.push_back(choice.weight);
    const Choice& choice = choices[pick(weights)];
    return choice.lo == choice.hi ? choice.lo : in<uint32_t>(choice.lo, choice.hi);
  }
};

// The seeded source (splitmix64): the same seed gives the same draws on every platform.
class SeededSource final : public Source {
 public:
  explicit SeededSource(uint64_t seed) : rng_(seed) {}
  using Source::pick;
  uint64_t in_range(uint64_t lo, uint64_t hi) override { return rng_.between(lo, hi); }
  size_t pick(std::span<const uint32_t> weights) override {
    uint64_t total = 0;
    for (const uint32_t weight : weights) total += weight;
    uint64_t roll = rng_.below(total);
    size_t index = 0;
    while (index + 1 < weights.size() && roll >= weights[index]) roll -= weights[index++];
    return index;
  }

 private:
  Rng rng_;
};

}  // namespace kv
