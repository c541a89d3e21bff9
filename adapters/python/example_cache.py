#!/usr/bin/env python3
"""A small paged KV cache behind the kvharness kit: a worked example.

It implements docs/semantics.md sections 1 to 12 (alloc, append, fork with copy-on-write,
free, truncate, pin/unpin, touch, read, evict, step, info, stats, check; eviction none and
lru) on a pool of physical pages with refcounts and a free list, and audits itself; and
section 13's automatic prefix caching (prefill, registered keys, the cached-free queue).

    python3 adapters/python/example_cache.py            # the cache as it should be
    python3 adapters/python/example_cache.py --bug      # copy-on-write forgets to copy
    python3 adapters/python/example_cache.py --bug capacity   # off by one in "does it fit"
    python3 adapters/python/example_cache.py --bug flaky-ties # LRU ties broken by a coin flip
    python3 adapters/python/example_cache.py --protocol 2     # also answer `? cache`

(or KV_EXAMPLE_BUG=cow|capacity|flaky-ties). Everything protocol-related lives in kvharness_backend.py:
this file is only the cache and its mapping onto kv.Cache.
"""

from __future__ import annotations

import os
import random
import sys
from collections import OrderedDict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kvharness_backend as kv  # noqa: E402

BUG = os.environ.get("KV_EXAMPLE_BUG", "")
# --bug flaky-ties: seeded from the OS, so each process (and each replay) may choose differently.
FLAKY_COIN = random.Random()


class Sequence:
    __slots__ = ("table", "n", "pinned", "last_use")

    def __init__(self, tick: int):
        self.table: list[int] = []  # physical page per block-table entry
        self.n = 0
        self.pinned = False
        self.last_use = tick


