// The reference model of the kvtrace v1 cache contract (docs/semantics.md): boring on purpose.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "trace/config.hpp"
#include "trace/op.hpp"
#include "trace/trace.hpp"

namespace kv {

using ModelPageId = uint64_t;

// Invariants (checked by audit(), which recomputes them from the block tables):
//  - a page is in pages_ iff at least one block-table entry references it, and its refcount is
//    the number of such entries;
//  - used = pages_.size() <= max_pages;
//  - no block table holds the same page twice; pages(S) >= ceil(n / page_size);
//  - token_count_ is the sum of n over all sequences (kept so stats() is O(1)).
// Page ids are never reused, so a stale reference can never alias a new page.
class Model {
 public:
  explicit Model(const Config& config);

  // Applies one op at `tick` (its 0-based index in the trace) and returns its result.
  OpResult apply(const Op& op, Tick tick);

  StatsView stats() const;
  std::optional<InfoView> info(SeqId seq) const;
  std::vector<SeqId> sequence_ids() const;
  std::vector<ModelPageId> block_table(SeqId seq) const;
  // S's n token values, gathered through its block table (empty if S is absent).
  std::vector<uint64_t> read_values(SeqId seq) const;
  std::optional<Tick> last_use(SeqId seq) const;
  // Every broken invariant, with expected and actual values; empty when healthy.
  std::vector<std::string> audit() const;
  const Config& config() const { return config_; }

 private:
  struct Page {
    uint32_t refcount = 0;
    std::vector<uint64_t> slots;  // token value per slot (page_size of them)
  };
  struct Sequence {
    std::vector<ModelPageId> block_table;
    uint64_t token_count = 0;  // n
    bool pinned = false;
    Tick last_use = 0;
  };

  uint64_t used_pages() const { return pages_.size(); }
  uint64_t free_pages() const { return config_.max_pages - used_pages(); }
  uint64_t pages_for_tokens(uint64_t token_count) const;
  std::vector<SeqId> eviction_order() const;
  std::optional<std::vector<SeqId>> choose_victims(uint64_t need,
                                                   const std::vector<SeqId>& protected_ids) const;
  ModelPageId new_page();
  void release(ModelPageId page);
  void remove_sequence(SeqId seq);

  Result append(SeqId seq, uint32_t token_count, Tick tick, uint32_t entry,
                const std::vector<SeqId>& protected_ids);
  Result alloc(SeqId seq, Tick tick);
  Result fork(SeqId src, SeqId dst, Tick tick);
  Result truncate(SeqId seq, uint32_t token_count, Tick tick);
  Result evict();
  Result simple(const Op& op, Tick tick);

  Config config_;
  std::map<SeqId, Sequence> sequences_;
  std::map<ModelPageId, Page> pages_;
  ModelPageId next_page_id_ = 0;
  uint64_t token_count_ = 0;  // sum of n over sequences_: the runner reads stats after every op
};

// Replays `trace` through a fresh model and writes its results as the expectations, so the file
// is a regression test on its own. The line numbered `keep_line` (0: none) keeps its own.
void set_model_expectations(Trace& trace, uint32_t keep_line = 0);

}  // namespace kv
