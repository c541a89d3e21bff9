#!/usr/bin/env python3
"""Tests of the Python adapter kit (CTest: python_adapter_kit).

    python3 adapters/python/kit_test.py [KVTRACE]

(a) the kit's token values, words, prompt chain and digest against values the C++ code produced
(trace/token.hpp and trace/digest.hpp through build/dev/bin/kv_protocol_backend), its protocol
loop (pipelined requests, one reply each, errors as `error MESSAGE`, `? cache`), and
(b) with KVTRACE (argument or $KVTRACE): the harness against example_cache.py: a campaign on the
clean cache passes, the same campaign on each planted bug finds it (exit 1, a shrunk .min.trace),
seed replay passes, hand-written kvtrace 3 files (the request lifecycle and swapping to a CPU
pool, docs/semantics.md section 15; sliding windows, section 16) pass on the clean cache and
fail on its lifecycle, swap and window bugs, and a short `serving` campaign (which draws cpu_pages
and swap bursts) passes. Small
budgets: well under 60 s on two cores.
"""

from __future__ import annotations

import contextlib
import glob
import io
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import kvharness_backend as kv  # noqa: E402

KVTRACE = os.environ.get("KVTRACE", "")
if __name__ == "__main__" and len(sys.argv) > 1 and not sys.argv[1].startswith("-"):
    KVTRACE = os.path.abspath(sys.argv.pop(1))
EXAMPLE = f"python3 {os.path.join(HERE, 'example_cache.py')}"


def run_adapter(requests: str, *args: str, env: dict[str, str] | None = None) -> list[str]:
    """The example's stdout lines for these requests, handshake included."""
    done = subprocess.run(
        [sys.executable, os.path.join(HERE, "example_cache.py"), *args],
        input=requests,
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **(env or {})},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


class TokenValues(unittest.TestCase):
    # From kv_protocol_backend (the C++ host backend, trace/token.hpp + trace/digest.hpp):
    #   config page_size=4 max_pages=8 eviction=none kv_heads=2 head_dim=3 layers=2
    #   append 1 3 / tick 1000 / step 2:2 1:5 / ? digest 1 / ? words 1 0 12 / ? digest 2
    SHAPED = kv.Config(page_size=4, max_pages=8, kv_heads=2, head_dim=3, layers=2)
    SEQ1_DIGEST = 0xF73B63C3ED732FA9
    SEQ1_FIRST_WORDS = [0, 1713823441, 1280163235, 652739345, 412842823, 1974687121, 2147483648,
                        3861307089, 3427646883, 2800222993, 2560326471, 4122170769]
    SEQ2_DIGEST = 0x796C10680E7D70AD

    def seq_words(self, values):
        return [w for v in values for w in kv.token_words(v, self.SHAPED)]

    def test_generated_values_words_digest(self):
        seq1 = [kv.token_value(0, 0, i) for i in range(3)] + [kv.token_value(1000, 1, i) for i in range(5)]
        seq2 = [kv.token_value(1000, 0, i) for i in range(2)]
        words = self.seq_words(seq1)
        self.assertEqual(len(words), 8 * self.SHAPED.words_per_token)
        self.assertEqual(words[:12], self.SEQ1_FIRST_WORDS)
        self.assertEqual(kv.digest(words), self.SEQ1_DIGEST)
        self.assertEqual(kv.digest(self.seq_words(seq2)), self.SEQ2_DIGEST)
        self.assertEqual(kv.values_words(seq1, self.SHAPED), words)  # the fast path Cache.words uses

    def test_value_layout(self):
        self.assertEqual(kv.token_value(3, 2, 1), (3 << 29) | (2 << 21) | 1)
        self.assertEqual(kv.generated_token_id(5), (1 << 63) | 5)
        self.assertFalse(kv.is_prompt_token(kv.generated_token_id(0)))
        self.assertEqual(kv.prompt_token_id(5, 3), 5242883)

    def test_prompt_chain(self):
        # docs/backend-protocol.md section 4's worked example (prefill 1 1:2, default shape), and
        # kv_protocol_backend: prefill 2 5:9 3:2 -> ? digest 2, ? words 2 40 4.
        config = kv.Config(page_size=4, max_pages=8)
        values = kv.prompt_token_values([1048576, 1048577])
        self.assertEqual(values, [0xFF270D58B45C0B9C, 0xB5AA0CD266103C68])
        self.assertEqual(kv.prompt_chain(kv.PROMPT_CHAIN_START, 1048576), 0x7F270D58B45C0B9C)
        words = [w for v in values for w in kv.token_words(v, config)]
        self.assertEqual(words, [501084395, 1983192041, 2648568043, 4130675689,
                                 340794968, 1044364408, 2488278616, 3191848056])
        self.assertEqual(kv.digest(words), 0x402103A0F741D1DD)
        ids = [kv.prompt_token_id(5, i) for i in range(9)] + [kv.prompt_token_id(3, i) for i in range(2)]
        words = [w for v in kv.prompt_token_values(ids) for w in kv.token_words(v, config)]
        self.assertEqual(kv.digest(words), 0xC23889EEDD3C99B1)
        self.assertEqual(words[40:44], [751041488, 102957280, 2898525136, 2250440928])

    def test_empty_digest_and_ranges(self):
        self.assertEqual(kv.digest([]), 0xCBF29CE484222325)
        self.assertEqual(kv.format_ranges([5242880, 5242881, 5242882, 5242883]), "5242880-5242883")
        self.assertEqual(kv.format_ranges([1, 3, 4, 9]), "1,3-4,9")
        self.assertEqual(kv.format_ranges([]), "")


