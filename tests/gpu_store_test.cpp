// HipPageStore against HostPageStore (random writes, copies and gathers), its batching, and its
// error values; on the emulated device always, on a real GPU when the build and machine have one.
#include <gtest/gtest.h>

#include <functional>
#include <random>
#include <string>
#include <vector>

#include "gpu/device_store.hpp"
#include "impl/kvcache.hpp"

namespace kvgpu {
namespace {

using kvcache::Config;
using kvcache::PageId;
using Words = std::vector<uint32_t>;
using StoreFactory = std::function<std::unique_ptr<DevicePageStore>(const Config&)>;

struct Platform {
  std::string name;
  StoreFactory make;
  std::string skip_reason;  // non-empty: this platform cannot run here
};

void PrintTo(const Platform& platform, std::ostream* out) {
  *out << platform.name;
}

std::vector<Platform> platforms() {
  std::vector<Platform> list;
  list.push_back({"emu", [](const Config& c) { return make_emu_page_store(c, 7); }, ""});
#if defined(KV_HAVE_GPU_DEVICE)
  const std::string problem = device_problem();
  list.push_back({"device", [](const Config& c) { return make_device_page_store(c); },
                  problem.empty() ? "" : "no GPU device here (" + problem + ")"});
#else
  list.push_back({"device", nullptr, "this build has no GPU toolchain (presets hip and cuda)"});
#endif
  return list;
}

class StoreTest : public testing::TestWithParam<Platform> {
 protected:
  void SetUp() override {
    if (!GetParam().skip_reason.empty())
      GTEST_SKIP() << "GPU test skipped: " << GetParam().skip_reason;
  }
  std::unique_ptr<DevicePageStore> make(const Config& config) const {
    return GetParam().make(config);
  }
};

Config random_config(std::mt19937_64& rng) {
  const uint32_t page_sizes[] = {1, 3, 4, 16};
  Config config{
      page_sizes[rng() % 4], static_cast<uint32_t>(2 + rng() % 30), kvcache::Eviction::none,
      kvcache::Shape{static_cast<uint32_t>(1 + rng() % 3), static_cast<uint32_t>(1 + rng() % 5),
                     static_cast<uint32_t>(1 + rng() % 3)}};
  return config;
}

// Random batches of writes (distinct slots within a batch), copies and gathers on both stores.
void run_random(DevicePageStore& device, std::mt19937_64& rng, const Config& config) {
  kvcache::HostPageStore host(config);
  const uint64_t slot_count = uint64_t{config.max_pages} * config.page_size;
  const uint32_t token_words = config.shape.words_per_token();
  for (int op = 0; op < 60; op++) {
    const uint64_t kind = rng() % 3;
    if (kind == 0) {
      std::vector<uint64_t> slots;
      for (uint64_t s = rng() % slot_count; slots.size() < 1 + rng() % 9 && s < slot_count;
           s += 1 + rng() % 3)
        slots.push_back(s);
      Words words(slots.size() * token_words);
      for (uint32_t& w : words) w = static_cast<uint32_t>(rng());
      host.write_tokens(slots, words);
      device.write_tokens(slots, words);
    } else if (kind == 1) {
      const auto src = static_cast<PageId>(rng() % config.max_pages);
      const auto dst = static_cast<PageId>(rng() % config.max_pages);
      if (src == dst) continue;
      const auto slots = static_cast<uint32_t>(rng() % (config.page_size + 1));
      host.copy_page(src, dst, slots);
      device.copy_page(src, dst, slots);
    } else {
      std::vector<PageId> table(1 + rng() % 4);
      for (PageId& page : table) page = static_cast<PageId>(rng() % config.max_pages);
      const uint64_t tokens = rng() % (table.size() * config.page_size + 1);
      Words expected(tokens * token_words), actual(tokens * token_words, 1);
      host.gather(table, tokens, expected);
      device.gather(table, tokens, actual);
      ASSERT_FALSE(device.error()) << *device.error();
      ASSERT_EQ(expected, actual) << "gather after op " << op;
    }
  }
  device.flush();
  ASSERT_FALSE(device.error()) << *device.error();
}

TEST_P(StoreTest, MatchesHostStoreOnRandomOps) {
  std::mt19937_64 rng(42);
  for (int round = 0; round < 40; round++) {
    const Config config = random_config(rng);
    auto device = make(config);
    ASSERT_FALSE(device->error()) << *device->error();
    run_random(*device, rng, config);
  }
}

TEST_P(StoreTest, OneWriteLaunchPerBatchAndOneCopyLaunchForManyPairs) {
  const Config config{4, 64, kvcache::Eviction::none, kvcache::Shape{2, 4, 2}};
  auto store = make(config);
  const Words words(config.shape.words_per_token(), 5);
  for (uint64_t page = 0; page < 16; page++) {
    const uint64_t slot[] = {page * 4};
    store->write_tokens(slot, words);  // a decode step: one token per sequence
  }
  store->flush();
  EXPECT_EQ(store->launch_count(), 1u);
  for (PageId page = 0; page < 8; page++) store->copy_page(page, 32 + page, 1);
  const uint64_t slot[] = {32 * 4 + 1};
  store->write_tokens(slot, words);  // after a copy into its page: same batch, copies run first
  store->flush();
  EXPECT_EQ(store->launch_count(), 3u);
  Words out(2 * config.shape.words_per_token());
  const PageId table[] = {32};
  store->gather(table, 2, out);
  EXPECT_EQ(out, Words(out.size(), 5));
  ASSERT_FALSE(store->error());
}

TEST_P(StoreTest, AWriteAfterACopyOutOfItsPageKeepsTheOrder) {
  const Config config{2, 4, kvcache::Eviction::none, kvcache::Shape{1, 1, 1}};
  auto store = make(config);
  const uint64_t slot0[] = {0};
  store->write_tokens(slot0, Words{1, 2});
  store->copy_page(0, 1, 1);  // must see the write before it: forces a flush
  store->write_tokens(slot0, Words{3, 4});
  Words out(2);
  const PageId table[] = {1};
  store->gather(table, 1, out);
  EXPECT_EQ(out, (Words{1, 2}));
  const PageId table0[] = {0};
  store->gather(table0, 1, out);
  EXPECT_EQ(out, (Words{3, 4}));
}

TEST_P(StoreTest, GatherSeesATableChangedInPlace) {
  const Config config{2, 4, kvcache::Eviction::none, kvcache::Shape{1, 1, 1}};
  auto store = make(config);
  const uint64_t slots[] = {0, 2};
  store->write_tokens(slots, Words{1, 2, 3, 4});
  std::vector<PageId> table = {0};
  Words out(2);
  store->gather(table, 1, out);
  EXPECT_EQ(out, (Words{1, 2}));
  table[0] = 1;  // copy-on-write replaces an entry: same storage, same size
  store->gather(table, 1, out);
  EXPECT_EQ(out, (Words{3, 4}));
}

INSTANTIATE_TEST_SUITE_P(Platforms, StoreTest, testing::ValuesIn(platforms()),
                         [](const auto& param_info) { return param_info.param.name; });

TEST(EmuStore, ShuffledThreadOrderNeverChangesAResult) {
  std::vector<Words> results;
  for (uint64_t seed = 1; seed <= 4; seed++) {
    const Config config{4, 8, kvcache::Eviction::none, kvcache::Shape{2, 3, 2}};
    auto store = make_emu_page_store(config, seed);
    std::mt19937_64 rng(3);
    run_random(*store, rng, config);
    Words out(32 * config.shape.words_per_token());
    const std::vector<PageId> table = {0, 1, 2, 3, 4, 5, 6, 7};
    store->gather(table, 32, out);
    results.push_back(out);
  }
  for (const Words& r : results) EXPECT_EQ(r, results[0]);
}

TEST(EmuStore, TwoWritesOfOneSlotInABatchAreARaceNamingKernelAndWord) {
  const Config config{2, 4, kvcache::Eviction::none, kvcache::Shape{1, 1, 1}};
  auto store = make_emu_page_store(config, 1);
  const uint64_t slots[] = {3, 3};  // a cache bug: one batch writes slot 3 twice
  store->write_tokens(slots, Words{1, 2, 3, 4});
  store->flush();
  ASSERT_TRUE(store->error());
  const std::string& error = *store->error();
  EXPECT_NE(error.find("write_tokens_kernel"), std::string::npos) << error;
  // Slot 3 is page 1, offset 1: its K word is pool word 5, its V word 7 (whichever races first).
  const bool k_word = error.find("data race on word 5 of allocation 'pool'") != std::string::npos;
  const bool v_word = error.find("data race on word 7 of allocation 'pool'") != std::string::npos;
  EXPECT_TRUE(k_word || v_word) << error;
  // After a failure every call is a no-op, and the first error stays.
  Words out(2);
  const PageId table[] = {1};
  store->gather(table, 1, out);
  EXPECT_EQ(*store->error(), error);
}

}  // namespace
}  // namespace kvgpu
