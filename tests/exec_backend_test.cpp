// The exec: backend: agreement through the pipe, pipelining, and one test per way a backend can
// misbehave (each must end as a "backend" divergence, quickly, with the child reaped).
#include "backends/exec_backend.hpp"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "backends/backends.hpp"
#include "runner/runner.hpp"
#include "trace/gen.hpp"

namespace kv {
namespace {

const std::string backend = std::string("exec:") + KV_PROTOCOL_BACKEND;

// A trace the test writes itself, so it parses.
Trace trace_of(std::string_view text) {
  return std::get<Trace>(parse_trace(text, memory_budget_default_bytes));
}

Trace small_trace() {
  return trace_of(
      "kvtrace 1\nconfig page_size=4 max_pages=8 eviction=none\n"
      "alloc 1\nappend 1 3\nappend 2 5\nread 1\nstats\nfree 2\n");
}

// Children of this process that have exited but were not reaped.
int zombie_children() {
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    std::ifstream stat(entry.path() / "stat");
    std::string pid, comm, state, parent;
    if (!(stat >> pid >> comm >> state >> parent)) continue;
    if (state == "Z" && parent == std::to_string(getpid())) count++;
  }
  return count;
}

long max_rss_kib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

struct Misbehaving {
  RunReport report;
  double seconds = 0;
};

Misbehaving run_misbehaving(const std::string& mode, AuditMode audit = AuditMode::check) {
  const std::string name = backend + " --misbehave " + mode + " --at-op 3";
  const auto start = std::chrono::steady_clock::now();
  Misbehaving out;
  out.report = run_trace(small_trace(), {name}, audit);
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

void expect_backend_failure(const Misbehaving& run, const std::string& words) {
  ASSERT_FALSE(run.report.ok());
  const Divergence& d = *run.report.divergence;
  EXPECT_EQ(d.kind, FailureKind::backend) << d.detail;
  EXPECT_NE(d.detail.find(words), std::string::npos) << d.detail;
  EXPECT_EQ(d.tick, 3u);
  EXPECT_EQ(d.prefix.lines.size(), 4u);  // the replayable prefix ends at the failing op
  EXPECT_LT(run.seconds, 5.0);
  EXPECT_EQ(zombie_children(), 0);
}

TEST(ExecBackend, AgreesWithTheModelThroughThePipe) {
  for (uint64_t seed = 1; seed <= 20; seed++) {
    const Trace trace = generate_trace_within(seed, 200, Capabilities::all());  // its profile
    for (AuditMode audit : {AuditMode::check, AuditMode::every}) {
      const RunReport report = run_trace(trace, {backend}, audit);
      ASSERT_TRUE(report.ok()) << "seed " << seed << ": " << format_divergence(*report.divergence);
      EXPECT_EQ(report.op_count, 200u);
    }
  }
}

TEST(ExecBackend, ReportsADivergenceWithTheStateAfterTheOp) {
  // A valid but wrong result: a normal divergence; the report's state comes after a resync.
  const Misbehaving run = run_misbehaving("wrong-result");
  ASSERT_FALSE(run.report.ok());
  EXPECT_EQ(run.report.divergence->kind, FailureKind::result);
  EXPECT_EQ(run.report.divergence->backend, "capacity_exceeded");
  // Reports name the backend by its handshake's NAME, not by its (local, absolute) command.
  EXPECT_EQ(run.report.divergence->backend_name, "protocol-host");
  EXPECT_NE(run.report.divergence->state.find("tokens=3"), std::string::npos)
      << run.report.divergence->state;
}

TEST(ExecBackend, GarbageLine) {
  expect_backend_failure(run_misbehaving("garbage"), "not a kvtrace result");
}

TEST(ExecBackend, WrongResultWord) {
  expect_backend_failure(run_misbehaving("wrong-word"), "unknown result word 'okay'");
}

TEST(ExecBackend, EarlyExit) {
  expect_backend_failure(run_misbehaving("exit"), "exited with status 3");
}

TEST(ExecBackend, HangEndsAtTheTimeout) {
  setenv("KV_BACKEND_TIMEOUT_MS", "300", 1);
  const Misbehaving run = run_misbehaving("hang");
  unsetenv("KV_BACKEND_TIMEOUT_MS");
  expect_backend_failure(run, "for 300 ms");
  EXPECT_NE(run.report.divergence->detail.find("killed by signal 9"), std::string::npos);
}

TEST(ExecBackend, HundredMegabyteLineKeepsMemoryBounded) {
  const long before_kib = max_rss_kib();
  const Misbehaving run = run_misbehaving("long-line");
  expect_backend_failure(run, "longer than");
  EXPECT_LT(max_rss_kib() - before_kib, 64 * 1024);
}

TEST(ExecBackend, ClosedPipe) {
  expect_backend_failure(run_misbehaving("close"), "closed its output");
}

TEST(ExecBackend, FailureWhileAuditingEveryOp) {
  expect_backend_failure(run_misbehaving("exit", AuditMode::every), "exited with status 3");
}

TEST(ExecBackend, CommandThatDoesNotStart) {
  const RunReport report =
      run_trace(small_trace(), {"exec:/nonexistent/backend"}, AuditMode::check);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.divergence->kind, FailureKind::backend);
  EXPECT_NE(report.divergence->detail.find("exited with status 127"), std::string::npos)
      << report.divergence->detail;
}

TEST(ExecBackend, HandshakeMustComeFirst) {
  const auto caps = backend_capabilities({"exec:echo hello"});
  ASSERT_TRUE(std::holds_alternative<std::string>(caps));
  EXPECT_NE(std::get<std::string>(caps).find("kvbackend 1 NAME"), std::string::npos);
}

TEST(ExecBackend, ProfileRestrictsOpsAndNamesTheOp) {
  const std::string name = backend + " --ops 'alloc append free' --eviction none";
  const auto caps = backend_capabilities({name});
  ASSERT_TRUE(std::holds_alternative<Capabilities>(caps)) << std::get<std::string>(caps);
  const Capabilities& got = std::get<Capabilities>(caps);
  EXPECT_EQ(got.op_list(), "alloc append free");
  EXPECT_FALSE(got.eviction_lru);
  const auto outside = trace_outside(small_trace(), got, name);
  ASSERT_TRUE(outside.has_value());
  EXPECT_NE(outside->find("op `read`"), std::string::npos) << *outside;
  const Trace generated = generate_trace_within(5, 300, got);
  EXPECT_FALSE(trace_outside(generated, got, name).has_value());
  EXPECT_EQ(generated.lines.size(), 300u);
  EXPECT_TRUE(run_trace(generated, {name}, AuditMode::every).ok());
}

// Every corpus seed with prefix_caching=on, through `exec:` with the given extra flags.
std::vector<std::pair<std::string, RunReport>> run_prefix_seeds(const std::string& flags) {
  std::vector<std::pair<std::string, RunReport>> reports;
  for (const auto& entry : std::filesystem::directory_iterator(KV_SOURCE_DIR "/corpus/seeds")) {
    if (entry.path().filename().string().rfind("prefix-", 0) != 0) continue;
    std::ifstream in(entry.path());
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto parsed = parse_trace(text, memory_budget_default_bytes);
    if (!std::holds_alternative<Trace>(parsed)) continue;
    reports.emplace_back(entry.path().filename().string(),
                         run_trace(std::get<Trace>(parsed), {backend + flags}, AuditMode::every));
  }
  return reports;
}

Trace queue_of_two_trace() {
  // At `check` the cached-free queue is [C, B] (two pages) and A still holds key 1:0..1:1.
  return trace_of(
      "kvtrace 2\nconfig page_size=2 max_pages=4 prefix_caching=on\n"
      "prefill 1 1:6\ntruncate 1 1\ncheck\n");
}

// The prefix seeds through kv_protocol_backend with `flags`: at least 5, and every one agrees.
void expect_prefix_seeds_agree(const std::string& flags) {
  const auto reports = run_prefix_seeds(flags);
  EXPECT_GE(reports.size(), 5u);
  for (const auto& [file, report] : reports) {
    EXPECT_TRUE(report.ok()) << file << ": " << format_divergence(*report.divergence);
  }
}

TEST(ExecBackend, VersionTwoAgreesOnThePrefixSeeds) {
  expect_prefix_seeds_agree("");
}

TEST(ExecBackend, VersionTwoWrongQueueIsCaught) {
  const RunReport report =
      run_trace(queue_of_two_trace(), {backend + " --corrupt-cache queue"}, AuditMode::check);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.divergence->kind, FailureKind::prefix) << format_divergence(*report.divergence);
}

