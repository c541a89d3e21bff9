#!/usr/bin/env python3
"""A small paged KV cache behind the kvharness kit: a worked example.

It implements docs/semantics.md sections 1 to 12 (alloc, append, fork with copy-on-write,
free, truncate, pin/unpin, touch, read, evict, step, info, stats, check; eviction none and
lru) on a pool of physical pages with refcounts and a free list, and audits itself; and
section 13's automatic prefix caching (prefill, registered keys, the cached-free queue); and
section 15's request lifecycle (admit, reserve, commit, preempt; kvtrace 3) with the variant
`rejected_slots=kept|released`, and swapping to a CPU pool (swap_out, swap_in, `cpu_pages`); and
section 16's sliding-window attention (`sliding_window=W`: out-of-window pages released before a
sequence grows, null block-table entries, window-limited prefix-cache hits); and section 17's
hybrid KV groups (`kv_groups=W0,W1,...`: one block table per group over one pool, per-group
windows, values and keys, the hit every group accepts); and the variant
`append_atomicity=op|token` (section 14.1).

    python3 adapters/python/example_cache.py            # the cache as it should be
    python3 adapters/python/example_cache.py --bug      # copy-on-write forgets to copy
    python3 adapters/python/example_cache.py --bug capacity   # off by one in "does it fit"
    python3 adapters/python/example_cache.py --bug flaky-ties # LRU ties broken by a coin flip
    python3 adapters/python/example_cache.py --bug whole-prompt-hit  # a waiting sequence's lookup
                                                               # hits its prompt's last block too
    python3 adapters/python/example_cache.py --bug swap-keeps-cpu  # swap_in forgets to free the
                                                               # CPU pages it swapped back in
    python3 adapters/python/example_cache.py --bug window-off-by-one  # releases one block too early
                                                               # (skip computed from n+1)
    python3 adapters/python/example_cache.py --bug hybrid-hit-full-only  # the hit of a kv_groups
                                                               # cache from its full-attention groups
                                                               # alone (window groups ignored)
    python3 adapters/python/example_cache.py --bug groups-release-order  # releases the last group's
                                                               # entries first (V-G3 says group 0's)
    python3 adapters/python/example_cache.py --bug fifo-reuses-last --variant reuse_order=fifo
                                                   # declares fifo, reuses the page released last
    python3 adapters/python/example_cache.py --protocol 2     # also answer `? cache`
    python3 adapters/python/example_cache.py --variant rejected_slots=released
                                                   # declare (and implement) a variant
    python3 adapters/python/example_cache.py --sliding-window 3   # declare `sliding_window 3 1048576`:
                                                   # every generated config gets a window of at least 3

(or KV_EXAMPLE_BUG=cow|capacity|flaky-ties|whole-prompt-hit|swap-keeps-cpu|window-off-by-one|
hybrid-hit-full-only|groups-release-order|fifo-reuses-last). Everything
protocol-related lives in kvharness_backend.py: this file is only the cache and its mapping onto
kv.Cache.
"""

from __future__ import annotations

import os
import random
import sys
from collections import OrderedDict, deque

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kvharness_backend as kv  # noqa: E402

BUG = os.environ.get("KV_EXAMPLE_BUG", "")
# --bug flaky-ties: seeded from the OS, so each process (and each replay) may choose differently.
FLAKY_COIN = random.Random()


# The semantic variants (docs/semantics.md sections 14 and 15.4) this cache implements: key ->
# (default, variant). `--variant KEY=VALUE` declares one in the profile (`config KEY=VALUE`).
VARIANTS = {"rejected_slots": ("kept", "released"), "append_atomicity": ("op", "token"),
            "reuse_order": ("any", "lifo", "fifo")}


class Sequence:
    __slots__ = ("tables", "n", "pinned", "last_use", "pending", "reserved", "waiting", "cpu", "gone_ids")

    def __init__(self, tick: int, groups: int = 1):
        # one block table per KV group (section 17; one without kv_groups), all equally long:
        # physical page per entry; None for a null entry (section 16: its page left the group's
        # window and was released), always a prefix of the table
        self.tables: list[list[int | None]] = [[] for _ in range(groups)]
        self.n = 0
        self.pinned = False
        self.last_use = tick
        # section 15: the ids of tokens known but not computed yet, the slots reserved after the
        # n computed tokens, and whether the next reserve looks the pending ids up first.
        self.pending: list[int] = []
        self.reserved = 0
        self.waiting = False
        # section 15.4: while swapped out, S's CPU pages (its tokens' values and ids, one
        # (group, entry, values, ids) tuple per non-null entry among its first ceil(n/page_size),
        # group 0's first) and no device pages; else None.
        self.cpu: list[tuple[int, int, list[int], list[int]]] | None = None
        # section 16: the ids of the tokens of the entries null in every group (their pages are
        # gone; an engine keeps a request's token ids on the host), min_g z_g * page_size of them.
        self.gone_ids: list[int] = []

    @property
    def table(self) -> list[int | None]:
        """Group 0's table: the one table without kv_groups."""
        return self.tables[0]

    @property
    def length(self) -> int:
        """Entries per table (V-G1: every group's table is this long)."""
        return len(self.tables[0])

    @property
    def swapped(self) -> bool:
        return self.cpu is not None

    def null_entries(self, group: int = 0) -> int:
        """z_g(S): group g's leading null entries (V-W2), which stay while S is swapped out (V-W6)."""
        table, z = self.tables[group], 0
        while z < len(table) and table[z] is None:
            z += 1
        return z

    def fewest_nulls(self) -> int:
        """min_g z_g: the entries null in every group, whose tokens' ids are kept in gone_ids."""
        return min(self.null_entries(g) for g in range(len(self.tables)))

    def live_pages(self) -> list[int]:
        """The pages of its non-null entries, group 0's first, each in entry order."""
        return [page for table in self.tables for page in table if page is not None]

    @property
    def in_flight(self) -> bool:
        return self.waiting or self.reserved > 0 or bool(self.pending)


