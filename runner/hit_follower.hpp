// HitFollower: under duplicate_hit=any, the model pages a backend's hit took (V-K7).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "model/model.hpp"
#include "runner/backend.hpp"

namespace kv {

// docs/semantics.md V-K7: a hit on a key registered to several pages may take any of them, and
// the model takes the page the backend took. Made before the backend applies the op, it finds
// each candidate page's backend page: the page the backend's block table holds where the model's
// holds it, or for a page with refcount 0 the backend's cached queue at the model's position
// (pages of one key are told apart by where they wait). Pages the backend does not report (no
// `? cache`, or its queue order declined) stay unknown.
class HitFollower {
 public:
  HitFollower(const Model& model, const Backend& backend, const Op& op);
  // Whether the op hits a key with several pages, so the backend must apply it first.
  bool needed() const { return !hits_.empty(); }
  // After the backend applied the op, creating `seq`: the model page of each such hit, read from
  // the backend's block table. A backend page that is none of the key's pages gives no choice
  // (the model takes the first, V-K2, and the runner reports the difference as ever); one that is
  // no known page is taken for the key's first queued page whose backend page is unknown.
  std::vector<Model::HitChoice> choices(const Backend& backend, SeqId seq, uint32_t groups) const;
  // After the backend failed the op, which shows no choice: for each such hit a page of the key
  // that waits in the queue, if it has one. That choice needs the most room whatever the victims,
  // so the model fails wherever some choice fails; a failed op changes nothing (F1).
  std::vector<Model::HitChoice> costliest_choices() const;
  // Whether `choices` take a page other than the first registered one (V-K2) somewhere.
  bool departs_from_first(const std::vector<Model::HitChoice>& choices) const;

 private:
  std::vector<Model::DuplicateHit> hits_;
  std::vector<std::vector<std::optional<uint64_t>>> backend_pages_;  // per hit, per page
};

}  // namespace kv