TEST(ExecBackend, VersionTwoWrongKeyIsCaught) {
  const RunReport report =
      run_trace(queue_of_two_trace(), {backend + " --corrupt-cache key"}, AuditMode::check);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.divergence->kind, FailureKind::prefix) << format_divergence(*report.divergence);
}

TEST(ExecBackend, VersionTwoMalformedCacheReplyIsABackendFailure) {
  const RunReport report =
      run_trace(queue_of_two_trace(), {backend + " --corrupt-cache malformed"}, AuditMode::check);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.divergence->kind, FailureKind::backend);
  EXPECT_NE(report.divergence->detail.find("`0=7-x` is not PAGE=RANGES"), std::string::npos)
      << report.divergence->detail;
}

TEST(ExecBackend, VersionOneIsNotAskedForTheCache) {
  // A version 1 backend answers `? cache` with an error; it must never be sent, so the corrupted
  // cache goes unseen and the run agrees.
  const RunReport report = run_trace(
      queue_of_two_trace(), {backend + " --version 1 --corrupt-cache queue"}, AuditMode::every);
  EXPECT_TRUE(report.ok()) << format_divergence(*report.divergence);
  const auto caps = backend_capabilities({backend + " --version 3"});
  ASSERT_TRUE(std::holds_alternative<std::string>(caps));
  EXPECT_NE(std::get<std::string>(caps).find("versions 1 to 2"), std::string::npos)
      << std::get<std::string>(caps);
}

