// The regime table: one row per regime, read by every engine (kvtrace gen, the property suite).
#include "trace/regimes.hpp"

#include <algorithm>

#include "trace/gen_bursts.hpp"

namespace kv {
namespace {

// A single value, or a range, of a column, `weight` times in the column's total.
constexpr Choice at(uint32_t value, uint32_t weight = 1) {
  return {weight, value, value};
}
constexpr Choice span(uint32_t lo, uint32_t hi, uint32_t weight = 1) {
  return {weight, lo, hi};
}

const Choices small_page_sizes = {at(1, 2), at(2, 2), at(3),     at(4, 3), at(5),
                                  at(8),    at(12),   at(16, 4), at(32)};

// Each regime's config columns (docs/measurements/reach.md has what they reach).
// clang-format off
// Small pools mostly, both eviction policies, a small shape sometimes, caching half the time.
const ConfigRanges classic = {
    .page_size = {at(1, 2), at(2, 2), at(3), at(4, 4), at(8), at(16)},
    .max_pages = {span(1, 16, 16), span(17, 128, 3), span(129, 4096)},
    .caching_per_mille = 500, .shape_per_mille = 200,
    .kv_heads = {span(1, 3)}, .head_dim = {span(1, 4)}, .layers = {span(1, 2)}};
// Tiny pools under lru: crowds of 255..520 holders of one page, the sequence index growing.
const ConfigRanges counters = {.page_size = {at(1), at(2), at(4), at(16)},
                               .max_pages = {span(1, 8)}, .lru_per_mille = 800};
// Prefix caching always, pools of 2..399 pages.
const ConfigRanges prefix = {.page_size = {at(1, 2), at(2, 2), at(3), at(4, 2), at(16)},
                             .max_pages = {span(2, 8, 2), span(9, 63), span(64, 399, 3)},
                             .lru_per_mille = 700, .caching_per_mille = 1000};
const ConfigRanges batch = {.page_size = small_page_sizes, .max_pages = {span(64, 4096)},
                            .lru_per_mille = 600};
const ConfigRanges pressure = {.page_size = {at(1), at(2), at(3), at(4), at(8), at(16)},
                               .max_pages = {span(4, 128)}, .lru_per_mille = 900};
const ConfigRanges fanout = {.page_size = small_page_sizes, .max_pages = {span(16, 2048)}};
// Real shapes: 8 x 128 mostly (8 KiB per token and layer), sometimes 2 layers or 64-wide heads.
const ConfigRanges device = {
    .page_size = {at(1), at(2), at(3), at(4), at(8), at(16, 3), at(17)},
    .max_pages = {span(1, 64)}, .shape_per_mille = 1000,
    .kv_heads = {at(8, 9), at(4)}, .head_dim = {at(128, 9), at(64)}, .layers = {at(1, 8), at(2, 2)}};
// kv_heads 1..8, head_dim 64 and 128 often and odd sizes, layers 1..4.
const ConfigRanges shapes = {
    .page_size = {at(1), at(2), at(3), at(4, 2), at(8), at(16, 2), at(17)},
    .max_pages = {span(1, 256)}, .shape_per_mille = 1000,
    .kv_heads = {at(1, 2), at(2, 2), at(3), at(4, 2), at(8, 2)},
    .head_dim = {span(1, 128), at(17), at(64, 3), at(128, 3)}, .layers = {span(1, 4)}};
// Page sizes across 1..65536 (odd sizes, neighbours and powers of two, anything), pools of 1 page
// to thousands.
const ConfigRanges pages = {
    .page_size = {at(3, 3), at(7, 3), at(12, 3), at(17, 3), at(100, 3), at(255, 3), at(257, 3),
                  at(1000, 3), at(4097, 3), at(65535, 3), at(65536, 3), at(1), at(2), at(4), at(8),
                  at(16), at(32), at(64), at(128), at(256), at(512), at(1024), at(2048),
                  at(4096), at(8192), at(16384), at(32768), span(1, 65536, 22)},
    .max_pages = {at(1), span(1, 16, 4), span(17, 1024, 3), span(1025, 16384, 2)}};

// The request lifecycle (kvtrace 3): caching mostly, pools that fill, each variant 30% of the
// time (those the backend implements both ways stay), CPU pools from none to roomy.
const ConfigRanges serving = {.page_size = {at(1), at(2, 3), at(3), at(4, 3), at(8), at(16)},
                              .max_pages = {span(3, 16, 3), span(17, 96)}, .lru_per_mille = 600,
                              .caching_per_mille = 800, .shape_per_mille = 100,
                              .variant_per_mille = 300,
                              .cpu_pages = {at(0), span(1, 8, 2), span(9, 64)},
                              .kv_heads = {span(1, 2)}, .head_dim = {span(1, 4)}, .layers = {span(1, 2)}};

// Sliding windows (section 16): windows below, at and past a page, caching mostly, the lifecycle
// ops and a CPU pool sometimes, each variant 20% of the time.
const ConfigRanges window = {.page_size = {at(1, 2), at(2, 3), at(3), at(4, 3), at(8), at(16)},
                             .max_pages = {span(2, 16, 3), span(17, 96, 2)}, .lru_per_mille = 600,
                             .caching_per_mille = 750, .shape_per_mille = 100,
                             .variant_per_mille = 200, .cpu_pages = {at(0, 2), span(1, 16)},
                             .sliding_window = {span(2, 4, 3), span(5, 16, 3), span(17, 64, 2), at(4096)},
                             .kv_heads = {span(1, 2)}, .head_dim = {span(1, 4)}, .layers = {span(1, 2)}};

// Hybrid KV groups (section 17): 2 to 8 groups over one pool, full attention beside windows below,
// at and past a page; caching mostly, the lifecycle ops and a CPU pool sometimes.
const ConfigRanges hybrid = {.page_size = {at(1, 3), at(2, 3), at(3), at(4, 2), at(8)},
                             .max_pages = {span(4, 24, 3), span(25, 128, 2)}, .lru_per_mille = 600,
                             .caching_per_mille = 800, .shape_per_mille = 100,
                             .variant_per_mille = 200, .cpu_pages = {at(0, 2), span(1, 32)},
                             .kv_groups = {at(2, 3), at(3, 3), span(4, 8, 2)},
                             .group_windows = {span(2, 4, 3), span(5, 16, 3), span(17, 64, 2), at(4096)},
                             .kv_heads = {span(1, 2)}, .head_dim = {span(1, 4)}, .layers = {span(1, 2)}};

// A 70B-class shape: 8 x 128 heads over 33..80 layers, 67,584 to 163,840 words per token (past a
// 16-bit word index), so the pool holds a few tokens (pool_words_cap).
const ConfigRanges large = {.page_size = {at(1, 3), at(2)}, .max_pages = {span(1, 4)},
                            .shape_per_mille = 1000, .kv_heads = {at(8)}, .head_dim = {at(128)},
                            .layers = {span(33, 80)}};

// The rows, in Profile order. Pool: how many ids (none: ids 1..5, 0, 2^32-1); index: ops name
// pool indices below it; bursts: the op mix (trace/gen_bursts.hpp); share: of `mixed` and of
// StateMachine.host; per mille: Regime.NAME's share of max_success; length: bursts per case in
// percent of RapidCheck's size.
std::vector<Regime> make_table() {
  using namespace bursts;
  return {
  //  name        config    pool              index bursts                                   share per_mille length
  {"classic",  classic,  {},               0,    {{one_op, 60}, {prompt_family, 1}},              60,  0,  200},
  {"counters", counters, {span(1, 1024)},  8,    {{one_op, 4}, {crowd, 2}, {crowd_of_ids, 1}},    0,  40,   10},
  {"prefix",   prefix,   {span(1, 24)},    24,   {{one_op, 3}, {long_prefill, 4}, {free_and_reuse, 2},
                                                  {write_into_shared_block, 2}, {prompt_churn, 2},
                                                  {rewrite_prompt_head, 2}, {block_under_two_prefixes, 2}},
                                                                                                   0, 400,  30},
  {"batch",    batch,    {span(1, 1024)},  1024, {{one_op, 6}, {big_step, 4}},                     5,  30, 100},
  {"pressure", pressure, {span(1, 64)},    64,   {{one_op, 3}, {append, 5}, {big_step, 2}},        5,  30, 600},
  {"fanout",   fanout,   {span(1, 600)},   600,  {{one_op, 6}, {fan_out, 1}, {big_step, 2}},       5,  50,  50},
  {"ids",      classic,  {span(1, 512)},   512,  {{one_op, 7}, {free_and_reuse, 2}, {big_step, 1}}, 10, 300, 200},
  {"device",   device,   {span(1, 16)},    16,   {{one_op, 5}, {long_append, 2}, {fork_then_append, 2},
                                                  {short_step, 1}},                                0, 100,  50},
  {"shapes",   shapes,   {},               0,    {{one_op, 1}},                                   10, 100, 200},
  {"pages",    pages,    {},               0,    {{one_op, 1}},                                    5,  50, 200},
  {"serving",  serving,  {span(2, 12)},    12,   {{one_op, 3}, {chunked_prefill, 4}, {speculative_decode, 4},
                                                  {preempt_and_resume, 3}, {interrupt_in_flight, 3},
                                                  {swap_cycle, 3}, {prompt_churn, 1},
                                                  {block_under_two_prefixes, 1}},                 10, 100,  40},
  {"large",    large,    {span(1, 4)},     4,    {{one_op, 3}, {fork_then_append, 1}},             0,  30,  30},
  {"window",   window,   {span(2, 12)},    12,   {{one_op, 3}, {window_slide, 6}, {prompt_churn, 2},
                                                  {block_under_two_prefixes, 1}, {fork_then_append, 1},
                                                  {swap_cycle, 1}, {preempt_and_resume, 1},
                                                  {speculative_decode, 1}, {rewrite_prompt_head, 1},
                                                  {short_step, 1}},
                                                                                                  10, 200,  40},
  {"hybrid",   hybrid,   {span(2, 12)},    12,   {{one_op, 3}, {window_slide, 4}, {hit_after_churn, 4},
                                                  {prompt_churn, 2},
                                                  {free_and_reuse, 2}, {block_under_two_prefixes, 1},
                                                  {fork_then_append, 1}, {swap_cycle, 1},
                                                  {preempt_and_resume, 1}, {speculative_decode, 1},
                                                  {chunked_prefill, 1}},
                                                                                                  10, 200,  40},
  };
}
// clang-format on

}  // namespace

const std::vector<Regime>& regime_table() {
  static const std::vector<Regime> table = make_table();
  return table;
}

const Regime& regime_of(Profile profile) {
  const size_t row = profile == Profile::mixed ? 0 : static_cast<size_t>(profile) - 1;
  return regime_table()[row];
}

std::string_view profile_name(Profile profile) {
  return profile == Profile::mixed ? "mixed" : regime_of(profile).name;
}

std::optional<Profile> profile_from_name(std::string_view name) {
  if (name == "mixed") return Profile::mixed;
  for (size_t row = 0; row < regime_table().size(); row++) {
    if (regime_table()[row].name == name) return static_cast<Profile>(row + 1);
  }
  return std::nullopt;
}

std::string profile_names() {
  std::string names = "mixed";
  for (const Regime& regime : regime_table()) names += "|" + std::string(regime.name);
  return names;
}

uint32_t fit_max_pages(const Config& config, uint64_t wanted_page_count) {
  const uint64_t page_words = uint64_t{config.page_size} * config.words_per_token();
  const uint64_t cap = std::max<uint64_t>(1, pool_words_cap / page_words);
  return static_cast<uint32_t>(
      std::clamp<uint64_t>(wanted_page_count, 1, std::min<uint64_t>(cap, 16777216)));
}

}  // namespace kv
