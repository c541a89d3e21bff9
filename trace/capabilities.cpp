// Backend capabilities: parsing and printing the profile lines, checks, and generation within them.
#include "trace/capabilities.hpp"

#include <algorithm>
#include <charconv>

#include "trace/gen.hpp"

namespace kv {
namespace {

// Whether the op has an N to bound with a profile's `count` line.
bool has_counts(OpKind kind) {
  return op_shape(kind) == OpShape::SeqCount || shape_has_entries(op_shape(kind));
}

std::vector<std::string_view> words_of(std::string_view text) {
  std::vector<std::string_view> words;
  size_t pos = 0;
  while (pos < text.size()) {
    while (pos < text.size() && text[pos] == ' ') pos++;
    const size_t end = std::min(text.find(' ', pos), text.size());
    if (end > pos) words.push_back(text.substr(pos, end - pos));
    pos = end;
  }
  return words;
}

std::optional<uint32_t> to_u32(std::string_view word) {
  uint32_t value = 0;
  const auto [end, error] = std::from_chars(word.data(), word.data() + word.size(), value);
  if (error != std::errc() || end != word.data() + word.size()) return std::nullopt;
  return value;
}

struct RangeField {
  const char* key;
  ConfigRange Capabilities::*range;
  uint32_t Config::*field;
};

constexpr RangeField range_fields[] = {
    {"page_size", &Capabilities::page_size, &Config::page_size},
    {"max_pages", &Capabilities::max_pages, &Config::max_pages},
    {"kv_heads", &Capabilities::kv_heads, &Config::kv_heads},
    {"head_dim", &Capabilities::head_dim, &Config::head_dim},
    {"layers", &Capabilities::layers, &Config::layers},
    {"sliding_window", &Capabilities::sliding_window, &Config::sliding_window},
    {"kv_groups", &Capabilities::kv_groups, &Config::group_count},
};

// Whether a range's MIN may be 0 (none) while 1 is not a value (V-W0, V-G0).
bool zero_means_none(const RangeField& field) {
  return field.range == &Capabilities::sliding_window || field.range == &Capabilities::kv_groups;
}

std::optional<std::string> apply_flag(std::string_view key, const std::vector<std::string_view>& w,
                                      bool& flag) {
  if (w.size() != 2 || (w[1] != "yes" && w[1] != "no")) {
    return "profile line '" + std::string(key) + "' needs yes or no";
  }
  flag = w[1] == "yes";
  return std::nullopt;
}

std::optional<std::string> apply_ops(const std::vector<std::string_view>& words,
                                     Capabilities& caps) {
  caps.ops.fill(false);
  for (size_t i = 1; i < words.size(); i++) {
    const auto kind = op_from_name(words[i]);
    if (!kind) return "profile names an unknown op '" + std::string(words[i]) + "'";
    caps.ops[static_cast<size_t>(*kind)] = true;
  }
  if (words.size() < 2) return std::string("profile line 'ops' names no op");
  return std::nullopt;
}

std::optional<std::string> apply_eviction(const std::vector<std::string_view>& words,
                                          Capabilities& caps) {
  caps.eviction_none = caps.eviction_lru = false;
  for (size_t i = 1; i < words.size(); i++) {
    if (words[i] == "none") {
      caps.eviction_none = true;
    } else if (words[i] == "lru") {
      caps.eviction_lru = true;
    } else {
      return "profile names an unknown eviction policy '" + std::string(words[i]) + "'";
    }
  }
  if (words.size() < 2) return std::string("profile line 'eviction' names no policy");
  return std::nullopt;
}

std::optional<std::string> apply_count(const std::vector<std::string_view>& words,
                                       Capabilities& caps) {
  const std::string usage =
      "profile line 'count' needs OP MIN MAX with MIN <= MAX (count append 1 1)";
  if (words.size() != 4) return usage;
  const auto kind = op_from_name(words[1]);
  const auto low = to_u32(words[2]);
  const auto high = to_u32(words[3]);
  if (!kind || !low || !high || *low > *high) return usage;
  if (!has_counts(*kind)) {
    return "profile line 'count' names op '" + std::string(words[1]) +
           "', which has no count (append, step, truncate, prefill, admit, reserve and commit "
           "have)";
  }
  caps.counts[static_cast<size_t>(*kind)] = {*low, *high};
  return std::nullopt;
}

struct ObservationKey {
  bool Declined::*field;
  const char* word;
  const char* what;
};
constexpr ObservationKey observation_keys[] = {
#define KV_OBSERVATION(field, word, what) {&Declined::field, word, what},
#include "trace/observations.def"
};

// `decline WORD...`: observations the backend does not give.
std::optional<std::string> apply_decline(const std::vector<std::string_view>& words,
                                         Capabilities& caps) {
  if (words.size() < 2) return std::string("profile line 'decline' needs at least one word");
  for (size_t i = 1; i < words.size(); i++) {
    const ObservationKey* found = nullptr;
    for (const ObservationKey& key : observation_keys) found = words[i] == key.word ? &key : found;
    if (!found) {
      std::string known;
      for (const ObservationKey& key : observation_keys) known += std::string(" ") + key.word;
      return "profile line 'decline': '" + std::string(words[i].substr(0, 40)) +
             "' is not an observation a backend may decline (known:" + known + ")";
    }
    caps.declined.*found->field = true;
  }
  return std::nullopt;
}

// `keys ranges|hash`: how `? cache` names a registered page's key.
std::optional<std::string> apply_keys(const std::vector<std::string_view>& words,
                                      Capabilities& caps) {
  if (words.size() != 2 || (words[1] != "ranges" && words[1] != "hash"))
    return std::string("profile line 'keys' needs `ranges` or `hash`");
  caps.hashed_keys = words[1] == "hash";
  return std::nullopt;
}

std::optional<std::string> apply_config(const std::vector<std::string_view>& words,
                                        Capabilities& caps) {
  if (words.size() < 2) return std::string("profile line 'config' names no KEY=VALUE");
  for (size_t i = 1; i < words.size(); i++) {
    const size_t equals = words[i].find('=');
    const VariantKey* variant =
        equals == std::string_view::npos ? nullptr : find_variant_key(words[i].substr(0, equals));
    const auto word =
        variant ? variant->word_index(words[i].substr(equals + 1)) : std::optional<uint8_t>();
    if (!word) {
      std::string known;
      for (const VariantKey& key : variant_keys) {
        known += std::string(" ") + key.key + "=" + key.word_list();
      }
      return "profile line 'config' item '" + std::string(words[i]) +
             "' is not a variant KEY=VALUE (known:" + known + ")";
    }
    caps.variants.*variant->field = *word;
  }
  return std::nullopt;
}

bool same_variants(const Config& a, const Config& b) {
  for (const VariantKey& variant : variant_keys) {
    if (a.*variant.field != b.*variant.field) return false;
  }
  return true;
}

void copy_variants(const Config& from, Config& to) {
  for (const VariantKey& variant : variant_keys) to.*variant.field = from.*variant.field;
}

// The op's counts (the N of `S N` ops, each entry's N of step, prefill and admit), as pointers
// into `op` (const when `op` is): fit_counts moves them, line_outside only reads them.
template <typename AnyOp>
auto counts_of(AnyOp& op) {
  std::vector<decltype(&op.count)> counts;
  if (op_shape(op.kind) == OpShape::SeqCount) counts.push_back(&op.count);
  if (shape_has_entries(op_shape(op.kind))) {
    for (auto& entry : op.entries) counts.push_back(&entry.token_count);
  }
  return counts;
}

}  // namespace

Capabilities Capabilities::all() {
  Capabilities caps;
  caps.ops.fill(true);
  caps.audits = true;
  caps.sliding_window = {0, 1048576};  // impl/ implements section 16
  caps.kv_groups = {0, 8};             // and section 17 (host and hip-emu)
  // The variants impl/ implements, every word (kvcache::Config's flags; append_atomicity=token in
  // backends/host_backend.cpp, one append per token; reuse_order and free_queue=single in
  // impl/page_pool.hpp).
  caps.either_variants.append_atomicity = all_words;
  caps.either_variants.rejected_slots = all_words;
  caps.either_variants.boundary_block = all_words;
  caps.either_variants.register_at = all_words;
  caps.either_variants.reuse_order = all_words;
  caps.either_variants.decode_caching = all_words;
  caps.either_variants.reserved_slots = all_words;
  caps.either_variants.free_queue = all_words;
  caps.either_variants.duplicate_keys = all_words;
  caps.either_variants.duplicate_hit = all_words;  // any: kvcache::Config::hit_latest_duplicate
  return caps;
}

std::string Capabilities::op_list() const {
  std::string out;
  for (uint32_t i = 0; i < op_kind_count; i++) {
    if (!ops[i]) continue;
    if (!out.empty()) out += ' ';
    out += op_name(static_cast<OpKind>(i));
  }
  return out;
}

Capabilities intersect(const Capabilities& a, const Capabilities& b) {
  Capabilities out;
  for (uint32_t i = 0; i < op_kind_count; i++) out.ops[i] = a.ops[i] && b.ops[i];
  out.eviction_none = a.eviction_none && b.eviction_none;
  out.eviction_lru = a.eviction_lru && b.eviction_lru;
  for (const RangeField& field : range_fields) {
    out.*field.range = {std::max((a.*field.range).min, (b.*field.range).min),
                        std::min((a.*field.range).max, (b.*field.range).max)};
  }
  out.stores_data = a.stores_data && b.stores_data;
  out.audits = a.audits && b.audits;
  for (const ObservationKey& key : observation_keys) {
    out.declined.*key.field = a.declined.*key.field || b.declined.*key.field;
  }
  out.hashed_keys = a.hashed_keys || b.hashed_keys;
  for (uint32_t i = 0; i < op_kind_count; i++) {
    out.counts[i] = {std::max(a.counts[i].min, b.counts[i].min),
                     std::min(a.counts[i].max, b.counts[i].max)};
  }
  // Two backends that need different variants cannot share a trace: the first one's win, and
  // config_outside then refuses every config for the other.
  copy_variants(same_variants(a.variants, Config{}) ? b.variants : a.variants, out.variants);
  for (const VariantKey& variant : variant_keys) {
    out.either_variants.*variant.field =
        a.either_variants.*variant.field & b.either_variants.*variant.field;
  }
  return out;
}

std::optional<std::string> apply_profile_line(std::string_view line, Capabilities& caps) {
  const std::vector<std::string_view> words = words_of(line);
  if (words.empty()) return std::string("empty profile line");
  const std::string_view key = words[0];
  if (key == "ops") return apply_ops(words, caps);
  if (key == "eviction") return apply_eviction(words, caps);
  if (key == "data") return apply_flag(key, words, caps.stores_data);
  if (key == "audit") return apply_flag(key, words, caps.audits);
  if (key == "count") return apply_count(words, caps);
  if (key == "config") return apply_config(words, caps);
  if (key == "decline") return apply_decline(words, caps);
  if (key == "keys") return apply_keys(words, caps);
  for (const RangeField& field : range_fields) {
    if (key != field.key) continue;
    const auto low = words.size() == 3 ? to_u32(words[1]) : std::nullopt;
    const auto high = words.size() == 3 ? to_u32(words[2]) : std::nullopt;
    // A window may be 0 (full attention) but never 1 (V-W0); so may the groups (V-G0).
    const uint32_t lowest = zero_means_none(field) ? 0 : 1;
    if (!low || !high || *low < lowest || *low > *high || (lowest == 0 && *high == 1)) {
      return "profile line '" + std::string(key) + "' needs MIN MAX with " +
             std::to_string(lowest) + " <= MIN <= MAX" + (lowest == 0 ? " and MAX not 1" : "");
    }
    caps.*field.range = {*low, *high};
    return std::nullopt;
  }
  return "unknown profile line '" + std::string(line.substr(0, 80)) +
         "' (known: ops eviction page_size max_pages kv_heads head_dim layers sliding_window "
         "kv_groups data audit count config decline keys)";
}

std::string format_profile(const Capabilities& caps) {
  std::string out = "ops " + caps.op_list() + "\neviction";
  if (caps.eviction_none) out += " none";
  if (caps.eviction_lru) out += " lru";
  out += "\n";
  for (const RangeField& field : range_fields) {
    out += std::string(field.key) + " " + std::to_string((caps.*field.range).min) + " " +
           std::to_string((caps.*field.range).max) + "\n";
  }
  out += std::string("data ") + (caps.stores_data ? "yes" : "no") + "\naudit " +
         (caps.audits ? "yes" : "no") + "\n";
  for (uint32_t i = 0; i < op_kind_count; i++) {
    if (caps.counts[i] == ConfigRange{0, UINT32_MAX}) continue;
    out += "count " + std::string(op_name(static_cast<OpKind>(i))) + " " +
           std::to_string(caps.counts[i].min) + " " + std::to_string(caps.counts[i].max) + "\n";
  }
  if (const std::string variants = format_variants(caps.variants); !variants.empty()) {
    out += "config" + variants + "\n";
  }
  std::string declined;
  for (const ObservationKey& key : observation_keys) {
    if (caps.declined.*key.field) declined += std::string(" ") + key.word;
  }
  if (!declined.empty()) out += "decline" + declined + "\n";
  if (caps.hashed_keys) out += "keys hash\n";
  return out;
}

std::string describe_declined(const Declined& declined) {
  std::string out;
  for (const ObservationKey& key : observation_keys) {
    if (declined.*key.field) out += (out.empty() ? "" : "; ") + std::string(key.what);
  }
  return out;
}

std::optional<std::string> config_outside(const Config& config, const Capabilities& caps) {
  if (!caps.allows(config.eviction)) {
    return std::string("eviction=") + (config.eviction == Eviction::lru ? "lru" : "none") +
           " is not in its profile";
  }
  if (config.prefix_caching && !caps.allows(OpKind::prefill)) {
    return std::string("prefix_caching=on needs op prefill, which is not in its profile");
  }
  if (config.cpu_pages > 0 && !caps.allows(OpKind::swap_out)) {
    return std::string("cpu_pages needs op swap_out, which is not in its profile");
  }
  for (const RangeField& field : range_fields) {
    const uint32_t value = config.*field.field;
    const ConfigRange range = caps.*field.range;
    if (value < range.min || value > range.max) {
      return std::string(field.key) + "=" + std::to_string(value) + " is outside its profile's " +
             std::to_string(range.min) + ".." + std::to_string(range.max);
    }
  }
  for (uint32_t g = 0; g < config.group_count; g++) {
    const uint32_t w = config.group_windows[g];
    if (w > 0 && (w < caps.sliding_window.min || w > caps.sliding_window.max)) {
      return "kv_groups window " + std::to_string(w) + " of group " + std::to_string(g) +
             " is outside its profile's sliding_window " + std::to_string(caps.sliding_window.min) +
             ".." + std::to_string(caps.sliding_window.max);
    }
  }
  for (const VariantKey& variant : variant_keys) {
    if (config.*variant.field == caps.variants.*variant.field) continue;
    if (caps.implements(variant, config.*variant.field) || !variant.matters_in(config)) continue;
    return std::string(variant.key) + "=" + variant_word(config, variant) +
           " but its profile runs under " + variant.key + "=" +
           variant_word(caps.variants, variant);
  }
  return std::nullopt;
}

void adopt_unneeded_variants(Config& config, const Capabilities& caps) {
  for (const VariantKey& variant : variant_keys) {
    if (!variant.matters_in(config)) config.*variant.field = caps.variants.*variant.field;
  }
}

void adopt_declared_variants(Config& config, const Capabilities& caps) {
  for (const VariantKey& variant : variant_keys) {
    if (!caps.implements(variant, config.*variant.field))
      config.*variant.field = caps.variants.*variant.field;
  }
}

std::optional<std::string> trace_outside(const Trace& trace, const Capabilities& caps,
                                         std::string_view backend_name) {
  if (auto why = config_outside(trace.config, caps)) {
    const std::string line =
        trace.config_line_number > 0 ? std::to_string(trace.config_line_number) + ": " : "";
    return line + "config: " + *why + " (backend " + std::string(backend_name) + ")";
  }
  for (const TraceLine& line : trace.lines) {
    if (auto why = line_outside(line, caps, backend_name)) return why;
  }
  return std::nullopt;
}

std::optional<std::string> line_outside(const TraceLine& line, const Capabilities& caps,
                                        std::string_view backend_name) {
  if (caps.allows(line.op.kind)) {
    const ConfigRange range = caps.counts[static_cast<size_t>(line.op.kind)];
    for (const uint32_t* count : counts_of(line.op)) {
      if (*count >= range.min && *count <= range.max) continue;
      return std::to_string(line.line_number) + ": `" + std::string(op_name(line.op.kind)) +
             "` count " + std::to_string(*count) + " is outside the profile of backend " +
             std::string(backend_name) + " (count " + std::string(op_name(line.op.kind)) + " " +
             std::to_string(range.min) + " " + std::to_string(range.max) + ")";
    }
    return std::nullopt;
  }
  return std::to_string(line.line_number) + ": op `" + std::string(op_name(line.op.kind)) +
         "` is outside the profile of backend " + std::string(backend_name) +
         " (it implements: " + caps.op_list() + ")";
}

namespace {

// Moves every count of `op` into its profile's range.
void fit_counts(Op& op, const Capabilities& caps) {
  const ConfigRange range = caps.counts[static_cast<size_t>(op.kind)];
  for (uint32_t* count : counts_of(op)) *count = std::clamp(*count, range.min, range.max);
}

}  // namespace

Trace restrict_to(Trace trace, const Capabilities& caps) {
  // Even the in-tree backends implement only some variants: a drawn one they lack goes.
  fit_config(trace.config, caps);
  if (caps == Capabilities::all()) return trace;
  std::erase_if(trace.lines, [&caps](const TraceLine& line) { return !caps.allows(line.op.kind); });
  for (TraceLine& line : trace.lines) {
    fit_counts(line.op, caps);
    line.expected.reset();
  }
  return trace;
}

namespace {

// The header line " generated: kvtrace gen --seed S --ops N ..." with N = `op_count` (the trace
// was generated longer, then cut) and the backend flag after it.
void name_regenerating_command(Trace& trace, uint32_t op_count, std::string_view backend_flag) {
  const std::string prefix = " generated: kvtrace gen ";
  for (std::string& comment : trace.header_comments) {
    if (comment.rfind(prefix, 0) != 0) continue;
    const size_t ops = comment.find(" --ops ");
    if (ops == std::string::npos) return;
    const size_t end = comment.find(' ', ops + 7);
    comment = comment.substr(0, ops) + " --ops " + std::to_string(op_count) +
              (end == std::string::npos ? "" : comment.substr(end)) + std::string(backend_flag);
    return;
  }
}

}  // namespace

Trace generate_trace_within(uint64_t seed, uint32_t op_count, const Capabilities& caps,
                            Profile profile, std::string_view backend_flag) {
  // The profile's trace (its regimes and prefix bursts included), cut to the backend's profile:
  // ops outside it dropped, counts and the config moved into it. Dropping shortens it, so a
  // longer one is generated until op_count ops are left (a profile of one rare op may get fewer).
  if (caps == Capabilities::all()) {
    Trace trace = generate_trace(seed, op_count, profile);
    fit_config(trace.config, caps);  // drawn variants the in-tree backends do not implement go
    name_regenerating_command(trace, op_count, backend_flag);
    return trace;
  }
  constexpr uint64_t length_factor_max = 64;
  Trace trace;
  for (uint64_t factor = 1; factor <= length_factor_max; factor *= 4) {
    const uint64_t generated_count =
        std::min<uint64_t>(uint64_t{op_count} * factor, trace_op_count_max);
    trace =
        restrict_to(generate_trace(seed, static_cast<uint32_t>(generated_count), profile), caps);
    if (trace.lines.size() >= op_count) break;
  }
  if (trace.lines.size() > op_count) trace.lines.resize(op_count);
  name_regenerating_command(trace, op_count, backend_flag);
  const std::string variants = format_variants(caps.variants);
  trace.header_comments.push_back(" within ops: " + caps.op_list() +
                                  (variants.empty() ? "" : "; config" + variants));
  return trace;
}

// V-G0 after the clamp: no lone group, windows in the profile's range, nothing beside groups that
// V-G0 forbids.
void fit_groups(Config& config, const Capabilities& caps) {
  if (config.reserved_slots) config.group_count = 0;
  if (config.group_count == 1) config.group_count = 2;  // a profile's MIN of 1
  for (uint32_t g = 0; g < kv_groups_max; g++) {
    uint32_t& w = config.group_windows[g];
    if (g >= config.group_count) w = 0;
    if (w > 0) w = std::max(2u, std::clamp(w, caps.sliding_window.min, caps.sliding_window.max));
    if (w > caps.sliding_window.max) w = 0;  // a profile without windows: full attention
  }
  if (config.group_count > 0) config.sliding_window = 0;
}

// Moves a config into the profile: eviction, ranges, caching and the CPU pool only where the ops
// exist, every variant the backend does not implement both ways at its declared value.
void fit_config(Config& config, const Capabilities& caps) {
  if (!caps.allows(config.eviction)) {
    config.eviction = caps.eviction_none ? Eviction::none : Eviction::lru;
  }
  if (!caps.allows(OpKind::prefill)) config.prefix_caching = false;
  if (!caps.allows(OpKind::swap_out)) config.cpu_pages = 0;
  for (const RangeField& field : range_fields) {
    const ConfigRange range = caps.*field.range;
    config.*field.field = std::clamp(config.*field.field, range.min, range.max);
  }
  // A declared variant holds; an either-way one left at its default keeps the generated value.
  for (const VariantKey& variant : variant_keys) {
    if (!caps.implements(variant, config.*variant.field) || !(config.*variant.field))
      config.*variant.field = caps.variants.*variant.field;
  }
  if (config.reserved_slots) config.prefix_caching = false;  // section 14.2, V-R5
  if (config.reserved_slots) config.sliding_window = 0;      // V-W0
  // V-O3: the single queue is first in, first out; a profile's own lifo keeps the split queues.
  if (config.reuse_order == reuse_lifo && config.free_queue && config.prefix_caching) {
    if (caps.variants.reuse_order == reuse_lifo) {
      config.free_queue = 0;
    } else {
      config.reuse_order = reuse_fifo;
    }
  }
  if (config.sliding_window == 1) config.sliding_window = 2;  // a profile's MIN of 1
  fit_groups(config, caps);
}

}  // namespace kv