TEST(ExecBackend, DeclinedObservationsAreNotCompared) {
  // A wrong cached= count and a wrong queue order are findings, until the profile declines them.
  const RunReport cached =
      run_trace(queue_of_two_trace(), {backend + " --corrupt-cache cached"}, AuditMode::every);
  ASSERT_FALSE(cached.ok());
  EXPECT_EQ(cached.divergence->signature(), "stats|grow|stats differ in cached")
      << format_divergence(*cached.divergence);
  expect_prefix_seeds_agree(" --corrupt-cache cached --profile-line 'decline cached'");
  expect_prefix_seeds_agree(" --corrupt-cache queue --profile-line 'decline queue'");
  // Declining one is not declining the other.
  const RunReport queue = run_trace(
      queue_of_two_trace(), {backend + " --corrupt-cache queue --profile-line 'decline cached'"},
      AuditMode::check);
  ASSERT_FALSE(queue.ok());
  EXPECT_EQ(queue.divergence->kind, FailureKind::prefix);
  const auto caps = backend_capabilities({backend + " --profile-line 'decline cached order'"});
  ASSERT_TRUE(std::holds_alternative<std::string>(caps));
  EXPECT_NE(std::get<std::string>(caps).find("'order' is not an observation a backend may decline "
                                             "(known: cached queue)"),
            std::string::npos)
      << std::get<std::string>(caps);
}

TEST(ExecBackend, HashedKeysAreLearnedFromPairedPages) {
  // `keys hash`: the harness learns which key each hash names and compares as usual.
  expect_prefix_seeds_agree(" --hash-keys yes");
  expect_prefix_seeds_agree(" --hash-keys yes --profile-line 'decline queue'");
  // A wrong queue order is still found once the hashes are named (--audit every compares the
  // cache after the prefill, when all its blocks are in its table). With only `check` ops, two
  // hashes first seen in the queue cannot be told apart, and nothing is reported.
  const RunReport queue = run_trace(
      queue_of_two_trace(), {backend + " --hash-keys yes --corrupt-cache queue"}, AuditMode::every);
  ASSERT_FALSE(queue.ok());
  EXPECT_EQ(queue.divergence->kind, FailureKind::prefix) << format_divergence(*queue.divergence);
  EXPECT_TRUE(run_trace(queue_of_two_trace(), {backend + " --hash-keys yes --corrupt-cache queue"},
                        AuditMode::check)
                  .ok());
  // One hash for two keys (a hash that ignores its parent's blocks, say) is a finding.
  const auto reports = run_prefix_seeds(" --hash-keys yes --corrupt-cache collide");
  const auto collided = std::find_if(reports.begin(), reports.end(), [](const auto& entry) {
    return !entry.second.ok() &&
           entry.second.divergence->detail.rfind("one hash for two keys: ", 0) == 0;
  });
  EXPECT_NE(collided, reports.end());
}

TEST(ExecBackend, DataNoBackendRunsThePrefixSeeds) {
  expect_prefix_seeds_agree(" --data no");
}

TEST(ExecBackend, ShortWordsRepliesAreAccepted) {
  // `? words S FIRST COUNT` answers up to COUNT words; a backend that sends 3 at a time still
  // agrees (the harness asks again for the rest). Every successful prefill gathers its words.
  expect_prefix_seeds_agree(" --words-max 3");
}