class Protocol(unittest.TestCase):
    def test_handshake_and_pipelined_replies(self):
        # All requests in one write (pipelined): one reply each, in order.
        script = [
            ("config page_size=2 max_pages=3 eviction=lru", "ok"),
            ("alloc 1", "ok"),
            ("append 1 3", "ok"),
            ("fork 1 2", "ok"),
            ("append 2 1", "ok"),  # copy-on-write of the shared second page: the last free page
            ("info 2", "ok tokens=4 pages=2 pinned=0"),
            ("stats", "ok used=3 free=0 sequences=2 tokens=7"),
            ("append 3 0", "invalid_argument"),
            ("step 4:1 5:0 4:1", "ok evicted=1 ; invalid_argument ; ok"),
            ("tick 40", "ok"),
            ("touch 4", "ok"),
            ("evict", "ok evicted=2"),
            ("free 9", "unknown_sequence"),
            ("fork 7 8", "unknown_sequence"),
            ("fork 4 4", "sequence_exists"),
            ("truncate 4 9", "invalid_argument"),
            ("pin 4", "ok"),
            ("evict", "nothing_to_evict"),
            ("? ids", "ok 4"),
            ("? info 3", "unknown_sequence"),
            ("? audit", "ok"),
            ("check", "ok"),
            ("? stats", "ok used=1 free=2 sequences=1 tokens=2"),
            # seq 4: tokens of step entries 0 and 2 at tick 7
            ("? words 4 0 8", "ok " + " ".join(str(w) for v in (kv.token_value(7, 0, 0), kv.token_value(7, 2, 0))
                                               for w in kv.token_words(v, kv.Config(page_size=2, max_pages=3)))),
        ]
        lines = run_adapter("".join(request + "\n" for request, _ in script))
        ready = lines.index("ready")
        self.assertEqual(lines[0], "kvbackend 1 python-example")
        self.assertIn("ops alloc append fork free truncate pin unpin touch read evict step prefill info stats check"
                      " admit reserve commit preempt swap_out swap_in", lines)
        self.assertIn("eviction none lru", lines)
        self.assertEqual(lines[ready + 1:], [reply for _, reply in script])

    def test_version_two_and_errors(self):
        lines = run_adapter("alloc 1\nconfig page_size=0 max_pages=1\nconfig page_size=1 max_pages=1 x=y\n",
                            "--protocol", "2")
        self.assertEqual(lines[0], "kvbackend 2 python-example")
        replies = lines[lines.index("ready") + 1:]
        self.assertEqual(len(replies), 3)
        self.assertTrue(all(r.startswith("error ") for r in replies), replies)
        self.assertIn("x", replies[2])  # an unknown key reaches the cache, which refuses it

    def test_prefill_and_cache_observation(self):
        requests = ["config page_size=2 max_pages=3 prefix_caching=on", "prefill 1 5:4", "free 1", "? cache",
                    "prefill 2 5:3", "stats", "? cache"]
        lines = run_adapter("".join(r + "\n" for r in requests), "--protocol", "2")
        self.assertEqual(lines[lines.index("ready") + 1:], [
            "ok", "ok hit=0", "ok",
            "ok 0=5242880-5242881 1=5242880-5242883 queue 1 0",  # released last block first (P14)
            "ok hit=2",  # block 0 hits; block 1 (token 2) is computed on a new page
            "ok used=2 free=1 sequences=1 tokens=3 cached=2",
            "ok 0=5242880-5242881 1=5242880-5242883 queue 1",
        ])

    def test_cache_observation_and_extra_profile_lines(self):
        class Tiny(kv.Cache):
            def prefix_cache(self):
                return {1: [5242880, 5242881, 5242882, 5242883, 5242884, 5242885, 5242886, 5242887],
                        0: [5242880, 5242881, 5242882, 5242883]}, [1, 0]

            def alloc(self, seq, tick):
                raise RuntimeError("boom\nsecond line")

        profile = kv.Profile(ops=["alloc", "prefill"], extra=["config append_atomicity=token", "count append 1 1"])
        lines = profile.lines(2, "tiny")
        self.assertEqual(lines[-3:], ["config append_atomicity=token", "count append 1 1", "ready"])
        adapter = kv.Adapter(Tiny, profile, 2)
        self.assertEqual(adapter.handle("config page_size=4 max_pages=2 prefix_caching=on append_atomicity=token"),
                         ["ok"])
        self.assertEqual(adapter.config.extra, {"append_atomicity": "token"})
        self.assertEqual(adapter.handle("? cache"), ["ok 0=5242880-5242883 1=5242880-5242887 queue 1 0"])
        with contextlib.redirect_stderr(io.StringIO()) as stderr:  # the traceback goes to stderr
            reply = adapter.handle("alloc 1")
        self.assertIn("RuntimeError", stderr.getvalue())
        self.assertEqual(len(reply), 1)
        self.assertTrue(reply[0].startswith("error RuntimeError: boom second line"), reply)
        self.assertEqual(adapter.handle("prefill 3 2048:1"), ["invalid_argument"])
        self.assertEqual(adapter.tick, 2)


class Lifecycle(unittest.TestCase):
    """The kvtrace 3 ops (docs/semantics.md section 15) through the kit."""

    def test_commit_token_values(self):
        # Prompt ids take the chain over every id before them; generated ids carry their value
        # (trace/token.hpp token_values_of_ids), so a token recomputed after preempt keeps it.
        prompt = [kv.prompt_token_id(1, i) for i in range(3)]
        generated = [kv.generated_token_id(kv.token_value(4, 0, i)) for i in (1, 2)]
        self.assertEqual(kv.token_values_of_ids(prompt + generated),
                         kv.prompt_token_values(prompt) + [kv.token_value(4, 0, 1), kv.token_value(4, 0, 2)])
        # commit 2 of 2 pending ids after 1 computed one, then 2 new generated ids at tick 9:
        # offsets 2 and 3 within the commit.
        tokens = kv.commit_tokens(prompt[:1], prompt[1:], 9, 4)
        self.assertEqual(list(tokens.ids), prompt[1:] + [kv.generated_token_id(kv.token_value(9, 0, i)) for i in (2, 3)])
        self.assertEqual(list(tokens.values), kv.prompt_token_values(prompt)[1:] + [kv.token_value(9, 0, i) for i in (2, 3)])
        # recomputing generated ids (after preempt): their own values
        tokens = kv.commit_tokens(prompt, generated, 20, 2)
        self.assertEqual(list(tokens.values), [kv.token_value(4, 0, 1), kv.token_value(4, 0, 2)])
        # nothing pending: a lazy range, as Tokens.generated
        tokens = kv.commit_tokens(prompt, [], 7, 1048576)
        self.assertIsInstance(tokens.values, range)
        self.assertEqual(tokens.values[5], kv.token_value(7, 0, 5))
        self.assertEqual(tokens.ids[5], kv.generated_token_id(kv.token_value(7, 0, 5)))
        self.assertEqual(len(kv.commit_tokens(prompt, [], 7, 0)), 0)

    def test_stateless_checks_replies_and_defaults(self):
        calls = []

        class Recorder(kv.Cache):
            def admit(self, seq, tokens, tick):
                calls.append(("admit", seq, list(tokens.ids), list(tokens.values), tick))

            def reserve(self, seq, n, tick):
                calls.append(("reserve", seq, n, tick))
                return (4, [2, 3]) if seq == 1 else (None, [5])

            def commit(self, seq, n, tick):
                calls.append(("commit", seq, n, tick))
                return [7]

        adapter = kv.Adapter(Recorder, kv.Profile(ops=["admit", "reserve", "commit", "preempt"]))
        self.assertEqual(adapter.handle("config page_size=2 max_pages=4 rejected_slots=released"), ["ok"])
        self.assertEqual(adapter.config.extra, {"rejected_slots": "released"})
        requests = [
            ("admit 1 1:0", "invalid_argument"), ("admit 1 2048:1", "invalid_argument"),
            ("admit 1 1:1048576 2:1", "invalid_argument"), ("admit 1 3:2", "ok"),
            ("reserve 1 0", "invalid_argument"), ("reserve 1 1048577", "invalid_argument"),
            ("reserve 1 2", "ok hit=4 evicted=2,3"), ("reserve 2 1048576", "ok evicted=5"),
            ("commit 1 1048577", "invalid_argument"), ("commit 1 0", "ok evicted=7"),
        ]
        for request, reply in requests:
            self.assertEqual(adapter.handle(request), [reply], request)
        ids = [kv.prompt_token_id(3, 0), kv.prompt_token_id(3, 1)]
        self.assertEqual(calls, [("admit", 1, ids, kv.prompt_token_values(ids), 3), ("reserve", 1, 2, 6),
                                 ("reserve", 2, 1048576, 7), ("commit", 1, 0, 9)])
        # An op the cache does not implement takes the path every unimplemented op takes.
        with contextlib.redirect_stderr(io.StringIO()):
            reply = adapter.handle("preempt 1")
        self.assertTrue(reply[0].startswith("error NotImplementedError"), reply)
        # ... and an op outside the profile is refused before the cache sees it.
        narrow = kv.Adapter(Recorder, kv.Profile(ops=["alloc"]))
        narrow.handle("config page_size=1 max_pages=1")
        self.assertTrue(narrow.handle("admit 1 1:1")[0].startswith("error op 'admit' is not in"))

    def test_swap_requests_config_and_stats(self):
        calls = []

        class Recorder(kv.Cache):
            def swap_out(self, seq):
                calls.append(("swap_out", seq))
                if seq == 2:
                    raise kv.OpError("capacity_exceeded")

            def swap_in(self, seq, tick):
                calls.append(("swap_in", seq, tick))
                return [4, 1] if seq == 1 else None

            def stats(self):
                return kv.Stats(used=1, free=2, sequences=3, tokens=4, cached=5, cpu=6)

        adapter = kv.Adapter(Recorder, kv.Profile(ops=["swap_out", "swap_in", "stats", "preempt"]))
        # cpu_pages: a kit key (0..16777216), not an extra one; `cpu=` only when it is above 0.
        self.assertEqual(adapter.handle("config page_size=2 max_pages=4 cpu_pages=0"), ["ok"])
        self.assertEqual((adapter.config.cpu_pages, adapter.config.extra), (0, {}))
        self.assertEqual(adapter.handle("stats"), ["ok used=1 free=2 sequences=3 tokens=4"])
        for bad in ("cpu_pages=16777217", "cpu_pages=x", "cpu_pages=-1"):
            self.assertTrue(adapter.handle(f"config page_size=2 max_pages=4 {bad}")[0].startswith("error "), bad)
        self.assertEqual(adapter.handle("config page_size=2 max_pages=4 cpu_pages=16777216"), ["ok"])
        self.assertEqual(adapter.config.cpu_pages, 16777216)
        self.assertEqual(adapter.handle("config page_size=2 max_pages=4 prefix_caching=on cpu_pages=3"), ["ok"])
        self.assertEqual(adapter.handle("stats"), ["ok used=1 free=2 sequences=3 tokens=4 cached=5 cpu=6"])
        self.assertEqual(adapter.handle("? stats"), ["ok used=1 free=2 sequences=3 tokens=4 cached=5 cpu=6"])
        self.assertEqual(adapter.handle("config page_size=2 max_pages=4 cpu_pages=3"), ["ok"])
        self.assertEqual(adapter.handle("? stats"), ["ok used=1 free=2 sequences=3 tokens=4 cpu=6"])
        for request, reply in [("swap_out 1", "ok"), ("swap_out 2", "capacity_exceeded"),
                               ("swap_in 1", "ok evicted=4,1"), ("swap_in 3", "ok"),
                               ("stats", "ok used=1 free=2 sequences=3 tokens=4 cpu=6")]:
            self.assertEqual(adapter.handle(request), [reply], request)
        self.assertEqual(calls, [("swap_out", 1), ("swap_out", 2), ("swap_in", 1, 2), ("swap_in", 3, 3)])
        # Not implemented: the path every unimplemented op takes.
        bare = kv.Adapter(kv.Cache, kv.Profile(ops=["swap_out", "swap_in"]))
        self.assertEqual(bare.handle("config page_size=1 max_pages=1 cpu_pages=1"), ["ok"])
        with contextlib.redirect_stderr(io.StringIO()):
            for request in ("swap_out 1", "swap_in 1"):
                self.assertTrue(bare.handle(request)[0].startswith("error NotImplementedError"), request)

    def test_example_swap_observations(self):
        # docs/semantics.md 15.4's worked example; a swapped-out sequence has no device pages, so
        # `? pages` is empty and its words are none (the empty digest), while info counts its tokens.
        script = [
            ("config page_size=2 max_pages=2 cpu_pages=2", "ok"),
            ("append 1 3", "ok"), ("swap_out 1", "ok"),
            ("stats", "ok used=0 free=2 sequences=1 tokens=3 cpu=2"),
            ("? info 1", "ok tokens=3 pages=0 pinned=0"), ("? pages 1", "ok"),
            ("? digest 1", f"ok {kv.digest([]):016x}"), ("? words 1 0 4", "ok"),
            ("read 1", "invalid_argument"), ("append 2 4", "ok"), ("swap_in 1", "capacity_exceeded"),
            ("free 2", "ok"), ("swap_in 1", "ok"), ("read 1", "ok"),
            ("? words 1 0 4", "ok " + " ".join(str(w) for w in kv.values_words([kv.token_value(0, 0, 0)],
                                                                               kv.Config(page_size=2, max_pages=2)))),
            ("stats", "ok used=2 free=0 sequences=1 tokens=3 cpu=0"), ("? audit", "ok"),
        ]
        lines = run_adapter("".join(request + "\n" for request, _ in script))
        self.assertEqual(lines[lines.index("ready") + 1:], [reply for _, reply in script])

    def test_example_replies(self):
        # docs/semantics.md 15.5, worked example 3 (abort before compute, and preemption).
        script = [
            ("config page_size=2 max_pages=3 eviction=lru prefix_caching=on", "ok"),
            ("prefill 1 1:4", "ok hit=0"), ("reserve 1 2", "ok"), ("free 1", "ok"), ("admit 2 1:5", "ok"),
            ("reserve 2 1", "ok hit=4"), ("commit 2 1", "ok"), ("preempt 2", "ok"),
            ("info 2", "ok tokens=0 pages=0 pinned=0"), ("reserve 2 1", "ok hit=4"), ("commit 2 1", "ok"),
            ("append 2 1", "ok"), ("? audit", "ok"),
        ]
        lines = run_adapter("".join(request + "\n" for request, _ in script))
        self.assertEqual(lines[lines.index("ready") + 1:], [reply for _, reply in script])
        lines = run_adapter("", "--variant", "rejected_slots=released")
        self.assertIn("config rejected_slots=released", lines)


