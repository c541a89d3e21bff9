// Reach: how far generated traces take the cache (live sequences, holders per page, step members,
// vector words, ids, page sizes), measured by running them through the model.
#include "runner/reach.hpp"

#include <algorithm>
#include <map>
#include <sstream>

#include "model/model.hpp"

namespace kv {
namespace {

constexpr size_t distinct_ids_cap = 1000000;

bool power_of_two(uint32_t value) {
  return (value & (value - 1)) == 0;
}

// The largest number of block-table entries that reference one page.
uint64_t max_holders(const Model& model) {
  std::map<ModelPageId, uint64_t> holders;
  uint64_t most = 0;
  for (const SeqId seq : model.sequence_ids()) {
    for (const ModelPageId page : model.block_table(seq)) {
      if (page != null_page) most = std::max(most, ++holders[page]);
    }
  }
  return most;
}

}  // namespace

void Reach::add(const Trace& trace) {
  const Config& config = trace.config;
  trace_count++;
  page_sizes.insert(config.page_size);
  max_pool_pages = std::max<uint64_t>(max_pool_pages, config.max_pages);
  min_pool_pages = std::min<uint64_t>(min_pool_pages, config.max_pages);
  max_vector_words =
      std::max<uint64_t>(max_vector_words, uint64_t{config.kv_heads} * config.head_dim);
  max_token_words = std::max(max_token_words, config.words_per_token());
  Model model(config);
  Tick tick = 0;
  for (const TraceLine& line : trace.lines) {
    const OpResult result = model.apply(line.op, tick++);
    op_count++;
    max_step_members = std::max<uint64_t>(max_step_members, line.op.entries.size());
    for (const SeqId seq : op_sequences(line.op)) {
      min_id = std::min(min_id, seq);
      max_id = std::max(max_id, seq);
      if (ids.size() < distinct_ids_cap) ids.insert(seq);
    }
    for (const Result& entry : result.entries) evictions += entry.evicted.size();
    max_live_sequences = std::max(max_live_sequences, model.stats().sequence_count);
    // Holders only grow on fork; counting them after every fork keeps this linear enough.
    if (line.op.kind == OpKind::fork)
      max_holders_per_page = std::max(max_holders_per_page, max_holders(model));
  }
  if (trace.lines.empty()) return;
  max_holders_per_page = std::max(max_holders_per_page, max_holders(model));
}

uint64_t Reach::odd_page_size_count() const {
  uint64_t count = 0;
  for (const uint32_t size : page_sizes) count += power_of_two(size) ? 0 : 1;
  return count;
}

std::string Reach::format() const {
  std::ostringstream out;
  const uint64_t odd_page_sizes = odd_page_size_count();
  out << "traces                 | " << trace_count << "\n"
      << "ops                    | " << op_count << "\n"
      << "max live sequences     | " << max_live_sequences << "\n"
      << "max holders per page   | " << max_holders_per_page << "\n"
      << "max step members       | " << max_step_members << "\n"
      << "max words per vector   | " << max_vector_words << " (per token " << max_token_words
      << ")\n"
      << "sequence ids           | " << (ids.empty() ? 0 : min_id) << ".." << max_id << ", "
      << ids.size() << " distinct\n"
      << "page sizes             | " << page_sizes.size() << " distinct in "
      << (page_sizes.empty() ? 0 : *page_sizes.begin()) << ".."
      << (page_sizes.empty() ? 0 : *page_sizes.rbegin()) << ", " << odd_page_sizes
      << " not a power of two\n"
      << "pool pages             | " << (trace_count ? min_pool_pages : 0) << ".." << max_pool_pages
      << "\n"
      << "evictions              | " << evictions << "\n";
  return out.str();
}

}  // namespace kv
