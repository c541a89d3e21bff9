// SharingMirror: the runner's copy of the page-id renaming between the model and one backend, kept
// up to date op by op so a per-op check only looks at the sequences that op touched.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "model/model.hpp"
#include "runner/backend.hpp"

namespace kv {

// Tokens [first_token, first_token + token_count) of one sequence, to compare word for word.
struct TokenRange {
  SeqId seq = 0;
  uint64_t first_token = 0;
  uint64_t token_count = 0;
};

// Page sharing must match up to a renaming of page ids: a bijection model page <-> backend page,
// induced by every live sequence's pair of block tables. The mirror holds each sequence's last
// seen tables and the bijection with a reference count per page, so that re-reading the tables of
// a few sequences updates it in time proportional to those tables.
class SharingMirror {
 public:
  // Forgets everything and rebuilds from every live sequence (the whole-state comparison).
  std::optional<std::string> rebuild(const Model& model, const Backend& backend);

  // Re-reads the tables of `touched` (the sequences an op named or evicted; every other sequence
  // is assumed unchanged until the next rebuild) and checks the bijection. Adds to `to_check` the
  // tokens of each touched sequence that the op wrote or moved to another page: pages new to the
  // sequence that no other sequence held before, and the tokens beyond its old length.
  std::optional<std::string> update(const Model& model, const Backend& backend,
                                    std::span<const SeqId> touched,
                                    std::vector<TokenRange>& to_check);

  // The renaming as the last successful rebuild() left it (what the block tables pair): the
  // backend page of a model page, the model page of a backend page, nullopt if unpaired.
  std::optional<uint64_t> backend_page_of(ModelPageId model_page) const;
  std::optional<ModelPageId> model_page_of(uint64_t backend_page) const;
  // Every pair, by backend page: backend page -> model page.
  std::map<uint64_t, uint64_t> model_pages_by_backend_page() const;

 private:
  struct Tables {
    std::vector<ModelPageId> model;
    std::vector<uint64_t> backend;
    uint64_t token_count = 0;
  };
  struct Link {
    uint64_t other = 0;            // the page this one is paired with
    uint64_t reference_count = 0;  // block-table entries holding the pair
  };

  static std::optional<std::string> length_problem(SeqId seq, const Tables& tables);
  std::optional<std::string> add(const Model& model, SeqId seq, Tables tables);
  void unlink(SeqId seq);  // drops its tables' links; its entry stays, emptied
  std::optional<TokenRange> changed_tokens(SeqId seq, const Tables& now, uint32_t page_size,
                                           uint32_t groups) const;
  std::optional<std::string> reuse_problem(const Model& model, SeqId seq, size_t entry,
                                           ModelPageId model_page, uint64_t backend_page);

  std::unordered_map<SeqId, Tables> sequences_;
  std::unordered_map<uint64_t, Link> to_backend_;  // model page -> backend page
  std::unordered_map<uint64_t, Link> to_model_;    // backend page -> model page
  // Pages (model, backend) of the tables unlink() dropped during one update(); their links may sit
  // at reference_count 0 until update() erases the ones nobody took back.
  std::vector<std::pair<uint64_t, uint64_t>> removed_;
  std::vector<std::pair<SeqId, Tables>> now_;  // update()'s tables read this op
  // reuse_order=lifo|fifo (section 14.8): the model's physical pages <-> the backend's, paired the
  // first time each is handed out and kept for the whole run (never rebuilt); at most max_pages.
  std::unordered_map<uint64_t, uint64_t> slot_to_backend_;
  std::unordered_map<uint64_t, uint64_t> backend_to_slot_;
};

}  // namespace kv
