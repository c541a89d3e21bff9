// Backend `so:PATH`: dlopen, ABI checks, and the translation between ops and the C structs.
#include "backends/so_backend.hpp"

#include <dlfcn.h>

#include <map>
#include <mutex>

namespace kv {
namespace {

constexpr size_t list_count_max = 1u << 26;  // ids, pages or words one call may return

std::mutex library_mutex;

// The profile lines of `text` applied to `caps`; a message naming the bad line.
std::optional<std::string> read_profile(const std::string& profile, Capabilities& caps) {
  size_t pos = 0;
  while (pos < profile.size()) {
    const size_t end = std::min(profile.find('\n', pos), profile.size());
    if (end > pos) {
      if (auto error = apply_profile_line(profile.substr(pos, end - pos), caps)) {
        return "its profile: " + *error;
      }
    }
    pos = end + 1;
  }
  return std::nullopt;
}

std::variant<SoLibrary, std::string> open_v1(void* symbol) {
  const auto entry = reinterpret_cast<kvh_backend_v1_entry_fn>(symbol);
  SoLibrary library;
  library.table = entry();
  const kvh_backend_v1* table = library.table;
  if (!table || table->abi_version != KVH_ABI_VERSION ||
      table->struct_size < sizeof(kvh_backend_v1)) {
    return "it has C ABI version " + std::to_string(table ? table->abi_version : 0) +
           "; this harness needs version " + std::to_string(KVH_ABI_VERSION) +
           " (include/kvharness/backend.h)";
  }
  if (!table->create || !table->destroy || !table->apply || !table->stats || !table->info ||
      !table->sequence_ids || !table->block_table || !table->gather_words || !table->profile) {
    return std::string("its function table has a null entry");
  }
  library.caps = Capabilities::all();
  library.caps.stores_data = library.caps.audits = library.caps.eviction_lru = false;
  library.caps.either_variants = Config{};  // a library implements the default rules
  library.caps.sliding_window = {0, 0};     // ABI v1 has no null entry (V-W2)
  library.caps.kv_groups = {0, 0};          // nor KV groups (section 17)
  if (auto error = read_profile(table->profile, library.caps)) return *error;
  if (!table->audit) library.caps.audits = false;
  // kvh_result has no `hit=` (prefill, a waiting reserve) and kvh_config no prefix caching or
  // variants: C ABI version 1 speaks kvtrace 1 only. Those ops need version 2.
  for (uint32_t kind = 0; kind < op_kind_count; kind++) {
    if (op_version(static_cast<OpKind>(kind)) > 1 && library.caps.ops[kind]) {
      return "its profile declares op " + std::string(op_name(static_cast<OpKind>(kind))) +
             ", which C ABI version 1 cannot express (no hit= result, no prefix caching); "
             "export " KVH_BACKEND_V2_ENTRY
             " (C ABI version 2, include/kvharness/backend.h) "
             "or test it through exec: (docs/backend-protocol.md)";
    }
  }
  return library;
}

std::variant<SoLibrary, std::string> open_v2(void* symbol) {
  const auto entry = reinterpret_cast<kvh_backend_v2_entry_fn>(symbol);
  SoLibrary library;
  library.table_v2 = entry();
  const kvh_backend_v2* table = library.table_v2;
  const std::string where = std::string("its ") + KVH_BACKEND_V2_ENTRY + "() ";
  if (!table) return where + "returned NULL";
  if (table->abi_version != KVH_ABI_VERSION_2) {
    return where + "returned a table with abi_version " + std::to_string(table->abi_version) +
           "; that symbol must return a kvh_backend_v2 with abi_version " +
           std::to_string(KVH_ABI_VERSION_2) + " (KVH_ABI_VERSION_2, include/kvharness/backend.h)";
  }
  if (table->struct_size < sizeof(kvh_backend_v2)) {
    return where + "returned a table with struct_size " + std::to_string(table->struct_size) +
           ", less than sizeof(kvh_backend_v2) = " + std::to_string(sizeof(kvh_backend_v2)) +
           " (set it to sizeof(kvh_backend_v2), include/kvharness/backend.h)";
  }
  std::string null_entries;
  const auto require = [&null_entries](const void* entry_point, const char* field) {
    if (!entry_point) null_entries += (null_entries.empty() ? "" : ", ") + std::string(field);
  };
  require(table->name, "name");
  require(table->profile, "profile");
  require(reinterpret_cast<const void*>(table->create), "create");
  require(reinterpret_cast<const void*>(table->destroy), "destroy");
  require(reinterpret_cast<const void*>(table->apply), "apply");
  require(reinterpret_cast<const void*>(table->stats), "stats");
  require(reinterpret_cast<const void*>(table->info), "info");
  require(reinterpret_cast<const void*>(table->sequence_ids), "sequence_ids");
  require(reinterpret_cast<const void*>(table->block_table), "block_table");
  require(reinterpret_cast<const void*>(table->gather_words), "gather_words");
  if (!null_entries.empty()) {
    return where + "returned a table whose " + null_entries +
           " is NULL (only audit and prefix_cache may be NULL, include/kvharness/backend.h)";
  }
  // As for exec: (backends/exec_backend.cpp): windows, groups, lru, data and audits only where
  // declared; the variants of its `config` line.
  library.caps = Capabilities::all();
  library.caps.stores_data = library.caps.audits = library.caps.eviction_lru = false;
  library.caps.either_variants = Config{};
  library.caps.sliding_window = {0, 0};
  library.caps.kv_groups = {0, 0};
  const std::string profile = table->profile;
  if (profile.find("ops ") != 0 && profile.find("\nops ") == std::string::npos) {
    return std::string("its profile has no `ops` line (docs/backend-protocol.md section 2)");
  }
  if (auto error = read_profile(profile, library.caps)) return *error;
  if (!table->audit) library.caps.audits = false;
  return library;
}

std::variant<SoLibrary, std::string> open_library(const std::string& path) {
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) return std::string("dlopen failed: ") + dlerror();
  if (void* symbol = dlsym(handle, KVH_BACKEND_V2_ENTRY)) return open_v2(symbol);
  if (void* symbol = dlsym(handle, KVH_BACKEND_V1_ENTRY)) return open_v1(symbol);
  return std::string("it exports neither ") + KVH_BACKEND_V2_ENTRY + " (C ABI version 2) nor " +
         KVH_BACKEND_V1_ENTRY + " (version 1; include/kvharness/backend.h)";
}

// FNV-1a over the bytes of a `keys hash` key's words (little-endian): one id per hash.
uint64_t hash_key(const uint64_t* words, uint32_t count) {
  uint64_t hash = 0xcbf29ce484222325ull;
  for (uint32_t i = 0; i < count; i++) {
    for (uint32_t byte = 0; byte < 8; byte++) {
      hash = (hash ^ ((words[i] >> (8 * byte)) & 0xff)) * 0x100000001b3ull;
    }
  }
  return hash;
}

template <typename T, typename Fill>
std::vector<T> read_list(Fill fill) {
  std::vector<T> out(16);
  size_t count = fill(out.data(), out.size());
  if (count > out.size()) {
    out.resize(std::min(count, list_count_max));
    count = fill(out.data(), out.size());
  }
  out.resize(std::min(count, out.size()));
  return out;
}

// info, stats and check: answered from the library's observation functions, never applied.
std::optional<OpResult> observation_result(const Backend& backend, const Op& op) {
  if (op.kind == OpKind::info) {
    const auto found = backend.info(op.seq);
    return single(found ? Result{Status::ok, {}, found, std::nullopt}
                        : result_of(Status::unknown_sequence));
  }
  if (op.kind == OpKind::stats)
    return single(Result{Status::ok, {}, std::nullopt, backend.stats()});
  if (op.kind == OpKind::check) return single(result_of(Status::ok));
  return std::nullopt;
}

}  // namespace

