// Weighted choices for RapidCheck generators that shrink toward the first (simplest) choice.
#pragma once

#include <rapidcheck.h>

#include <cstdint>
#include <utility>
#include <vector>

namespace kv::props {

// An index drawn by weight.
inline size_t weighted_index(const rc::Random& random, const std::vector<uint32_t>& weights) {
  uint64_t total = 0;
  for (const uint32_t weight : weights) total += weight;
  uint64_t roll = rc::Random(random).next() % total;
  size_t index = 0;
  while (roll >= weights[index]) roll -= weights[index++];
  return index;
}

// Picks by weight; shrinks toward earlier choices, so list the simplest one first.
template <typename T>
rc::Gen<T> weighted_choice(std::vector<std::pair<uint32_t, T>> choices) {
  return rc::Gen<T>([choices = std::move(choices)](const rc::Random& random, int /*size*/) {
    std::vector<uint32_t> weights;
    for (const auto& choice : choices) weights.push_back(choice.first);
    const size_t index = weighted_index(random, weights);
    return rc::shrinkable::map(
        rc::shrinkable::shrinkRecur(index,
                                    [](size_t i) { return rc::shrink::towards<size_t>(i, 0); }),
        [choices](size_t i) { return choices[i].second; });
  });
}

// Picks a generator by weight; shrinks toward earlier generators, then within the chosen one.
template <typename T>
rc::Gen<T> weighted_gen(std::vector<std::pair<uint32_t, rc::Gen<T>>> gens) {
  std::vector<std::pair<uint32_t, size_t>> indices;
  for (size_t i = 0; i < gens.size(); i++) indices.emplace_back(gens[i].first, i);
  return rc::gen::mapcat(weighted_choice(std::move(indices)),
                         [gens = std::move(gens)](size_t i) { return gens[i].second; });
}

}  // namespace kv::props
