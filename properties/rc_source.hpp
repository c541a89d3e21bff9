// The RapidCheck source: the generator core's draws as RapidCheck picks, so every draw shrinks.
#pragma once

#include <rapidcheck.h>

#include <vector>

#include "trace/gen_source.hpp"

namespace kv::props {

// An index by weight, shrinking toward 0 (the simplest choice first).
rc::Gen<uint64_t> gen_weighted_index(std::vector<uint32_t> weights);

// Only inside rc::gen::exec: each draw is one `*gen`, which RapidCheck records and shrinks
// (in_range toward lo, pick toward index 0). A shrunk earlier draw can replay a later draw's
// recorded value where it meant another range, so values are brought back into range here.
class RcSource final : public Source {
 public:
  using Source::pick;
  uint64_t in_range(uint64_t lo, uint64_t hi) override;
  size_t pick(std::span<const uint32_t> weights) override;
};

}  // namespace kv::props
