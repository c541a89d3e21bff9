// SharingMirror: the page-id bijection between the model and one backend, rebuilt or updated.
#include "runner/sharing.hpp"

#include <algorithm>

namespace kv {

std::optional<std::string> SharingMirror::rebuild(const Model& model, const Backend& backend) {
  sequences_.clear();
  removed_.clear();
  // Every link to 0 references rather than cleared: most pages are linked again below, and
  // freeing and re-allocating their nodes was most of the rebuild's cost. add() treats a link at
  // 0 as new; the ones left at 0 are erased at the end, as a clear would have left them out.
  for (auto& [page, link] : to_backend_) link.reference_count = 0;
  for (auto& [page, link] : to_model_) link.reference_count = 0;
  for (SeqId seq : model.sequence_ids()) {
    Tables tables{model.block_table(seq), backend.block_table(seq), 0};
    if (const auto info = model.info(seq)) tables.token_count = info->token_count;
    if (auto problem = add(model, seq, std::move(tables))) return problem;
  }
  std::erase_if(to_backend_, [](const auto& entry) { return entry.second.reference_count == 0; });
  std::erase_if(to_model_, [](const auto& entry) { return entry.second.reference_count == 0; });
  return std::nullopt;
}

std::optional<uint64_t> SharingMirror::backend_page_of(ModelPageId model_page) const {
  const auto found = to_backend_.find(model_page);
  if (found == to_backend_.end() || found->second.reference_count == 0) return std::nullopt;
  return found->second.other;
}

std::optional<ModelPageId> SharingMirror::model_page_of(uint64_t backend_page) const {
  const auto found = to_model_.find(backend_page);
  if (found == to_model_.end() || found->second.reference_count == 0) return std::nullopt;
  return found->second.other;
}

std::map<uint64_t, uint64_t> SharingMirror::model_pages_by_backend_page() const {
  std::map<uint64_t, uint64_t> out;
  for (const auto& [backend_page, link] : to_model_) {
    if (link.reference_count > 0) out.emplace(backend_page, link.other);
  }
  return out;
}

std::optional<std::string> SharingMirror::update(const Model& model, const Backend& backend,
                                                 std::span<const SeqId> touched,
                                                 std::vector<TokenRange>& to_check) {
  const uint32_t page_size = model.config().page_size;
  std::vector<std::pair<SeqId, Tables>>& now = now_;  // kept between ops: no allocation per op
  now.clear();
  for (SeqId seq : touched) {
    const auto info = model.info(seq);
    if (!info) continue;
    Tables tables{model.block_table(seq), backend.block_table(seq), info->token_count};
    // A table of the wrong length is a finding before anything indexes it by the model's length.
    if (auto problem = length_problem(seq, tables)) return problem;
    // Decided against the bijection as it was before this op, so shared pages are not re-read.
    if (const auto range = changed_tokens(seq, tables, page_size, model.config().groups())) {
      to_check.push_back(*range);
    }
    now.emplace_back(seq, std::move(tables));
  }
  // Unlink every touched sequence first: a page one of them dropped may be reused by another.
  // Their entries stay for add() to overwrite (no node freed and re-made); the ones not re-added
  // (no longer live) are erased after.
  for (SeqId seq : touched) unlink(seq);
  for (auto& [seq, tables] : now) {
    if (auto problem = add(model, seq, std::move(tables))) return problem;
  }
  for (SeqId seq : touched) {
    const bool live = std::any_of(now.begin(), now.end(),
                                  [seq](const auto& entry) { return entry.first == seq; });
    if (!live) sequences_.erase(seq);
  }
  // The removed pages no touched sequence took back were released: forget them (model page ids
  // are never reused, so the maps would grow with the trace).
  for (const auto& [model_page, backend_page] : removed_) {
    const auto forward = to_backend_.find(model_page);
    if (forward != to_backend_.end() && forward->second.reference_count == 0)
      to_backend_.erase(forward);
    const auto reverse = to_model_.find(backend_page);
    if (reverse != to_model_.end() && reverse->second.reference_count == 0)
      to_model_.erase(reverse);
  }
  removed_.clear();
  return std::nullopt;
}

std::optional<TokenRange> SharingMirror::changed_tokens(SeqId seq, const Tables& now,
                                                        uint32_t page_size, uint32_t groups) const {
  const auto old = sequences_.find(seq);
  const bool known = old != sequences_.end();
  uint64_t first = UINT64_MAX;
  uint64_t end = 0;
  // Each group's table in turn (V-G7): entry `entry` holds tokens of position entry % length.
  // A swapped-out sequence's groups keep only their nulls, of unequal lengths: nothing to read.
  const uint64_t length = std::max<uint64_t>(1, now.model.size() / groups);
  for (uint64_t entry = 0; entry < now.model.size(); entry++) {
    const uint64_t page_first = (entry % length) * page_size;
    if (page_first >= now.token_count) continue;
    const uint64_t page_end = std::min<uint64_t>(page_first + page_size, now.token_count);
    if (now.model[entry] == null_page) continue;  // its tokens are gone (V-W3)
    bool moved = false;
    if (known) {
      const Tables& before = old->second;
      moved = entry >= before.model.size() || before.model[entry] != now.model[entry] ||
              before.backend[entry] != now.backend[entry];
    } else {
      const auto link = to_backend_.find(now.model[entry]);  // a page nobody held before
      moved = link == to_backend_.end() || link->second.reference_count == 0;
    }
    // Unmoved pages only change where the op wrote past the old length.
    const uint64_t from =
        moved ? page_first : std::max(page_first, known ? old->second.token_count : page_end);
    if (from < page_end) {
      first = std::min(first, from);
      end = std::max(end, page_end);
    }
  }
  if (first >= end) return std::nullopt;
  return TokenRange{seq, first, end - first};
}

std::optional<std::string> SharingMirror::length_problem(SeqId seq, const Tables& tables) {
  if (tables.model.size() == tables.backend.size()) return std::nullopt;
  return "sequence " + std::to_string(seq) + " block table has " +
         std::to_string(tables.backend.size()) + " entries, model has " +
         std::to_string(tables.model.size());
}

std::optional<std::string> SharingMirror::add(const Model& model, SeqId seq, Tables tables) {
  const Tables& stored = sequences_[seq] = std::move(tables);
  if (auto problem = length_problem(seq, stored)) return problem;
  for (size_t i = 0; i < stored.model.size(); i++) {
    // A null entry pairs only with a null entry (V-W2) and links no page.
    if (stored.model[i] == null_page || stored.backend[i] == null_page) {
      if (stored.model[i] == stored.backend[i]) continue;
      return "sequence " + std::to_string(seq) + " entry " + std::to_string(i) + ": " +
             (stored.backend[i] == null_page
                  ? "null (released for the sliding window) where the model holds page " +
                        std::to_string(model.page_index(stored.model[i]))
                  : "page " + std::to_string(stored.backend[i]) +
                        " where the model's entry is null (out of the sliding window, V-W4)");
    }
    if (model.config().reuse_order != reuse_any) {
      if (auto problem = reuse_problem(model, seq, i, stored.model[i], stored.backend[i]))
        return problem;
    }
    Link& forward = to_backend_[stored.model[i]];
    Link& reverse = to_model_[stored.backend[i]];
    if (forward.reference_count == 0) forward.other = stored.backend[i];
    if (reverse.reference_count == 0) reverse.other = stored.model[i];
    forward.reference_count++;
    reverse.reference_count++;
    if (forward.other != stored.backend[i] || reverse.other != stored.model[i]) {
      return "sequence " + std::to_string(seq) + " entry " + std::to_string(i) + ": page " +
             std::to_string(stored.backend[i]) +
             " is shared differently than in the model (model page " +
             std::to_string(model.page_index(stored.model[i])) + ")";
    }
  }
  return std::nullopt;
}

// Section 14.8: the physical page the model hands out must be the backend's page that was paired
// with it when first used, and a physical page the model never used one the backend never used.
std::optional<std::string> SharingMirror::reuse_problem(const Model& model, SeqId seq, size_t entry,
                                                        ModelPageId model_page,
                                                        uint64_t backend_page) {
  const uint64_t slot = model.page_index(model_page);
  const auto [forward, new_slot] = slot_to_backend_.try_emplace(slot, backend_page);
  const auto [reverse, new_backend_page] = backend_to_slot_.try_emplace(backend_page, slot);
  if (forward->second == backend_page && reverse->second == slot) return std::nullopt;
  const VariantKey& order = *find_variant_key("reuse_order");
  const std::string rule =
      std::string("reuse_order=") + variant_word(model.config(), order) + " (section 14.8)";
  const std::string here = "sequence " + std::to_string(seq) + " entry " + std::to_string(entry) +
                           " is backend page " + std::to_string(backend_page);
  if (!new_slot) {
    return here + ", but " + rule + " gives it model page " + std::to_string(slot) +
           ", which the backend first handed out as page " + std::to_string(forward->second);
  }
  return here + ", which the backend first handed out as model page " +
         std::to_string(reverse->second) + ", but " + rule + " gives it model page " +
         std::to_string(slot) + ", never used before";
}

void SharingMirror::unlink(SeqId seq) {
  const auto found = sequences_.find(seq);
  if (found == sequences_.end()) return;
  Tables& tables = found->second;
  // add() stops at the first mismatch, but a mismatch ends the run, so counts stay paired. A link
  // whose count drops to 0 stays in the map until update() has re-added the touched sequences:
  // most pages come back, and erasing and re-inserting their nodes was most of update()'s cost
  // (fuzz_differential's profile).
  for (size_t i = 0; i < std::min(tables.model.size(), tables.backend.size()); i++) {
    if (tables.model[i] == null_page || tables.backend[i] == null_page) continue;  // unlinked
    removed_.emplace_back(tables.model[i], tables.backend[i]);
    const auto forward = to_backend_.find(tables.model[i]);
    if (forward != to_backend_.end() && forward->second.reference_count > 0)
      forward->second.reference_count--;
    const auto reverse = to_model_.find(tables.backend[i]);
    if (reverse != to_model_.end() && reverse->second.reference_count > 0)
      reverse->second.reference_count--;
  }
  // Unlinked: nothing for a second unlink() (a sequence touched twice) to drop again.
  tables.model.clear();
  tables.backend.clear();
}

}  // namespace kv
