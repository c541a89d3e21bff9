// Backend `exec:CMD`: the protocol client. Ops are sent ahead with the observations the runner
// will ask for (pipelining); anything it did not predict is answered after a replay of the prefix.
#include "backends/exec_backend.hpp"

#include <algorithm>
#include <cassert>
#include <charconv>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <span>
#include <unordered_set>

namespace kv {
namespace {

constexpr uint32_t handshake_line_count_max = 64;
constexpr uint32_t audit_problem_count_max = 1000;
constexpr size_t idle_session_count_max = 8;

std::mutex pool_mutex;
// Idle backend processes by command. Destroyed at exit, which closes their input and reaps them.
std::map<std::string, std::vector<std::unique_ptr<ExecSession>>>& idle_sessions() {
  static std::map<std::string, std::vector<std::unique_ptr<ExecSession>>> pool;
  return pool;
}

std::string excerpt(const std::string& text) {
  return text.size() <= 80 ? text
                           : text.substr(0, 80) + "... (" + std::to_string(text.size()) + " bytes)";
}

template <typename Int>
std::optional<Int> parse_int(std::string_view word, int base = 10) {
  Int value{};
  const auto [end, error] = std::from_chars(word.data(), word.data() + word.size(), value, base);
  if (error != std::errc() || end != word.data() + word.size() || word.empty()) return std::nullopt;
  return value;
}

// The words after `ok` ("ok 1 2 3" -> {"1","2","3"}), or nullopt when the reply does not start
// with it. The views point into `reply`.
std::optional<std::vector<std::string_view>> ok_words(const std::string& reply) {
  if (reply != "ok" && reply.rfind("ok ", 0) != 0) return std::nullopt;
  std::vector<std::string_view> words;
  size_t pos = 2;
  while (pos < reply.size()) {
    while (pos < reply.size() && reply[pos] == ' ') pos++;
    const size_t end = std::min(reply.find(' ', pos), reply.size());
    if (end == pos) break;
    words.push_back(std::string_view(reply).substr(pos, end - pos));
    pos = end;
  }
  return words;
}

// The numbers after `ok`: "ok 1 2 3" -> {1,2,3}; nullopt when the reply is not that.
template <typename Int>
std::optional<std::vector<Int>> parse_ok_list(const std::string& reply) {
  const auto words = ok_words(reply);
  if (!words) return std::nullopt;
  std::vector<Int> values;
  for (const std::string_view word : *words) {
    const auto value = parse_int<Int>(word);
    if (!value) return std::nullopt;
    values.push_back(*value);
  }
  return values;
}

// One group's words of a `? pages` reply as page ids, `-` a null entry (V-W2, as null_page);
// an error message naming the first word that is neither.
std::optional<std::string> append_pages(std::span<const std::string_view> words,
                                        std::vector<uint64_t>& pages, bool grouped) {
  for (const std::string_view word : words) {
    const auto page = word == "-" ? std::optional<uint64_t>(null_page) : parse_int<uint64_t>(word);
    if (!page || (*page == null_page && word != "-")) {
      return "`" + excerpt(std::string(word)) + "` is neither a page id nor `-`" +
             (grouped ? " (nor `|` between groups)" : "");
    }
    pages.push_back(*page);
  }
  return std::nullopt;
}

// "2, 1": how many entries each group's table has.
std::string group_lengths(const std::vector<size_t>& lengths) {
  std::string out;
  for (const size_t length : lengths) out += (out.empty() ? "" : ", ") + std::to_string(length);
  return out;
}

}  // namespace

std::variant<std::vector<uint64_t>, std::string> parse_pages_reply(const std::string& reply,
                                                                   uint32_t group_count) {
  const auto words = ok_words(reply);
  if (!words) return std::string("it does not start with `ok`");
  std::vector<uint64_t> pages;
  if (group_count == 0) {
    if (auto error = append_pages(*words, pages, false)) return *error;
    return pages;
  }
  std::vector<size_t> lengths;  // each group's entries
  size_t group_first = 0;
  for (size_t i = 0; i <= words->size(); i++) {
    if (i < words->size() && (*words)[i] != "|") continue;
    const auto group = std::span(*words).subspan(group_first, i - group_first);
    if (auto error = append_pages(group, pages, true)) return *error;
    lengths.push_back(group.size());
    group_first = i + 1;
  }
  if (lengths.size() != group_count) {
    return "it has " + std::to_string(lengths.size()) +
           (lengths.size() == 1 ? " table" : " tables") + " separated by `|`, the config has " +
           std::to_string(group_count) + " KV groups (V-G7: one table per group, `ok 3 4 | - 5`)";
  }
  // A swapped-out sequence keeps only each group's null entries, which may differ (V-G4).
  const bool only_nulls =
      std::all_of(pages.begin(), pages.end(), [](uint64_t page) { return page == null_page; });
  if (!only_nulls &&
      std::adjacent_find(lengths.begin(), lengths.end(), std::not_equal_to<>()) != lengths.end()) {
    return "its groups' tables have " + group_lengths(lengths) +
           " entries; every group's table has the same length (V-G1; only a swapped-out "
           "sequence's null entries may differ, V-G4)";
  }
  return pages;
}

namespace {

// "5-8,12" -> {5,6,7,8,12}; nullopt when malformed (or a range runs backwards).
std::optional<std::vector<uint64_t>> parse_ranges(std::string_view text) {
  constexpr uint64_t key_length_max = uint64_t{1} << 24;
  std::vector<uint64_t> ids;
  while (true) {
    const size_t comma = std::min(text.find(','), text.size());
    const std::string_view range = text.substr(0, comma);
    const size_t dash = range.find('-');
    const auto first = parse_int<uint64_t>(range.substr(0, dash));
    const auto last =
        dash == std::string_view::npos ? first : parse_int<uint64_t>(range.substr(dash + 1));
    if (!first || !last || *last < *first || *last - *first >= key_length_max - ids.size()) {
      return std::nullopt;
    }
    for (uint64_t id = *first;; id++) {
      ids.push_back(id);
      if (id == *last) break;
    }
    if (comma == text.size()) return ids;
    text.remove_prefix(comma + 1);
  }
}

// A `keys hash` backend's key word (its own hash of the block, in any spelling) as one id: its
// 64-bit FNV-1a, so equal words are equal keys.
std::optional<std::vector<uint64_t>> parse_hash(std::string_view word) {
  constexpr size_t hash_word_bytes_max = 256;
  if (word.empty() || word.size() > hash_word_bytes_max) return std::nullopt;
  uint64_t hash = 0xcbf29ce484222325ull;
  for (const char c : word) hash = (hash ^ static_cast<unsigned char>(c)) * 0x100000001b3ull;
  return std::vector<uint64_t>{hash};
}

// What a `? cache` key word must look like, for the error message.
std::string key_word_form(bool hashed_keys, uint32_t group_count) {
  if (hashed_keys) {
    return "PAGE=HASH (a page id, `=`, then the block's hash, 1 to 256 bytes without spaces)";
  }
  if (group_count > 0) {
    return "PAGE=G:RANGES (a page id, `=`, the key's KV group 0.." +
           std::to_string(group_count - 1) +
           ", `:`, then token ids as FIRST-LAST or ID, comma-separated; V-G7)";
  }
  return "PAGE=RANGES (a page id, `=`, then token ids as FIRST-LAST or ID, comma-separated)";
}

// One registered page's word of `? cache`: PAGE=RANGES, PAGE=G:RANGES in a kv_groups config,
// PAGE=HASH for `keys hash` (whose group stays 0); nullopt when malformed.
std::optional<CachedPageView> parse_key_word(std::string_view word, bool hashed_keys,
                                             uint32_t group_count) {
  const size_t equals = word.find('=');
  if (equals == std::string_view::npos) return std::nullopt;
  const auto page = parse_int<uint64_t>(word.substr(0, equals));
  std::string_view key_text = word.substr(equals + 1);
  uint32_t group = 0;
  if (group_count > 0 && !hashed_keys) {
    const size_t colon = key_text.find(':');
    const auto parsed = colon == std::string_view::npos
                            ? std::nullopt
                            : parse_int<uint32_t>(key_text.substr(0, colon));
    if (!parsed || *parsed >= group_count) return std::nullopt;
    group = *parsed;
    key_text.remove_prefix(colon + 1);
  }
  auto key = hashed_keys ? parse_hash(key_text) : parse_ranges(key_text);
  if (!page || !key) return std::nullopt;
  return CachedPageView{std::move(*key), *page, group};
}

}  // namespace

std::variant<PrefixCacheView, std::string> parse_cache_reply(const std::string& reply,
                                                             bool hashed_keys,
                                                             uint32_t group_count) {
  const auto words = ok_words(reply);
  if (!words) return std::string("it does not start with `ok`");
  PrefixCacheView view;
  bool in_queue = false;
  for (const std::string_view word : *words) {
    if (!in_queue && word == "queue") {
      in_queue = true;
      continue;
    }
    if (in_queue) {
      const auto page = parse_int<uint64_t>(word);
      if (!page) return "queue entry `" + std::string(word) + "` is not a page id";
      view.queue.push_back(*page);
      continue;
    }
    auto entry = parse_key_word(word, hashed_keys, group_count);
    if (!entry) {
      return "`" + excerpt(std::string(word)) + "` is not " +
             key_word_form(hashed_keys, group_count);
    }
    view.registered.push_back(std::move(*entry));
  }
  if (!in_queue) return std::string("it has no `queue` word");
  view.hashed_keys = hashed_keys;
  return view;
}

namespace {

// `? words S FIRST COUNT`.
std::string words_request(SeqId seq, uint64_t first_word, uint64_t word_count) {
  return "? words " + std::to_string(seq) + " " + std::to_string(first_word) + " " +
         std::to_string(word_count);
}

// Tokens [first_token, first_token + token_count) by their absolute indices as spans of `? words`
// (first word, word count): in each group clipped to its readable tokens (`ranges`, absolute
// [first, end) per group); `? words` counts from group 0's first readable token, group 1's
// following group 0's last (V-G2).
std::vector<std::pair<uint64_t, uint64_t>> word_spans(
    const std::vector<std::pair<uint64_t, uint64_t>>& ranges, uint64_t first_token,
    uint64_t token_count, uint64_t words_per_token) {
  const uint64_t last_token = first_token + std::min(token_count, UINT64_MAX - first_token);
  std::vector<std::pair<uint64_t, uint64_t>> spans;
  uint64_t group_word = 0;  // the word `? words` numbers the group's first readable token with
  for (const auto& [first, end] : ranges) {
    const uint64_t from = std::max(first, first_token);
    const uint64_t to = std::min(end, last_token);
    if (from < to) {
      spans.emplace_back(group_word + (from - first) * words_per_token,
                         (to - from) * words_per_token);
    }
    group_word += (end - first) * words_per_token;
  }
  return spans;
}

std::optional<std::string> read_handshake(ExecSession& session) {
  std::string line;
  const uint32_t timeout = exec_timeout_ms();
  if (auto error = session.child->read_line(line, timeout)) return "handshake: " + *error;
  if (line.rfind("kvbackend ", 0) != 0) {
    return "its first line must be `kvbackend 1 NAME` or `kvbackend 2 NAME`, got `" +
           excerpt(line) + "`";
  }
  const std::string rest = line.substr(10);
  const auto version = parse_int<uint32_t>(rest.substr(0, rest.find(' ')));
  if (!version || *version < 1 || *version > protocol_version) {
    return "it speaks protocol `" + excerpt(rest) + "`; this harness speaks versions 1 to " +
           std::to_string(protocol_version) + " (docs/backend-protocol.md)";
  }
  session.version = *version;
  session.backend_name = rest.find(' ') == std::string::npos ? "" : rest.substr(rest.find(' ') + 1);
  session.caps = Capabilities::all();
  session.caps.stores_data = session.caps.audits = false;
  session.caps.eviction_lru = false;
  session.caps.sliding_window = {0, 0};     // windows only where its profile declares them
  session.caps.kv_groups = {0, 0};          // KV groups too (section 17)
  session.caps.either_variants = Config{};  // only what its `config` line declares
  bool saw_ops = false;
  for (uint32_t i = 0; i < handshake_line_count_max; i++) {
    if (auto error = session.child->read_line(line, timeout)) return "handshake: " + *error;
    if (line == "ready") {
      if (!saw_ops) return std::string("its profile has no `ops` line");
      return std::nullopt;
    }
    saw_ops = saw_ops || line.rfind("ops ", 0) == 0;
    if (auto error = apply_profile_line(line, session.caps)) return "handshake: " + *error;
  }
  return "its handshake has no `ready` line within " + std::to_string(handshake_line_count_max) +
         " lines";
}

}  // namespace

uint32_t exec_timeout_ms() {
  const char* text = std::getenv("KV_BACKEND_TIMEOUT_MS");
  const auto value = text ? parse_int<uint32_t>(text) : std::nullopt;
  return value && *value >= 1 && *value <= 3600000 ? *value : exec_timeout_default_ms;
}

std::variant<std::unique_ptr<ExecSession>, std::string> acquire_exec_session(
    const std::string& command) {
  {
    std::lock_guard lock(pool_mutex);
    auto& idle = idle_sessions()[command];
    if (!idle.empty()) {
      auto session = std::move(idle.back());
      idle.pop_back();
      return session;
    }
  }
  auto started = ChildProcess::start(command);
  if (auto* error = std::get_if<std::string>(&started)) return *error;
  auto session = std::make_unique<ExecSession>();
  session->command = command;
  session->child = std::move(std::get<std::unique_ptr<ChildProcess>>(started));
  if (auto error = read_handshake(*session)) {
    const std::string how = session->child->kill_and_reap();
    return *error + " (the process " + how + ")";
  }
  return session;
}

void release_exec_session(std::unique_ptr<ExecSession> session) {
  std::lock_guard lock(pool_mutex);
  auto& idle = idle_sessions()[session->command];
  if (idle.size() < idle_session_count_max) idle.push_back(std::move(session));
}

ExecBackend::ExecBackend(std::string name, std::unique_ptr<ExecSession> session,
                         std::string start_error, const Config& config)
    : name_(std::move(name)), session_(std::move(session)), config_(config) {
  if (!session_) {
    broken_ = "backend " + name_ + " did not start: " + start_error;
    return;
  }
  send(format_config(config_), -1);  // its `ok` is read with the first reply
}

ExecBackend::~ExecBackend() {
  if (!session_) return;
  std::string reply;
  while (!broken_ && !in_flight_.empty()) receive(reply);
  if (!broken_) release_exec_session(std::move(session_));
}

void ExecBackend::set_broken(const std::string& why) const {
  if (broken_) return;
  const std::string how = session_ ? session_->child->kill_and_reap() : "";
  broken_ =
      "backend " + std::string(name()) + " " + why + (how.empty() ? "" : "; the process " + how);
  in_flight_.clear();
}

void ExecBackend::send(std::string request, int64_t op_index) const {
  if (broken_) return;
  session_->child->queue(request + "\n");
  in_flight_.push_back(InFlight{std::move(request), op_index, sent_count_++});
}

// The reply to the oldest request in flight; false (and broken) on any protocol failure.
bool ExecBackend::receive(std::string& reply) const {
  if (broken_ || in_flight_.empty()) return false;
  const InFlight request = in_flight_.front();
  in_flight_.pop_front();
  if (request.serial >= flushed_count_) round_trips_++;  // it goes out now: wait for the reply
  flushed_count_ = sent_count_;                          // read_line sends everything queued
  if (auto error = session_->child->read_line(reply, exec_timeout_ms())) {
    if (restart_for(request)) return receive(reply);
    set_broken("gave no reply to `" + request.request + "`: " + *error);
    return false;
  }
  if (reply.rfind("error", 0) == 0) {
    set_broken("answered `" + request.request + "` with `" + excerpt(reply) + "`");
    return false;
  }
  const bool needs_ok = request.op_index < 0 || request.request.rfind("tick ", 0) == 0;
  if (needs_ok && reply != "ok") {
    set_broken("answered `" + request.request + "` with `" + excerpt(reply) + "`, expected `ok`");
    return false;
  }
  return true;
}

bool ExecBackend::is_breakpoint(const Op& op) const {
  if (forecast_) return false;  // it knows which sequences an op will evict
  if (op.kind == OpKind::check || op.kind == OpKind::evict) return true;
  const bool may_evict =
      op.kind == OpKind::alloc || op.kind == OpKind::append || op.kind == OpKind::step;
  return config_.eviction == Eviction::lru && may_evict;
}

void ExecBackend::plan(std::span<const TraceLine> lines, bool observe_every_op,
                       std::unique_ptr<Forecast> forecast) {
  forecast_ = std::move(forecast);
  planned_ = (!observe_every_op || forecast_) && applied_ == -1;
  observe_every_op_ = observe_every_op;
  plan_ = lines;
  next_to_send_ = 0;
}

// Sends planned op `index` with the observations the runner makes after it.
void ExecBackend::send_planned(size_t index) {
  const Op& op = plan_[index].op;
  const auto at = static_cast<int64_t>(index);
  send(format_op(op), at);
  if (forecast_) return send_forecast_questions(index);
  send_observations(op, at, op.kind == OpKind::check);
}

// The requests the runner's observations after op `index` turn into (as the methods below make
// them, assuming the backend agrees with the model), each once, in the runner's order.
void ExecBackend::send_forecast_questions(size_t index) {
  using Kind = Observation::Kind;
  std::vector<std::string> requests;
  for (const Observation& observation : forecast_->after(index)) {
    const std::string seq = std::to_string(observation.seq);
    const Kind kind = observation.kind;
    if (kind == Kind::stats) requests.push_back("? stats");
    if (kind == Kind::info) requests.push_back("? info " + seq);
    if (kind == Kind::pages) requests.push_back("? pages " + seq);
    if (kind == Kind::ids) requests.push_back("? ids");
    if (kind == Kind::audit && session_->caps.audits) requests.push_back("? audit");
    if (kind == Kind::cache && session_->version >= 2 && config_.prefix_caching)
      requests.push_back("? cache");
    if (kind == Kind::digest && stores_data()) requests.push_back("? digest " + seq);
    if (kind == Kind::words) forecast_words(observation, requests);
  }
  std::unordered_set<std::string> sent;  // a second question is answered from the first's reply
  for (std::string& request : requests) {
    if (sent.insert(request).second) send(std::move(request), static_cast<int64_t>(index));
  }
}

// What gather_words or gather_token_words asks: `? info S`, `? pages S` (windows, groups), then
// `? words` in chunks, all full (a shorter reply makes the next request a surprise: a resync).
void ExecBackend::forecast_words(const Observation& observation,
                                 std::vector<std::string>& requests) const {
  const SeqId seq = observation.seq;
  requests.push_back("? info " + std::to_string(seq));
  const auto& info = observation.info;
  if (!info || !stores_data() || info->page_count == 0) return;
  if (needs_table()) requests.push_back("? pages " + std::to_string(seq));
  const auto ranges = readable_ranges(*info, observation.table);
  const uint64_t words_per_token = config_.words_per_token();
  std::vector<std::pair<uint64_t, uint64_t>> spans;  // (first word, word count)
  if (observation.whole) {
    uint64_t token_count = 0;
    for (const auto& [first, end] : ranges) token_count += end - first;
    spans.emplace_back(0, token_count * words_per_token);
  } else {
    spans = word_spans(ranges, observation.first_token, observation.token_count, words_per_token);
  }
  for (const auto& [first_word, word_count] : spans) {
    for (uint64_t done = 0; done < word_count; done += exec_words_per_request) {
      const uint64_t count = std::min<uint64_t>(exec_words_per_request, word_count - done);
      requests.push_back(words_request(seq, first_word + done, count));
    }
  }
}

// The observations the runner makes of the state after `op` (sent before their replies are
// read): stats, each named sequence's info and, when every op is checked, its block table.
void ExecBackend::send_observations(const Op& op, int64_t at, bool full_check) {
  send("? stats", at);
  std::vector<SeqId> ids = op_sequences(op);
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  for (SeqId seq : ids) send("? info " + std::to_string(seq), at);
  if (observe_every_op_) {
    for (SeqId seq : ids) send("? pages " + std::to_string(seq), at);
  }
  if (full_check) return send_full_check_questions(at, ids);
  if (op.kind == OpKind::read && stores_data()) send("? digest " + std::to_string(op.seq), at);
}

// The whole-state check's questions: its audit, the ids, the prefix cache, and every live
// sequence's table and digest, the live ones guessed as those of the last `? ids` answer and the
// op's own (`op_ids`, sorted), so the check takes one round trip. A guessed sequence that is gone
// answers `unknown_sequence`, which nobody asks for; one the guess missed is asked next.
void ExecBackend::send_full_check_questions(int64_t at, const std::vector<SeqId>& op_ids) const {
  if (session_->caps.audits) send("? audit", at);
  send("? ids", at);
  if (session_->version >= 2 && config_.prefix_caching) send("? cache", at);
  std::vector<SeqId> guess = live_ids_;
  guess.insert(guess.end(), op_ids.begin(), op_ids.end());
  std::sort(guess.begin(), guess.end());
  guess.erase(std::unique(guess.begin(), guess.end()), guess.end());
  for (const SeqId seq : guess) {
    const bool pages_sent =
        observe_every_op_ && std::binary_search(op_ids.begin(), op_ids.end(), seq);
    if (!pages_sent) send("? pages " + std::to_string(seq), at);
    if (stores_data()) send("? digest " + std::to_string(seq), at);
  }
}

// Reads the replies to observations of the current state that are already in flight, up to the
// one to `wanted`: those after it wait until asked, as if each were asked when the runner asks.
void ExecBackend::collect_answers(const std::string& wanted) const {
  std::string reply;
  while (!broken_ && !in_flight_.empty() && in_flight_.front().op_index <= applied_ &&
         in_flight_.front().request.rfind("? ", 0) == 0) {
    const std::string request = in_flight_.front().request;
    if (request == "? audit") {
      read_audit_reply();  // many lines
    } else {
      if (!receive(reply)) return;
      answers_[request] = reply;
    }
    if (request == wanted) return;
  }
}

// Whether `request` about the current state was answered or is in flight.
bool ExecBackend::asked(const std::string& request) const {
  if (answers_.count(request)) return true;
  return std::any_of(in_flight_.begin(), in_flight_.end(), [&](const InFlight& in_flight) {
    return in_flight.op_index == applied_ && in_flight.request == request;
  });
}

// Whether ops after the current one are in flight (a question sent now would see their state).
bool ExecBackend::ops_ahead() const {
  return !in_flight_.empty() && in_flight_.back().op_index > applied_;
}

// Later ops were sent ahead but the runner asks something unpredicted about the current state:
// drain, restart from `config` and apply the ops up to the current one again.
void ExecBackend::resync() const {
  std::string reply;
  while (!broken_ && !in_flight_.empty()) {
    if (in_flight_.front().request == "? audit") {
      read_audit_reply();  // many lines
    } else {
      receive(reply);
    }
  }
  // The ops sent ahead were drained unapplied: they go again from the next op on.
  replay(static_cast<size_t>(applied_ + 1));
  // The forecast missed a question (the backend diverged, or reply lengths surprised it): from
  // here on each op waits for its replies, as without a forecast.
  if (forecast_) {
    forecast_.reset();
    planned_ = false;
  }
}

// Sends `config` and the first `op_count` planned ops and reads their replies: the state after
// them, with nothing in flight; the next planned op to send is the one after them.
void ExecBackend::replay(size_t op_count) const {
  send(format_config(config_), -1);
  for (size_t i = 0; i < op_count; i++) send(format_op(plan_[i].op), static_cast<int64_t>(i));
  std::string reply;
  while (!broken_ && !in_flight_.empty()) receive(reply);
  answers_.clear();
  audit_answer_.reset();
  next_to_send_ = op_count;
}

// No reply to `request` while later ops were out too. A backend that holds its replies until its
// input runs dry (as it should, to save writes) loses those of the ops before the one that killed
// or stopped it, so that op is unknown. Starts the command again, brings it to the state `request`
// was sent in (the ops before it, each answered once already), sends `request` again (with the rest
// of that state's requests) and goes on op by op, sending nothing ahead: a failure that comes again
// comes at its own op. False (nothing changed) when there is nothing to retry.
bool ExecBackend::restart_for(const InFlight& request) const {
  const bool later_ops_out = !in_flight_.empty() && in_flight_.back().op_index > request.op_index;
  if (restarted_ || !planned_ || !later_ops_out) return false;
  restarted_ = true;
  // What the caller still waits for: the rest of `request`'s state (after `config`: op 0's).
  std::vector<InFlight> again;
  for (const InFlight& waiting : in_flight_) {
    if (waiting.op_index <= std::max<int64_t>(request.op_index, 0)) again.push_back(waiting);
  }
  auto started = acquire_exec_session(session_->command);
  if (!std::holds_alternative<std::unique_ptr<ExecSession>>(started)) return false;
  session_->child->kill_and_reap();
  *session_ = std::move(*std::get<std::unique_ptr<ExecSession>>(started));
  in_flight_.clear();
  answers_.clear();
  audit_answer_.reset();
  forecast_.reset();
  planned_ = false;
  // The ops before `request`'s state (`config` itself: nothing to replay), then `request`.
  if (request.op_index >= 0) {
    const auto state = static_cast<size_t>(request.op_index);
    replay(request.request == format_op(plan_[state].op) ? state : state + 1);
  }
  send(request.request, request.op_index);
  for (const InFlight& waiting : again) send(waiting.request, waiting.op_index);
  return !broken_;
}

std::optional<std::string> ExecBackend::query(const std::string& request) const {
  if (broken_) return std::nullopt;
  collect_answers(request);
  // An answer holds until the next op changes the state: a second question is free.
  if (auto found = answers_.find(request); found != answers_.end()) return found->second;
  if (!in_flight_.empty()) resync();
  send(request, applied_);
  std::string reply;
  if (!receive(reply)) return std::nullopt;
  answers_[request] = reply;
  return reply;
}

OpResult ExecBackend::parse_result_reply(const Op& op, const std::string& reply) {
  auto parsed = parse_op_result(reply);
  const size_t entry_count = op.kind == OpKind::step ? op.entries.size() : 1;
  if (auto* error = std::get_if<std::string>(&parsed)) {
    set_broken("answered `" + format_op(op) + "` with `" + excerpt(reply) +
               "`, which is not a kvtrace result: " + *error);
    return OpResult{};
  }
  OpResult result = std::get<OpResult>(std::move(parsed));
  if (result.entries.size() != entry_count) {
    set_broken("answered `" + format_op(op) + "` with " + std::to_string(result.entries.size()) +
               " results for " + std::to_string(entry_count) + " entries");
    return OpResult{};
  }
  return result;
}

OpResult ExecBackend::apply(const Op& op, Tick tick) {
  if (broken_) return OpResult{};
  const auto index = static_cast<size_t>(applied_ + 1);
  const bool as_planned =
      planned_ && index < plan_.size() && tick == index && plan_[index].op == op;
  if (planned_ && !as_planned) {
    if (!in_flight_.empty()) resync();
    planned_ = false;
    forecast_.reset();
  }
  std::string reply;
  // Replies to observations of the previous state nobody asked for.
  while (!broken_ && !in_flight_.empty() && in_flight_.front().op_index < applied_ + 1 &&
         in_flight_.front().op_index >= 0) {
    if (in_flight_.front().request == "? audit") {
      read_audit_reply();
    } else {
      receive(reply);
    }
  }
  answers_.clear();
  audit_answer_.reset();
  if (as_planned) {
    while (next_to_send_ < plan_.size() && next_to_send_ <= index + exec_window_op_count) {
      if (next_to_send_ > index && is_breakpoint(plan_[next_to_send_ - 1].op)) break;
      send_planned(next_to_send_++);
    }
    assert(next_to_send_ <= index + exec_window_op_count + 1);  // the replies in flight are bounded
  } else {
    if (tick != next_tick_) send("tick " + std::to_string(tick), applied_);
    send(format_op(op), applied_ + 1);
    // Checked op by op: the observations go with the op, one round trip for all of them.
    if (observe_every_op_ || full_check_next_) {
      send_observations(op, applied_ + 1, full_check_next_ || op.kind == OpKind::check);
    }
  }
  full_check_next_ = false;
  // The config's `ok` (first op), a `tick`'s `ok`, then the op's reply.
  while (!broken_ && !in_flight_.empty() && in_flight_.front().request.rfind("? ", 0) != 0 &&
         in_flight_.front().op_index <= applied_) {
    receive(reply);
  }
  applied_++;
  next_tick_ = tick + 1;
  if (!receive(reply)) return OpResult{};
  OpResult result = parse_result_reply(op, reply);
  last_read_.clear();
  return result;
}

StatsView ExecBackend::stats() const {
  const auto reply = query("? stats");
  if (!reply) return StatsView{};
  auto parsed = parse_op_result(*reply);
  auto* result = std::get_if<OpResult>(&parsed);
  if (!result || result->entries.size() != 1 || !result->entries[0].stats) {
    set_broken("answered `? stats` with `" + excerpt(*reply) + "`");
    return StatsView{};
  }
  return *result->entries[0].stats;
}

std::optional<InfoView> ExecBackend::info(SeqId seq) const {
  const std::string request = "? info " + std::to_string(seq);
  const auto reply = query(request);
  if (!reply || *reply == "unknown_sequence") return std::nullopt;
  auto parsed = parse_op_result(*reply);
  auto* result = std::get_if<OpResult>(&parsed);
  if (!result || result->entries.size() != 1 || !result->entries[0].info) {
    set_broken("answered `" + request + "` with `" + excerpt(*reply) + "`");
    return std::nullopt;
  }
  return *result->entries[0].info;
}

// The whole-state check asks next for every sequence's table and digest: those the questions
// sent with the op did not guess go out together, their replies come back in one round trip.
std::vector<SeqId> ExecBackend::sequence_ids() const {
  const auto reply = query("? ids");
  if (!reply) return {};
  auto ids = parse_ok_list<SeqId>(*reply);
  if (!ids) set_broken("answered `? ids` with `" + excerpt(*reply) + "`");
  live_ids_ = ids.value_or(std::vector<SeqId>{});
  // Behind ops sent ahead they would see a later state (a forecast sent them already).
  for (const SeqId seq : ops_ahead() ? std::vector<SeqId>{} : live_ids_) {
    const std::string pages = "? pages " + std::to_string(seq);
    if (!asked(pages)) send(pages, applied_);
    const std::string digest = "? digest " + std::to_string(seq);
    if (stores_data() && !asked(digest)) send(digest, applied_);
  }
  return ids.value_or(std::vector<SeqId>{});
}

std::vector<uint64_t> ExecBackend::block_table(SeqId seq) const {
  const std::string request = "? pages " + std::to_string(seq);
  const auto reply = query(request);
  if (!reply || *reply == "unknown_sequence") return {};
  auto parsed = parse_pages_reply(*reply, config_.group_count);
  if (auto* error = std::get_if<std::string>(&parsed)) {
    set_broken("answered `" + request + "` with `" + excerpt(*reply) + "`: " + *error +
               (config_.group_count == 0
                    ? " (expected `ok` and page ids, `-` for a null entry"
                    : " (expected `ok` and each group's page ids, `-` for a null entry, the groups "
                      "separated by `|`") +
               ", docs/backend-protocol.md)");
    return {};
  }
  return std::get<std::vector<uint64_t>>(std::move(parsed));
}

std::optional<uint64_t> ExecBackend::words_digest(SeqId seq) {
  if (!stores_data()) return std::nullopt;
  const std::string request = "? digest " + std::to_string(seq);
  const auto reply = query(request);
  if (!reply || *reply == "unknown_sequence") return std::nullopt;
  const auto digest =
      reply->rfind("ok ", 0) == 0 ? parse_int<uint64_t>(reply->substr(3), 16) : std::nullopt;
  if (!digest) set_broken("answered `" + request + "` with `" + excerpt(*reply) + "`");
  return digest;
}

std::optional<PrefixCacheView> ExecBackend::prefix_cache() const {
  if (!session_ || broken_ || session_->version < 2 || !config_.prefix_caching) return std::nullopt;
  const auto reply = query("? cache");
  if (!reply) return std::nullopt;
  auto parsed = parse_cache_reply(*reply, session_->caps.hashed_keys, config_.group_count);
  if (auto* error = std::get_if<std::string>(&parsed)) {
    const bool grouped = config_.group_count > 0 && !session_->caps.hashed_keys;
    set_broken("answered `? cache` with `" + excerpt(*reply) + "`: " + *error + " (expected `ok " +
               (grouped ? "PAGE=G:RANGES" : "PAGE=RANGES") +
               " ... queue PAGE ...`, docs/backend-protocol.md)");
    return std::nullopt;
  }
  return std::get<PrefixCacheView>(std::move(parsed));
}

// S's readable tokens per group, in group order, as absolute indices [first, end): from the
// group's first non-null entry (V-W3) to n, or to the end of its non-null entries when that is
// shorter (a backend bug: the runner then reports the data that differs); none while swapped out
// (V-S4). Without windows and groups `? pages` is not asked: every entry holds a page.
std::vector<std::pair<uint64_t, uint64_t>> ExecBackend::readable_tokens(SeqId seq) const {
  const auto found = info(seq);
  if (!found || !stores_data() || found->page_count == 0) return {};
  return readable_ranges(*found, needs_table() ? block_table(seq) : std::vector<uint64_t>{});
}

// readable_tokens of a sequence with this info and (windows, groups) block table.
std::vector<std::pair<uint64_t, uint64_t>> ExecBackend::readable_ranges(
    const InfoView& found, const std::vector<uint64_t>& table) const {
  const uint64_t page_size = config_.page_size;
  const uint64_t n = found.token_count;
  if (!needs_table()) return {{0, std::min<uint64_t>(n, uint64_t{found.page_count} * page_size)}};
  const uint32_t groups = config_.groups();
  const size_t length = table.size() / groups;  // parse_pages_reply checked equal lengths
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (uint32_t g = 0; g < groups; g++) {
    const auto begin = table.begin() + static_cast<std::ptrdiff_t>(g * length);
    const auto end = begin + static_cast<std::ptrdiff_t>(length);
    const auto null_count =
        std::find_if(begin, end, [](uint64_t page) { return page != null_page; }) - begin;
    const auto page_count = std::count_if(begin, end, [](uint64_t p) { return p != null_page; });
    const uint64_t first = static_cast<uint64_t>(null_count) * page_size;
    const uint64_t last =
        std::min<uint64_t>(n, first + static_cast<uint64_t>(page_count) * page_size);
    ranges.emplace_back(first, std::max(first, last));
  }
  return ranges;
}

// `? words S FIRST COUNT` until `word_count` words from word `first_word` (word 0: the first word
// of S's first readable token) have come back.
std::vector<uint32_t> ExecBackend::fetch_words(SeqId seq, uint64_t first_word,
                                               uint64_t word_count) const {
  std::vector<uint32_t> words;
  while (!broken_ && words.size() < word_count) {
    const uint64_t count = std::min<uint64_t>(exec_words_per_request, word_count - words.size());
    const std::string request = words_request(seq, first_word + words.size(), count);
    const auto reply = query(request);
    if (!reply) break;
    const auto chunk = parse_ok_list<uint32_t>(*reply);
    // "Up to COUNT": a shorter reply is fine, the rest is asked for next; none at all is not.
    if (!chunk || chunk->empty() || chunk->size() > count) {
      set_broken("answered `" + request + "` with `" + excerpt(*reply) +
                 "`, expected `ok` and 1 to " + std::to_string(count) +
                 " words (the sequence holds " + std::to_string(first_word + word_count) +
                 " readable words)");
      break;
    }
    words.insert(words.end(), chunk->begin(), chunk->end());
  }
  return words;
}

std::vector<uint32_t> ExecBackend::gather_words(SeqId seq) {
  uint64_t token_count = 0;
  for (const auto& [first, end] : readable_tokens(seq)) token_count += end - first;
  last_read_ = fetch_words(seq, 0, token_count * config_.words_per_token());
  return last_read_;
}

// Tokens [first_token, first_token + token_count) by their absolute indices, in each group clipped
// to its readable tokens, the groups' words concatenated (V-G2); `? words` counts from group 0's
// first readable token, group 1's following group 0's last. The runner asks only for tokens from
// the first readable one on; a range before it (the backend released more than the model) gives
// fewer words, which the runner reports.
std::vector<uint32_t> ExecBackend::gather_token_words(SeqId seq, uint64_t first_token,
                                                      uint64_t token_count) {
  std::vector<uint32_t> words;
  for (const auto& [first_word, word_count] :
       word_spans(readable_tokens(seq), first_token, token_count, config_.words_per_token())) {
    const auto chunk = fetch_words(seq, first_word, word_count);
    words.insert(words.end(), chunk.begin(), chunk.end());
  }
  return words;
}

std::vector<std::string> ExecBackend::audit() const {
  if (broken_ || !session_->caps.audits) return {};
  collect_answers("? audit");
  if (!audit_answer_) {
    if (!in_flight_.empty()) resync();
    send_full_check_questions(applied_, {});
    collect_answers("? audit");
  }
  return audit_answer_.value_or(std::vector<std::string>{});
}

// The reply to the `? audit` at the front of in_flight_: `problem TEXT` lines, then `ok`.
void ExecBackend::read_audit_reply() const {
  std::vector<std::string> problems;
  std::string line;
  const int64_t op_index = in_flight_.front().op_index;
  for (uint32_t i = 0; i <= audit_problem_count_max && !broken_; i++) {
    if (!receive(line)) return;
    if (line == "ok") {
      audit_answer_ = std::move(problems);
      return;
    }
    if (line.rfind("problem ", 0) != 0) {
      set_broken("answered `? audit` with `" + excerpt(line) + "`");
      return;
    }
    problems.push_back(line.substr(8));
    in_flight_.push_front(InFlight{"? audit", op_index, 0});  // the same request, another line
  }
  if (!broken_)
    set_broken("sent more than " + std::to_string(audit_problem_count_max) + " audit problems");
}

}  // namespace kv
