// The runner's prefix-caching checks (kvtrace 2): registered keys and the queue up to renaming, and
// the data a prefill's hits serve.
#pragma once

#include <optional>
#include <span>
#include <string>

#include "model/model.hpp"
#include "runner/backend.hpp"
#include "runner/key_hashes.hpp"
#include "runner/sharing.hpp"

namespace kv {

// The backend's registered keys and cached-free queue against the model's, up to a renaming of
// page ids: the same keys, each on the page that plays the same part in the block tables, and the
// same keys in the same queue order. Skipped (nullopt) when the backend does not report them.
// A backend that reports keys as hashes (`keys hash`) has them translated first through `hashes`,
// which learns over the run what each hash names. `renaming`: the sharing check's mirror, rebuilt
// (and found one to one) from the same state just before.
std::optional<std::string> compare_prefix_cache(const Model& model, const Backend& backend,
                                                KeyHashes& hashes, const SharingMirror& renaming);

// After a successful `prefill S ...`: S's data read through the backend's block table (hit pages
// included) is exactly the prompt's values, computed from the op alone (trace/token.hpp).
// `first_tokens`: per group, the first token the backend still reads (V-W3: a window's hit leaves
// nulls); the backend's gather holds each group's in group order (V-G2).
std::optional<std::string> check_prefill_data(const Op& op, const Config& config, Backend& backend,
                                              std::span<const uint64_t> first_tokens);

}  // namespace kv