std::variant<const SoLibrary*, std::string> load_so_library(const std::string& path) {
  std::lock_guard lock(library_mutex);
  static auto* loaded = new std::map<std::string, std::variant<SoLibrary, std::string>>();
  auto found = loaded->find(path);
  if (found == loaded->end()) found = loaded->emplace(path, open_library(path)).first;
  if (auto* error = std::get_if<std::string>(&found->second)) return *error;
  return &std::get<SoLibrary>(found->second);
}

std::unique_ptr<Backend> make_so_backend(std::string name, const SoLibrary* library,
                                         std::string load_error, const Config& config) {
  if (library && library->table_v2) {
    return std::make_unique<SoBackendV2>(std::move(name), *library, config);
  }
  return std::make_unique<SoBackend>(std::move(name), library, std::move(load_error), config);
}

SoBackend::SoBackend(std::string name, const SoLibrary* library, std::string load_error,
                     const Config& config)
    : name_(std::move(name)), library_(library) {
  if (!library_) {
    broken_ = "backend " + name_ + " did not load: " + load_error;
    return;
  }
  const kvh_config c{config.page_size, config.max_pages, config.eviction == Eviction::lru ? 1u : 0u,
                     config.kv_heads,  config.head_dim,  config.layers};
  char error[256] = {};
  cache_ = library_->table->create(&c, error, sizeof error);
  if (!cache_) broken_ = "backend " + name_ + " refused `" + format_config(config) + "`: " + error;
}

