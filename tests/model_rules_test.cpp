// One test per rule of the contract (docs/semantics.md): each rule is a tiny trace the model must
// pass.
#include <gtest/gtest.h>

#include "model/model.hpp"
#include "trace/gen.hpp"
#include "trace/trace.hpp"

namespace kv {
namespace {

struct Rule {
  const char* name;
  const char* trace;  // without the header: every rule holds under `kvtrace 3` (V-L0)
};

// Changing any rule of the contract makes at least one of these expectations wrong.
const Rule rules[] = {
    {"alloc_creates_sequence_with_one_page",
     "config page_size=4 max_pages=3\nalloc 1 => ok\ninfo 1 => ok tokens=0 pages=1 pinned=0\n"},
    {"alloc_appends_a_reserved_page",
     "config page_size=4 max_pages=3\nalloc 1 => ok\nalloc 1 => ok\ninfo 1 => ok tokens=0 pages=2 "
     "pinned=0\n"},
    {"alloc_fails_at_max_pages_without_eviction",
     "config page_size=4 max_pages=2\nalloc 1 => ok\nalloc 2 => ok\nalloc 3 => capacity_exceeded\n"
     "stats => ok used=2 free=0 sequences=2 tokens=0\n"},
    {"failed_alloc_creates_nothing",
     "config page_size=4 max_pages=1\nalloc 1 => ok\nalloc 2 => capacity_exceeded\ninfo 2 => "
     "unknown_sequence\n"},
    {"append_zero_is_invalid_before_existence",
     "config page_size=4 max_pages=2\nappend 9 0 => invalid_argument\ninfo 9 => "
     "unknown_sequence\n"},
    {"append_over_limit_is_invalid",
     "config page_size=4 max_pages=2\nappend 1 1048577 => invalid_argument\nappend 1 1048576 => "
     "capacity_exceeded\n"},
    {"append_creates_sequence_and_allocates_ceil_pages",
     "config page_size=4 max_pages=3\nappend 1 5 => ok\ninfo 1 => ok tokens=5 pages=2 pinned=0\n"},
    {"append_fills_the_last_page_before_allocating",
     "config page_size=4 max_pages=2\nappend 1 3 => ok\nappend 1 1 => ok\nstats => ok used=1 "
     "free=1 sequences=1 tokens=4\n"
     "append 1 1 => ok\nstats => ok used=2 free=0 sequences=1 tokens=5\n"},
    {"append_uses_reserved_pages_first",
     "config page_size=2 max_pages=2\nalloc 1 => ok\nalloc 1 => ok\nappend 1 4 => ok\ninfo 1 => ok "
     "tokens=4 pages=2 pinned=0\n"},
    {"append_needing_more_than_free_fails_whole",
     "config page_size=2 max_pages=2\nappend 1 1 => ok\nappend 1 4 => capacity_exceeded\ninfo 1 => "
     "ok tokens=1 pages=1 pinned=0\n"},
    {"fork_requires_source", "config page_size=4 max_pages=2\nfork 1 2 => unknown_sequence\n"},
    {"fork_source_checked_before_destination",
     "config page_size=4 max_pages=2\nalloc 2 => ok\nfork 1 2 => unknown_sequence\n"},
    {"fork_onto_existing_or_itself_fails",
     "config page_size=4 max_pages=2\nalloc 1 => ok\nalloc 2 => ok\nfork 1 2 => "
     "sequence_exists\nfork 1 1 => sequence_exists\n"},
    {"fork_shares_token_pages_without_allocating",
     "config page_size=2 max_pages=2\nappend 1 3 => ok\nfork 1 2 => ok\nstats => ok used=2 free=0 "
     "sequences=2 tokens=6\n"
     "info 2 => ok tokens=3 pages=2 pinned=0\n"},
    {"fork_does_not_share_reserved_pages",
     "config page_size=4 max_pages=3\nalloc 1 => ok\nalloc 1 => ok\nappend 1 1 => ok\nfork 1 2 => "
     "ok\n"
     "info 2 => ok tokens=1 pages=1 pinned=0\nstats => ok used=2 free=1 sequences=2 tokens=2\n"},
    {"fork_result_is_unpinned",
     "config page_size=4 max_pages=3\nappend 1 1 => ok\npin 1 => ok\nfork 1 2 => ok\ninfo 2 => ok "
     "tokens=1 pages=1 pinned=0\n"},
    {"append_to_shared_partial_page_copies",
     "config page_size=4 max_pages=3\nappend 1 2 => ok\nfork 1 2 => ok\nappend 2 1 => ok\n"
     "stats => ok used=2 free=1 sequences=2 tokens=5\nread 1 => ok\nread 2 => ok\n"},
    {"copy_on_write_counts_in_need",
     "config page_size=4 max_pages=1\nappend 1 2 => ok\nfork 1 2 => ok\nappend 2 1 => "
     "capacity_exceeded\n"},
    {"append_at_page_boundary_of_shared_page_does_not_copy",
     "config page_size=2 max_pages=2\nappend 1 2 => ok\nfork 1 2 => ok\nappend 2 1 => ok\nstats => "
     "ok used=2 free=0 sequences=2 tokens=5\n"},
    {"free_releases_pages",
     "config page_size=4 max_pages=1\nappend 1 4 => ok\nfree 1 => ok\nstats => ok used=0 free=1 "
     "sequences=0 tokens=0\nfree 1 => unknown_sequence\n"},
    {"free_keeps_shared_pages",
     "config page_size=4 max_pages=1\nappend 1 4 => ok\nfork 1 2 => ok\nfree 1 => ok\nstats => ok "
     "used=1 free=0 sequences=1 tokens=4\nread 2 => ok\n"},
    {"free_removes_pinned",
     "config page_size=4 max_pages=1\nalloc 1 => ok\npin 1 => ok\nfree 1 => ok\ninfo 1 => "
     "unknown_sequence\n"},
    {"truncate_checks_existence_then_length",
     "config page_size=4 max_pages=2\ntruncate 1 0 => unknown_sequence\nappend 1 2 => ok\ntruncate "
     "1 3 => invalid_argument\n"},
    {"truncate_releases_pages_beyond_tokens_and_reserved",
     "config page_size=2 max_pages=4\nappend 1 5 => ok\nalloc 1 => ok\ntruncate 1 2 => ok\ninfo 1 "
     "=> ok tokens=2 pages=1 pinned=0\n"},
    {"truncate_to_zero_keeps_sequence",
     "config page_size=2 max_pages=4\nappend 1 3 => ok\ntruncate 1 0 => ok\ninfo 1 => ok tokens=0 "
     "pages=0 pinned=0\nread 1 => ok\n"},
    {"pin_and_unpin_need_sequence",
     "config page_size=2 max_pages=4\npin 1 => unknown_sequence\nunpin 1 => "
     "unknown_sequence\nalloc 1 => ok\npin 1 => ok\n"
     "info 1 => ok tokens=0 pages=1 pinned=1\nunpin 1 => ok\ninfo 1 => ok tokens=0 pages=1 "
     "pinned=0\n"},
    {"touch_and_read_need_sequence",
     "config page_size=2 max_pages=4\ntouch 1 => unknown_sequence\nread 1 => "
     "unknown_sequence\ninfo 1 => unknown_sequence\n"},
    {"evict_without_sequences", "config page_size=2 max_pages=4\nevict => nothing_to_evict\n"},
    {"evict_takes_least_recently_used_under_either_policy",
     "config page_size=2 max_pages=4 eviction=none\nalloc 1 => ok\nalloc 2 => ok\ntouch 1 => "
     "ok\nevict => ok evicted=2\n"},
    {"evict_breaks_ties_by_smaller_id",
     "config page_size=2 max_pages=4\nappend 5 1 => ok\nfork 5 3 => ok\nevict => ok "
     "evicted=3\nevict => ok evicted=5\n"},
    {"evict_skips_pinned",
     "config page_size=2 max_pages=4\nalloc 1 => ok\nalloc 2 => ok\npin 1 => ok\nevict => ok "
     "evicted=2\nevict => nothing_to_evict\n"},
    {"pin_does_not_use",
     "config page_size=2 max_pages=4\nalloc 1 => ok\nalloc 2 => ok\npin 1 => ok\nunpin 1 => "
     "ok\nevict => ok evicted=1\n"},
    {"info_and_stats_do_not_use",
     "config page_size=2 max_pages=4\nalloc 1 => ok\nalloc 2 => ok\ninfo 1 => ok tokens=0 pages=1 "
     "pinned=0\nstats => ok used=2 free=2 sequences=2 tokens=0\n"
     "check => ok\nevict => ok evicted=1\n"},
    {"lru_evicts_shortest_prefix",
     "config page_size=2 max_pages=3 eviction=lru\nalloc 1 => ok\nalloc 2 => ok\nalloc 3 => "
     "ok\nappend 4 3 => ok evicted=1,2\n"
     "stats => ok used=3 free=0 sequences=2 tokens=3\n"},
    {"lru_protects_requester",
     "config page_size=2 max_pages=2 eviction=lru\nalloc 1 => ok\nalloc 2 => ok\nappend 1 4 => ok "
     "evicted=2\n"},
    {"lru_fails_without_evicting_when_no_prefix_suffices",
     "config page_size=2 max_pages=2 eviction=lru\nalloc 1 => ok\nalloc 2 => ok\npin 2 => "
     "ok\nappend 1 6 => capacity_exceeded\n"
     "stats => ok used=2 free=0 sequences=2 tokens=0\n"},
    {"lru_victim_sharing_all_pages_frees_nothing_but_is_evicted",
     "config page_size=2 max_pages=2 eviction=lru\nappend 1 2 => ok\nfork 1 2 => ok\nalloc 3 => "
     "ok\ntouch 3 => ok\n"
     "append 4 2 => ok evicted=1,2\n"},
    {"lru_failed_op_does_not_update_last_use",
     "config page_size=2 max_pages=1\nalloc 1 => ok\nalloc 2 => capacity_exceeded\nalloc 3 => "
     "capacity_exceeded\n"
     "append 1 3 => capacity_exceeded\nevict => ok evicted=1\n"},
    {"lru_need_counts_copy_on_write",
     "config page_size=4 max_pages=2 eviction=lru\nappend 1 1 => ok\nfork 1 2 => ok\nalloc 3 => "
     "ok\n"
     "# need = 0 new + 1 copy, computed before evicting; evicting 1 frees nothing, so 3 goes too\n"
     "append 2 1 => ok evicted=1,3\nstats => ok used=1 free=1 sequences=1 tokens=2\n"},
    {"step_entries_are_independent_and_joined",
     "config page_size=2 max_pages=2\nstep 1:2 2:2 3:2 => ok ; ok ; capacity_exceeded\n"
     "stats => ok used=2 free=0 sequences=2 tokens=4\n"},
    {"step_protects_every_member_even_absent_ones",
     "config page_size=2 max_pages=2 eviction=lru\nalloc 1 => ok\nalloc 2 => ok\npin 2 => ok\n"
     "step 3:1 4:1 => ok evicted=1 ; capacity_exceeded\ninfo 3 => ok tokens=1 pages=1 pinned=0\n"},
    {"step_may_name_a_sequence_twice",
     "config page_size=2 max_pages=4\nstep 1:1 1:1 => ok ; ok\ninfo 1 => ok tokens=2 pages=1 "
     "pinned=0\nread 1 => ok\n"},
    {"step_invalid_entry_is_its_own_result",
     "config page_size=2 max_pages=4\nstep 1:0 2:1 => invalid_argument ; ok\n"},
    {"stats_counts_forked_tokens_per_sequence",
     "config page_size=4 max_pages=4\nappend 1 3 => ok\nfork 1 2 => ok\nfork 2 3 => ok\nstats => "
     "ok used=1 free=3 sequences=3 tokens=9\n"},
    {"ticks_count_failed_ops",
     "config page_size=2 max_pages=4\nalloc 1 => ok\nalloc 2 => ok\ntouch 9 => "
     "unknown_sequence\ntouch 1 => ok\nevict => ok evicted=2\n"},
    // kvtrace 2, prefix caching (docs/semantics.md section 13); the same traces are corpus seeds.
    {"prefix_example1_hits_grow_last_token_computed",
     "config page_size=4 max_pages=8 prefix_caching=on\nprefill 1 5:8 => ok hit=0\n"
     "stats => ok used=2 free=6 sequences=1 tokens=8 cached=2\n"
     "prefill 2 5:8 => ok hit=4\n"
     "stats => ok used=3 free=5 sequences=2 tokens=16 cached=2\n"
     "prefill 3 5:9 => ok hit=8\n"
     "stats => ok used=4 free=4 sequences=3 tokens=25 cached=2\nread 1 => ok\n"
     "read 2 => ok\nread 3 => ok\ncheck => ok\n"},
    {"prefix_example2_queued_hits_count_as_taken",
     "config page_size=2 max_pages=3 prefix_caching=on\nprefill 1 1:4 => ok hit=0\n"
     "free 1 => ok\nstats => ok used=0 free=3 sequences=0 tokens=0 cached=2\n"
     "prefill 2 7:2 => ok hit=0\n"
     "stats => ok used=1 free=2 sequences=1 tokens=2 cached=3\n"
     "prefill 3 1:6 => capacity_exceeded\n"
     "stats => ok used=1 free=2 sequences=1 tokens=2 cached=3\n"
     "info 3 => unknown_sequence\nprefill 3 1:4 => ok hit=2\n"
     "stats => ok used=3 free=0 sequences=2 tokens=6 cached=3\ncheck => ok\n"},
    {"prefix_example3_evicting_hit_owner_helps_nothing",
     "config page_size=2 max_pages=4 eviction=lru prefix_caching=on\n"
     "prefill 1 1:4 => ok hit=0\nprefill 2 2:4 => ok hit=0\n"
     "prefill 3 1:5 => ok hit=4 evicted=1,2\n"
     "stats => ok used=3 free=1 sequences=1 tokens=5 cached=3\nread 3 => ok\n"
     "prefill 4 2:4 => ok hit=2 evicted=3\n"
     "stats => ok used=2 free=2 sequences=1 tokens=4 cached=4\ncheck => ok\n"},
    {"prefix_hit_stops_at_first_miss_and_write_unregisters",
     "config page_size=2 max_pages=4 prefix_caching=on\nprefill 1 1:6 => ok hit=0\n"
     "truncate 1 1 => ok\nstats => ok used=1 free=3 sequences=1 tokens=1 cached=3\n"
     "append 1 1 => ok\nstats => ok used=1 free=3 sequences=1 tokens=2 cached=2\n"
     "prefill 2 1:5 => ok hit=0\n"
     "stats => ok used=4 free=0 sequences=2 tokens=7 cached=2\nread 1 => ok\n"
     "read 2 => ok\ncheck => ok\n"},
    {"prefix_release_in_reverse_block_order_unregistered_first",
     "config page_size=1 max_pages=4 prefix_caching=on\nprefill 1 1:3 => ok hit=0\n"
     "free 1 => ok\nalloc 2 => ok\n"
     "stats => ok used=1 free=3 sequences=1 tokens=0 cached=3\nalloc 3 => ok\n"
     "stats => ok used=2 free=2 sequences=2 tokens=0 cached=2\n"
     "prefill 4 1:2 => ok hit=1\n"
     "stats => ok used=4 free=0 sequences=3 tokens=2 cached=2\nread 4 => ok\n"
     "check => ok\n"},
    {"prefix_append_and_step_never_register",
     "config page_size=2 max_pages=8 prefix_caching=on\nprefill 1 1:3 => ok hit=0\n"
     "stats => ok used=2 free=6 sequences=1 tokens=3 cached=1\nappend 1 1 => ok\n"
     "step 1:2 => ok\nstats => ok used=3 free=5 sequences=1 tokens=6 cached=1\n"
     "prefill 2 1:4 => ok hit=2\n"
     "stats => ok used=4 free=4 sequences=2 tokens=10 cached=2\nread 1 => ok\n"
     "read 2 => ok\ncheck => ok\n"},
    {"prefix_cow_copy_unregistered_original_keeps_key",
     "config page_size=2 max_pages=4 prefix_caching=on\nprefill 1 1:4 => ok hit=0\n"
     "fork 1 2 => ok\ntruncate 2 3 => ok\nappend 2 1 => ok\n"
     "stats => ok used=3 free=1 sequences=2 tokens=8 cached=2\n"
     "prefill 3 1:5 => ok hit=4\n"
     "stats => ok used=4 free=0 sequences=3 tokens=13 cached=2\nread 2 => ok\n"
     "read 3 => ok\ncheck => ok\n"},
    {"prefix_off_never_hits_and_stats_is_v1",
     "config page_size=2 max_pages=4\nprefill 1 1:4 => ok hit=0\n"
     "prefill 2 1:4 => ok hit=0\nstats => ok used=4 free=0 sequences=2 tokens=8\n"
     "prefill 3 1:1 => capacity_exceeded\nfree 1 => ok\nprefill 3 1:1 => ok hit=0\n"
     "read 2 => ok\nread 3 => ok\ncheck => ok\n"},
    {"prefix_prefill_check_order",
     "config page_size=4 max_pages=2 prefix_caching=on\n"
     "prefill 1 1:0 => invalid_argument\nprefill 1 2048:1 => invalid_argument\n"
     "prefill 1 1:1048576 2:1 => invalid_argument\nprefill 1 2047:4 => ok hit=0\n"
     "prefill 1 1:1 => sequence_exists\nprefill 1 1:0 => invalid_argument\n"
     "prefill 2 1:1048576 => capacity_exceeded\nprefill 2 2047:5 => ok hit=4\n"
     "stats => ok used=2 free=0 sequences=2 tokens=9 cached=1\n"
     "prefill 3 2047:5 => capacity_exceeded\ncheck => ok\n"},
    {"prefix_lru_victims_stay_hittable",
     "config page_size=2 max_pages=4 eviction=lru prefix_caching=on\n"
     "prefill 1 1:4 => ok hit=0\nprefill 2 2:4 => ok hit=0\n"
     "prefill 3 1:3 => ok hit=2 evicted=1\n"
     "stats => ok used=4 free=0 sequences=2 tokens=7 cached=3\n"
     "append 4 4 => ok evicted=2\n"
     "stats => ok used=4 free=0 sequences=2 tokens=7 cached=1\n"
     "prefill 5 1:3 => ok hit=2 evicted=3\n"
     "stats => ok used=4 free=0 sequences=2 tokens=7 cached=1\nread 4 => ok\n"
     "read 5 => ok\ncheck => ok\n"},
    // Section 14: the semantic variants. Each expectation differs from the default rule's.
    {"variant_append_token_keeps_the_tokens_that_fitted",
     "config page_size=2 max_pages=3 append_atomicity=token\nappend 1 3 => ok\n"
     "append 2 3 => capacity_exceeded\ninfo 2 => ok tokens=2 pages=1 pinned=0\nread 2 => ok\n"
     "append 1 1 => ok\nappend 1 1 => capacity_exceeded\ninfo 1 => ok tokens=4 pages=2 pinned=0\n"
     "check => ok\n"},
    {"variant_append_token_evicts_token_by_token",
     "config page_size=1 max_pages=2 eviction=lru append_atomicity=token\nalloc 1 => ok\n"
     "alloc 2 => ok\nappend 3 3 => capacity_exceeded\ninfo 3 => ok tokens=2 pages=2 pinned=0\n"
     "stats => ok used=2 free=0 sequences=1 tokens=2\nappend 4 2 => ok evicted=3\n"
     "append 4 0 => invalid_argument\nread 4 => ok\ncheck => ok\n"},
    {"variant_decode_caching_registers_generated_blocks",
     "config page_size=2 max_pages=4 prefix_caching=on decode_caching=on\n"
     "prefill 1 5:1 => ok hit=0\nappend 1 1 => ok\n"
     "stats => ok used=1 free=3 sequences=1 tokens=2 cached=1\nfree 1 => ok\n"
     "prefill 2 5:3 => ok hit=0\nstats => ok used=2 free=2 sequences=1 tokens=3 cached=2\n"
     "check => ok\n"},
    {"variant_duplicate_keys_kept_and_the_first_is_hit",
     "config page_size=2 max_pages=8 prefix_caching=on duplicate_keys=kept\n"
     "prefill 1 5:4 => ok hit=0\nprefill 2 5:4 => ok hit=2\n"
     "stats => ok used=3 free=5 sequences=2 tokens=8 cached=3\nfree 1 => ok\n"
     "prefill 3 5:6 => ok hit=4\nstats => ok used=4 free=4 sequences=2 tokens=10 cached=4\n"
     "read 3 => ok\ncheck => ok\n"},
    // Section 14.5's V-K7 worked example under the default duplicate_hit=first (V-K2).
    {"variant_duplicate_hit_first_takes_the_first_registered_page",
     "config page_size=2 max_pages=4 prefix_caching=on duplicate_keys=kept\n"
     "prefill 1 1:4 => ok hit=0\nprefill 2 1:2 => ok hit=0\nfree 2 => ok\n"
     "prefill 3 1:3 => ok hit=2\nstats => ok used=3 free=1 sequences=2 tokens=7 cached=3\n"
     "read 3 => ok\ncheck => ok\n"},
    {"variant_single_free_queue_takes_the_head_registered_or_not",
     "config page_size=2 max_pages=3 prefix_caching=on free_queue=single\n"
     "prefill 1 1:4 => ok hit=0\nalloc 2 => ok\nfree 1 => ok\nfree 2 => ok\nalloc 3 => ok\n"
     "stats => ok used=1 free=2 sequences=1 tokens=0 cached=1\nprefill 4 1:3 => ok hit=2\n"
     "stats => ok used=3 free=0 sequences=2 tokens=3 cached=1\nread 4 => ok\ncheck => ok\n"},
    {"variant_skipped_reserved_slots_write_only_the_last_page",
     "config page_size=2 max_pages=4 reserved_slots=skipped\nalloc 1 => ok\nalloc 1 => ok\n"
     "append 1 3 => ok\ninfo 1 => ok tokens=3 pages=3 pinned=0\n"
     "stats => ok used=3 free=1 sequences=1 tokens=3\nfork 1 2 => ok\n"
     "info 2 => ok tokens=3 pages=2 pinned=0\nappend 2 1 => ok\n"
     "stats => ok used=4 free=0 sequences=2 tokens=7\ntruncate 1 1 => ok\n"
     "info 1 => ok tokens=1 pages=2 pinned=0\nread 1 => ok\nread 2 => ok\ncheck => ok\n"},
    {"variant_boundary_block_extra_after_a_full_prompt",
     "config page_size=2 max_pages=4 boundary_block=extra\n"
     "prefill 1 1:4 => ok hit=0\ninfo 1 => ok tokens=4 pages=3 pinned=0\n"
     "append 1 1 => ok\nstats => ok used=3 free=1 sequences=1 tokens=5\n"
     "prefill 2 2:2 => capacity_exceeded\nprefill 2 2:1 => ok hit=0\n"
     "stats => ok used=4 free=0 sequences=2 tokens=6\nread 1 => ok\ncheck => ok\n"},
    {"variant_register_at_release_registers_when_freed",
     "config page_size=2 max_pages=8 prefix_caching=on register_at=release\n"
     "prefill 1 1:4 => ok hit=0\nprefill 2 1:4 => ok hit=0\n"
     "stats => ok used=4 free=4 sequences=2 tokens=8 cached=0\nfree 1 => ok\n"
     "stats => ok used=2 free=6 sequences=1 tokens=4 cached=2\nprefill 3 1:5 => ok hit=4\n"
     "free 2 => ok\nstats => ok used=3 free=5 sequences=1 tokens=5 cached=2\n"
     "read 3 => ok\ncheck => ok\n"},
    // Section 15: the request lifecycle (kvtrace 3), the worked examples of 15.6 first.
    {"lifecycle_chunked_prefill_is_looked_up_once",
     "config page_size=2 max_pages=8 prefix_caching=on\nprefill 1 1:4 => ok hit=0\n"
     "admit 2 1:7 => ok\nstats => ok used=2 free=6 sequences=2 tokens=4 cached=2\n"
     "reserve 2 2 => ok hit=4\ncommit 2 2 => ok\nreserve 2 2 => ok\ncommit 2 1 => ok\n"
     "info 2 => ok tokens=7 pages=4 pinned=0\n"
     "stats => ok used=4 free=4 sequences=2 tokens=11 cached=3\nread 2 => ok\ncheck => ok\n"},
    {"lifecycle_rejected_drafts_released_and_never_cached",
     "config page_size=2 max_pages=4 prefix_caching=on decode_caching=on rejected_slots=released\n"
     "prefill 1 1:2 => ok hit=0\nreserve 1 4 => ok\ncommit 1 1 => ok\n"
     "stats => ok used=2 free=2 sequences=1 tokens=3 cached=1\nread 1 => ok\ncheck => ok\n"},
    {"lifecycle_abort_before_compute_and_preemption",
     "config page_size=2 max_pages=3 eviction=lru prefix_caching=on\nprefill 1 1:4 => ok hit=0\n"
     "reserve 1 2 => ok\nfree 1 => ok\nadmit 2 1:5 => ok\nreserve 2 1 => ok hit=4\n"
     "commit 2 1 => ok\npreempt 2 => ok\ninfo 2 => ok tokens=0 pages=0 pinned=0\n"
     "reserve 2 1 => ok hit=4\ncommit 2 1 => ok\nappend 2 1 => ok\nread 2 => ok\n"
     "check => ok\n"},
    {"lifecycle_kept_rejected_slots_are_used_first",
     "config page_size=2 max_pages=3\nappend 1 1 => ok\nreserve 1 4 => ok\n"
     "info 1 => ok tokens=1 pages=3 pinned=0\ncommit 1 2 => ok\n"
     "info 1 => ok tokens=3 pages=3 pinned=0\nreserve 1 3 => ok\nreserve 1 1 => capacity_exceeded\n"
     "commit 1 3 => ok\nstats => ok used=3 free=0 sequences=1 tokens=6\nread 1 => ok\n"},
    {"lifecycle_argument_and_existence_checks",
     "config page_size=2 max_pages=2\nadmit 1 1:0 => invalid_argument\nadmit 1 2048:1 => "
     "invalid_argument\nadmit 1 1:3 => ok\nadmit 1 1:1 => sequence_exists\n"
     "reserve 9 0 => invalid_argument\nreserve 9 1048577 => invalid_argument\n"
     "commit 9 0 => unknown_sequence\ncommit 9 1048577 => invalid_argument\n"
     "preempt 9 => unknown_sequence\ncommit 1 1 => invalid_argument\ncommit 1 0 => ok\n"
     "info 1 => ok tokens=0 pages=0 pinned=0\nreserve 3 3 => ok\n"
     "info 3 => ok tokens=0 pages=2 pinned=0\ncommit 3 4 => invalid_argument\n"},
    {"lifecycle_in_flight_refuses_append_truncate_alloc",
     "config page_size=2 max_pages=4\nadmit 1 1:2 => ok\nalloc 1 => invalid_argument\n"
     "append 1 1 => invalid_argument\nstep 1:1 2:1 => invalid_argument ; ok\n"
     "truncate 1 0 => invalid_argument\nreserve 2 1 => ok\nalloc 2 => ok\n"
     "append 2 1 => invalid_argument\ntruncate 2 0 => invalid_argument\ncommit 2 1 => ok\n"
     "append 2 1 => ok\nreserve 1 1 => ok hit=0\ncommit 1 1 => ok\n"
     "append 1 1 => invalid_argument\nreserve 1 1 => ok\ncommit 1 1 => ok\n"
     "append 1 1 => ok\ninfo 1 => ok tokens=3 pages=2 pinned=0\ncheck => ok\n"},
    {"lifecycle_fork_copies_the_computed_part",
     "config page_size=2 max_pages=6\nadmit 1 1:5 => ok\nfork 1 2 => ok\n"
     "info 2 => ok tokens=0 pages=0 pinned=0\nappend 2 1 => ok\nreserve 1 3 => ok hit=0\n"
     "commit 1 3 => ok\nreserve 1 2 => ok\nfork 1 3 => ok\ninfo 3 => ok tokens=3 pages=2 "
     "pinned=0\nappend 3 1 => ok\ncommit 1 2 => ok\nread 1 => ok\nread 3 => ok\n"
     "stats => ok used=5 free=1 sequences=3 tokens=10\ncheck => ok\n"},
    {"lifecycle_commit_copies_a_shared_page_and_may_evict",
     "config page_size=2 max_pages=3 eviction=lru\nappend 1 1 => ok\nreserve 1 1 => ok\n"
     "fork 1 2 => ok\npin 2 => ok\nalloc 3 => ok\nalloc 4 => ok\ncommit 1 1 => ok evicted=3\n"
     "stats => ok used=3 free=0 sequences=3 tokens=3\nread 1 => ok\nread 2 => ok\ncheck => ok\n"},
    {"lifecycle_preempt_registers_under_register_at_release",
     "config page_size=2 max_pages=4 prefix_caching=on register_at=release\n"
     "prefill 1 1:5 => ok hit=0\nstats => ok used=3 free=1 sequences=1 tokens=5 cached=0\n"
     "preempt 1 => ok\nstats => ok used=0 free=4 sequences=1 tokens=0 cached=2\n"
     "reserve 1 1 => ok hit=4\ncommit 1 1 => ok\nread 1 => ok\ncheck => ok\n"},
    {"swap_worked_example",
     "config page_size=2 max_pages=2 cpu_pages=2\nappend 1 3 => ok\nswap_out 1 => ok\n"
     "stats => ok used=0 free=2 sequences=1 tokens=3 cpu=2\ninfo 1 => ok tokens=3 pages=0 "
     "pinned=0\n"
     "append 2 4 => ok\nswap_in 1 => capacity_exceeded\nfree 2 => ok\nswap_in 1 => ok\n"
     "read 1 => ok\nstats => ok used=2 free=0 sequences=1 tokens=3 cpu=0\ncheck => ok\n"},
    {"swap_refusals_and_cpu_capacity",
     "config page_size=2 max_pages=4 cpu_pages=1\nswap_out 9 => unknown_sequence\n"
     "swap_in 9 => unknown_sequence\nappend 1 3 => ok\nswap_out 1 => capacity_exceeded\n"
     "swap_in 1 => invalid_argument\nappend 2 1 => ok\nswap_out 2 => ok\nswap_out 2 => "
     "invalid_argument\n"
     "alloc 2 => invalid_argument\nappend 2 1 => invalid_argument\ntruncate 2 0 => "
     "invalid_argument\n"
     "read 2 => invalid_argument\nfork 2 3 => invalid_argument\nreserve 2 1 => invalid_argument\n"
     "commit 2 0 => invalid_argument\npreempt 2 => invalid_argument\ntouch 2 => ok\npin 2 => ok\n"
     "unpin 2 => ok\nreserve 3 1 => ok\nswap_out 3 => invalid_argument\nfree 2 => ok\n"
     "stats => ok used=3 free=1 sequences=2 tokens=3 cpu=0\ncheck => ok\n"},
    {"swap_out_sequences_are_no_victims",
     "config page_size=1 max_pages=2 eviction=lru cpu_pages=4\nappend 1 1 => ok\nswap_out 1 => ok\n"
     "append 2 2 => ok\nevict => ok evicted=2\nevict => nothing_to_evict\nappend 3 2 => ok\n"
     "swap_in 1 => ok evicted=3\nread 1 => ok\ncheck => ok\n"},
    {"swap_out_queues_registered_pages_for_hits",
     "config page_size=2 max_pages=3 prefix_caching=on cpu_pages=3\nprefill 1 1:5 => ok hit=0\n"
     "swap_out 1 => ok\nstats => ok used=0 free=3 sequences=1 tokens=5 cached=2 cpu=3\n"
     "prefill 2 1:3 => ok hit=2\nstats => ok used=2 free=1 sequences=2 tokens=8 cached=2 cpu=3\n"
     "swap_in 1 => capacity_exceeded\nfree 2 => ok\nswap_in 1 => ok\nread 1 => ok\n"
     "stats => ok used=3 free=0 sequences=1 tokens=5 cached=0 cpu=0\ncheck => ok\n"},
    // Section 16: the sliding window, the worked examples of 16.4 first.
    {"window_slides_and_truncate_refuses",
     "config page_size=2 max_pages=3 sliding_window=3\nappend 1 5 => ok\n"
     "info 1 => ok tokens=5 pages=3 pinned=0\nappend 1 2 => ok\n"
     "info 1 => ok tokens=7 pages=3 pinned=0\nread 1 => ok\ntruncate 1 2 => invalid_argument\n"
     "truncate 1 4 => ok\ninfo 1 => ok tokens=4 pages=1 pinned=0\ncheck => ok\n"},
    {"window_hit_inside_the_window",
     "config page_size=2 max_pages=8 prefix_caching=on sliding_window=3\n"
     "prefill 1 1:7 => ok hit=0\nappend 1 1 => ok\n"
     "stats => ok used=2 free=6 sequences=1 tokens=8 cached=3\nprefill 2 1:7 => ok hit=6\n"
     "info 2 => ok tokens=7 pages=2 pinned=0\nread 2 => ok\ncheck => ok\n"},
    {"window_hit_past_a_lost_key",
     "config page_size=2 max_pages=8 prefix_caching=on sliding_window=2\n"
     "prefill 1 1:6 => ok hit=0\ntruncate 1 1 => ok\nappend 1 1 => ok\nprefill 2 1:7 => ok hit=6\n"
     "info 2 => ok tokens=7 pages=2 pinned=0\nread 2 => ok\ncheck => ok\n"},
    {"window_release_stays_when_capacity_exceeded",
     "config page_size=1 max_pages=2 sliding_window=2\nappend 1 2 => ok\n"
     "append 1 2 => capacity_exceeded\ninfo 1 => ok tokens=2 pages=1 pinned=0\n"
     "stats => ok used=1 free=1 sequences=1 tokens=2\nappend 1 1 => ok\nread 1 => ok\n"},
    {"window_fork_shares_nulls_and_eviction_counts_pages",
     "config page_size=1 max_pages=3 eviction=lru sliding_window=2\nappend 1 3 => ok\n"
     "append 1 1 => ok\ninfo 1 => ok tokens=4 pages=2 pinned=0\nfork 1 2 => ok\n"
     "info 2 => ok tokens=4 pages=2 pinned=0\nappend 2 1 => ok\n"
     "stats => ok used=3 free=0 sequences=2 tokens=9\nappend 3 1 => ok evicted=1\n"
     "read 2 => ok\ncheck => ok\n"},
    {"window_swap_keeps_nulls",
     "config page_size=2 max_pages=4 cpu_pages=4 sliding_window=3\nappend 1 5 => ok\n"
     "append 1 1 => ok\ninfo 1 => ok tokens=6 pages=2 pinned=0\nswap_out 1 => ok\n"
     "stats => ok used=0 free=4 sequences=1 tokens=6 cpu=2\nswap_in 1 => ok\n"
     "info 1 => ok tokens=6 pages=2 pinned=0\nread 1 => ok\ncheck => ok\n"},
    {"window_waiting_reserve_and_preempt_hit_the_window",
     "config page_size=2 max_pages=4 prefix_caching=on sliding_window=2\n"
     "prefill 1 1:6 => ok hit=0\nfree 1 => ok\nadmit 2 1:7 => ok\nreserve 2 1 => ok hit=6\n"
     "info 2 => ok tokens=6 pages=2 pinned=0\ncommit 2 1 => ok\npreempt 2 => ok\n"
     "reserve 2 1 => ok hit=6\ncommit 2 1 => ok\nread 2 => ok\ncheck => ok\n"},
    // Section 17: hybrid KV groups, the worked examples of 17.4 first.
    {"groups_slide_apart",
     "config page_size=2 max_pages=6 kv_groups=0,3\nappend 1 5 => ok\nappend 1 1 => ok\n"
     "info 1 => ok tokens=6 pages=5 pinned=0\nappend 1 1 => ok\ntruncate 1 2 => invalid_argument\n"
     "stats => ok used=6 free=0 sequences=1 tokens=7\nread 1 => ok\n"},
    {"groups_window_group_limits_the_hit",
     "config page_size=1 max_pages=10 prefix_caching=on kv_groups=0,2\nprefill 1 1:4 => ok hit=0\n"
     "append 1 1 => ok\nfree 1 => ok\nappend 2 2 => ok\nfree 2 => ok\n"
     "prefill 3 1:4 => ok hit=1\ninfo 3 => ok tokens=4 pages=8 pinned=0\n"},
    {"groups_full_group_limits_the_hit",
     "config page_size=1 max_pages=8 prefix_caching=on kv_groups=0,2\nprefill 1 1:3 => ok hit=0\n"
     "free 1 => ok\nappend 2 2 => ok\nfree 2 => ok\nprefill 3 1:3 => ok hit=1\n"
     "info 3 => ok tokens=3 pages=6 pinned=0\n"},
    // Every op takes, copies and releases in every group; capacity sums over them (V-G1).
    {"groups_alloc_needs_a_page_per_group",
     "config page_size=2 max_pages=5 kv_groups=0,0,4\nalloc 1 => ok\nalloc 2 => capacity_exceeded\n"
     "stats => ok used=3 free=2 sequences=1 tokens=0\nappend 1 2 => ok\n"
     "append 1 1 => capacity_exceeded\n"},
    {"groups_fork_copies_on_write_in_every_group",
     "config page_size=2 max_pages=8 kv_groups=0,3\nappend 1 3 => ok\nfork 1 2 => ok\n"
     "stats => ok used=4 free=4 sequences=2 tokens=6\nappend 2 1 => ok\n"
     "stats => ok used=6 free=2 sequences=2 tokens=7\nread 1 => ok\nread 2 => ok\n"},
    {"groups_eviction_frees_every_group",
     "config page_size=1 max_pages=6 eviction=lru kv_groups=0,2\nappend 1 2 => ok\n"
     "append 2 1 => ok\nappend 3 1 => ok evicted=1\nstats => ok used=4 free=2 sequences=2 "
     "tokens=2\n"},
    {"groups_boundary_block_extra_per_group",
     "config page_size=2 max_pages=8 prefix_caching=on kv_groups=0,3 boundary_block=extra\n"
     "prefill 1 1:4 => ok hit=0\ninfo 1 => ok tokens=4 pages=6 pinned=0\n"},
    {"groups_keys_are_per_group",
     "config page_size=2 max_pages=12 prefix_caching=on kv_groups=0,0\nprefill 1 1:4 => ok hit=0\n"
     "stats => ok used=4 free=8 sequences=1 tokens=4 cached=4\nprefill 2 1:5 => ok hit=4\n"
     "info 2 => ok tokens=5 pages=6 pinned=0\n"},
    {"groups_swap_keeps_each_groups_nulls",
     "config page_size=2 max_pages=8 cpu_pages=5 kv_groups=0,3\nappend 1 5 => ok\n"
     "append 1 1 => ok\nswap_out 1 => ok\nstats => ok used=0 free=8 sequences=1 tokens=6 cpu=5\n"
     "swap_in 1 => ok\ninfo 1 => ok tokens=6 pages=5 pinned=0\nread 1 => ok\n"},
    {"groups_reserve_commit_and_preempt",
     "config page_size=2 max_pages=12 prefix_caching=on kv_groups=0,3\nprefill 1 1:6 => ok hit=0\n"
     "admit 2 1:7 => ok\nreserve 2 1 => ok hit=6\ninfo 2 => ok tokens=6 pages=6 pinned=0\n"
     "commit 2 1 => ok\npreempt 2 => ok\nreserve 2 1 => ok hit=6\ncommit 2 1 => ok\n"
     "read 2 => ok\n"},
    // Section 14.5's duplicate_keys=remapped, its worked example and the refused default beside it.
    {"duplicate_keys_remapped_onto_the_cached_page",
     "config page_size=2 max_pages=4 prefix_caching=on duplicate_keys=remapped\n"
     "prefill 1 1:4 => ok hit=0\nprefill 2 1:4 => ok hit=2\n"
     "stats => ok used=2 free=2 sequences=2 tokens=8 cached=2\nread 2 => ok\n"
     "append 3 4 => ok\nfree 1 => ok\nfree 2 => ok\nstats => ok used=2 free=2 sequences=1 "
     "tokens=4 cached=2\n"},
    {"duplicate_keys_refused_keeps_the_recomputed_page",
     "config page_size=2 max_pages=4 prefix_caching=on\n"
     "prefill 1 1:4 => ok hit=0\nprefill 2 1:4 => ok hit=2\n"
     "stats => ok used=3 free=1 sequences=2 tokens=8 cached=2\n"},
    {"duplicate_keys_remapped_takes_a_queued_page_back",
     "config page_size=1 max_pages=3 prefix_caching=on duplicate_keys=remapped\n"
     "prefill 1 1:2 => ok hit=0\nfree 1 => ok\nappend 2 1 => ok\n"
     "prefill 3 1:1 => ok hit=0\nstats => ok used=2 free=1 sequences=2 tokens=2 cached=1\n"},
    {"lifecycle_ops_invalid_under_skipped_reserved_slots",
     "config page_size=2 max_pages=4 reserved_slots=skipped\nadmit 1 1:2 => invalid_argument\n"
     "reserve 1 1 => invalid_argument\nappend 1 1 => ok\ncommit 1 0 => invalid_argument\n"
     "preempt 1 => invalid_argument\n"},
};

class ModelRule : public ::testing::TestWithParam<Rule> {};

TEST_P(ModelRule, HoldsInTheModel) {
  const std::string body = GetParam().trace;
  const std::string text = "kvtrace 3\n" + body;
  ParseResult parsed = parse_trace(text, memory_budget_default_bytes);
  ASSERT_TRUE(std::holds_alternative<Trace>(parsed)) << std::get<ParseError>(parsed).message;
  const Trace& trace = std::get<Trace>(parsed);
  Model model(trace.config);
  for (size_t tick = 0; tick < trace.lines.size(); tick++) {
    const TraceLine& line = trace.lines[tick];
    const OpResult result = model.apply(line.op, tick);
    ASSERT_TRUE(line.expected.has_value()) << "line " << line.line_number;
    EXPECT_EQ(format_op_result(result), format_op_result(*line.expected))
        << "line " << line.line_number << ": " << format_op(line.op);
    const std::vector<std::string> problems = model.audit();
    EXPECT_TRUE(problems.empty()) << "line " << line.line_number << ": " << problems.front();
  }
}

INSTANTIATE_TEST_SUITE_P(Contract, ModelRule, ::testing::ValuesIn(rules),
                         [](const auto& param_info) { return std::string(param_info.param.name); });

// V-K7's worked example: under duplicate_hit=any the model takes the duplicate page it is told
// (here the queued one, not V-K2's first), its refcounts and queue follow; under first it does not.
TEST(ModelDuplicateHit, TakesTheChosenPageUnderAny) {
  for (const char* word : {"any", "first"}) {
    const std::string text = std::string(
                                 "kvtrace 2\nconfig page_size=2 max_pages=4 prefix_caching=on "
                                 "duplicate_keys=kept duplicate_hit=") +
                             word + "\nprefill 1 1:4\nprefill 2 1:2\nfree 2\nprefill 3 1:3\n";
    ParseResult parsed = parse_trace(text, memory_budget_default_bytes);
    ASSERT_TRUE(std::holds_alternative<Trace>(parsed)) << std::get<ParseError>(parsed).message;
    const Trace& trace = std::get<Trace>(parsed);
    Model model(trace.config);
    for (size_t tick = 0; tick < 3; tick++) model.apply(trace.lines[tick].op, tick);
    const Op& hit_op = trace.lines[3].op;
    const std::vector<Model::DuplicateHit> hits = model.duplicate_hits(hit_op);
    const bool any = std::string(word) == "any";
    ASSERT_EQ(hits.size(), any ? 1u : 0u) << word;
    // Under first, a choice is ignored: the page of sequence 2's block 0, now queued.
    const ModelPageId queued = any ? hits[0].pages[1].page : model.prefix_cache().queue.at(0);
    if (any) {
      ASSERT_EQ(hits[0].pages.size(), 2u);
      EXPECT_EQ(hits[0].pages[0].holder, std::optional<SeqId>(1));  // page 0: sequence 1's entry 0
      EXPECT_EQ(hits[0].pages[0].entry, 0u);
      EXPECT_FALSE(hits[0].pages[1].holder.has_value());  // page 2: the queue's head
      EXPECT_EQ(hits[0].pages[1].queue_position, 0u);
    }
    const Model::HitChoice choice{0, 0, queued};
    const OpResult result = model.apply(hit_op, 3, std::span(&choice, 1));
    EXPECT_EQ(format_op_result(result), "ok hit=2") << word;
    EXPECT_EQ(format_result(Result{Status::ok, {}, std::nullopt, model.stats()}),
              any ? "ok used=4 free=0 sequences=2 tokens=7 cached=3"
                  : "ok used=3 free=1 sequences=2 tokens=7 cached=3")
        << word;
    EXPECT_EQ(model.block_table(3).front() == queued, any) << word;
    EXPECT_TRUE(model.prefix_cache().queue.empty() == any) << word;
    const std::vector<std::string> problems = model.audit();
    EXPECT_TRUE(problems.empty()) << word << ": " << problems.front();
  }
}

// V-W2 as the model shows it: the released entries are null, a prefix, and reads skip them.
TEST(ModelWindow, ReleasedEntriesAreANullPrefix) {
  Config config;
  config.page_size = 2;
  config.max_pages = 3;
  config.sliding_window = 3;
  Model model(config);
  model.apply(Op{OpKind::append, 1, 5, {}}, 0);
  EXPECT_EQ(model.block_table(1).size(), 3u);
  EXPECT_EQ(model.block_table(1).front() == null_page, false);
  model.apply(Op{OpKind::append, 1, 2, {}}, 1);
  const std::vector<ModelPageId> table = model.block_table(1);
  ASSERT_EQ(table.size(), 4u);
  EXPECT_EQ(table[0], null_page);
  EXPECT_NE(table[1], null_page);
  EXPECT_EQ(model.read_groups(1).front().first_token, 2u);
  EXPECT_EQ(model.read_values(1).size(), 5u);  // tokens 2..6
}

// The window regime's traces keep every model invariant (audit after each op): the window's
// release, hits, swaps and lifecycle ops together.
TEST(ModelWindow, GeneratedWindowTracesAuditClean) {
  uint64_t released = 0, null_hits = 0, refused_truncates = 0, swapped_windows = 0;
  for (uint64_t seed = 1; seed <= 150; seed++) {
    const Trace trace = generate_trace(seed, 200, Profile::window);
    ASSERT_GT(trace.config.sliding_window, 0u) << "seed " << seed;
    Model model(trace.config);
    const auto first_token = [&model](SeqId seq) {  // 0 for an absent or swapped-out sequence
      const auto groups = model.read_groups(seq);
      return groups.empty() ? 0 : groups.front().first_token;
    };
    for (size_t tick = 0; tick < trace.lines.size(); tick++) {
      const Op& op = trace.lines[tick].op;
      const bool had_nulls = first_token(op.seq) > 0;
      const Result result = model.apply(op, tick).entries.front();
      const std::vector<std::string> problems = model.audit();
      ASSERT_TRUE(problems.empty())
          << "seed " << seed << " tick " << tick << ": " << problems.front();
      for (SeqId seq : model.sequence_ids()) released += first_token(seq) > 0;
      const bool nulls = first_token(op.seq) > 0;
      null_hits += op.kind == OpKind::prefill && result.hit_tokens.value_or(0) > 0 && nulls;
      refused_truncates +=
          op.kind == OpKind::truncate && had_nulls && result.status == Status::invalid_argument;
      swapped_windows += op.kind == OpKind::swap_in && result.status == Status::ok && nulls;
    }
  }
  // The window really slid, and the regime reaches each rule of section 16.
  EXPECT_GT(released, 1000u);
  EXPECT_GT(null_hits, 10u);          // V-W7: hits that take only the window's blocks
  EXPECT_GT(refused_truncates, 10u);  // V-W5
  EXPECT_GT(swapped_windows, 3u);     // V-W6
}

}  // namespace
}  // namespace kv
