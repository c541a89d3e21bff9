// Prefix replacement for the shrinker: the state a trace's first ops built, re-created with fewer
// ops.
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

#include "model/model.hpp"
#include "trace/trace.hpp"

namespace kv {

// At most this many ops in a rebuilt prefix (a longer one never beats the prefix it replaces).
inline constexpr size_t rebuilt_prefix_op_count_max = 4096;

// The model after the first `prefix_length` ops of `trace`: what the two functions below read.
Model model_after(const Trace& trace, size_t prefix_length);

// Ops that rebuild, from an empty cache, the sequences `model` holds after the first
// `prefix_length` ops of `trace`: in order of last use, each with its token count, its reserved
// pages (`alloc`) and its pin; with `share_pages`, a sequence whose first page an already rebuilt
// one holds starts as a fork of it (then `truncate`/`append` to its own length). Values and
// expectations are not kept: the shrinker accepts the result only if the trace still fails the
// same way. nullopt when the state cannot be written in fewer ops than `prefix_length`.
std::optional<std::vector<TraceLine>> rebuild_prefix(const Trace& trace, const Model& model,
                                                     size_t prefix_length, bool share_pages);

// One-op prefixes that put every token the first `prefix_length` ops left (`model`, in all
// sequences together) into the one sequence the next op names (1 if it names none): `append S
// total`, and with prefix caching `prefill S 0:total` too, whose blocks all register. For failures
// that need a large state but not its shape (an index that grows past a size, a pool near full):
// the sequences' own rebuild needs one op each. Empty when prefix_length < 2 or nothing is left.
std::vector<std::vector<TraceLine>> merge_prefix(const Trace& trace, const Model& model,
                                                 size_t prefix_length);

}  // namespace kv
