// Backend capabilities (a backend's "profile" in docs/backend-protocol.md): the ops, eviction
// policies and config ranges a cache implements, and whether it stores token data.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "trace/gen.hpp"
#include "trace/rng.hpp"
#include "trace/trace.hpp"

namespace kv {

struct ConfigRange {
  uint32_t min = 1;
  uint32_t max = UINT32_MAX;
  bool operator==(const ConfigRange&) const = default;
};

// Every count allowed: the default of Capabilities::counts.
constexpr std::array<ConfigRange, op_kind_count> all_counts() {
  std::array<ConfigRange, op_kind_count> counts{};
  counts.fill(ConfigRange{0, UINT32_MAX});
  return counts;
}

// The observations a backend declines (trace/observations.def); all false: everything checked.
struct Declined {
#define KV_OBSERVATION(field, word, what) bool field = false;
#include "trace/observations.def"
  bool operator==(const Declined&) const = default;
};
// "the cached=C field of stats (registered pages); ...": what is not checked, or "" for nothing.
std::string describe_declined(const Declined& declined);

struct Capabilities {
  std::array<bool, op_kind_count> ops{};  // indexed by OpKind
  bool eviction_none = true;
  bool eviction_lru = true;
  ConfigRange page_size{1, 65536};
  ConfigRange max_pages{1, 16777216};
  ConfigRange kv_heads{1, 256};
  ConfigRange head_dim{1, 1024};
  ConfigRange layers{1, 256};
  // Section 16's window, 0 meaning full attention: a backend declares `sliding_window 0 MAX`.
  ConfigRange sliding_window{0, 0};
  // Section 17's number of KV groups, 0 meaning none (one group): `kv_groups 0 8`. Each group's
  // window must lie in sliding_window's range.
  ConfigRange kv_groups{0, 0};
  bool stores_data = true;  // the backend keeps token words and answers digest/words
  bool audits = false;      // the backend answers a self-audit
  // The N an op accepts (`count append 1 1`): append's and truncate's N, each step entry's N,
  // each prefill segment's N. Generated counts are moved into it; a file's are checked.
  std::array<ConfigRange, op_kind_count> counts = all_counts();
  // The semantic variants the backend runs under (`config append_atomicity=token`): only the
  // variant fields (trace/variants.def) are used. Every generated config gets them; a file
  // with other values is outside the profile. In-tree backends: the defaults.
  Config variants;
  // Observations it does not give (`decline cached queue`): the runner does not compare them.
  Declined declined;
  // `keys hash`: `? cache` names each key by the backend's own hash of the block instead of its
  // token ids; the runner learns which key each hash names (runner/key_hashes.hpp).
  bool hashed_keys = false;
  // The words of each variant it implements besides the one in `variants` (a mask per field, bit w
  // for word w): a config may have any of them, and a generated one keeps the word its regime
  // drew if implemented, else gets the word of `variants`. In-tree backends: Capabilities::all().
  Config either_variants;
  bool implements(const VariantKey& variant, uint8_t word) const {
    return ((either_variants.*variant.field >> word) & 1) != 0;
  }

  // Everything: what the in-tree backends implement.
  static Capabilities all();
  bool allows(OpKind kind) const { return ops[static_cast<size_t>(kind)]; }
  bool allows(Eviction eviction) const {
    return eviction == Eviction::lru ? eviction_lru : eviction_none;
  }
  // The op names, space separated, in ops.def order.
  std::string op_list() const;
  bool operator==(const Capabilities&) const = default;
};

// The ops and policies both sides have, the ranges both accept; data/audit when both do.
Capabilities intersect(const Capabilities& a, const Capabilities& b);

// Applies one profile line (`ops alloc append`, `eviction none`, `page_size 1 64`, `data yes`,
// `audit no`, `count append 1 1`, `config append_atomicity=token`, `decline cached`,
// `keys hash`) to `caps`;
// returns a message
// when the line is not one of them.
std::optional<std::string> apply_profile_line(std::string_view line, Capabilities& caps);
// The profile as the lines apply_profile_line reads (without the `kvbackend` and `ready` lines).
std::string format_profile(const Capabilities& caps);

// Why `config` is outside `caps` (a key out of its range, a policy it lacks, a variant it does not
// run under where the variant matters: trace/variants.def's scope), or nothing.
std::optional<std::string> config_outside(const Config& config, const Capabilities& caps);
// For a config within `caps`: each variant that cannot matter in it takes the backend's declared
// value, so the backend is never handed a rule it does not implement (the model's results are
// the same either way).
void adopt_unneeded_variants(Config& config, const Capabilities& caps);
// Every variant the backend declares (but those it implements both ways) into `config`: a file
// run under the backend's rules (`replay --under-profile`).
void adopt_declared_variants(Config& config, const Capabilities& caps);
// The first op of `trace` outside `caps`, as "LINE: op `NAME` ..." (or the config), or nothing.
std::optional<std::string> trace_outside(const Trace& trace, const Capabilities& caps,
                                         std::string_view backend_name);
// The same for one op line (a streamed replay checks each piece as it comes).
std::optional<std::string> line_outside(const TraceLine& line, const Capabilities& caps,
                                        std::string_view backend_name);

// `trace` cut down to `caps`: ops outside it dropped, the config moved into its ranges and policies
// (the fuzz decoder's output for an external backend).
Trace restrict_to(Trace trace, const Capabilities& caps);
// The config part of restrict_to: eviction, ranges, prefix caching and the CPU pool only where
// their ops are in the profile, and each variant the backend does not implement both ways at its
// declared value (one it does keeps a generated value).
void fit_config(Config& config, const Capabilities& caps);

// kvtrace gen within capabilities: the same generator, with configs moved into the ranges and ops
// outside the profile redrawn. With Capabilities::all() it gives generate_trace's trace. Its
// `# generated:` header is the command that regenerates it, ending in `backend_flag` (the
// caller's ` --backend NAME`, quoted for a shell; "" for the in-tree backends).
Trace generate_trace_within(uint64_t seed, uint32_t op_count, const Capabilities& caps,
                            Profile profile = Profile::mixed, std::string_view backend_flag = "");

}  // namespace kv