// The exec: backend for `config_line`, with `ops` applied at ticks 0, 1, ...
std::unique_ptr<Backend> backend_after(const std::string& name, std::string_view config_line,
                                       const std::vector<std::string>& ops) {
  const Trace trace = trace_of("kvtrace 3\n" + std::string(config_line) + "\n");
  auto made = make_backend(name, trace.config);
  for (size_t i = 0; i < ops.size(); i++) made->apply(std::get<Op>(parse_op(ops[i])), i);
  return made;
}

TEST(ExecBackend, NullEntriesParseFromADash) {
  // `-` in `? pages` is a null entry (V-W2); words count from the first non-null entry (V-W3):
  // with entry 0 null, `? words 1 0 4` is token 2's (page_size 2, 4 words a token).
  const auto made =
      backend_after(backend + " --corrupt-pages null",
                    "config page_size=2 max_pages=4 sliding_window=2", {"append 1 3"});
  const std::vector<uint64_t> table = made->block_table(1);
  ASSERT_EQ(table.size(), 2u);
  EXPECT_EQ(table[0], null_page);
  EXPECT_NE(table[1], null_page);
  const std::vector<uint32_t> words = made->gather_words(1);
  EXPECT_EQ(words.size(), 4u);  // token 2 only
  EXPECT_EQ(made->gather_token_words(1, 2, 1), words);
  EXPECT_TRUE(made->gather_token_words(1, 0, 1).empty());  // before the readable tokens
  EXPECT_FALSE(made->broken().has_value()) << *made->broken();
  // Without a window nothing is null: the same `? pages` reply is asked for only by the runner,
  // and every token is readable.
  const auto full = backend_after(backend, "config page_size=2 max_pages=4", {"append 1 3"});
  const std::vector<uint32_t> all = full->gather_words(1);
  EXPECT_EQ(all.size(), 12u);
  EXPECT_EQ(full->gather_token_words(1, 1, 2), std::vector<uint32_t>(all.begin() + 4, all.end()));
}

TEST(ExecBackend, SlidingWindowOnlyWhereTheProfileDeclaresIt) {
  // Undeclared: 0..0 (no windows). Declared: its range; listed with an in-tree backend, the
  // range both have.
  const auto plain = backend_capabilities({backend + " --window-line no"});
  ASSERT_TRUE(std::holds_alternative<Capabilities>(plain));
  EXPECT_EQ(std::get<Capabilities>(plain).sliding_window.max, 0u);
  const std::string windowed = backend + " --profile-line 'sliding_window 0 64'";
  const auto declared = backend_capabilities({windowed});
  ASSERT_TRUE(std::holds_alternative<Capabilities>(declared)) << std::get<std::string>(declared);
  EXPECT_EQ(std::get<Capabilities>(declared).sliding_window.min, 0u);
  EXPECT_EQ(std::get<Capabilities>(declared).sliding_window.max, 64u);
  const auto with_host = backend_capabilities({windowed, "host"});
  ASSERT_TRUE(std::holds_alternative<Capabilities>(with_host));
  EXPECT_EQ(std::get<Capabilities>(with_host).sliding_window.max, 64u);
  const Trace window = trace_of("kvtrace 3\nconfig page_size=2 max_pages=4 sliding_window=3\n");
  const auto outside = trace_outside(window, std::get<Capabilities>(plain), backend);
  ASSERT_TRUE(outside.has_value());
  EXPECT_EQ(outside->rfind("2: config: sliding_window=3 is outside its profile", 0), 0u)
      << *outside;
  EXPECT_FALSE(trace_outside(window, std::get<Capabilities>(declared), windowed).has_value());
}

// The error text of a parse, or "" when it parsed.
template <typename T>
std::string parse_error(const std::variant<T, std::string>& parsed) {
  return std::holds_alternative<std::string>(parsed) ? std::get<std::string>(parsed) : "";
}

