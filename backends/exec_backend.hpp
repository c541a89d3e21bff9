// Backend `exec:CMD`: a cache in another process, spoken to over its stdin/stdout with the line
// protocol of docs/backend-protocol.md (handshake, kvtrace ops and results, observations).
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <variant>

#include "backends/child_process.hpp"
#include "runner/backend.hpp"
#include "runner/forecast.hpp"

namespace kv {

inline constexpr uint32_t protocol_version = 2;  // the newest; version 1 backends still work
inline constexpr uint32_t exec_timeout_default_ms = 10000;
inline constexpr uint32_t exec_window_op_count = 256;  // ops sent ahead of the one being checked
inline constexpr uint32_t exec_words_per_request = 4096;

// $KV_BACKEND_TIMEOUT_MS (1..3600000) or exec_timeout_default_ms: how long any one reply may take.
uint32_t exec_timeout_ms();

// A started backend process that has completed the handshake.
struct ExecSession {
  std::string command;
  std::unique_ptr<ChildProcess> child;
  std::string backend_name;  // what it calls itself in its `kvbackend VERSION NAME` line
  uint32_t version = 1;      // the protocol version of its handshake, 1 or 2
  Capabilities caps;
};

// Starts COMMAND (or reuses an idle process for it) and reads its handshake.
std::variant<std::unique_ptr<ExecSession>, std::string> acquire_exec_session(
    const std::string& command);
// Keeps a healthy session for the next backend of the same command.
void release_exec_session(std::unique_ptr<ExecSession> session);

// The reply to `? pages S` as one table, null_page for `-` (V-W2); with `group_count` above 0
// (kv_groups, section 17) the groups' tables separated by `|` (`ok 3 4 | - 5`), concatenated in
// group order (V-G7). An error message naming what is wrong: a word, the number of groups, their
// lengths.
std::variant<std::vector<uint64_t>, std::string> parse_pages_reply(const std::string& reply,
                                                                   uint32_t group_count);
// The reply to `? cache`: `ok PAGE=RANGES ... queue PAGE ...`; PAGE=G:RANGES with `group_count`
// above 0 (G the key's group, CachedPageView::group); PAGE=HASH for `keys hash`, grouped or not.
// An error message naming the malformed word.
std::variant<PrefixCacheView, std::string> parse_cache_reply(const std::string& reply,
                                                             bool hashed_keys,
                                                             uint32_t group_count);

class ExecBackend final : public Backend {
 public:
  // `session` is null when it could not start; then the backend is broken from the start.
  ExecBackend(std::string name, std::unique_ptr<ExecSession> session, std::string start_error,
              const Config& config);
  ~ExecBackend() override;

  // The NAME of its handshake (reports show it instead of the command); the command when it has
  // none or did not start.
  std::string_view name() const override {
    return session_ && !session_->backend_name.empty() ? session_->backend_name : name_;
  }
  OpResult apply(const Op& op, Tick tick) override;
  const std::vector<uint32_t>& last_read_words() const override { return last_read_; }
  StatsView stats() const override;
  std::optional<InfoView> info(SeqId seq) const override;
  std::vector<SeqId> sequence_ids() const override;
  std::vector<uint64_t> block_table(SeqId seq) const override;
  // S's words from its first non-null entry on (V-W3), as `? words` numbers them; with kv_groups
  // each group's from its own, concatenated in group order (V-G2).
  std::vector<uint32_t> gather_words(SeqId seq) override;
  std::vector<uint32_t> gather_token_words(SeqId seq, uint64_t first_token,
                                           uint64_t token_count) override;
  std::vector<std::string> audit() const override;
  std::optional<std::string> broken() const override { return broken_; }
  bool stores_data() const override { return !session_ || session_->caps.stores_data; }
  Declined declined() const override { return session_ ? session_->caps.declined : Declined{}; }
  std::optional<uint64_t> words_digest(SeqId seq) override;
  // Version 2 with prefix_caching=on: `? cache`; otherwise nullopt (nothing to compare).
  std::optional<PrefixCacheView> prefix_cache() const override;
  void plan(std::span<const TraceLine> lines, bool observe_every_op,
            std::unique_ptr<Forecast> forecast) override;
  bool wants_forecast() const override { return session_ != nullptr; }
  void expect_full_check() override { full_check_next_ = true; }
  // Replies it waited for whose request had not gone out before that wait: the pipe round trips
  // paid (sending ahead makes one round trip serve many ops).
  uint64_t round_trips() const { return round_trips_; }

 private:
  struct InFlight {
    std::string request;
    int64_t op_index;  // the op whose state it observes; -1 for `config`
    uint64_t serial;   // its place among every request sent
  };
  void send(std::string request, int64_t op_index) const;
  bool receive(std::string& reply) const;
  void set_broken(const std::string& why) const;
  std::optional<std::string> query(const std::string& request) const;
  void collect_answers(const std::string& wanted) const;
  bool asked(const std::string& request) const;
  bool ops_ahead() const;
  void send_forecast_questions(size_t index);
  void forecast_words(const Observation& observation, std::vector<std::string>& requests) const;
  void resync() const;
  void replay(size_t op_count) const;
  bool restart_for(const InFlight& request) const;
  void send_planned(size_t index);
  void send_observations(const Op& op, int64_t at, bool full_check);
  bool is_breakpoint(const Op& op) const;
  OpResult parse_result_reply(const Op& op, const std::string& reply);
  std::vector<std::pair<uint64_t, uint64_t>> readable_tokens(SeqId seq) const;
  bool needs_table() const { return config_.sliding_window != 0 || config_.group_count != 0; }
  std::vector<std::pair<uint64_t, uint64_t>> readable_ranges(
      const InfoView& info, const std::vector<uint64_t>& table) const;
  std::vector<uint32_t> fetch_words(SeqId seq, uint64_t first_word, uint64_t word_count) const;

  std::string name_;
  std::unique_ptr<ExecSession> session_;
  Config config_;
  mutable std::optional<std::string> broken_;
  mutable std::deque<InFlight> in_flight_;
  mutable std::map<std::string, std::string> answers_;  // replies for the current op's state
  std::span<const TraceLine> plan_;
  mutable bool planned_ = false;  // resync() ends a forecast plan
  // Under --audit every: what the runner will ask after each op, so ops go ahead with exactly
  // those questions; dropped (asked as it goes from then on) at the first question it missed.
  mutable std::unique_ptr<Forecast> forecast_;
  bool observe_every_op_ = false;  // the runner checks after every op (AuditMode every, touched)
  bool full_check_next_ = false;   // expect_full_check() came before this apply()
  void send_full_check_questions(int64_t at, const std::vector<SeqId>& op_ids) const;
  mutable std::vector<SeqId> live_ids_;  // the last `? ids` answer: the next check's guess
  void read_audit_reply() const;
  mutable std::optional<std::vector<std::string>> audit_answer_;  // `? audit` of this state
  mutable size_t next_to_send_ = 0;  // next planned op to send (resync() rewinds it)
  int64_t applied_ = -1;             // index of the last applied op
  Tick next_tick_ = 0;               // the tick the backend gives its next op
  std::vector<uint32_t> last_read_;
  mutable uint64_t sent_count_ = 0;     // requests sent so far (the next one's serial)
  mutable uint64_t flushed_count_ = 0;  // requests gone out before the last wait for a reply
  mutable uint64_t round_trips_ = 0;
  mutable bool restarted_ = false;  // restart_for() ran: a run restarts its process once at most
};

}  // namespace kv