SoBackend::~SoBackend() {
  if (cache_) library_->table->destroy(cache_);
}

OpResult SoBackend::apply(const Op& op, Tick tick) {
  if (broken_) return OpResult{};
  last_read_.clear();
  if (auto answered = observation_result(*this, op)) return *answered;
  const std::string name(op_name(op.kind));
  entries_.clear();
  for (const StepEntry& entry : op.entries) entries_.push_back({entry.seq, entry.token_count});
  const kvh_op c_op{name.c_str(), op.seq, op.count, static_cast<uint32_t>(entries_.size()),
                    entries_.data()};
  const size_t result_count = op.kind == OpKind::step ? entries_.size() : 1;
  results_.assign(result_count, kvh_result{});
  if (library_->table->apply(cache_, &c_op, tick, results_.data()) != 0) {
    broken_ = "backend " + name_ + " failed on `" + format_op(op) + "` (apply returned nonzero)";
    return OpResult{};
  }
  OpResult result;
  for (const kvh_result& each : results_) {
    if (each.status > KVH_NOTHING_TO_EVICT) {
      broken_ = "backend " + name_ + " answered `" + format_op(op) + "` with status " +
                std::to_string(each.status) + ", which is not a kvtrace result";
      return OpResult{};
    }
    result.entries.push_back(
        result_of(static_cast<Status>(each.status),
                  std::vector<SeqId>(each.evicted, each.evicted + each.evicted_count)));
  }
  if (op.kind == OpKind::read && result.entries[0].status == Status::ok) {
    last_read_ = gather_words(op.seq);
  }
  return result;
}

StatsView SoBackend::stats() const {
  if (broken_) return StatsView{};
  kvh_stats out{};
  library_->table->stats(cache_, &out);
  return StatsView{out.used_pages, out.free_pages, out.sequences, out.tokens};
}

std::optional<InfoView> SoBackend::info(SeqId seq) const {
  if (broken_) return std::nullopt;
  kvh_info out{};
  if (library_->table->info(cache_, seq, &out) == 0) return std::nullopt;
  return InfoView{out.tokens, out.pages, out.pinned != 0};
}

std::vector<SeqId> SoBackend::sequence_ids() const {
  if (broken_) return {};
  return read_list<SeqId>([this](uint32_t* out, size_t cap) {
    return library_->table->sequence_ids(cache_, out, cap);
  });
}

std::vector<uint64_t> SoBackend::block_table(SeqId seq) const {
  if (broken_) return {};
  return read_list<uint64_t>([this, seq](uint64_t* out, size_t cap) {
    return library_->table->block_table(cache_, seq, out, cap);
  });
}

std::vector<uint32_t> SoBackend::gather_words(SeqId seq) {
  if (broken_ || !stores_data()) return {};
  return read_list<uint32_t>([this, seq](uint32_t* out, size_t cap) {
    return library_->table->gather_words(cache_, seq, out, cap);
  });
}

std::vector<std::string> SoBackend::audit() const {
  if (broken_ || !library_->caps.audits) return {};
  const std::string text = [this] {
    std::string buffer(256, '\0');
    size_t needed = library_->table->audit(cache_, buffer.data(), buffer.size());
    if (needed > buffer.size()) {
      buffer.assign(std::min<size_t>(needed, 1u << 20), '\0');
      needed = library_->table->audit(cache_, buffer.data(), buffer.size());
    }
    buffer.resize(std::min(needed, buffer.size()));
    return buffer;
  }();
  std::vector<std::string> problems;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t end = std::min(text.find('\n', pos), text.size());
    if (end > pos) problems.push_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  return problems;
}