TEST(ExecBackend, GroupTablesParseFromBars) {
  // kv_groups (V-G7): the groups' tables separated by `|`, concatenated in group order.
  const auto two = parse_pages_reply("ok 3 4 | - 5", 2);
  ASSERT_EQ(parse_error(two), "");
  EXPECT_EQ(std::get<std::vector<uint64_t>>(two), (std::vector<uint64_t>{3, 4, null_page, 5}));
  const auto three = parse_pages_reply("ok - 7 | - - | 1 2", 3);
  ASSERT_EQ(parse_error(three), "");
  EXPECT_EQ(std::get<std::vector<uint64_t>>(three).size(), 6u);
  // Swapped out: every table empty, or its null entries only.
  EXPECT_TRUE(std::get<std::vector<uint64_t>>(parse_pages_reply("ok |", 2)).empty());
  EXPECT_EQ(std::get<std::vector<uint64_t>>(parse_pages_reply("ok - | -", 2)),
            (std::vector<uint64_t>{null_page, null_page}));
  // Without kv_groups a `|` is a word like any other.
  EXPECT_EQ(parse_error(parse_pages_reply("ok 3 | 5", 0)), "`|` is neither a page id nor `-`");
}

TEST(ExecBackend, MalformedGroupTablesNameWhatCame) {
  EXPECT_EQ(parse_error(parse_pages_reply("ok 3 4", 2)),
            "it has 1 table separated by `|`, the config has 2 KV groups (V-G7: one table per "
            "group, `ok 3 4 | - 5`)");
  EXPECT_EQ(parse_error(parse_pages_reply("ok 1 | 2 | 3", 2)),
            "it has 3 tables separated by `|`, the config has 2 KV groups (V-G7: one table per "
            "group, `ok 3 4 | - 5`)");
  EXPECT_EQ(parse_error(parse_pages_reply("ok 3 4 | 5", 2)),
            "its groups' tables have 2, 1 entries; every group's table has the same length (V-G1; "
            "only a swapped-out sequence's null entries may differ, V-G4)");
  // A swapped-out sequence's groups keep only their own nulls (V-G4).
  EXPECT_EQ(std::get<std::vector<uint64_t>>(parse_pages_reply("ok | - -", 2)),
            (std::vector<uint64_t>{null_page, null_page}));
  EXPECT_EQ(parse_error(parse_pages_reply("ok 3 | 5x", 2)),
            "`5x` is neither a page id nor `-` (nor `|` between groups)");
  EXPECT_EQ(parse_error(parse_pages_reply("okay | 1", 2)), "it does not start with `ok`");
}

TEST(ExecBackend, GroupKeysParseFromTheirGroup) {
  // `? cache` in a kv_groups config: PAGE=G:RANGES, G the key's group (V-G5).
  const auto parsed = parse_cache_reply("ok 4=1:5-6 2=0:5-6 queue 4", false, 2);
  ASSERT_EQ(parse_error(parsed), "");
  const PrefixCacheView& view = std::get<PrefixCacheView>(parsed);
  ASSERT_EQ(view.registered.size(), 2u);
  EXPECT_EQ(view.registered[0].page, 4u);
  EXPECT_EQ(view.registered[0].group, 1u);
  EXPECT_EQ(view.registered[0].key, (std::vector<uint64_t>{5, 6}));
  EXPECT_EQ(view.registered[1].group, 0u);
  EXPECT_EQ(view.queue, std::vector<uint64_t>{4});
  // Hashed keys stay PAGE=HASH (group 0); without kv_groups a key has no group.
  const auto hashed = parse_cache_reply("ok 4=ab:cd queue", true, 2);
  ASSERT_EQ(parse_error(hashed), "");
  EXPECT_EQ(std::get<PrefixCacheView>(hashed).registered[0].group, 0u);
  EXPECT_EQ(
      std::get<PrefixCacheView>(parse_cache_reply("ok 4=5-6 queue", false, 0)).registered[0].group,
      0u);
}

TEST(ExecBackend, MalformedGroupKeysNameTheWord) {
  const std::string form =
      " is not PAGE=G:RANGES (a page id, `=`, the key's KV group 0..1, `:`, then token ids as "
      "FIRST-LAST or ID, comma-separated; V-G7)";
  EXPECT_EQ(parse_error(parse_cache_reply("ok 4=5-6 queue", false, 2)), "`4=5-6`" + form);
  EXPECT_EQ(parse_error(parse_cache_reply("ok 4=2:5-6 queue", false, 2)), "`4=2:5-6`" + form);
  EXPECT_EQ(parse_error(parse_cache_reply("ok 4=x:5 queue", false, 2)), "`4=x:5`" + form);
  EXPECT_EQ(parse_error(parse_cache_reply("ok 4=1: queue", false, 2)), "`4=1:`" + form);
  // Without kv_groups a group is not part of the key.
  EXPECT_EQ(parse_error(parse_cache_reply("ok 4=1:5 queue", false, 0)),
            "`4=1:5` is not PAGE=RANGES (a page id, `=`, then token ids as FIRST-LAST or ID, "
            "comma-separated)");
}

