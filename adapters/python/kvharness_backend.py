"""The kvharness backend protocol (docs/backend-protocol.md) for a cache written in Python.

Standard library only. An adapter subclasses Cache, implements the ops its profile declares,
and calls serve(); this module does the handshake, parsing, ticks, token words and digests.
"""
import sys

MASK64 = (1 << 64) - 1


class OpError(Exception):
    """Raised by a Cache op for an error result: 'capacity_exceeded', 'unknown_sequence', ..."""


def token_value(tick, entry, offset):
    """A generated token's value (docs/semantics.md V2)."""
    return ((tick << 29) | (entry << 21) | offset) & MASK64


def token_word(value, layer, kv, index):
    """Word `index` of the K (kv=0) or V (kv=1) vector of one layer (trace/token.hpp)."""
    x = (value * 0x9E3779B97F4A7C15 + (layer << 40) + index) & MASK64
    x ^= x >> 31
    x = (x * 0xBF58476D1CE4E5B9) & MASK64
    x ^= x >> 29
    return (x & 0x7FFFFFFF) | (kv << 31)


def token_words(value, config):
    """One token's words, layout [layer][K, V][head * dim]."""
    vector_words = config["kv_heads"] * config["head_dim"]
    return [token_word(value, layer, kv, index) for layer in range(config["layers"])
            for kv in (0, 1) for index in range(vector_words)]


def digest(words):
    """64-bit FNV-1a over the words' little-endian bytes (trace/digest.hpp)."""
    h = 0xCBF29CE484222325
    for word in words:
        for byte in range(4):
            h ^= (word >> (8 * byte)) & 0xFF
            h = (h * 0x100000001B3) & MASK64
    return h


class Cache:
    """What an adapter implements. Ops raise OpError(word) for error results and return the
    evicted sequence ids (a list) where the op can evict; observations never change state."""

    def __init__(self, config):
        self.config = config  # dict: page_size, max_pages, eviction, kv_heads, ... (all keys)

    # observations
    def stats(self):  # -> (used, free, sequences, tokens)
        raise NotImplementedError

    def info(self, seq):  # -> (tokens, pages, pinned) or None
        raise NotImplementedError

    def ids(self):
        raise NotImplementedError

    def pages(self, seq):  # -> physical page ids of its block table, or None
        raise NotImplementedError

    def words(self, seq):  # -> every word of its tokens, in token order, or None
        raise NotImplementedError


SHAPE_DEFAULTS = {"kv_heads": 1, "head_dim": 2, "layers": 1, "eviction": "none"}


def parse_config(line):
    config = dict(SHAPE_DEFAULTS)
    for item in line.split()[1:]:
        key, _, value = item.partition("=")
        config[key] = int(value) if value.isdigit() else value
    for key in ("page_size", "max_pages"):
        if key not in config:
            raise ValueError("config lacks " + key)
    return config


def _ok_list(values):
    return " ".join(["ok"] + [str(v) for v in values])


def _result(evicted):
    return "ok evicted=" + ",".join(str(v) for v in evicted) if evicted else "ok"


class Server:
    def __init__(self, make_cache, profile, name, out):
        self.make_cache, self.profile, self.name, self.out = make_cache, profile, name, out
        self.cache, self.tick = None, 0

    def handshake(self):
        self.out.write("kvbackend 1 %s\n%s\nready\n" % (self.name, self.profile.strip()))
        self.out.flush()

    def op(self, words):
        name, args = words[0], [int(w) for w in words[1:] if ":" not in w]
        cache, tick = self.cache, self.tick
        if name == "step":
            results = []
            for index, entry in enumerate(words[1:]):
                seq, count = (int(v) for v in entry.split(":"))
                results.append(self.one(lambda: cache.append(seq, count, tick, index)))
            return " ; ".join(results)
        if name in ("info",):
            found = cache.info(args[0])
            if found is None:
                return "unknown_sequence"
            return "ok tokens=%d pages=%d pinned=%d" % found
        if name == "stats":
            return "ok used=%d free=%d sequences=%d tokens=%d" % cache.stats()
        if name == "check":
            return "ok"
        if name == "append":
            return self.one(lambda: cache.append(args[0], args[1], tick, 0))
        method = getattr(cache, name)
        return self.one(lambda: method(*args, tick) if name != "evict" else method())

    @staticmethod
    def one(call):
        try:
            return _result(call() or [])
        except OpError as error:
            return str(error)

    def observe(self, words):
        cache = self.cache
        kind = words[1]
        if kind == "stats":
            return "ok used=%d free=%d sequences=%d tokens=%d" % cache.stats()
        if kind == "ids":
            return _ok_list(cache.ids())
        if kind == "audit":
            return "ok"
        seq = int(words[2])
        if kind == "info":
            found = cache.info(seq)
            return "unknown_sequence" if found is None else "ok tokens=%d pages=%d pinned=%d" % found
        if kind == "pages":
            found = cache.pages(seq)
            return "unknown_sequence" if found is None else _ok_list(found)
        found = cache.words(seq)
        if found is None:
            return "unknown_sequence"
        if kind == "digest":
            return "ok %016x" % digest(found)
        if kind == "words":
            first, count = int(words[3]), int(words[4])
            return _ok_list(found[first:first + min(count, 4096)])
        return "error unknown observation '%s'" % " ".join(words)

    def handle(self, line):
        words = line.split()
        if not words:
            return "error empty request"
        if words[0] == "config":
            self.cache, self.tick = self.make_cache(parse_config(line)), 0
            return "ok"
        if self.cache is None:
            return "error no config yet"
        if words[0] == "tick":
            self.tick = int(words[1])
            return "ok"
        if words[0] == "?":
            return self.observe(words)
        reply = self.op(words)
        self.tick += 1
        return reply


def serve(make_cache, profile, name="python-cache", stdin=None, stdout=None):
    """Answers the harness on stdin/stdout until end of input. `profile`: the handshake's lines
    between `kvbackend` and `ready` (ops, eviction, ranges, data, audit, config, count)."""
    stdin, stdout = stdin or sys.stdin, stdout or sys.stdout
    server = Server(make_cache, profile, name, stdout)
    server.handshake()
    for line in stdin:
        try:
            reply = server.handle(line.rstrip("\r\n"))
        except Exception as error:  # the adapter's own bug: a backend failure with its message
            reply = "error %s: %s" % (type(error).__name__, error)
        stdout.write(reply + "\n")
        stdout.flush()  # before blocking on the next read (pipelining rule)
