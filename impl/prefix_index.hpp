// PrefixIndex: the registered block keys of prefix caching, as a tree of key nodes found through a
// hash map on a chained 64-bit hash.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "impl/check.hpp"
#include "impl/page_pool.hpp"

namespace kvcache {
struct PrefixIndexTestAccess;  // test-only hook (tests/cache_test_access.hpp) to corrupt internals
}  // namespace kvcache

namespace kvcache::detail {

using NodeId = uint32_t;

// A key is a whole token-id prefix through the end of a block. It is stored as a node: (parent
// node = the key one block shorter, the block's page_size ids). Node kRoot is the empty prefix;
// with KV groups nodes 0 .. G-1 are each group's empty prefix (keys per group, V-G5).
// A node's hash chains its parent's hash with its ids; the map goes from hash to nodes (chained
// buckets), and a lookup compares the parent node and every id, so a hash collision can never
// give a wrong hit.
//
// A node is *registered* while it has a page. A node lives while it is registered or has child
// nodes (a key may stay registered after the key one block shorter lost its page; then the
// parent node stays, unregistered, so the child is still found by key). A node that loses both is
// removed, and so on up the tree: each node is removed once, so that is O(1) amortized.
//
// duplicate_keys=kept (docs/semantics.md V-K1..V-K3): a key may name several pages. They form a
// ring through per-page links (allocated only then), oldest registration first: page_of(node) is
// the ring's head (the page a hit takes), and unregistering one page drops it from the ring alone.
//
// Invariants (Cache::audit() checks them): node_of(page) and page_of(node) are inverse on the
// registered nodes (with duplicate keys: every page of a node's ring names the node, once);
// child_count is the number of live nodes naming the node as parent; every live non-root node is
// registered or has children; each live node is in the bucket of its hash, once; no two live nodes
// have the same (parent, ids).
class PrefixIndex {
 public:
  static constexpr NodeId kRoot = 0;
  static constexpr NodeId kNoNode = UINT32_MAX;
  static constexpr PageId kNoPage = UINT32_MAX;

  PrefixIndex(uint32_t page_size, uint32_t page_count, uint32_t root_count = 1,
              bool duplicate_keys = false)
      : page_size_(page_size), root_count_(root_count), node_of_page_(page_count, kNoNode) {
    if (duplicate_keys) {
      ring_next_.assign(page_count, kNoPage);
      ring_prev_.assign(page_count, kNoPage);
    }
    for (NodeId root = 0; root < root_count; ++root)
      nodes_.push_back(Node{root_hash(root), kNoNode, 0, kNoPage, kNoNode, true});
    ids_.resize(uint64_t{page_size} * root_count);  // the roots' ids are never read
    buckets_.assign(64, kNoNode);
  }

  // The live node for (parent, ids), or kNoNode. O(page_size) expected.
  NodeId find(NodeId parent, std::span<const uint32_t> ids) const {
    const uint64_t hash = chain_hash(nodes_[parent].hash, ids);
    for (NodeId node = buckets_[bucket(hash)]; node != kNoNode; node = nodes_[node].next) {
      if (matches(node, hash, parent, ids)) return node;
    }
    return kNoNode;
  }

  // The node for (parent, ids), created unregistered if absent.
  NodeId find_or_add(NodeId parent, std::span<const uint32_t> ids) {
    const NodeId found = find(parent, ids);
    if (found != kNoNode) return found;
    if (live_count_ + 1 > buckets_.size()) rehash(buckets_.size() * 2);
    const NodeId node = new_node();
    const uint64_t hash = chain_hash(nodes_[parent].hash, ids);
    const uint64_t b = bucket(hash);
    nodes_[node] = Node{hash, parent, 0, kNoPage, buckets_[b], true};
    buckets_[b] = node;
    std::copy(ids.begin(), ids.end(), ids_.begin() + uint64_t{node} * page_size_);
    ++nodes_[parent].child_count;
    return node;
  }

  PageId page_of(NodeId node) const { return nodes_[node].page; }
  NodeId node_of(PageId page) const { return node_of_page_[page]; }
  uint32_t key_count() const { return key_count_; }

  // Registers `page` under `node`'s key. The page must be free of keys, and so must the key unless
  // duplicate keys are kept (then the page joins the end of the key's ring).
  void assign(NodeId node, PageId page) {
    const PageId head = nodes_[node].page;
    KV_CHECK((head == kNoPage || duplicate_keys()) && node_of_page_[page] == kNoNode,
             "PrefixIndex::assign: key or page already registered (caller skipped the check)");
    node_of_page_[page] = node;
    ++key_count_;
    if (duplicate_keys()) {
      // Into the ring before its head, i.e. last: the head stays the oldest registration (V-K2).
      const PageId tail = head == kNoPage ? page : ring_prev_[head];
      const PageId next = head == kNoPage ? page : head;
      ring_prev_[page] = tail;
      ring_next_[page] = next;
      ring_next_[tail] = page;
      ring_prev_[next] = page;
      if (head != kNoPage) return;
    }
    nodes_[node].page = page;
  }

  // Drops `page`'s key, if it has one, and removes the nodes no longer needed. With duplicate keys
  // the key's other pages keep it (V-K3).
  void unregister(PageId page) {
    const NodeId node = node_of_page_[page];
    if (node == kNoNode) return;
    node_of_page_[page] = kNoNode;
    --key_count_;
    if (duplicate_keys() && ring_next_[page] != page) {
      const PageId next = ring_next_[page];
      const PageId prev = ring_prev_[page];
      ring_next_[prev] = next;
      ring_prev_[next] = prev;
      ring_next_[page] = ring_prev_[page] = kNoPage;
      if (nodes_[node].page == page) nodes_[node].page = next;
      return;
    }
    if (duplicate_keys()) ring_next_[page] = ring_prev_[page] = kNoPage;
    nodes_[node].page = kNoPage;
    prune(node);
  }