TEST(ExecBackend, GroupsOnlyWhereTheProfileDeclaresThem) {
  // A backend that does not declare `kv_groups` never gets a kv_groups config, even when its
  // sliding windows would fit; one that declares it gets its range.
  const auto plain = backend_capabilities({backend});
  ASSERT_TRUE(std::holds_alternative<Capabilities>(plain)) << std::get<std::string>(plain);
  EXPECT_EQ(std::get<Capabilities>(plain).kv_groups.max, Capabilities::all().kv_groups.max);
  const auto undeclared = backend_capabilities({backend + " --groups-line no"});
  ASSERT_TRUE(std::holds_alternative<Capabilities>(undeclared));
  EXPECT_EQ(std::get<Capabilities>(undeclared).kv_groups.max, 0u);
  const Trace groups = trace_of("kvtrace 3\nconfig page_size=2 max_pages=4 kv_groups=0,3\n");
  const auto outside = trace_outside(groups, std::get<Capabilities>(undeclared), backend);
  ASSERT_TRUE(outside.has_value());
  EXPECT_NE(outside->find("kv_groups"), std::string::npos) << *outside;
  const std::string grouped = backend + " --groups-line no --profile-line 'kv_groups 0 4'";
  const auto declared = backend_capabilities({grouped});
  ASSERT_TRUE(std::holds_alternative<Capabilities>(declared)) << std::get<std::string>(declared);
  EXPECT_EQ(std::get<Capabilities>(declared).kv_groups.max, 4u);
  EXPECT_FALSE(trace_outside(groups, std::get<Capabilities>(declared), grouped).has_value());
  // Beside an in-tree backend: the groups both implement.
  const auto with_host = backend_capabilities({grouped, "host"});
  ASSERT_TRUE(std::holds_alternative<Capabilities>(with_host));
  EXPECT_EQ(std::get<Capabilities>(with_host).kv_groups.max,
            std::min(4u, Capabilities::all().kv_groups.max));
}

// A run of `text` through kv_protocol_backend declaring kv_groups, with `flags`: its divergence.
std::string grouped_failure(std::string_view text, const std::string& flags) {
  const RunReport report =
      run_trace(trace_of(text), {backend + " --groups-line yes" + flags}, AuditMode::every);
  if (report.ok()) return "it agreed";
  EXPECT_EQ(report.divergence->kind, FailureKind::backend) << report.divergence->detail;
  EXPECT_EQ(zombie_children(), 0);
  return report.divergence->detail;
}

TEST(ExecBackend, MalformedGroupRepliesAreBackendFailures) {
  // Groups' tables without `|`: one table where the config has two.
  const std::string bars =
      grouped_failure("kvtrace 3\nconfig page_size=2 max_pages=8 kv_groups=0,0\nappend 1 3\n",
                      " --corrupt-pages bars");
  EXPECT_NE(bars.find("it has 1 table separated by `|`, the config has 2 KV groups"),
            std::string::npos)
      << bars;
  EXPECT_NE(bars.find("each group's page ids"), std::string::npos) << bars;
  // A `? cache` key word without its group.
  const std::string cache = grouped_failure(
      "kvtrace 3\nconfig page_size=3 max_pages=8 prefix_caching=on kv_groups=0,0\n"
      "prefill 1 1:6\ncheck\n",
      " --corrupt-cache malformed");
  EXPECT_NE(cache.find("`0=7-x` is not PAGE=G:RANGES"), std::string::npos) << cache;
  EXPECT_NE(cache.find("(expected `ok PAGE=G:RANGES ... queue PAGE ...`"), std::string::npos)
      << cache;
}