class PagedCache(kv.Cache):
    def __init__(self, config: kv.Config):
        super().__init__(config)
        unsupported = [f"{k}={v}" for k, v in config.extra.items() if v not in VARIANTS.get(k, ())]
        if unsupported:
            raise kv.ConfigError(f"unsupported config keys: {' '.join(unsupported)}")
        self.release_rejected = config.extra.get("rejected_slots") == "released"
        self.token_appends = config.extra.get("append_atomicity") == "token"  # V-A1
        self.fifo = config.extra.get("reuse_order") == "fifo"  # 14.8: reuse the longest free page
        self.page_size = config.page_size
        self.max_pages = config.max_pages
        self.lru = config.eviction == "lru"
        self.groups = config.groups  # KV groups (section 17): one block table each; 1 without kv_groups
        self.seqs: dict[int, Sequence] = {}
        self.refcount: dict[int, int] = {}  # pages in use only
        # Free pages that were used before: the last one reused first (V-O2's lifo), or, under
        # fifo, the first one, after every never-used page.
        self.released: deque[int] = deque()
        self.fresh = 0  # pages fresh..max_pages-1 were never used
        self.slots: dict[int, list[int | None]] = {}  # page -> its token values
        self.token_ids: dict[int, list[int | None]] = {}  # page -> its token ids
        # Prefix caching (section 13): key (the group, the token-id prefix through a block; V-G5)
        # <-> page, and the registered pages with refcount 0, oldest first.
        self.prefix_caching = config.prefix_caching
        self.page_of_key: dict[tuple[int, tuple[int, ...]], int] = {}
        self.key_of_page: dict[int, tuple[int, tuple[int, ...]]] = {}
        self.queue: OrderedDict[int, None] = OrderedDict()
        # The CPU pool (V-S1): its size and the pages the swapped-out sequences hold.
        self.cpu_pages = config.cpu_pages
        self.cpu_used = 0

    # ---- pages --------------------------------------------------------------------------------

    @property
    def free_pages(self) -> int:
        return self.max_pages - len(self.refcount)

    def take_page(self) -> int:
        """A new page: an unregistered free one, else the oldest cached-free one (P13)."""
        fifo = self.fifo and BUG != "fifo-reuses-last"  # the bug: a stack under fifo
        if self.released and not (fifo and self.fresh < self.max_pages):
            page = self.released.popleft() if fifo else self.released.pop()
        elif self.fresh < self.max_pages:
            page = self.fresh
            self.fresh += 1
        else:
            page, _ = self.queue.popitem(last=False)
            self.unregister(page)
        self.refcount[page] = 1
        self.slots[page] = [None] * self.page_size
        self.token_ids[page] = [None] * self.page_size
        return page

    def drop_page(self, page: int) -> None:
        self.refcount[page] -= 1
        if self.refcount[page] == 0:
            del self.refcount[page]
            if page in self.key_of_page:
                self.queue[page] = None  # keeps its data and key: a later prefill can hit it
            else:
                del self.slots[page], self.token_ids[page]
                self.released.append(page)

    def unregister(self, page: int) -> None:
        if page in self.key_of_page:
            del self.page_of_key[self.key_of_page.pop(page)]
            if page not in self.refcount:  # a free page that lost its key
                del self.slots[page], self.token_ids[page]

    def remove(self, seq: int) -> None:
        s = self.seqs.pop(seq)
        if s.cpu is not None:  # `free` of a swapped-out sequence frees its CPU pages (V-S4)
            self.cpu_used -= len(s.cpu)
        self.remove_pages(s)

    def remove_pages(self, s: Sequence) -> None:
        """Release s's pages, group 0's last block first, then group 1's, ... (P14, V-G3); null
        entries hold none."""
        order = [page for table in (reversed(s.tables) if BUG == "groups-release-order" else s.tables)
                 for page in reversed(table)]
        for page in order:
            if page is not None:
                self.drop_page(page)
        s.tables = [[] for _ in s.tables]

    def keep_gone_ids(self, s: Sequence, skips: list[int]) -> None:
        """Before entries up to skips[g]-1 of each group g become null: the ids of the tokens of
        the entries then null in every group join s.gone_ids, read from a group still holding them."""
        old, new = s.fewest_nulls(), min(max(s.null_entries(g), skip) for g, skip in enumerate(skips))
        for entry in range(old, new):
            page = next(t[entry] for t in s.tables if t[entry] is not None)
            s.gone_ids.extend(self.token_ids[page])

    # ---- the sliding window (section 16) ------------------------------------------------------

    def release_skip(self, n: int, group: int = 0) -> int:
        """skip_g(n) (V-W1) as the release before growth computes it."""
        if BUG == "window-off-by-one":  # the bug: one block too early
            return self.config.out_of_window_entries(n + 1, group)
        return self.config.out_of_window_entries(n, group)

    def release_out_of_window(self, s: Sequence) -> None:
        """V-W4 and V-G3, before s grows: each window group in group order releases its entries
        z_g .. skip_g(n)-1 last entry first (registered pages keep their keys and join the queue),
        made null; the ids of the tokens now null in every group are kept."""
        skips = [self.release_skip(s.n, g) for g in range(self.groups)]
        self.keep_gone_ids(s, skips)
        for g, skip in enumerate(skips):
            table, z = s.tables[g], s.null_entries(g)
            for entry in range(skip - 1, z - 1, -1):
                page = table[entry]
                table[entry] = None
                self.drop_page(page)

    # ---- eviction (sections 5 and 6) ----------------------------------------------------------

    def eviction_order(self) -> list[int]:
        # A swapped-out sequence holds no device page: never a victim (V-S4).
        live = [(s.last_use, i) for i, s in self.seqs.items() if not s.pinned and s.cpu is None]
        if BUG == "flaky-ties":  # a nondeterministic choice: ties broken by a per-process coin
            flip = FLAKY_COIN.random() < 0.5
            return [i for _, i in sorted(live, key=lambda e: (e[0], -e[1] if flip else e[1]))]
        return [i for _, i in sorted(live)]

    def make_room(self, need: int, protect: frozenset[int]) -> list[int]:
        """Evict (lru) until `need` pages are free; return the victims. Raises before evicting."""
        free = self.free_pages
        fits = need < free if BUG == "capacity" else need <= free
        if fits:
            return []
        if not self.lru:
            raise kv.OpError("capacity_exceeded")
        victims: list[int] = []
        held: dict[int, int] = {}  # page -> references from the victims so far
        for seq in self.eviction_order():
            if seq in protect:
                continue
            victims.append(seq)
            for page in self.seqs[seq].live_pages():
                held[page] = held.get(page, 0) + 1
                if held[page] == self.refcount[page]:
                    free += 1
            if need <= free:
                for victim in victims:
                    self.remove(victim)
                return victims
        raise kv.OpError("capacity_exceeded")

    # ---- ops (section 7) ----------------------------------------------------------------------

    def get(self, seq: int) -> Sequence:
        if seq not in self.seqs:
            raise kv.OpError("unknown_sequence")
        return self.seqs[seq]

    def alloc(self, seq, tick):
        if seq in self.seqs and (self.seqs[seq].waiting or self.seqs[seq].swapped):
            # a waiting S gets no page before its lookup (V-L8); a swapped-out S none (V-S4)
            raise kv.OpError("invalid_argument")
        if seq in self.seqs:
            self.release_out_of_window(self.seqs[seq])  # V-W4: stays even if no page is free
        evicted = self.make_room(self.groups, frozenset([seq]))  # one page per group (V-G1)
        s = self.seqs.setdefault(seq, Sequence(tick, self.groups))
        for table in s.tables:
            table.append(self.take_page())
        s.last_use = tick
        return evicted

    def append(self, seq, tokens, tick, protect):
        if not self.token_appends:
            return self.append_run(seq, tokens, tick, protect)
        # append_atomicity=token (V-A1, V-A2): one append per token, stopping at the first that
        # fails (everything before it stays done). Tokens that need no new page and release
        # nothing (V-W4) go together: the same as one at a time.
        evicted: list[int] = []
        p, i, count = self.page_size, 0, len(tokens)
        while i < count:
            s = self.seqs.get(seq)
            n = s.n if s else 0
            run = min(count - i, p - n % p)
            for g in range(self.groups):  # the next position whose release differs: a skip grows there
                w = self.config.window(g)
                if w:
                    off = 1 if BUG == "window-off-by-one" else 0
                    run = min(run, w - 1 - off + (self.release_skip(n, g) + 1) * p - n)
            evicted += self.append_run(seq, kv.Tokens(tokens.values[i : i + run], tokens.ids[i : i + run]),
                                       tick, protect) or []
            i += run
        return evicted

    def append_run(self, seq, tokens, tick, protect):
        p = self.page_size
        s = self.seqs.get(seq)
        if s is not None and (s.in_flight or s.swapped):
            raise kv.OpError("invalid_argument")  # spoken for (V-L8), or swapped out (V-S4)
        if s is not None:
            self.release_out_of_window(s)  # V-W4
        n, tables = (s.n, s.tables) if s else (0, [[]] * self.groups)
        entry = n // p
        shared = sum(1 for table in tables if entry < len(table) and self.refcount[table[entry]] > 1)
        need = (max(0, -(-(n + len(tokens)) // p) - len(tables[0]))) * self.groups + shared  # V-G1
        evicted = self.make_room(need, protect)
        if s is None:
            s = self.seqs[seq] = Sequence(tick, self.groups)
        for g, table in enumerate(s.tables):  # group 0 first
            self.copy_on_write(s, entry, g)
            if entry < len(table):
                self.unregister(table[entry])  # P16: a write into a registered page unregisters it
        self.write(s, n, tokens)
        s.n = n + len(tokens)
        s.last_use = tick
        return evicted

    def copy_on_write(self, s: Sequence, entry: int, group: int = 0) -> None:
        """If entry `entry` of the group's table exists and its page is shared, it gets a private
        copy of the slots below n % page_size (and their ids)."""
        table, keep = s.tables[group], s.n % self.page_size
        if entry < len(table) and self.refcount[table[entry]] > 1 and BUG != "cow":
            old = table[entry]
            table[entry] = self.take_page()
            self.slots[table[entry]][:keep] = self.slots[old][:keep]
            self.token_ids[table[entry]][:keep] = self.token_ids[old][:keep]
            self.drop_page(old)

    def write(self, s: Sequence, n: int, tokens: kv.Tokens) -> None:
        """Tokens n, n+1, ... of s in every group (group 0 first), appending pages as needed;
        group g's pages hold the values v ^ (g << 52) (V-G2)."""
        p, ids = self.page_size, tokens.ids
        for g, table in enumerate(s.tables):
            values = tokens.values if g == 0 else [kv.group_token_value(v, g) for v in tokens.values]
            i, count = 0, len(tokens)
            while i < count:  # one slice per page
                entry, slot = divmod(n + i, p)
                if entry == len(table):
                    table.append(self.take_page())
                take = min(p - slot, count - i)
                self.slots[table[entry]][slot : slot + take] = values[i : i + take]
                self.token_ids[table[entry]][slot : slot + take] = ids[i : i + take]
                i += take

    def prefill(self, seq, tokens, tick):
        if seq in self.seqs:
            raise kv.OpError("sequence_exists")
        p, n, ids = self.page_size, len(tokens), list(tokens.ids)
        blocks, firsts, hits = self.lookup(ids)
        victims = self.prefill_victims(hits, self.groups * (-(-n // p) - blocks), None)
        for victim in victims:
            self.remove(victim)
        s = self.seqs[seq] = Sequence(tick, self.groups)
        self.take_hits(s, firsts, hits, ids, lambda: tokens.values)
        k = blocks * p
        self.write(s, k, kv.Tokens(tokens.values[k:], ids[k:]))
        s.n = n
        self.register(s, ids, blocks, n // p)
        return k, victims

    def lookup(self, ids: list[int], limit_blocks: bool = True) -> tuple[int, list[int], list[list[int | None]]]:
        """The prefix-cache hit of a prompt with these ids: (H, firsts, pages), one first and one
        page list per group. H blocks hit, at most floor((len-1)/page_size): the last token is
        always computed (13.7). A full-attention group needs keys for blocks 0..H-1 (its first is
        0); a window group g (V-W7) only for blocks firsts[g] = max(0, H-c_g) .. H-1, its entries
        before them null; H is the largest every group accepts (V-G6). `pages[g]` are group g's
        hit pages (None: a block --bug hybrid-hit-full-only did not check, to be computed)."""
        p, groups = self.page_size, self.groups
        if not self.prefix_caching or not ids:
            return 0, [0] * groups, [[] for _ in range(groups)]
        limit = (len(ids) - 1) // p if limit_blocks else len(ids) // p
        # Only a block whose (group, key length, last id) some key has can be registered: a cheap
        # filter before the whole prefix is looked up.
        tails = {(g, len(key), key[-1]) for g, key in self.page_of_key}
        known: dict[tuple[int, int], int | None] = {}

        def page(g: int, block: int) -> int | None:
            if (g, block) not in known:
                end = (block + 1) * p
                hit = (g, end, ids[end - 1]) in tails
                known[(g, block)] = self.page_of_key.get((g, tuple(ids[:end]))) if hit else None
            return known[(g, block)]

        c = [self.config.group_window_blocks(g) for g in range(groups)]
        deciding = [g for g in range(groups) if c[g] == 0 or not (BUG == "hybrid-hit-full-only" and 0 in c)]
        h = limit
        for g in (g for g in deciding if c[g] == 0):  # full attention: the leading registered blocks
            h = next((b for b in range(h) if page(g, b) is None), h)
        while h > 0:  # every window group's blocks max(0,h-c)..h-1; a miss at b rules out b+1..h
            miss = next((b for g in deciding if c[g] for b in range(h - 1, max(0, h - c[g]) - 1, -1)
                         if page(g, b) is None), None)
            if miss is None:
                break
            h = miss
        firsts = [max(0, h - c[g]) if c[g] else 0 for g in range(groups)]
        return h, firsts, [[page(g, b) for b in range(firsts[g], h)] for g in range(groups)]

    def prefill_victims(self, hits: list[list[int | None]], new: int, requester: int | None) -> list[int]:
        """Prefill's fit rule (13.7, V-G1): after the op, the pages in use (the other sequences',
        every group's hits, `new` new pages) number at most max_pages; with lru, the shortest
        prefix of the eviction order (the requester skipped) after which it fits. Raises before
        evicting."""
        taken = {pg for group in hits for pg in group if pg is not None}
        new += sum(pg is None for group in hits for pg in group)  # --bug hybrid-hit-full-only

        def in_use_after(victims: set[int]) -> int:
            pages = {pg for i, s in self.seqs.items() if i not in victims for pg in s.live_pages()}
            return len(pages | taken) + new

        victims: list[int] = []
        if in_use_after(set()) > self.max_pages:
            if not self.lru:
                raise kv.OpError("capacity_exceeded")
            for victim in self.eviction_order():
                if victim == requester:
                    continue
                victims.append(victim)
                if in_use_after(set(victims)) <= self.max_pages:
                    break
            else:
                raise kv.OpError("capacity_exceeded")
        return victims

    def take_hits(self, s: Sequence, firsts: list[int], hits: list[list[int | None]], ids: list[int],
                  values_of) -> None:
        """s (no pages yet) takes every group's hit pages (group 0 first) into entries firsts[g]..,
        after firsts[g] null entries (V-W7, V-G6), before any new page; it keeps the ids of the
        tokens null in every group. A hit --bug hybrid-hit-full-only did not check gets a new page
        with its block computed (`values_of()`: the prompt's values)."""
        for group in hits:
            for page in group:
                if page is not None:
                    self.refcount[page] = self.refcount.get(page, 0) + 1
                    self.queue.pop(page, None)  # a queued hit leaves the queue
        s.tables = [[None] * first + list(group) for first, group in zip(firsts, hits)]
        s.gone_ids = list(ids[: min(firsts) * self.page_size])
        p = self.page_size
        for g, table in enumerate(s.tables):
            for entry in (e for e in range(len(table)) if e >= firsts[g] and table[e] is None):
                values = values_of()
                table[entry] = self.take_page()
                block = range(entry * p, (entry + 1) * p)
                self.slots[table[entry]] = [kv.group_token_value(values[i], g) for i in block]
                self.token_ids[table[entry]] = [ids[i] for i in block]

    def register(self, s: Sequence, ids: list[int], first: int, end: int) -> None:
        """P9 and V-G5 for blocks first..end-1 of s, full, whose ids are `ids` (at least
        end*page_size of them), in every group in group order: block j of group g under the key
        (g, ids through block j) when every id of it is a prompt id and the key is free."""
        if not self.prefix_caching:
            return
        for g, table in enumerate(s.tables):
            for block in range(first, end):
                key = (g, tuple(ids[: (block + 1) * self.page_size]))
                if not kv.is_prompt_token(key[1][-1]):
                    break  # generated ids come after prompt ids: this key and every later one hold one
                page = table[block]
                if key not in self.page_of_key and page not in self.key_of_page:
                    self.page_of_key[key] = page
                    self.key_of_page[page] = key

    def computed_ids(self, s: Sequence) -> list[int]:
        """The ids of s's n computed tokens: those of the entries null in every group (kept), then
        read from the pages of the group with the fewest null entries."""
        p, out = self.page_size, list(s.gone_ids)
        z = s.fewest_nulls()
        table = next(t for g, t in enumerate(s.tables) if s.null_entries(g) == z)
        for block in range(z, min(len(table), -(-s.n // p))):
            out.extend(self.token_ids[table[block]][: min(p, s.n - block * p)])
        return out

    # ---- the request lifecycle (section 15, kvtrace 3) ----------------------------------------

    def admit(self, seq, tokens, tick):
        if seq in self.seqs:
            raise kv.OpError("sequence_exists")
        s = self.seqs[seq] = Sequence(tick, self.groups)  # waits: no pages, nothing computed (V-L1)
        s.pending = list(tokens.ids)
        s.waiting = True

    def reserve(self, seq, n, tick):
        s = self.seqs.get(seq)
        if s is not None and s.swapped:
            raise kv.OpError("invalid_argument")  # V-S4
        if s is not None and s.waiting:
            return self.reserve_waiting(seq, s, n, tick)
        if s is not None:
            self.release_out_of_window(s)  # V-W4
        # V-L2: reserved pages (alloc's, or those a commit kept) are used before new ones.
        computed, reserved, pages = (s.n, s.reserved, s.length) if s else (0, 0, 0)
        wanted = -(-(computed + reserved + n) // self.page_size)
        evicted = self.make_room(max(0, wanted - pages) * self.groups, frozenset([seq]))  # V-G1
        if s is None:
            s = self.seqs[seq] = Sequence(tick, self.groups)
        for table in s.tables:  # group 0 first
            while len(table) < wanted:
                table.append(self.take_page())
        s.reserved += n
        s.last_use = tick
        return None, evicted

    def reserve_waiting(self, seq, s, n, tick):
        """V-L3: the lookup, once, as prefill's hit; pages for n slots after the hits; prefill's fit
        rule with S skipped. `ok hit=T`."""
        p = self.page_size
        blocks, firsts, hits = self.lookup(s.pending, limit_blocks=BUG != "whole-prompt-hit")
        k = blocks * p
        victims = self.prefill_victims(hits, (-(-(k + n) // p) - blocks) * self.groups, seq)
        for victim in victims:
            self.remove(victim)
        self.take_hits(s, firsts, hits, s.pending, lambda: kv.token_values_of_ids(s.pending))
        for table in s.tables:  # every group's hits first, then new pages, group 0 first
            while len(table) < -(-(k + n) // p):
                table.append(self.take_page())
        s.n = k
        del s.pending[:k]
        s.reserved = n
        s.waiting = False
        s.last_use = tick
        return k, victims

    def commit(self, seq, n, tick):
        s = self.get(seq)
        if n > s.reserved or s.swapped:  # swapped out: V-S4
            raise kv.OpError("invalid_argument")
        p, first = self.page_size, s.n
        entry = first // p
        cow = sum(1 for t in s.tables if n >= 1 and entry < len(t) and self.refcount[t[entry]] > 1)
        evicted = self.make_room(cow, frozenset([seq]))  # one copy per group whose page is shared
        for g in range(self.groups) if n >= 1 else ():
            self.copy_on_write(s, entry, g)
        # S's computed ids: for the values of the pending ids it takes, and for the keys it registers
        ids = self.computed_ids(s) if n and (s.pending or self.prefix_caching) else []
        tokens = kv.commit_tokens(ids, s.pending, tick, n)
        del s.pending[:n]
        for page in (pg for t in s.tables for pg in t[entry : -(-(first + n) // p)]) if n else ():
            self.unregister(page)  # P16: a write into a registered page unregisters it
        self.write(s, first, tokens)
        s.n = first + n
        if n and self.prefix_caching:
            self.register(s, ids + list(tokens.ids), entry, s.n // p)  # the blocks that became full
        s.reserved = 0
        if self.release_rejected:  # V-L5: the rejected slots' pages go, alloc's reserved ones too
            keep = -(-s.n // p)
            for table in s.tables:  # group 0's last first, then group 1's (V-G3)
                for page in reversed(table[keep:]):
                    self.drop_page(page)
                del table[keep:]
        s.last_use = tick
        return evicted

    def preempt(self, seq):
        s = self.get(seq)
        if s.swapped:
            raise kv.OpError("invalid_argument")  # V-S4
        ids = self.computed_ids(s)
        self.remove_pages(s)  # as by free: registered pages keep their keys and join the queue
        s.gone_ids = []
        s.pending[:0] = ids
        s.n = 0
        s.reserved = 0
        s.waiting = True  # keeps its pinned flag and last_use (V-L6)

    def swap_out(self, seq):
        """V-S2: S's first ceil(n/page_size) entries copied to CPU pages of their own (the non-null
        ones, V-W6), then every entry released as by free (registered pages keep their keys and
        join the queue, last block first); its null entries stay. Does not use S."""
        s = self.get(seq)
        if s.swapped or s.in_flight:
            raise kv.OpError("invalid_argument")
        p, n, zs = self.page_size, s.n, [s.null_entries(g) for g in range(self.groups)]
        end = -(-n // p)
        count = sum(max(0, end - z) for z in zs)  # one CPU page per non-null entry of every group (V-G4)
        if count > self.cpu_pages - self.cpu_used:
            raise kv.OpError("capacity_exceeded")
        cpu = []
        for g, z in enumerate(zs):
            for block in range(z, end):  # a page shared with a fork is copied too
                page, take = s.tables[g][block], min(p, n - block * p)
                cpu.append((g, block, self.slots[page][:take], self.token_ids[page][:take]))
        self.remove_pages(s)
        s.tables = [[None] * z for z in zs]  # null entries stay null (V-W6): `? pages` shows them
        s.cpu = cpu
        self.cpu_used += count

    def swap_in(self, seq, tick):
        """V-S3: room for ceil(n/page_size) new pages with S protected; S's tokens written back as
        they were, into unregistered pages (no block "becomes full": nothing registers); its CPU
        pages freed. Uses S."""
        s = self.get(seq)
        if not s.swapped:
            raise kv.OpError("invalid_argument")
        need = len(s.cpu)
        evicted = self.make_room(need, frozenset([seq]))
        # its null entries stayed (V-W6); the pages go after them, group 0's first
        for g, _, values, ids in s.cpu:
            page = self.take_page()
            self.slots[page][: len(values)] = values
            self.token_ids[page][: len(ids)] = ids
            s.tables[g].append(page)
        if BUG != "swap-keeps-cpu":  # the bug: the CPU pages stay counted as in use
            self.cpu_used -= need
        s.cpu = None
        s.last_use = tick
        return evicted

    def fork(self, src, dst, tick):
        s = self.get(src)
        if dst in self.seqs or dst == src:
            raise kv.OpError("sequence_exists")
        if s.swapped:
            raise kv.OpError("invalid_argument")  # V-S4: no device pages to share
        d = self.seqs[dst] = Sequence(tick, self.groups)
        d.tables = [t[: -(-s.n // self.page_size)] for t in s.tables]  # nulls copied as nulls (V-W2)
        d.gone_ids = list(s.gone_ids)
        d.n = s.n
        for page in d.live_pages():
            self.refcount[page] += 1
        s.last_use = tick

    def free(self, seq):
        self.get(seq)
        self.remove(seq)

    def truncate(self, seq, n, tick):
        s = self.get(seq)
        if n > s.n or s.in_flight or s.swapped:  # in flight: V-L8; swapped out: V-S4
            raise kv.OpError("invalid_argument")
        if any(s.null_entries(g) > self.config.out_of_window_entries(n, g) for g in range(self.groups)):
            raise kv.OpError("invalid_argument")  # V-W5, V-G3: a released block needed
        keep = -(-n // self.page_size)
        for table in s.tables:  # every table cut, group 0's last entry first
            for page in reversed(table[keep:]):
                self.drop_page(page)
            del table[keep:]
        s.n = n
        s.last_use = tick

    def pin(self, seq):
        self.get(seq).pinned = True

    def unpin(self, seq):
        self.get(seq).pinned = False

    def touch(self, seq, tick):
        self.get(seq).last_use = tick

    def read(self, seq, tick):
        s = self.get(seq)
        if s.swapped:
            raise kv.OpError("invalid_argument")  # V-S4: nothing on the device to read
        s.last_use = tick

    def evict(self):
        order = self.eviction_order()
        if not order:
            raise kv.OpError("nothing_to_evict")
        self.remove(order[0])
        return order[0]

    # ---- observations -------------------------------------------------------------------------

    def info(self, seq):
        s = self.get(seq)
        return kv.Info(tokens=s.n, pages=len(s.live_pages()), pinned=s.pinned)  # non-null entries (V-W2)

    def stats(self):
        used = len(self.refcount)
        tokens = sum(s.n for s in self.seqs.values())
        return kv.Stats(used=used, free=self.max_pages - used, sequences=len(self.seqs), tokens=tokens,
                        cached=len(self.key_of_page), cpu=self.cpu_used)

    def prefix_cache(self):
        """page -> (group, ids) with kv_groups (`? cache` PAGE=G:RANGES), page -> ids without."""
        if self.config.kv_groups:
            return self.key_of_page, list(self.queue)
        return {page: ids for page, (_, ids) in self.key_of_page.items()}, list(self.queue)

    def ids(self):
        return self.seqs.keys()

    def pages(self, seq):
        """Its table; with kv_groups one table per group (`? pages` separates them with `|`)."""
        s = self.get(seq)
        return s.tables if self.config.kv_groups else s.table

    def values(self, seq):
        """Group 0's tokens z_0*page_size .. n-1, then group 1's from z_1*page_size, ... (V-W3,
        V-G2): those of null entries are gone; group g's values are v ^ (g << 52)."""
        s = self.get(seq)
        p = self.page_size
        out: list[int] = []
        for g, table in enumerate(s.tables):
            for block in range(s.null_entries(g), min(len(table), -(-s.n // p))):  # none while swapped out
                out.extend(self.slots[table[block]][: min(p, s.n - block * p)])
        return out

    def audit_sequence(self, seq: int, s: Sequence):
        p, end = self.page_size, -(-s.n // self.page_size)
        # Swapped out, each group keeps only its own null entries (V-G4): lengths may differ.
        if not s.swapped and len({len(table) for table in s.tables}) != 1:
            yield f"sequence {seq}: its groups' block tables differ in length (V-G1)"
        for g, table in enumerate(s.tables):
            z = s.null_entries(g)
            if sum(page is not None for page in table) != len(table) - z:
                yield f"sequence {seq}: a null entry after a page in group {g} (null entries are a prefix, V-W2)"
            if z > self.config.out_of_window_entries(s.n, g):
                yield f"sequence {seq}: {z} null entries in group {g} for {s.n} tokens"
            # S6 per table, which does not apply while S is swapped out (V-S4)
            if s.cpu is None and len(table) < -(-(s.n + s.reserved) // p):
                yield f"sequence {seq}: {s.n} tokens and {s.reserved} reserved slots in {len(table)} pages"
        live = s.live_pages()
        if len(set(live)) != len(live):
            yield f"sequence {seq}: a page twice in its block tables"
        if len(s.gone_ids) != s.fewest_nulls() * p:
            yield f"sequence {seq}: {s.fewest_nulls()} entries null in every group, {len(s.gone_ids)} ids kept"
        if s.waiting and (live or s.length or s.n or s.reserved):
            yield f"sequence {seq} waits but holds pages, tokens or reserved slots"
        held = sum(max(0, end - s.null_entries(g)) for g in range(self.groups))
        tokens = sum(max(0, s.n - s.null_entries(g) * p) for g in range(self.groups))
        if s.swapped and (live or s.in_flight or len(s.cpu) != held
                          or sum(len(values) for _, _, values, _ in s.cpu) != tokens):
            yield f"sequence {seq} is swapped out but holds pages, is in flight, or its CPU pages miss tokens"

    def audit(self):
        counted: dict[int, int] = {}
        for seq, s in self.seqs.items():
            yield from self.audit_sequence(seq, s)
            for page in s.live_pages():
                counted[page] = counted.get(page, 0) + 1
        cpu = sum(len(s.cpu) for s in self.seqs.values() if s.cpu is not None)
        if cpu != self.cpu_used or cpu > self.cpu_pages:
            yield f"CPU pages in use: {self.cpu_used} counted, {cpu} held (cpu_pages {self.cpu_pages})"
        if counted != self.refcount:
            yield f"refcounts {sorted(self.refcount.items())} but block tables say {sorted(counted.items())}"
        if len(set(self.released)) != len(self.released) or set(self.released) & set(self.refcount):
            yield "free list holds a page twice or a page in use"
        if len(self.released) + (self.max_pages - self.fresh) + len(self.queue) != self.free_pages:
            yield "free list, cached-free queue and free count disagree"
        if any(page in self.refcount or page not in self.key_of_page for page in self.queue):
            yield "the cached-free queue holds a page in use or an unregistered page"
        for page, key in self.key_of_page.items():
            if self.page_of_key.get(key) != page or list(key[1][-self.page_size:]) != self.token_ids[page]:
                yield f"page {page}: its key and its token ids disagree"


PROFILE = kv.Profile(
    ops=["alloc", "append", "fork", "free", "truncate", "pin", "unpin", "touch", "read", "evict", "step",
         "prefill", "info", "stats", "check", "admit", "reserve", "commit", "preempt", "swap_out", "swap_in"],
    eviction=["none", "lru"],
    # section 16: any window; section 17: 2..8 KV groups, each window in that range
    ranges={"sliding_window": (0, kv.SLIDING_WINDOW_MAX), "kv_groups": (0, kv.KV_GROUPS_MAX)},
    data=True,
    audit=True,
)


if __name__ == "__main__":
    args = sys.argv[1:]
    if "--bug" in args:
        i = args.index("--bug")
        BUG = args[i + 1] if i + 1 < len(args) and not args[i + 1].startswith("--") else "cow"
    for arg in args:
        if arg.startswith("--bug="):
            BUG = arg.split("=", 1)[1]
    # --variant KEY=VALUE (or KV_EXAMPLE_VARIANTS="KEY=VALUE ..."): declare a variant in the profile.
    variants = os.environ.get("KV_EXAMPLE_VARIANTS", "").split()
    variants += [args[i + 1] for i, arg in enumerate(args[:-1]) if arg == "--variant"]
    variants += [arg.split("=", 1)[1] for arg in args if arg.startswith("--variant=")]
    for variant in variants:
        key, _, value = variant.partition("=")
        if value not in VARIANTS.get(key, ()):
            sys.exit(f"example_cache.py: unknown variant '{variant}' (known: {VARIANTS})")
    if variants:
        PROFILE.extra = ["config " + " ".join(variants)]
    # --sliding-window MIN (or KV_EXAMPLE_WINDOW=MIN): the profile's windows start at MIN, so a
    # campaign (whose generated configs have none) runs every trace under a window of MIN.
    window = os.environ.get("KV_EXAMPLE_WINDOW", "")
    window = next((args[i + 1] for i, arg in enumerate(args[:-1]) if arg == "--sliding-window"), window)
    if window:
        if not window.isdigit() or not 2 <= int(window) <= kv.SLIDING_WINDOW_MAX:
            sys.exit(f"example_cache.py: --sliding-window {window}: a window is 2..{kv.SLIDING_WINDOW_MAX} tokens")
        PROFILE.ranges["sliding_window"] = (int(window), kv.SLIDING_WINDOW_MAX)
    # KV_EXAMPLE_NAME: the handshake's name, as a new commit of the same engine might call itself.
    name = os.environ.get("KV_EXAMPLE_NAME", "python-example" + (f"-bug-{BUG}" if BUG else ""))
    kv.serve(PagedCache, PROFILE, name=name)
