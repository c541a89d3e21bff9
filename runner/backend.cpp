// Backend's default methods, for backends that implement only the required observations.
#include "runner/backend.hpp"

#include <algorithm>

#include "runner/forecast.hpp"

namespace kv {

void Backend::plan(std::span<const TraceLine> /*lines*/, bool /*observe_every_op*/,
                   std::unique_ptr<Forecast> /*forecast*/) {}

std::vector<uint32_t> Backend::gather_token_words(SeqId seq, uint64_t first_token,
                                                  uint64_t token_count) {
  std::vector<uint32_t> words = gather_words(seq);
  const std::optional<InfoView> found = info(seq);
  // A gather of the wrong size goes back whole, so the comparison reports the size.
  if (!found || found->token_count == 0 || words.size() % found->token_count != 0) return words;
  const uint64_t words_per_token = words.size() / found->token_count;
  const uint64_t first = std::min<uint64_t>(first_token * words_per_token, words.size());
  const uint64_t end = std::min<uint64_t>(first + token_count * words_per_token, words.size());
  return std::vector<uint32_t>(words.begin() + static_cast<std::ptrdiff_t>(first),
                               words.begin() + static_cast<std::ptrdiff_t>(end));
}

}  // namespace kv
