// The reference model's own audit(): every message it can give, each from its own corruption of a
// healthy model (a correct model never shows them, so no trace reaches them).
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <variant>

#include "model/model.hpp"
#include "tests/audit_expect.hpp"
#include "tests/support/sanitizer_share.hpp"
#include "trace/capabilities.hpp"
#include "trace/trace.hpp"

namespace kv {

// Test-only access to Model internals: states the model itself never makes.
struct ModelTestAccess {
  static std::vector<ModelPageId>& table(Model& model, SeqId seq, uint32_t group = 0) {
    return model.sequences_.at(seq).tables[group];
  }
  static uint64_t& tokens_of(Model& model, SeqId seq) {
    return model.sequences_.at(seq).token_count;
  }
  static uint32_t& refcount(Model& model, ModelPageId page) {
    return model.pages_.at(page).refcount;
  }
  static uint64_t& token_count(Model& model) { return model.token_count_; }
  static void add_free_page(Model& model, ModelPageId page) { model.pages_[page]; }
  static std::vector<ModelPageId>& queue(Model& model) { return model.cached_queue_; }
  static void unregister_key_of(Model& model, ModelPageId page) {
    model.registered_page_count_ -= model.registered_.at(*model.pages_.at(page).key).size();
    model.registered_.erase(*model.pages_.at(page).key);
  }
  static void register_twice(Model& model, ModelPageId page) {
    model.registered_.at(*model.pages_.at(page).key).push_back(page);
    model.registered_page_count_++;
  }
  static void miscount_registered(Model& model) { model.registered_page_count_++; }
  static void shorten_key_of(Model& model, ModelPageId page) {
    model.pages_.at(page).key->ids.pop_back();
  }
  static void flip_slot(Model& model, ModelPageId page) { model.pages_.at(page).slots.at(0) ^= 1; }
  static void register_to(Model& model, ModelPageId page, ModelPageId other) {
    model.registered_[*model.pages_.at(page).key] = {other};
  }
};

namespace {

// Sequence 1: prompt 1:5 (pages 0-2, blocks 0 and 1 registered); sequence 2: prompt 2:4, freed
// (pages 3-4 registered, queued); page_size 2, 16 pages.
Model healthy_model() {
  const std::string text =
      "kvtrace 2\nconfig page_size=2 max_pages=16 prefix_caching=on\n"
      "prefill 1 1:5\nprefill 2 2:4\nfree 2\n";
  ParseResult parsed = parse_trace(text, memory_budget_default_bytes);
  const Trace& trace = std::get<Trace>(parsed);
  Model model(trace.config);
  for (size_t tick = 0; tick < trace.lines.size(); tick++) model.apply(trace.lines[tick].op, tick);
  return model;
}

TEST(ModelAudit, ReportsEveryCorruption) {
  using M = ModelTestAccess;
  const std::vector<std::pair<std::function<void(Model&)>, std::string>> cases = {
      {[](Model& m) { M::table(m, 1)[1] = M::table(m, 1)[0]; }, "sequence 1 holds a page twice"},
      {[](Model& m) { M::tokens_of(m, 1) += 10; },
       "sequence 1 has fewer pages than its tokens and reserved slots need"},
      {[](Model& m) { M::refcount(m, 0) = 2; }, "model: page 0 refcount expected 1 actual 2"},
      {[](Model& m) { M::token_count(m) += 1; }, "model: token count expected 5 actual 6"},
      {[](Model& m) { M::queue(m).push_back(0); }, "pages with refcount above 0 expected 3"},
      {[](Model& m) { M::add_free_page(m, 99); }, "model: used pages expected 3 actual 4"},
      {[](Model& m) { M::add_free_page(m, 99); }, "page 99: free but kept unregistered"},
      {[](Model& m) { M::unregister_key_of(m, 0); }, "page 0: its key is not registered to it"},
      {[](Model& m) { M::shorten_key_of(m, 0); }, "page 0: key of 1 ids is not a block"},
      {[](Model& m) { M::flip_slot(m, 1); }, "page 1 slot 0: not its key's value"},
      {[](Model& m) { M::register_to(m, 0, 99); }, "a registered key maps to page 99"},
      {[](Model& m) { M::register_twice(m, 0); },
       "registered to 2 pages under duplicate_keys=refused"},
      {[](Model& m) { M::miscount_registered(m); }, "registered_page_count_ is"},
      {[](Model& m) { M::queue(m).pop_back(); }, "model: queue holds 1 pages, expected the 2"},
  };
  for (const auto& each : cases) {
    const std::string& expected = each.second;  // not a structured binding: clang-14 lambdas
    Model model = healthy_model();
    ASSERT_EQ(model.audit(), std::vector<std::string>{});
    each.first(model);
    const std::vector<std::string> problems = model.audit();
    EXPECT_TRUE(has_problem(problems, expected));
  }
}

// One word of a variant: audits clean on 60 traces (15 under ASan), and some differ from another
// word's.
void expect_healthy_and_different(const VariantKey& variant, uint8_t word) {
  Capabilities caps = Capabilities::all();
  caps.variants.*variant.field = word;
  caps.either_variants.*variant.field = 0;  // this word only
  // Told apart from the next word round (reuse_order: lifo from fifo, fifo from any).
  const auto other_word = static_cast<uint8_t>((word + 1) % variant.word_count());
  uint64_t differing_trace_count = 0;
  const uint64_t trace_count = cases_in_this_build(60);
  for (uint64_t seed = 1; seed <= trace_count; seed++) {
    const Trace trace = generate_trace_within(seed, 150, caps, Profile::mixed);
    ASSERT_EQ(trace.config.*variant.field, word);
    Config plain_config = trace.config;
    plain_config.*variant.field = other_word;
    if (validate_config(plain_config, UINT64_MAX)) continue;
    Model model(trace.config);
    Model plain(plain_config);
    bool differs = false;
    for (size_t tick = 0; tick < trace.lines.size(); tick++) {
      const Op& op = trace.lines[tick].op;
      // duplicate_hit=any takes the page a backend took (V-K7): here the last registered.
      std::vector<Model::HitChoice> choices;
      for (const Model::DuplicateHit& hit : model.duplicate_hits(op))
        choices.push_back({hit.group, hit.block, hit.pages.back().page});
      differs |= format_op_result(model.apply(op, tick, choices)) !=
                 format_op_result(plain.apply(op, tick));
      // reuse_order changes no result, only which physical page a sequence holds.
      for (const SeqId seq : model.sequence_ids()) {
        differs |= model.page_indices(model.block_table(seq)) !=
                   plain.page_indices(plain.block_table(seq));
      }
      const std::vector<std::string> problems = model.audit();
      ASSERT_TRUE(problems.empty()) << variant.key << "=" << variant.words[word] << " seed " << seed
                                    << " tick " << tick << ": " << problems.front();
    }
    differing_trace_count += differs ? 1 : 0;
  }
  EXPECT_GT(differing_trace_count, 0u) << variant.key << "=" << variant.words[word]
                                       << " changed no result in " << trace_count << " traces";
}

// Under every word of every semantic variant (section 14) the model keeps its own invariants on
// generated traces of the mixed profile (prefix bursts included), and the word changes some result.
TEST(ModelAudit, HealthyUnderEveryVariant) {
  for (const VariantKey& variant : variant_keys) {
    for (uint8_t word = 1; word < variant.word_count(); word++) {
      expect_healthy_and_different(variant, word);
    }
  }
}

}  // namespace
}  // namespace kv
