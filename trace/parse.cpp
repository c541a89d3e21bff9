// The kvtrace text parser: every malformed input becomes a ParseError naming its line.
#include <algorithm>
#include <charconv>
#include <map>

#include "trace/line_parser.hpp"
#include "trace/trace.hpp"

namespace kv {
namespace {

using Words = std::vector<std::string_view>;

Words split_words(std::string_view text) {
  Words words;
  size_t pos = 0;
  while (pos < text.size()) {
    while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\t')) pos++;
    const size_t start = pos;
    while (pos < text.size() && text[pos] != ' ' && text[pos] != '\t') pos++;
    if (pos > start) words.push_back(text.substr(start, pos - start));
  }
  return words;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// Returns the byte length of a valid UTF-8 sequence starting at text[pos], or 0.
size_t utf8_length(std::string_view text, size_t pos) {
  const auto byte = static_cast<uint8_t>(text[pos]);
  size_t length = 0;
  if (byte >= 0x20 || byte == '\t') length = 1;
  if (byte >= 0x80)
    length = (byte >= 0xC2 && byte <= 0xDF)   ? 2
             : (byte >= 0xE0 && byte <= 0xEF) ? 3
             : (byte >= 0xF0 && byte <= 0xF4) ? 4
                                              : 0;
  if (byte == 0x7F) length = 0;
  if (length == 0 || pos + length > text.size()) return 0;
  for (size_t i = 1; i < length; i++) {
    if ((static_cast<uint8_t>(text[pos + i]) & 0xC0) != 0x80) return 0;
  }
  return length;
}

bool is_text(std::string_view line) {
  for (size_t pos = 0; pos < line.size();) {
    const size_t length = utf8_length(line, pos);
    if (length == 0) return false;
    pos += length;
  }
  return true;
}

std::variant<uint32_t, std::string> parse_u32(std::string_view word, std::string_view what) {
  if (word.empty() || word.size() > 20 ||
      word.find_first_not_of("0123456789") != std::string_view::npos) {
    return std::string(what) + " '" + std::string(word) + "' is not a decimal number";
  }
  uint64_t value = 0;
  std::from_chars(word.data(), word.data() + word.size(), value);
  if (word.size() > 10 || value > UINT32_MAX) {
    return std::string(what) + " '" + std::string(word) + "' does not fit in 32 bits";
  }
  return static_cast<uint32_t>(value);
}

std::variant<uint64_t, std::string> parse_u64(std::string_view word, std::string_view what) {
  const bool digits =
      !word.empty() && word.find_first_not_of("0123456789") == std::string_view::npos;
  uint64_t value = 0;
  const auto [end, error] = std::from_chars(word.data(), word.data() + word.size(), value);
  if (!digits || error != std::errc() || end != word.data() + word.size()) {
    return std::string(what) + " '" + std::string(word) + "' is not a decimal number below 2^64";
  }
  return value;
}

std::variant<StepEntry, std::string> parse_step_entry(std::string_view word) {
  const size_t colon = word.find(':');
  if (colon == std::string_view::npos) {
    return "entry '" + std::string(word) + "' is not A:B (step S:N, prefill P:N)";
  }
  auto seq = parse_u32(word.substr(0, colon), "sequence id");
  if (auto* message = std::get_if<std::string>(&seq)) return *message;
  auto count = parse_u32(word.substr(colon + 1), "token count");
  if (auto* message = std::get_if<std::string>(&count)) return *message;
  return StepEntry{std::get<uint32_t>(seq), std::get<uint32_t>(count)};
}

// The `A:B` entries of a step (S:N, from words[1]) or a prefill (P:N, from words[2]).
std::optional<std::string> parse_entries(const Words& words, size_t first, Op& op) {
  const bool prefill = op_shape(op.kind) == OpShape::Prefill;
  const std::string name(op_name(op.kind));
  const size_t max = prefill ? prefill_segment_count_max : step_entry_count_max;
  if (words.size() <= first) {
    return name + (prefill ? " needs at least one P:N segment" : " needs at least one S:N entry");
  }
  if (words.size() - first > max) {
    return name + " has " + std::to_string(words.size() - first) + " entries; at most " +
           std::to_string(max) + " are allowed";
  }
  for (size_t i = first; i < words.size(); i++) {
    auto entry = parse_step_entry(words[i]);
    if (auto* message = std::get_if<std::string>(&entry)) return *message;
    op.entries.push_back(std::get<StepEntry>(entry));
  }
  return std::nullopt;
}

std::optional<std::string> parse_args(const Words& words, Op& op) {
  const OpShape shape = op_shape(op.kind);
  if (shape == OpShape::Step) return parse_entries(words, 1, op);
  if (shape == OpShape::Prefill) {
    if (words.size() < 2) {
      return std::string(op_name(op.kind)) +
             " is missing an argument: " + std::string(op_help(op.kind));
    }
    auto seq = parse_u32(words[1], "sequence id");
    if (auto* message = std::get_if<std::string>(&seq)) return *message;
    op.seq = std::get<uint32_t>(seq);
    return parse_entries(words, 2, op);
  }
  const size_t want = shape == OpShape::None ? 0 : shape == OpShape::Seq ? 1 : 2;
  const std::string name(op_name(op.kind));
  if (words.size() - 1 < want)
    return name + " is missing an argument: " + std::string(op_help(op.kind));
  if (words.size() - 1 > want) {
    return name + " has an extra argument '" + std::string(words[want + 1]) + "'";
  }
  if (want >= 1) {
    auto seq = parse_u32(words[1], "sequence id");
    if (auto* message = std::get_if<std::string>(&seq)) return *message;
    op.seq = std::get<uint32_t>(seq);
  }
  if (want == 2) {
    auto count = parse_u32(words[2], shape == OpShape::SeqSeq ? "sequence id" : "token count");
    if (auto* message = std::get_if<std::string>(&count)) return *message;
    op.count = std::get<uint32_t>(count);
  }
  return std::nullopt;
}

}  // namespace

std::variant<Op, std::string> parse_op(std::string_view text) {
  const Words words = split_words(text);
  if (words.empty()) return std::string("empty op");
  const auto kind = op_from_name(words[0]);
  if (!kind) return "unknown op '" + std::string(words[0]) + "'";
  Op op;
  op.kind = *kind;
  if (auto message = parse_args(words, op)) return *message;
  return op;
}

namespace {

std::optional<std::string> parse_evicted(std::string_view list, Result& result) {
  size_t pos = 0;
  while (pos <= list.size()) {
    const size_t comma = std::min(list.find(',', pos), list.size());
    auto id = parse_u32(list.substr(pos, comma - pos), "evicted sequence id");
    if (auto* message = std::get_if<std::string>(&id)) return *message;
    result.evicted.push_back(std::get<uint32_t>(id));
    pos = comma + 1;
  }
  return std::nullopt;
}

// Reads `key=value` fields after `ok` into a Result, insisting on complete info/stats groups.
std::optional<std::string> parse_fields(const Words& words, Result& result) {
  std::map<std::string_view, uint64_t> fields;
  for (size_t i = 1; i < words.size(); i++) {
    const size_t equals = words[i].find('=');
    const std::string_view key = words[i].substr(0, equals);
    if (equals == std::string_view::npos)
      return "result field '" + std::string(key) + "' has no value";
    const std::string_view value = words[i].substr(equals + 1);
    if (key == "evicted" && result.evicted.empty()) {
      if (auto message = parse_evicted(value, result)) return message;
      continue;
    }
    static const std::vector<std::string_view> known = {
        "tokens", "pages", "pinned", "used", "free", "sequences", "cached", "hit", "cpu"};
    if (std::find(known.begin(), known.end(), key) == known.end() || fields.count(key)) {
      return "unknown or repeated result field '" + std::string(key) + "'";
    }
    auto number = parse_u64(value, key);
    if (auto* message = std::get_if<std::string>(&number)) return *message;
    fields[key] = std::get<uint64_t>(number);
  }
  if (fields.count("hit")) {
    result.hit_tokens = fields["hit"];
    fields.erase("hit");
    if (!fields.empty())
      return std::string("a prefill or reserve result has only hit= and evicted=");
  }
  if (fields.empty()) return std::nullopt;
  if (fields.count("used") || fields.count("free") || fields.count("sequences") ||
      fields.count("cached") || fields.count("cpu")) {
    const size_t cached = fields.count("cached");
    const size_t cpu = fields.count("cpu");
    if (fields.size() != 4 + cached + cpu || !fields.count("tokens") || !fields.count("used") ||
        !fields.count("free") || !fields.count("sequences")) {
      return std::string(
          "a stats result needs exactly used=, free=, sequences= and tokens= (then cached= with "
          "prefix_caching=on, cpu= with cpu_pages)");
    }
    result.stats = StatsView{fields["used"], fields["free"], fields["sequences"], fields["tokens"]};
    if (cached) result.stats->cached_keys = fields["cached"];
    if (cpu) result.stats->cpu_pages_used = fields["cpu"];
    return std::nullopt;
  }
  if (fields.size() != 3 || fields["pinned"] > 1) {
    return std::string("an info result needs exactly tokens=, pages= and pinned=0|1");
  }
  result.info = InfoView{fields["tokens"], fields["pages"], fields["pinned"] == 1};
  return std::nullopt;
}

std::variant<Result, std::string> parse_result(std::string_view text) {
  const Words words = split_words(text);
  if (words.empty()) return std::string("empty expected result after '=>'");
  const auto status = status_from_name(words[0]);
  if (!status) return "unknown result word '" + std::string(words[0]) + "'";
  Result result;
  result.status = *status;
  if (*status != Status::ok) {
    if (words.size() > 1) return "error result '" + std::string(words[0]) + "' takes no fields";
    return result;
  }
  if (auto message = parse_fields(words, result)) return *message;
  return result;
}

}  // namespace

std::variant<OpResult, std::string> parse_op_result(std::string_view text) {
  OpResult op_result;
  size_t pos = 0;
  while (pos <= text.size()) {
    const size_t semicolon = std::min(text.find(';', pos), text.size());
    auto result = parse_result(text.substr(pos, semicolon - pos));
    if (auto* message = std::get_if<std::string>(&result)) return *message;
    op_result.entries.push_back(std::get<Result>(result));
    pos = semicolon + 1;
  }
  return op_result;
}

namespace {

// " append_atomicity reserved_slots ...": the variant keys, for the unknown-key message.
std::string format_variant_keys() {
  std::string out;
  for (const VariantKey& variant : variant_keys) out += std::string(" ") + variant.key;
  return out;
}

// `kv_groups=0,128`: 2..8 windows; their ranges are validate_config's.
std::optional<std::string> parse_group_windows(std::string_view value, Config& config) {
  config.group_count = 0;
  while (true) {
    const size_t comma = value.find(',');
    if (config.group_count == kv_groups_max) {
      return "kv_groups has more than " + std::to_string(kv_groups_max) + " groups";
    }
    auto window = parse_u32(value.substr(0, comma), "kv_groups window");
    if (auto* message = std::get_if<std::string>(&window)) return *message;
    config.group_windows[config.group_count++] = std::get<uint32_t>(window);
    if (comma == std::string_view::npos) return std::nullopt;
    value.remove_prefix(comma + 1);
  }
}

std::optional<std::string> parse_config_word(std::string_view word, Config& config) {
  const size_t equals = word.find('=');
  if (equals == std::string_view::npos)
    return "config item '" + std::string(word) + "' is not key=value";
  const std::string_view key = word.substr(0, equals);
  const std::string_view value = word.substr(equals + 1);
  if (key == "eviction") {
    if (value != "none" && value != "lru") {
      return "eviction='" + std::string(value) + "' must be none or lru";
    }
    config.eviction = value == "lru" ? Eviction::lru : Eviction::none;
    return std::nullopt;
  }
  if (key == "prefix_caching") {
    if (value != "on" && value != "off") {
      return "prefix_caching='" + std::string(value) + "' must be on or off";
    }
    config.prefix_caching = value == "on";
    return std::nullopt;
  }
  if (key == "kv_groups") return parse_group_windows(value, config);
  if (const VariantKey* variant = find_variant_key(key)) {
    const auto index = variant->word_index(value);
    if (!index) {
      return std::string(key) + "='" + std::string(value) + "' must be one of " +
             variant->word_list();
    }
    config.*variant->field = *index;
    return std::nullopt;
  }
  uint32_t* field = key == "page_size"        ? &config.page_size
                    : key == "max_pages"      ? &config.max_pages
                    : key == "kv_heads"       ? &config.kv_heads
                    : key == "head_dim"       ? &config.head_dim
                    : key == "layers"         ? &config.layers
                    : key == "cpu_pages"      ? &config.cpu_pages
                    : key == "sliding_window" ? &config.sliding_window
                                              : nullptr;
  if (field == nullptr) {
    return "unknown config key '" + std::string(key) +
           "' (known: page_size max_pages eviction kv_heads head_dim layers prefix_caching "
           "cpu_pages sliding_window kv_groups" +
           format_variant_keys() + ")";
  }
  auto number = parse_u32(value, key);
  if (auto* message = std::get_if<std::string>(&number)) return *message;
  *field = std::get<uint32_t>(number);
  return std::nullopt;
}

std::optional<std::string> parse_config(const Words& words, Config& config, uint64_t budget) {
  std::vector<std::string_view> seen;
  for (size_t i = 1; i < words.size(); i++) {
    const std::string_view key = words[i].substr(0, words[i].find('='));
    if (std::find(seen.begin(), seen.end(), key) != seen.end()) {
      return "config key '" + std::string(key) + "' given twice";
    }
    seen.push_back(key);
    if (auto message = parse_config_word(words[i], config)) return message;
  }
  for (const char* required : {"page_size", "max_pages"}) {
    if (std::find(seen.begin(), seen.end(), required) == seen.end()) {
      return "config is missing required key " + std::string(required);
    }
  }
  return validate_config(config, budget);
}

}  // namespace

std::optional<std::string> LineParser::op_line(std::string_view body, uint32_t line_number,
                                               std::string_view inline_comment) {
  if (!saw_config_) return "op line before the config line: " + std::string(trim(body));
  if (op_count_ >= trace_op_count_max) {
    return "trace has more than " + std::to_string(trace_op_count_max) + " ops";
  }
  const size_t arrow = body.find("=>");
  auto op = parse_op(body.substr(0, arrow));
  if (auto* message = std::get_if<std::string>(&op)) return *message;
  TraceLine line{std::get<Op>(op), std::nullopt, line_number, std::move(pending_comments_),
                 std::string(inline_comment)};
  pending_comments_.clear();
  if (arrow != std::string_view::npos) {
    auto expected = parse_op_result(body.substr(arrow + 2));
    if (auto* message = std::get_if<std::string>(&expected)) return *message;
    line.expected = std::get<OpResult>(expected);
  }
  if (const uint32_t needed = line_version(line); version_ < needed) {
    return needed == 2
               ? std::string(
                     "prefill and the result fields hit= and cached= need the header "
                     "'kvtrace 2'")
               : "op " + std::string(op_name(line.op.kind)) + " needs the header 'kvtrace 3'";
  }
  trace_.lines.push_back(std::move(line));
  op_count_++;
  return std::nullopt;
}

std::optional<std::string> LineParser::body_line(std::string_view body, uint32_t line_number,
                                                 std::string_view inline_comment) {
  const Words words = split_words(body);
  if (!saw_header_) {
    if (words.size() != 2 || words[0] != "kvtrace") {
      return std::string("expected the header line 'kvtrace 1', 'kvtrace 2' or 'kvtrace 3'");
    }
    if (words[1] != "1" && words[1] != "2" && words[1] != "3") {
      return "unsupported kvtrace version '" + std::string(words[1]) +
             "' (this tool reads 1, 2 and 3)";
    }
    version_ = static_cast<uint32_t>(words[1][0] - '0');
    saw_header_ = true;
    return std::nullopt;
  }
  if (words[0] == "config") {
    if (saw_config_) return std::string("a second config line");
    saw_config_ = true;
    trace_.config_line_number = line_number;
    trace_.header_comments = std::move(pending_comments_);
    pending_comments_.clear();
    if (auto message = parse_config(words, trace_.config, budget_)) return message;
    if (version_ < 2 && trace_.config.prefix_caching) {
      return std::string("prefix_caching needs the header 'kvtrace 2'");
    }
    if (version_ < 3 && trace_.config.cpu_pages > 0) {
      return std::string("cpu_pages needs the header 'kvtrace 3'");
    }
    if (version_ < 3 && trace_.config.sliding_window > 0) {
      return std::string("sliding_window needs the header 'kvtrace 3'");
    }
    if (version_ < 3 && trace_.config.group_count > 0) {
      return std::string("kv_groups needs the header 'kvtrace 3'");
    }
    return std::nullopt;
  }
  if (words[0] == "kvtrace") return std::string("a second 'kvtrace' header line");
  return op_line(body, line_number, inline_comment);
}

std::optional<std::string> LineParser::feed(std::string_view line, uint32_t line_number) {
  if (line_number == 1 && line.starts_with("\xEF\xBB\xBF")) line.remove_prefix(3);  // a BOM
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.size() > trace_line_bytes_max) {
    return "line is longer than " + std::to_string(trace_line_bytes_max) + " bytes";
  }
  if (!is_text(line)) return std::string("not UTF-8 text (binary data or a control character)");
  const size_t hash = line.find('#');
  const std::string_view body = trim(line.substr(0, hash));
  if (body.empty()) {
    if (hash != std::string_view::npos) pending_comments_.emplace_back(line.substr(hash + 1));
    return std::nullopt;
  }
  const std::string_view comment = hash == std::string_view::npos ? "" : line.substr(hash + 1);
  return body_line(body, line_number, comment);
}

std::optional<std::string> LineParser::finish() {
  if (!saw_header_)
    return std::string(
        "empty file: expected the header line 'kvtrace 1', 'kvtrace 2' or 'kvtrace 3'");
  if (!saw_config_) return std::string("missing the config line");
  trace_.trailing_comments = std::move(pending_comments_);
  pending_comments_.clear();
  return std::nullopt;
}

ParseResult parse_trace(std::string_view text, uint64_t memory_budget_bytes) {
  LineParser parser(memory_budget_bytes);
  uint32_t line_number = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    line_number++;
    const size_t newline = std::min(text.find('\n', pos), text.size());
    const std::string_view line = text.substr(pos, newline - pos);
    pos = newline + 1;
    if (auto message = parser.feed(line, line_number)) return ParseError{line_number, *message};
  }
  if (auto message = parser.finish()) return ParseError{line_number, *message};
  return std::move(parser.trace());
}

}  // namespace kv
