/* The kvharness C ABI: a KV cache as a versioned struct of plain-C function pointers, loaded in
 * process with `--backend so:PATH` (docs/backend-protocol.md has the semantics, its section 8 this
 * ABI; it is the same conversation as the exec: protocol, as calls instead of lines).
 *
 * Two versions, each its own exported symbol; the harness looks for version 2 first:
 *  - version 2, `kvh_backend_v2_entry` returning a `kvh_backend_v2` (below): everything exec:
 *    protocol 2 offers (kvtrace 1 to 3: prefix caching with `hit=`, the request lifecycle, a CPU
 *    pool, sliding windows, KV groups, the semantic variants, the prefix-cache observation);
 *  - version 1, `kvh_backend_v1_entry` returning a `kvh_backend_v1`: kvtrace 1 only. Libraries
 *    built against it keep working unchanged. */
#ifndef KVHARNESS_BACKEND_H
#define KVHARNESS_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KVH_ABI_VERSION 1u

/* Result statuses, in kvtrace's order (docs/semantics.md). */
enum {
  KVH_OK = 0,
  KVH_CAPACITY_EXCEEDED = 1,
  KVH_UNKNOWN_SEQUENCE = 2,
  KVH_SEQUENCE_EXISTS = 3,
  KVH_INVALID_ARGUMENT = 4,
  KVH_NOTHING_TO_EVICT = 5
};

typedef struct kvh_config {
  uint32_t page_size;
  uint32_t max_pages;
  uint32_t eviction; /* 0: none, 1: lru */
  uint32_t kv_heads;
  uint32_t head_dim;
  uint32_t layers;
} kvh_config;

typedef struct kvh_step_entry {
  uint32_t seq;
  uint32_t token_count;
} kvh_step_entry;

/* One op. `name` is its kvtrace name ("alloc", "append", "fork", "step", ...). The harness calls
 * apply() for every op in the profile except info, stats and check, which it answers with the
 * observation functions below. */
typedef struct kvh_op {
  const char* name;
  uint32_t seq;         /* S, or SRC for fork */
  uint32_t count;       /* N, or DST for fork */
  uint32_t entry_count; /* step only */
  const kvh_step_entry* entries;
} kvh_op;

typedef struct kvh_result {
  uint32_t status;
  uint32_t evicted_count;
  const uint32_t* evicted; /* victims in eviction order; valid until the next call on the cache */
} kvh_result;

typedef struct kvh_stats {
  uint64_t used_pages;
  uint64_t free_pages;
  uint64_t sequences;
  uint64_t tokens;
} kvh_stats;

typedef struct kvh_info {
  uint64_t tokens;
  uint64_t pages;
  uint32_t pinned;
} kvh_info;

typedef struct kvh_backend_v1 {
  uint32_t abi_version; /* KVH_ABI_VERSION */
  uint32_t struct_size; /* sizeof(kvh_backend_v1) */
  const char* name;
  /* The profile lines of docs/backend-protocol.md section 2 ("ops ...\neviction ...\n..."),
   * without the `kvbackend` and `ready` lines. */
  const char* profile;
  /* A fresh, empty cache; NULL with a message in `error` when it refuses the config. */
  void* (*create)(const kvh_config* config, char* error, size_t error_size);
  void (*destroy)(void* cache);
  /* Applies `op` at `tick` (token data: docs/backend-protocol.md section 4). Writes one result,
   * or entry_count results for a step. Returns 0, or nonzero when the cache itself failed. */
  int32_t (*apply)(void* cache, const kvh_op* op, uint64_t tick, kvh_result* results);
  void (*stats)(void* cache, kvh_stats* out);
  /* 1 and *out filled when `seq` is live, else 0. */
  int32_t (*info)(void* cache, uint32_t seq, kvh_info* out);
  /* These return how many items there are and write at most `capacity` of them to `out`. */
  size_t (*sequence_ids)(void* cache, uint32_t* out, size_t capacity);
  size_t (*block_table)(void* cache, uint32_t seq, uint64_t* out, size_t capacity);
  size_t (*gather_words)(void* cache, uint32_t seq, uint32_t* out, size_t capacity);
  /* Broken invariants, one per line; returns the bytes needed (0 when healthy). May be NULL. */
  size_t (*audit)(void* cache, char* out, size_t capacity);
} kvh_backend_v1;

/* The one symbol a backend library exports. */
typedef const kvh_backend_v1* (*kvh_backend_v1_entry_fn)(void);
#define KVH_BACKEND_V1_ENTRY "kvh_backend_v1_entry"