// --- version 2 ---------------------------------------------------------------------------------

SoBackendV2::SoBackendV2(std::string name, const SoLibrary& library, const Config& config)
    : name_(std::move(name)), library_(library), table_(*library.table_v2), config_(config) {
  const std::string variants = format_variants(config);  // " append_atomicity=token ..." or ""
  const std::string line = format_config(config);
  kvh_config_v2 c{};
  c.page_size = config.page_size;
  c.max_pages = config.max_pages;
  c.eviction = config.eviction == Eviction::lru ? 1u : 0u;
  c.kv_heads = config.kv_heads;
  c.head_dim = config.head_dim;
  c.layers = config.layers;
  c.prefix_caching = config.prefix_caching ? 1u : 0u;
  c.cpu_pages = config.cpu_pages;
  c.sliding_window = config.sliding_window;
  c.kv_group_count = config.group_count;
  static_assert(KVH_KV_GROUPS_MAX == kv_groups_max);
  std::copy(config.group_windows.begin(), config.group_windows.end(), c.kv_group_windows);
  c.variants = variants.empty() ? "" : variants.c_str() + 1;
  c.line = line.c_str();
  char error[256] = {};
  cache_ = table_.create(&c, error, sizeof error);
  if (!cache_) broken_ = "backend " + name_ + " refused `" + line + "`: " + error;
}

SoBackendV2::~SoBackendV2() {
  if (cache_) table_.destroy(cache_);
}

OpResult SoBackendV2::apply(const Op& op, Tick tick) {
  if (broken_) return OpResult{};
  last_read_.clear();
  if (auto answered = observation_result(*this, op)) return *answered;
  entries_.clear();
  segments_.clear();
  const bool prompt = op_shape(op.kind) == OpShape::Prefill;
  for (const StepEntry& entry : op.entries) {
    if (prompt) {
      segments_.push_back({entry.seq, entry.token_count});
    } else {
      entries_.push_back({entry.seq, entry.token_count});
    }
  }
  const kvh_op_v2 c_op{op_name(op.kind).data(),
                       op.seq,
                       op.count,
                       static_cast<uint32_t>(entries_.size()),
                       entries_.data(),
                       static_cast<uint32_t>(segments_.size()),
                       segments_.data()};
  const size_t result_count = op.kind == OpKind::step ? entries_.size() : 1;
  results_.assign(result_count, kvh_result_v2{});
  if (table_.apply(cache_, &c_op, tick, results_.data()) != 0) {
    broken_ = "backend " + name_ + " failed on `" + format_op(op) + "` (apply returned nonzero)";
    return OpResult{};
  }
  OpResult result;
  result.entries.reserve(result_count);
  for (const kvh_result_v2& each : results_) {
    if (each.status > KVH_NOTHING_TO_EVICT) {
      broken_ = "backend " + name_ + " answered `" + format_op(op) + "` with status " +
                std::to_string(each.status) + ", which is not a kvtrace result";
      return OpResult{};
    }
    if (each.evicted_count > 0 && !each.evicted) {
      broken_ = "backend " + name_ + " answered `" + format_op(op) + "` with evicted_count " +
                std::to_string(each.evicted_count) + " and evicted NULL";
      return OpResult{};
    }
    Result entry = result_of(static_cast<Status>(each.status),
                             std::vector<SeqId>(each.evicted, each.evicted + each.evicted_count));
    if (each.has_hit) entry.hit_tokens = each.hit_tokens;
    result.entries.push_back(std::move(entry));
  }
  if (op.kind == OpKind::read && result.entries[0].status == Status::ok) {
    last_read_ = gather_words(op.seq);
  }
  return result;
}

StatsView SoBackendV2::stats() const {
  if (broken_) return StatsView{};
  kvh_stats_v2 out{};
  table_.stats(cache_, &out);
  StatsView view{out.used_pages, out.free_pages, out.sequences, out.tokens};
  if (config_.prefix_caching) view.cached_keys = out.cached_pages;
  if (config_.cpu_pages > 0) view.cpu_pages_used = out.cpu_pages;
  return view;
}

std::optional<InfoView> SoBackendV2::info(SeqId seq) const {
  if (broken_) return std::nullopt;
  kvh_info out{};
  if (table_.info(cache_, seq, &out) == 0) return std::nullopt;
  return InfoView{out.tokens, out.pages, out.pinned != 0};
}

