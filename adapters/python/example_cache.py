#!/usr/bin/env python3
"""A small paged KV cache in Python, served to the harness through kvharness_backend.

Ops alloc, append, free, read, info, stats, check; eviction none. `--bug` plants an off-by-one
in the capacity check (one page more than the pool), which the harness finds.
Run: kvtrace campaign --backend "exec:python3 adapters/python/example_cache.py"
"""
import sys

import kvharness_backend as kh

PROFILE = """ops alloc append free read info stats check
eviction none
page_size 1 4096
max_pages 1 65536
kv_heads 1 8
head_dim 1 64
layers 1 4
data yes
audit no"""


class PagedCache(kh.Cache):
    """Invariant: a page is in free_pages iff no sequence's block table holds it."""

    def __init__(self, config, bug):
        super().__init__(config)
        self.page_size, self.bug = config["page_size"], bug
        self.free_pages = list(range(config["max_pages"] - 1, -1, -1))  # pop() gives page 0 first
        self.tables, self.counts, self.data = {}, {}, {}  # seq -> pages, n, token words

    def take(self, count):
        limit = len(self.free_pages) + (1 if self.bug else 0)
        if count > limit:
            raise kh.OpError("capacity_exceeded")
        return [self.free_pages.pop() if self.free_pages else 1 << 30 for _ in range(count)]

    def alloc(self, seq, tick):
        pages = self.take(1)
        self.tables.setdefault(seq, []).extend(pages)
        self.counts.setdefault(seq, 0)
        self.data.setdefault(seq, [])

    def append(self, seq, count, tick, entry):
        if not 1 <= count <= 1048576:
            raise kh.OpError("invalid_argument")
        table = self.tables.get(seq, [])
        n = self.counts.get(seq, 0)
        need = max(0, -(-(n + count) // self.page_size) - len(table))
        pages = self.take(need)
        self.tables[seq] = table + pages
        self.counts[seq] = n + count
        words = self.data.setdefault(seq, [])
        for offset in range(count):
            words.extend(kh.token_words(kh.token_value(tick, entry, offset), self.config))

    def free(self, seq, tick):
        if seq not in self.tables:
            raise kh.OpError("unknown_sequence")
        self.free_pages.extend(p for p in reversed(self.tables.pop(seq)) if p != 1 << 30)
        del self.counts[seq], self.data[seq]

    def read(self, seq, tick):
        if seq not in self.tables:
            raise kh.OpError("unknown_sequence")

    def stats(self):
        used = sum(len(t) for t in self.tables.values())
        return (used, self.config["max_pages"] - used, len(self.tables), sum(self.counts.values()))

    def info(self, seq):
        if seq not in self.tables:
            return None
        return (self.counts[seq], len(self.tables[seq]), 0)

    def ids(self):
        return sorted(self.tables)

    def pages(self, seq):
        return self.tables.get(seq)

    def words(self, seq):
        return self.data.get(seq)


if __name__ == "__main__":
    bug = "--bug" in sys.argv[1:]
    kh.serve(lambda config: PagedCache(config, bug), PROFILE, "python-example")
