// The RapidCheck source (see rc_source.hpp).
#include "properties/rc_source.hpp"

namespace kv::props {

rc::Gen<uint64_t> gen_weighted_index(std::vector<uint32_t> weights) {
  return rc::Gen<uint64_t>([weights = std::move(weights)](const rc::Random& random, int /*size*/) {
    uint64_t total = 0;
    for (const uint32_t weight : weights) total += weight;
    uint64_t roll = rc::Random(random).next() % total;
    uint64_t index = 0;
    while (index + 1 < weights.size() && roll >= weights[index]) roll -= weights[index++];
    return rc::shrinkable::shrinkRecur(
        index, [](uint64_t i) { return rc::shrink::towards<uint64_t>(i, 0); });
  });
}

uint64_t RcSource::in_range(uint64_t lo, uint64_t hi) {
  // RapidCheck scales the range by the case's size: small cases draw near lo.
  const uint64_t value = *rc::gen::inRange<uint64_t>(lo, hi + 1);
  return value >= lo && value <= hi ? value : lo + value % (hi - lo + 1);
}

size_t RcSource::pick(std::span<const uint32_t> weights) {
  size_t index = *gen_weighted_index({weights.begin(), weights.end()}) % weights.size();
  for (size_t turn = 0; turn < weights.size() && weights[index] == 0; turn++) {
    index = (index + 1) % weights.size();
  }
  return index;
}

}  // namespace kv::props