/* ---------------------------------------------------------------------------------------------
 * Version 2. The types of version 1 not redefined here (kvh_step_entry, kvh_info and the KVH_*
 * statuses) mean the same. Every pointer the harness passes is valid during the call only;
 * every pointer a library returns (evicted ids, prefix-cache arrays) stays valid until the next
 * call on the same cache. Calls on one cache never overlap; different caches may be used from
 * different threads at once (one per campaign worker), so keep no global mutable state.
 *
 * A minimal library (C):
 *
 *   static void* create(const kvh_config_v2* c, char* error, size_t error_size) {
 *     if (c->kv_group_count > 0) { snprintf(error, error_size, "no KV groups"); return NULL; }
 *     return my_cache_new(c->page_size, c->max_pages);
 *   }
 *   static int32_t apply(void* cache, const kvh_op_v2* op, uint64_t tick, kvh_result_v2* r) {
 *     if (strcmp(op->name, "alloc") == 0) r->status = my_cache_alloc(cache, op->seq);
 *     ...   (one result per op, op->entry_count results for a step)
 *     return 0;
 *   }
 *   static const kvh_backend_v2 table = {
 *     KVH_ABI_VERSION_2, sizeof(kvh_backend_v2), "my-cache",
 *     "ops alloc append free read info stats check\neviction none\ndata yes\n",
 *     create, destroy, apply, stats, info, sequence_ids, block_table, gather_words,
 *     NULL,  (audit: none)
 *     NULL,  (prefix_cache: not reported)
 *   };
 *   const kvh_backend_v2* kvh_backend_v2_entry(void) { return &table; }
 *
 * examples/c-abi-host/kvh_host_v2.cpp is a complete one (the in-tree cache, every feature).
 * ------------------------------------------------------------------------------------------- */

#define KVH_ABI_VERSION_2 2u

/* A null block-table entry (a block out of its sliding window, docs/semantics.md V-W2). */
#define KVH_NULL_PAGE UINT64_MAX
/* At most this many KV groups (docs/semantics.md V-G0). */
#define KVH_KV_GROUPS_MAX 8u

/* The cache config: every key of a kvtrace 3 `config` line, as fields, and the semantic
 * variants (docs/semantics.md section 14) as the words of the line. */
typedef struct kvh_config_v2 {
  uint32_t page_size;
  uint32_t max_pages;
  uint32_t eviction; /* 0: none, 1: lru */
  uint32_t kv_heads;
  uint32_t head_dim;
  uint32_t layers;
  uint32_t prefix_caching; /* 1: prefix_caching=on (kvtrace 2; only with prefill in the profile) */
  uint32_t cpu_pages;      /* the CPU pool of swap_out (kvtrace 3); 0: none */
  uint32_t sliding_window; /* W of section 16; 0: full attention */
  /* Section 17: 0 without kv_groups (one block table, windowed by sliding_window), else 2..8
   * groups, group g with window kv_group_windows[g] (0: full attention); the rest are 0. */
  uint32_t kv_group_count;
  uint32_t kv_group_windows[KVH_KV_GROUPS_MAX];
  /* The variants that are not at their default, as the config line has them, space separated:
   * "append_atomicity=token reuse_order=fifo"; "" when every variant is at its default. A
   * library sees only the variants its profile's `config` line declares. */
  const char* variants;
  /* The whole kvtrace config line ("config page_size=4 max_pages=16 eviction=lru ..."), for a
   * library that would rather parse it (docs/backend-protocol.md section 3). */
  const char* line;
} kvh_config_v2;

/* A prompt segment P:N of prefill and admit: N tokens of prompt stream P, with ids
 * P << 20 | i for i = 0..N-1 (docs/backend-protocol.md section 4). */
typedef struct kvh_segment {
  uint32_t stream;
  uint32_t token_count;
} kvh_segment;

/* One op. `name` is its kvtrace name ("alloc", "append", "prefill", "reserve", ...). The harness
 * calls apply() for every op in the profile except info, stats and check, which it answers with
 * the observation functions below. Ops and counts are as in kvtrace files: a count may be out of
 * range (append 1 0) to test argument checks. */
typedef struct kvh_op_v2 {
  const char* name;
  uint32_t seq;         /* S, or SRC for fork */
  uint32_t count;       /* N (append, truncate, reserve, commit), or DST for fork */
  uint32_t entry_count; /* step: its S:N entries */
  const kvh_step_entry* entries;
  uint32_t segment_count; /* prefill and admit: their P:N prompt segments, in order */
  const kvh_segment* segments;
} kvh_op_v2;

typedef struct kvh_result_v2 {
  uint32_t status;     /* KVH_OK ... KVH_NOTHING_TO_EVICT */
  uint32_t has_hit;    /* 1: the result has `hit=hit_tokens` (a successful prefill, or a reserve
                          of a waiting sequence: docs/backend-protocol.md section 3) */
  uint64_t hit_tokens; /* the prompt tokens served from the prefix cache, when has_hit */
  uint32_t evicted_count;
  const uint32_t* evicted; /* victims in eviction order; valid until the next call on the cache */
} kvh_result_v2;