class Window(unittest.TestCase):
    """Sliding-window attention (docs/semantics.md section 16) through the kit and the example."""

    def test_config_key_and_arithmetic(self):
        config = kv.parse_config("config page_size=2 max_pages=3 sliding_window=3",
                                 kv.Profile(ops=["alloc"], ranges={"sliding_window": (0, 8)}))
        self.assertEqual((config.sliding_window, config.extra), (3, {}))
        self.assertEqual([config.out_of_window_entries(n) for n in range(8)], [0, 0, 0, 0, 1, 1, 2, 2])
        self.assertEqual(config.window_blocks, 1)  # c = ceil((W-1)/page_size)
        self.assertEqual(kv.Config(page_size=4, max_pages=1, sliding_window=10).window_blocks, 3)
        self.assertEqual(kv.Config(page_size=4, max_pages=1).out_of_window_entries(100), 0)
        self.assertEqual(kv.Config(page_size=4, max_pages=1).window_blocks, 0)
        windowed = kv.Profile(ops=["alloc"], ranges={"sliding_window": (0, 8)})
        for bad in ("sliding_window=1", "sliding_window=9", "sliding_window=x",
                    "sliding_window=2 reserved_slots=skipped"):
            with self.assertRaises(kv.ConfigError, msg=bad):
                kv.parse_config(f"config page_size=2 max_pages=3 {bad}", windowed)
        # Undeclared, a profile takes no window (0..0), and its handshake says nothing of one.
        with self.assertRaises(kv.ConfigError):
            kv.parse_config("config page_size=2 max_pages=3 sliding_window=2", kv.Profile(ops=["alloc"]))
        self.assertNotIn("sliding_window", " ".join(kv.Profile(ops=["alloc"]).lines(1, "x")))
        self.assertIn("sliding_window 0 8", windowed.lines(1, "x"))
        self.assertIn("sliding_window 0 1048576", run_adapter(""))

    def test_null_entries_and_words_from_the_window(self):
        # docs/semantics.md 16.4, worked example 1: entry 0's page A (page 0) is released before
        # `append 1 2` (tick 2) grows the sequence, and taken again for its new page.
        config = kv.Config(page_size=2, max_pages=3)
        words = kv.values_words([kv.token_value(0, 0, 2), kv.token_value(0, 0, 3), kv.token_value(0, 0, 4),
                                 kv.token_value(2, 0, 0), kv.token_value(2, 0, 1)], config)
        script = [
            ("config page_size=2 max_pages=3 sliding_window=3", "ok"),
            ("append 1 5", "ok"), ("info 1", "ok tokens=5 pages=3 pinned=0"), ("? pages 1", "ok 0 1 2"),
            ("append 1 2", "ok"), ("? pages 1", "ok - 1 2 0"), ("? info 1", "ok tokens=7 pages=3 pinned=0"),
            ("? digest 1", f"ok {kv.digest(words):016x}"),  # tokens 2..6 (V-W3)
            ("? words 1 0 4", "ok " + " ".join(map(str, words[:4]))),  # word 0: token 2's first
            ("? words 1 16 8", "ok " + " ".join(map(str, words[16:]))),
            ("read 1", "ok"), ("truncate 1 2", "invalid_argument"), ("truncate 1 4", "ok"),
            ("? pages 1", "ok - 1"), ("stats", "ok used=1 free=2 sequences=1 tokens=4"), ("? audit", "ok"),
        ]
        lines = run_adapter("".join(request + "\n" for request, _ in script))
        self.assertEqual(lines[lines.index("ready") + 1:], [reply for _, reply in script])

    def test_off_by_one_releases_a_block_early(self):
        script = ["config page_size=2 max_pages=3 sliding_window=3", "append 1 5", "append 1 2", "? pages 1"]
        lines = run_adapter("".join(request + "\n" for request in script), "--bug", "window-off-by-one")
        self.assertEqual(lines[-1], "ok - - 2 0")  # skip(6) = 2 entries released, not skip(5) = 1


