// CacheFixture: one impl/ cache over a host store, the base of the impl/ unit tests' fixtures.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "impl/kvcache.hpp"

namespace kvcache {

class CacheFixture : public ::testing::Test {
 protected:
  using Words = std::vector<uint32_t>;
  // A fresh cache for `config` (its store zeroed).
  void build(const Config& config) {
    config_ = config;
    store_ = std::make_unique<HostPageStore>(config_);
    cache_ = std::make_unique<Cache>(config_, *store_);
  }
  Tick next() { return tick_++; }
  Words read(SeqId id) {
    Words out;
    EXPECT_TRUE(cache_->read(id, out, next()).ok());
    return out;
  }
  void expect_healthy() {
    for (const std::string& problem : cache_->audit()) ADD_FAILURE() << problem;
  }

  Config config_{};
  std::unique_ptr<HostPageStore> store_;
  std::unique_ptr<Cache> cache_;
  Tick tick_ = 0;
};

}  // namespace kvcache
