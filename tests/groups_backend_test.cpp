// The Backend contract for KV groups (runner/backend.hpp, docs/semantics.md V-G7) on the in-tree
// backends: concatenated block tables, per-group gathers, key groups; host and hip-emu agree.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "backends/backends.hpp"
#include "runner/backend.hpp"
#include "trace/token.hpp"
#include "trace/trace.hpp"

namespace kv {
namespace {

Config groups_config(uint32_t page_size, uint32_t max_pages, std::vector<uint32_t> windows,
                     bool prefix_caching = false) {
  Config config;
  config.page_size = page_size;
  config.max_pages = max_pages;
  config.prefix_caching = prefix_caching;
  config.cpu_pages = 16;
  config.group_count = static_cast<uint32_t>(windows.size());
  std::copy(windows.begin(), windows.end(), config.group_windows.begin());
  return config;
}

OpResult apply(Backend& backend, const std::string& text, Tick tick) {
  const auto op = parse_op(text);
  EXPECT_TRUE(std::holds_alternative<Op>(op)) << text;
  return backend.apply(std::get<Op>(op), tick);
}

// Group g's words of the tokens with these values.
std::vector<uint32_t> words_of(const Config& config, const std::vector<uint64_t>& values,
                               uint32_t group) {
  const uint64_t each = config.words_per_token();
  std::vector<uint32_t> words(values.size() * each);
  for (size_t i = 0; i < values.size(); i++) {
    fill_token_words(group_token_value(values[i], group), config,
                     std::span(words).subspan(i * each, each));
  }
  return words;
}

std::vector<uint32_t> concat(std::vector<uint32_t> a, const std::vector<uint32_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// Section 17.4's first example through each backend: the tables concatenated in group order with
// group 1's null entries, and each group's words from its own values after its own nulls.
TEST(GroupsBackend, TablesAndGathersFollowTheContract) {
  const Config config = groups_config(2, 6, {0, 3});
  for (const std::string name : {"host", "hip-emu"}) {
    const auto backend = make_backend(name, config);
    ASSERT_EQ(apply(*backend, "append 1 5", 0), single(result_of(Status::ok))) << name;
    ASSERT_EQ(apply(*backend, "append 1 1", 1), single(result_of(Status::ok)));
    ASSERT_EQ(apply(*backend, "append 1 1", 2), single(result_of(Status::ok)));
    EXPECT_EQ(backend->block_table(1),
              (std::vector<uint64_t>{0, 1, 2, 4, null_page, null_page, 5, 3}))
        << name;
    EXPECT_EQ(backend->info(1)->page_count, 6u);
    EXPECT_EQ(backend->stats().used_pages, 6u);
    std::vector<uint64_t> values;
    for (uint32_t i = 0; i < 5; i++) values.push_back(token_value(0, 0, i));
    values.push_back(token_value(1, 0, 0));
    values.push_back(token_value(2, 0, 0));
    const auto group1 = std::vector<uint64_t>(values.begin() + 4, values.end());
    const auto expected = concat(words_of(config, values, 0), words_of(config, group1, 1));
    EXPECT_EQ(backend->gather_words(1), expected) << name;
    ASSERT_EQ(apply(*backend, "read 1", 3), single(result_of(Status::ok)));
    EXPECT_EQ(backend->last_read_words(), expected) << name;
    // Tokens 3..5: group 0's all three, group 1's clipped to its non-null entries (4, 5).
    EXPECT_EQ(backend->gather_token_words(1, 3, 3),
              concat(words_of(config, {values[3], values[4], values[5]}, 0),
                     words_of(config, {values[4], values[5]}, 1)))
        << name;
    EXPECT_TRUE(backend->audit().empty()) << name;
  }
}

// append_atomicity=token: one cache append per token, each with its one token's words of every
// group.
TEST(GroupsBackend, TokenByTokenAppendsWriteEveryGroup) {
  Config config = groups_config(2, 12, {0, 0, 3});
  config.append_atomicity = true;
  for (const std::string name : {"host", "hip-emu"}) {
    const auto backend = make_backend(name, config);
    ASSERT_EQ(apply(*backend, "append 1 5", 0), single(result_of(Status::ok))) << name;
    std::vector<uint64_t> values;
    for (uint32_t i = 0; i < 5; i++) values.push_back(token_value(0, 0, i));
    // Group 2 released its entry 0 before the token-by-token growth (skip_2(3) = 0, skip_2(4) = 1).
    const auto last = std::vector<uint64_t>(values.begin() + 2, values.end());
    EXPECT_EQ(backend->gather_words(1),
              concat(concat(words_of(config, values, 0), words_of(config, values, 1)),
                     words_of(config, last, 2)))
        << name;
    EXPECT_EQ(backend->info(1)->page_count, 3u + 3u + 2u) << name;
    EXPECT_TRUE(backend->audit().empty()) << name;
  }
}

// Keys name their group (V-G5): prefix_cache() reports both groups' keys.
TEST(GroupsBackend, PrefixCacheNamesEachKeysGroup) {
  const Config config = groups_config(1, 10, {0, 2}, true);
  for (const std::string name : {"host", "hip-emu"}) {
    const auto backend = make_backend(name, config);
    ASSERT_EQ(apply(*backend, "prefill 1 1:4", 0).entries[0].hit_tokens, 0u);
    const auto view = backend->prefix_cache();
    ASSERT_TRUE(view);
    ASSERT_EQ(view->registered.size(), 8u);
    uint32_t in_group_1 = 0;
    for (const CachedPageView& page : view->registered) {
      in_group_1 += page.group;
      EXPECT_EQ(page.group, page.page >= 4 ? 1u : 0u) << name << " page " << page.page;
    }
    EXPECT_EQ(in_group_1, 4u);
  }
}

// Random ops over hybrid configs: hip-emu (the cache over the emulated device store) gives the
// host backend's results, tables and words, and its audit stays clean.
TEST(GroupsBackend, HipEmuMatchesHostOnRandomOps) {
  std::mt19937 rng(5);
  const auto pick = [&](uint32_t bound) { return static_cast<uint32_t>(rng() % bound); };
  const char* kinds[] = {"append",  "append",  "fork",    "free",   "truncate", "read",
                         "prefill", "preempt", "reserve", "commit", "swap_out", "swap_in"};
  for (int round = 0; round < 6; round++) {
    const uint32_t page_size = 1 + pick(3);  // one draw per statement: the same on every compiler
    const Config config = groups_config(page_size, 24, {0, 2 + pick(4), pick(2) * 3}, true);
    const auto host = make_backend("host", config);
    const auto emu = make_backend("hip-emu", config);
    for (Tick tick = 0; tick < 300; tick++) {
      const std::string kind = kinds[pick(12)];
      const std::string seq = std::to_string(pick(4));
      std::string text = kind + " " + seq;
      if (kind == "append" || kind == "reserve" || kind == "commit") {
        text += " " + std::to_string(1 + pick(4));
      } else if (kind == "fork") {
        text += " " + std::to_string(pick(4));
      } else if (kind == "truncate") {
        text += " " + std::to_string(pick(8));
      } else if (kind == "prefill") {
        const uint32_t family = 1 + pick(2);
        text += " " + std::to_string(family) + ":" + std::to_string(1 + pick(9));
      }
      const OpResult expected = apply(*host, text, tick);
      ASSERT_EQ(apply(*emu, text, tick), expected) << text;
      ASSERT_FALSE(emu->fault()) << *emu->fault();
      for (const SeqId id : host->sequence_ids()) {
        ASSERT_EQ(emu->block_table(id), host->block_table(id)) << text;
        ASSERT_EQ(emu->gather_words(id), host->gather_words(id)) << text;
      }
      ASSERT_TRUE(emu->audit().empty()) << text << ": " << emu->audit()[0];
    }
  }
}

}  // namespace
}  // namespace kv