# Hand-written kvtrace 3 files (docs/semantics.md 15.5 and tests/model_rules_test.cpp's lifecycle_*
# rules that need no variant the example lacks), each replayed against the example.
LIFECYCLE_TRACES = {
    "chunked-prefill-looked-up-once": """
config page_size=2 max_pages=8 prefix_caching=on
prefill 1 1:4 => ok hit=0
admit 2 1:7 => ok
stats => ok used=2 free=6 sequences=2 tokens=4 cached=2
reserve 2 2 => ok hit=4
commit 2 2 => ok
reserve 2 2 => ok
commit 2 1 => ok
info 2 => ok tokens=7 pages=4 pinned=0
stats => ok used=4 free=4 sequences=2 tokens=11 cached=3
read 2 => ok
check => ok
""",
    "abort-before-compute-and-preemption": """
config page_size=2 max_pages=3 eviction=lru prefix_caching=on
prefill 1 1:4 => ok hit=0
reserve 1 2 => ok
free 1 => ok
admit 2 1:5 => ok
reserve 2 1 => ok hit=4
commit 2 1 => ok
preempt 2 => ok
info 2 => ok tokens=0 pages=0 pinned=0
reserve 2 1 => ok hit=4
commit 2 1 => ok
append 2 1 => ok
read 2 => ok
check => ok
""",
    "preempted-generated-tokens-keep-their-values": """
config page_size=2 max_pages=6 prefix_caching=on
admit 1 1:3 => ok
reserve 1 2 => ok hit=0
commit 1 2 => ok
reserve 1 3 => ok
commit 1 3 => ok  # 1:2, then two generated ids (tick 4, offsets 1 and 2)
read 1 => ok
preempt 1 => ok
stats => ok used=0 free=6 sequences=1 tokens=0 cached=1
reserve 1 2 => ok hit=2  # block 1 holds a generated id: never registered
commit 1 2 => ok
reserve 1 2 => ok
commit 1 2 => ok  # the last generated id again, then a new one (offset 1)
info 1 => ok tokens=6 pages=3 pinned=0
stats => ok used=3 free=3 sequences=1 tokens=6 cached=1
read 1 => ok
check => ok
""",
    "kept-rejected-slots-are-used-first": """
config page_size=2 max_pages=3
append 1 1 => ok
reserve 1 4 => ok
info 1 => ok tokens=1 pages=3 pinned=0
commit 1 2 => ok
info 1 => ok tokens=3 pages=3 pinned=0
reserve 1 3 => ok
reserve 1 1 => capacity_exceeded
commit 1 3 => ok
stats => ok used=3 free=0 sequences=1 tokens=6
read 1 => ok
""",
    "argument-and-existence-checks": """
config page_size=2 max_pages=2
admit 1 1:0 => invalid_argument
admit 1 2048:1 => invalid_argument
admit 1 1:3 => ok
admit 1 1:1 => sequence_exists
reserve 9 0 => invalid_argument
reserve 9 1048577 => invalid_argument
commit 9 0 => unknown_sequence
commit 9 1048577 => invalid_argument
preempt 9 => unknown_sequence
commit 1 1 => invalid_argument
commit 1 0 => ok
info 1 => ok tokens=0 pages=0 pinned=0
reserve 3 3 => ok
info 3 => ok tokens=0 pages=2 pinned=0
commit 3 4 => invalid_argument
""",
    "in-flight-refuses-append-truncate-and-alloc-while-waiting": """
config page_size=2 max_pages=4
admit 1 1:2 => ok
alloc 1 => invalid_argument
append 1 1 => invalid_argument
step 1:1 2:1 => invalid_argument ; ok
truncate 1 0 => invalid_argument
reserve 2 1 => ok
alloc 2 => ok
append 2 1 => invalid_argument
truncate 2 0 => invalid_argument
commit 2 1 => ok
append 2 1 => ok
reserve 1 1 => ok hit=0
commit 1 1 => ok
append 1 1 => invalid_argument
reserve 1 1 => ok
commit 1 1 => ok
append 1 1 => ok
info 1 => ok tokens=3 pages=2 pinned=0
check => ok
""",
    "fork-copies-the-computed-part": """
config page_size=2 max_pages=6
admit 1 1:5 => ok
fork 1 2 => ok
info 2 => ok tokens=0 pages=0 pinned=0
append 2 1 => ok
reserve 1 3 => ok hit=0
commit 1 3 => ok
reserve 1 2 => ok
fork 1 3 => ok
info 3 => ok tokens=3 pages=2 pinned=0
append 3 1 => ok
commit 1 2 => ok
read 1 => ok
read 3 => ok
stats => ok used=5 free=1 sequences=3 tokens=10
check => ok
""",
    "commit-copies-a-shared-page-and-may-evict": """
config page_size=2 max_pages=3 eviction=lru
append 1 1 => ok
reserve 1 1 => ok
fork 1 2 => ok
pin 2 => ok
alloc 3 => ok
alloc 4 => ok
commit 1 1 => ok evicted=3
stats => ok used=3 free=0 sequences=3 tokens=3
read 1 => ok
read 2 => ok
check => ok
""",
    "commit-nothing-writes-nothing": """
config page_size=2 max_pages=5 prefix_caching=on
prefill 1 2:9 2:1 => ok hit=0
truncate 1 1 => ok
commit 1 0 => ok  # nothing written: block 0 keeps its key
stats => ok used=1 free=4 sequences=1 tokens=1 cached=5
""",
}

# docs/semantics.md 15.5, worked example 2, without decode_caching=on (which the example lacks; it
# changes nothing here): the rejected drafts' page is released, and the accepted token's block is
# not full, so not registered.
RELEASED_TRACE = """
config page_size=2 max_pages=4 prefix_caching=on rejected_slots=released
prefill 1 1:2 => ok hit=0
reserve 1 4 => ok
commit 1 1 => ok
stats => ok used=2 free=2 sequences=1 tokens=3 cached=1
alloc 1 => ok
reserve 1 1 => ok
commit 1 0 => ok  # alloc's reserved page is released too (as truncate S n)
info 1 => ok tokens=3 pages=2 pinned=0
read 1 => ok
check => ok
"""

