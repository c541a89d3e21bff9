// The fuzzer-bytes source: the generator core's draws read from an input's bytes, and the trace a
// byte string generates (FuzzTest's idea: libFuzzer mutates the choices, the core builds the case).
#pragma once

#include <span>

#include "fuzz/codec.hpp"
#include "trace/gen_source.hpp"

namespace kv::fuzz {

// Each draw takes the bytes it needs (a pick one, a range 1, 2 or 4 by its width); past the end
// every byte is zero, which is every draw's simplest value.
class ByteSource final : public Source {
 public:
  explicit ByteSource(std::span<const uint8_t> bytes) : in_(bytes) {}
  using Source::pick;
  uint64_t in_range(uint64_t lo, uint64_t hi) override;
  size_t pick(std::span<const uint32_t> weights) override;
  bool done() const { return in_.done(); }

 private:
  ByteReader in_;
};

// The first byte picks a regime row (trace/regimes.cpp), then its config, pool and bursts until
// the bytes run out (every input decodes; at most fuzz_op_count_max ops), within the fuzz bounds
// (bound_pool, bound_counts). Not the byte format of codec.hpp: it has no encoder.
Trace generate_from_bytes(std::span<const uint8_t> bytes);

}  // namespace kv::fuzz
