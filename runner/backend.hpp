// The interface every cache under test implements so the differential runner can drive and observe
// it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "trace/config.hpp"
#include "trace/op.hpp"

namespace kv {

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string_view name() const = 0;

  // Applies one op at `tick`; token data for appends comes from trace/token.hpp.
  virtual OpResult apply(const Op& op, Tick tick) = 0;
  // The words the last successful `read` op returned (n * words_per_token).
  virtual const std::vector<uint32_t>& last_read_words() const = 0;

  // Observations that do not count as a use of any sequence.
  virtual StatsView stats() const = 0;
  virtual std::optional<InfoView> info(SeqId seq) const = 0;
  virtual std::vector<SeqId> sequence_ids() const = 0;
  virtual std::vector<uint64_t> block_table(SeqId seq) const = 0;  // physical page ids
  virtual std::vector<uint32_t> gather_words(SeqId seq) = 0;       // n * words_per_token words

  // Every broken internal invariant, each naming expected and actual values; empty when healthy.
  virtual std::vector<std::string> audit() const = 0;
  // A failure of the machinery under the cache (a device call), as a message; the runner reports
  // it as a divergence of kind `device`. Host-only backends never have one.
  virtual std::optional<std::string> fault() const { return std::nullopt; }
};

// The backends this build can run here, by name: "host", "hip-emu", and "hip" with a GPU.
std::vector<std::string> backend_names();
// Why `name` cannot be used here (unknown, or "hip" without a device); nullopt for a usable name
// or "all".
std::optional<std::string> backend_name_problem(const std::string& name);
std::unique_ptr<Backend> make_backend(std::string_view name, const Config& config);
// Fresh backends by name; "all" expands to every backend of this build. Names must be known.
std::vector<std::unique_ptr<Backend>> make_backends(const std::vector<std::string>& names,
                                                    const Config& config);

}  // namespace kv