# Swapping to a CPU pool (docs/semantics.md 15.4, V-S1..V-S4), replayed with every op audited.
SWAP_TRACES = {
    "swap-worked-example": """
config page_size=2 max_pages=2 cpu_pages=2
append 1 3 => ok
swap_out 1 => ok  # both device pages copied to 2 CPU pages, then freed
stats => ok used=0 free=2 sequences=1 tokens=3 cpu=2
info 1 => ok tokens=3 pages=0 pinned=0
append 2 4 => ok
swap_in 1 => capacity_exceeded
free 2 => ok
swap_in 1 => ok
read 1 => ok  # its 3 tokens back
stats => ok used=2 free=0 sequences=1 tokens=3 cpu=0
check => ok
""",
    "swap-argument-existence-and-state-checks": """
config page_size=2 max_pages=6 cpu_pages=4
append 1 3 => ok
fork 1 2 => ok  # 2 shares both of 1's pages
swap_out 9 => unknown_sequence
swap_in 9 => unknown_sequence
swap_in 1 => invalid_argument  # not swapped out
swap_out 1 => ok  # both pages copied to the CPU; 2 keeps them
stats => ok used=2 free=4 sequences=2 tokens=6 cpu=2
info 1 => ok tokens=3 pages=0 pinned=0
swap_out 1 => invalid_argument  # swapped out already
alloc 1 => invalid_argument
append 1 0 => invalid_argument
append 1 1 => invalid_argument
step 1:1 2:1 => invalid_argument ; ok
truncate 1 1 => invalid_argument
truncate 1 3 => invalid_argument
read 1 => invalid_argument
reserve 1 0 => invalid_argument
reserve 1 1 => invalid_argument
commit 1 0 => invalid_argument
preempt 1 => invalid_argument
fork 9 3 => unknown_sequence
fork 1 2 => sequence_exists
fork 1 1 => sequence_exists
fork 1 3 => invalid_argument  # a swapped-out SRC has no pages to share
prefill 1 1:2 => sequence_exists
admit 1 1:2 => sequence_exists
pin 1 => ok
touch 1 => ok
info 1 => ok tokens=3 pages=0 pinned=1
unpin 1 => ok
stats => ok used=2 free=4 sequences=2 tokens=7 cpu=2
swap_in 1 => ok  # private pages now: the sharing is not restored
read 1 => ok
info 1 => ok tokens=3 pages=2 pinned=0
stats => ok used=4 free=2 sequences=2 tokens=7 cpu=0
free 2 => ok
admit 5 1:2 => ok
swap_out 5 => invalid_argument  # waiting: in flight
reserve 6 2 => ok
swap_out 6 => invalid_argument  # a reservation: in flight
commit 6 1 => ok
swap_out 6 => ok  # 1 CPU page
alloc 7 => ok
swap_out 7 => ok  # no tokens: no CPU page; its reserved page is released
info 7 => ok tokens=0 pages=0 pinned=0
append 8 8 => ok  # 4 pages
swap_out 8 => capacity_exceeded  # 4 CPU pages needed, 3 free
stats => ok used=6 free=0 sequences=5 tokens=12 cpu=1
free 6 => ok  # frees its CPU page
swap_out 8 => ok
stats => ok used=2 free=4 sequences=4 tokens=11 cpu=4
swap_in 7 => ok
info 7 => ok tokens=0 pages=0 pinned=0
free 8 => ok  # frees its 4 CPU pages
stats => ok used=2 free=4 sequences=3 tokens=3 cpu=0
check => ok
""",
    "swap-eviction-skips-swapped-out": """
config page_size=2 max_pages=3 eviction=lru cpu_pages=4
append 1 2 => ok
append 2 2 => ok
swap_out 1 => ok  # 1 keeps last_use 0, the oldest, but holds no device page
append 3 2 => ok
append 4 4 => ok evicted=2  # 1 skipped: not in the eviction order
swap_in 1 => ok evicted=3  # S protected; needs 1 page
read 1 => ok
swap_out 4 => ok
evict => ok evicted=1  # 4 is out: 1 is the only victim
evict => nothing_to_evict
stats => ok used=0 free=3 sequences=1 tokens=4 cpu=2
append 5 2 => ok
pin 5 => ok
append 6 2 => ok
append 7 2 => ok
pin 7 => ok
swap_in 4 => capacity_exceeded  # needs 2; 5 and 7 pinned, 4 out: evicting 6 frees only 1
stats => ok used=3 free=0 sequences=4 tokens=10 cpu=2
unpin 5 => ok
swap_in 4 => ok evicted=5,6
read 4 => ok
info 4 => ok tokens=4 pages=2 pinned=0
swap_out 4 => ok
prefill 8 1:4 => ok hit=0
prefill 9 1:2 => ok hit=0 evicted=8  # prefill's victims skip 4 too (7 is pinned)
step 4:1 9:1 => invalid_argument ; ok
stats => ok used=3 free=0 sequences=3 tokens=9 cpu=2
check => ok
""",
    "swap-with-prefix-caching": """
config page_size=2 max_pages=5 prefix_caching=on cpu_pages=3
prefill 1 1:5 => ok hit=0  # A (key 1:0..1:1), B (key 1:0..1:3) registered; C holds token 4
swap_out 1 => ok  # C freed unregistered; B, then A join the queue (last block first)
stats => ok used=0 free=5 sequences=1 tokens=5 cached=2 cpu=3
prefill 2 1:3 => ok hit=2  # A hit from the queue; 1 new page
stats => ok used=2 free=3 sequences=2 tokens=8 cached=2 cpu=3
swap_in 1 => ok  # 3 new pages: the 2 unregistered free ones, then the queue's head B, which loses its key
stats => ok used=5 free=0 sequences=2 tokens=8 cached=1 cpu=0
read 1 => ok
free 1 => ok  # its pages were never registered: unregistered free pages
stats => ok used=2 free=3 sequences=1 tokens=3 cached=1 cpu=0
prefill 3 1:5 => ok hit=2  # A hits; block 1's key went with B
stats => ok used=4 free=1 sequences=2 tokens=8 cached=2 cpu=0
check => ok
""",
}

# --bug swap-keeps-cpu: swap_in forgets to free the CPU pages, so `cpu=` stays at 2 and the
# second swap_out would not fit.
SWAP_KEEPS_CPU_TRACE = """
config page_size=2 max_pages=4 cpu_pages=2
append 1 3 => ok
swap_out 1 => ok
swap_in 1 => ok
swap_out 1 => ok
stats => ok used=0 free=4 sequences=1 tokens=3 cpu=2
"""

# --bug whole-prompt-hit: a waiting sequence's lookup hits its prompt's last block as well (the
# last token must always be computed: at most floor((len-1)/page_size) blocks hit).
WHOLE_PROMPT_HIT_TRACE = """
config page_size=2 max_pages=4 prefix_caching=on
prefill 1 1:4 => ok hit=0
admit 2 1:4 => ok
reserve 2 1 => ok hit=2
commit 2 1 => ok
read 2 => ok
check => ok
"""


# Sliding windows (docs/semantics.md section 16): the two worked examples of 16.4, then rules
# V-W4..V-W7 one by one, replayed with every op audited.
WINDOW_SLIDES_TRACE = """
config page_size=2 max_pages=3 sliding_window=3
append 1 5 => ok  # 3 pages A, B, C; nothing released (only growth releases)
info 1 => ok tokens=5 pages=3 pinned=0
append 1 2 => ok  # skip(5) = 1: A released (entry 0 null); 1 new page
read 1 => ok  # tokens 2..6
truncate 1 2 => invalid_argument  # skip(2) = 0 < z = 1
truncate 1 4 => ok  # entries 2, 3 released
info 1 => ok tokens=4 pages=1 pinned=0
stats => ok used=1 free=2 sequences=1 tokens=4
check => ok
"""

