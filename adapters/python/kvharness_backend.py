"""kvharness backend kit: speak docs/backend-protocol.md for a Python KV cache.

Standard library only (Python 3.11). An adapter is its mapping only:

    import kvharness_backend as kv

    class MyCache(kv.Cache):
        def __init__(self, config): ...
        def alloc(self, seq, tick): ...          # return the evicted ids ([] or None: none)
        def append(self, seq, tokens, tick, protect): ...
        ...

    kv.serve(MyCache, kv.Profile(ops=["alloc", "append", ...]), name="my-cache")

The kit does the protocol loop (one reply line per request, flushing before it blocks on
input), the handshake, config parsing, ticks (T1 and `tick T`), token values, ids and words
(section 4 of docs/backend-protocol.md, trace/token.hpp), stateless argument checks, the
sliding window's config key and arithmetic (`Config.sliding_window`, `out_of_window_entries`,
`window_blocks`; docs/semantics.md section 16), result formatting (`ok hit=T evicted=...` for `prefill` and a waiting sequence's `reserve`; the
`cached=` and `cpu=` fields of stats), the values of the tokens a `commit` writes
(`commit_tokens`, kvtrace 3), the FNV-1a digest and every observation (`? stats`, `? info`,
`? ids`, `? pages` with `-` for a null entry, `? digest`, `? words`, `? audit`, `? cache`). A cache method signals an error result by raising
`OpError("capacity_exceeded")` (or returning nothing for `ok`); any other exception becomes an
`error MESSAGE` reply, which the harness reports as a backend failure.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import traceback
from collections.abc import Callable, Iterable, Sequence

MASK64 = (1 << 64) - 1

# ---- token values, ids and words (trace/token.hpp) --------------------------------------------

GENERATED_TOKEN_FLAG = 1 << 63
PROMPT_CHAIN_START = 0x6A09E667F3BCC908
APPEND_COUNT_MAX = 1048576  # append S N / step S:N / reserve S N: 1 <= N <= this; commit S N: N <= this
PREFILL_TOKEN_COUNT_MAX = 1048576  # prefill: total tokens
PROMPT_STREAM_MAX = 2047  # prefill P:N: P <= this
STEP_ENTRIES_MAX = 256
WORDS_PER_REQUEST_MAX = 4096

ERROR_WORDS = frozenset(
    ["capacity_exceeded", "unknown_sequence", "sequence_exists", "invalid_argument", "nothing_to_evict"]
)


def token_value(tick: int, entry: int, offset: int) -> int:
    """Value of a generated token: (tick << 29) | (entry << 21) | offset, 64-bit."""
    return ((tick << 29) | (entry << 21) | offset) & MASK64


def generated_token_id(value: int) -> int:
    return GENERATED_TOKEN_FLAG | value


def prompt_token_id(stream: int, index: int) -> int:
    return (stream << 20) | index


def is_prompt_token(token_id: int) -> bool:
    return token_id < GENERATED_TOKEN_FLAG


def prompt_chain(previous: int, token_id: int) -> int:
    x = ((previous ^ ((token_id * 0xD6E8FEB86659FD93) & MASK64)) + 0x9E3779B97F4A7C15) & MASK64
    x ^= x >> 32
    x = (x * 0xD6E8FEB86659FD93) & MASK64
    x ^= x >> 32
    return x


def prompt_token_value(chain: int) -> int:
    return chain | (1 << 63)


def prompt_token_values(ids: Iterable[int]) -> list[int]:
    """The values of a whole prompt, token by token (a chain over the id prefix)."""
    values = []
    chain = PROMPT_CHAIN_START
    for token_id in ids:
        chain = prompt_chain(chain, token_id)
        values.append(prompt_token_value(chain))
    return values


def token_values_of_ids(ids: Iterable[int]) -> list[int]:
    """The values of a sequence's known ids, in order (trace/token.hpp `token_values_of_ids`):
    prompt values (the chain) for its leading prompt ids, then the value each generated id
    carries (`generated_token_id(value)` sets the top flag bit on it). A token recomputed after
    `preempt` (kvtrace 3) therefore gets back the value it had."""
    values = []
    chain = PROMPT_CHAIN_START
    in_prompt = True
    for token_id in ids:
        in_prompt = in_prompt and is_prompt_token(token_id)
        if in_prompt:
            chain = prompt_chain(chain, token_id)
            values.append(prompt_token_value(chain))
        else:
            values.append(token_id & ~GENERATED_TOKEN_FLAG & MASK64)
    return values


def commit_tokens(computed_ids: Sequence[int], pending_ids: Sequence[int], tick: int, count: int) -> "Tokens":
    """The `count` tokens that `commit S count` at `tick` writes (docs/semantics.md 15.2, V-L4).

    `computed_ids`: the ids of S's n computed tokens, in order; `pending_ids`: its pending ids.
    Token i (0-based within the commit) takes the next pending id if there is one, else a new
    generated id whose value is token_value(tick, 0, i); its value is the one its id gives
    (`token_values_of_ids` over S's ids through it). The caller drops the first
    min(count, len(pending_ids)) pending ids. A commit with no pending ids costs O(1) (ranges,
    as `Tokens.generated`); one that takes pending ids walks the chain over `computed_ids`.
    """
    taken = min(count, len(pending_ids))
    base = token_value(tick, 0, 0)  # token_value(tick, 0, i) == base + i, since i < 2^21
    generated_values = range(base + taken, base + count)
    generated_ids = range(GENERATED_TOKEN_FLAG | (base + taken), GENERATED_TOKEN_FLAG | (base + count))
    if taken == 0:
        return Tokens(generated_values, generated_ids)
    known = list(computed_ids)
    taken_ids = list(pending_ids[:taken])
    values = token_values_of_ids(known + taken_ids)[len(known):]
    return Tokens(values + list(generated_values), taken_ids + list(generated_ids))


def group_token_value(value: int, group: int) -> int:
    """The value a token of value `value` has in KV group `group`'s pages: value ^ (group << 52)
    (docs/semantics.md V-G2, trace/token.hpp); group 0's is the value itself."""
    return value ^ (group << 52)


def token_word(value: int, layer: int, kv: int, index: int) -> int:
    """Word `index` of the K (kv=0) or V (kv=1) vector of one layer of a token with this value."""
    x = (value * 0x9E3779B97F4A7C15 + (layer << 40) + index) & MASK64
    x ^= x >> 31
    x = (x * 0xBF58476D1CE4E5B9) & MASK64
    x ^= x >> 29
    return (x & 0x7FFFFFFF) | (kv << 31)


def token_words(value: int, config: "Config") -> list[int]:
    """One token's words, layout [layer][K,V][head*dim]: config.words_per_token words."""
    vector_words = config.kv_heads * config.head_dim
    return [
        token_word(value, layer, kv, index)
        for layer in range(config.layers)
        for kv in (0, 1)
        for index in range(vector_words)
    ]


def values_words(values: Iterable[int], config: "Config") -> list[int]:
    """The words of tokens with these values, in order: token_words of each, concatenated.

    The fast path of `Cache.words` (a check may digest a million tokens within the harness's
    10 s reply timeout): K and V words differ only in the top bit, so each mix is done once.
    """
    vector_words = config.kv_heads * config.head_dim
    coords = [(layer << 40) + index for layer in range(config.layers) for index in range(vector_words)]
    spans = [(layer * vector_words, (layer + 1) * vector_words) for layer in range(config.layers)]
    out: list[int] = []
    extend = out.extend
    mask, golden, mix = MASK64, 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9
    for value in values:
        base = value * golden
        keys = []
        for coord in coords:
            x = (base + coord) & mask
            x ^= x >> 31
            x = (x * mix) & mask
            x ^= x >> 29
            keys.append(x & 0x7FFFFFFF)
        for first, last in spans:
            layer_keys = keys[first:last]
            extend(layer_keys)
            extend([word | 0x80000000 for word in layer_keys])
    return out


DIGESTS_KEPT_MAX = 4096  # sequences whose last digest an Adapter keeps
FNV_OFFSET_BASIS = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3


def digest(words: Iterable[int]) -> int:
    """64-bit FNV-1a over the words' bytes, each word little-endian (trace/digest.hpp)."""
    h, prime, mask = FNV_OFFSET_BASIS, FNV_PRIME, MASK64
    for word in words:
        h = ((h ^ (word & 0xFF)) * prime) & mask
        h = ((h ^ ((word >> 8) & 0xFF)) * prime) & mask
        h = ((h ^ ((word >> 16) & 0xFF)) * prime) & mask
        h = ((h ^ ((word >> 24) & 0xFF)) * prime) & mask
    return h


class Tokens(Sequence):
    """The tokens one append (or step entry, or prefill) writes: `values[i]` and `ids[i]`.

    Generated tokens are `range`s (an append may write a million: slice them, e.g. per page);
    a prefill's are lists. Index or slice `values` and `ids`; `tokens[i]` is the pair.
    """

    def __init__(self, values: Sequence[int], ids: Sequence[int]):
        self.values = values
        self.ids = ids

    @staticmethod
    def generated(tick: int, entry: int, count: int) -> "Tokens":
        # token_value(tick, entry, i) == base + i, since i < 2^21: a range, sliced in O(slice)
        base = token_value(tick, entry, 0)
        return Tokens(range(base, base + count), range(GENERATED_TOKEN_FLAG | base, (GENERATED_TOKEN_FLAG | base) + count))

    @staticmethod
    def prompt(ids: list[int]) -> "Tokens":
        return Tokens(prompt_token_values(ids), ids)

    def __len__(self) -> int:
        return len(self.values)

    def __getitem__(self, i):  # (value, id) pairs
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return (self.values[i], self.ids[i])


# ---- config and profile -----------------------------------------------------------------------

SHAPE_DEFAULTS = {"kv_heads": 1, "head_dim": 2, "layers": 1}
DEFAULT_RANGES = {
    "page_size": (1, 65536),
    "max_pages": (1, 16777216),
    "kv_heads": (1, 256),
    "head_dim": (1, 1024),
    "layers": (1, 256),
}
CPU_PAGES_RANGE = (0, 16777216)  # kvtrace 3's CPU pool (docs/semantics.md V-S1); no profile line
# kvtrace 3's sliding window (docs/semantics.md V-W0): 0 (full attention) or 2..1048576 tokens. A
# backend declares the windows it takes with the profile line `sliding_window 0 MAX`
# (`Profile(ranges={"sliding_window": (0, MAX)})`); undeclared, it is 0..0: no windows.
SLIDING_WINDOW_MAX = 1048576
# kvtrace 3's hybrid KV groups (docs/semantics.md V-G0): `kv_groups=W0,W1,...`, 2..8 windows, each
# 0 or a sliding window. A backend declares them with `kv_groups 0 8`
# (`Profile(ranges={"kv_groups": (0, 8)})`, each window also within its sliding_window range).
KV_GROUPS_MAX = 8
NULL_PAGE = None  # a null block-table entry (V-W2): `Cache.pages` gives None, `? pages` shows `-`


@dataclasses.dataclass
class Config:
    """A parsed `config` request. Keys the kit does not know (the semantic variants of
    docs/semantics.md section 14, e.g. `rejected_slots=released`, or anything newer) are in
    `extra`, values as strings."""

    page_size: int
    max_pages: int
    eviction: str = "none"
    kv_heads: int = 1
    head_dim: int = 2
    layers: int = 1
    prefix_caching: bool = False
    cpu_pages: int = 0  # kvtrace 3: pages in the CPU pool that swap_out moves to (V-S1); 0: none
    sliding_window: int = 0  # kvtrace 3: W tokens each token attends to (section 16); 0: all
    kv_groups: tuple[int, ...] = ()  # kvtrace 3: each KV group's window (section 17); (): one group
    extra: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def groups(self) -> int:
        """The block tables every sequence has (V-G1): 1 without kv_groups."""
        return len(self.kv_groups) or 1

    def window(self, group: int = 0) -> int:
        """Group g's window, 0 for full attention (without kv_groups: sliding_window)."""
        return self.kv_groups[group] if self.kv_groups else self.sliding_window

    @property
    def words_per_token(self) -> int:
        return self.kv_heads * self.head_dim * self.layers * 2

    def out_of_window_entries(self, n: int, group: int = 0) -> int:
        """skip_g(n) = floor(max(0, n - W_g + 1) / page_size) (V-W1): the leading entries of group
        g's table, for a sequence with n tokens, that no token from position n on attends to; 0
        without a window."""
        w = self.window(group)
        if w == 0 or n < w:
            return 0
        return (n - w + 1) // self.page_size

    def group_window_blocks(self, group: int) -> int:
        """c_g = ceil((W_g-1)/page_size), at least 1 (V-W7): the blocks before a prefix-cache hit's
        end that group g needs; 0 for full attention (every block before it is needed)."""
        w = self.window(group)
        return max(1, -(-(w - 1) // self.page_size)) if w else 0

    @property
    def window_blocks(self) -> int:
        """Group 0's c (the one window without kv_groups)."""
        return self.group_window_blocks(0)


class ConfigError(Exception):
    pass


def parse_config(line: str, profile: "Profile | None" = None) -> Config:
    fields: dict[str, object] = {}
    extra: dict[str, str] = {}
    for item in line.split()[1:]:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"config item '{item}' is not key=value")
        if key in fields or key in extra:
            raise ConfigError(f"config key '{key}' repeated")
        if key in DEFAULT_RANGES:
            if not value.isdigit():
                raise ConfigError(f"{key}={value} is not a number")
            number = int(value)
            low, high = (profile.ranges if profile else DEFAULT_RANGES).get(key, DEFAULT_RANGES[key])
            if not low <= number <= high:
                raise ConfigError(f"{key}={number} is outside the profile's range {low}..{high}")
            fields[key] = number
        elif key == "eviction":
            allowed = profile.eviction if profile else ("none", "lru")
            if value not in allowed:
                raise ConfigError(f"eviction={value} is not supported (profile: {' '.join(allowed)})")
            fields[key] = value
        elif key == "cpu_pages":
            if not value.isdigit():
                raise ConfigError(f"{key}={value} is not a number")
            low, high = CPU_PAGES_RANGE
            if not low <= int(value) <= high:
                raise ConfigError(f"{key}={int(value)} is outside {low}..{high}")
            fields[key] = int(value)
        elif key == "sliding_window":
            if not value.isdigit():
                raise ConfigError(f"{key}={value} is not a number")
            number = int(value)
            low, high = profile.ranges.get(key, (0, 0)) if profile else (0, SLIDING_WINDOW_MAX)
            if number == 1 or number > SLIDING_WINDOW_MAX:
                raise ConfigError(f"{key}={number} is out of range: 0 (full attention) or 2..{SLIDING_WINDOW_MAX}")
            if not low <= number <= high:
                raise ConfigError(f"{key}={number} is outside the profile's range {low}..{high}")
            fields[key] = number
        elif key == "kv_groups":
            fields[key] = _parse_kv_groups(value, profile)
        elif key == "prefix_caching":
            if value not in ("on", "off"):
                raise ConfigError(f"prefix_caching={value} is not on or off")
            fields[key] = value == "on"
        else:
            extra[key] = value
    if "page_size" not in fields or "max_pages" not in fields:
        raise ConfigError("config needs page_size and max_pages")
    if fields.get("sliding_window", 0) and extra.get("reserved_slots") == "skipped":
        raise ConfigError("reserved_slots=skipped cannot be combined with sliding_window (docs/semantics.md V-W0)")
    if fields.get("kv_groups") and (fields.get("sliding_window", 0) or extra.get("reserved_slots") == "skipped"):
        raise ConfigError("kv_groups cannot be combined with sliding_window or reserved_slots=skipped "
                          "(docs/semantics.md V-G0)")
    return Config(extra=extra, **fields)  # type: ignore[arg-type]


def _parse_kv_groups(value: str, profile: "Profile | None") -> tuple[int, ...]:
    """`kv_groups=0,128` (V-G0): 2..8 windows, each 0 or 2..1048576, the count within the
    profile's kv_groups range and each window within its sliding_window range."""
    words = value.split(",")
    if not all(word.isdigit() for word in words):
        raise ConfigError(f"kv_groups={value} is not comma-separated numbers")
    windows = tuple(int(word) for word in words)
    if not 2 <= len(windows) <= KV_GROUPS_MAX:
        raise ConfigError(f"kv_groups={value} has {len(windows)} groups: 2..{KV_GROUPS_MAX}")
    low, high = profile.ranges.get("kv_groups", (0, 0)) if profile else (0, KV_GROUPS_MAX)
    if not low <= len(windows) <= high:
        raise ConfigError(f"kv_groups={value}: {len(windows)} groups is outside the profile's range {low}..{high}")
    w_low, w_high = profile.ranges.get("sliding_window", (0, 0)) if profile else (0, SLIDING_WINDOW_MAX)
    for w in windows:
        if w == 1 or w > SLIDING_WINDOW_MAX:
            raise ConfigError(f"kv_groups={value}: window {w} is out of range: 0 (full attention) or "
                              f"2..{SLIDING_WINDOW_MAX}")
        if w and not w_low <= w <= w_high:
            raise ConfigError(f"kv_groups={value}: window {w} is outside the profile's sliding_window {w_low}..{w_high}")
    return windows


@dataclasses.dataclass
class Profile:
    """What the backend implements: the handshake's profile lines (docs/backend-protocol.md 2).

    `extra` holds further profile lines passed through verbatim, e.g.
    `["config append_atomicity=token", "count append 1 1"]`. `ranges` may also hold
    `"sliding_window": (0, MAX)`: the windows the cache implements (section 16), 0..0 if absent.
    """

    ops: Sequence[str]
    eviction: Sequence[str] = ("none",)
    ranges: dict[str, tuple[int, int]] = dataclasses.field(default_factory=dict)
    data: bool = True
    audit: bool = False
    extra: Sequence[str] = ()

    def __post_init__(self):
        merged = dict(DEFAULT_RANGES)
        merged.update(self.ranges)
        self.ranges = merged

    def lines(self, version: int, name: str) -> list[str]:
        out = [f"kvbackend {version} {name}", "ops " + " ".join(self.ops), "eviction " + " ".join(self.eviction)]
        for key in ("page_size", "max_pages", "kv_heads", "head_dim", "layers"):
            low, high = self.ranges[key]
            out.append(f"{key} {low} {high}")
        if self.ranges.get("sliding_window", (0, 0))[1] > 0:  # declared: windows up to MAX
            low, high = self.ranges["sliding_window"]
            out.append(f"sliding_window {low} {high}")
        if self.ranges.get("kv_groups", (0, 0))[1] > 0:  # declared: up to MAX groups (section 17)
            low, high = self.ranges["kv_groups"]
            out.append(f"kv_groups {low} {high}")
        out.append("data " + ("yes" if self.data else "no"))
        out.append("audit " + ("yes" if self.audit else "no"))
        out.extend(self.extra)
        out.append("ready")
        return out


# ---- the interface a cache implements ----------------------------------------------------------


class OpError(Exception):
    """An error result of an op: one of ERROR_WORDS (docs/semantics.md section 8)."""

    def __init__(self, word: str):
        if word not in ERROR_WORDS:
            raise ValueError(f"'{word}' is not a kvtrace error word")
        super().__init__(word)
        self.word = word


@dataclasses.dataclass
class Info:
    tokens: int
    pages: int
    pinned: bool


@dataclasses.dataclass
class Stats:
    used: int
    free: int
    sequences: int
    tokens: int
    cached: int = 0  # registered pages (prefix_caching=on only)
    cpu: int = 0  # CPU pages in use: swapped-out sequences' (printed only with cpu_pages > 0)


class Cache:
    """The interface the kit drives. Implement the ops your profile declares.

    Ops that may evict return the evicted sequence ids in eviction order (a list; None or []
    for none). Errors: raise OpError(word). `tick` is the op's tick (docs/semantics.md T1).
    `tokens` is a `Tokens`: `tokens.values[i]` is token i's value, `tokens.ids[i]` its id.
    The kit has already done the stateless argument checks (count ranges) when it calls you.

    With a sliding window (`config.sliding_window` > 0, docs/semantics.md section 16; only if the
    profile declares `sliding_window 0 MAX`): before `alloc`, `append` (each one-token append
    under append_atomicity=token), a `step` entry and `reserve` of a sequence that is not waiting
    grow S, after their other checks, S's entries z .. skip(n)-1 are released last first and
    become null (`config.out_of_window_entries(n)`, V-W4); `truncate S N` is invalid_argument
    when z > skip(N) (V-W5); `swap_out` copies only non-null entries and `swap_in` writes them
    back into the same entries (V-W6); a prefix-cache hit takes only the pages of the
    `config.window_blocks` blocks before its end (V-W7); `info` counts non-null entries.
    """

    def __init__(self, config: Config):
        self.config = config

    # state-changing ops
    def alloc(self, seq: int, tick: int) -> list[int] | None:
        raise NotImplementedError

    def append(self, seq: int, tokens: Tokens, tick: int, protect: frozenset[int]) -> list[int] | None:
        """`protect`: the ids eviction must skip ({seq}, or every id of a step)."""
        raise NotImplementedError

    def fork(self, src: int, dst: int, tick: int) -> None:
        raise NotImplementedError

    def free(self, seq: int) -> None:
        raise NotImplementedError

    def truncate(self, seq: int, n: int, tick: int) -> None:
        raise NotImplementedError

    def pin(self, seq: int) -> None:
        raise NotImplementedError

    def unpin(self, seq: int) -> None:
        raise NotImplementedError

    def touch(self, seq: int, tick: int) -> None:
        raise NotImplementedError

    def read(self, seq: int, tick: int) -> None:
        """Gather S's tokens (the harness reads them through `? digest`/`values`) and use S."""
        raise NotImplementedError

    def evict(self) -> int:
        """Evict the first sequence in eviction order and return its id."""
        raise NotImplementedError

    def step(
        self, entries: list[tuple[int, Tokens | None]], tick: int
    ) -> list[list[int] | None | OpError]:
        """One result per entry, in order. An entry's Tokens is None when its count is out of
        range (its result is invalid_argument; the others still run). Default: each entry is an
        append protecting every id the step names."""
        protect = frozenset(seq for seq, _ in entries)
        results: list[list[int] | None | OpError] = []
        for seq, tokens in entries:
            if tokens is None:
                results.append(OpError("invalid_argument"))
                continue
            try:
                results.append(self.append(seq, tokens, tick, protect))
            except OpError as error:
                results.append(error)
        return results

    def prefill(self, seq: int, tokens: Tokens, tick: int) -> tuple[int, list[int] | None]:
        """Returns (hit tokens, evicted ids)."""
        raise NotImplementedError

    # the request lifecycle (kvtrace 3, docs/semantics.md section 15)
    def admit(self, seq: int, tokens: Tokens, tick: int) -> None:
        """`admit S P1:N1 ...`: S waits with the prompt's ids (`tokens.ids`, values in
        `tokens.values`) pending; no pages. Raise OpError('sequence_exists') when S exists."""
        raise NotImplementedError

    def reserve(self, seq: int, n: int, tick: int) -> tuple[int | None, list[int] | None]:
        """`reserve S N`: slots for S's next N tokens. Returns (hit tokens, evicted ids): hit
        tokens only when S was waiting (its lookup happened: the reply is `ok hit=T`), else
        None (the reply is `ok`)."""
        raise NotImplementedError

    def commit(self, seq: int, n: int, tick: int) -> list[int] | None:
        """`commit S N`: the first N reserved tokens are computed; the reservation ends. The
        tokens to write are `commit_tokens(S's computed ids, S's pending ids, tick, n)`.
        Returns the evicted ids (a copy-on-write may evict). The kit has checked N <= 1048576."""
        raise NotImplementedError

    def preempt(self, seq: int) -> None:
        """`preempt S`: S's pages released, its computed ids pending again; S waits."""
        raise NotImplementedError

    def swap_out(self, seq: int) -> None:
        """`swap_out S` (V-S2): S's first ceil(n/page_size) entries copied to CPU pages of their
        own (values and ids), then every entry released as by `free`; S keeps n, its ids,
        pinned and last_use (swap_out does not use S). Raise OpError: 'unknown_sequence';
        'invalid_argument' when S is swapped out already or in flight; 'capacity_exceeded' when
        fewer than ceil(n/page_size) of the config's cpu_pages are free. While S is out, `info`
        says pages=0 tokens=n, `pages` is empty (with a sliding window: its null entries only,
        which stay, V-W6) and `values`/`words` are empty (no device pages to read through),
        `stats` counts its n tokens and its CPU pages (`Stats.cpu`). With a window only the
        non-null entries are copied (that many CPU pages) and `swap_in` writes them back into
        the same entries."""
        raise NotImplementedError

    def swap_in(self, seq: int, tick: int) -> list[int] | None:
        """`swap_in S` (V-S3): room made for ceil(n/page_size) new pages with S protected, S's
        tokens written back into them as they were (unregistered), its CPU pages freed; uses S.
        Returns the evicted ids. Raise OpError: 'unknown_sequence'; 'invalid_argument' when S is
        not swapped out; 'capacity_exceeded'."""
        raise NotImplementedError

    def check(self) -> None:
        """The `check` op: nothing by default (the harness audits through `? audit`)."""

    # observations
    def info(self, seq: int) -> Info:
        """Raise OpError('unknown_sequence') when S is absent."""
        raise NotImplementedError

    def stats(self) -> Stats:
        raise NotImplementedError

    def ids(self) -> Iterable[int]:
        raise NotImplementedError

    def pages(self, seq: int) -> Sequence[int | None]:
        """S's block table as physical page ids, None (NULL_PAGE) for a null entry (V-W2, shown
        as `-`); raise OpError('unknown_sequence')."""
        raise NotImplementedError

    def values(self, seq: int) -> Sequence[int]:
        """S's token values in token order, read through its block table (data yes): those of
        tokens z*page_size .. n-1, z its leading null entries (V-W3; 0 without a sliding
        window), none for a sequence swapped out (kvtrace 3). `? digest` and `? words` cover
        exactly these (word 0: the first word of token z*page_size). Override `words` instead if
        you store words."""
        raise NotImplementedError

    def words(self, seq: int) -> Sequence[int]:
        """S's words of the tokens `values` gives, in order; by default computed from `values`."""
        return values_words(self.values(seq), self.config)

    def audit(self) -> Iterable[str]:
        """Broken internal invariants, one text each (audit yes)."""
        return ()

    def prefix_cache(self) -> tuple[dict[int, Sequence[int]], Sequence[int]]:
        """(registered page -> its key's token ids, cached-free queue oldest first); `? cache`."""
        raise NotImplementedError


# ---- formatting -------------------------------------------------------------------------------


def format_result(evicted: Iterable[int] | None, prefix: str = "ok") -> str:
    evicted = list(evicted or ())
    if not evicted:
        return prefix
    return prefix + " evicted=" + ",".join(str(s) for s in evicted)


def format_ranges(ids: Iterable[int]) -> str:
    """Comma-separated inclusive ranges of consecutive ids: `5-8,12` (`? cache`)."""
    parts: list[str] = []
    first = last = None
    for token_id in ids:
        if last is not None and token_id == last + 1:
            last = token_id
            continue
        if first is not None:
            parts.append(str(first) if first == last else f"{first}-{last}")
        first = last = token_id
    if first is not None:
        parts.append(str(first) if first == last else f"{first}-{last}")
    return ",".join(parts)


class ProtocolError(Exception):
    """A malformed request: answered `error MESSAGE`."""


def _number(word: str | None, limit: int = MASK64) -> int:
    if word is None:
        raise ProtocolError("missing argument")
    if not word.isdigit():
        raise ProtocolError(f"'{word}' is not a number")
    value = int(word)
    if value > limit:
        raise ProtocolError(f"{value} is over {limit}")
    return value


def _seq(word: str | None) -> int:
    return _number(word, 0xFFFFFFFF)


def _entries(words: list[str]) -> list[tuple[int, int]]:
    entries = []
    for word in words:
        left, sep, right = word.partition(":")
        if not sep:
            raise ProtocolError(f"'{word}' is not S:N")
        entries.append((_seq(left), _number(right, 0xFFFFFFFF)))
    return entries


def _prompt_ids(segments: list[tuple[int, int]]) -> list[int] | None:
    """A prompt's ids (`prefill`, `admit`), or None when its segments are invalid_argument: none,
    a segment with N = 0 or a stream over 2047, or more than 1048576 tokens in all (13.7)."""
    if (
        not segments
        or any(count == 0 or stream > PROMPT_STREAM_MAX for stream, count in segments)
        or sum(count for _, count in segments) > PREFILL_TOKEN_COUNT_MAX
    ):
        return None
    return [prompt_token_id(stream, i) for stream, count in segments for i in range(count)]


# ---- the protocol loop ------------------------------------------------------------------------


class Adapter:
    """Turns request lines into reply lines for one backend process."""

    def __init__(self, factory: Callable[[Config], Cache], profile: Profile, version: int = 1):
        self.factory = factory
        self.profile = profile
        self.version = version
        self.cache: Cache | None = None
        self.config: Config | None = None
        self.tick = 0
        # seq -> (its token values, their words' digest) when last asked; see _digest.
        self.digests: dict[int, tuple[tuple[int, ...], int]] = {}

    def handle(self, line: str) -> list[str]:
        """Reply lines for one request (more than one only for `? audit`)."""
        try:
            return self._handle(line)
        except OpError as error:
            return [error.word]
        except (ProtocolError, ConfigError) as error:
            return [_error_line(str(error))]
        except Exception as error:  # a bug in the adapter or the cache: a backend failure
            traceback.print_exc(file=sys.stderr)
            return [_error_line(f"{type(error).__name__}: {error} (in `{line}`)")]

    def _handle(self, line: str) -> list[str]:
        words = line.split()
        if not words:
            raise ProtocolError("empty request")
        head = words[0]
        if head == "config":
            self.cache = None
            self.digests.clear()
            self.config = parse_config(line, self.profile)
            self.cache = self.factory(self.config)
            self.tick = 0
            return ["ok"]
        if self.cache is None:
            raise ProtocolError("no config yet")
        if head == "tick":
            self.tick = _number(words[1] if len(words) > 1 else None)
            return ["ok"]
        if head == "?":
            return self._observe(words[1:])
        tick = self.tick
        self.tick += 1
        return [self._op(head, words[1:], tick)]

    def _op(self, op: str, args: list[str], tick: int) -> str:
        cache = self.cache
        assert cache is not None
        if op not in self.profile.ops:
            raise ProtocolError(f"op '{op}' is not in this backend's profile")
        arg = lambda i: args[i] if i < len(args) else None  # noqa: E731
        if op == "alloc":
            return format_result(cache.alloc(_seq(arg(0)), tick))
        if op == "append":
            seq, count = _seq(arg(0)), _number(arg(1), 0xFFFFFFFF)
            if not 1 <= count <= APPEND_COUNT_MAX:
                return "invalid_argument"
            return format_result(cache.append(seq, Tokens.generated(tick, 0, count), tick, frozenset([seq])))
        if op == "fork":
            cache.fork(_seq(arg(0)), _seq(arg(1)), tick)
            return "ok"
        if op in ("free", "pin", "unpin"):
            getattr(cache, op)(_seq(arg(0)))
            return "ok"
        if op in ("touch", "read"):
            getattr(cache, op)(_seq(arg(0)), tick)
            return "ok"
        if op == "truncate":
            cache.truncate(_seq(arg(0)), _number(arg(1), 0xFFFFFFFF), tick)
            return "ok"
        if op == "evict":
            return format_result([cache.evict()])
        if op == "step":
            return self._step(_entries(args), tick)
        if op == "prefill":
            return self._prefill(_seq(arg(0)), _entries(args[1:]), tick)
        if op == "admit":
            seq, ids = _seq(arg(0)), _prompt_ids(_entries(args[1:]))
            if ids is None:
                return "invalid_argument"
            cache.admit(seq, Tokens.prompt(ids), tick)
            return "ok"
        if op == "reserve":
            seq, count = _seq(arg(0)), _number(arg(1), 0xFFFFFFFF)
            if not 1 <= count <= APPEND_COUNT_MAX:
                return "invalid_argument"
            hit, evicted = cache.reserve(seq, count, tick) or (None, None)
            return format_result(evicted, "ok" if hit is None else f"ok hit={hit}")
        if op == "commit":
            seq, count = _seq(arg(0)), _number(arg(1), 0xFFFFFFFF)
            if count > APPEND_COUNT_MAX:
                return "invalid_argument"
            return format_result(cache.commit(seq, count, tick))
        if op == "preempt":
            cache.preempt(_seq(arg(0)))
            return "ok"
        if op == "swap_out":
            cache.swap_out(_seq(arg(0)))
            return "ok"
        if op == "swap_in":
            return format_result(cache.swap_in(_seq(arg(0)), tick))
        if op == "info":
            return self._info(_seq(arg(0)))
        if op == "stats":
            return self._stats()
        if op == "check":
            cache.check()
            return "ok"
        raise ProtocolError(f"unknown op '{op}'")

    def _step(self, entries: list[tuple[int, int]], tick: int) -> str:
        cache = self.cache
        assert cache is not None
        if not 1 <= len(entries) <= STEP_ENTRIES_MAX:
            raise ProtocolError(f"a step has 1..{STEP_ENTRIES_MAX} entries, not {len(entries)}")
        # An entry with an out-of-range count is None (invalid_argument on its own, section 7).
        batch = [
            (seq, Tokens.generated(tick, i, count) if 1 <= count <= APPEND_COUNT_MAX else None)
            for i, (seq, count) in enumerate(entries)
        ]
        replies = list(cache.step(batch, tick))
        if len(replies) != len(entries):
            raise ProtocolError(f"step returned {len(replies)} results for {len(entries)} entries")
        return " ; ".join(r.word if isinstance(r, OpError) else format_result(r) for r in replies)

    def _prefill(self, seq: int, segments: list[tuple[int, int]], tick: int) -> str:
        cache = self.cache
        assert cache is not None
        ids = _prompt_ids(segments)
        if ids is None:
            return "invalid_argument"
        hit, evicted = cache.prefill(seq, Tokens.prompt(ids), tick)
        return format_result(evicted, f"ok hit={hit}")

    def _info(self, seq: int) -> str:
        assert self.cache is not None
        info = self.cache.info(seq)
        return f"ok tokens={info.tokens} pages={info.pages} pinned={1 if info.pinned else 0}"

    def _stats(self) -> str:
        assert self.cache is not None and self.config is not None
        s = self.cache.stats()
        line = f"ok used={s.used} free={s.free} sequences={s.sequences} tokens={s.tokens}"
        if self.config.prefix_caching:
            line += f" cached={s.cached}"
        if self.config.cpu_pages > 0:
            line += f" cpu={s.cpu}"  # V-S1: after cached= when both are present
        return line

    def _digest(self, cache: Cache, seq: int) -> int:
        """`? digest S`. For a cache whose words come from its values (it keeps the default
        `words`), the digest is worked out again only when S's values changed: under --audit every
        the harness asks every live sequence's digest after most ops, and the words are the cost."""
        if type(cache).words is not Cache.words:
            return digest(cache.words(seq))
        values = tuple(cache.values(seq))
        known = self.digests.get(seq)
        if known is None or known[0] != values:
            if len(self.digests) >= DIGESTS_KEPT_MAX:
                self.digests.clear()  # bounded
            known = (values, digest(values_words(values, cache.config)))
            self.digests[seq] = known
        return known[1]

    def _observe(self, args: list[str]) -> list[str]:
        cache = self.cache
        assert cache is not None
        what = args[0] if args else ""
        if what == "stats":
            return [self._stats()]
        if what == "ids":
            return [" ".join(["ok"] + [str(s) for s in cache.ids()])]
        if what == "audit":
            return [f"problem {p}" for p in cache.audit()] + ["ok"]
        if what == "cache":
            registered, queue = cache.prefix_cache()
            if self.config.kv_groups:  # page -> (group, ids): PAGE=G:RANGES (V-G7)
                parts = ["ok"] + [f"{page}={g}:{format_ranges(key)}" for page, (g, key) in sorted(registered.items())]
            else:
                parts = ["ok"] + [f"{page}={format_ranges(key)}" for page, key in sorted(registered.items())]
            return [" ".join(parts + ["queue"] + [str(p) for p in queue])]
        seq = _seq(args[1] if len(args) > 1 else None)
        if what == "info":
            return [self._info(seq)]
        cache.info(seq)  # unknown_sequence for an absent S
        if what == "pages":
            tables = cache.pages(seq) if self.config.kv_groups else [cache.pages(seq)]
            if len(tables) != self.config.groups:
                raise ProtocolError(f"pages({seq}) gave {len(tables)} tables for {self.config.groups} KV groups")
            words = [" ".join("-" if p is NULL_PAGE else str(p) for p in table) for table in tables]
            return [" ".join(["ok"] + [w for w in " | ".join(words).split(" ") if w])]
        if what == "digest":
            return [f"ok {self._digest(cache, seq):016x}"]
        if what == "words":
            first = _number(args[2] if len(args) > 2 else None)
            count = min(_number(args[3] if len(args) > 3 else None), WORDS_PER_REQUEST_MAX)
            words = cache.words(seq)
            return [" ".join(["ok"] + [str(w) for w in words[first : first + count]])]
        raise ProtocolError(f"unknown observation '{what}'")


def _error_line(message: str) -> str:
    return "error " + " ".join(message.split())  # one line, single spaces


def serve(
    factory: Callable[[Config], Cache],
    profile: Profile,
    name: str,
    version: int | None = None,
    stdin_fd: int = 0,
    stdout_fd: int = 1,
) -> None:
    """Run the protocol on stdin/stdout until end of input.

    version: the handshake's protocol version; default 1, or 2 with `--protocol 2` on the
    command line or KVHARNESS_PROTOCOL=2 (version 2 adds `? cache`).
    """
    if version is None:
        version = int(os.environ.get("KVHARNESS_PROTOCOL", "1"))
        argv = sys.argv[1:]
        for i, arg in enumerate(argv):
            if arg == "--protocol" and i + 1 < len(argv):
                version = int(argv[i + 1])
            elif arg.startswith("--protocol="):
                version = int(arg.split("=", 1)[1])
    adapter = Adapter(factory, profile, version)
    out: list[str] = profile.lines(version, name)

    def flush() -> bool:
        if not out:
            return True
        data = ("\n".join(out) + "\n").encode()
        out.clear()
        view = memoryview(data)
        try:
            while view:
                written = os.write(stdout_fd, view)
                view = view[written:]
        except (BrokenPipeError, OSError):
            return False
        return True

    pending = b""
    while True:
        # Flush before blocking on input: every request received so far has its reply sent.
        if not flush():
            return
        try:
            chunk = os.read(stdin_fd, 1 << 16)
        except OSError:
            break
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for raw in lines:
            out.extend(adapter.handle(raw.rstrip(b"\r").decode("utf-8", "replace")))
    if pending.strip():
        out.extend(adapter.handle(pending.rstrip(b"\r").decode("utf-8", "replace")))
    flush()
