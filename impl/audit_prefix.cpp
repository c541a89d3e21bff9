// Cache::audit_prefix: recomputes every prefix-caching invariant from scratch (keys, pages, queue).
#include <string>

#include "impl/kvcache.hpp"

namespace kvcache {

namespace {
std::string str(uint64_t value) {
  return std::to_string(value);
}
}  // namespace

// Key <-> page one to one; the cached-free queue is exactly the registered pages with refcount 0
// (free_queue=single: every page with refcount 0), once each, with consistent links; unregistered
// free pages have no key; every registered page holds its key's block ids. duplicate_keys=remapped
// keeps one page per key (no rings).
void Cache::audit_prefix(std::vector<std::string>& problems) const {
  const uint32_t max_pages = config_.max_pages;
  if (slot_token_ids_.empty()) {
    if (pages_.queue_size() != 0 || prefix_.key_count() != 0)
      problems.push_back("prefix caching off: expected no keys and an empty queue, actual " +
                         str(prefix_.key_count()) + " keys, " + str(pages_.queue_size()) +
                         " queued");
    return;
  }
  std::vector<uint8_t> queued(max_pages, 0);
  uint64_t walked = 0;
  PageId prev = PagePool::kNoPage;
  for (PageId page = pages_.queue_head(); page != PagePool::kNoPage;
       page = pages_.queue_next(page)) {
    if (page >= max_pages || walked > max_pages) {
      problems.push_back("cached queue: expected a terminated chain of page ids, actual runs off");
      return;
    }
    const auto name = [&] {
      return "cached queue: page " + str(page);
    };  // built only for a problem
    if (queued[page]++ != 0) problems.push_back(name() + ": expected once, found again");
    if (pages_.queue_prev(page) != prev)
      problems.push_back(name() + ": prev link expected " + str(prev) + ", actual " +
                         str(pages_.queue_prev(page)));
    prev = page;
    ++walked;
  }
  if (pages_.queue_tail() != prev)
    problems.push_back("cached queue: tail expected " + str(prev) + ", actual " +
                       str(pages_.queue_tail()));
  if (walked != pages_.queue_size())
    problems.push_back("cached queue: size expected " + str(walked) + " (walked), actual " +
                       str(pages_.queue_size()));
  const std::vector<uint32_t> page_group = page_groups();
  for (PageId page = 0; page < max_pages; ++page) {
    const auto name = [&] { return "page " + str(page); };  // built only for a problem
    const bool registered = pages_.registered(page);
    const detail::NodeId node = prefix_.node_of(page);
    if (registered != (node != detail::PrefixIndex::kNoNode))
      problems.push_back(name() + ": registered flag " + str(registered) + ", expected " +
                         str(node != detail::PrefixIndex::kNoNode) + " (has a key)");
    const bool single = pages_.single_queue();
    const bool idle = (registered || single) && pages_.refcount(page) == 0;
    if (idle != (queued[page] != 0))
      problems.push_back(name() + ": in the " + (single ? "free queue" : "cached queue") +
                         " expected " + str(idle) +
                         (single ? " (refcount 0, free_queue=single), actual "
                                 : " (registered, refcount 0), actual ") +
                         str(queued[page] != 0));
    if (node == detail::PrefixIndex::kNoNode) continue;
    if (node >= prefix_.node_capacity() || !prefix_.live(node) || !key_names(node, page)) {
      problems.push_back(name() + ": its key node " + str(node) + " expected live and naming it");
      continue;
    }
    const detail::NodeId root = key_root(node);
    if (page_group[page] != kNone && root != page_group[page])
      problems.push_back(name() + ": key in group " + str(root) + ", expected group " +
                         str(page_group[page]) + " (the tables holding it, V-G5)");
    const auto ids = prefix_.ids(node);
    for (uint32_t i = 0; i < config_.page_size; ++i) {
      const uint32_t stored = slot_token_ids_[uint64_t{page} * config_.page_size + i];
      if (stored != ids[i]) {
        problems.push_back(name() + " slot " + str(i) + ": token id expected " + str(ids[i]) +
                           " (its key), actual " + str(stored));
        break;
      }
    }
  }
  if (pages_.single_queue() != config_.single_free_queue)
    problems.push_back("free_queue=single expected " + str(config_.single_free_queue) +
                       " (config), actual " + str(pages_.single_queue()) + " (page pool)");
  if (config_.remap_duplicate_keys && prefix_.duplicate_keys())
    problems.push_back("duplicate_keys=remapped: expected one page per key, actual key rings");
  audit_prefix_nodes(problems);
}

// Whether key node `node` (live) names `page`: as its page, or (duplicate_keys=kept) as a page of
// its ring, whose links around `page` agree and stay on the node.
bool Cache::key_names(detail::NodeId node, PageId page) const {
  if (!prefix_.duplicate_keys()) return prefix_.page_of(node) == page;
  const PageId next = prefix_.ring_next(page);
  return prefix_.page_of(node) < config_.max_pages && next < config_.max_pages &&
         prefix_.ring_prev(next) == page && prefix_.node_of(next) == node;
}

// The group root a key node's parent chain reaches; kNoNode for a chain that runs off (a corrupted
// parent, which audit_prefix_nodes names).
detail::NodeId Cache::key_root(detail::NodeId node) const {
  for (uint32_t steps = 0; steps <= prefix_.node_capacity(); ++steps) {
    if (node >= prefix_.node_capacity()) return detail::PrefixIndex::kNoNode;
    if (node < prefix_.root_count()) return node;
    node = prefix_.parent(node);
  }
  return detail::PrefixIndex::kNoNode;
}

// The key nodes: parents live, child counts, hashes, buckets, no duplicate keys, no dead weight.
void Cache::audit_prefix_nodes(std::vector<std::string>& problems) const {
  const uint32_t capacity = prefix_.node_capacity();
  std::vector<uint32_t> children(capacity, 0);
  uint64_t keys = 0;
  for (detail::NodeId node = prefix_.root_count(); node < capacity; ++node) {
    if (!prefix_.live(node)) continue;
    const auto name = [&] { return "key node " + str(node); };  // built only for a problem
    const detail::NodeId parent = prefix_.parent(node);
    if (parent >= capacity || !prefix_.live(parent)) {
      problems.push_back(name() + ": parent " + str(parent) + " expected live");
      continue;
    }
    ++children[parent];
    // Its pages: one, or (duplicate_keys=kept) its ring from the head, each naming it back.
    const PageId page = prefix_.page_of(node);
    for (PageId at = page, steps = 0; at != detail::PrefixIndex::kNoPage; ++steps) {
      ++keys;
      if (at >= config_.max_pages || prefix_.node_of(at) != node || steps >= config_.max_pages) {
        problems.push_back(name() + ": page " + str(at) + " expected to name it back");
        break;
      }
      at = prefix_.duplicate_keys() ? prefix_.ring_next(at) : page;
      if (at == page) break;
    }
    if (prefix_.hash(node) != prefix_.expected_hash(node))
      problems.push_back(name() + ": hash expected " + str(prefix_.expected_hash(node)) +
                         " (parent hash chained with its ids), actual " + str(prefix_.hash(node)));
    if (prefix_.times_in_bucket(node) != 1)
      problems.push_back(name() + ": expected once in its hash bucket, actual " +
                         str(prefix_.times_in_bucket(node)));
    if (prefix_.find(parent, prefix_.ids(node)) != node)
      problems.push_back(name() + ": lookup by (parent, ids) expected it, actual node " +
                         str(prefix_.find(parent, prefix_.ids(node))) + " (a duplicate key)");
  }
  for (detail::NodeId node = 0; node < capacity; ++node) {
    if (!prefix_.live(node)) continue;
    if (prefix_.child_count(node) != children[node])
      problems.push_back("key node " + str(node) + ": child count expected " + str(children[node]) +
                         ", actual " + str(prefix_.child_count(node)));
    if (node >= prefix_.root_count() && children[node] == 0 &&
        prefix_.page_of(node) == detail::PrefixIndex::kNoPage)
      problems.push_back("key node " + str(node) +
                         ": unregistered and childless, expected removed");
  }
  if (keys != prefix_.key_count())
    problems.push_back("key count expected " + str(keys) + " (registered pages), actual " +
                       str(prefix_.key_count()));
}

}  // namespace kvcache