WINDOW_TRACES = {
    "window-slides": WINDOW_SLIDES_TRACE,
    "window-hit-inside-the-window-only": """
config page_size=2 max_pages=8 prefix_caching=on sliding_window=3
prefill 1 1:7 => ok hit=0  # A, B, C registered (blocks 0-2), D holds token 6
append 1 1 => ok  # skip(7) = 2: B then A released, to the queue
prefill 2 1:7 => ok hit=6  # limit 3, c = 1: block 2 (C) only; entries 0, 1 null; 1 new page
info 2 => ok tokens=7 pages=2 pinned=0
stats => ok used=3 free=5 sequences=2 tokens=15 cached=3
read 2 => ok
prefill 3 1:5 => ok hit=4  # limit 2: block 1 (B, from the queue) only; entry 0 null
info 3 => ok tokens=5 pages=2 pinned=0
stats => ok used=5 free=3 sequences=3 tokens=20 cached=3
read 3 => ok
check => ok
""",
    "window-release-stays-when-growth-fails": """
config page_size=2 max_pages=3 sliding_window=4
append 1 6 => ok
append 1 4 => capacity_exceeded  # skip(6) = 1: A released first, and stays; 2 pages needed, 1 free
info 1 => ok tokens=6 pages=2 pinned=0
stats => ok used=2 free=1 sequences=1 tokens=6
truncate 1 1 => invalid_argument  # skip(1) = 0 < z = 1
read 1 => ok  # tokens 2..5
append 1 2 => ok  # nothing more leaves the window; 1 page
info 1 => ok tokens=8 pages=3 pinned=0
check => ok
""",
    "window-alloc-and-reserve-release": """
config page_size=2 max_pages=4 sliding_window=2
append 1 4 => ok
alloc 1 => ok  # skip(4) = 1: A released; 1 new (reserved) page
info 1 => ok tokens=4 pages=2 pinned=0
reserve 1 2 => ok  # nothing more to release; alloc's page holds the 2 slots
commit 1 2 => ok  # commit does not release
info 1 => ok tokens=6 pages=2 pinned=0
reserve 1 1 => ok  # skip(6) = 2: B released; 1 new page
info 1 => ok tokens=6 pages=2 pinned=0
commit 1 1 => ok
read 1 => ok  # tokens 4..6
stats => ok used=2 free=2 sequences=1 tokens=7
check => ok
""",
    "window-fork-and-swap-keep-nulls": """
config page_size=2 max_pages=6 sliding_window=2 cpu_pages=4
append 1 5 => ok
append 1 1 => ok  # skip(5) = 2: B, A released; no new page
info 1 => ok tokens=6 pages=1 pinned=0
fork 1 2 => ok  # the nulls copied as nulls
info 2 => ok tokens=6 pages=1 pinned=0
append 2 1 => ok  # nothing more leaves the window; 1 new page
swap_out 1 => ok  # its one non-null entry: 1 CPU page
stats => ok used=2 free=4 sequences=2 tokens=13 cpu=1
swap_in 1 => ok  # 1 new page into entry 2; entries 0, 1 stay null
info 1 => ok tokens=6 pages=1 pinned=0
read 1 => ok
read 2 => ok
stats => ok used=3 free=3 sequences=2 tokens=13 cpu=0
check => ok
""",
    "window-preempted-resume-hits-inside-the-window": """
config page_size=2 max_pages=8 prefix_caching=on sliding_window=3
admit 1 1:7 => ok
reserve 1 7 => ok hit=0
commit 1 7 => ok  # blocks 0-2 registered; the fourth page holds token 6
preempt 1 => ok
stats => ok used=0 free=8 sequences=1 tokens=0 cached=3
reserve 1 1 => ok hit=6  # block 2 only (c = 1); entries 0, 1 null; 1 new page
info 1 => ok tokens=6 pages=2 pinned=0
commit 1 1 => ok
read 1 => ok
stats => ok used=2 free=6 sequences=1 tokens=7 cached=3
check => ok
""",
}

# append_atomicity=token: a release before every one-token append (V-W4, V-A1), so a page leaves
# the window before the next is needed.
WINDOW_TOKEN_APPENDS_TRACE = """
config page_size=2 max_pages=2 sliding_window=2 append_atomicity=token
append 1 6 => ok
info 1 => ok tokens=6 pages=1 pinned=0
append 2 4 => capacity_exceeded  # two tokens fit; the third needs a second page
info 2 => ok tokens=2 pages=1 pinned=0
stats => ok used=2 free=0 sequences=2 tokens=8
append 1 1 => capacity_exceeded  # skip(6) = 2 = z: nothing leaves the window, no page free
free 2 => ok
append 1 3 => ok
info 1 => ok tokens=9 pages=2 pinned=0
read 1 => ok
check => ok
"""


# Hybrid KV groups (docs/semantics.md section 17): the three worked examples of 17.4, each op with
# the result the rules give (and `? pages` / `? cache` lines the example's page ids give).
GROUPS_TRACES = {
    "groups-slide-apart": """
config page_size=2 max_pages=6 kv_groups=0,3
append 1 5 => ok  # 3 entries per group: 6 pages, the pool is full
append 1 1 => ok  # group 1: skip_1(5) = 1, its entry 0 released; 6 tokens fit 3 entries
info 1 => ok tokens=6 pages=5 pinned=0
? pages 1 => ok 0 1 2 | - 4 5
append 1 1 => ok  # group 1: skip_1(6) = 2, entry 1 released; entry 3 in both groups
? pages 1 => ok 0 1 2 4 | - - 5 3
truncate 1 2 => invalid_argument  # group 1: z_1 = 2 > skip_1(2) = 0
stats => ok used=6 free=0 sequences=1 tokens=7
? audit => ok
""",
    "groups-window-group-limits-the-hit": """
config page_size=1 max_pages=10 prefix_caching=on kv_groups=0,2
prefill 1 1:4 => ok hit=0  # blocks 0..3 registered in both groups: 8 pages
append 1 1 => ok  # group 1 releases entries 2, 1, 0 (registered: to the queue)
free 1 => ok  # group 0's entries last first, then group 1's block 3
append 2 2 => ok  # 2 unregistered pages, then group 1's blocks 2 and 1 from the queue
free 2 => ok
prefill 3 1:4 => ok hit=1  # group 0 accepts 3; h = 3 and 2 need group 1's blocks 2 and 1
info 3 => ok tokens=4 pages=8 pinned=0
? audit => ok
""",
    "groups-full-group-limits-the-hit": """
config page_size=1 max_pages=8 prefix_caching=on kv_groups=0,2
prefill 1 1:3 => ok hit=0
free 1 => ok  # the queue: group 0's blocks 2, 1, 0, then group 1's 2, 1, 0
? cache => ok 0=0:1048576 1=0:1048576-1048577 2=0:1048576-1048578 3=1:1048576 4=1:1048576-1048577 5=1:1048576-1048578 queue 2 1 0 5 4 3
append 2 2 => ok  # 2 unregistered pages, then group 0's blocks 2 and 1 (keys lost)
free 2 => ok
prefill 3 1:3 => ok hit=1  # group 1 alone would hit 2; group 0 lost block 1
info 3 => ok tokens=3 pages=6 pinned=0
? audit => ok
""",
}


def replay_through_example(body: str, *args: str) -> list[tuple[str, str, str]]:
    """(request, expected, got) for each `REQUEST => EXPECTED` line of `body`, run through the
    example (protocol 2) without the harness."""
    lines = [line.split("#")[0].strip() for line in body.strip().splitlines()]
    requests = [line.split(" => ")[0] for line in lines]
    replies = run_adapter("".join(r + "\n" for r in requests), "--protocol", "2", *args)
    replies = replies[replies.index("ready") + 1 :]
    return [(r, line.split(" => ")[1], got) for r, line, got in zip(requests, lines, replies) if " => " in line]


