// libFuzzer target: arbitrary text into the kvtrace parser and config validation. It must never
// crash, an accepted config's pool must really fit the budget, and whatever is accepted must
// print and re-parse to the same trace.
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "trace/trace.hpp"

namespace {

[[noreturn]] void fail(const char* what, const std::string& text) {
  std::fprintf(stderr, "fuzz_kvtrace: %s\n--- canonical text ---\n%s", what, text.c_str());
  std::abort();
}

// The pool size in 128 bits, independent of Config::pool_bytes.
unsigned __int128 exact_pool_bytes(const kv::Config& config) {
  return static_cast<unsigned __int128>(config.max_pages) * config.page_size * config.kv_heads *
         config.head_dim * config.layers * 2 * 4;
}

bool same_ops(const kv::Trace& a, const kv::Trace& b) {
  if (a.config != b.config || a.lines.size() != b.lines.size()) return false;
  for (size_t i = 0; i < a.lines.size(); i++) {
    if (a.lines[i].op != b.lines[i].op || a.lines[i].expected != b.lines[i].expected) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const kv::ParseResult parsed = kv::parse_trace(text, kv::memory_budget_default_bytes);
  const auto* trace = std::get_if<kv::Trace>(&parsed);
  if (trace == nullptr) return 0;
  const std::string canonical = kv::format_trace(*trace);
  if (exact_pool_bytes(trace->config) > kv::memory_budget_default_bytes) {
    fail("accepted a config whose page pool is over the memory budget", canonical);
  }
  const kv::ParseResult reparsed = kv::parse_trace(canonical, kv::memory_budget_default_bytes);
  const auto* again = std::get_if<kv::Trace>(&reparsed);
  if (again == nullptr) fail("the canonical text of an accepted trace does not parse", canonical);
  if (!same_ops(*trace, *again)) fail("re-parsing the canonical text changed the trace", canonical);
  if (kv::format_trace(*again) != canonical) fail("printing is not a fixed point", canonical);
  return 0;
}