  bool duplicate_keys() const { return !ring_next_.empty(); }
  // The next page of `page`'s key ring (duplicate keys only; itself when it is the only one).
  PageId ring_next(PageId page) const { return ring_next_[page]; }
  PageId ring_prev(PageId page) const { return ring_prev_[page]; }

  // ---- read access for audit() and observers ----
  uint32_t page_size() const { return page_size_; }
  uint32_t root_count() const { return root_count_; }  // node g is group g's root
  // The group of `node`'s key: the root its parent chain reaches.
  NodeId root_of(NodeId node) const {
    while (node >= root_count_) node = nodes_[node].parent;
    return node;
  }
  uint32_t node_capacity() const { return static_cast<uint32_t>(nodes_.size()); }
  bool live(NodeId node) const { return nodes_[node].live; }
  NodeId parent(NodeId node) const { return nodes_[node].parent; }
  uint32_t child_count(NodeId node) const { return nodes_[node].child_count; }
  uint64_t hash(NodeId node) const { return nodes_[node].hash; }
  std::span<const uint32_t> ids(NodeId node) const {
    return {ids_.data() + uint64_t{node} * page_size_, page_size_};
  }
  uint64_t expected_hash(NodeId node) const {
    return node < root_count_ ? root_hash(node)
                              : chain_hash(nodes_[nodes_[node].parent].hash, ids(node));
  }
  // Whether `node` is in the bucket chain of its hash (exactly once is checked by the caller).
  uint32_t times_in_bucket(NodeId node) const {
    uint32_t times = 0;
    uint32_t steps = 0;
    for (NodeId n = buckets_[bucket(nodes_[node].hash)]; n != kNoNode && steps <= nodes_.size();
         n = nodes_[n].next, ++steps) {
      times += n == node ? 1 : 0;
    }
    return times;
  }

 private:
  friend struct ::kvcache::PrefixIndexTestAccess;
  struct Node {
    uint64_t hash;
    NodeId parent;
    uint32_t child_count;
    PageId page;  // kNoPage: unregistered
    NodeId next;  // next node in the same bucket, or next free node
    bool live;
  };

  // Group 0's root hash is the one-group index's; each group's roots differ, so do their keys.
  static uint64_t root_hash(NodeId root) { return 0xCBF29CE484222325ull ^ (uint64_t{root} << 56); }

  static uint64_t chain_hash(uint64_t parent_hash, std::span<const uint32_t> ids) {
    uint64_t h = parent_hash;
    for (const uint32_t id : ids) {
      h = (h ^ id) * 0x100000001B3ull;
      h ^= h >> 29;
    }
    h *= 0xBF58476D1CE4E5B9ull;
    return h ^ (h >> 32);
  }

  uint64_t bucket(uint64_t hash) const { return hash & (buckets_.size() - 1); }

  bool matches(NodeId node, uint64_t hash, NodeId parent, std::span<const uint32_t> ids) const {
    const Node& n = nodes_[node];
    if (n.hash != hash || n.parent != parent) return false;
    const uint32_t* stored = ids_.data() + uint64_t{node} * page_size_;
    for (uint32_t i = 0; i < page_size_; ++i) {
      if (stored[i] != ids[i]) return false;
    }
    return true;
  }

  NodeId new_node() {
    ++live_count_;
    if (free_node_ != kNoNode) {
      const NodeId node = free_node_;
      free_node_ = nodes_[node].next;
      return node;
    }
    KV_CHECK(nodes_.size() < kNoNode, "PrefixIndex: node id space exhausted");
    nodes_.push_back(Node{});
    ids_.resize(ids_.size() + page_size_);
    return static_cast<NodeId>(nodes_.size() - 1);
  }

  // Removes `node` and then its ancestors while they are unregistered and childless.
  void prune(NodeId node) {
    while (node >= root_count_ && nodes_[node].page == kNoPage && nodes_[node].child_count == 0) {
      const NodeId parent = nodes_[node].parent;
      unlink_from_bucket(node);
      nodes_[node].live = false;
      nodes_[node].next = free_node_;
      free_node_ = node;
      --live_count_;
      --nodes_[parent].child_count;
      node = parent;
    }
  }

  void unlink_from_bucket(NodeId node) {
    NodeId* link = &buckets_[bucket(nodes_[node].hash)];
    while (*link != node) link = &nodes_[*link].next;
    *link = nodes_[node].next;
  }

  void rehash(uint64_t bucket_count) {
    buckets_.assign(bucket_count, kNoNode);
    for (NodeId node = root_count_; node < nodes_.size(); ++node) {
      if (!nodes_[node].live) continue;
      const uint64_t b = bucket(nodes_[node].hash);
      nodes_[node].next = buckets_[b];
      buckets_[b] = node;
    }
  }

  uint32_t page_size_;
  uint32_t root_count_;               // one root per KV group
  std::vector<Node> nodes_;           // nodes 0 .. root_count_-1 are the roots
  std::vector<uint32_t> ids_;         // page_size ids per node
  std::vector<NodeId> buckets_;       // power of two; chains through Node::next
  std::vector<NodeId> node_of_page_;  // per page: its key's node, or kNoNode
  NodeId free_node_ = kNoNode;
  // duplicate_keys=kept only (else empty): per registered page, the next and previous page of its
  // key's ring; kNoPage for a page without a key.
  std::vector<PageId> ring_next_, ring_prev_;
  uint32_t live_count_ = 0;  // live nodes besides the root
  uint32_t key_count_ = 0;   // registered pages (one per registered node without duplicate keys)
};

}  // namespace kvcache::detail
