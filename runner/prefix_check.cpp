// The runner's prefix-caching checks: keys and queue up to renaming, and the data of prefill hits.
#include "runner/prefix_check.hpp"

#include <algorithm>
#include <functional>
#include <map>

#include "trace/token.hpp"

namespace kv {
namespace {

using Key = std::vector<uint64_t>;

// A key of group g > 0 starts with this mark (fold_groups); no token id is this large, and
// unnamed_key_mark is above every mark.
uint64_t group_key_mark(uint32_t group) {
  return unnamed_key_mark - 1 - group;
}

// Each registration's group becomes part of its key (V-G5: the same ids in two groups are two
// keys), so the comparisons below and the hash translation need not know groups.
void fold_groups(PrefixCacheView& view) {
  for (CachedPageView& entry : view.registered) {
    if (entry.group == 0) continue;
    entry.key.insert(entry.key.begin(), group_key_mark(entry.group));
    entry.group = 0;
  }
}

// "key of 8 ids, 5:0 .. 5:7" style: enough to find the prompt in the trace.
std::string describe_key(const Key& key) {
  const auto id_text = [](uint64_t id) {
    if (!is_prompt_token(id)) return std::string("generated");
    return std::to_string(id >> 20) + ":" + std::to_string(id & 0xFFFFF);
  };
  if (key.empty()) return "empty key";
  if (key.size() == 1 && key[0] == unnamed_key_mark) return "a key no block table has named yet";
  if (key[0] < unnamed_key_mark && key[0] >= group_key_mark(kv_groups_max - 1)) {
    return "group " + std::to_string(unnamed_key_mark - 1 - key[0]) + " " +
           describe_key(Key(key.begin() + 1, key.end()));
  }
  return "key of " + std::to_string(key.size()) + " ids, " + id_text(key.front()) + " .. " +
         id_text(key.back());
}

// Every registration's page by key: a key may be registered more than once (duplicate_keys=kept),
// so a key holds a list of pages, in the reporter's order. The keys point into the view (no copy
// per registration), which must outlive the map.
using KeyPages = std::map<std::reference_wrapper<const Key>, std::vector<uint64_t>, std::less<Key>>;
KeyPages pages_by_key(const PrefixCacheView& view) {
  KeyPages keys;
  for (const CachedPageView& entry : view.registered) keys[entry.key].push_back(entry.page);
  return keys;
}

// Each registered page's key (pointing into `view`, which must outlive the map).
std::map<uint64_t, const Key*> by_page(const PrefixCacheView& view) {
  std::map<uint64_t, const Key*> pages;
  for (const CachedPageView& entry : view.registered) pages[entry.page] = &entry.key;
  return pages;
}

// The renaming the block tables fix, as the sharing check's last rebuild holds it, for the pages
// the key pairing looks up: the model's registered pages and the backend's. A hashed view's
// translation learns from every pair, so it gets them all.
void block_table_renaming(const PrefixCacheView& model_view, const PrefixCacheView& backend_view,
                          const SharingMirror& renaming, std::map<uint64_t, uint64_t>& to_backend,
                          std::map<uint64_t, uint64_t>& to_model) {
  if (backend_view.hashed_keys) {
    to_model = renaming.model_pages_by_backend_page();
    for (const auto& [backend_page, model_page] : to_model)
      to_backend.emplace(model_page, backend_page);
    return;
  }
  for (const CachedPageView& entry : model_view.registered) {
    if (const auto page = renaming.backend_page_of(entry.page))
      to_backend.emplace(entry.page, *page);
  }
  for (const CachedPageView& entry : backend_view.registered) {
    if (const auto page = renaming.model_page_of(entry.page)) to_model.emplace(entry.page, *page);
  }
}

std::string times(size_t count) {
  return count == 1 ? "once" : std::to_string(count) + " times";
}

std::string join(const std::vector<uint64_t>& pages) {
  std::string out;
  for (uint64_t page : pages) out += (out.empty() ? "" : ",") + std::to_string(page);
  return out;
}

// "model page 2" / "model pages 2,5": model pages as reports print them (Model::page_index).
std::string model_pages_text(const Model& model, const std::vector<uint64_t>& pages) {
  return std::string(pages.size() == 1 ? "model page " : "model pages ") +
         join(model.page_indices(pages));
}

std::string backend_pages_text(const std::vector<uint64_t>& pages) {
  return std::string(pages.size() == 1 ? "backend page " : "backend pages ") + join(pages);
}

// The same keys registered on both sides, as multisets: each key as many times on both. Each
// message: the rule, ": ", then the key and the pages on both sides.
std::optional<std::string> compare_keys(const Model& model, const KeyPages& model_keys,
                                        const KeyPages& backend_keys) {
  for (const auto& [key, pages] : model_keys) {
    const auto found = backend_keys.find(key);
    if (found == backend_keys.end()) {
      return "registered in the model, not in the backend: " + describe_key(key) + " on " +
             model_pages_text(model, pages);
    }
    if (found->second.size() != pages.size()) {
      return "a key registered a different number of times: " + describe_key(key) + ", " +
             times(pages.size()) + " in the model (" + model_pages_text(model, pages) + "), " +
             times(found->second.size()) + " in the backend (" + backend_pages_text(found->second) +
             ")";
    }
  }
  for (const auto& [key, pages] : backend_keys) {
    if (!model_keys.count(key)) {
      return "registered in the backend, not in the model: " + describe_key(key) + " on " +
             backend_pages_text(pages);
    }
  }
  return std::nullopt;
}

// Pairs each key's model pages with its backend pages, extending the renaming the block tables
// fixed: a page a table pairs must be registered under the same key on both sides; the others
// (free, cached pages) pair in order, since pages of one key are interchangeable.
std::optional<std::string> pair_pages(const Model& model, const KeyPages& model_keys,
                                      const KeyPages& backend_keys,
                                      std::map<uint64_t, uint64_t>& to_backend,
                                      std::map<uint64_t, uint64_t>& to_model) {
  for (const auto& [key, model_pages] : model_keys) {
    std::vector<uint64_t> unclaimed = backend_keys.at(key);
    std::vector<uint64_t> unpaired;
    for (const uint64_t model_page : model_pages) {
      const auto forward = to_backend.find(model_page);
      if (forward == to_backend.end()) {
        unpaired.push_back(model_page);
        continue;
      }
      const auto claimed = std::find(unclaimed.begin(), unclaimed.end(), forward->second);
      if (claimed == unclaimed.end()) {
        return "a key on another page than the block tables pair: " + describe_key(key) + " on " +
               model_pages_text(model, {model_page}) +
               ", which the block tables pair with backend page " +
               std::to_string(forward->second) + "; the backend registers it on " +
               backend_pages_text(backend_keys.at(key));
      }
      unclaimed.erase(claimed);
    }
    for (size_t i = 0; i < unpaired.size(); i++) {
      const uint64_t backend_page = unclaimed[i];  // compare_keys: as many on both sides
      const auto [reverse, new_reverse] = to_model.emplace(backend_page, unpaired[i]);
      if (!new_reverse && reverse->second != unpaired[i]) {
        return "a backend page that plays two parts: " + describe_key(key) + " on backend page " +
               std::to_string(backend_page) + ", which plays the part of " +
               model_pages_text(model, {reverse->second}) + ", not of " +
               model_pages_text(model, {unpaired[i]});
      }
      to_backend.emplace(unpaired[i], backend_page);
    }
  }
  return std::nullopt;
}

// Position `i` of the cached queues: a difference in words, or nullopt.
std::optional<std::string> queue_position_problem(
    const Model& model, const PrefixCacheView& model_view, const PrefixCacheView& backend_view,
    const std::map<uint64_t, const Key*>& model_pages,
    const std::map<uint64_t, const Key*>& backend_pages, size_t i) {
  const bool in_model = i < model_view.queue.size();
  const bool in_backend = i < backend_view.queue.size();
  if (in_model && in_backend) {  // the common case, without building the texts
    const auto model_entry = model_pages.find(model_view.queue[i]);
    const auto backend_entry = backend_pages.find(backend_view.queue[i]);
    if (model_entry != model_pages.end() && backend_entry != backend_pages.end() &&
        *model_entry->second == *backend_entry->second)
      return std::nullopt;
  }
  const auto model_key = in_model && model_pages.count(model_view.queue[i])
                             ? describe_key(*model_pages.at(model_view.queue[i]))
                             : std::string(in_model ? "an unregistered page" : "nothing");
  const auto backend_key = in_backend && backend_pages.count(backend_view.queue[i])
                               ? describe_key(*backend_pages.at(backend_view.queue[i]))
                               : std::string(in_backend ? "an unregistered page" : "nothing");
  if (model_key != backend_key ||
      (in_model && in_backend &&
       *model_pages.at(model_view.queue[i]) != *backend_pages.at(backend_view.queue[i]))) {
    const std::string model_page =
        in_model ? " (" + model_pages_text(model, {model_view.queue[i]}) + ")" : "";
    const std::string backend_page =
        in_backend ? " (backend page " + std::to_string(backend_view.queue[i]) + ")" : "";
    return "the cached queue differs at a position: position " + std::to_string(i) +
           " (0 = next reused), model holds " + model_key + model_page + ", backend holds " +
           backend_key + backend_page;
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> compare_prefix_cache(const Model& model, const Backend& backend,
                                                KeyHashes& hashes, const SharingMirror& renaming) {
  std::optional<PrefixCacheView> backend_view = backend.prefix_cache();
  if (!backend_view) return std::nullopt;
  PrefixCacheView model_view = model.prefix_cache();
  // Nothing registered or queued on either side: every comparison below is empty.
  if (model_view.registered.empty() && backend_view->registered.empty() &&
      model_view.queue.empty() && backend_view->queue.empty())
    return std::nullopt;
  fold_groups(model_view);
  fold_groups(*backend_view);
  std::map<uint64_t, uint64_t> to_backend, to_model;
  block_table_renaming(model_view, *backend_view, renaming, to_backend, to_model);
  const bool queue_compared = !backend.declined().queue_order;
  if (backend_view->hashed_keys) {
    if (auto problem = hashes.translate(model_view, to_model, *backend_view)) return problem;
  }
  const auto model_keys = pages_by_key(model_view);
  const auto backend_keys = pages_by_key(*backend_view);
  if (auto problem = compare_keys(model, model_keys, backend_keys)) return problem;
  if (auto problem = pair_pages(model, model_keys, backend_keys, to_backend, to_model)) {
    return problem;
  }
  if (!queue_compared) return std::nullopt;
  const auto model_pages = by_page(model_view);
  const auto backend_pages = by_page(*backend_view);
  const size_t length = std::max(model_view.queue.size(), backend_view->queue.size());
  for (size_t i = 0; i < length; i++) {
    if (auto problem =
            queue_position_problem(model, model_view, *backend_view, model_pages, backend_pages, i))
      return problem;
  }
  return std::nullopt;
}

std::optional<std::string> check_prefill_data(const Op& op, const Config& config, Backend& backend,
                                              std::span<const uint64_t> first_tokens) {
  const auto ids = prompt_token_ids(op.entries);
  if (!ids) return "prefill succeeded with invalid segments";
  if (!backend.stores_data()) return std::nullopt;  // `data no`: there are no words to ask for
  const std::vector<uint64_t> values = prompt_token_values(*ids);
  uint64_t token_count = 0;  // over every group, each from its first token (V-G2)
  for (const uint64_t first : first_tokens)
    token_count += values.size() - std::min(first, values.size());
  const std::vector<uint32_t> words = backend.gather_words(op.seq);
  const uint64_t words_per_token = config.words_per_token();
  if (words.size() != token_count * words_per_token) {
    return "prefill of sequence " + std::to_string(op.seq) + ": read returned " +
           std::to_string(words.size()) + " words, expected " +
           std::to_string(token_count * words_per_token);
  }
  std::vector<uint32_t> expected(words_per_token);
  uint64_t at = 0;  // the next word of `words`
  for (uint32_t g = 0; g < first_tokens.size(); g++) {
    for (uint64_t k = first_tokens[g]; k < values.size(); k++, at += words_per_token) {
      fill_token_words(group_token_value(values[k], g), config, expected);
      for (uint64_t w = 0; w < words_per_token; w++) {
        if (words[at + w] == expected[w]) continue;
        return "prefill of sequence " + std::to_string(op.seq) + ": " +
               (first_tokens.size() > 1 ? "group " + std::to_string(g) + " " : "") + "token " +
               std::to_string(k) + " (prompt id " + std::to_string((*ids)[k] >> 20) + ":" +
               std::to_string((*ids)[k] & 0xFFFFF) + ") word " + std::to_string(w) + " expected " +
               std::to_string(expected[w]) + " (the prompt's value), actual " +
               std::to_string(words[at + w]);
      }
    }
  }
  return std::nullopt;
}

}  // namespace kv