TEST(ExecBackend, GroupWordsThroughThePythonExample) {
  // adapters/python/example_cache.py implements kv_groups: 17.4's first example's first two
  // appends leave group 1's entry 0 null, so `? words` covers group 0's tokens 0..5 and group 1's
  // 2..5; a range of tokens gathers each group's part of it.
  if (std::system("python3 -c pass 2>/dev/null") != 0) GTEST_SKIP() << "no python3";
  const std::string example = "exec:python3 " KV_SOURCE_DIR "/adapters/python/example_cache.py";
  const auto made = backend_after(example, "config page_size=2 max_pages=6 kv_groups=0,3",
                                  {"append 1 5", "append 1 1"});
  const std::vector<uint64_t> table = made->block_table(1);
  ASSERT_EQ(table.size(), 6u);
  EXPECT_EQ(table[3], null_page);
  const std::vector<uint32_t> words = made->gather_words(1);
  ASSERT_EQ(words.size(), (6u + 4u) * 4u);
  std::vector<uint32_t> token_5(words.begin() + 20, words.begin() + 24);  // group 0's token 5
  token_5.insert(token_5.end(), words.end() - 4, words.end());            // group 1's token 5
  EXPECT_EQ(made->gather_token_words(1, 5, 1), token_5);
  EXPECT_EQ(made->gather_token_words(1, 0, 1),
            std::vector<uint32_t>(words.begin(), words.begin() + 4));  // group 1 holds no token 0
  EXPECT_FALSE(made->broken().has_value()) << *made->broken();
}

TEST(ExecBackend, BadPageWordIsABackendFailure) {
  const RunReport report =
      run_trace(small_trace(), {backend + " --corrupt-pages word"}, AuditMode::every);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.divergence->kind, FailureKind::backend);
  EXPECT_NE(report.divergence->detail.find("`page7` is neither a page id nor `-`"),
            std::string::npos)
      << report.divergence->detail;
  EXPECT_EQ(zombie_children(), 0);
}

TEST(ExecBackend, NameCheck) {
  EXPECT_FALSE(backend_name_problem("exec:./x").has_value());
  EXPECT_TRUE(backend_name_problem("exec:").has_value());
  EXPECT_TRUE(backend_name_problem("nope").has_value());
}

}  // namespace
}  // namespace kv

namespace kv {
namespace {

// An exec: backend that asks the runner for no forecast: under --audit every each op waits for
// its replies, as before forecasts (the reference the forecast path must report exactly like).
class WithoutForecast final : public Backend {
 public:
  explicit WithoutForecast(std::unique_ptr<Backend> inner) : inner_(std::move(inner)) {}
  std::string_view name() const override { return inner_->name(); }
  OpResult apply(const Op& op, Tick tick) override { return inner_->apply(op, tick); }
  const std::vector<uint32_t>& last_read_words() const override {
    return inner_->last_read_words();
  }
  StatsView stats() const override { return inner_->stats(); }
  std::optional<InfoView> info(SeqId seq) const override { return inner_->info(seq); }
  std::vector<SeqId> sequence_ids() const override { return inner_->sequence_ids(); }
  std::vector<uint64_t> block_table(SeqId seq) const override { return inner_->block_table(seq); }
  std::vector<uint32_t> gather_words(SeqId seq) override { return inner_->gather_words(seq); }
  std::vector<uint32_t> gather_token_words(SeqId seq, uint64_t first, uint64_t count) override {
    return inner_->gather_token_words(seq, first, count);
  }
  std::vector<std::string> audit() const override { return inner_->audit(); }
  std::optional<std::string> broken() const override { return inner_->broken(); }
  bool stores_data() const override { return inner_->stores_data(); }
  Declined declined() const override { return inner_->declined(); }
  std::optional<uint64_t> words_digest(SeqId seq) override { return inner_->words_digest(seq); }
  void plan(std::span<const TraceLine> lines, bool every, std::unique_ptr<Forecast>) override {
    inner_->plan(lines, every, nullptr);
  }
  void expect_full_check() override { inner_->expect_full_check(); }
  std::optional<PrefixCacheView> prefix_cache() const override { return inner_->prefix_cache(); }