class PagedCache(kv.Cache):
    def __init__(self, config: kv.Config):
        super().__init__(config)
        if config.extra:
            raise kv.ConfigError(f"unsupported config keys: {' '.join(config.extra)}")
        self.page_size = config.page_size
        self.max_pages = config.max_pages
        self.lru = config.eviction == "lru"
        self.seqs: dict[int, Sequence] = {}
        self.refcount: dict[int, int] = {}  # pages in use only
        self.released: list[int] = []  # free pages that were used before (reused first, LIFO)
        self.fresh = 0  # pages fresh..max_pages-1 were never used
        self.slots: dict[int, list[int | None]] = {}  # page -> its token values
        self.token_ids: dict[int, list[int | None]] = {}  # page -> its token ids
        # Prefix caching (section 13): key (the token-id prefix through a block) <-> page, and
        # the registered pages with refcount 0, oldest first.
        self.prefix_caching = config.prefix_caching
        self.page_of_key: dict[tuple[int, ...], int] = {}
        self.key_of_page: dict[int, tuple[int, ...]] = {}
        self.queue: OrderedDict[int, None] = OrderedDict()

    # ---- pages --------------------------------------------------------------------------------

    @property
    def free_pages(self) -> int:
        return self.max_pages - len(self.refcount)

    def take_page(self) -> int:
        """A new page: an unregistered free one, else the oldest cached-free one (P13)."""
        if self.released:
            page = self.released.pop()
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
        for page in reversed(self.seqs.pop(seq).table):
            self.drop_page(page)

    # ---- eviction (sections 5 and 6) ----------------------------------------------------------

    def eviction_order(self) -> list[int]:
        live = [(s.last_use, i) for i, s in self.seqs.items() if not s.pinned]
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
            for page in self.seqs[seq].table:
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
        evicted = self.make_room(1, frozenset([seq]))
        s = self.seqs.setdefault(seq, Sequence(tick))
        s.table.append(self.take_page())
        s.last_use = tick
        return evicted

    def append(self, seq, tokens, tick, protect):
        p = self.page_size
        s = self.seqs.get(seq)
        n, table = (s.n, s.table) if s else (0, [])
        entry = n // p
        shared = entry < len(table) and self.refcount[table[entry]] > 1
        need = max(0, -(-(n + len(tokens)) // p) - len(table)) + (1 if shared else 0)
        evicted = self.make_room(need, protect)
        if s is None:
            s = self.seqs[seq] = Sequence(tick)
        table = s.table
        if entry < len(table) and self.refcount[table[entry]] > 1 and BUG != "cow":
            old = table[entry]  # copy-on-write: the slots below n % p go to a private page
            table[entry] = self.take_page()
            self.slots[table[entry]][: n % p] = self.slots[old][: n % p]
            self.drop_page(old)
        if entry < len(table):
            self.unregister(table[entry])  # P16: a write into a registered page unregisters it
        self.write(s, n, tokens)
        s.n = n + len(tokens)
        s.last_use = tick
        return evicted

    def write(self, s: Sequence, n: int, tokens: kv.Tokens) -> None:
        """Tokens n, n+1, ... of s, appending pages as needed."""
        p, table, values, ids = self.page_size, s.table, tokens.values, tokens.ids
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
        hits: list[int] = []  # the leading blocks whose keys are registered (13.7)
        if self.prefix_caching:
            while len(hits) < (n - 1) // p and tuple(ids[: (len(hits) + 1) * p]) in self.page_of_key:
                hits.append(self.page_of_key[tuple(ids[: (len(hits) + 1) * p])])
        new = -(-n // p) - len(hits)

        def in_use_after(victims: set[int]) -> int:
            pages = {pg for i, s in self.seqs.items() if i not in victims for pg in s.table}
            return len(pages | set(hits)) + new

        victims: list[int] = []
        if in_use_after(set()) > self.max_pages:
            if not self.lru:
                raise kv.OpError("capacity_exceeded")
            for victim in self.eviction_order():
                victims.append(victim)
                if in_use_after(set(victims)) <= self.max_pages:
                    break
            else:
                raise kv.OpError("capacity_exceeded")
        for victim in victims:
            self.remove(victim)
        s = self.seqs[seq] = Sequence(tick)
        for page in hits:
            self.refcount[page] = self.refcount.get(page, 0) + 1
            self.queue.pop(page, None)
        s.table = list(hits)
        k = len(hits) * p
        self.write(s, k, kv.Tokens(tokens.values[k:], ids[k:]))
        s.n = n
        if self.prefix_caching:
            for block in range(len(hits), n // p):
                key = tuple(ids[: (block + 1) * p])
                if key not in self.page_of_key:
                    self.page_of_key[key] = s.table[block]
                    self.key_of_page[s.table[block]] = key
        return k, victims

    def fork(self, src, dst, tick):
        s = self.get(src)
        if dst in self.seqs or dst == src:
            raise kv.OpError("sequence_exists")
        d = self.seqs[dst] = Sequence(tick)
        d.table = s.table[: -(-s.n // self.page_size)]
        d.n = s.n
        for page in d.table:
            self.refcount[page] += 1
        s.last_use = tick

    def free(self, seq):
        self.get(seq)
        self.remove(seq)

    def truncate(self, seq, n, tick):
        s = self.get(seq)
        if n > s.n:
            raise kv.OpError("invalid_argument")
        keep = -(-n // self.page_size)
        for page in reversed(s.table[keep:]):
            self.drop_page(page)
        del s.table[keep:]
        s.n = n
        s.last_use = tick

    def pin(self, seq):
        self.get(seq).pinned = True

    def unpin(self, seq):
        self.get(seq).pinned = False

    def touch(self, seq, tick):
        self.get(seq).last_use = tick

    def read(self, seq, tick):
        self.get(seq).last_use = tick

    def evict(self):
        order = self.eviction_order()
        if not order:
            raise kv.OpError("nothing_to_evict")
        self.remove(order[0])
        return order[0]

    # ---- observations -------------------------------------------------------------------------

    def info(self, seq):
        s = self.get(seq)
        return kv.Info(tokens=s.n, pages=len(s.table), pinned=s.pinned)

    def stats(self):
        used = len(self.refcount)
        tokens = sum(s.n for s in self.seqs.values())
        return kv.Stats(used=used, free=self.max_pages - used, sequences=len(self.seqs), tokens=tokens,
                        cached=len(self.key_of_page))

    def prefix_cache(self):
        return self.key_of_page, list(self.queue)

    def ids(self):
        return self.seqs.keys()

    def pages(self, seq):
        return self.get(seq).table

    def values(self, seq):
        s = self.get(seq)
        p = self.page_size
        out: list[int] = []
        for block, page in enumerate(s.table[: -(-s.n // p)]):
            out.extend(self.slots[page][: min(p, s.n - block * p)])
        return out

    def audit(self):
        counted: dict[int, int] = {}
        for seq, s in self.seqs.items():
            if len(set(s.table)) != len(s.table):
                yield f"sequence {seq}: a page twice in its block table"
            if len(s.table) < -(-s.n // self.page_size):
                yield f"sequence {seq}: {s.n} tokens in {len(s.table)} pages"
            for page in s.table:
                counted[page] = counted.get(page, 0) + 1
        if counted != self.refcount:
            yield f"refcounts {sorted(self.refcount.items())} but block tables say {sorted(counted.items())}"
        if len(set(self.released)) != len(self.released) or set(self.released) & set(self.refcount):
            yield "free list holds a page twice or a page in use"
        if len(self.released) + (self.max_pages - self.fresh) + len(self.queue) != self.free_pages:
            yield "free list, cached-free queue and free count disagree"
        if any(page in self.refcount or page not in self.key_of_page for page in self.queue):
            yield "the cached-free queue holds a page in use or an unregistered page"
        for page, key in self.key_of_page.items():
            if self.page_of_key.get(key) != page or list(key[-self.page_size:]) != self.token_ids[page]:
                yield f"page {page}: its key and its token ids disagree"


PROFILE = kv.Profile(
    ops=["alloc", "append", "fork", "free", "truncate", "pin", "unpin", "touch", "read", "evict", "step",
         "prefill", "info", "stats", "check"],
    eviction=["none", "lru"],
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
    # KV_EXAMPLE_NAME: the handshake's name, as a new commit of the same engine might call itself.
    name = os.environ.get("KV_EXAMPLE_NAME", "python-example" + (f"-bug-{BUG}" if BUG else ""))
    kv.serve(PagedCache, PROFILE, name=name)
