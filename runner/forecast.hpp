// Forecast: what the runner will ask a backend after each op of a whole trace, so a backend in
// another process can send ops ahead together with exactly those questions (--audit every).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "runner/runner.hpp"
#include "trace/capabilities.hpp"

namespace kv {

// One Backend call the runner makes to observe the state after an op.
struct Observation {
  enum class Kind : uint8_t { stats, info, pages, ids, audit, cache, digest, words };
  Kind kind = Kind::stats;
  SeqId seq = 0;
  // words: gather_token_words(seq, first_token, token_count), or gather_words(seq) when `whole`;
  // with the model's info and table of seq, from which a backend works out what it will request.
  bool whole = false;
  uint64_t first_token = 0;
  uint64_t token_count = 0;
  std::optional<InfoView> info;
  std::vector<uint64_t> table;
};

class EchoBackend;

// Runs a throwaway copy of the runner over the trace, against the model standing in for the
// backend (which agrees with it as long as the backend does), and records its calls. The model is
// deterministic given the trace, except under duplicate_hit=any (it follows the first backend's
// choice): the runner makes no forecast there. Incremental: op i is forecast when asked for.
class Forecast {
 public:
  // The backend's stores_data() and declined() decide which observations the runner makes.
  Forecast(const Config& config, std::span<const TraceLine> lines, AuditMode audit_mode,
           bool stores_data, Declined declined);
  ~Forecast();
  Forecast(const Forecast&) = delete;
  Forecast& operator=(const Forecast&) = delete;

  // The observations after op `index` (after the last op: its own, then the final whole-state
  // check's), in the order the runner makes them. Asked for 0, 1, 2, ... in turn; empty once the
  // copy stopped (it diverged from the model: a harness bug; the backend then asks as it goes).
  const std::vector<Observation>& after(size_t index);

 private:
  std::span<const TraceLine> lines_;
  std::vector<std::unique_ptr<Backend>> echo_;  // one EchoBackend
  std::vector<Observation> observations_;       // the last op's, filled by the echo
  std::unique_ptr<StreamRun> run_;
  size_t next_ = 0;  // the op after() forecasts next
  bool stopped_ = false;
};

}  // namespace kv