 private:
  std::unique_ptr<Backend> inner_;
};

struct Piped {
  RunReport report;
  uint64_t round_trips = 0;
};

// `trace` through exec:`name` under `audit`, with or without the runner's forecast.
Piped run_piped(const Trace& trace, const std::string& name, AuditMode audit, bool forecast) {
  std::vector<std::unique_ptr<Backend>> backends;
  backends.push_back(make_backend(name, trace.config));
  const auto* exec = dynamic_cast<const ExecBackend*>(backends[0].get());
  if (!forecast) backends[0] = std::make_unique<WithoutForecast>(std::move(backends[0]));
  Piped out;
  out.report = run_trace(trace, backends, audit);
  out.round_trips = exec ? exec->round_trips() : 0;
  return out;
}

// A report without how a broken backend's process ended: whether it exited or we killed it races
// with our kill (Divergence::signature drops it too).
std::string without_process_end(std::string text) {
  for (size_t at = 0; (at = text.find("; the process ", at)) != std::string::npos;) {
    text.erase(at, text.find('\n', at) - at);
  }
  return text;
}

// The same report, word for word, whether ops went ahead with a forecast or waited.
void expect_same_report(const Trace& trace, const std::string& name, const std::string& what) {
  for (AuditMode audit : {AuditMode::every, AuditMode::touched}) {
    const Piped ahead = run_piped(trace, name, audit, true);
    const Piped waiting = run_piped(trace, name, audit, false);
    ASSERT_EQ(ahead.report.ok(), waiting.report.ok()) << what;
    EXPECT_EQ(ahead.report.op_count, waiting.report.op_count) << what;
    if (ahead.report.ok()) continue;
    const Divergence& a = *ahead.report.divergence;
    EXPECT_EQ(without_process_end(format_divergence(a)),
              without_process_end(format_divergence(*waiting.report.divergence)))
        << what;
    EXPECT_EQ(a.prefix.lines.size(), a.tick + 1) << what;
  }
}

TEST(ExecBackend, ForecastSendsEveryOpAheadInFewRoundTrips) {
  // Under --audit every the runner's forecast lets ops go ahead with exactly the questions it
  // will ask: a 200-op trace takes a handful of round trips instead of one or more per op.
  // Under --audit check it lets them go past `check` ops and evictions, where they used to stop.
  uint64_t check_stops = 0;
  for (uint64_t seed = 1; seed <= 20; seed++) {
    const Trace trace = generate_trace_within(seed, 200, Capabilities::all());
    for (const AuditMode audit : {AuditMode::every, AuditMode::check}) {
      const Piped ahead = run_piped(trace, backend, audit, true);
      const Piped waiting = run_piped(trace, backend, audit, false);
      ASSERT_TRUE(ahead.report.ok()) << "seed " << seed;
      ASSERT_TRUE(waiting.report.ok()) << "seed " << seed;
      if (audit == AuditMode::every) {
        EXPECT_GE(waiting.round_trips, 200u) << "seed " << seed;
      } else {
        check_stops += waiting.round_trips;
      }
      // duplicate_hit=any: the model follows the backend's choice, nothing is forecast.
      if (trace.config.duplicate_hit == duplicate_hit_any) continue;
      EXPECT_LE(ahead.round_trips, 4u) << "seed " << seed << " " << format_config(trace.config);
    }
  }
  EXPECT_GE(check_stops, 20u * 8);  // without the forecast, `check` ops and evictions stop it
}

TEST(ExecBackend, DivergenceWithOpsSentAheadNamesItsOp) {
  // A wrong result at op k, a wrong table, wrong cache replies and a dying backend: with ops
  // sent ahead the report (kind, tick, op, details, the state shown) is the one the op-by-op path
  // gives, and the prefix ends at op k.
  // A backend that holds its replies until its input runs dry loses those of the ops before the
  // one that kills it: the harness starts it again and goes op by op to find that op.
  const Trace trace = generate_trace_within(7, 120, Capabilities::all());
  for (const uint64_t at : {0u, 1u, 37u, 119u}) {
    for (const std::string mode : {"wrong-result", "garbage", "exit", "close"}) {
      for (const std::string buffer : {"", " --buffer-replies yes"}) {
        const std::string name =
            backend + buffer + " --misbehave " + mode + " --at-op " + std::to_string(at);
        for (const AuditMode audit : {AuditMode::every, AuditMode::check}) {
          const Piped ahead = run_piped(trace, name, audit, true);
          ASSERT_FALSE(ahead.report.ok()) << mode << buffer << " at " << at;
          EXPECT_EQ(ahead.report.divergence->tick, at) << mode << buffer;
        }
        expect_same_report(trace, name, mode + buffer + " at " + std::to_string(at));
      }
    }
  }
  for (const std::string flags :
       {" --corrupt-pages null", " --corrupt-pages word", " --corrupt-cache queue",
        " --corrupt-cache key", " --corrupt-cache cached", " --words-max 3"}) {
    for (const auto& entry : std::filesystem::directory_iterator(KV_SOURCE_DIR "/corpus/seeds")) {
      if (entry.path().filename().string().rfind("prefix-", 0) != 0) continue;
      std::ifstream in(entry.path());
      const std::string text((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
      auto parsed = parse_trace(text, memory_budget_default_bytes);
      if (!std::holds_alternative<Trace>(parsed)) continue;
      expect_same_report(std::get<Trace>(parsed), backend + flags,
                         flags + " " + entry.path().filename().string());
    }
  }
}

}  // namespace
}  // namespace kv
