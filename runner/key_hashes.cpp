// KeyHashes: hashes a backend reports for its keys, learned from paired pages and translated.
#include "runner/key_hashes.hpp"

namespace kv {
namespace {

std::string hash_text(uint64_t hash) {
  return "hash #" + std::to_string(hash % 100000);  // the reply's word, folded: for reading only
}

}  // namespace

std::optional<std::string> KeyHashes::learn(uint64_t hash, const Key& key) {
  const auto [by_hash, new_hash] = key_of_hash_.emplace(hash, key);
  const auto [by_key, new_key] = hash_of_key_.emplace(key, hash);
  if (!new_hash && by_hash->second != key) {
    return "one hash for two keys: the backend's " + hash_text(hash) + " names keys of " +
           std::to_string(by_hash->second.size()) + " and " + std::to_string(key.size()) + " ids";
  }
  if (!new_key && by_key->second != hash) {
    return "two hashes for one key: a key of " + std::to_string(key.size()) +
           " ids is the backend's " + hash_text(by_key->second) + " and " + hash_text(hash);
  }
  return std::nullopt;
}

std::optional<std::string> KeyHashes::translate(PrefixCacheView& model_view,
                                                const std::map<uint64_t, uint64_t>& to_model,
                                                PrefixCacheView& backend_view) {
  std::map<uint64_t, Key> model_key_of_page;
  for (const CachedPageView& entry : model_view.registered)
    model_key_of_page[entry.page] = entry.key;
  std::map<uint64_t, uint64_t> hash_of_page;  // backend page -> its hash
  for (const CachedPageView& entry : backend_view.registered) {
    if (entry.key.size() != 1) return std::string("a hashed key must be one word");
    hash_of_page[entry.page] = entry.key[0];
  }
  // Learn from the pages both block tables hold (never from queue positions: their order is
  // what the queue comparison checks).
  for (const auto& [backend_page, model_page] : to_model) {
    const auto hash = hash_of_page.find(backend_page);
    const auto key = model_key_of_page.find(model_page);
    if (hash == hash_of_page.end() || key == model_key_of_page.end()) continue;
    if (auto problem = learn(hash->second, key->second)) return problem;
  }
  // A hash no table has paired yet, and a model key whose hash is not known yet, are all "a key
  // not named yet": counted, queued and paired as one key on both sides, so nothing is reported
  // that the hashes cannot tell, and everything named is compared.
  for (CachedPageView& entry : backend_view.registered) {
    const auto known = key_of_hash_.find(entry.key[0]);
    entry.key = known != key_of_hash_.end() ? known->second : Key{unnamed_key_mark};
  }
  for (CachedPageView& entry : model_view.registered) {
    if (!hash_of_key_.count(entry.key)) entry.key = Key{unnamed_key_mark};
  }
  backend_view.hashed_keys = false;
  return std::nullopt;
}

}  // namespace kv
