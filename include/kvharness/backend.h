/* The kvharness C ABI, version 1: a KV cache as a versioned struct of plain-C function pointers,
 * loaded in process with `--backend so:PATH` (docs/backend-protocol.md has the semantics; this is
 * the same conversation as the exec: protocol, as calls instead of lines). */
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

#ifdef __cplusplus
}
#endif

#endif /* KVHARNESS_BACKEND_H */
