// Backend `so:PATH`: dlopen, ABI checks, and the translation between ops and the C structs.
#include "runner/so_backend.hpp"

#include <dlfcn.h>

#include <map>
#include <mutex>

namespace kv {
namespace {

constexpr size_t list_count_max = 1u << 26;  // ids, pages or words one call may return

std::mutex library_mutex;

std::variant<SoLibrary, std::string> open_library(const std::string& path) {
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) return std::string("dlopen failed: ") + dlerror();
  void* symbol = dlsym(handle, KVH_BACKEND_V1_ENTRY);
  if (!symbol) return std::string("it does not export ") + KVH_BACKEND_V1_ENTRY;
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
  const std::string profile = table->profile;
  size_t pos = 0;
  while (pos < profile.size()) {
    const size_t end = std::min(profile.find('\n', pos), profile.size());
    if (end > pos) {
      if (auto error = apply_profile_line(profile.substr(pos, end - pos), library.caps)) {
        return "its profile: " + *error;
      }
    }
    pos = end + 1;
  }
  if (!table->audit) library.caps.audits = false;
  // kvh_result has no `hit=` (prefill, a waiting reserve) and kvh_config no prefix caching or
  // variants: C ABI version 1 speaks kvtrace 1 only. Those ops are for exec: backends.
  for (uint32_t kind = 0; kind < op_kind_count; kind++) {
    if (op_version(static_cast<OpKind>(kind)) > 1 && library.caps.ops[kind]) {
      return "its profile declares op " + std::string(op_name(static_cast<OpKind>(kind))) +
             ", which C ABI version 1 cannot express (no hit= result, no prefix caching); "
             "test it through exec: (docs/backend-protocol.md)";
    }
  }
  return library;
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

}  // namespace

std::variant<const SoLibrary*, std::string> load_so_library(const std::string& path) {
  std::lock_guard lock(library_mutex);
  static auto* loaded = new std::map<std::string, std::variant<SoLibrary, std::string>>();
  auto found = loaded->find(path);
  if (found == loaded->end()) found = loaded->emplace(path, open_library(path)).first;
  if (auto* error = std::get_if<std::string>(&found->second)) return *error;
  return &std::get<SoLibrary>(found->second);
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
  if (op.kind == OpKind::info) {
    const auto found = info(op.seq);
    return single(found ? Result{Status::ok, {}, found, std::nullopt}
                        : result_of(Status::unknown_sequence));
  }
  if (op.kind == OpKind::stats) return single(Result{Status::ok, {}, std::nullopt, stats()});
  if (op.kind == OpKind::check) return single(result_of(Status::ok));
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

}  // namespace kv
