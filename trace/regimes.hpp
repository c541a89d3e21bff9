// The generator's regimes as one table of data (trace/regimes.cpp): what `kvtrace gen --profile
// NAME` and the property suite's Regime.NAME draw: config ranges, id pool, burst mix, shares.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "trace/gen_ops.hpp"
#include "trace/gen_source.hpp"

namespace kv {

// The regimes by name (`--profile NAME`), in the table's row order; `mixed` draws one per trace
// by share. A new regime: its name here and its row in trace/regimes.cpp, at the same place.
// clang-format off
#define KV_REGIMES(X) \
  X(classic) X(counters) X(prefix) X(batch) X(pressure) X(fanout) X(ids) X(device) X(shapes) X(pages) \
  X(serving) X(large) X(window) X(hybrid)
// clang-format on
#define KV_REGIME_ENUM(name) name,
enum class Profile : uint8_t { mixed, KV_REGIMES(KV_REGIME_ENUM) };
#undef KV_REGIME_ENUM

struct Regime;
// A burst kind: one function of trace/gen_bursts.hpp.
using BurstFn = Burst (*)(Source& source, const Regime& regime);
struct BurstWeight {
  BurstFn burst;
  uint32_t weight;
};

// A config's columns; the shape (kv_heads, head_dim, layers) keeps Config's defaults unless the
// shape coin says otherwise. Pools are cut to fit_max_pages.
struct ConfigRanges {
  Choices page_size;
  Choices max_pages;
  uint32_t lru_per_mille = 500;
  uint32_t caching_per_mille = 0;  // prefix_caching=on
  uint32_t shape_per_mille = 0;
  // Each semantic variant but reserved_slots (which rules caching out) on, independently; a
  // backend's profile then keeps only those it implements both ways (trace/capabilities.hpp).
  uint32_t variant_per_mille = 0;
  Choices cpu_pages = {};       // the CPU pool (kvtrace 3); empty: none
  Choices sliding_window = {};  // section 16's window (kvtrace 3); empty: full attention
  // Section 17's KV groups (kvtrace 3): their count (empty: none) and their windows, each full
  // attention 40% of the time, else half the time one window shared by the trace's window groups.
  Choices kv_groups = {};
  Choices group_windows = {};
  Choices kv_heads = {{1, 1, 1}};
  Choices head_dim = {{1, 2, 2}};
  Choices layers = {{1, 1, 1}};
};

struct Regime {
  std::string_view name;
  ConfigRanges config;
  Choices pool_size;     // ids of a drawn pool (trace/gen_core.cpp); empty: ids 1..5, 0, 2^32-1
  uint32_t index_count;  // with a pool: ops name pool indices 0..index_count-1
  std::vector<BurstWeight> bursts;  // the op mix: which burst comes next, by weight
  uint32_t share;                   // of `mixed` (kvtrace gen) and StateMachine.host, by weight
  uint32_t cases_per_mille;  // of RC_PARAMS' max_success for its own property Regime.NAME; 0: none
  uint32_t length_percent;   // RapidCheck: bursts per case, in percent of the case's size
};

// The rows, in Profile order from classic (mixed has none).
const std::vector<Regime>& regime_table();
const Regime& regime_of(Profile profile);

std::string_view profile_name(Profile profile);
std::optional<Profile> profile_from_name(std::string_view name);
// "mixed|classic|...", for usage texts.
std::string profile_names();

// Generated pools stay far inside the 256 MiB budget (2 MiB of K/V words), because the runner
// compares every token of every sequence after every op (--audit every): a campaign should spend
// its time on ops, not on re-reading a full pool.
inline constexpr uint64_t pool_words_cap = 1ull << 19;
// The largest max_pages <= wanted whose pool stays under pool_words_cap (at least 1).
uint32_t fit_max_pages(const Config& config, uint64_t wanted_page_count);

}  // namespace kv