std::vector<SeqId> SoBackendV2::sequence_ids() const {
  if (broken_) return {};
  return read_list<SeqId>(
      [this](uint32_t* out, size_t cap) { return table_.sequence_ids(cache_, out, cap); });
}

std::vector<uint64_t> SoBackendV2::block_table(SeqId seq) const {
  if (broken_) return {};
  return read_list<uint64_t>(
      [this, seq](uint64_t* out, size_t cap) { return table_.block_table(cache_, seq, out, cap); });
}

std::vector<uint32_t> SoBackendV2::gather_words(SeqId seq) {
  return gather_token_words(seq, 0, UINT64_MAX);
}

// Each group's words, groups concatenated (V-G2); one call per group when the scratch buffer
// is large enough, which it soon is.
std::vector<uint32_t> SoBackendV2::gather_token_words(SeqId seq, uint64_t first_token,
                                                      uint64_t token_count) {
  if (broken_ || !stores_data()) return {};
  std::vector<uint32_t> words;
  for (uint32_t g = 0; g < config_.groups(); g++) {
    if (words_.empty()) words_.resize(256);
    size_t count =
        table_.gather_words(cache_, seq, g, first_token, token_count, words_.data(), words_.size());
    if (count > words_.size()) {
      words_.resize(std::min(count, list_count_max));
      count = table_.gather_words(cache_, seq, g, first_token, token_count, words_.data(),
                                  words_.size());
    }
    count = std::min(count, words_.size());
    words.insert(words.end(), words_.begin(), words_.begin() + static_cast<std::ptrdiff_t>(count));
  }
  return words;
}

std::vector<std::string> SoBackendV2::audit() const {
  if (broken_ || !library_.caps.audits) return {};
  std::string buffer(256, '\0');
  size_t needed = table_.audit(cache_, buffer.data(), buffer.size());
  if (needed > buffer.size()) {
    buffer.assign(std::min<size_t>(needed, 1u << 20), '\0');
    needed = table_.audit(cache_, buffer.data(), buffer.size());
  }
  buffer.resize(std::min(needed, buffer.size()));
  std::vector<std::string> problems;
  size_t pos = 0;
  while (pos < buffer.size()) {
    const size_t end = std::min(buffer.find('\n', pos), buffer.size());
    if (end > pos) problems.push_back(buffer.substr(pos, end - pos));
    pos = end + 1;
  }
  return problems;
}

std::optional<PrefixCacheView> SoBackendV2::prefix_cache() const {
  if (broken_ || !config_.prefix_caching || !table_.prefix_cache) return std::nullopt;
  kvh_prefix_cache out{};
  if (table_.prefix_cache(cache_, &out) == 0) return std::nullopt;
  if ((out.registered_count > 0 && !out.registered) || (out.queue_count > 0 && !out.queue)) {
    broken_ = "backend " + name_ + " answered prefix_cache() with a count above 0 and a NULL array";
    return std::nullopt;
  }
  PrefixCacheView view;
  view.hashed_keys = library_.caps.hashed_keys;
  view.registered.reserve(out.registered_count);
  for (size_t i = 0; i < out.registered_count; i++) {
    const kvh_cached_page& page = out.registered[i];
    if (page.key_length > 0 && !page.key) {
      broken_ = "backend " + name_ + " answered prefix_cache() with page " +
                std::to_string(page.page) + "'s key_length " + std::to_string(page.key_length) +
                " and key NULL";
      return std::nullopt;
    }
    if (page.group >= config_.groups()) {
      broken_ = "backend " + name_ + " answered prefix_cache() with page " +
                std::to_string(page.page) + " in KV group " + std::to_string(page.group) +
                "; the config has " + std::to_string(config_.groups()) +
                (config_.groups() == 1 ? " group" : " groups");
      return std::nullopt;
    }
    std::vector<uint64_t> key = library_.caps.hashed_keys
                                    ? std::vector<uint64_t>{hash_key(page.key, page.key_length)}
                                    : std::vector<uint64_t>(page.key, page.key + page.key_length);
    view.registered.push_back(
        {std::move(key), page.page, library_.caps.hashed_keys ? 0u : page.group});
  }
  view.queue.assign(out.queue, out.queue + out.queue_count);
  return view;
}

}  // namespace kv
