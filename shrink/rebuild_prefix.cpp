// Prefix replacement for the shrinker: the state a trace's first ops built, re-created with fewer
// ops.
#include "shrink/rebuild_prefix.hpp"

#include <algorithm>
#include <map>

#include "model/model.hpp"

namespace kv {
namespace {

struct Rebuilt {
  uint64_t token_count = 0;
  std::vector<ModelPageId> block_table;  // in the original state
};

TraceLine line_of(OpKind kind, SeqId seq, uint32_t count = 0) {
  TraceLine line;
  line.op = Op{kind, seq, count, {}};
  return line;
}

uint64_t pages_for(uint64_t token_count, uint32_t page_size) {
  return (token_count + page_size - 1) / page_size;
}

size_t common_prefix(const std::vector<ModelPageId>& a, const std::vector<ModelPageId>& b) {
  size_t n = 0;
  while (n < a.size() && n < b.size() && a[n] == b[n]) n++;
  return n;
}

// The ops that give `seq` its state after a fork of `parent` (already rebuilt): the tokens of the
// pages they share stay, the rest is cut off. Returns the tokens `seq` holds afterwards.
uint64_t fork_from(SeqId parent, const Rebuilt& from, SeqId seq, const InfoView& info,
                   const std::vector<ModelPageId>& table, uint32_t page_size,
                   std::vector<TraceLine>& out) {
  out.push_back(line_of(OpKind::fork, parent, seq));
  const uint64_t shared_tokens = uint64_t{common_prefix(from.block_table, table)} * page_size;
  const uint64_t keep = std::min({info.token_count, shared_tokens, from.token_count});
  if (keep < from.token_count) out.push_back(line_of(OpKind::truncate, seq, uint32_t(keep)));
  return keep;
}

}  // namespace

Model model_after(const Trace& trace, size_t prefix_length) {
  Model model(trace.config);
  prefix_length = std::min(prefix_length, trace.lines.size());
  for (size_t tick = 0; tick < prefix_length; tick++) model.apply(trace.lines[tick].op, tick);
  return model;
}

std::optional<std::vector<TraceLine>> rebuild_prefix(const Trace& trace, const Model& model,
                                                     size_t prefix_length, bool share_pages) {
  prefix_length = std::min(prefix_length, trace.lines.size());
  std::vector<SeqId> ids = model.sequence_ids();
  std::stable_sort(ids.begin(), ids.end(), [&model](SeqId a, SeqId b) {
    return std::pair(model.last_use(a).value_or(0), a) <
           std::pair(model.last_use(b).value_or(0), b);
  });
  const uint32_t page_size = trace.config.page_size;
  const size_t limit = std::min(prefix_length, rebuilt_prefix_op_count_max);
  std::vector<TraceLine> out;
  std::map<ModelPageId, SeqId> first_page_holder;
  std::map<SeqId, Rebuilt> rebuilt;
  for (const SeqId seq : ids) {
    const InfoView info = model.info(seq).value_or(InfoView{});
    const std::vector<ModelPageId> table = model.block_table(seq);
    const size_t size_before = out.size();
    uint64_t tokens = 0;
    const auto holder = table.empty() ? first_page_holder.end() : first_page_holder.find(table[0]);
    if (share_pages && holder != first_page_holder.end()) {
      tokens = fork_from(holder->second, rebuilt[holder->second], seq, info, table, page_size, out);
    }
    if (info.token_count > tokens) {
      const uint64_t more = info.token_count - tokens;
      if (more > append_token_count_max) return std::nullopt;
      out.push_back(line_of(OpKind::append, seq, uint32_t(more)));
    }
    for (uint64_t page = pages_for(info.token_count, page_size); page < info.page_count; page++) {
      out.push_back(line_of(OpKind::alloc, seq));
      if (out.size() >= limit) return std::nullopt;
    }
    if (out.size() == size_before) {  // no tokens, no pages: created by alloc, emptied by truncate
      out.push_back(line_of(OpKind::alloc, seq));
      out.push_back(line_of(OpKind::truncate, seq, 0));
    }
    if (info.pinned) out.push_back(line_of(OpKind::pin, seq));
    if (!table.empty()) first_page_holder.emplace(table[0], seq);
    rebuilt[seq] = Rebuilt{info.token_count, table};
    if (out.size() >= limit) return std::nullopt;
  }
  return out;
}

std::vector<std::vector<TraceLine>> merge_prefix(const Trace& trace, const Model& model,
                                                 size_t prefix_length) {
  prefix_length = std::min(prefix_length, trace.lines.size());
  if (prefix_length < 2) return {};
  const uint64_t total = model.stats().token_count;
  if (total == 0 || total > append_token_count_max || total > prefill_token_count_max) return {};
  SeqId seq = 1;
  if (prefix_length < trace.lines.size()) {
    const std::vector<SeqId> named = op_sequences(trace.lines[prefix_length].op);
    if (!named.empty()) seq = named.front();
  }
  std::vector<std::vector<TraceLine>> merged;
  merged.push_back({line_of(OpKind::append, seq, uint32_t(total))});
  if (trace.config.prefix_caching) {
    TraceLine prefill = line_of(OpKind::prefill, seq);
    prefill.op.entries.push_back(StepEntry{0, uint32_t(total)});
    merged.push_back({prefill});
  }
  return merged;
}

}  // namespace kv