class Groups(unittest.TestCase):
    """Hybrid KV groups (docs/semantics.md section 17) through the kit and the example."""

    def test_config_key_and_profile(self):
        profile = kv.Profile(ops=["alloc"], ranges={"sliding_window": (0, 8), "kv_groups": (0, 4)})
        config = kv.parse_config("config page_size=2 max_pages=6 kv_groups=0,3", profile)
        self.assertEqual((config.kv_groups, config.groups, config.window(1)), ((0, 3), 2, 3))
        self.assertEqual([config.out_of_window_entries(6, g) for g in (0, 1)], [0, 2])
        self.assertEqual([config.group_window_blocks(g) for g in (0, 1)], [0, 1])
        self.assertEqual(kv.group_token_value(5, 0), 5)
        self.assertEqual(kv.group_token_value(5, 3), 5 ^ (3 << 52))
        for bad in ("kv_groups=0", "kv_groups=0,1", "kv_groups=0,9", "kv_groups=0,0,0,0,0", "kv_groups=0,x",
                    "kv_groups=0,3 sliding_window=3", "kv_groups=0,3 reserved_slots=skipped"):
            with self.subTest(bad=bad), self.assertRaises(kv.ConfigError):
                kv.parse_config(f"config page_size=2 max_pages=3 {bad}", profile)
        with self.assertRaises(kv.ConfigError):  # undeclared: no groups
            kv.parse_config("config page_size=2 max_pages=3 kv_groups=0,0", kv.Profile(ops=["alloc"]))
        self.assertIn("kv_groups 0 4", profile.lines(1, "x"))
        self.assertNotIn("kv_groups", " ".join(kv.Profile(ops=["alloc"]).lines(1, "x")))
        self.assertIn("kv_groups 0 8", run_adapter(""))

    def test_worked_examples(self):
        for name, body in GROUPS_TRACES.items():
            for request, expected, got in replay_through_example(body):
                with self.subTest(trace=name, request=request):
                    self.assertEqual(got, expected)

    def test_data_per_group_and_swap(self):
        # Group 1's pages hold v ^ (1 << 52) (V-G2); `? words` covers group 0's readable tokens,
        # then group 1's from z_1 (here entry 0 null: tokens 2..4). A swap keeps the null entries.
        script = ["config page_size=2 max_pages=8 kv_groups=0,2 cpu_pages=8", "append 1 4", "append 1 1",
                  "? pages 1", "? words 1 0 100", "swap_out 1", "? pages 1", "? digest 1", "stats",
                  "swap_in 1", "? pages 1", "? words 1 0 100", "? audit"]
        lines = run_adapter("".join(r + "\n" for r in script))
        lines = lines[lines.index("ready") + 1 :]
        config = kv.Config(page_size=2, max_pages=8)
        values = [kv.token_value(0, 0, i) for i in range(4)] + [kv.token_value(1, 0, 0)]
        words = kv.values_words(values + [kv.group_token_value(v, 1) for v in values[2:]], config)
        self.assertEqual(lines[3], "ok 0 1 2 | - 3 4")
        self.assertEqual(lines[4], " ".join(["ok"] + [str(w) for w in words]))
        self.assertEqual(lines[6], "ok | -")
        self.assertEqual(lines[7], "ok cbf29ce484222325")
        self.assertEqual(lines[8], "ok used=0 free=8 sequences=1 tokens=5 cpu=5")
        self.assertEqual(lines[11], lines[4])
        self.assertEqual(lines[12], "ok")

    def test_bugs_are_caught(self):
        # --bug hybrid-hit-full-only: the window group's lost blocks are not checked, the hit is 3.
        got = dict((r, g) for r, _, g in replay_through_example(
            GROUPS_TRACES["groups-window-group-limits-the-hit"], "--bug", "hybrid-hit-full-only"))
        self.assertEqual(got["prefill 3 1:4"], "ok hit=3")
        # --bug groups-release-order: group 1's entries join the queue before group 0's.
        got = dict((r, g) for r, _, g in replay_through_example(
            GROUPS_TRACES["groups-full-group-limits-the-hit"], "--bug", "groups-release-order"))
        self.assertTrue(got["? cache"].endswith("queue 5 4 3 2 1 0"), got["? cache"])