typedef struct kvh_stats_v2 {
  uint64_t used_pages;
  uint64_t free_pages;
  uint64_t sequences;
  uint64_t tokens;
  uint64_t cached_pages; /* `cached=`: registered pages; read only under prefix_caching=on */
  uint64_t cpu_pages;    /* `cpu=`: CPU pages in use; read only with cpu_pages above 0 */
} kvh_stats_v2;

/* One registered page of the prefix cache: its page id (as in block tables), its key's KV group
 * (0 without kv_groups) and its key, every token id through the end of its block
 * (docs/semantics.md P8). Under the profile line `keys hash` the key is instead the engine's own
 * hash of the block, any key_length words: equal words, equal keys. */
typedef struct kvh_cached_page {
  uint64_t page;
  uint32_t group;
  uint32_t key_length;
  const uint64_t* key;
} kvh_cached_page;

/* What `? cache` answers in the exec: protocol: the registered pages (any order) and the
 * cached-free queue, oldest (next reused) first. */
typedef struct kvh_prefix_cache {
  size_t registered_count;
  const kvh_cached_page* registered;
  size_t queue_count;
  const uint64_t* queue;
} kvh_prefix_cache;

typedef struct kvh_backend_v2 {
  uint32_t abi_version; /* KVH_ABI_VERSION_2 */
  uint32_t struct_size; /* sizeof(kvh_backend_v2); a later version only appends fields */
  const char* name;     /* what reports call it */
  /* The profile lines of docs/backend-protocol.md section 2, newline separated, without the
   * `kvbackend` and `ready` lines: "ops alloc append prefill reserve ...\neviction none lru\n
   * sliding_window 0 1048576\nkv_groups 0 8\ndata yes\naudit yes\nconfig reuse_order=fifo\n".
   * As for exec:, windows and groups only where declared (`sliding_window`, `kv_groups`), and
   * `decline cached queue` and `keys hash` mean the same. */
  const char* profile;
  /* A fresh, empty cache; NULL with a message in `error` when it refuses the config. */
  void* (*create)(const kvh_config_v2* config, char* error, size_t error_size);
  void (*destroy)(void* cache);
  /* Applies `op` at `tick` (token data: docs/backend-protocol.md section 4, prompt tokens and
   * committed tokens included). Writes one result, or entry_count results for a step. Returns 0,
   * or nonzero when the cache itself failed (the run then stops: a backend failure). */
  int32_t (*apply)(void* cache, const kvh_op_v2* op, uint64_t tick, kvh_result_v2* results);
  void (*stats)(void* cache, kvh_stats_v2* out);
  /* 1 and *out filled when `seq` is live (waiting and swapped-out sequences included), else 0. */
  int32_t (*info)(void* cache, uint32_t seq, kvh_info* out);
  /* These return how many items there are and write at most `capacity` of them to `out`; the
   * harness calls again with room for all when the first answer does not fit. */
  size_t (*sequence_ids)(void* cache, uint32_t* out, size_t capacity);
  /* Physical page ids in entry order, KVH_NULL_PAGE for a null entry; with kv_groups every
   * group's table, group 0's first (all equally long; a swapped-out sequence keeps only each
   * group's null entries). 0 for an unknown sequence. */
  size_t (*block_table)(void* cache, uint32_t seq, uint64_t* out, size_t capacity);
  /* The words (data yes only) of group `group`'s tokens [first_token, first_token + token_count)
   * read through its block table, clipped to the tokens it holds: from z*page_size (z: the
   * group's null entries) to n; none for a swapped-out or unknown sequence. Group g's token of
   * value v has the words of v ^ (g << 52). The harness asks for group 0 only without kv_groups,
   * and for (0, UINT64_MAX) to read everything. */
  size_t (*gather_words)(void* cache, uint32_t seq, uint32_t group, uint64_t first_token,
                         uint64_t token_count, uint32_t* out, size_t capacity);
  /* Broken invariants, one per line; returns the bytes needed (0 when healthy). May be NULL. */
  size_t (*audit)(void* cache, char* out, size_t capacity);
  /* Under prefix_caching=on: fills *out and returns 1, or returns 0 to decline (the harness then
   * skips the comparison). May be NULL (never reported). The arrays stay valid until the next
   * call on the cache. */
  int32_t (*prefix_cache)(void* cache, kvh_prefix_cache* out);
} kvh_backend_v2;

/* The symbol a version 2 library exports (it may export kvh_backend_v1_entry as well, for older
 * harnesses; this one is used first). */
typedef const kvh_backend_v2* (*kvh_backend_v2_entry_fn)(void);
#define KVH_BACKEND_V2_ENTRY "kvh_backend_v2_entry"

#ifdef __cplusplus
}
#endif

#endif /* KVHARNESS_BACKEND_H */