@unittest.skipUnless(KVTRACE, "no kvtrace binary given (argument or $KVTRACE)")
class Harness(unittest.TestCase):
    def kvtrace(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([KVTRACE, *args], capture_output=True, text=True, timeout=120, cwd=ROOT)

    def campaign(self, backend: str, artifacts: str) -> subprocess.CompletedProcess:
        return self.kvtrace("campaign", "--seed", "1", "--traces", "16", "--ops", "100", "--profile", "classic",
                            "--jobs", "2", "--artifacts", artifacts, "--backend", f"exec:{backend}")

    def test_clean_campaign_passes(self):
        with tempfile.TemporaryDirectory() as artifacts:
            done = self.campaign(EXAMPLE, artifacts)
            self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
            self.assertIn(" 0 findings", done.stdout)

    def test_planted_bugs_are_found(self):
        for bug in ("cow", "capacity"):
            with self.subTest(bug=bug), tempfile.TemporaryDirectory() as artifacts:
                done = self.campaign(f"{EXAMPLE} --bug {bug}", artifacts)
                self.assertEqual(done.returncode, 1, done.stdout + done.stderr)
                shrunk = glob.glob(os.path.join(artifacts, "*.min.trace"))
                self.assertTrue(shrunk, done.stdout)
                # The shrunk trace replays as a failure against the bugged cache, and passes on the clean one.
                self.assertEqual(self.kvtrace("replay", "--artifacts", artifacts, "--backend",
                                              f"exec:{EXAMPLE} --bug {bug}", shrunk[0]).returncode, 1)
                self.assertEqual(self.kvtrace("replay", "--artifacts", artifacts, "--backend",
                                              f"exec:{EXAMPLE}", shrunk[0]).returncode, 0)

    def test_a_baseline_outlives_the_engines_name(self):
        # Signatures never hold the backend's name: a baseline written against one name of an
        # engine still knows its findings when the next commit calls itself something else.
        for bug in ("capacity", "cow"):
            with self.subTest(bug=bug), tempfile.TemporaryDirectory() as artifacts:
                baseline = os.path.join(artifacts, "known.txt")
                args = ("campaign", "--seed", "1", "--traces", "30", "--ops", "100", "--jobs", "1",
                        "--profile", "classic", "--artifacts", artifacts, "--backend", f"exec:{EXAMPLE} --bug {bug}")
                first = self.kvtrace(*args, "--keep-going", "--write-baseline", baseline)
                self.assertEqual(first.returncode, 1, first.stdout + first.stderr)
                renamed = subprocess.run([KVTRACE, *args, "--baseline", baseline], capture_output=True, text=True,
                                         timeout=120, cwd=ROOT, env={**os.environ, "KV_EXAMPLE_NAME": "engine-v2"})
                self.assertEqual(renamed.returncode, 0, renamed.stdout + renamed.stderr)
                self.assertIn(", 0 new", renamed.stdout)
        handshake = subprocess.run(["python3", os.path.join(ROOT, "adapters", "python", "example_cache.py")],
                                   input="", capture_output=True, text=True, timeout=30,
                                   env={**os.environ, "KV_EXAMPLE_NAME": "engine-v2"})
        self.assertEqual(handshake.stdout.splitlines()[0], "kvbackend 1 engine-v2")

    def test_nondeterministic_choice_is_reported(self):
        # LRU ties broken by a coin flip: the first failing trace is replayed (12 runs) before it is
        # reported, so it is reported as nondeterministic, and its shrunk trace is a flaky one.
        backend = f"exec:{EXAMPLE} --bug flaky-ties"
        with tempfile.TemporaryDirectory() as artifacts:
            done = self.kvtrace("campaign", "--seed", "1", "--traces", "50", "--ops", "100", "--jobs", "1",
                                "--replays", "12", "--artifacts", artifacts, "--backend", backend)
            self.assertEqual(done.returncode, 1, done.stdout + done.stderr)
            first = next(line for line in done.stdout.splitlines() if line.startswith("FAIL  trace seed"))
            self.assertIn("divergence (nondeterministic)", first, done.stdout)
            self.assertIn("replays of the same trace disagree", done.stdout)
            self.assertRegex(done.stdout, r"shrunk: \d+ ops -> \d+ ops \(flaky: kept when 1 of 12 replays fails\)")
            shrunk = glob.glob(os.path.join(artifacts, "*.min.trace"))
            self.assertTrue(shrunk, done.stdout)
            # The clean cache passes the shrunk trace; `kvtrace shrink` says what it found.
            self.assertEqual(self.kvtrace("replay", "--artifacts", artifacts, "--backend", f"exec:{EXAMPLE}",
                                          shrunk[0]).returncode, 0)
            again = self.kvtrace("shrink", "--replays", "12", "--backend", backend, shrunk[0],
                                 "-o", os.path.join(artifacts, "again.trace"))
            self.assertEqual(again.returncode, 0, again.stdout + again.stderr)
            self.assertIn("NONDETERMINISTIC", again.stdout)
            self.assertIn("(flaky)", again.stdout)

    def test_seeds_replay(self):
        seeds = [os.path.join(ROOT, "corpus", "seeds", name + ".trace") for name in (
            "fork-cow-mid-page", "fork-cow-needs-extra-page", "lru-cow-sharer-evicted", "lru-victim-shares-pages",
            "lru-ties-smaller-id", "step-protects-new-member", "truncate-releases-reserved-pages",
            "multi-layer-shape", "ticks-count-failed-ops", "prefix-evicting-hit-owner-helps-nothing",
            "prefix-queued-hits-count-as-taken", "prefix-cow-keeps-original-key", "prefix-release-reverse-block-order")]
        with tempfile.TemporaryDirectory() as artifacts:
            # version 2: the harness also compares `? cache` (registered keys and the cached-free queue)
            done = self.kvtrace("replay", "--artifacts", artifacts, "--backend", f"exec:{EXAMPLE} --protocol 2",
                                *seeds)
            self.assertEqual(done.returncode, 0, done.stdout + done.stderr)

    def write_traces(self, folder: str, traces: dict[str, str]) -> list[str]:
        paths = []
        for name, body in traces.items():
            paths.append(os.path.join(folder, name + ".trace"))
            with open(paths[-1], "w") as out:
                out.write("kvtrace 3\n" + body.lstrip("\n"))
        return paths

    def replay_every_file_passes(self, traces: dict[str, str]) -> None:
        # Every op audited (--audit every): `? audit`, `? pages`, `? digest` and `? cache` after each.
        with tempfile.TemporaryDirectory() as folder:
            paths = self.write_traces(folder, traces)
            done = self.kvtrace("replay", "--audit", "every", "--artifacts", folder, "--backend",
                                f"exec:{EXAMPLE} --protocol 2", *paths)
            self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
            self.assertEqual(done.stdout.count("ok    "), len(paths), done.stdout)

    def test_lifecycle_traces_replay(self):
        self.replay_every_file_passes(LIFECYCLE_TRACES)

    def test_lifecycle_rejected_slots_released(self):
        # The variant is declared in the example's profile (`config rejected_slots=released`): the
        # file runs under it. Without the declaration the file is outside the profile (exit 2).
        with tempfile.TemporaryDirectory() as folder:
            paths = self.write_traces(folder, {"rejected-slots-released": RELEASED_TRACE})
            done = self.kvtrace("replay", "--audit", "every", "--artifacts", folder, "--backend",
                                f"exec:{EXAMPLE} --protocol 2 --variant rejected_slots=released", *paths)
            self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
            undeclared = self.kvtrace("replay", "--artifacts", folder, "--backend", f"exec:{EXAMPLE}", *paths)
            self.assertEqual(undeclared.returncode, 2, undeclared.stdout + undeclared.stderr)
            self.assertIn("rejected_slots", undeclared.stdout + undeclared.stderr)

    def test_lifecycle_bug_is_found(self):
        with tempfile.TemporaryDirectory() as folder:
            paths = self.write_traces(folder, {"whole-prompt-hit": WHOLE_PROMPT_HIT_TRACE})
            done = self.kvtrace("replay", "--artifacts", folder, "--backend",
                                f"exec:{EXAMPLE} --protocol 2 --bug whole-prompt-hit", *paths)
            self.assertEqual(done.returncode, 1, done.stdout + done.stderr)
            self.assertIn("reserve 2 1", done.stdout)
            self.assertIn("ok hit=4", done.stdout)
            clean = self.kvtrace("replay", "--artifacts", folder, "--backend", f"exec:{EXAMPLE} --protocol 2", *paths)
            self.assertEqual(clean.returncode, 0, clean.stdout + clean.stderr)

    def test_swap_traces_replay(self):
        # A swapped-out sequence's `? pages` and `? digest` are compared empty.
        self.replay_every_file_passes(SWAP_TRACES)

    def test_swap_bug_is_found(self):
        with tempfile.TemporaryDirectory() as folder:
            paths = self.write_traces(folder, {"swap-keeps-cpu": SWAP_KEEPS_CPU_TRACE})
            done = self.kvtrace("replay", "--artifacts", folder, "--backend",
                                f"exec:{EXAMPLE} --bug swap-keeps-cpu", *paths)
            self.assertEqual(done.returncode, 1, done.stdout + done.stderr)
            self.assertIn("swap_in 1", done.stdout)
            self.assertIn("stats differ in cpu", done.stdout)
            clean = self.kvtrace("replay", "--audit", "every", "--artifacts", folder, "--backend",
                                 f"exec:{EXAMPLE}", *paths)
            self.assertEqual(clean.returncode, 0, clean.stdout + clean.stderr)

    def test_reuse_order_is_checked(self):
        # Section 14.8's worked example under fifo: the example cache implements it; with
        # --bug fifo-reuses-last it hands out the page released last and is reported at `alloc 3`.
        path = os.path.join(ROOT, "corpus", "seeds", "reuse-order-fifo.trace")
        with tempfile.TemporaryDirectory() as folder:
            clean = self.kvtrace("replay", "--audit", "every", "--artifacts", folder, "--backend",
                                 f"exec:{EXAMPLE} --variant reuse_order=fifo", path)
            self.assertEqual(clean.returncode, 0, clean.stdout + clean.stderr)
            done = self.kvtrace("replay", "--audit", "every", "--artifacts", folder, "--backend",
                                f"exec:{EXAMPLE} --bug fifo-reuses-last --variant reuse_order=fifo", path)
            self.assertEqual(done.returncode, 1, done.stdout + done.stderr)
            self.assertIn("alloc 3", done.stdout)
            self.assertIn("reuse_order=fifo (section 14.8) gives it model page 2", done.stdout)

    def test_window_traces_replay(self):
        self.replay_every_file_passes(WINDOW_TRACES)

    def test_window_token_appends_replay(self):
        with tempfile.TemporaryDirectory() as folder:
            paths = self.write_traces(folder, {"window-token-appends": WINDOW_TOKEN_APPENDS_TRACE})
            done = self.kvtrace("replay", "--audit", "every", "--artifacts", folder, "--backend",
                                f"exec:{EXAMPLE} --protocol 2 --variant append_atomicity=token", *paths)
            self.assertEqual(done.returncode, 0, done.stdout + done.stderr)

    def test_window_bug_is_found(self):
        # --bug window-off-by-one releases B too at `append 1 2` (skip(6) = 2, not skip(5) = 1).
        with tempfile.TemporaryDirectory() as folder:
            paths = self.write_traces(folder, {"window-slides": WINDOW_SLIDES_TRACE})
            done = self.kvtrace("replay", "--artifacts", folder, "--backend",
                                f"exec:{EXAMPLE} --bug window-off-by-one", *paths)
            self.assertEqual(done.returncode, 1, done.stdout + done.stderr)
            self.assertIn("append 1 2", done.stdout)
            clean = self.kvtrace("replay", "--artifacts", folder, "--backend", f"exec:{EXAMPLE}", *paths)
            self.assertEqual(clean.returncode, 0, clean.stdout + clean.stderr)

    def test_window_campaign(self):
        # The `window` profile slides windows under every op: the clean example passes, and a
        # campaign finds --bug window-off-by-one and shrinks it to a trace the clean one passes.
        for bug, status in (("", 0), ("window-off-by-one", 1)):
            backend = f"exec:{EXAMPLE} --protocol 2" + (f" --bug {bug}" if bug else "")
            with self.subTest(bug=bug), tempfile.TemporaryDirectory() as artifacts:
                done = self.kvtrace("campaign", "--backend", backend, "--profile", "window", "--traces", "40",
                                    "--ops", "100", "--seed", "1", "--jobs", "2", "--artifacts", artifacts)
                self.assertEqual(done.returncode, status, done.stdout + done.stderr)
                if not bug:
                    self.assertIn(" 0 findings", done.stdout)
                    continue
                shrunk = glob.glob(os.path.join(artifacts, "*.min.trace"))
                self.assertTrue(shrunk, done.stdout)
                with open(shrunk[0]) as trace:
                    self.assertIn("sliding_window=", trace.read())
                self.assertEqual(self.kvtrace("replay", "--artifacts", artifacts, "--backend",
                                              f"exec:{EXAMPLE}", shrunk[0]).returncode, 0)

    def test_serving_campaign_passes(self):
        # The serving profile draws every lifecycle op, cpu_pages (none to roomy) and swap bursts.
        with tempfile.TemporaryDirectory() as artifacts:
            done = self.kvtrace("campaign", "--backend", f"exec:{EXAMPLE}", "--profile", "serving",
                                "--traces", "100", "--ops", "150", "--seed", "1", "--artifacts", artifacts)
            self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
            self.assertIn(" 0 findings", done.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
